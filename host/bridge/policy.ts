import { realpathSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import type { PolicyFile, SpawnRequest } from '../../schemas/bridge.js';
import { PidfdError, type SpawnOptions } from '../index.js';

/** Defaults: small enough that a forgotten flag does not hand out the machine. */
export const POLICY_DEFAULTS = {
	maxProcsPerConnection: 16,
	maxProcs: 64,
	maxPayload: 1024 * 1024,
	maxBuffered: 1024 * 1024,
	maxConnections: 64,
	maxConnectionsPerAddress: 16,
	idleTimeoutMs: 10 * 60 * 1000,
} as const;

/** One allowed executable: the path as configured, and what it resolved to at load. */
export interface AllowedExecutable {
	path: string;
	real: string;
}

/** A policy with its paths resolved, ready to check requests against. */
export interface Policy {
	readonly allowed: readonly AllowedExecutable[];
	readonly cwdRoot: string;
	readonly env: Readonly<Record<string, string>>;
	readonly envAllow: readonly string[];
	readonly origins: readonly string[];
	readonly maxProcsPerConnection: number;
	readonly maxProcs: number;
	readonly maxRuntimeMs: number | undefined;
	readonly maxPayload: number;
	readonly maxBuffered: number;
	/** Open connections at once, in total and from one remote address (TCP only). */
	readonly maxConnections: number;
	readonly maxConnectionsPerAddress: number;
	/** A connection with no child running and no message for this long is closed; 0: never. */
	readonly idleTimeoutMs: number;
	readonly allowDetach: boolean;
	readonly allowTerminal: boolean;
	/** 'namespaces': each child in new user, pid, mount and IPC namespaces (ISOLATION_NAMESPACES). */
	readonly isolation: 'namespaces' | 'none';
}

/** The namespaces each child gets under isolation 'namespaces'. */
export const ISOLATION_NAMESPACES = ['user', 'pid', 'mount', 'ipc'] as const;

/**
 * The spawn options of isolation 'namespaces'. The server's uid is nobody inside; a server
 * running as root maps nobody outside too (the sidecar writes those maps), since a child
 * that is root outside owns every root-owned file of the host.
 */
export function isolationOptions(): Pick<SpawnOptions, 'namespaces' | 'uidMap' | 'gidMap'> {
	const nobody = { inside: 65534, outside: 65534 };
	const root = process.getuid?.() === 0;
	return { namespaces: [...ISOLATION_NAMESPACES], ...(root ? { uidMap: nobody, gidMap: nobody } : {}) };
}

/** Options of a spawn that passed the policy, ready for `spawn()`. */
export interface CheckedSpawn {
	file: string;
	args: string[];
	options: SpawnOptions & { timeout?: number };
	detached: boolean;
	/** The executable as configured: what `list` shows. */
	display: string;
}

/** A request the policy refuses; becomes an EPERM reply (or ENOENT, for a missing cwd). */
export class PolicyError extends Error {
	constructor(
		message: string,
		readonly code: 'EPERM' | 'ENOENT' = 'EPERM',
	) {
		super(message);
		this.name = 'PolicyError';
	}
}

/**
 * Variables that make the dynamic loader, libc, a shell or an interpreter run code of the
 * caller's choosing, or change which program a name runs. A wildcard in envAllow never
 * matches them: each must be allowed by its exact name.
 */
const DANGEROUS_PREFIXES = ['LD_', 'BASH_FUNC_', 'PYTHON', 'PERL', 'RUBY', 'NODE_', 'GIT_', 'OPENSSL_', 'MALLOC_'];
const DANGEROUS_NAMES = new Set([
	// the shell: startup files, options, traced commands, word splitting, lookup
	'BASH_ENV',
	'ENV',
	'SHELLOPTS',
	'BASHOPTS',
	'PS4',
	'IFS',
	'PATH',
	'HOME',
	'CDPATH',
	// libc and the loader
	'GCONV_PATH',
	'GLIBC_TUNABLES',
	'HOSTALIASES',
	'LOCPATH',
	'NLSPATH',
	'RESOLV_HOST_CONF',
	// the JVM's option variables
	'JAVA_TOOL_OPTIONS',
	'_JAVA_OPTIONS',
	'JDK_JAVA_OPTIONS',
]);

export function isDangerousEnv(name: string): boolean {
	return DANGEROUS_NAMES.has(name) || DANGEROUS_PREFIXES.some((p) => name.startsWith(p));
}

/** True if a client may set this variable. */
export function envAllowed(name: string, allow: readonly string[]): boolean {
	if (allow.includes(name)) return true;
	if (isDangerousEnv(name)) return false;
	return allow.some((pattern) => pattern.endsWith('*') && name.startsWith(pattern.slice(0, -1)));
}

/** Refuses an envAllow that lets any variable through: the operator must say which. */
function checkEnvAllow(patterns: readonly string[]): void {
	if (patterns.includes('*'))
		throw new Error(
			"policy: envAllow '*' would let clients set every variable: name each one (or a family such as LC_*); variables that run code (LD_*, BASH_FUNC_*, PATH, PYTHON*, …) pass only by exact name",
		);
}

/**
 * Resolves a policy at startup. Allowed executables are resolved with realpath now, so a
 * missing one is a configuration error the operator sees at once, not a refusal later.
 */
export function resolvePolicy(file: PolicyFile = {}): Policy {
	checkEnvAllow(file.envAllow ?? []);
	const allowed = (file.allow ?? []).map((path) => {
		if (!isAbsolute(path)) throw new Error(`policy: allowed executable ${path} must be an absolute path`);
		let real: string;
		try {
			real = realpathSync(path);
		} catch (error) {
			throw new Error(`policy: allowed executable ${path}: ${(error as Error).message}`);
		}
		return { path, real };
	});
	let cwdRoot: string;
	try {
		cwdRoot = realpathSync(file.cwdRoot ?? process.cwd());
	} catch (error) {
		throw new Error(`policy: cwdRoot: ${(error as Error).message}`);
	}
	return {
		allowed,
		cwdRoot,
		env: file.env ?? { PATH: '/usr/local/bin:/usr/bin:/bin' },
		envAllow: file.envAllow ?? [],
		origins: file.origins ?? [],
		maxProcsPerConnection: file.maxProcsPerConnection ?? POLICY_DEFAULTS.maxProcsPerConnection,
		maxProcs: file.maxProcs ?? POLICY_DEFAULTS.maxProcs,
		maxRuntimeMs: file.maxRuntimeMs,
		maxPayload: file.maxPayload ?? POLICY_DEFAULTS.maxPayload,
		maxBuffered: file.maxBuffered ?? POLICY_DEFAULTS.maxBuffered,
		maxConnections: file.maxConnections ?? POLICY_DEFAULTS.maxConnections,
		maxConnectionsPerAddress: file.maxConnectionsPerAddress ?? POLICY_DEFAULTS.maxConnectionsPerAddress,
		idleTimeoutMs: file.idleTimeoutMs ?? POLICY_DEFAULTS.idleTimeoutMs,
		allowDetach: file.allowDetach ?? false,
		allowTerminal: file.allowTerminal ?? false,
		isolation: file.isolation ?? 'none',
	};
}

/**
 * Which allowed executable a request names: a bare name matches an allowed path's basename;
 * a path must resolve (symlinks, `..`) to the same file as an allowed one. Anything else —
 * including a path that does not exist — is EPERM, so the bridge is no oracle for the
 * server's filesystem.
 */
export async function resolveExecutable(policy: Policy, file: string): Promise<AllowedExecutable> {
	const refused = () => new PolicyError(`${file} is not an allowed executable`);
	if (!file.includes('/')) {
		const entry = policy.allowed.find((e) => basename(e.path) === file);
		if (!entry) throw refused();
		return entry;
	}
	if (!isAbsolute(file)) throw new PolicyError(`${file}: give an absolute path or a bare name`);
	const exact = policy.allowed.find((e) => e.path === file);
	if (exact) return exact;
	let real: string;
	try {
		real = await realpath(file);
	} catch {
		throw refused();
	}
	const entry = policy.allowed.find((e) => e.real === real);
	if (!entry) throw refused();
	return entry;
}

/** True if `path` is `root` or below it; both already resolved. */
export function isWithin(root: string, path: string): boolean {
	if (root === sep) return true;
	return path === root || path.startsWith(root + sep);
}

/**
 * The cwd of a request, relative to the root, as spawn()'s `cwdRoot` option takes it. Only a
 * way out by its very letters (`..`, another absolute path) is refused here, before any
 * lookup. The rest is resolved by the child itself, beneath the root (openat2
 * RESOLVE_BENEATH, then fchdir): a check here followed by a chdir there could be beaten by a
 * rename in between (a directory swapped for a symlink to /). Every way out found there is
 * the same EPERM, whether what lies outside exists or not; a directory missing inside the
 * root is ENOENT.
 */
export async function resolveCwd(policy: Policy, cwd: string | undefined): Promise<string> {
	if (cwd === undefined) return '.';
	const lexical = resolve(policy.cwdRoot, cwd);
	if (!isWithin(policy.cwdRoot, lexical)) throw new PolicyError(`cwd ${cwd} is outside the allowed root`);
	return relative(policy.cwdRoot, lexical) || '.';
}

/**
 * The child's refusal of a cwd (openat2 beneath the root), said as the policy says its own:
 * EPERM for any way out, ENOENT for a directory missing inside the root.
 */
export function cwdRefusal(error: unknown, cwd: string | undefined): unknown {
	if (!(error instanceof PidfdError) || error.syscall !== 'openat2') return error;
	if (error.code === 'EPERM') return new PolicyError(`cwd ${cwd ?? '.'} is outside the allowed root`);
	if (error.code === 'ENOENT') return new PolicyError(`cwd ${cwd ?? '.'} does not exist`, 'ENOENT');
	return error;
}

/** The child's environment: the policy's fixed variables plus the allowed ones asked for. */
export function resolveEnv(policy: Policy, env: Readonly<Record<string, string>> | undefined): Record<string, string> {
	const result: Record<string, string> = { ...policy.env };
	for (const [name, value] of Object.entries(env ?? {})) {
		if (!envAllowed(name, policy.envAllow)) throw new PolicyError(`env ${name} is not allowed`);
		result[name] = value;
	}
	return result;
}

/**
 * Checks a spawn request against the policy and turns it into spawn() arguments. Throws
 * PolicyError on a refusal. The process counts are the caller's: they depend on the session.
 */
export async function checkSpawn(policy: Policy, request: SpawnRequest): Promise<CheckedSpawn> {
	if (request.detached && !policy.allowDetach) throw new PolicyError('detached children are not allowed');
	if (request.terminal && !policy.allowTerminal) throw new PolicyError('terminals are not allowed (the policy has no allowTerminal)');
	const env = resolveEnv(policy, request.env);
	const executable = await resolveExecutable(policy, request.file);
	const cwd = await resolveCwd(policy, request.cwd);
	const timeout = policy.maxRuntimeMs === undefined ? request.timeout : Math.min(request.timeout ?? Infinity, policy.maxRuntimeMs);
	const options: CheckedSpawn['options'] = {
		cwd,
		cwdRoot: policy.cwdRoot,
		env,
		stdio: request.stdio ?? ['pipe', 'pipe', 'pipe'],
		// The exec'd file is the one resolved at load and argv[0] is the configured path, so a
		// multi-call binary (busybox) runs the applet that was allowed, not one the client names.
		argv0: executable.path,
		detached: request.detached ?? false,
	};
	if (timeout !== undefined) options.timeout = timeout;
	if (request.killSignal !== undefined) options.killSignal = request.killSignal;
	if (request.processGroup !== undefined) options.processGroup = request.processGroup;
	if (request.setsid !== undefined) options.setsid = request.setsid;
	// A terminal child leads a session of its own on the pty: its fds 0–2 are the pty's slave.
	if (request.terminal) options.terminal = request.terminal;
	if (policy.isolation === 'namespaces') Object.assign(options, isolationOptions());
	return { file: executable.real, args: request.args ?? [], options, detached: request.detached ?? false, display: executable.path };
}
