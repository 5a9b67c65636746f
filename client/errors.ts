import type { ExitInfo } from '../schemas/exit.js';

const kPidfdError = Symbol.for('pidfd.PidfdError');
const kRunError = Symbol.for('pidfd.RunError');

/**
 * A failed request, shaped like the local library's PidfdError (and branded the same way, so
 * `instanceof PidfdError` holds for either): `code` is an errno name — EPERM for a policy
 * refusal, ENOENT/EACCES when exec failed on the host, ESRCH for a process that has ended,
 * ECONNRESET when the connection is gone, EINVAL for a request the server could not read.
 */
export class PidfdError extends Error {
	readonly code: string;
	/** The kernel's errno when the host had one, else 0. */
	readonly errno: number;
	/** The host's failing syscall, or 'bridge' for refusals and connection errors. */
	readonly syscall: string;

	constructor(code: string, message: string, details: { errno?: number | undefined; syscall?: string | undefined; cause?: unknown } = {}) {
		super(message, details.cause === undefined ? undefined : { cause: details.cause });
		this.name = 'PidfdError';
		this.code = code;
		this.errno = details.errno ?? 0;
		this.syscall = details.syscall ?? 'bridge';
	}

	static override [Symbol.hasInstance](value: unknown): boolean {
		return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kPidfdError] === true;
	}

	get [kPidfdError](): true {
		return true;
	}
}

/** run() was cut short: its timeout passed or an output passed maxBuffer. Carries what was read. */
export class RunError<T = Uint8Array | string> extends Error {
	readonly code: 'ETIMEDOUT' | 'ABORT_ERR' | 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER';
	constructor(
		message: string,
		readonly reason: 'timeout' | 'abort' | 'maxBuffer',
		readonly stdout: T,
		readonly stderr: T,
		readonly exit: ExitInfo,
	) {
		super(message);
		this.name = 'RunError';
		this.code = reason === 'timeout' ? 'ETIMEDOUT' : reason === 'abort' ? 'ABORT_ERR' : 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER';
	}

	static override [Symbol.hasInstance](value: unknown): boolean {
		return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kRunError] === true;
	}

	get [kRunError](): true {
		return true;
	}
}
