import * as z from 'zod';
import { signalNumber } from './signals.js';
import { Contain, Limits } from './cgroup.js';

/** Strings that reach the kernel as C strings: a NUL byte would silently cut them short. */
const cString = z.string().refine((s) => !s.includes('\0'), { message: 'must not contain NUL bytes' });

/** A signal by name ('SIGTERM', 'TERM') or number (1..64). */
export const Signal = z.union([z.string(), z.number()]).refine((s) => signalNumber(s) !== undefined, { message: 'is not a signal name or number in 1..64' });
export type Signal = z.infer<typeof Signal>;

/** A path, as a string or a file: URL. */
const PathLike = z.union([cString, z.instanceof(URL)]);

/**
 * A process handle of this library (Child or PidFd), recognised by a Symbol.for brand so
 * that this schema needs no import of the host (the browser client imports schemas too).
 */
export interface ProcessRef {
	readonly pid: number;
}
const ProcessRef = z.custom<ProcessRef>(
	(v) => typeof v === 'object' && v !== null && typeof (v as Record<symbol, unknown>)[Symbol.for('pidfd.sidecarHandle')] === 'function',
	{ message: 'must be a Child or PidFd' },
);

/**
 * A pipe stream of a child of this library (`child.stdout`, `child.stdin`, `child.stdio[n]`),
 * handed to another child: the kernel pipe itself changes hands (a pipeline joined in the
 * kernel). Recognised by a Symbol.for brand, like ProcessRef.
 */
export interface PipeStream {
	destroy(error?: Error): unknown;
}
const PipeStream = z.custom<PipeStream>(
	(v) => typeof v === 'object' && v !== null && typeof (v as Record<symbol, unknown>)[Symbol.for('pidfd.pipeHandover')] === 'object',
	{ message: 'must be a pipe stream of a pidfd child (child.stdout, child.stdin, …)' },
);

/**
 * Where one of the child's fds comes from.
 * - `'inherit'`: the host's own fd of that number (0, 1, 2);
 * - `'ignore'`: /dev/null;
 * - `'pipe'`: a pipe to the host (stdin writable, others readable);
 * - a number: an open fd of the host, duplicated into the child;
 * - `{ file, flags }`: a file opened for the child ('r' read, 'w' truncate, 'a' append);
 * - `{ process, fd }`: fd `fd` of another process (a Child or PidFd), taken with pidfd_getfd,
 *   e.g. an old server's listening socket;
 * - another child's pipe stream (`producer.stdout`): the pipe itself, no byte through the host;
 * - `null` / `undefined`: the default for that position ('inherit' for 0–2, closed beyond).
 */
export const StdioEntry = z.union([
	z.enum(['inherit', 'ignore', 'pipe']),
	z.number().int().min(0).max(0x7fffffff),
	z.strictObject({ file: PathLike, flags: z.enum(['r', 'w', 'a']).optional() }),
	z.strictObject({ process: ProcessRef, fd: z.number().int().min(0).max(0x7fffffff) }),
	PipeStream,
	z.null(),
	z.undefined(),
]);
export type StdioEntry = z.infer<typeof StdioEntry>;

export const Stdio = z.union([z.enum(['inherit', 'ignore', 'pipe']), z.array(StdioEntry).max(256)]);
export type Stdio = z.infer<typeof Stdio>;

const Id = z.number().int().min(0).max(0xfffffffe);

/** A time limit in ms; 0 and Infinity mean "no limit", as in Node, execa and Bun. */
const TimeLimit = z.union([
	z
		.number()
		.int()
		.min(0)
		.max(2 ** 31 - 1),
	z.literal(Number.POSITIVE_INFINITY),
]);

/** The options run() adds to spawn()'s, checked before anything starts. */
export const RunOnlyOptions = z.object({
	input: z.union([z.string(), z.instanceof(Uint8Array)]).optional(),
	stdin: StdioEntry.optional(),
	encoding: z.enum(['buffer', 'utf8']),
	/** A positive integer, or Infinity for no limit. */
	maxBuffer: z.union([z.number().int().positive(), z.literal(Number.POSITIVE_INFINITY)]),
	stderr: z.enum(['pipe', 'inherit', 'ignore']),
	reject: z.boolean(),
});

/** A terminal size: 1..65535 columns or rows. */
const TerminalSize = z.number().int().min(1).max(65535);

/** `spawn(…, { terminal })`: run the child on a new pseudo-terminal (Bun's option shape). */
export const TerminalOptions = z.strictObject({
	/** Columns. Default 80. */
	cols: TerminalSize.optional(),
	/** Rows. Default 24. */
	rows: TerminalSize.optional(),
	/** TERM of the child, unless its `env` sets one. Default 'xterm-256color'. */
	name: cString.min(1).optional(),
});
export type TerminalOptions = z.infer<typeof TerminalOptions>;

/** A namespace `spawn(…, { namespaces })` can give the child a new one of. */
export const NamespaceName = z.enum(['user', 'pid', 'mount', 'ipc', 'net']);
export type NamespaceName = z.infer<typeof NamespaceName>;

