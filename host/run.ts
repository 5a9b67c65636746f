import type { Readable, Writable } from 'node:stream';
import type { ExitInfo } from '../schemas/exit.js';
import type { Child } from './child.js';
import { InvalidArgumentError } from './errors.js';
import { type SpawnOptions, spawn } from './spawn.js';

export interface RunOptions extends Omit<SpawnOptions, 'stdio'> {
	/** Written to the child's stdin, which is then closed. Default: stdin is /dev/null. */
	input?: string | Uint8Array;
	/** 'utf8' gives strings; default 'buffer' gives Uint8Arrays (Buffers). */
	encoding?: 'buffer' | 'utf8';
	/** Most bytes kept per stream; past it the child is killed and run() rejects. Default 64 MiB. */
	maxBuffer?: number;
	/** stderr: 'pipe' (captured, default), 'inherit' or 'ignore'. */
	stderr?: 'pipe' | 'inherit' | 'ignore';
}

export interface RunResult<T = Buffer | string> {
	stdout: T;
	stderr: T;
	exit: ExitInfo;
}

const kRunError = Symbol.for('pidfd.RunError');

/**
 * run() was cut short by pidfd: `reason` says why (timeout, abort, maxBuffer). Carries what
 * was read until then.
 */
export class RunError extends Error {
	readonly code: 'ETIMEDOUT' | 'ABORT_ERR' | 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER';
	constructor(
		message: string,
		readonly reason: 'timeout' | 'abort' | 'maxBuffer',
		readonly stdout: Buffer | string,
		readonly stderr: Buffer | string,
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

/**
 * Runs a program to its end and collects its output, like Rust's `Command::output()`:
 * resolves whatever the exit code (look at `exit.code`), rejects with RunError only when
 * pidfd cut it short (timeout, abort, maxBuffer), and with PidfdError if it could not start.
 */
export function run(file: string, args?: readonly string[], options?: RunOptions & { encoding: 'utf8' }): Promise<RunResult<string>>;
export function run(file: string, args?: readonly string[], options?: RunOptions & { encoding?: 'buffer' }): Promise<RunResult<Buffer>>;
export async function run(file: string, args: readonly string[] = [], options: RunOptions = {}): Promise<RunResult> {
	const { input, encoding = 'buffer', maxBuffer = 64 * 1024 * 1024, stderr = 'pipe', ...spawnOptions } = options;
	if (!(Number.isSafeInteger(maxBuffer) && maxBuffer > 0)) throw new InvalidArgumentError(`run(): maxBuffer must be a positive integer, got ${String(maxBuffer)}`);
	const child = await spawn(file, args, { ...spawnOptions, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', stderr] });
	let overflow = false;
	const onOverflow = () => {
		if (overflow) return;
		overflow = true;
		child.kill('SIGKILL').catch(() => {});
	};
	const [out, err] = [collect(child.stdout, maxBuffer, onOverflow), collect(child.stderr, maxBuffer, onOverflow)];
	if (input !== undefined) feed(child.stdin!, input);
	const [exit, stdoutBytes, stderrBytes] = await Promise.all([child.wait(), out, err]);
	const decode = (b: Buffer) => (encoding === 'utf8' ? b.toString('utf8') : b);
	const result = { stdout: decode(stdoutBytes), stderr: decode(stderrBytes), exit };
	const cut = overflow ? 'maxBuffer' : child.terminatedBy;
	if (cut) throw new RunError(describeCut(file, cut, options, maxBuffer), cut, result.stdout, result.stderr, exit);
	return result;
}

function describeCut(file: string, reason: 'timeout' | 'abort' | 'maxBuffer', options: RunOptions, maxBuffer: number): string {
	if (reason === 'timeout') return `${file} timed out after ${options.timeout} ms`;
	if (reason === 'abort') return `${file} was aborted`;
	return `${file} wrote more than maxBuffer (${maxBuffer} bytes) to stdout or stderr`;
}

/** Reads a stream to its end, keeping at most `limit` bytes; calls onOverflow once past it. */
function collect(stream: Readable | null, limit: number, onOverflow: () => void): Promise<Buffer> {
	if (!stream) return Promise.resolve(Buffer.alloc(0));
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		stream.on('data', (chunk: Buffer) => {
			if (size >= limit) return;
			if (size + chunk.length > limit) {
				chunks.push(chunk.subarray(0, limit - size));
				size = limit;
				// Kill first and keep draining: closing the pipe now would make the child die of
				// SIGPIPE instead, and hide that pidfd was the one who stopped it.
				onOverflow();
				return;
			}
			chunks.push(chunk);
			size += chunk.length;
		});
		// 'close' follows 'end', and also comes alone if the stream is destroyed: join the
		// chunks once, on whichever comes first (a second join of 256 MiB costs ~30%).
		let done = false;
		const finish = () => {
			if (done) return;
			done = true;
			resolve(Buffer.concat(chunks, size));
		};
		stream.once('end', finish);
		stream.once('close', finish);
		stream.once('error', reject);
	});
}

/** Writes all of `input` and closes stdin; a child that exits without reading it is fine (EPIPE ignored). */
function feed(stdin: Writable, input: string | Uint8Array): void {
	stdin.on('error', (error: NodeJS.ErrnoException) => {
		if (error.code !== 'EPIPE') throw error;
	});
	stdin.end(input);
}

export type { Child };
