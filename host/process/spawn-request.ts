// Lowers spawn() options to a SPAWN request: validation (zod, with a fast path for the
// common shapes), the environment, the stdio table. Pure but for reading process.env and cwd.
import { constants } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, PidfdError } from '../../schemas/errors.js';
import { signalNumber } from '../../schemas/signals.js';
import { SpawnArgs, SpawnOptions, type StdioEntry } from '../../schemas/spawn.js';
import { explainDenied } from '../sidecar/permissions.js';
import { Namespace, RELAY_LAZY, SpawnFlag, StdioKind, type WireSpawn, type WireStdio } from '../sidecar/protocol.js';
import { runtime } from '../sidecar/runtime.js';
import { sidecarHandle } from './handle.js';
import { handoverEntry, handoverOf } from './handover.js';
import { transportOf } from './transport.js';

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
	const namespaces = namespacesOf(o);
	if (namespaces) flags |= SpawnFlag.NAMESPACES;
	const beneath = o.cwdRoot === undefined ? undefined : cwdBeneath(o.cwdRoot, o.cwd);
	if (beneath) flags |= SpawnFlag.CWD_BENEATH;
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
		env: withTerm(o.env === undefined ? hostEnvList() : envList(o.env), o.terminal, o.env?.TERM !== undefined),
		cwd: beneath ? beneath.cwd : o.cwd === undefined ? process.cwd() : resolve(pathOf(o.cwd)),
		stdio: withTerminal(stdioList(o.stdio ?? 'inherit', transportOf(o) === 'relay'), o.terminal),
		...(o.cgroup === undefined ? {} : { cgroup: resolve(pathOf(o.cgroup)) }),
		...(namespaces ? { namespaces } : {}),
		...(beneath ? { root: beneath.root } : {}),
	};
}

const NAMESPACE_BITS = { user: Namespace.USER, pid: Namespace.PID, mount: Namespace.MOUNT, ipc: Namespace.IPC, net: Namespace.NET } as const;

/** The namespaces block, or undefined; the combinations the schema cannot see are refused here. */
function namespacesOf(o: SpawnOptions): WireSpawn['namespaces'] {
	if (!o.namespaces) {
		if (o.uidMap || o.gidMap) throw new InvalidArgumentError("spawn() options: uidMap and gidMap need namespaces: ['user', …]");
		return undefined;
	}
	let ns = 0;
	for (const name of o.namespaces) ns |= NAMESPACE_BITS[name];
	const user = (ns & Namespace.USER) !== 0;
	if (!user && (o.uidMap || o.gidMap)) throw new InvalidArgumentError("spawn() options: uidMap and gidMap need the 'user' namespace");
	if (user && (o.uid !== undefined || o.gid !== undefined || o.groups !== undefined)) {
		throw new InvalidArgumentError('spawn() options: uid, gid and groups do not apply inside a new user namespace; use uidMap.inside and gidMap.inside');
	}
	return {
		ns,
		uid: o.uidMap?.inside ?? NOBODY,
		gid: o.gidMap?.inside ?? NOBODY,
		uidOutside: o.uidMap?.outside ?? -1,
		gidOutside: o.gidMap?.outside ?? -1,
	};
}

const NOBODY = 65534;

/**
 * The root, and the cwd relative to it. A cwd that leads out of the root by its very letters
 * (`..`, another absolute path) is refused here with the EPERM the sidecar gives any other way
 * out, before anything is looked up.
 */
function cwdBeneath(cwdRoot: string | URL, cwd: string | URL | undefined): { root: string; cwd: string } {
	const root = resolve(pathOf(cwdRoot));
	const target = cwd === undefined ? root : resolve(root, pathOf(cwd));
	const rel = relative(root, target);
	if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) {
		throw PidfdError.fromErrno(1, 'openat2', { path: cwd === undefined ? '.' : pathOf(cwd) });
	}
	return { root, cwd: rel };
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
			case 'stdioTransport':
				if (value === 'direct' || value === 'relay') continue;
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
 * The last environment read from process.env. Every spawn() still reads every variable (a
 * child sees process.env as it is at the call), but while they read the same, the same
 * frozen list is returned, and the message codec reuses its encoding: ~35 strings joined
 * and encoded one by one, and their garbage, saved on every spawn.
 */
const EMPTY: readonly string[] = Object.freeze([]);
const denoEnv = runtime === 'deno' ? (globalThis as { Deno?: { env: { toObject(): Record<string, string> } } }).Deno?.env : undefined;
let lastHostEnv: { names: string[]; values: string[]; list: readonly string[] } = { names: [], values: [], list: EMPTY };
/**
 * `envList({ ...process.env })` without the copy: each read of process.env is a getenv()
 * behind a C++ interceptor, and the spread cost ~25 µs for 35 variables, against ~16 here.
 */
