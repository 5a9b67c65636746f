// The relay transport: a child's pipe read and written by the sidecar, its bytes carried over
// the sidecar's own connection (DATA events, WRITE requests). Used where the host cannot or
// should not open the pipe itself (Deno, permission-restricted hosts; see transport.ts):
// the host then reads and writes one pipe only, asynchronously, which every runtime can do.
//
// Flow control is the kernel's, end to end. Out of the child: the sidecar sends at most a
// window of bytes the host has not given back as CREDIT; the host gives them back as its
// reader takes them, so a slow reader stops the sidecar reading, the pipe fills and the child
// blocks. Into the child: one WRITE in flight per stream; a short count means the pipe is full
// and the rest waits for WRITABLE. Neither side buffers more than a window per stream.
import { Readable, Writable } from 'node:stream';
import { PidfdError } from '../../schemas/errors.js';
import type { Sidecar, StreamSink } from '../sidecar/connection.js';
import { decodeWritten, encodeCredit, encodeStream, encodeWrite } from '../sidecar/messages.js';
import { MessageType } from '../sidecar/protocol.js';

/** Bytes consumed before CREDIT is sent back: fewer, larger grants cost fewer frames. */
const GRANT_BATCH = 64 * 1024;
/** The credit a lazy stream starts with: the sidecar's default window. */
const RELAY_WINDOW = 256 * 1024;
/** The largest WRITE: well under the frame limit, and a pipe takes at most 1 MiB anyway. */
const MAX_WRITE = 256 * 1024;

/**
 * The sidecar's death ends every relayed stream with its error, and every `wait()` rejects
 * with the same one. A stream nobody listens to must not turn that into an uncaught 'error'
 * that ends the host: those who read or write the stream still get it (listeners, pipeline(),
 * async iteration), and everyone learns it from wait().
 */
function unreported(stream: Readable | Writable): void {
	stream.on('error', () => {});
}

/** Where captureInto() puts the bytes: output.ts's Capture (named by shape: it imports this module). */
export interface CaptureSink {
	add(chunk: Uint8Array): void;
}

/** Output of the child (its fd 1, 2, or an extra fd), relayed by the sidecar. */
export class RelayReadable extends Readable implements StreamSink {
	#unacked = 0;
	#ended = false;
	/** RELAY_LAZY: the sidecar reads nothing before the first read here asks for a window. */
	#waitingForReader: boolean;
	/** captureInto(): the bytes go straight into a capture, not through the stream. */
	#capture: CaptureSink | undefined;

	constructor(
		private readonly sidecar: Sidecar,
		private readonly handle: number,
		private readonly fd: number,
		lazy = false,
	) {
		super({ highWaterMark: 64 * 1024 });
		this.#waitingForReader = lazy;
		sidecar.watchStream(handle, fd, this);
		// Relayed output is what the sidecar sends most of: read it where the host reads best.
		sidecar.useOutlet();
		// Open streams keep the loop alive, as a pipe does, until their EOF.
		sidecar.ref();
		unreported(this);
	}

