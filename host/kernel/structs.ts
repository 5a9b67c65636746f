// Decodes the raw kernel structs the sidecar forwards (siginfo_t, struct rusage,
// struct pidfd_info) with the AssemblyScript module built from assembly/.
import * as L from '../../assembly/layout.js';
import type { PidfdInfo, Rusage, Siginfo } from '../../schemas/kernel.js';
import { DECODER_WASM_BASE64 } from './generated/decoder-wasm.js';

interface DecoderExports {
	readonly memory: WebAssembly.Memory;
	input(): number;
	output(): number;
	decodeSiginfo(): void;
	decodeRusage(): void;
	decodePidfdInfo(): void;
}

/** PIDFD_GET_INFO request mask bits. */
export const PidfdInfoMask = { PID: L.PIDFD_INFO_PID, CREDS: L.PIDFD_INFO_CREDS, CGROUPID: L.PIDFD_INFO_CGROUPID, EXIT: L.PIDFD_INFO_EXIT } as const;

/** Sizes of the kernel structs on the wire: one definition, shared with the wasm decoder. */
export const { SIGINFO_SIZE, RUSAGE_SIZE, PIDFD_INFO_SIZE } = L;

let wasm: DecoderExports | undefined;
let input = new Uint8Array(0);
let output = new Float64Array(0);

/*
 * Compiled on first use, synchronously, as undici does with llhttp: no top-level
 * await, no file lookup, so it works alike under tsx, in bundles, and in Node,
 * Bun and Deno. The module is under 1 KB, well within the size browsers allow
 * for synchronous compilation on the main thread.
 */
function instance(): DecoderExports {
	if (wasm === undefined) {
		const text = atob(DECODER_WASM_BASE64);
		const bytes = new Uint8Array(text.length);
		for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
		const module = new WebAssembly.Module(bytes);
		wasm = new WebAssembly.Instance(module, {}).exports as unknown as DecoderExports;
	}
	// Views die when memory grows (a new ArrayBuffer); the decoder never grows
	// it today, but one compare is cheaper than a silent wrong read later.
	if (input.buffer !== wasm.memory.buffer) {
		input = new Uint8Array(wasm.memory.buffer, wasm.input(), L.INPUT_SIZE);
		output = new Float64Array(wasm.memory.buffer, wasm.output(), L.OUTPUT_SLOTS);
	}
	return wasm;
}

/** Copies one struct into the module's input area, after checking its size. */
function load(bytes: Uint8Array, size: number, what: string): DecoderExports {
	if (bytes.length !== size) {
		throw new RangeError(`${what} must be ${size} bytes, got ${bytes.length}`);
	}
	const w = instance();
	input.set(bytes);
	return w;
}

/** Decodes a 128-byte siginfo_t from waitid(). Throws RangeError on any other length. */
export function decodeSiginfo(bytes: Uint8Array): Siginfo {
	load(bytes, L.SIGINFO_SIZE, 'siginfo_t').decodeSiginfo();
	const o = output;
	return {
		signo: o[L.OUT_SI_SIGNO],
		errno: o[L.OUT_SI_ERRNO],
		code: o[L.OUT_SI_CODE],
		pid: o[L.OUT_SI_PID],
		uid: o[L.OUT_SI_UID],
		status: o[L.OUT_SI_STATUS],
	};
}

/** Decodes a 144-byte kernel struct rusage (64-bit). Throws RangeError on any other length. */
export function decodeRusage(bytes: Uint8Array): Rusage {
	load(bytes, L.RUSAGE_SIZE, 'struct rusage').decodeRusage();
	const o = output;
	return {
		userCpuMs: o[L.OUT_RU_USER_CPU_MS],
		systemCpuMs: o[L.OUT_RU_SYSTEM_CPU_MS],
		maxRssKiB: o[L.OUT_RU_MAXRSS],
		sharedMemKiB: o[L.OUT_RU_IXRSS],
		unsharedDataKiB: o[L.OUT_RU_IDRSS],
		unsharedStackKiB: o[L.OUT_RU_ISRSS],
		minorFaults: o[L.OUT_RU_MINFLT],
		majorFaults: o[L.OUT_RU_MAJFLT],
		swaps: o[L.OUT_RU_NSWAP],
		blockInputs: o[L.OUT_RU_INBLOCK],
		blockOutputs: o[L.OUT_RU_OUBLOCK],
		ipcSent: o[L.OUT_RU_MSGSND],
		ipcReceived: o[L.OUT_RU_MSGRCV],
		signalsReceived: o[L.OUT_RU_NSIGNALS],
		voluntaryCtxSwitches: o[L.OUT_RU_NVCSW],
		involuntaryCtxSwitches: o[L.OUT_RU_NIVCSW],
	};
}

/**
 * Decodes a 64-byte struct pidfd_info from ioctl(PIDFD_GET_INFO). `exitCode` is
 * set only when the mask has PIDFD_INFO_EXIT. Throws RangeError on any other length.
 */
export function decodePidfdInfo(bytes: Uint8Array): PidfdInfo {
	load(bytes, L.PIDFD_INFO_SIZE, 'struct pidfd_info').decodePidfdInfo();
	const o = output;
	const info: PidfdInfo = {
		mask: o[L.OUT_PI_MASK],
		cgroupId: o[L.OUT_PI_CGROUPID],
		pid: o[L.OUT_PI_PID],
		tgid: o[L.OUT_PI_TGID],
		ppid: o[L.OUT_PI_PPID],
		ruid: o[L.OUT_PI_RUID],
		rgid: o[L.OUT_PI_RGID],
		euid: o[L.OUT_PI_EUID],
		egid: o[L.OUT_PI_EGID],
		suid: o[L.OUT_PI_SUID],
		sgid: o[L.OUT_PI_SGID],
		fsuid: o[L.OUT_PI_FSUID],
		fsgid: o[L.OUT_PI_FSGID],
	};
	// The mask is a u64; its low bits are exact in a number, and & keeps only those.
	if (info.mask & L.PIDFD_INFO_EXIT) info.exitCode = o[L.OUT_PI_EXIT_CODE];
	return info;
}
