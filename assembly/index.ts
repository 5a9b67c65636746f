// Decodes raw kernel structs (siginfo_t, struct rusage, struct pidfd_info)
// that the sidecar forwards unchanged. The host copies one struct into the
// input area, calls a decode function, and reads numbers from the f64 output
// area. Nothing is allocated: both areas are static, and the runtime is "stub".
import * as L from './layout';

const IN: usize = memory.data(L.INPUT_SIZE, 16);
const OUT: usize = memory.data(L.OUTPUT_SLOTS * 8, 16);

// i64/u64 values become f64: exact below 2^53, far above any count, size or
// id the kernel reports in these structs, and what JavaScript numbers hold.
@inline function put(slot: i32, value: f64): void {
	store<f64>(OUT + (<usize>slot << 3), value);
}

@inline function i64At(offset: i32): f64 {
	return <f64>load<i64>(IN + <usize>offset);
}

@inline function u32At(offset: i32): f64 {
	return <f64>load<u32>(IN + <usize>offset);
}

@inline function i32At(offset: i32): f64 {
	return <f64>load<i32>(IN + <usize>offset);
}

// A timeval as float milliseconds; keeps microsecond precision.
@inline function msAt(secOffset: i32, usecOffset: i32): f64 {
	return i64At(secOffset) * 1000 + i64At(usecOffset) / 1000;
}

/** Address of the input area (INPUT_SIZE bytes): the host writes one struct here. */
export function input(): usize {
	return IN;
}

/** Address of the output area (OUTPUT_SLOTS f64s, indices OUT_* in layout.ts). */
export function output(): usize {
	return OUT;
}

/** Decodes a 128-byte siginfo_t from the input area into slots OUT_SI_*. */
export function decodeSiginfo(): void {
	put(L.OUT_SI_SIGNO, i32At(L.SI_SIGNO));
	put(L.OUT_SI_ERRNO, i32At(L.SI_ERRNO));
	put(L.OUT_SI_CODE, i32At(L.SI_CODE));
	put(L.OUT_SI_PID, i32At(L.SI_PID));
	put(L.OUT_SI_UID, u32At(L.SI_UID));
	put(L.OUT_SI_STATUS, i32At(L.SI_STATUS));
}

/** Decodes a 144-byte kernel struct rusage from the input area into slots OUT_RU_*. */
export function decodeRusage(): void {
	put(L.OUT_RU_USER_CPU_MS, msAt(L.RU_UTIME_SEC, L.RU_UTIME_USEC));
	put(L.OUT_RU_SYSTEM_CPU_MS, msAt(L.RU_STIME_SEC, L.RU_STIME_USEC));
	put(L.OUT_RU_MAXRSS, i64At(L.RU_MAXRSS));
	put(L.OUT_RU_IXRSS, i64At(L.RU_IXRSS));
	put(L.OUT_RU_IDRSS, i64At(L.RU_IDRSS));
	put(L.OUT_RU_ISRSS, i64At(L.RU_ISRSS));
	put(L.OUT_RU_MINFLT, i64At(L.RU_MINFLT));
	put(L.OUT_RU_MAJFLT, i64At(L.RU_MAJFLT));
	put(L.OUT_RU_NSWAP, i64At(L.RU_NSWAP));
	put(L.OUT_RU_INBLOCK, i64At(L.RU_INBLOCK));
	put(L.OUT_RU_OUBLOCK, i64At(L.RU_OUBLOCK));
	put(L.OUT_RU_MSGSND, i64At(L.RU_MSGSND));
	put(L.OUT_RU_MSGRCV, i64At(L.RU_MSGRCV));
	put(L.OUT_RU_NSIGNALS, i64At(L.RU_NSIGNALS));
	put(L.OUT_RU_NVCSW, i64At(L.RU_NVCSW));
	put(L.OUT_RU_NIVCSW, i64At(L.RU_NIVCSW));
}

/** Decodes a 64-byte struct pidfd_info from the input area into slots OUT_PI_*. */
export function decodePidfdInfo(): void {
	put(L.OUT_PI_MASK, <f64>load<u64>(IN + <usize>L.PI_MASK));
	put(L.OUT_PI_CGROUPID, <f64>load<u64>(IN + <usize>L.PI_CGROUPID));
	put(L.OUT_PI_PID, u32At(L.PI_PID));
	put(L.OUT_PI_TGID, u32At(L.PI_TGID));
	put(L.OUT_PI_PPID, u32At(L.PI_PPID));
	put(L.OUT_PI_RUID, u32At(L.PI_RUID));
	put(L.OUT_PI_RGID, u32At(L.PI_RGID));
	put(L.OUT_PI_EUID, u32At(L.PI_EUID));
	put(L.OUT_PI_EGID, u32At(L.PI_EGID));
	put(L.OUT_PI_SUID, u32At(L.PI_SUID));
	put(L.OUT_PI_SGID, u32At(L.PI_SGID));
	put(L.OUT_PI_FSUID, u32At(L.PI_FSUID));
	put(L.OUT_PI_FSGID, u32At(L.PI_FSGID));
	put(L.OUT_PI_EXIT_CODE, i32At(L.PI_EXIT_CODE));
}
