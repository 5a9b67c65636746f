import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { PidfdError } from '../../schemas/errors.js';
import { PidFd } from '../process/pidfd.js';
import type { HardKillOptions } from '../process/tree.js';
import { PidfdInfoMask } from '../kernel/structs.js';
import { signalNumber } from '../../schemas/signals.js';
import { parseCgroup2Path } from '../kernel/cgroup2.js';
import { readPids, writeControl } from './fs.js';
import { eventValue, waitForEvent } from './events.js';

/**
 * Ending every process of a cgroup subtree. Signals to single processes go through pidfds
 * whose cgroup is checked after opening, so a pid recycled between reading cgroup.procs and
 * opening it is never signalled. The kill itself is the kernel's: cgroup.kill (5.14+), or
 * the freezer, under which nobody can fork or leave.
 */

/** The directories of the subtree at `dir`: `dir` first. Processes can live in nested cgroups too. */
export function subtree(dir: string): string[] {
	const dirs = [dir];
	for (let i = 0; i < dirs.length; i++) {
		try {
			for (const entry of readdirSync(dirs[i]!, { withFileTypes: true })) if (entry.isDirectory()) dirs.push(`${dirs[i]}/${entry.name}`);
		} catch {
			// removed meanwhile: nothing below it
		}
	}
	return dirs;
}

/**
 * True if the process behind `handle` is in one of the cgroups `inodes` (cgroup ids are the
 * directories' inode numbers). PIDFD_GET_INFO asks the pidfd itself (6.13+). Before that,
 * /proc/<pid>/cgroup: if the pid was recycled before that read, the pidfd's own process is
 * gone and the signal sent through it gets ESRCH; if the signal lands, the process was alive
 * at the read, so the read described it.
 */
async function isMember(handle: PidFd, inodes: ReadonlySet<number>, paths: ReadonlySet<string>): Promise<boolean> {
	try {
		const info = await handle.info();
		if (info.mask & PidfdInfoMask.CGROUPID) return inodes.has(info.cgroupId);
	} catch (error) {
		if (error instanceof PidfdError && error.code === 'ESRCH') return false;
	}
	let text: string;
	try {
		text = readFileSync(`/proc/${handle.pid}/cgroup`, 'utf8');
	} catch {
		return false;
	}
	const path = parseCgroup2Path(text);
	return path !== undefined && paths.has(path);
}

/**
 * Sends `signal` to every process in the subtree at `dir` through pidfds. `hierarchyPath`
 * is `dir` as /proc/<pid>/cgroup spells it (for kernels without PIDFD_GET_INFO). Resolves
 * with how many were signalled.
 */
export async function signalMembers(dir: string, hierarchyPath: string, signal: string | number): Promise<number> {
	const number = signalNumber(signal);
	if (number === undefined) throw new PidfdError('EINVAL', `${String(signal)} is not a signal name or number in 1..64`, { syscall: 'pidfd_send_signal' });
	const dirs = subtree(dir);
	const inodes = new Set<number>();
	const paths = new Set<string>();
	for (const d of dirs) {
		try {
			inodes.add(statSync(d).ino);
			paths.add(hierarchyPath + d.slice(dir.length));
		} catch {}
	}
	let count = 0;
	await Promise.all(
		dirs.flatMap(readPids).map(async (pid) => {
			const handle = await PidFd.open(pid).catch(() => undefined); // ESRCH: gone already
			if (!handle) return;
			try {
				if (!(await isMember(handle, inodes, paths))) return;
				if (await handle.kill(number)) count++;
			} catch (error) {
				if (!(error instanceof PidfdError && error.code === 'ESRCH')) throw error;
			} finally {
				await handle.close().catch(() => {});
			}
		}),
	);
	return count;
}

/** SIGKILLs everything in the subtree at `dir` and resolves once cgroup.events says `populated 0`. */
export async function killAll(dir: string, hierarchyPath: string, options: HardKillOptions = {}): Promise<void> {
	const timeout = options.timeout ?? 10_000;
	if (eventValue(dir, 'populated') === 0) return;
	if (!options.viaFreezer && existsSync(`${dir}/cgroup.kill`)) {
		writeControl(`${dir}/cgroup.kill`, '1', 'cannot kill the cgroup');
	} else {
		await killFrozen(dir, hierarchyPath, timeout);
	}
	if (!(await waitForEvent(dir, 'populated', 0, timeout))) {
		throw new PidfdError('ETIMEDOUT', `processes of ${dir} were killed but did not exit within ${timeout} ms`, { syscall: 'cgroup.kill', path: dir });
	}
}

/**
 * Before cgroup.kill (Linux < 5.14): freeze, so that nothing in the subtree can fork or exit
 * while we list it, SIGKILL each process through a pidfd, then thaw so the kills land.
 */
async function killFrozen(dir: string, hierarchyPath: string, timeout: number): Promise<void> {
	if (!existsSync(`${dir}/cgroup.freeze`)) {
		throw new PidfdError('ENOTSUP', `${dir} has neither cgroup.kill (Linux 5.14) nor cgroup.freeze (Linux 5.2): cannot kill the tree reliably`, {
			syscall: 'open',
			path: dir,
		});
	}
	writeControl(`${dir}/cgroup.freeze`, '1', 'cannot freeze the cgroup');
	try {
		if (!(await waitForEvent(dir, 'frozen', 1, timeout))) {
			throw new PidfdError('ETIMEDOUT', `${dir} did not freeze within ${timeout} ms`, { syscall: 'cgroup.freeze', path: dir });
		}
		await signalMembers(dir, hierarchyPath, 'SIGKILL');
	} finally {
		if (existsSync(`${dir}/cgroup.freeze`)) writeControl(`${dir}/cgroup.freeze`, '0', 'cannot thaw the cgroup');
	}
}
