import * as z from 'zod';
import { ExitInfo } from './exit.js';

// Messages of the WebSocket bridge (host/bridge/PROTOCOL.md). This file imports zod and
// other schemas only, never a Node built-in: the browser client imports its types from here
// (types only, so its bundle carries no zod). The constants live in schemas/bridge-wire.ts.

export { BRIDGE_PROTOCOL, FRAME_EOF, FRAME_HEADER_SIZE, TOKEN_PROTOCOL_PREFIX } from './bridge-wire.js';

/** Strings that reach the kernel as C strings: a NUL byte would silently cut them short. */
const cString = z.string().refine((s) => !s.includes('\0'), { message: 'must not contain NUL bytes' });

/** Chosen by the client, echoed in the reply. */
const RequestId = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** Assigned by the server per connection; never a pid. */
const ChildId = z.number().int().min(1).max(0xffff_ffff);
const Bytes = z
	.number()
	.int()
	.min(1)
	.max(2 ** 30);

/** A signal by name ('SIGTERM', 'TERM') or number (1..64); the server checks the name. */
export const BridgeSignal = z.union([z.string().regex(/^[A-Za-z0-9+-]{1,16}$/, { message: 'is not a signal name' }), z.number().int().min(1).max(64)]);

const EnvName = z
	.string()
	.min(1)
	.max(256)
	.regex(/^[^=\0]+$/, { message: 'is not a valid variable name' });
const StdioMode = z.enum(['pipe', 'ignore']);
/** A terminal size: 1..65535 columns or rows. */
const TerminalSize = z.number().int().min(1).max(65535);

/** The terminal a spawn asks for: `true` for the defaults (80 × 24, TERM=xterm-256color). */
export const BridgeTerminal = z.union([
	z.literal(true),
	z.strictObject({
		cols: TerminalSize.optional(),
		rows: TerminalSize.optional(),
		/** TERM of the child, unless its `env` sets one. */
		name: cString
			.min(1)
			.max(256)
			.regex(/^[^=]+$/, { message: 'is not a valid TERM value' })
			.optional(),
	}),
]);
export type BridgeTerminal = z.infer<typeof BridgeTerminal>;

// --- client → server

/**
 * Start a program. Everything here is a request the policy may refuse (EPERM): the file must
 * be an allowed executable, the cwd under the root, each env name allowed.
 */
export const SpawnRequest = z.strictObject({
	type: z.literal('spawn'),
	id: RequestId,
	/** An allowed executable: its absolute path or its bare name. */
	file: cString.min(1).max(4096),
	args: z
		.array(cString.max(128 * 1024))
		.max(4096)
		.optional(),
	/** Absolute, or relative to the policy's cwd root. Default: the root. */
	cwd: cString.min(1).max(4096).optional(),
	/** Added to the policy's fixed environment; each name must be allowed. */
	env: z.record(EnvName, cString.max(128 * 1024)).optional(),
	/** stdin, stdout, stderr. Default: all 'pipe'. The host's own stdio is never given out. */
	stdio: z.tuple([StdioMode, StdioMode, StdioMode]).optional(),
	/** Kill the child after this many ms; never later than the policy's maxRuntime. */
	timeout: z
		.number()
		.int()
		.positive()
		.max(2 ** 31 - 1)
		.optional(),
	killSignal: BridgeSignal.optional(),
	processGroup: z.boolean().optional(),
	setsid: z.boolean().optional(),
	/** Survive the connection's end: only if the policy allows detaching. */
	detached: z.boolean().optional(),
	/** Initial credit, in bytes, for each of stdout and stderr (flow control). */
	window: Bytes.optional(),
	/**
	 * Run the child on a pseudo-terminal (only if the policy allows terminals): its output
	 * comes as frames on fd 1, keystrokes go as frames on fd 0; `stdio` is then ignored.
	 */
	terminal: BridgeTerminal.optional(),
});
export type SpawnRequest = z.infer<typeof SpawnRequest>;

export const KillRequest = z.strictObject({
	type: z.literal('kill'),
	id: RequestId,
	child: ChildId,
	signal: BridgeSignal.optional(),
	/** Signal the child's process group (only for children spawned with processGroup or setsid). */
	group: z.boolean().optional(),
});
export type KillRequest = z.infer<typeof KillRequest>;

