// The error model, shared by the library, the bridge server and the browser client: no
// `node:` import here, so the browser bundle carries the same classes and the same brands.
import type { ExitInfo } from './exit.js';

/*
 * Linux errno names by number, the asm-generic numbering used by x86, Arm and RISC-V
 * (include/uapi/asm-generic/errno-base.h and errno.h). A static table rather than
 * `os.constants.errno`: the browser client has no `node:os`, and one table means the
 * library and the client can never disagree on a code. Index = errno.
 */
const ERRNO_NAMES = [
	'',
	'EPERM',
	'ENOENT',
	'ESRCH',
	'EINTR',
	'EIO',
	'ENXIO',
	'E2BIG',
	'ENOEXEC',
	'EBADF',
	'ECHILD',
	'EAGAIN',
	'ENOMEM',
	'EACCES',
	'EFAULT',
	'ENOTBLK',
	'EBUSY',
	'EEXIST',
	'EXDEV',
	'ENODEV',
	'ENOTDIR',
	'EISDIR',
	'EINVAL',
	'ENFILE',
	'EMFILE',
	'ENOTTY',
	'ETXTBSY',
	'EFBIG',
	'ENOSPC',
	'ESPIPE',
	'EROFS',
	'EMLINK',
	'EPIPE',
	'EDOM',
	'ERANGE',
	'EDEADLK',
	'ENAMETOOLONG',
	'ENOLCK',
	'ENOSYS',
	'ENOTEMPTY',
	'ELOOP',
	'',
	'ENOMSG',
	'EIDRM',
	'ECHRNG',
	'EL2NSYNC',
	'EL3HLT',
	'EL3RST',
	'ELNRNG',
	'EUNATCH',
	'ENOCSI',
	'EL2HLT',
	'EBADE',
	'EBADR',
	'EXFULL',
	'ENOANO',
	'EBADRQC',
	'EBADSLT',
	'',
	'EBFONT',
	'ENOSTR',
	'ENODATA',
	'ETIME',
	'ENOSR',
	'ENONET',
	'ENOPKG',
	'EREMOTE',
	'ENOLINK',
	'EADV',
	'ESRMNT',
	'ECOMM',
	'EPROTO',
	'EMULTIHOP',
	'EDOTDOT',
	'EBADMSG',
	'EOVERFLOW',
	'ENOTUNIQ',
	'EBADFD',
	'EREMCHG',
	'ELIBACC',
	'ELIBBAD',
	'ELIBSCN',
	'ELIBMAX',
	'ELIBEXEC',
	'EILSEQ',
	'ERESTART',
	'ESTRPIPE',
	'EUSERS',
	'ENOTSOCK',
	'EDESTADDRREQ',
	'EMSGSIZE',
	'EPROTOTYPE',
	'ENOPROTOOPT',
	'EPROTONOSUPPORT',
	'ESOCKTNOSUPPORT',
	'ENOTSUP',
	'EPFNOSUPPORT',
	'EAFNOSUPPORT',
	'EADDRINUSE',
	'EADDRNOTAVAIL',
	'ENETDOWN',
	'ENETUNREACH',
	'ENETRESET',
	'ECONNABORTED',
	'ECONNRESET',
	'ENOBUFS',
	'EISCONN',
	'ENOTCONN',
	'ESHUTDOWN',
	'ETOOMANYREFS',
	'ETIMEDOUT',
	'ECONNREFUSED',
	'EHOSTDOWN',
	'EHOSTUNREACH',
	'EALREADY',
	'EINPROGRESS',
	'ESTALE',
	'EUCLEAN',
	'ENOTNAM',
	'ENAVAIL',
	'EISNAM',
	'EREMOTEIO',
	'EDQUOT',
	'ENOMEDIUM',
	'EMEDIUMTYPE',
	'ECANCELED',
	'ENOKEY',
	'EKEYEXPIRED',
	'EKEYREVOKED',
	'EKEYREJECTED',
	'EOWNERDEAD',
	'ENOTRECOVERABLE',
	'ERFKILL',
	'EHWPOISON',
] as const;

const ERRNO_NUMBERS = new Map<string, number>();
ERRNO_NAMES.forEach((name, errno) => {
	if (name) ERRNO_NUMBERS.set(name, errno);
});
// Aliases the kernel defines on the same numbers.
ERRNO_NUMBERS.set('EWOULDBLOCK', 11);
ERRNO_NUMBERS.set('EOPNOTSUPP', 95);
ERRNO_NUMBERS.set('EDEADLOCK', 35);

/** 'ENOENT' for 2, 'E<n>' for a number Linux does not name. */
export function errnoName(errno: number): string {
	return ERRNO_NAMES[errno] || `E${errno}`;
}

/** The errno for a code such as 'ESRCH'; 0 for codes that are not errnos ('ERR_PIDFD_…'). */
export function errnoOf(code: string): number {
	return ERRNO_NUMBERS.get(code) ?? 0;
}

/**
 * Codes for conditions that are no errno, named as Node names its own (`ERR_*`). Published:
 * a code never changes meaning.
 */
export const ErrorCode = {
	/** The sidecar could not start, died, or was stopped by `shutdown()` with the call pending. */
	SIDECAR_DIED: 'ERR_PIDFD_SIDECAR_DIED',
	/** The sidecar and the host speak different protocol versions (rebuild the sidecar). */
	PROTOCOL_MISMATCH: 'ERR_PIDFD_PROTOCOL_MISMATCH',
	/** Bytes from the sidecar that break the protocol. */
	PROTOCOL: 'ERR_PIDFD_PROTOCOL',
	/** A runtime's permission model refused something pidfd needs (Node's own code). */
	ACCESS_DENIED: 'ERR_ACCESS_DENIED',
	/** Options or arguments that are not valid (Node's own code). */
	INVALID_ARG: 'ERR_INVALID_ARG_VALUE',
} as const;

