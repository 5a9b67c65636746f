import { readdirSync, readFileSync, statSync } from 'node:fs';
import { cgroupDir } from './cgroup2.js';

// Readers of /proc for what the kernel gives no pidfd interface for (or not on every kernel).
// Nothing read here names a process safely on its own: a pid can be reused between two reads.
// Callers pair each read with a pidfd check made afterwards (see ProcessHandle.alive()).
//
// The sidecar is the host's own child in the same pid namespace, so the pids it reports
// are the ones this host's /proc shows.

/** The fields of /proc/<pid>/status that struct pidfd_info also carries. */
export interface ProcStatus {
	pid: number;
	tgid: number;
	ppid: number;
	/** real, effective, saved, filesystem */
	uids: [number, number, number, number];
	gids: [number, number, number, number];
}

/** /proc/<pid>/status, or undefined if there is no such process (any more). */
export function readStatus(pid: number): ProcStatus | undefined {
	let text: string;
	try {
		text = readFileSync(`/proc/${pid}/status`, 'latin1');
	} catch (error) {
		if (isGone(error)) return undefined;
		throw error;
	}
	const fields = new Map<string, string>();
	for (const line of text.split('\n')) {
		const colon = line.indexOf(':');
		if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
	}
	const ids = (name: string): [number, number, number, number] => {
		const v = (fields.get(name) ?? '').split(/\s+/).map(Number);
		if (v.length !== 4 || v.some((n) => !Number.isInteger(n))) throw new Error(`/proc/${pid}/status: unreadable ${name} line`);
		return v as [number, number, number, number];
	};
	return { pid: Number(fields.get('Pid')), tgid: Number(fields.get('Tgid')), ppid: Number(fields.get('PPid')), uids: ids('Uid'), gids: ids('Gid') };
}

/**
 * The pids of a process's children, from /proc/<pid>/task/<tid>/children (every thread
 * forks its own). Kernels built without CONFIG_PROC_CHILDREN lack that file: then every
 * /proc/<n>/stat is scanned for its parent pid instead.
 */
export function listChildren(pid: number): number[] {
	let tasks: string[];
	try {
		tasks = readdirSync(`/proc/${pid}/task`);
	} catch (error) {
		if (isGone(error)) return [];
		throw error;
	}
	const result = new Set<number>();
	for (const task of tasks) {
		let text: string;
		try {
			text = readFileSync(`/proc/${pid}/task/${task}/children`, 'latin1');
		} catch (error) {
			if (!isGone(error)) throw error;
			// The thread is there but the file is not: a kernel without CONFIG_PROC_CHILDREN.
			if (existsTask(pid, task)) return scanForChildren(pid);
			continue; // that thread has ended
		}
		for (const p of text.split(' ')) if (p.trim()) result.add(Number(p));
	}
	return [...result];
}

function existsTask(pid: number, task: string): boolean {
	try {
		statSync(`/proc/${pid}/task/${task}`);
		return true;
	} catch {
		return false;
	}
}

function scanForChildren(parent: number): number[] {
	const result: number[] = [];
	for (const name of readdirSync('/proc')) {
		if (!/^\d+$/.test(name)) continue;
		try {
			const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
			// Field 4 is the ppid; field 2 (comm) may hold spaces and parentheses.
			if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) result.push(Number(name));
		} catch {}
	}
	return result;
}

/**
 * The cgroup v2 id of a process: the inode number of its cgroup directory, which is what
 * the kernel reports as the cgroup id (PIDFD_INFO_CGROUPID, name_to_handle_at). Undefined
 * without a cgroup2 mount that shows the process's cgroup.
 */
export function cgroupIdOf(pid: number): number | undefined {
	try {
		return statSync(cgroupDir(pid)).ino;
	} catch {
		return undefined;
	}
}

function isGone(error: unknown): boolean {
	const code = (error as NodeJS.ErrnoException).code;
	return code === 'ENOENT' || code === 'ESRCH';
}
