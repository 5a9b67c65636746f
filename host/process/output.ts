// Reading a child's output to its end with a bound, and writing its input: shared by run()
// and child.output().
import type { OnReadOpts } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { RelayReadable } from './relay.js';
import { reportDetached } from './report.js';

/** Where a Capture with no room left reads; the bytes are copied out (or dropped) at once. */
let spareBuffer: Buffer | undefined;

/** ES2024's resizable ArrayBuffer (Node 20, Bun and Deno have it; the lib here is ES2022). */
interface ResizableArrayBuffer extends ArrayBuffer {
	readonly maxByteLength: number;
	resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => ResizableArrayBuffer;
/**
 * The most address space one capture reserves: 4 GiB, Node 20's largest Buffer (Bun refuses
 * reservations of 1 TiB). A capture with a larger limit that passes it grows by copying.
 */
const MAX_RESERVE = 2 ** 32;

/**
 * Keeps what a pipe read through `onread` (see openPipeEnd()), like collect() below: at
 * most `limit` bytes, then onOverflow and keep draining. The kernel reads straight into the
 * free end of one buffer of ours, returned trimmed: no Buffer per read (nor its garbage), no
 * copy out of it, no final join. On 256 MiB this is about a third faster than streaming
 * chunks.
 *
 * Growing: an output that fits one read is kept in a buffer of its size. Past that, the
 * buffer is a resizable ArrayBuffer reserving `limit` bytes of address space, grown in place
 * (the kernel maps pages as they are first written), so what was kept is never copied again
 * and each byte's page is touched once: on a machine where first touch is dear that is the
 * cost of a big capture (256 MiB: 65,500 page faults, against 75,000 and 37 MiB of copies
 * when each growth was a new buffer ×8 the last). Where the address space is refused (a
 * RangeError), growth falls back to new buffers.
 */
export class Capture {
	#data: Buffer = Buffer.alloc(0); // the first read lands in the spare buffer, then is kept exactly
	#size = 0;
	#spare = false;
	#resizable: ResizableArrayBuffer | undefined;
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
		this.add(buffer.subarray(0, n));
		return true;
	}

	/**
	 * Copies bytes that came some other way (a stream's 'data', relayed DATA) into the same
	 * growing buffer. Fresh memory is what costs here, not the copy: a list of chunks joined
	 * at the end touches every byte's page twice, this once.
	 */
	add(chunk: Uint8Array): void {
		const n = chunk.length;
		const keep = Math.min(n, this.limit - this.#size);
		if (keep < n) this.onOverflow();
		if (keep > 0) {
			if (this.#size + keep > this.#data.length) this.#grow(this.#size + keep);
			this.#data.set(keep < n ? chunk.subarray(0, keep) : chunk, this.#size);
			this.#size += keep;
		}
	}

	/** Room for `need` bytes (at most `limit`). */
	#grow(need: number): void {
		const rab = this.#resizable;
		if (rab && need <= rab.maxByteLength) {
			const next = Math.min(rab.maxByteLength, Math.max(need, 2 * rab.byteLength));
			rab.resize(next);
			this.#data = Buffer.from(rab, 0, next);
			return;
		}
		// The first bytes are kept exactly: most outputs never grow.
		const next = this.#size === 0 ? need : Math.min(this.limit, Math.max(64 * 1024, 8 * this.#data.length, need));
		const grown = (this.#size > 0 && !rab && this.#inPlace(next)) || Buffer.allocUnsafe(next);
		this.#data.copy(grown, 0, 0, this.#size);
		this.#data = grown;
	}

	/** A buffer of `length` bytes that can grow in place up to `limit`, or undefined. */
	#inPlace(length: number): Buffer | undefined {
		try {
			const rab = new ResizableArrayBuffer(length, { maxByteLength: Math.min(this.limit, MAX_RESERVE) });
			this.#resizable = rab;
			return Buffer.from(rab, 0, length);
		} catch {
			// No address space for the reservation (or no resizable buffers): copy to grow.
			return undefined;
		}
	}

	get bytes(): Buffer {
		const { length } = this.#data;
		// A short output should not hold on to a mostly empty buffer.
		if (this.#size <= length / 2 && length <= 1024 * 1024) return Buffer.from(this.#data.subarray(0, this.#size));
		return this.#data.subarray(0, this.#size);
	}
}

/** Reads a stream to its end, keeping at most `limit` bytes; calls onOverflow once past it. */
export function collect(stream: Readable | null, limit: number, onOverflow: () => void, capture?: Capture): Promise<Buffer> {
	if (!stream) return Promise.resolve(Buffer.alloc(0));
	return new Promise((resolve, reject) => {
		// With a Capture, the bytes never come as 'data'; 'end' and 'close' still do. Else they
		// are copied into one: past `limit` (a byte past it, even if the last chunk filled it
		// exactly) it calls onOverflow and drops the rest, and the stream is drained on: closing
		// the pipe now would make the child die of SIGPIPE instead, and hide that pidfd was the
		// one who stopped it.
		const sink = capture ?? new Capture(limit, onOverflow);
		const direct = capture !== undefined || (stream instanceof RelayReadable && stream.captureInto(sink));
		if (!direct) stream.on('data', (chunk: Buffer) => sink.add(chunk));
		// 'close' follows 'end', and also comes alone if the stream is destroyed: join the
		// chunks once, on whichever comes first (a second join of 256 MiB costs ~30%).
		let done = false;
		const finish = () => {
			if (done) return;
			done = true;
			resolve(sink.bytes);
		};
		stream.once('end', finish);
		stream.once('close', finish);
		stream.once('error', reject);
	});
}

/** Writes all of `input` and closes stdin; a child that exits without reading it is fine (EPIPE ignored). */
export function feed(stdin: Writable, input: string | Uint8Array): void {
	stdin.on('error', (error: NodeJS.ErrnoException) => {
		// EPIPE: the child did not want it all, which is its business.
		if (error.code !== 'EPIPE') reportDetached(error);
	});
	stdin.end(input);
}
