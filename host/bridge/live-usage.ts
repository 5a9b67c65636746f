import { readFile } from 'node:fs/promises';

/** Clock ticks per second for /proc/<pid>/stat times; 100 on every Linux architecture in use. */
const CLK_TCK = 100;

/**
 * CPU time and peak RSS of a running child, for display (`list`). Reading /proc by pid is
 * safe here only because the child is ours and not yet reaped: its pid cannot be reused.
 * Undefined fields when the process is already gone.
 */
export async function liveUsage(pid: number): Promise<{ cpuMs: number | null; maxRssKiB: number | null }> {
	try {
		const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]);
		// Fields after the command name, which may itself contain spaces and parentheses.
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		const ticks = Number(fields[11]) + Number(fields[12]);
		const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(status);
		return { cpuMs: (ticks * 1000) / CLK_TCK, maxRssKiB: hwm ? Number(hwm[1]) : null };
	} catch {
		return { cpuMs: null, maxRssKiB: null };
	}
}
