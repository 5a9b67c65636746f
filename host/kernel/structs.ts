// Decodes the raw kernel structs the sidecar forwards (siginfo_t, struct rusage,
// struct pidfd_info) with the AssemblyScript module built from assembly/.
import * as L from '../../assembly/layout.js';
import type { PidfdInfo, Rusage, Siginfo } from '../../schemas/kernel.js';
import { DECODER_WASM_BASE64 } from './generated/decoder-wasm.js';

/** The three decoders: each reads the struct in `input` and writes numbers into `output`. */
interface Decoder {
	decodeSiginfo(): void;
	decodeRusage(): void;
	decodePidfdInfo(): void;
}

interface DecoderExports extends Decoder {
	readonly memory: WebAssembly.Memory;
	input(): number;
	output(): number;
}

/** PIDFD_GET_INFO request mask bits. */
export const PidfdInfoMask = { PID: L.PIDFD_INFO_PID, CREDS: L.PIDFD_INFO_CREDS, CGROUPID: L.PIDFD_INFO_CGROUPID, EXIT: L.PIDFD_INFO_EXIT } as const;

/** Sizes of the kernel structs on the wire: one definition, shared with the wasm decoder. */
export const { SIGINFO_SIZE, RUSAGE_SIZE, PIDFD_INFO_SIZE } = L;

let decoder: Decoder | undefined;
let wasm: DecoderExports | undefined;
let input = new Uint8Array(0);
let output = new Float64Array(0);

/*
 * Compiled on first use, synchronously, as undici does with llhttp: no top-level
 * await, no file lookup, so it works alike under tsx, in bundles, and in Node,
 * Bun and Deno. The module is under 1 KB, well within the size browsers allow
 * for synchronous compilation on the main thread.
 */
function instance(): Decoder {
	if (decoder === undefined) decoder = wasmDecoder() ?? jsDecoder();
	// Views die when memory grows (a new ArrayBuffer); the decoder never grows
	// it today, but one compare is cheaper than a silent wrong read later.
	if (wasm && decoder === wasm && input.buffer !== wasm.memory.buffer) {
		input = new Uint8Array(wasm.memory.buffer, wasm.input(), L.INPUT_SIZE);
		output = new Float64Array(wasm.memory.buffer, wasm.output(), L.OUTPUT_SLOTS);
	}
	return decoder;
}

/** The AssemblyScript module, or undefined where no WebAssembly memory can be had. */
function wasmDecoder(): Decoder | undefined {
	const text = atob(DECODER_WASM_BASE64);
	const bytes = new Uint8Array(text.length);
	for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
	const module = new WebAssembly.Module(bytes);
	try {
		wasm = new WebAssembly.Instance(module, {}).exports as unknown as DecoderExports;
		return wasm;
	} catch (error) {
		// V8 reserves ~10 GiB of address space for any wasm memory (its bounds checks are
		// guard pages), and Node 20 cannot do without: under a smaller RLIMIT_AS
		// (`ulimit -v`) every instance fails with a RangeError. Anything else is a bug.
		if (error instanceof RangeError) return undefined;
		throw error;
	}
}

/** The JavaScript decoder's rusage counters: output slot, offset of the i64. */
const RUSAGE_COUNTERS: readonly (readonly [number, number])[] = [
	[L.OUT_RU_MAXRSS, L.RU_MAXRSS],
	[L.OUT_RU_IXRSS, L.RU_IXRSS],
	[L.OUT_RU_IDRSS, L.RU_IDRSS],
	[L.OUT_RU_ISRSS, L.RU_ISRSS],
	[L.OUT_RU_MINFLT, L.RU_MINFLT],
	[L.OUT_RU_MAJFLT, L.RU_MAJFLT],
	[L.OUT_RU_NSWAP, L.RU_NSWAP],
	[L.OUT_RU_INBLOCK, L.RU_INBLOCK],
	[L.OUT_RU_OUBLOCK, L.RU_OUBLOCK],
	[L.OUT_RU_MSGSND, L.RU_MSGSND],
	[L.OUT_RU_MSGRCV, L.RU_MSGRCV],
	[L.OUT_RU_NSIGNALS, L.RU_NSIGNALS],
	[L.OUT_RU_NVCSW, L.RU_NVCSW],
	[L.OUT_RU_NIVCSW, L.RU_NIVCSW],
];