/** Replies once the child has ended. The `exit` event comes anyway: this is for simple clients. */
export const WaitRequest = z.strictObject({ type: z.literal('wait'), id: RequestId, child: ChildId });
export type WaitRequest = z.infer<typeof WaitRequest>;

/** This connection's processes, running and recently ended. */
export const ListRequest = z.strictObject({ type: z.literal('list'), id: RequestId });
export type ListRequest = z.infer<typeof ListRequest>;

/** The client has consumed `bytes` more of a child's stdout (1) or stderr (2): send that much more. */
export const CreditMessage = z.strictObject({ type: z.literal('credit'), child: ChildId, fd: z.union([z.literal(1), z.literal(2)]), bytes: Bytes });
export type CreditMessage = z.infer<typeof CreditMessage>;

/** The client will not read this stream any more: the server closes its end of the pipe. */
export const CloseMessage = z.strictObject({ type: z.literal('close'), child: ChildId, fd: z.union([z.literal(1), z.literal(2)]) });
export type CloseMessage = z.infer<typeof CloseMessage>;

/** Set a terminal child's window size; its foreground job gets SIGWINCH. */
export const ResizeRequest = z.strictObject({ type: z.literal('resize'), id: RequestId, child: ChildId, cols: TerminalSize, rows: TerminalSize });
export type ResizeRequest = z.infer<typeof ResizeRequest>;

/** Every JSON message a client may send. Anything else gets an EINVAL error reply. */
export const ClientMessage = z.discriminatedUnion('type', [SpawnRequest, KillRequest, WaitRequest, ListRequest, CreditMessage, CloseMessage, ResizeRequest]);
export type ClientMessage = z.infer<typeof ClientMessage>;

// --- server → client (validated by the tests; the client trusts its server)

/** First message on every connection: what this server allows. */
export const HelloMessage = z.strictObject({
	type: z.literal('hello'),
	protocol: z.literal(1),
	limits: z.strictObject({
		/** Largest message the server accepts, header included. */
		maxPayload: z.number().int(),
		maxProcsPerConnection: z.number().int(),
		/** Largest `window` the server honours. */
		maxWindow: z.number().int(),
		maxRuntimeMs: z.number().int().nullable(),
	}),
	/** The executables a spawn may name (by this path or its basename), as the policy lists them. */
	allow: z.array(z.string()),
	/** Whether a spawn may ask for a terminal (the policy's allowTerminal); absent from servers without terminals. */
	allowTerminal: z.boolean().optional(),
});
export type HelloMessage = z.infer<typeof HelloMessage>;

export const SpawnedReply = z.strictObject({
	type: z.literal('spawned'),
	id: RequestId,
	child: ChildId,
	pid: z.number().int(),
	/** Bytes of stdin the client may send before the server grants more; 0 without a stdin pipe. */
	stdinWindow: z.number().int().min(0),
});
export type SpawnedReply = z.infer<typeof SpawnedReply>;

export const OkReply = z.strictObject({
	type: z.literal('ok'),
	id: RequestId,
	/** kill: false when the child had already ended (nothing was delivered). */
	delivered: z.boolean().optional(),
});
export type OkReply = z.infer<typeof OkReply>;

const TerminatedBy = z.enum(['timeout', 'abort']).nullable();

/** Event (no id): a child ended. Sent once per child, before any `waited` reply for it. */
export const ExitEvent = z.strictObject({ type: z.literal('exit'), child: ChildId, exit: ExitInfo, terminatedBy: TerminatedBy });
export type ExitEvent = z.infer<typeof ExitEvent>;

export const WaitedReply = z.strictObject({ type: z.literal('waited'), id: RequestId, child: ChildId, exit: ExitInfo, terminatedBy: TerminatedBy });
export type WaitedReply = z.infer<typeof WaitedReply>;

/** One process as `list` reports it. CPU and RSS come from /proc while it runs, rusage after. */
export const ProcessSummary = z.strictObject({
	child: ChildId,
	pid: z.number().int(),
	file: z.string(),
	args: z.array(z.string()),
	state: z.enum(['running', 'exited']),
	startedAt: z.number(),
	cpuMs: z.number().nullable(),
	maxRssKiB: z.number().nullable(),
	exit: ExitInfo.nullable(),
});
export type ProcessSummary = z.infer<typeof ProcessSummary>;