function hostEnvList(): readonly string[] {
	try {
		// Deno asks for --allow-env. Its process.env is a proxy that asks the runtime once per
		// name (~60 µs for 39 variables); Deno.env.toObject() reads the same environment, which
		// process.env writes go to, in one call (~18 µs).
		const env = denoEnv ? denoEnv.toObject() : process.env;
		// Object.keys asks Node's interceptor, per name, whether it is enumerable (another
		// getenv() each); on Node every variable is, so the names alone give the same list.
		// Bun and Deno list other names this way, so they keep Object.keys.
		const names = runtime === 'node' ? Object.getOwnPropertyNames(env) : Object.keys(env);
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

function stdioList(stdio: 'inherit' | 'ignore' | 'pipe' | readonly StdioEntry[], relay: boolean): WireStdio[] {
	const entries: readonly StdioEntry[] = typeof stdio === 'string' ? [stdio, stdio, stdio] : stdio;
	const count = Math.max(3, entries.length);
	const list: WireStdio[] = [];
	for (let fd = 0; fd < count; fd++) list.push(stdioEntry(fd, entries[fd], relay));
	// Trailing closed fds carry nothing: fds past the list are closed anyway.
	while (list.length > 3 && list[list.length - 1]!.kind === StdioKind.CLOSED) list.pop();
	return list;
}

function stdioEntry(fd: number, entry: StdioEntry, relay: boolean): WireStdio {
	if (entry === null || entry === undefined) entry = fd < 3 ? 'inherit' : undefined;
	if (entry === undefined) return { kind: StdioKind.CLOSED, arg: 0, path: '' };
	if (entry === 'ignore') return { kind: StdioKind.NULL, arg: 0, path: '' };
	if (entry === 'pipe') {
		// Output waits for its reader (RELAY_LAZY), so it can still be handed over whole (handover.ts).
		if (relay) return fd === 0 ? { kind: StdioKind.RELAY_TO_CHILD, arg: 0, path: '' } : { kind: StdioKind.RELAY_FROM_CHILD, arg: RELAY_LAZY, path: '' };
		return { kind: fd === 0 ? StdioKind.PIPE_TO_CHILD : StdioKind.PIPE_FROM_CHILD, arg: 0, path: '' };
	}
	if (entry === 'inherit') entry = fd;
	if (typeof entry === 'number') {
		// The host's 0-2 are already in the sidecar (its fds 3-5); others are taken with pidfd_getfd.
		// Bun and Deno cannot pass the host's 0-2 to the sidecar at launch (see sidecar.ts).
		return entry <= 2 && runtime === 'node' ? { kind: StdioKind.INHERIT, arg: entry, path: '' } : { kind: StdioKind.HOST_FD, arg: entry, path: '' };
	}
	if ('process' in entry) return { kind: StdioKind.FROM_PIDFD, arg: entry.fd, path: '', handle: sidecarHandle(entry.process).handle };
	if (!('file' in entry) || handoverOf(entry)) return handoverEntry(entry as Readable | Writable);
	const flags = entry.flags ?? (fd === 0 ? 'r' : 'w');
	return { kind: StdioKind.FILE, arg: FILE_FLAGS[flags], path: resolve(pathOf(entry.file)) };
}

function pathOf(path: string | URL): string {
	return typeof path === 'string' ? path : fileURLToPath(path);
}

function invalid(what: string, error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }, names?: string[]): InvalidArgumentError {
	const issue = error.issues[0]!;
	const path = issue.path.map((p, i) => (i === 0 && names && typeof p === 'number' ? names[p] : String(p))).join('.');
	return new InvalidArgumentError(`${what}: ${path ? `${path} ` : ''}${issue.message}`, { cause: error });
}

/** A terminal child's fds 0–2 are the pty's slave, whatever `stdio` said for them. */
function withTerminal(stdio: WireStdio[], terminal: SpawnOptions['terminal']): WireStdio[] {
	if (!terminal) return stdio;
	const { cols = 80, rows = 24 } = terminal === true ? {} : terminal;
	const slave = { kind: StdioKind.TERMINAL, arg: 0, path: '' };
	return [{ ...slave, arg: rows * 65536 + cols }, slave, slave, ...stdio.slice(3)];
}

/**
 * TERM from the terminal's `name`, unless the `env` option sets it: the host's own TERM
 * describes the host's terminal, not this one.
 */
function withTerm(env: readonly string[], terminal: SpawnOptions['terminal'], explicit: boolean): readonly string[] {
	if (!terminal || explicit) return env;
	const name = (terminal === true ? undefined : terminal.name) ?? 'xterm-256color';
	return [...env.filter((e) => !e.startsWith('TERM=')), `TERM=${name}`];
}
