// A terminal child's pty master, as one Duplex: what the programs on the terminal write comes
// out of it, keystrokes go into it. On Node the host opens the master itself and reads and
// writes it in its own loop, as node-pty does (direct: no byte crosses the sidecar, which
// takes a copy with pidfd_getfd to set up the slave, and keeps it for the size, the mode and
// keystrokes the master would not take at once). Elsewhere, or where that cannot be had,
// both directions ride the relay (relay.ts). Either way a host that stops reading stops the
// child, and a child that stops reading holds the writer back.
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { Duplex, type Readable, Writable } from 'node:stream';
import { ReadStream } from 'node:tty';
import { ErrorCode, InvalidArgumentError, type PidfdError } from '../../schemas/errors.js';
import type { Sidecar } from '../sidecar/connection.js';
import { encodeHandle, encodeRaw, encodeResize } from '../sidecar/messages.js';
import { Feature, MessageType } from '../sidecar/protocol.js';
import { runtime } from '../sidecar/runtime.js';
import type { RelayReadable, RelayWritable } from './relay.js';

/**
 * Where a terminal's bytes go: the relay's two streams, or the master the host holds (with
 * the relay's input stream to the sidecar's copy of it, for what the master does not take).
 */
export type TerminalPort = { input: RelayWritable; output: RelayReadable } | { input: RelayWritable; master: number };

/** False once the sidecar could not take a master of ours (no pidfd_getfd, ptrace refused). */
let directPossible = true;

/**
 * A new pty master of the host's own, for a terminal child on Node with the direct
 * transport; undefined where it cannot be had (another runtime, a kernel without
 * pidfd_getfd, a permission model refusing /dev/ptmx): the terminal is relayed then.
 */
export function openHostMaster(sidecar: Sidecar, transport: 'direct' | 'relay'): number | undefined {
	if (runtime !== 'node' || transport !== 'direct' || !directPossible) return undefined;
	if (!((sidecar.hello?.features ?? 0) & Feature.pidfdGetfd)) return undefined;
	try {
		// Node adds O_CLOEXEC. O_NOCTTY: a host without a terminal must not get this one.
		// O_NONBLOCK: libuv leaves a master blocking, and a read or write would then stall
		// the whole loop on a terminal with nothing to say or no room.
		return openSync('/dev/ptmx', constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
	} catch {
		directPossible = false;
		return undefined;
	}
}

/**
 * The sidecar could not take the host's master (pidfd_getfd refused: Yama's ptrace_scope,
 * a seccomp filter): closes it, and says whether the spawn should be retried relayed, which
 * every later one then is.
 */
export function hostMasterRefused(master: number, error: unknown): boolean {
	closeSync(master);
	if ((error as PidfdError).syscall !== 'pidfd_getfd') return false;
	directPossible = false;
	return true;
}

/**
 * Keystrokes into a master the host holds: written at once, in this loop, when the terminal
 * takes them (the common case: a line discipline's input queue holds 4 KiB and more); what
 * it does not take (a full queue: the program is not reading) goes to the sidecar's copy,
 * which writes it as room comes, under the relay's flow control. Writable calls _write once
 * at a time, so nothing written later can overtake what the sidecar still holds. libuv's own
 * tty writes cannot serve: on a master it writes blocking, or spins on a non-blocking one.
 */
class MasterWriter extends Writable {
	constructor(
		private readonly master: number,
		private readonly relayed: RelayWritable,
	) {
		super();
		relayed.once('error', (error) => this.destroy(error));
	}

	override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
		let written = 0;
		try {
			written = writeSync(this.master, chunk);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return callback(error as Error);
		}
		if (written === chunk.length) callback();
		else this.relayed.write(chunk.subarray(written), callback);
	}

	override _final(callback: (error?: Error | null) => void): void {
		this.relayed.end(callback);
	}

	override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
		this.relayed.destroy();
		callback(error);
	}
}

export class Terminal extends Duplex {
	#cols: number;
	#rows: number;
	#raw = false;
	readonly #input: Writable;
	readonly #output: Readable;

