import * as z from 'zod';

// Kernel structs as host/kernel/structs.ts decodes them from the sidecar's raw bytes.
// Validated in tests, not on the hot path: the bytes come from our own sidecar.

const int = z.number().int();
const count = int.min(0);
const u32 = int.min(0).max(0xffff_ffff);
const u64 = int.min(0); // exact below 2^53, which kernel ids and masks stay under

/** siginfo_t as waitid() fills it for a child that ended (SIGCHLD). */
export const Siginfo = z.object({
	/** SIGCHLD (17). */
	signo: int,
	errno: int,
	/** CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3 (CLD_TRAPPED 4, CLD_STOPPED 5, CLD_CONTINUED 6). */
	code: int,
	pid: int,
	/** Real uid of the child. */
	uid: u32,
	/** Exit code for CLD_EXITED, otherwise the signal number. */
	status: int,
});
export type Siginfo = z.infer<typeof Siginfo>;

/** Kernel struct rusage: what the child and its reaped descendants used. */
export const Rusage = z.object({
	/** CPU time in user mode, ms with µs precision. */
	userCpuMs: z.number().min(0),
	/** CPU time in kernel mode, ms with µs precision. */
	systemCpuMs: z.number().min(0),
	/** Peak resident set size. */
	maxRssKiB: count,
	/** ru_ixrss, ru_idrss, ru_isrss: always 0 on Linux, kept for completeness. */
	sharedMemKiB: count,
	unsharedDataKiB: count,
	unsharedStackKiB: count,
	/** Page faults served without / with I/O. */
	minorFaults: count,
	majorFaults: count,
	swaps: count,
	/** Filesystem reads and writes, in 512-byte blocks. */
	blockInputs: count,
	blockOutputs: count,
	ipcSent: count,
	ipcReceived: count,
	signalsReceived: count,
	voluntaryCtxSwitches: count,
	involuntaryCtxSwitches: count,
});
export type Rusage = z.infer<typeof Rusage>;

/** struct pidfd_info from ioctl(PIDFD_GET_INFO) (Linux 6.13+). */
export const PidfdInfo = z.object({
	/** Which fields the kernel filled: PID 1, CREDS 2, CGROUPID 4, EXIT 8. */
	mask: u64,
	cgroupId: u64,
	/** pid..fsgid are 0 for a process already reaped: only exit information remains. */
	pid: u32,
	tgid: u32,
	ppid: u32,
	ruid: u32,
	rgid: u32,
	euid: u32,
	egid: u32,
	suid: u32,
	sgid: u32,
	fsuid: u32,
	fsgid: u32,
	/**
	 * Present only when mask has PIDFD_INFO_EXIT (Linux 6.15+, after the process was
	 * reaped). A wait status, as from waitpid(): exit code in bits 8-15, terminating
	 * signal in bits 0-6, 0x80 if it dumped core.
	 */
	exitCode: int.optional(),
});
export type PidfdInfo = z.infer<typeof PidfdInfo>;
