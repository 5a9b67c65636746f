// A terminal child's pty master, as one Duplex: what the programs on the terminal write comes
// out of it, keystrokes go into it. Both directions ride the relay (relay.ts), on every
// runtime, under the same credit windows: a host that stops reading stops the child.
import { Duplex } from 'node:stream';
import { InvalidArgumentError } from '../../schemas/errors.js';
import type { Sidecar } from '../sidecar/connection.js';
import { encodeRaw, encodeResize } from '../sidecar/messages.js';
import { MessageType } from '../sidecar/protocol.js';
import type { RelayReadable, RelayWritable } from './relay.js';

export class Terminal extends Duplex {
	#cols: number;
	#rows: number;
	#raw = false;

	/** @internal Built by Child for a `terminal` spawn. */
	constructor(
		private readonly sidecar: Sidecar,
		private readonly handle: number,
		private readonly input: RelayWritable,
		private readonly output: RelayReadable,
		size: { cols: number; rows: number },
	) {
		super({ allowHalfOpen: true });
		this.#cols = size.cols;
		this.#rows = size.rows;
		output.on('data', (chunk: Buffer) => {
			if (!this.push(chunk)) output.pause();
		});
		// The pty's EOF (EIO once the last slave closed) arrives as a plain end: no error. Then
		// nothing can read keystrokes any more: the writable side finishes first (the sidecar
		// lets go of the master), and only then the readable side ends, so the Duplex is done
		// both ways and `for await` over it ends cleanly instead of destroying it unfinished.
		output.once('end', () => this.end(() => this.push(null)));
		output.once('error', (error) => this.destroy(error));
		input.once('error', (error) => this.destroy(error));
		// As for relayed streams: the sidecar's death reaches everyone through wait(); a terminal
		// nobody listens to must not make it an uncaught 'error' that ends the host.
		this.on('error', () => {});
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
		this.output.resume();
	}

	override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
		this.input.write(chunk, callback);
	}

	override _final(callback: (error?: Error | null) => void): void {
		this.input.end(callback);
	}

	override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
		this.input.destroy();
		this.output.destroy();
		callback(error);
	}
}
