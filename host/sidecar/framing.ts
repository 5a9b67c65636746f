/**
 * The frame codec of the sidecar protocol (sidecar/PROTOCOL.md): pure, no I/O.
 *
 *   u32 len (bytes after this field) · u16 type · u16 flags · u32 id · body
 */

export const HEADER_SIZE = 12;
/** The sidecar announces its maximum in HELLO; this is the ceiling we accept from it. */
export const MAX_FRAME = 16 * 1024 * 1024;

export interface Frame {
	type: number;
	id: number;
	/** A view into the receive buffer: valid until the callback returns. */
	body: Buffer;
}

export class ProtocolError extends Error {
	override name = 'ProtocolError';
}

/**
 * Frames of one type whose body starts with `u32 handle · u32 fd` and goes on with bytes
 * (DATA): handed out as they arrive, in pieces, instead of assembled.
 */
export interface StreamedType {
	type: number;
	onData(handle: number, fd: number, bytes: Buffer): void;
}

/** Header and the `handle · fd` head of a streamed frame's body. */
const STREAM_HEAD = HEADER_SIZE + 8;

/**
 * Splits a byte stream into frames. Frames that arrive whole (the common case: replies are
 * small and come batched) are handed out as views without copying; only a frame split across
 * reads is assembled, once, when its last byte has arrived. With `streamed`, a frame of that
 * type is never assembled: its bytes go out as views of each read as soon as its head is in,
 * so a large DATA frame split across reads costs no copy and no waiting for its end.
 */
export class FrameDecoder {
	#pending: Buffer[] = [];
	#pendingBytes = 0;
	#transient = false;
	#needed = 4;
	/** Bytes of a streamed frame still to come, and whose they are. */
	#streamLeft = 0;
	#streamHandle = 0;
	#streamFd = 0;

	constructor(
		private readonly maxFrame = MAX_FRAME,
		private readonly streamed?: StreamedType,
	) {}

