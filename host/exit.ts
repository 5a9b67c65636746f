import type { ExitInfo } from '../schemas/exit.js';
import type { PidfdInfo } from '../schemas/kernel.js';
import { decodePidfdInfo, decodeRusage, decodeSiginfo } from './decoder.js';
import { PIDFD_INFO_SIZE, RUSAGE_SIZE, SIGINFO_SIZE } from './protocol.js';
import { signalName } from './signals.js';

/** si_code values of SIGCHLD (include/uapi/asm-generic/siginfo.h). */
const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;

/** ExitInfo from an EXIT event body: u32 handle · u32 0 · siginfo · rusage. */
export function exitFromEvent(body: Buffer): ExitInfo {
	const siginfo = decodeSiginfo(body.subarray(8, 8 + SIGINFO_SIZE));
	const rusage = decodeRusage(body.subarray(8 + SIGINFO_SIZE, 8 + SIGINFO_SIZE + RUSAGE_SIZE));
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

/**
 * ExitInfo from an EXITED event body (a process we opened, not spawned):
 * u32 handle · u32 has_exit · pidfd_info. The kernel's exit_code is a wait(2) status.
 */
export function exitFromInfoEvent(body: Buffer, pid: number): ExitInfo {
	const hasExit = body.readUInt32LE(4) === 1;
	const info: PidfdInfo | undefined = hasExit ? decodePidfdInfo(body.subarray(8, 8 + PIDFD_INFO_SIZE)) : undefined;
	if (info?.exitCode === undefined) return unknownExit(pid);
	return fromWaitStatus(pid, info.exitCode);
}

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
	return { pid, status: 'signaled', code: null, signal: signalName(sig), signalNumber: sig, coreDumped: (status & 0x80) !== 0, success: false, rusage: null, siginfo: null };
}
