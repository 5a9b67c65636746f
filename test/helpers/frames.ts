// Raw frame codec for the sidecar tests: builds request bodies byte by byte and splits the
// reply stream into frames with a reader of its own, independent of the host's codec, so
// the two check each other. Only the numbers are shared.
import * as assert from 'uvu/assert';
import { type Hello, MessageType, StdioKind, SYSCALLS } from '../../host/sidecar/protocol.js';

/**
 * The protocol's numbers, from the host's tables (test/protocol.ts holds those to
 * sidecar/wire.h): one definition, not a third hand-typed copy.
 */
export const T = MessageType;

/** Syscall ids of ERROR replies, by name ('' is id 0: none). */
export const SC = Object.fromEntries(SYSCALLS.map((name, id) => [name || 'none', id])) as {
	readonly [K in (typeof SYSCALLS)[number] as K extends '' ? 'none' : K]: number;
};

/** The errnos the sidecar answers with, by name (asm-generic numbering). */
export const E = {
	ENOENT: 2,
	ESRCH: 3,
	E2BIG: 7,
	EBADF: 9,
	ENOTDIR: 20,
	EINVAL: 22,
	ENOSYS: 38,
	EPROTO: 71,
	EMSGSIZE: 90,
	EOPNOTSUPP: 95,
	EALREADY: 114,
} as const;

export const STDIO = StdioKind;

export interface Frame {
	type: number;
	flags: number;
	id: number;
	body: Buffer;
}

/** Appends little-endian fields; `bytes()` returns the body. */
export class Writer {
	private parts: Buffer[] = [];

	u32(v: number): this {
		const b = Buffer.alloc(4);
		b.writeUInt32LE(v >>> 0);
		this.parts.push(b);
		return this;
	}

	i32(v: number): this {
		const b = Buffer.alloc(4);
		b.writeInt32LE(v | 0);
		this.parts.push(b);
		return this;
	}

	str(s: string | Buffer): this {
		const b = typeof s === 'string' ? Buffer.from(s) : s;
		this.u32(b.length);
		this.parts.push(b);
		return this;
	}

	raw(b: Buffer): this {
		this.parts.push(b);
		return this;
	}

	bytes(): Buffer {
		return Buffer.concat(this.parts);
	}
}

export function frame(type: number, id: number, body: Buffer = Buffer.alloc(0), flags = 0): Buffer {
	const h = Buffer.alloc(12);
	h.writeUInt32LE(8 + body.length, 0);
	h.writeUInt16LE(type, 4);
	h.writeUInt16LE(flags, 6);
	h.writeUInt32LE(id, 8);
	return Buffer.concat([h, body]);
}

/** Splits a byte stream into frames; `push` returns the frames completed. */
export class FrameReader {
	private buf: Buffer = Buffer.alloc(0);

	push(chunk: Buffer): Frame[] {
		this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
		const out: Frame[] = [];
		while (this.buf.length >= 4) {
			const len = this.buf.readUInt32LE(0);
			if (this.buf.length < 4 + len) break;
			out.push({
				type: this.buf.readUInt16LE(4),
				flags: this.buf.readUInt16LE(6),
				id: this.buf.readUInt32LE(8),
				body: this.buf.subarray(12, 4 + len),
			});
			this.buf = this.buf.subarray(4 + len);
		}
		return out;
	}
}

export interface StdioEntry {
	kind: number;
	arg?: number;
	path?: string;
	/** FROM_PIDFD only. */
	handle?: number;
}

export interface SpawnRequest {
	flags?: number;
	pdeathsig?: number;
	uid?: number;
	gid?: number;
	umask?: number;
	groups?: number[];
	file?: string;
	argv: string[];
	env?: string[];
	cwd?: string;
	stdio?: StdioEntry[];
	/** Appended when flags has CGROUP (16). */
	cgroup?: string;
	/** Flag 32: ns bits, uid and gid inside, uid and gid outside (-1: the sidecar's). */
	namespaces?: [number, number, number, number, number];
	/** Flag 64: the root the cwd is resolved beneath. */
	root?: string;
}