	/**
	 * `transient`: the caller reads into `chunk` again once this returns, so what is kept of
	 * it for the next push (a split frame's start) is copied; else views are kept.
	 */
	push(chunk: Buffer, onFrame: (frame: Frame) => void, transient = false): void {
		this.#transient = transient;
		let buf = chunk;
		if (this.#streamLeft > 0) {
			const take = Math.min(this.#streamLeft, buf.length);
			this.#streamLeft -= take;
			this.streamed!.onData(this.#streamHandle, this.#streamFd, buf.subarray(0, take));
			if (take === buf.length) return;
			buf = buf.subarray(take);
		}
		if (this.#pendingBytes > 0) {
			// Join only what completes the awaited piece (a length, a frame, a streamed head),
			// then go on with the rest of the read as views.
			const take = Math.min(this.#needed - this.#pendingBytes, buf.length);
			this.#keep(buf.subarray(0, take));
			this.#pendingBytes += take;
			if (this.#pendingBytes < this.#needed) return;
			const joined = Buffer.concat(this.#pending, this.#pendingBytes);
			this.#pending = [];
			this.#pendingBytes = 0;
			this.#parse(joined, onFrame);
			if (take < buf.length) this.push(buf.subarray(take), onFrame, this.#transient);
			return;
		}
		this.#parse(buf, onFrame);
	}

	#parse(buf: Buffer, onFrame: (frame: Frame) => void): void {
		const streamed = this.streamed;
		let off = 0;
		while (buf.length - off >= 4) {
			const len = buf.readUInt32LE(off);
			if (len < HEADER_SIZE - 4 || len > this.maxFrame) {
				throw new ProtocolError(`frame length ${len} out of range [${HEADER_SIZE - 4}, ${this.maxFrame}]`);
			}
			const have = buf.length - off;
			// A streamed frame with its head: never waited for whole.
			const isStreamed = streamed !== undefined && have >= 6 && len >= STREAM_HEAD - 4 && buf.readUInt16LE(off + 4) === streamed.type;
			if (have < 4 + len) {
				if (isStreamed && have >= STREAM_HEAD) {
					this.#streamHandle = buf.readUInt32LE(off + HEADER_SIZE);
					this.#streamFd = buf.readUInt32LE(off + HEADER_SIZE + 4);
					this.#streamLeft = 4 + len - have;
					if (have > STREAM_HEAD) streamed.onData(this.#streamHandle, this.#streamFd, buf.subarray(off + STREAM_HEAD));
					return;
				}
				// Enough to tell a streamed frame's head from a whole frame to wait for.
				this.#needed = isStreamed || (streamed !== undefined && have < 6) ? Math.min(4 + len, STREAM_HEAD) : 4 + len;
				break;
			}
			if (isStreamed)
				streamed.onData(buf.readUInt32LE(off + HEADER_SIZE), buf.readUInt32LE(off + HEADER_SIZE + 4), buf.subarray(off + STREAM_HEAD, off + 4 + len));
			else
				onFrame({
					type: buf.readUInt16LE(off + 4),
					id: buf.readUInt32LE(off + 8),
					body: buf.subarray(off + HEADER_SIZE, off + 4 + len),
				});
			off += 4 + len;
		}
		if (off < buf.length) {
			if (buf.length - off < 4) this.#needed = 4;
			this.#keep(buf.subarray(off));
			this.#pendingBytes = buf.length - off;
		}
	}

	#keep(piece: Buffer): void {
		this.#pending.push(this.#transient ? Buffer.from(piece) : piece);
	}
}

/**
 * Builds one frame. Reuses a scratch buffer across frames, so encoding a request allocates
 * only the finished frame.
 */
export class FrameWriter {
	#buf = Buffer.allocUnsafe(4096);
	#off = HEADER_SIZE;

	#reserve(n: number): void {
		if (this.#off + n <= this.#buf.length) return;
		let size = this.#buf.length * 2;
		while (size < this.#off + n) size *= 2;
		const next = Buffer.allocUnsafe(size);
		this.#buf.copy(next, 0, 0, this.#off);
		this.#buf = next;
	}

	u32(value: number): this {
		this.#reserve(4);
		this.#buf.writeUInt32LE(value >>> 0, this.#off);
		this.#off += 4;
		return this;
	}

	i32(value: number): this {
		this.#reserve(4);
		this.#buf.writeInt32LE(value | 0, this.#off);
		this.#off += 4;
		return this;
	}

	str(value: string): this {
		// UTF-8 never takes more than 3 bytes per UTF-16 unit.
		this.#reserve(4 + value.length * 3);
		const n = this.#buf.write(value, this.#off + 4, 'utf8');
		this.#buf.writeUInt32LE(n, this.#off);
		this.#off += 4 + n;
		return this;
	}

	/** Bytes written so far, header included: a mark for `copy()`. */
	get length(): number {
		return this.#off;
	}

	/** A copy of what was written since `start` (a `length` taken earlier). */
	copy(start: number): Buffer {
		return Buffer.from(this.#buf.subarray(start, this.#off));
	}

	/** Appends raw bytes, e.g. a run of fields kept from `copy()`. */
	bytes(data: Uint8Array): this {
		this.#reserve(data.length);
		this.#buf.set(data, this.#off);
		this.#off += data.length;
		return this;
	}

	/** Drops what was written: the next frame starts afresh. */
	reset(): void {
		this.#off = HEADER_SIZE;
		// A refused giant request must not pin its buffer.
		if (this.#buf.length > 1 << 20) this.#buf = Buffer.allocUnsafe(4096);
	}

	/** Finishes the frame and resets the writer for the next one. */
	finish(type: number, id: number): Buffer {
		const frame = Buffer.allocUnsafe(this.#off);
		this.#buf.writeUInt32LE(this.#off - 4, 0);
		this.#buf.writeUInt16LE(type, 4);
		this.#buf.writeUInt16LE(0, 6);
		this.#buf.writeUInt32LE(id >>> 0, 8);
		this.#buf.copy(frame, 0, 0, this.#off);
		this.#off = HEADER_SIZE;
		return frame;
	}
}

/** Reads a body field by field; any overrun or leftover is a ProtocolError. */
export class BodyReader {
	#off = 0;

	constructor(private readonly body: Buffer) {}

	#need(n: number): number {
		const at = this.#off;
		if (at + n > this.body.length) throw new ProtocolError(`body too short: need ${at + n} bytes, have ${this.body.length}`);
		this.#off += n;
		return at;
	}

	u32(): number {
		return this.body.readUInt32LE(this.#need(4));
	}

	i32(): number {
		return this.body.readInt32LE(this.#need(4));
	}

	u16(): number {
		return this.body.readUInt16LE(this.#need(2));
	}

	str(): string {
		const n = this.u32();
		const at = this.#need(n);
		return this.body.toString('utf8', at, at + n);
	}

	bytes(n: number): Buffer {
		const at = this.#need(n);
		return this.body.subarray(at, at + n);
	}

	end(): void {
		if (this.#off !== this.body.length) throw new ProtocolError(`body has ${this.body.length - this.#off} unexpected trailing bytes`);
	}
}
