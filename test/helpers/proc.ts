import { readdirSync, readFileSync } from 'node:fs';

/** True if a process with this pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
	} catch {
		return false;
	}
}

/** Start time (clock ticks since boot) from /proc/<pid>/stat: with the pid, names one process. */
export function startTime(pid: number): number | undefined {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
	} catch {
		return undefined;
	}
}

/** The pids of a process's children, from /proc/<pid>/task/* /children. */
export function childrenOf(pid: number): number[] {
	const result: number[] = [];
	let tasks: string[];
	try {
		tasks = readdirSync(`/proc/${pid}/task`);
	} catch {
		return result;
	}
	for (const task of tasks) {
		try {
			for (const p of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) if (p) result.push(Number(p));
		} catch {}
	}
	return result;
}

/** Number of open fds of a process. */
export function fdCount(pid: number | 'self'): number {
	return readdirSync(`/proc/${pid}/fd`).length;
}

/** Bytes a process has read so far (rchar of /proc/<pid>/io): moves once it has read what we wrote. */
export function bytesRead(pid: number): number {
	return Number(/^rchar:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
}

/** True while a process sleeps in epoll_wait: it has handled everything it was woken for. */
export function inEpollWait(pid: number): boolean {
	try {
		return readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('epoll');
	} catch {
		return false;
	}
}

/** Resident set size of a process (VmRSS), in KiB. */
export function rssKiB(pid: number | 'self'): number {
	return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}
