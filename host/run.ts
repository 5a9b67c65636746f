import type { OnReadOpts } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { ExitInfo } from '../schemas/exit.js';
import type { Child } from './child.js';
import { RunError } from '../client/errors.js';
import { InvalidArgumentError } from './errors.js';
import { kPipeOnRead, type PipeOnRead, pipeOnRead } from './pipes.js';
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

/**
 * RunError is shared with the bridge client (web standards only, so the host can use it too):
 * one class, one brand, whichever side ran the program.
 */
export { RunError };

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
	let overflow = false;
	let child: Child | undefined;
	const onOverflow = () => {
		if (overflow) return;
		overflow = true;
		child!.kill('SIGKILL').catch(() => {});
	};
	// Where the pipes are net.Sockets (Node), the output is read straight into buffers of
	// ours (Capture) rather than as a stream of fresh chunks joined at the end.
	const captures = pipeOnRead ? [new Capture(maxBuffer, onOverflow), new Capture(maxBuffer, onOverflow)] : undefined;
	const onread: PipeOnRead | undefined = captures && { 1: captures[0]!.onread, 2: captures[1]!.onread };
	child = await spawn(file, args, { ...spawnOptions, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', stderr], ...(onread && { [kPipeOnRead]: onread }) });
	const [out, err] = [collect(child.stdout, maxBuffer, onOverflow, captures?.[0]), collect(child.stderr, maxBuffer, onOverflow, captures?.[1])];
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

/** Where a Capture with no room left reads; the bytes are copied out (or dropped) at once. */
let spareBuffer: Buffer | undefined;

/**
 * Keeps what a pipe read through `onread` (see openPipeEnd()), like collect() below: at
 * most `limit` bytes, then onOverflow and keep draining. The kernel reads straight into the
 * free end of one buffer of ours, which grows by ×8 and is returned trimmed: no Buffer per
 * read (nor its garbage), no copy out of it, no final join. Growing copies what was kept,
 * so fewer, bigger steps copy less; the untouched tail of a big allocation costs address
 * space, not memory. On 256 MiB this is about a third faster than streaming chunks.
 */
class Capture {
	#data = Buffer.alloc(0); // the first read lands in the spare buffer, then is kept exactly
	#size = 0;
	#spare = false;
	readonly onread: OnReadOpts;

	constructor(
		readonly limit: number,
		readonly onOverflow: () => void,
	) {
		// Node calls `buffer` for where the next read goes: once up front, then after each callback.
		this.onread = { buffer: () => this.#next(), callback: (n, buffer) => this.#read(n, buffer) };
	}

	#next(): Uint8Array {
		const free = Math.min(this.#data.length, this.limit) - this.#size;
		this.#spare = free < 16 * 1024;
		if (!this.#spare) return this.#data.subarray(this.#size, this.#size + free);
		// Full: read into a spare buffer, and grow only if bytes come (an output that fits
		// exactly, the EOF read of a long one, must not grow).
		spareBuffer ??= Buffer.allocUnsafe(64 * 1024);
		return spareBuffer;
	}

	#read(n: number, buffer: Uint8Array): boolean {
		if (!this.#spare) {
			this.#size += n;
			return true;
		}
		const keep = Math.min(n, this.limit - this.#size);
		if (keep < n) this.onOverflow();
		if (keep > 0) {
			if (this.#size + keep > this.#data.length) {
				const next = this.#size === 0 ? keep : Math.min(this.limit, Math.max(64 * 1024, 8 * this.#data.length));
				const grown = Buffer.allocUnsafe(Math.max(this.#size + keep, next));
				this.#data.copy(grown, 0, 0, this.#size);
				this.#data = grown;
			}
			this.#data.set(buffer.subarray(0, keep), this.#size);
			this.#size += keep;
		}
		return true;
	}

	get bytes(): Buffer {
		const { length } = this.#data;
		// A short output should not hold on to a mostly empty buffer.
		if (this.#size <= length / 2 && length <= 1024 * 1024) return Buffer.from(this.#data.subarray(0, this.#size));
		return this.#data.subarray(0, this.#size);
	}
}

/** Reads a stream to its end, keeping at most `limit` bytes; calls onOverflow once past it. */
function collect(stream: Readable | null, limit: number, onOverflow: () => void, capture?: Capture): Promise<Buffer> {
	if (!stream) return Promise.resolve(Buffer.alloc(0));
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		// With a Capture, the bytes never come as 'data'; 'end' and 'close' still do.
		if (!capture) stream.on('data', (chunk: Buffer) => {
			if (size >= limit) {
				onOverflow(); // a byte past `limit`, even if the last chunk filled it exactly
				return;
			}
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
			resolve(capture ? capture.bytes : Buffer.concat(chunks, size));
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