const kPidfdError = Symbol.for('pidfd.PidfdError');
const kRunError = Symbol.for('pidfd.RunError');

export interface PidfdErrorDetails {
	/** The failing system call; 'pidfd' for conditions of the library's own. */
	syscall?: string | undefined;
	/** The errno, when it is not the one the code names (it always is for kernel errors). */
	errno?: number | undefined;
	/** What the call was about: a program path, a cwd, a file. */
	path?: string | undefined;
	/** The pid of the process the call was about, where known. */
	pid?: number | undefined;
	cause?: unknown;
}

function branded(value: unknown, brand: symbol): boolean {
	return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/**
 * A failed system call, shaped like Node's own system errors (`err.code === 'ENOENT'`,
 * `err.errno`, `err.syscall`), so code written for `child_process` handles it unchanged.
 * `errno` is positive, as the kernel numbers it, and always the number `code` names
 * (0 for the `ERR_PIDFD_*` codes, which are no errno). The same class, by brand, on the
 * library, the bridge server and the browser client.
 */
export class PidfdError extends Error {
	readonly code: string;
	readonly errno: number;
	readonly syscall: string;
	// `declare`: no class field, so the properties exist only when given (as in Node's errors).
	declare readonly path?: string;
	declare readonly pid?: number;

	/** `message` defaults to Node's shape: `${syscall} ${code} ${path}`. */
	constructor(code: string, message?: string, details: PidfdErrorDetails = {}) {
		const syscall = details.syscall ?? 'pidfd';
		const where = details.path === undefined ? '' : ` ${details.path}`;
		super(message ?? `${syscall} ${code}${where}`, details.cause === undefined ? undefined : { cause: details.cause });
		this.name = 'PidfdError';
		this.code = code;
		this.errno = details.errno ?? errnoOf(code);
		this.syscall = syscall;
		if (details.path !== undefined) this.path = details.path;
		if (details.pid !== undefined) this.pid = details.pid;
	}

	/** An error from an errno the kernel returned. */
	static fromErrno(errno: number, syscall: string, details: Omit<PidfdErrorDetails, 'syscall' | 'errno'> = {}): PidfdError {
		return new PidfdError(errnoName(errno), undefined, { ...details, syscall, errno });
	}

	/** True for any PidfdError, also one made by another copy of this library (another bundle). */
	static override [Symbol.hasInstance](value: unknown): boolean {
		return branded(value, kPidfdError);
	}

	get [kPidfdError](): true {
		return true;
	}
}

/** Invalid options or arguments, caught before anything reaches the sidecar. */
export class InvalidArgumentError extends TypeError {
	readonly code = ErrorCode.INVALID_ARG;

	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'InvalidArgumentError';
	}
}

/**
 * What an abort rejects with, as fetch and Node do: `name` 'AbortError', `code` 'ABORT_ERR',
 * and the signal's reason as `cause`.
 */
export function abortError(message: string, signal: AbortSignal): Error {
	const error = new Error(message, { cause: signal.reason }) as Error & { code: string };
	error.name = 'AbortError';
	error.code = 'ABORT_ERR';
	return error;
}

/** Why `run()` cut a child short. */
export type CutReason = 'timeout' | 'abort' | 'maxBuffer';

/**
 * `run()` was cut short (its timeout passed, its signal aborted, an output passed
 * maxBuffer) or, with `reject: true`, the child failed. Carries what was read.
 */
export class RunError<T = Uint8Array | string> extends Error {
	readonly code: 'ETIMEDOUT' | 'ABORT_ERR' | 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER' | 'ERR_PIDFD_CHILD_FAILED';
	constructor(
		message: string,
		readonly reason: CutReason | 'failed',
		readonly stdout: T,
		readonly stderr: T,
		readonly exit: ExitInfo,
	) {
		super(message);
		this.name = 'RunError';
		this.code = RUN_ERROR_CODES[reason];
	}

	static override [Symbol.hasInstance](value: unknown): boolean {
		return branded(value, kRunError);
	}

	get [kRunError](): true {
		return true;
	}
}

const RUN_ERROR_CODES = {
	timeout: 'ETIMEDOUT',
	abort: 'ABORT_ERR',
	maxBuffer: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER',
	failed: 'ERR_PIDFD_CHILD_FAILED',
} as const;

/** The message of a RunError: "Command failed with exit code 3: ls /nope", as nano-spawn puts it. */
export function describeRunEnd(
	file: string,
	args: readonly string[],
	reason: CutReason | 'failed',
	exit: ExitInfo,
	limits: { timeout?: number | undefined; maxBuffer: number },
): string {
	const command = [file, ...args].join(' ');
	switch (reason) {
		case 'timeout':
			return `Command timed out after ${limits.timeout} ms: ${command}`;
		case 'abort':
			return `Command was aborted: ${command}`;
		case 'maxBuffer':
			return `Command wrote more than maxBuffer (${limits.maxBuffer} bytes) to stdout or stderr: ${command}`;
		case 'failed':
			return exit.signal !== null
				? `Command was killed with ${exit.signal}: ${command}`
				: `Command failed with exit code ${exit.code ?? 'unknown'}: ${command}`;
	}
}
