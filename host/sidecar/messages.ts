// The message codec of the sidecar protocol: every body the host sends is encoded here and
// every body it receives is decoded here (sidecar/PROTOCOL.md has the layouts). Pure: no I/O.
import { PidfdError } from '../../schemas/errors.js';
import type { ExitInfo } from '../../schemas/exit.js';
import type { PidfdInfo } from '../../schemas/kernel.js';
import { exitFromSiginfo, fromWaitStatus, unknownExit } from '../kernel/exit-status.js';
import { decodePidfdInfo, decodeRusage, decodeSiginfo, PIDFD_INFO_SIZE, RUSAGE_SIZE, SIGINFO_SIZE } from '../kernel/structs.js';
import { BodyReader, type FrameWriter } from './framing.js';
import { type Hello, MessageType, SpawnFlag, StdioKind, SYSCALLS, type WireSpawn } from './protocol.js';

// --- replies and events

/** HELLO: u32 version · u32 features · u32 max frame · i32 pid · u32 max handles · str kernel. */
export function decodeHello(body: Buffer): Hello {
	const r = new BodyReader(body);
	return { version: r.u32(), features: r.u32(), maxFrame: r.u32(), pid: r.i32(), maxHandles: r.u32(), kernel: r.str() };
}

/** LISTENING: str name, an abstract socket name without its leading NUL (sidecar/outlet.c). */
export function decodeListening(body: Buffer): string {
	const r = new BodyReader(body);
	const name = r.str();
	r.end();
	return name;
}

/** ERROR: i32 errno · u32 syscall id · str detail (a path, usually). */
export function decodeError(body: Buffer, pid?: number): PidfdError {
	const r = new BodyReader(body);
	const errno = r.i32();
	const syscallId = r.u32();
	const detail = r.str();
	const syscall = SYSCALLS[syscallId] ?? `syscall#${syscallId}`;
	return PidfdError.fromErrno(errno, syscall || 'pidfd', { path: detail || undefined, pid });
}

/** FATAL: i32 errno · str why. The sidecar's last frame before it exits. */
export function decodeFatal(body: Buffer): { errno: number; detail: string } {
	const r = new BodyReader(body);
	return { errno: r.i32(), detail: r.str() };
}

/** One end of a child's pipe as SPAWNED reports it: the child's fd and the sidecar's end. */
export interface PipeEnd {
	childFd: number;
	sidecarFd: number;
}

export interface Spawned {
	handle: number;
	pid: number;
	pipes: PipeEnd[];
}

/** SPAWNED: u32 handle · i32 pid · u32 count · count × (u32 child fd · i32 sidecar fd). */
export function decodeSpawned(body: Buffer): Spawned {
	const handle = body.readUInt32LE(0);
	const pid = body.readInt32LE(4);
	const count = body.readUInt32LE(8);
	const pipes: PipeEnd[] = [];
	for (let i = 0; i < count; i++) pipes.push({ childFd: body.readUInt32LE(12 + i * 8), sidecarFd: body.readInt32LE(16 + i * 8) });
	return { handle, pid, pipes };
}

/** OPENED: u32 handle · i32 pid. */
export function decodeOpened(body: Buffer): { handle: number; pid: number } {
	return { handle: body.readUInt32LE(0), pid: body.readInt32LE(4) };
}

/** INFO_REPLY: u32 handle · u32 size · struct pidfd_info. */
export function decodeInfoReply(body: Buffer): PidfdInfo {
	return decodePidfdInfo(body.subarray(8, 8 + PIDFD_INFO_SIZE));
}

/** The handle an EXIT or EXITED event is about: its first field. */
export function eventHandle(body: Buffer): number {
	return body.readUInt32LE(0);
}

/** EXIT (a child we reaped): u32 handle · u32 0 · siginfo_t · kernel rusage. */
export function decodeExit(body: Buffer): ExitInfo {
	const siginfo = decodeSiginfo(body.subarray(8, 8 + SIGINFO_SIZE));
	const rusage = decodeRusage(body.subarray(8 + SIGINFO_SIZE, 8 + SIGINFO_SIZE + RUSAGE_SIZE));
	return exitFromSiginfo(siginfo, rusage);
}

/**
 * EXITED (a process we opened, not spawned): u32 handle · u32 has_exit · pidfd_info. The
 * kernel's exit_code is a wait(2) status; without PIDFD_INFO_EXIT the status is unknown.
 */
export function decodeExited(body: Buffer, pid: number): ExitInfo {
	const hasExit = body.readUInt32LE(4) === 1;
	const info = hasExit ? decodePidfdInfo(body.subarray(8, 8 + PIDFD_INFO_SIZE)) : undefined;
	if (info?.exitCode === undefined) return unknownExit(pid);
	return fromWaitStatus(pid, info.exitCode);
}