	onData(data: Buffer, transient: boolean): void {
		this.#unacked += data.length;
		if (this.#capture) {
			// Copied into the capture at once: the window comes back as fast as it is used.
			this.#capture.add(data);
			if (this.#unacked >= GRANT_BATCH) this.#grant();
			return;
		}
		// A view the connection reuses for its next read is copied; one nothing reuses is kept.
		if (this.push(transient ? Buffer.from(data) : data) && this.#unacked >= GRANT_BATCH) this.#grant();
	}

	onEof(errno: number): void {
		this.#finish();
		if (errno === 0) {
			this.push(null);
			// A capture never reads the stream: this read is what lets 'end' come.
			if (this.#capture) this.read(0);
		} else this.destroy(PidfdError.fromErrno(errno, 'read'));
	}

	/**
	 * Keeps the output in `capture` (run(), output()) instead of streaming it: each DATA is
	 * copied once into the capture's growing buffer and its credit given back, with no chunk
	 * through the stream's buffer and 'data' event. The stream still ends ('end', 'close',
	 * 'error') as it would. Only for a stream nobody has read yet: returns false, and takes
	 * nothing over, if some bytes went into the stream already (they are read from there).
	 */
	captureInto(capture: CaptureSink): boolean {
		if (this.readableLength > 0 || this.readableFlowing || this.listenerCount('data') > 0) return false;
		this.#capture = capture;
		if (this.#waitingForReader) this._read();
		return true;
	}

	onWritable(): void {}

	onLost(error: PidfdError): void {
		this.#finish();
		this.destroy(error);
	}

	override _read(): void {
		if (this.#waitingForReader) {
			this.#waitingForReader = false;
			this.sidecar.notify(MessageType.CREDIT, (w) => encodeCredit(w, this.handle, this.fd, RELAY_WINDOW));
		} else if (this.#unacked > 0) this.#grant();
	}

	/** The sidecar's end went to another child (handover.ts): forget the stream, shut nothing. */
	handOver(): void {
		this.#finish();
		this.destroy();
	}

	override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
		if (!this.#ended) {
			// Let go before the end: the sidecar stops relaying and closes its end, so the child
			// gets EPIPE as it would from a closed pipe.
			this.#finish();
			this.sidecar
				.call(
					MessageType.SHUT,
					(w) => encodeStream(w, this.handle, this.fd),
					() => undefined,
				)
				.catch(() => {
					// The stream or its sidecar is gone already: nothing is left to shut.
				});
		}
		callback(error);
	}

	#grant(): void {
		const bytes = this.#unacked;
		this.#unacked = 0;
		this.sidecar.notify(MessageType.CREDIT, (w) => encodeCredit(w, this.handle, this.fd, bytes));
	}

	#finish(): void {
		if (this.#ended) return;
		this.#ended = true;
		this.sidecar.unwatchStream(this.handle, this.fd);
		this.sidecar.unref();
	}
}

/** Input of the child (its fd 0), relayed by the sidecar. */
export class RelayWritable extends Writable implements StreamSink {
	/** The rest of a chunk waiting for WRITABLE. */
	#waiting: (() => void) | undefined;
	/** WRITABLE came before the short reply it answers was handled. */
	#writable = false;
	#lost: PidfdError | undefined;
	#shut = false;

	constructor(
		private readonly sidecar: Sidecar,
		private readonly handle: number,
		private readonly fd: number,
	) {
		super({ highWaterMark: 64 * 1024 });
		sidecar.watchStream(handle, fd, this);
		unreported(this);
	}

	onData(): void {}

	/** The sidecar's end went to another child (handover.ts): forget the stream, shut nothing. */
	handOver(): void {
		this.#shut = true;
		this.sidecar.unwatchStream(this.handle, this.fd);
		this.destroy();
	}

	/** The sidecar shut its end itself (the child closed the pipe: EPIPE). */
	onEof(errno: number): void {
		this.#shut = true;
		this.#fail(PidfdError.fromErrno(errno || 32, 'write'));
	}

	onWritable(): void {
		const resume = this.#waiting;
		this.#waiting = undefined;
		if (resume) resume();
		else this.#writable = true;
	}

	onLost(error: PidfdError): void {
		this.#lost = error;
		this.#fail(error);
	}

	override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
		this.#send(chunk, 0, callback);
	}

	override _final(callback: (error?: Error | null) => void): void {
		this.#shutdown().then(() => callback(), callback);
	}

	override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
		this.#waiting = undefined;
		this.#shutdown().then(
			() => callback(error),
			() => callback(error),
		);
	}

	#send(chunk: Buffer, offset: number, callback: (error?: Error | null) => void): void {
		if (this.#lost) return callback(this.#lost);
		const part = chunk.subarray(offset, offset + MAX_WRITE);
		this.#writable = false;
		this.sidecar
			.call(
				MessageType.WRITE,
				(w) => encodeWrite(w, this.handle, this.fd, part),
				(reply) => decodeWritten(reply.body),
			)
			.then(
				(written) => {
					const next = offset + written;
					if (next >= chunk.length) return callback();
					if (written === part.length) return this.#send(chunk, next, callback);
					const resume = () => this.#send(chunk, next, callback);
					if (this.#writable) resume();
					else this.#waiting = resume;
				},
				(error: unknown) => callback(error as Error),
			);
	}

	#fail(error: PidfdError): void {
		this.sidecar.unwatchStream(this.handle, this.fd);
		this.#waiting = undefined;
		if (!this.destroyed) this.destroy(error);
	}

	/** SHUT once: the sidecar closes its end, and the child reads EOF. */
	async #shutdown(): Promise<void> {
		if (this.#shut || this.#lost) return;
		this.#shut = true;
		this.sidecar.unwatchStream(this.handle, this.fd);
		try {
			await this.sidecar.call(
				MessageType.SHUT,
				(w) => encodeStream(w, this.handle, this.fd),
				() => undefined,
			);
		} catch (error) {
			// ESRCH/EBADF: the sidecar dropped the stream already (the child closed its end).
			if (!(error instanceof PidfdError && (error.code === 'ESRCH' || error.code === 'EBADF' || error.code === 'EPIPE'))) throw error;
		}
	}
}