/** The JavaScript decoder's pidfd_info ids: output slot, offset of the u32. */
const PIDFD_INFO_IDS: readonly (readonly [number, number])[] = [
	[L.OUT_PI_PID, L.PI_PID],
	[L.OUT_PI_TGID, L.PI_TGID],
	[L.OUT_PI_PPID, L.PI_PPID],
	[L.OUT_PI_RUID, L.PI_RUID],
	[L.OUT_PI_RGID, L.PI_RGID],
	[L.OUT_PI_EUID, L.PI_EUID],
	[L.OUT_PI_EGID, L.PI_EGID],
	[L.OUT_PI_SUID, L.PI_SUID],
	[L.OUT_PI_SGID, L.PI_SGID],
	[L.OUT_PI_FSUID, L.PI_FSUID],
	[L.OUT_PI_FSGID, L.PI_FSGID],
];

/**
 * The same decoding in JavaScript, for where the module cannot be instantiated: the offsets
 * are layout.ts's, the arithmetic the module's (an i64 becomes the nearest f64, as
 * f64.convert_i64_s does; BigInt to Number rounds to nearest too). test/decoder.ts checks that
 * both give the same numbers for every committed kernel vector.
 */
function jsDecoder(): Decoder {
	input = new Uint8Array(L.INPUT_SIZE);
	output = new Float64Array(L.OUTPUT_SLOTS);
	const view = new DataView(input.buffer);
	const i64 = (at: number) => Number(view.getBigInt64(at, true));
	const u64 = (at: number) => Number(view.getBigUint64(at, true));
	const i32 = (at: number) => view.getInt32(at, true);
	const u32 = (at: number) => view.getUint32(at, true);
	const ms = (sec: number, usec: number) => i64(sec) * 1000 + i64(usec) / 1000;
	const o = output;
	return {
		decodeSiginfo() {
			o[L.OUT_SI_SIGNO] = i32(L.SI_SIGNO);
			o[L.OUT_SI_ERRNO] = i32(L.SI_ERRNO);
			o[L.OUT_SI_CODE] = i32(L.SI_CODE);
			o[L.OUT_SI_PID] = i32(L.SI_PID);
			o[L.OUT_SI_UID] = u32(L.SI_UID);
			o[L.OUT_SI_STATUS] = i32(L.SI_STATUS);
		},
		decodeRusage() {
			o[L.OUT_RU_USER_CPU_MS] = ms(L.RU_UTIME_SEC, L.RU_UTIME_USEC);
			o[L.OUT_RU_SYSTEM_CPU_MS] = ms(L.RU_STIME_SEC, L.RU_STIME_USEC);
			for (const [slot, at] of RUSAGE_COUNTERS) o[slot] = i64(at);
		},
		decodePidfdInfo() {
			o[L.OUT_PI_MASK] = u64(L.PI_MASK);
			o[L.OUT_PI_CGROUPID] = u64(L.PI_CGROUPID);
			for (const [slot, at] of PIDFD_INFO_IDS) o[slot] = u32(at);
			o[L.OUT_PI_EXIT_CODE] = i32(L.PI_EXIT_CODE);
		},
	};
}

/**
 * @internal Tests: which decoder runs ('wasm' where the module could be instantiated), or,
 * given one, switch to it (the JavaScript one is always possible).
 */
export function structDecoder(use?: 'wasm' | 'js'): 'wasm' | 'js' {
	instance();
	if (use === 'js' && decoder === wasm) decoder = jsDecoder();
	if (use === 'wasm' && decoder !== wasm && wasm) {
		decoder = wasm;
		input = new Uint8Array(0); // instance() makes the module's views again
		instance();
	}
	return decoder === wasm ? 'wasm' : 'js';
}

/** Copies one struct into the module's input area, after checking its size. */
function load(bytes: Uint8Array, size: number, what: string): Decoder {
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