/** One id mapped into a new user namespace: `inside` as the child sees it, `outside` on the host. */
export const IdMap = z.strictObject({
	/** The id inside the namespace. Default 65534 (nobody). */
	inside: Id.optional(),
	/** The id outside it. Default: the sidecar's own (an unprivileged sidecar may map no other). */
	outside: Id.optional(),
});
export type IdMap = z.infer<typeof IdMap>;

/** Options of `spawn()` and `Command`: names follow Node's child_process and execa. */
export const SpawnOptions = z.strictObject({
	/** Working directory of the child. Default: the host's current directory (with `cwdRoot`: the root). */
	cwd: PathLike.optional(),
	/**
	 * Resolve `cwd` beneath this directory, in the child, with openat2(RESOLVE_BENEATH):
	 * a relative `cwd` is taken from the root, and no symlink, `..` or rename can lead out of
	 * it. Every way out fails with EPERM, whether what lies outside exists or not.
	 */
	cwdRoot: PathLike.optional(),
	/**
	 * New namespaces for the child, made by clone3. 'user' maps the sidecar's uid and gid to
	 * `uidMap`/`gidMap` (default 65534) inside; 'pid' gives it a pid namespace whose init is a
	 * small process of the sidecar's (signals forwarded, orphans reaped, everything left killed
	 * when the program ends); 'pid' with 'mount' mounts a private /proc.
	 */
	namespaces: z.array(NamespaceName).min(1).max(5).optional(),
	/** With namespaces 'user': the uid inside (default 65534) and outside (default the sidecar's). */
	uidMap: IdMap.optional(),
	/** With namespaces 'user': the gid inside (default 65534) and outside (default the sidecar's). */
	gidMap: IdMap.optional(),
	/** The child's whole environment. Default: the host's `process.env`. Undefined values are left out. */
	env: z.record(z.string(), z.union([cString, z.undefined()])).optional(),
	/** Where the child's fds come from. Default: `'inherit'` for 0–2. */
	stdio: Stdio.optional(),
	/**
	 * How `'pipe'` entries reach the host: `'direct'` (the host opens the kernel pipe itself)
	 * or `'relay'` (the sidecar carries the bytes over its connection). Default: PIDFD_STDIO,
	 * else 'relay' on Deno and where /proc may not be read, 'direct' elsewhere.
	 */
	stdioTransport: z.enum(['direct', 'relay']).optional(),
	/**
	 * Run the child on a new pseudo-terminal: fds 0–2 are its slave, the child leads a new
	 * session with it as controlling terminal, and `child.terminal` is the master.
	 */
	terminal: z.union([z.literal(true), TerminalOptions]).optional(),
	/** argv[0] as the child sees it. Default: the file as given. */
	argv0: cString.optional(),
	/** Not killed when the host goes away, and no death signal. Default: false. */
	detached: z.boolean().optional(),
	/** Start a new session (setsid). */
	setsid: z.boolean().optional(),
	/** Put the child in a process group of its own, so `kill(sig, { group: true })` reaches its descendants. */
	processGroup: z.boolean().optional(),
	/** Signal the child gets if the sidecar dies (PR_SET_PDEATHSIG). Default: 'SIGKILL'; false for none. */
	pdeathsig: z.union([Signal, z.literal(false)]).optional(),
	uid: Id.optional(),
	gid: Id.optional(),
	groups: z.array(Id).max(65536).optional(),
	umask: z.number().int().min(0).max(0o777).optional(),
	/** Kill the child after this many milliseconds; 0 or Infinity: never. */
	timeout: TimeLimit.optional(),
	/** Kill the child when this signal aborts. */
	signal: z.instanceof(AbortSignal).optional(),
	/** Signal for `timeout` and `signal`. Default: 'SIGTERM'. */
	killSignal: Signal.optional(),
	/** After `killSignal`, SIGKILL if the child is still there after this many ms. Default: 5000; false: never. */
	forceKillAfter: z
		.union([
			z
				.number()
				.int()
				.positive()
				.max(2 ** 31 - 1),
			z.literal(false),
		])
		.optional(),
	/**
	 * A cgroup v2 directory to start the child in: created straight into it (clone3
	 * CLONE_INTO_CGROUP, Linux 5.7), so it never runs anywhere else. A directory on the
	 * cgroup2 mount (found in /proc/self/mountinfo); relative paths follow the host's cwd.
	 */
	cgroup: PathLike.optional(),
	/**
	 * Start the child in a fresh cgroup of its own (a scope), so `child.killTree()` ends its
	 * whole tree and its usage can be read: true, or the scope's options (`root`, `name`, `limits`).
	 */
	contain: Contain.optional(),
	/** Budgets of the child's tree (memoryMax, pidsMax, cpuMax); implies `contain`. */
	limits: Limits.optional(),
});
export type SpawnOptions = z.input<typeof SpawnOptions>;

export const SpawnArgs = z.tuple([cString.min(1, { message: 'must be a non-empty string' }), z.array(cString).max(1_000_000)]);
