import * as z from 'zod';
import { Rusage, Siginfo } from './kernel.js';

/**
 * How a process ended. `status` says which fields mean something: 'exited' has `code`,
 * 'signaled' has `signal`; 'unknown' is a process that was not ours and whose status the
 * kernel could not give (before Linux 6.15, or not yet reaped by its parent).
 */
export const ExitInfo = z.object({
	pid: z.number().int(),
	status: z.enum(['exited', 'signaled', 'unknown']),
	/** Exit code 0..255, or null if it did not exit normally. */
	code: z.number().int().min(0).max(255).nullable(),
	/** 'SIGKILL' etc. if a signal ended it, else null. */
	signal: z.string().nullable(),
	signalNumber: z.number().int().nullable(),
	coreDumped: z.boolean(),
	/** code === 0. */
	success: z.boolean(),
	/** Resource usage of the process and its reaped descendants; null when not ours. */
	rusage: Rusage.nullable(),
	/** The raw siginfo from waitid; null when not ours. */
	siginfo: Siginfo.nullable(),
	/**
	 * Why it ended, where pidfd knows more than the signal: 'memory-budget' for a contained
	 * child the OOM killer took because its tree hit `limits.memoryMax` (memory.events oom_kill).
	 */
	reason: z.enum(['memory-budget']).optional(),
});
export type ExitInfo = z.infer<typeof ExitInfo>;
