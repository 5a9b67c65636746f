import { constants } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ProcessRef, SpawnArgs, SpawnOptions, type StdioEntry } from '../schemas/spawn.js';
import { Scope } from './cgroup/scope.js';
import { Child, type PipeEnd } from './child.js';
import { InvalidArgumentError, PidfdError } from './errors.js';
import type { FrameWriter } from './framing.js';
import { kSidecarHandle } from './handle.js';
import { MessageType, SpawnFlag, StdioKind, type WireSpawn, type WireStdio } from './protocol.js';
import { explainDenied } from './permissions.js';
import { kPipeOnRead, type PipeOnRead } from './pipes.js';
import { runtime } from './runtime.js';
import { Sidecar } from './sidecar.js';
import { signalNumber } from './signals.js';

export type { SpawnOptions };

/**
 * Starts `file` with `args` and resolves once it has exec'd: an exec failure (ENOENT,
 * EACCES, a bad cwd) rejects here, never as a later event.
 */
export async function spawn(file: string, args: readonly string[] = [], options: SpawnOptions = {}): Promise<Child> {
	if ((options.contain !== undefined && options.contain !== false) || options.limits !== undefined) return Scope.spawnContained(file, args, options);
	return spawnChild(file, args, options);
}

/**
 * Pipe size asked for a captured stream: the default /proc/sys/fs/pipe-max-size, which any
 * user may ask for. 256 MiB captured: ~1,040 MiB/s against ~700 with the default 64 KiB.
 */
const CAPTURE_PIPE_SIZE = 1024 * 1024;

/** @internal `spawn()` without containment; `setup` runs on the Child before any event can reach it. */
export async function spawnChild(file: string, args: readonly string[], options: SpawnOptions, setup?: (child: Child) => void): Promise<Child> {
	const onread = (options as { [kPipeOnRead]?: PipeOnRead })[kPipeOnRead];
	const request = sizeCapturePipes(toWire(file, args, options), onread);
	const termination = {
		timeout: options.timeout,
		signal: options.signal,
		killSignal: signalNumber(options.killSignal ?? 'SIGTERM')!,
		forceKillAfter: options.forceKillAfter ?? 5000,
	};
	if (options.signal?.aborted) throw abortError(options.signal);
	const sidecar = Sidecar.get();
	checkSources(options.stdio, sidecar);
	await sidecar.ready;
	return sidecar.call(
		MessageType.SPAWN,
		(w) => encodeSpawn(w, request),
		(reply) => {
			const body = reply.body;
			const handle = body.readUInt32LE(0);
			const pid = body.readInt32LE(4);
			const count = body.readUInt32LE(8);
			const pipes: PipeEnd[] = [];
			for (let i = 0; i < count; i++) pipes.push({ childFd: body.readUInt32LE(12 + i * 8), sidecarFd: body.readInt32LE(16 + i * 8) });
			let child: Child | undefined;
			try {
				child = new Child(sidecar, handle, pid, pipes, request.stdio.length, onread);
				if (request.flags & SpawnFlag.DETACHED) child.markDetached();
				setup?.(child);
			} catch (error) {
				abandon(sidecar, handle, child);
				throw error;
			}
			child.armTermination(termination);
			if (count > 0) {
				// Our ends are open now: the sidecar can drop its copies, so EOF and EPIPE work.
				sidecar.call(MessageType.RELEASE, (w) => w.u32(handle), () => undefined).catch(() => {});
			}
			return child;
		},
	);
}

/**
 * A pipe read through `onread` (run() capturing output) goes into big buffers: a bigger
 * pipe lets each read take more. The sidecar's F_SETPIPE_SZ, best effort.
 */
function sizeCapturePipes(request: WireSpawn, onread: PipeOnRead | undefined): WireSpawn {
	if (!onread) return request;
	const stdio = request.stdio.map((entry, fd) => (entry.kind === StdioKind.PIPE_FROM_CHILD && onread[fd] ? { ...entry, arg: CAPTURE_PIPE_SIZE } : entry));
	return { ...request, stdio };
}

/**
 * The sidecar spawned a child but this side could not take it (its pipes could not be
 * opened, say): spawn() rejects, so nobody could ever wait for or kill it. It is killed, and
 * CLOSE lets the sidecar drop its pipes and reap it silently.
 */
function abandon(sidecar: Sidecar, handle: number, child: Child | undefined): void {
	child?.unref();
	sidecar.unwatch(handle);
	sidecar.call(MessageType.KILL, (w) => w.u32(handle).i32(9).u32(0), () => undefined).catch(() => {});
	sidecar.call(MessageType.CLOSE, (w) => w.u32(handle), () => undefined).catch(() => {});
}

