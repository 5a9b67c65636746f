import { constants } from 'node:os';

/**
 * Syscall names by the ids the sidecar puts in ERROR replies (sidecar/PROTOCOL.md).
 * Index = id. Append only: ids never change meaning once published.
 */
export const SYSCALLS = [
	'', 'clone3', 'execve', 'chdir', 'pidfd_open', 'pidfd_send_signal', 'waitid', 'ioctl',
	'pidfd_getfd', 'open', 'pipe2', 'dup2', 'setsid', 'setpgid', 'setuid', 'setgid',
	'setgroups', 'prctl', 'fork', 'epoll_ctl', 'umask', 'fcntl', 'write',
] as const;

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
	if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** 'ENOENT' for 2, 'E<n>' for a number this runtime doesn't name. */
export function errnoName(errno: number): string {
	return errnoNames.get(errno) ?? `E${errno}`;
}

/** The errno number for a code such as 'ESRCH', for errors raised on the host side. */
export function errnoOf(code: string): number {
	return (constants.errno as Record<string, number>)[code] ?? 0;
}

const kPidfdError = Symbol.for('pidfd.PidfdError');

export interface PidfdErrorDetails {
	/** What the call was about: a program path, a cwd, a file. */
	path?: string | undefined;
	/** The pid of the process the call was about, where known. */
	pid?: number | undefined;
	cause?: unknown;
}

/**
 * A failed system call, shaped like Node's own system errors (`err.code === 'ENOENT'`,
 * `err.errno`, `err.syscall`), so code written for `child_process` handles it unchanged.
 * `errno` is positive, as the kernel numbers it. Codes that are not errnos:
 * `ESIDECAR` (the sidecar died or could not start) and `EPROTO` (it sent something we
 * cannot read).
 */
export class PidfdError extends Error {
	readonly code: string;
	readonly errno: number;
	readonly syscall: string;
	readonly path?: string;
	readonly pid?: number;

	constructor(code: string, errno: number, syscall: string, message?: string, details: PidfdErrorDetails = {}) {
		const where = details.path === undefined ? '' : ` ${details.path}`;
		super(message ?? `${syscall} ${code}${where}`, details.cause === undefined ? undefined : { cause: details.cause });
		this.name = 'PidfdError';
		this.code = code;
		this.errno = errno;
		this.syscall = syscall;
		if (details.path !== undefined) this.path = details.path;
		if (details.pid !== undefined) this.pid = details.pid;
	}

	/** An error from an errno the kernel returned. */
	static fromErrno(errno: number, syscall: string, details: PidfdErrorDetails = {}): PidfdError {
		return new PidfdError(errnoName(errno), errno, syscall, undefined, details);
	}

	/** True for any PidfdError, also one made by another copy of this library (another bundle). */
	static override [Symbol.hasInstance](value: unknown): boolean {
		return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kPidfdError] === true;
	}

	get [kPidfdError](): true {
		return true;
	}
}

/** Invalid options or arguments, caught before anything reaches the sidecar. */
export class InvalidArgumentError extends TypeError {
	readonly code = 'ERR_INVALID_ARG_VALUE' as const;

	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'InvalidArgumentError';
	}
}