export function spawnBody(r: SpawnRequest): Buffer {
	const w = new Writer()
		.u32(r.flags ?? 0)
		.i32(r.pdeathsig ?? 0)
		.i32(r.uid ?? -1)
		.i32(r.gid ?? -1)
		.u32(r.umask ?? 0xffffffff);
	const groups = r.groups ?? [];
	w.u32(groups.length);
	for (const g of groups) w.u32(g);
	w.str(r.file ?? '').u32(r.argv.length);
	for (const a of r.argv) w.str(a);
	const env = r.env ?? [`PATH=${process.env.PATH ?? '/usr/bin:/bin'}`];
	w.u32(env.length);
	for (const e of env) w.str(e);
	w.str(r.cwd ?? '');
	const stdio = r.stdio ?? [{ kind: STDIO.NULL }, { kind: STDIO.NULL }, { kind: STDIO.INHERIT, arg: 2 }];
	w.u32(stdio.length);
	for (const s of stdio) {
		w.u32(s.kind)
			.i32(s.arg ?? 0)
			.str(s.path ?? '');
		if (s.kind === STDIO.FROM_PIDFD || s.kind === STDIO.RELAYED) w.u32(s.handle ?? 0);
	}
	if ((r.flags ?? 0) & 16) w.str(r.cgroup ?? '');
	if ((r.flags ?? 0) & 32) {
		const n = r.namespaces ?? [1, 65534, 65534, -1, -1];
		w.u32(n[0]!).u32(n[1]!).u32(n[2]!).i32(n[3]!).i32(n[4]!);
	}
	if ((r.flags ?? 0) & 64) w.str(r.root ?? '');
	return w.bytes();
}

/** HELLO as the raw reader decodes it: the host's own type. */
export type { Hello } from '../../host/sidecar/protocol.js';

export function decodeHello(b: Buffer): Hello {
	const n = b.readUInt32LE(20);
	return {
		version: b.readUInt32LE(0),
		features: b.readUInt32LE(4),
		maxFrame: b.readUInt32LE(8),
		pid: b.readInt32LE(12),
		maxHandles: b.readUInt32LE(16),
		kernel: b.subarray(24, 24 + n).toString(),
	};
}

export interface WireError {
	errno: number;
	syscall: number;
	detail: string;
}

export function decodeError(b: Buffer): WireError {
	const n = b.readUInt32LE(8);
	return { errno: b.readInt32LE(0), syscall: b.readUInt32LE(4), detail: b.subarray(12, 12 + n).toString() };
}

/**
 * Asserts an ERROR reply with this errno and syscall id (default: refused before any
 * syscall), and its detail when given; returns it decoded.
 */
export function expectError(f: Frame, errno: number, syscall: number = SC.none, detail?: string | RegExp): WireError {
	assert.is(f.type, T.ERROR, `expected ERROR, got type ${f.type}`);
	const e = decodeError(f.body);
	assert.is(e.errno, errno, `errno (detail: ${e.detail})`);
	assert.is(e.syscall, syscall, `syscall id (detail: ${e.detail})`);
	if (typeof detail === 'string') assert.is(e.detail, detail);
	else if (detail) assert.match(e.detail, detail);
	return e;
}

export interface Spawned {
	handle: number;
	pid: number;
	pipes: Array<{ childFd: number; sidecarFd: number }>;
}

export function decodeSpawned(b: Buffer): Spawned {
	const n = b.readUInt32LE(8);
	const pipes = [];
	for (let i = 0; i < n; i++) {
		pipes.push({ childFd: b.readUInt32LE(12 + 8 * i), sidecarFd: b.readInt32LE(16 + 8 * i) });
	}
	return { handle: b.readUInt32LE(0), pid: b.readInt32LE(4), pipes };
}

export interface Exit {
	handle: number;
	signo: number;
	code: number;
	pid: number;
	status: number;
	utimeSec: number;
	maxrss: number;
}

/** EXIT: u32 handle, u32 zero, siginfo[128], rusage[144]. */
export function decodeExit(b: Buffer): Exit {
	const si = 8;
	const ru = 136;
	return {
		handle: b.readUInt32LE(0),
		signo: b.readInt32LE(si),
		code: b.readInt32LE(si + 8),
		pid: b.readInt32LE(si + 16),
		status: b.readInt32LE(si + 24),
		utimeSec: Number(b.readBigInt64LE(ru)),
		maxrss: Number(b.readBigInt64LE(ru + 32)),
	};
}

export interface PidfdInfo {
	mask: bigint;
	pid: number;
	ppid: number;
	exitCode: number;
}

export function decodeInfo(b: Buffer, off: number): PidfdInfo {
	return {
		mask: b.readBigUInt64LE(off),
		pid: b.readUInt32LE(off + 16),
		ppid: b.readUInt32LE(off + 24),
		exitCode: b.readInt32LE(off + 60),
	};
}