/** Validates with the zod schema and lowers the options to a SPAWN request. */
export function toWire(file: string, args: readonly string[], options: SpawnOptions): WireSpawn {
	if (!plainArgs(file, args)) {
		const parsedArgs = SpawnArgs.safeParse([file, args]);
		if (!parsedArgs.success) throw invalid('spawn()', parsedArgs.error, ['file', 'args']);
	}
	let o: SpawnOptions;
	if (plainOptions(options)) o = options;
	else {
		const parsed = SpawnOptions.safeParse(options);
		if (!parsed.success) throw invalid('spawn() options', parsed.error);
		o = parsed.data;
	}
	let flags = 0;
	if (o.detached) flags |= SpawnFlag.DETACHED;
	if (o.setsid) flags |= SpawnFlag.SETSID;
	if (o.processGroup) flags |= SpawnFlag.SETPGID;
	if (o.groups) flags |= SpawnFlag.SETGROUPS;
	if (o.cgroup !== undefined) flags |= SpawnFlag.CGROUP;
	const pdeathsig = o.pdeathsig === false ? 0 : o.pdeathsig === undefined ? (o.detached ? 0 : 9) : signalNumber(o.pdeathsig)!;
	return {
		flags,
		pdeathsig,
		uid: o.uid ?? -1,
		gid: o.gid ?? -1,
		umask: o.umask ?? 0xffffffff,
		groups: o.groups ?? [],
		file,
		argv: [o.argv0 ?? file, ...args],
		env: o.env === undefined ? hostEnvList() : envList(o.env),
		cwd: o.cwd === undefined ? process.cwd() : resolve(pathOf(o.cwd)),
		stdio: stdioList(o.stdio ?? 'inherit'),
		...(o.cgroup === undefined ? {} : { cgroup: resolve(pathOf(o.cgroup)) }),
	};
}

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
		// The host's environment, as it was: the same list again next time, if unchanged.
		if (s.env === lastHostEnv.list) envBlock = { list: s.env, bytes: w.copy(start) };
	}
	w.str(s.cwd).u32(s.stdio.length);
	for (const e of s.stdio) {
		w.u32(e.kind).i32(e.arg).str(e.path);
		if (e.kind === StdioKind.FROM_PIDFD) w.u32(e.handle ?? 0);
	}
	if (s.flags & SpawnFlag.CGROUP) w.str(s.cgroup ?? '');
}

/*
 * The zod parses cost ~17 µs of every spawn() (the event loop waits for them). The common
 * shapes are checked here by hand, and only ever accepted where the schema accepts them
 * with the same output (these fields come out unchanged); anything else, valid or not, goes
 * through zod, so its errors stay the ones users see.
 */
function plainArgs(file: unknown, args: unknown): boolean {
	if (typeof file !== 'string' || file === '' || file.includes('\0') || !Array.isArray(args) || args.length > 1000) return false;
	for (const a of args) if (typeof a !== 'string' || a.includes('\0')) return false;
	return true;
}

const STDIO_NAMES = new Set<unknown>(['inherit', 'ignore', 'pipe']);

function plainOptions(options: unknown): options is SpawnOptions {
	if (typeof options !== 'object' || options === null || Object.getPrototypeOf(options) !== Object.prototype) return false;
	for (const key of Object.keys(options)) {
		const value = (options as Record<string, unknown>)[key];
		if (value === undefined) continue;
		switch (key) {
			case 'stdio':
				if (STDIO_NAMES.has(value)) continue;
				if (!Array.isArray(value) || value.length > 3) return false;
				for (const e of value) if (!(e === null || e === undefined || STDIO_NAMES.has(e))) return false;
				continue;
			case 'cwd':
			case 'argv0':
				if (typeof value === 'string' && !value.includes('\0')) continue;
				return false;
			case 'detached':
			case 'setsid':
			case 'processGroup':
				if (typeof value === 'boolean') continue;
				return false;
			default:
				return false;
		}
	}
	return true;
}

/*
 * The last environment read from process.env, and its encoding in a SPAWN body. Every
 * spawn() still reads every variable (a child sees process.env as it is at the call), but
 * while they read the same, the list and its bytes are reused instead of being built again:
 * ~35 strings joined and encoded one by one, and their garbage, on every spawn.
 */
const EMPTY: readonly string[] = Object.freeze([]);
let lastHostEnv: { names: string[]; values: string[]; list: readonly string[] } = { names: [], values: [], list: EMPTY };
let envBlock: { list: readonly string[]; bytes: Buffer } = { list: EMPTY, bytes: Buffer.alloc(0) };

/**
 * `envList({ ...process.env })` without the copy: each read of process.env is a getenv()
 * behind a C++ interceptor, and the spread cost ~25 µs for 35 variables, against ~16 here.
 */