export const ProcessesReply = z.strictObject({ type: z.literal('processes'), id: RequestId, processes: z.array(ProcessSummary) });
export type ProcessesReply = z.infer<typeof ProcessesReply>;

/** The server consumed `bytes` of a child's stdin: the client may send that much more. */
export const StdinCreditMessage = z.strictObject({ type: z.literal('credit'), child: ChildId, fd: z.literal(0), bytes: Bytes });
export type StdinCreditMessage = z.infer<typeof StdinCreditMessage>;

/**
 * A refused or failed request (`id` set; null when the message was too broken to carry one),
 * or a failure on a child's stream (`child` and `fd` set). `code` is an errno name: EPERM for
 * policy refusals, EINVAL for malformed messages, else what the kernel said (ENOENT, ESRCH...).
 */
export const ErrorReply = z.strictObject({
	type: z.literal('error'),
	id: RequestId.nullable(),
	code: z.string(),
	message: z.string(),
	errno: z.number().int().optional(),
	syscall: z.string().optional(),
	child: ChildId.optional(),
	fd: z.number().int().optional(),
});
export type ErrorReply = z.infer<typeof ErrorReply>;

export const ServerMessage = z.union([HelloMessage, SpawnedReply, OkReply, ExitEvent, WaitedReply, ProcessesReply, StdinCreditMessage, ErrorReply]);
export type ServerMessage = z.infer<typeof ServerMessage>;

// --- policy file (`pidfd serve --policy FILE`)

const PositiveInt = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/**
 * What clients of a bridge may do. JSON; command-line flags add to the lists and override
 * the numbers. Every field is optional: the defaults allow nothing to run.
 */
export const PolicyFile = z.strictObject({
	/** Executables clients may start, by absolute path; symlinks are resolved once, at load. */
	allow: z.array(z.string().min(1)).optional(),
	/** Children run in this directory or below it (after resolving symlinks). Default: the server's cwd. */
	cwdRoot: z.string().min(1).optional(),
	/** The fixed environment of every child. Default: a PATH of /usr/local/bin:/usr/bin:/bin. */
	env: z.record(EnvName, z.string()).optional(),
	/**
	 * Names a client may set: exact, or a prefix ending in `*` (a bare `*` is refused). Names
	 * that run code (LD_*, BASH_FUNC_*, PATH, PYTHON*, …: policy.ts) pass only by exact name.
	 */
	envAllow: z.array(z.string().min(1)).optional(),
	/** Origins (as browsers send them) allowed to connect; clients that send no Origin are not browsers. */
	origins: z.array(z.string().min(1)).optional(),
	maxProcsPerConnection: PositiveInt.optional(),
	maxProcs: PositiveInt.optional(),
	/** Children are killed after this long (ms), whatever they ask for. */
	maxRuntimeMs: PositiveInt.optional(),
	/** Largest WebSocket message accepted, in bytes. */
	maxPayload: z
		.number()
		.int()
		.min(1024)
		.max(64 * 1024 * 1024)
		.optional(),
	/** Bytes of output queued to one client before its children's pipes are paused. */
	maxBuffered: z
		.number()
		.int()
		.min(16 * 1024)
		.max(1024 * 1024 * 1024)
		.optional(),
	/** Open connections at once, over all clients (default 64); more are refused with 503. */
	maxConnections: PositiveInt.optional(),
	/** Open connections at once from one remote address (default 16; TCP only). */
	maxConnectionsPerAddress: PositiveInt.optional(),
	/** Close a connection with no child running and no message for this long, in ms (default 10 min); 0: never. */
	idleTimeoutMs: z
		.number()
		.int()
		.min(0)
		.max(2 ** 31 - 1)
		.optional(),
	/** Let clients spawn `detached` children that outlive their connection. Default false. */
	allowDetach: z.boolean().optional(),
	/** Let clients spawn children on a pseudo-terminal (`terminal` in a spawn). Default false. */
	allowTerminal: z.boolean().optional(),
	/**
	 * 'namespaces': every child in new user, pid, mount and IPC namespaces of its own (it sees,
	 * opens, signals and ptraces nothing of the server's); 'none': children share the server's
	 * uid, pids and mounts. Default: 'none' for createBridge(), 'namespaces' for `pidfd serve`.
	 */
	isolation: z.enum(['namespaces', 'none']).optional(),
});
export type PolicyFile = z.infer<typeof PolicyFile>;
