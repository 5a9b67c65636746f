import type { Readable, Writable } from 'node:stream';
import { FRAME_EOF, encodeFrame } from '../../schemas/bridge-wire.js';

// Flow control of stdio over the bridge (PROTOCOL.md, "Flow control"). Both directions use
// credit: a sender may have at most the granted number of bytes unconsumed at the receiver.
// That bounds what either side buffers, whatever the other does, and — unlike watching
// bufferedAmount — it works with browsers, whose WebSocket reads every message eagerly.

/** Where frames go: the session's send, which counts bytes queued on the socket. */
export type FrameSink = (frame: Uint8Array) => void;

/**
 * A child's stdout or stderr flowing to the client. The pipe is paused when the client's
 * credit runs out or when the connection has too much queued; the child then blocks on a
 * full pipe, which is the backpressure reaching it.
 */
export class OutputPump {
	#credit: number;
	#blocked = false;
	#done = false;

	constructor(
		readonly stream: Readable,
		readonly child: number,
		readonly fd: number,
		credit: number,
		readonly maxCredit: number,
		send: FrameSink,
		onError: (error: Error) => void,
	) {
		this.#credit = credit;
		stream.on('data', (chunk: Buffer) => {
			send(encodeFrame(child, fd, 0, chunk));
			// May go below zero by part of one chunk: a pipe read is at most 64 KiB.
			this.#credit -= chunk.length;
			this.#update();
		});
		stream.once('end', () => {
			if (this.#done) return;
			this.#done = true;
			send(encodeFrame(child, fd, FRAME_EOF));
		});
		stream.on('error', (error) => {
			if (this.#done) return;
			this.#done = true;
			onError(error);
			send(encodeFrame(child, fd, FRAME_EOF));
		});
		this.#update();
	}

	/** The client consumed `bytes` more. */
	grant(bytes: number): void {
		this.#credit = Math.min(this.#credit + bytes, this.maxCredit);
		this.#update();
	}

	/** The connection has too much queued (true) or has drained (false). */
	block(blocked: boolean): void {
		this.#blocked = blocked;
		this.#update();
	}

	/** The client will read no more: close our end, so the child gets EPIPE instead of hanging. */
	close(): void {
		this.#done = true;
		this.stream.destroy();
	}

	#update(): void {
		if (this.#done) return;
		if (this.#credit > 0 && !this.#blocked) this.stream.resume();
		else this.stream.pause();
	}
}

/**
 * The client's data flowing into a child's stdin. The server grants `window` bytes; credit
 * comes back as the pipe accepts writes. Bytes beyond the window are a protocol violation,
 * refused, so a client cannot make the server buffer more than the window per child.
 */
export class StdinSink {
	#pending = 0;
	#ungranted = 0;
	#closed = false;
	readonly #grant: (bytes: number) => void;

	constructor(
		readonly stream: Writable,
		readonly window: number,
		grant: (bytes: number) => void,
		onError: (error: NodeJS.ErrnoException) => void,
	) {
		this.#grant = grant;
		stream.on('error', (error: NodeJS.ErrnoException) => {
			if (this.#closed) return;
			this.#closed = true;
			onError(error);
		});
	}

	/** Writes data from the client; false if it broke the window (the data is dropped). */
	write(data: Uint8Array): boolean {
		if (this.#closed) return true; // the child closed its stdin: the client was told, drop quietly
		if (this.#pending + data.byteLength > this.window) return false;
		const length = data.byteLength;
		this.#pending += length;
		// Copy: the frame's buffer belongs to ws, and the write may complete much later.
		this.stream.write(Buffer.from(data), (error) => {
			this.#pending -= length;
			if (error || this.#closed) return;
			this.#ungranted += length;
			// Batch credits: one message per half window, or when the pipe has caught up.
			if (this.#ungranted >= this.window / 2 || this.#pending === 0) {
				const bytes = this.#ungranted;
				this.#ungranted = 0;
				this.#grant(bytes);
			}
		});
		return true;
	}

	/** EOF from the client. */
	end(): void {
		if (this.#closed) return;
		this.#closed = true;
		this.stream.end();
	}

	destroy(): void {
		this.#closed = true;
		this.stream.destroy();
	}
}