/** DATA, EOF, WRITABLE: u32 handle · u32 fd first; DATA then carries bytes, EOF an i32 errno. */
export interface StreamEvent {
	handle: number;
	fd: number;
	/** DATA: the bytes, a view into the received chunk (kept by the stream that takes it). */
	data: Buffer;
	/** EOF: 0 for the end of the stream, else the errno of the failed read. */
	errno: number;
}

export function decodeStreamEvent(type: number, body: Buffer): StreamEvent {
	const handle = body.readUInt32LE(0);
	const fd = body.readUInt32LE(4);
	if (type === MessageType.DATA) return { handle, fd, data: body.subarray(8), errno: 0 };
	if (type === MessageType.EOF) return { handle, fd, data: EMPTY, errno: body.readInt32LE(8) };
	return { handle, fd, data: EMPTY, errno: 0 };
}

const EMPTY = Buffer.alloc(0);

/** WRITTEN: u32 handle · u32 fd · u32 bytes taken (short: the pipe is full, WRITABLE follows). */
export function decodeWritten(body: Buffer): number {
	return body.readUInt32LE(8);
}

// --- requests

/** WRITE: u32 handle · u32 fd · the bytes. */
export function encodeWrite(w: FrameWriter, handle: number, fd: number, data: Uint8Array): void {
	w.u32(handle).u32(fd).bytes(data);
}

/** SHUT (end a relayed stream), CREDIT's first fields: u32 handle · u32 fd. */
export function encodeStream(w: FrameWriter, handle: number, fd: number): void {
	w.u32(handle).u32(fd);
}

/** RESIZE: u32 handle · u32 cols · u32 rows. */
export function encodeResize(w: FrameWriter, handle: number, cols: number, rows: number): void {
	w.u32(handle).u32(cols).u32(rows);
}

/** RAW: u32 handle · u32 on (1) or off (0). */
export function encodeRaw(w: FrameWriter, handle: number, on: boolean): void {
	w.u32(handle).u32(on ? 1 : 0);
}

/** CREDIT: u32 handle · u32 fd · u32 bytes the host has consumed and may be sent again. */
export function encodeCredit(w: FrameWriter, handle: number, fd: number, bytes: number): void {
	w.u32(handle).u32(fd).u32(bytes);
}

/** CLOSE, RELEASE, ALIVE: u32 handle. */
export function encodeHandle(w: FrameWriter, handle: number): void {
	w.u32(handle);
}

/** KILL: u32 handle · i32 signal · u32 flags. */
export function encodeKill(w: FrameWriter, handle: number, signal: number, flags: number): void {
	w.u32(handle).i32(signal).u32(flags);
}

/** OPEN: i32 pid · u32 flags. */
export function encodeOpen(w: FrameWriter, pid: number, flags: number): void {
	w.i32(pid).u32(flags);
}

/** INFO: u32 handle · u32 mask. */
export function encodeInfo(w: FrameWriter, handle: number, mask: number): void {
	w.u32(handle).u32(mask);
}

/*
 * The encoding of the last reusable environment list (one that is frozen: the host's own
 * environment, unchanged since the last spawn). While spawns pass that same list, its ~35
 * strings are copied as one block instead of being encoded one by one.
 */
let envBlock: { list: readonly string[]; bytes: Buffer } = { list: [], bytes: Buffer.alloc(0) };

/** SPAWN: see PROTOCOL.md. */
export function encodeSpawn(w: FrameWriter, s: WireSpawn): void {
	w.u32(s.flags).i32(s.pdeathsig).i32(s.uid).i32(s.gid).u32(s.umask).u32(s.groups.length);
	for (const g of s.groups) w.u32(g);
	w.str(s.file).u32(s.argv.length);
	for (const a of s.argv) w.str(a);
	w.u32(s.env.length);
	if (s.env === envBlock.list) w.bytes(envBlock.bytes);
	else {
		const start = w.length;
		for (const e of s.env) w.str(e);
		if (Object.isFrozen(s.env)) envBlock = { list: s.env, bytes: w.copy(start) };
	}
	w.str(s.cwd).u32(s.stdio.length);
	for (const e of s.stdio) {
		w.u32(e.kind).i32(e.arg).str(e.path);
		if (e.kind === StdioKind.FROM_PIDFD || e.kind === StdioKind.RELAYED) w.u32(e.handle ?? 0);
		else if (e.kind === StdioKind.HOST_TERMINAL) w.u32(e.masterFd ?? 0);
	}
	if (s.flags & SpawnFlag.CGROUP) w.str(s.cgroup ?? '');
	if (s.flags & SpawnFlag.NAMESPACES) {
		const n = s.namespaces ?? { ns: 0, uid: 0, gid: 0, uidOutside: -1, gidOutside: -1 };
		w.u32(n.ns).u32(n.uid).u32(n.gid).i32(n.uidOutside).i32(n.gidOutside);
	}
	if (s.flags & SpawnFlag.CWD_BENEATH) w.str(s.root ?? '');
}