	/** @internal Built by Child for a `terminal` spawn. */
	constructor(
		private readonly sidecar: Sidecar,
		private readonly handle: number,
		port: TerminalPort,
		size: { cols: number; rows: number },
	) {
		super({ allowHalfOpen: true });
		this.#cols = size.cols;
		this.#rows = size.rows;
		if ('master' in port) {
			// A tty stream reads it: libuv polls the master in this loop. Half-open, so that an
			// EOF leaves the fd open for drain() (else the stream closes it at once).
			const master = new ReadStream(port.master, { allowHalfOpen: true } as never);
			this.#input = new MasterWriter(port.master, port.input);
			this.#output = master;
			// EIO is how a master says its last slave closed and it has nothing left: the end,
			// not an error. A sidecar killed mid-session kills the child, which closes the
			// slave too: so the end is clean only if the sidecar still answers, as on the
			// relay, where its death is the error.
			master.on('error', (error: NodeJS.ErrnoException) => {
				if (error.code === 'EIO') this.#endOnceConfirmed();
				else this.destroy(error);
			});
			master.once('end', () => {
				this.#drain(port.master);
				this.#endOnceConfirmed();
			});
		} else {
			this.#input = port.input;
			this.#output = port.output;
			port.output.once('end', () => this.#end());
			port.output.once('error', (error) => this.destroy(error));
		}
		this.#input.once('error', (error) => this.destroy(error));
		this.#output.on('data', (chunk: Buffer) => {
			if (!this.push(chunk)) this.#output.pause();
		});
		// As for relayed streams: the sidecar's death reaches everyone through wait(); a terminal
		// nobody listens to must not make it an uncaught 'error' that ends the host.
		this.on('error', () => {});
	}

	/**
	 * The end. Nothing can read keystrokes any more: the writable side finishes first, and only
	 * then the readable side ends, so the Duplex is done both ways and `for await` over it ends
	 * cleanly instead of destroying it unfinished.
	 */
	#end(): void {
		this.end(() => this.push(null));
	}

	/**
	 * What the master still holds when libuv has called it the end. libuv takes a hang-up
	 * (POLLHUP: the last slave closed) after a short read for EOF, but a master hands out its
	 * buffer a few KiB per read: the rest of what the programs printed before they ended
	 * would be lost (1–4 KiB in about one run in three of a 64 MiB `tr`). Read here to
	 * EIO, without waiting: nothing can be added once the slaves are gone, so this is at
	 * most the pty's own buffers.
	 */
	#drain(master: number): void {
		const buffer = Buffer.allocUnsafe(64 * 1024);
		for (;;) {
			let n: number;
			try {
				n = readSync(master, buffer);
			} catch {
				return; // EIO: all read; EAGAIN: a slave still open, and nothing to read now
			}
			if (n === 0) return;
			this.push(Buffer.from(buffer.subarray(0, n)));
		}
	}

	#endOnceConfirmed(): void {
		this.sidecar
			.call(
				MessageType.ALIVE,
				(w) => encodeHandle(w, this.handle),
				() => undefined,
			)
			.then(
				() => this.#end(),
				(error: PidfdError) => (error.code === ErrorCode.SIDECAR_DIED ? this.destroy(error) : this.#end()),
			);
	}
	/** Columns of the terminal. */
	get cols(): number {
		return this.#cols;
	}

	/** Rows of the terminal. */
	get rows(): number {
		return this.#rows;
	}

	/** Sets the window size (TIOCSWINSZ): the terminal's foreground job gets SIGWINCH. */
	async resize(cols: number, rows: number): Promise<void> {
		for (const [name, value] of [
			['cols', cols],
			['rows', rows],
		] as const) {
			if (!Number.isInteger(value) || value < 1 || value > 65535)
				throw new InvalidArgumentError(`resize(): ${name} must be an integer in 1..65535, got ${String(value)}`);
		}
		await this.sidecar.call(
			MessageType.RESIZE,
			(w) => encodeResize(w, this.handle, cols, rows),
			() => undefined,
		);
		this.#cols = cols;
		this.#rows = rows;
	}

	/** Whether setRawMode(true) is in force (a new terminal starts cooked). */
	get isRaw(): boolean {
		return this.#raw;
	}

	/**
	 * The terminal's line discipline raw (as cfmakeraw: what is written reaches the program
	 * byte by byte, no echo, `\x03` no SIGINT, no CR/NL translation) or back to a new
	 * terminal's cooked defaults. The program on the terminal may change the mode itself
	 * (a shell's line editor, `vi`): this sets it as of the call, as `stty raw` would.
	 */
	async setRawMode(enabled: boolean): Promise<void> {
		if (typeof enabled !== 'boolean') throw new InvalidArgumentError(`setRawMode(): enabled must be a boolean, got ${typeof enabled}`);
		await this.sidecar.call(
			MessageType.RAW,
			(w) => encodeRaw(w, this.handle, enabled),
			() => undefined,
		);
		this.#raw = enabled;
	}

	override _read(): void {
		this.#output.resume();
	}

	override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
		this.#input.write(chunk, callback);
	}

	override _final(callback: (error?: Error | null) => void): void {
		this.#input.end(callback);
	}

	override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
		this.#input.destroy();
		this.#output.destroy();
		callback(error);
	}
}
