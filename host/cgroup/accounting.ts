import { readKeyed, readNumber, readPids } from './fs.js';

/**
 * Live resource usage of a whole cgroup (every process in it, and those that have left it
 * by exiting). Each part is `null` when this kernel or cgroup does not account it: the
 * memory and pids parts need their controllers enabled for the cgroup.
 */
export interface CgroupUsage {
	/** From cpu.stat, in microseconds: present on every cgroup2 (core accounting, no controller needed). */
	cpu: { usageUsec: number; userUsec: number; systemUsec: number } | null;
	/** memory.current and memory.peak (Linux 5.19+) in bytes; null without the memory controller. */
	memory: { currentBytes: number; peakBytes: number | null } | null;
	/** pids.current and pids.peak (Linux 6.8+); null without the pids controller. */
	pids: { current: number; peak: number | null } | null;
	/** Processes in the cgroup now (cgroup.procs). */
	processes: number;
}

/** Reads the usage files of `dir` once. */
export function readUsage(dir: string): CgroupUsage {
	const cpu = readKeyed(`${dir}/cpu.stat`);
	const memoryCurrent = readNumber(`${dir}/memory.current`);
	const pidsCurrent = readNumber(`${dir}/pids.current`);
	return {
		cpu: cpu ? { usageUsec: cpu.get('usage_usec') ?? 0, userUsec: cpu.get('user_usec') ?? 0, systemUsec: cpu.get('system_usec') ?? 0 } : null,
		memory: memoryCurrent === undefined ? null : { currentBytes: memoryCurrent, peakBytes: readNumber(`${dir}/memory.peak`) ?? null },
		pids: pidsCurrent === undefined ? null : { current: pidsCurrent, peak: readNumber(`${dir}/pids.peak`) ?? null },
		processes: readPids(dir).length,
	};
}
