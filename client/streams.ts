import { FRAME_EOF, encodeFrame } from '../schemas/bridge-wire.js';

// Web streams over the bridge's credit-based flow control (PROTOCOL.md, "Flow control").

/** What a stream needs from its connection. */
export interface Link {
	sendJson(message: object): void;
	sendFrame(frame: Uint8Array): void;
	/** Largest data part of a binary frame the server accepts. */
	readonly maxChunk: number;
}

/** The receiving end of a child's stdout or stderr, fed by the connection. */
export interface OutputFeed {
	readonly stream: ReadableStream<Uint8Array>;
	push(data: Uint8Array): void;
	end(): void;
	fail(error: Error): void;
}

/**
 * A ReadableStream whose queue is the credit window: the server may send `window` bytes
 * beyond what the reader has taken, and no more. Credit goes back as the reader takes
 * bytes, batched by half windows, so a reader that stops reading stops the child.
 */
export function outputStream(link: Link, child: number, fd: 1 | 2, window: number): OutputFeed {
	let controller!: ReadableStreamDefaultController<Uint8Array>;
	let received = 0;
	let granted = window;
	let done = false;
	const grant = () => {
		if (done) return;
		const desired = controller.desiredSize;
		if (desired === null) return;
		const consumed = received - (window - desired);
		const target = consumed + window;
		if (target - granted >= window / 2) {
			link.sendJson({ type: 'credit', child, fd, bytes: target - granted });
			granted = target;
		}
	};
	const stream = new ReadableStream<Uint8Array>(
		{
			start(c) {
				controller = c;
			},
			pull: grant,
			cancel() {
				if (done) return;
				done = true;
				link.sendJson({ type: 'close', child, fd });
			},
		},
		{ highWaterMark: window, size: (chunk) => chunk.byteLength },
	);
	return {
		stream,
		push(data) {
			if (done) return;
			received += data.byteLength;
			// Copy out of the message's buffer: the reader may keep chunks for a long time.
			controller.enqueue(data.slice());
		},
		end() {
			if (done) return;
			done = true;
			controller.close();
		},
		fail(error) {
			if (done) return;
			done = true;
			controller.error(error);
		},
	};
}

/** The sending end of a child's stdin, fed credit by the connection. */
export interface InputFeed {
	readonly stream: WritableStream<Uint8Array | string>;
	credit(bytes: number): void;
	fail(error: Error): void;
}

/**
 * A WritableStream that sends at most the credit the server granted: write() resolves only
 * once its bytes are sent, so `await writer.write()` (or pipeTo) is the backpressure.
 * Strings are sent as UTF-8.
 */
export function inputStream(link: Link, child: number, window: number): InputFeed {
	let credit = window;
	let failure: Error | undefined;
	let wake: (() => void) | undefined;
	let controller!: WritableStreamDefaultController;
	const encoder = new TextEncoder();
	const waitForCredit = () =>
		new Promise<void>((resolve) => {
			wake = resolve;
		});
	const stream = new WritableStream<Uint8Array | string>({
		start(c) {
			controller = c;
		},
		async write(chunk) {
			const data = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
			let offset = 0;
			while (offset < data.byteLength) {
				while (credit <= 0 && !failure) await waitForCredit();
				if (failure) throw failure;
				const n = Math.min(credit, data.byteLength - offset, link.maxChunk);
				link.sendFrame(encodeFrame(child, 0, 0, data.subarray(offset, offset + n)));
				credit -= n;
				offset += n;
			}
		},
		close() {
			if (!failure) link.sendFrame(encodeFrame(child, 0, FRAME_EOF));
		},
		abort() {
			if (!failure) link.sendFrame(encodeFrame(child, 0, FRAME_EOF));
		},
	});
	return {
		stream,
		credit(bytes) {
			credit += bytes;
			wake?.();
			wake = undefined;
		},
		fail(error) {
			if (failure) return;
			failure = error;
			wake?.();
			wake = undefined;
			controller.error(error);
		},
	};
}
