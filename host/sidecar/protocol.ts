/**
 * Numbers of the sidecar protocol. sidecar/wire.h is the source; test/protocol.ts parses it
 * and fails on any drift from these tables. Frozen once published: add, never renumber.
 */

export const PROTOCOL_VERSION = 1;

export const MessageType = {
	HELLO: 1,
	VERSION_MISMATCH: 2,
	SPAWN: 100,
	KILL: 101,
	OPEN: 102,
	CLOSE: 103,
	INFO: 104,
	RELEASE: 105,
	ALIVE: 106,
	WRITE: 107,
	SHUT: 108,
	CREDIT: 109,
	RESIZE: 110,
	RAW: 111,
	LISTEN: 112,
	OK: 200,
	ERROR: 201,
	SPAWNED: 202,
	OPENED: 203,
	INFO_REPLY: 204,
	UNIMPLEMENTED: 205,
	WRITTEN: 206,
	LISTENING: 207,
	EXIT: 300,
	EXITED: 301,
	FATAL: 302,
	DATA: 303,
	EOF: 304,
	WRITABLE: 305,
	TRACE: 306,
	MOVED: 307,
} as const;

/** Feature bits in HELLO, probed by the sidecar on this kernel. */
export const Feature = {
	clone3: 1,
	waitidPidfd: 2,
	pidfdGetInfo: 4,
	pidfdInfoExit: 8,
	pidfdGetfd: 16,
	cloneIntoCgroup: 32,
	pidfdThread: 64,
	signalProcessGroup: 128,
	/** Not a kernel probe: the sidecar runs with PIDFD_TRACE=1 and sends TRACE events. */
	trace: 256,
} as const;

export type FeatureName = keyof typeof Feature;

export const SpawnFlag = {
	DETACHED: 1,
	SETSID: 2,
	SETPGID: 4,
	SETGROUPS: 8,
	CGROUP: 16,
	/** New namespaces for the child: the body carries the namespaces block after the cgroup. */
	NAMESPACES: 32,
	/** The cwd is resolved beneath a root: the body ends with str root. */
	CWD_BENEATH: 64,
} as const;

/** Namespace bits of the SPAWN namespaces block (`NS_*` in wire.h). */
export const Namespace = {
	USER: 1,
	PID: 2,
	MOUNT: 4,
	IPC: 8,
	NET: 16,
} as const;

export const StdioKind = {
	INHERIT: 0,
	NULL: 1,
	PIPE_TO_CHILD: 2,
	PIPE_FROM_CHILD: 3,
	FILE: 4,
	HOST_FD: 5,
	CLOSED: 6,
	FROM_PIDFD: 7,
	/** A pipe whose write end the sidecar keeps and writes WRITE requests into. */
	RELAY_TO_CHILD: 8,
	/** A pipe whose read end the sidecar reads, sending DATA events under a credit window. */
	RELAY_FROM_CHILD: 9,
	/** The slave of a new pty (entries 0, 1 and maybe 2); entry 0's arg packs rows << 16 | cols. */
	TERMINAL: 10,
	/** The host's end of another child's pipe (its fd `arg`), handed over: a pipeline joined in the kernel. */
	HOST_PIPE: 11,
	/** The sidecar's end of the relayed stream (`handle`, fd `arg`), handed over to this child. */
	RELAYED: 12,
	/** Entry 0 of a terminal whose master the host opened (`masterFd`); entries 1–2 stay TERMINAL. */
	HOST_TERMINAL: 13,
} as const;

/** RELAY_FROM_CHILD `arg` bit: the stream waits for the host's first CREDIT before it is read. */
export const RELAY_LAZY = 0x80000000;

export const KillFlag = { GROUP: 1 } as const;

export const OpenFlag = { THREAD: 1 } as const;

/**
 * Syscall names by the ids the sidecar puts in ERROR replies (`SC_*` in wire.h).
 * Index = id. Append only: ids never change meaning once published.
 */
export const SYSCALLS = [
	'',
	'clone3',
	'execve',
	'chdir',
	'pidfd_open',
	'pidfd_send_signal',
	'waitid',
	'ioctl',
	'pidfd_getfd',
	'open',
	'pipe2',
	'dup2',
	'setsid',
	'setpgid',
	'setuid',
	'setgid',
	'setgroups',
	'prctl',
	'fork',
	'epoll_ctl',
	'umask',
	'fcntl',
	'write',
	'mount',
	'openat2',
	'bind',
] as const;

export interface Hello {
	version: number;
	features: number;
	maxFrame: number;
	pid: number;
	maxHandles: number;
	kernel: string;
}

/** One stdio entry as the sidecar takes it: entry i becomes the child's fd i. */
export interface WireStdio {
	kind: number;
	arg: number;
	path: string;
	/** FROM_PIDFD, RELAYED: the sidecar handle whose process gives the fd (or names the stream). */
	handle?: number;
	/** HOST_TERMINAL: the host's fd of the pty master, which the sidecar takes with pidfd_getfd. */
	masterFd?: number;
}

/** A SPAWN request after validation, in wire terms. */
export interface WireSpawn {
	flags: number;
	pdeathsig: number;
	uid: number;
	gid: number;
	umask: number;
	groups: readonly number[];
	file: string;
	argv: readonly string[];
	env: readonly string[];
	cwd: string;
	stdio: readonly WireStdio[];
	/** Absolute cgroup v2 directory, with flag CGROUP. */
	cgroup?: string;
	/** With flag NAMESPACES: `Namespace` bits and the ids mapped (outside -1: the sidecar's). */
	namespaces?: { ns: number; uid: number; gid: number; uidOutside: number; gidOutside: number };
	/** With flag CWD_BENEATH: the absolute root `cwd` (then relative) is resolved beneath. */
	root?: string;
}