function hostEnvList(): readonly string[] {
	try {
		const env = process.env; // Deno asks for --allow-env
		const names = Object.keys(env);
		const values: string[] = [];
		const last = lastHostEnv;
		let same = names.length === last.names.length;
		for (let i = 0; i < names.length; i++) {
			const value = env[names[i]!];
			values.push(value as string);
			if (same && (names[i] !== last.names[i] || value !== last.values[i])) same = false;
		}
		if (same) return last.list;
		const list: string[] = [];
		for (let i = 0; i < names.length; i++) {
			const name = names[i]!;
			const value = values[i];
			if (value === undefined) continue;
			if (name === '' || name.includes('=') || name.includes('\0')) {
				throw new InvalidArgumentError(`spawn() options.env: invalid variable name ${JSON.stringify(name)}`);
			}
			if (value.includes('\0')) throw new InvalidArgumentError(`spawn() options.env.${name}: must not contain NUL bytes`);
			list.push(`${name}=${value}`);
		}
		lastHostEnv = { names, values, list: Object.freeze(list) };
		return lastHostEnv.list;
	} catch (error) {
		throw explainDenied(error, "reading the host's environment for the child");
	}
}

function envList(env: Record<string, string | undefined>): string[] {
	const list: string[] = [];
	for (const name in env) {
		const value = env[name];
		if (value === undefined) continue;
		if (name === '' || name.includes('=') || name.includes('\0')) {
			throw new InvalidArgumentError(`spawn() options.env: invalid variable name ${JSON.stringify(name)}`);
		}
		if (value.includes('\0')) throw new InvalidArgumentError(`spawn() options.env.${name}: must not contain NUL bytes`);
		list.push(`${name}=${value}`);
	}
	return list;
}

const FILE_FLAGS = {
	r: constants.O_RDONLY,
	w: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC,
	a: constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND,
} as const;

function stdioList(stdio: 'inherit' | 'ignore' | 'pipe' | readonly StdioEntry[]): WireStdio[] {
	const entries: readonly StdioEntry[] = typeof stdio === 'string' ? [stdio, stdio, stdio] : stdio;
	const count = Math.max(3, entries.length);
	const list: WireStdio[] = [];
	for (let fd = 0; fd < count; fd++) list.push(stdioEntry(fd, entries[fd]));
	// Trailing closed fds carry nothing: fds past the list are closed anyway.
	while (list.length > 3 && list[list.length - 1]!.kind === StdioKind.CLOSED) list.pop();
	return list;
}

function stdioEntry(fd: number, entry: StdioEntry): WireStdio {
	if (entry === null || entry === undefined) entry = fd < 3 ? 'inherit' : undefined;
	if (entry === undefined) return { kind: StdioKind.CLOSED, arg: 0, path: '' };
	if (entry === 'ignore') return { kind: StdioKind.NULL, arg: 0, path: '' };
	if (entry === 'pipe') return { kind: fd === 0 ? StdioKind.PIPE_TO_CHILD : StdioKind.PIPE_FROM_CHILD, arg: 0, path: '' };
	if (entry === 'inherit') entry = fd;
	if (typeof entry === 'number') {
		// The host's 0-2 are already in the sidecar (its fds 3-5); others are taken with pidfd_getfd.
		// Bun and Deno cannot pass the host's 0-2 to the sidecar at launch (see sidecar.ts).
		return entry <= 2 && runtime === 'node' ? { kind: StdioKind.INHERIT, arg: entry, path: '' } : { kind: StdioKind.HOST_FD, arg: entry, path: '' };
	}
	if ('process' in entry) return { kind: StdioKind.FROM_PIDFD, arg: entry.fd, path: '', handle: sidecarHandle(entry.process).handle };
	const flags = entry.flags ?? (fd === 0 ? 'r' : 'w');
	return { kind: StdioKind.FILE, arg: FILE_FLAGS[flags], path: resolve(pathOf(entry.file)) };
}

function sidecarHandle(process: ProcessRef): { sidecar: Sidecar; handle: number } {
	return (process as unknown as { [kSidecarHandle](): { sidecar: Sidecar; handle: number } })[kSidecarHandle]();
}

/**
 * Handle ids are per sidecar: one from a sidecar that has died could name another process
 * in the new one. So `{ process, fd }` entries must come from the sidecar we spawn with.
 */
function checkSources(stdio: SpawnOptions['stdio'], sidecar: Sidecar): void {
	if (!Array.isArray(stdio)) return;
	for (const entry of stdio as readonly StdioEntry[]) {
		if (entry && typeof entry === 'object' && 'process' in entry && sidecarHandle(entry.process).sidecar !== sidecar) {
			throw new PidfdError('ESRCH', 3, 'pidfd_getfd', `pidfd_getfd ESRCH: process ${entry.process.pid} was opened by a sidecar that is gone`, { pid: entry.process.pid });
		}
	}
}

function abortError(signal: AbortSignal): Error {
	return new PidfdError('ABORT_ERR', 0, 'spawn', 'spawn() aborted before the child started', { cause: signal.reason });
}

function pathOf(path: string | URL): string {
	return typeof path === 'string' ? path : fileURLToPath(path);
}

function invalid(what: string, error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }, names?: string[]): InvalidArgumentError {
	const issue = error.issues[0]!;
	const path = issue.path.map((p, i) => (i === 0 && names && typeof p === 'number' ? names[p] : String(p))).join('.');
	return new InvalidArgumentError(`${what}: ${path ? `${path} ` : ''}${issue.message}`, { cause: error });
}
