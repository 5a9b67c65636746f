// ExitInfo from what the kernel reports about an ended process: the siginfo_t and rusage of
// waitid(), or the wait(2) status word of PIDFD_INFO_EXIT.
import type { ExitInfo } from '../../schemas/exit.js';
import type { Rusage, Siginfo } from '../../schemas/kernel.js';
import { signalName } from '../../schemas/signals.js';

/** si_code values of SIGCHLD (include/uapi/asm-generic/siginfo.h). */
const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;

/** ExitInfo of a child we reaped: waitid()'s siginfo and rusage. */
export function exitFromSiginfo(siginfo: Siginfo, rusage: Rusage): ExitInfo {
	const exited = siginfo.code === CLD_EXITED;
	const signaled = siginfo.code === CLD_KILLED || siginfo.code === CLD_DUMPED;
	return {
		pid: siginfo.pid,
		status: exited ? 'exited' : signaled ? 'signaled' : 'unknown',
		code: exited ? siginfo.status : null,
		signal: signaled ? signalName(siginfo.status) : null,
		signalNumber: signaled ? siginfo.status : null,
		coreDumped: siginfo.code === CLD_DUMPED,
		success: exited && siginfo.status === 0,
		rusage,
		siginfo,
	};
}

/** The end of a process whose status the kernel did not give us (someone else reaped it). */
export function unknownExit(pid: number): ExitInfo {
	return { pid, status: 'unknown', code: null, signal: null, signalNumber: null, coreDumped: false, success: false, rusage: null, siginfo: null };
}

/** Decodes a wait(2) status word (WIFEXITED/WTERMSIG/WCOREDUMP). */
export function fromWaitStatus(pid: number, status: number): ExitInfo {
	const sig = status & 0x7f;
	if (sig === 0) {
		const code = (status >> 8) & 0xff;
		return { pid, status: 'exited', code, signal: null, signalNumber: null, coreDumped: false, success: code === 0, rusage: null, siginfo: null };
	}
	return {
		pid,
		status: 'signaled',
		code: null,
		signal: signalName(sig),
		signalNumber: sig,
		coreDumped: (status & 0x80) !== 0,
		success: false,
		rusage: null,
		siginfo: null,
	};
}
