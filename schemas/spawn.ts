import { z } from 'zod';
import { signalNumber } from '../host/signals.js';

/** Strings that reach the kernel as C strings: a NUL byte would silently cut them short. */
const cString = z.string().refine((s) => !s.includes('\0'), { message: 'must not contain NUL bytes' });

/** A signal by name ('SIGTERM', 'TERM') or number (1..64). */
export const Signal = z
	.union([z.string(), z.number()])
	.refine((s) => signalNumber(s) !== undefined, { message: 'is not a signal name or number in 1..64' });
export type Signal = z.infer<typeof Signal>;

/** A path, as a string or a file: URL. */
const PathLike = z.union([cString, z.instanceof(URL)]);

/**
 * Where one of the child's fds comes from.
 * - `'inherit'`: the host's own fd of that number (0, 1, 2);
 * - `'ignore'`: /dev/null;
 * - `'pipe'`: a pipe to the host (stdin writable, others readable);
 * - a number: an open fd of the host, duplicated into the child;
 * - `{ file, flags }`: a file opened for the child ('r' read, 'w' truncate, 'a' append);
 * - `null` / `undefined`: the default for that position ('inherit' for 0–2, closed beyond).
 */
export const StdioEntry = z.union([
	z.enum(['inherit', 'ignore', 'pipe']),
	z.number().int().min(0).max(0x7fffffff),
	z.strictObject({ file: PathLike, flags: z.enum(['r', 'w', 'a']).optional() }),
	z.null(),
	z.undefined(),
]);
export type StdioEntry = z.infer<typeof StdioEntry>;

export const Stdio = z.union([z.enum(['inherit', 'ignore', 'pipe']), z.array(StdioEntry).max(256)]);
export type Stdio = z.infer<typeof Stdio>;

const Id = z.number().int().min(0).max(0xfffffffe);

/** Options of `spawn()` and `Command`: names follow Node's child_process and execa. */
export const SpawnOptions = z.strictObject({
	/** Working directory of the child. Default: the host's current directory. */
	cwd: PathLike.optional(),
	/** The child's whole environment. Default: the host's `process.env`. Undefined values are left out. */
	env: z.record(z.string(), z.union([cString, z.undefined()])).optional(),
	/** Where the child's fds come from. Default: `'inherit'` for 0–2. */
	stdio: Stdio.optional(),
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
	/** Kill the child after this many milliseconds. */
	timeout: z.number().int().positive().max(2 ** 31 - 1).optional(),
	/** Kill the child when this signal aborts. */
	signal: z.instanceof(AbortSignal).optional(),
	/** Signal for `timeout` and `signal`. Default: 'SIGTERM'. */
	killSignal: Signal.optional(),
	/** After `killSignal`, SIGKILL if the child is still there after this many ms. Default: 5000; false: never. */
	forceKillAfter: z.union([z.number().int().positive().max(2 ** 31 - 1), z.literal(false)]).optional(),
});
export type SpawnOptions = z.input<typeof SpawnOptions>;

export const SpawnArgs = z.tuple([cString.min(1, { message: 'must be a non-empty string' }), z.array(cString).max(1_000_000)]);
