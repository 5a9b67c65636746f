import type { ExitEvent } from '../schemas/bridge.js';
import type { ExitInfo } from '../schemas/exit.js';
import type { PidfdError } from '../schemas/errors.js';
import { type InputFeed, type Link, type OutputFeed, inputStream, outputStream } from './streams.js';
import { FRAME_EOF } from '../schemas/bridge-wire.js';

export interface RemoteKillOptions {
	/** Signal the child's process group (it must have been spawned with `processGroup` or `setsid`). */
	group?: boolean;
}

/** A remote child's terminal: the library's `child.terminal`, with Web streams. */
export interface RemoteTerminal {
	/** What the programs on the terminal print (the pty master's output). */
	readonly readable: ReadableStream<Uint8Array>;
	/** Keystrokes (strings are sent as UTF-8). Closing it sends EOF: the pty master's side is let go. */
	readonly writable: WritableStream<Uint8Array | string>;
	/** Sets the window size (1..65535 each); the terminal's foreground job gets SIGWINCH. */
	resize(cols: number, rows: number): Promise<void>;
	/** Columns, as last set. */
	readonly cols: number;
	/** Rows, as last set. */
	readonly rows: number;
}

/** What a child needs from its connection beyond stream traffic. */
export interface ChildLink extends Link {
	request(message: { type: string; [key: string]: unknown }): Promise<unknown>;
}

/**
 * A process the host spawned for this connection: the same shape as the local library's
 * Child, with Web streams instead of Node streams.
 */
export class RemoteChild {
	/** The pid on the host, for display and logs. */
	readonly pid: number;
	/** The child's stdin when it is 'pipe' (strings are sent as UTF-8), else null. */
	readonly stdin: WritableStream<Uint8Array | string> | null;
	/** The child's stdout when it is 'pipe', else null. */
	readonly stdout: ReadableStream<Uint8Array> | null;
	/** The child's stderr when it is 'pipe', else null. */
	readonly stderr: ReadableStream<Uint8Array> | null;
	/** The child's terminal when it was spawned with `terminal` (stdin, stdout and stderr are null then), else null. */
	readonly terminal: RemoteTerminal | null;

	readonly #link: ChildLink;
	readonly #id: number;
	readonly #input: InputFeed | undefined;
	readonly #outputs = new Map<number, OutputFeed>();
	#exit: ExitInfo | undefined;
	#terminatedBy: 'timeout' | 'abort' | undefined;
	#lost: PidfdError | undefined;
	readonly #waiting: Promise<ExitInfo>;
	#settle!: (exit: ExitInfo) => void;
	#fail!: (error: PidfdError) => void;

	/** @internal Made by `spawn()` from the server's reply. */
	constructor(
		link: ChildLink,
		id: number,
		pid: number,
		stdio: readonly ('pipe' | 'ignore')[],
		stdinWindow: number,
		window: number,
		terminalSize?: { cols: number; rows: number },
	) {
		this.#link = link;
		this.#id = id;
		this.pid = pid;
		this.#waiting = new Promise<ExitInfo>((resolve, reject) => {
			this.#settle = resolve;
			this.#fail = reject;
		});
		// Nobody may ever call wait(): an unobserved rejection must not be reported as a crash.
		this.#waiting.catch(() => {});
		if (terminalSize) {
			// The pty master travels as fd 0 (keystrokes) and fd 1 (what the terminal shows).
			this.#input = inputStream(link, id, stdinWindow);
			this.#outputs.set(1, outputStream(link, id, 1, window));
			this.terminal = remoteTerminal(this.#input.stream, this.#outputs.get(1)!.stream, terminalSize, (cols, rows) =>
				this.#link.request({ type: 'resize', child: this.#id, cols, rows }).then(() => undefined),
			);
			this.stdin = null;
			this.stdout = null;
			this.stderr = null;
			return;
		}
		this.terminal = null;
		this.#input = stdio[0] === 'pipe' ? inputStream(link, id, stdinWindow) : undefined;
		for (const fd of [1, 2] as const) if (stdio[fd] === 'pipe') this.#outputs.set(fd, outputStream(link, id, fd, window));
		this.stdin = this.#input?.stream ?? null;
		this.stdout = this.#outputs.get(1)?.stream ?? null;
		this.stderr = this.#outputs.get(2)?.stream ?? null;
	}

	/** Sends a signal (default SIGTERM) through the host's pidfd. Rejects ESRCH once the child has ended. */
	/**
	 * Sends a signal. Resolves `true` when delivered and `false` when the child had already
	 * ended, as the library's `kill()` does; other failures reject.
	 */
	kill(signal: string | number = 'SIGTERM', options: RemoteKillOptions = {}): Promise<boolean> {
		if (this.#lost) return Promise.reject(this.#lost);
		if (this.#exit) return Promise.resolve(false);
		const message: { type: string; [key: string]: unknown } = { type: 'kill', child: this.#id, signal };
		if (options.group) message.group = true;
		return this.#link.request(message).then((reply) => (reply as { delivered?: boolean }).delivered !== false);
	}

	/** Resolves with how the child ended; every call gives the same ExitInfo. */
	wait(): Promise<ExitInfo> {
		return this.#waiting;
	}

	/** How the child ended, or undefined while it runs. Never blocks. */
	tryWait(): ExitInfo | undefined {
		if (this.#lost && !this.#exit) throw this.#lost;
		return this.#exit;
	}

	/** True once the child has ended. */
	get exited(): boolean {
		return this.#exit !== undefined;
	}

	/** Why the host ended the child, if it did: its `timeout` passed (or the policy's maxRuntime), or `signal` aborted. */
	get terminatedBy(): 'timeout' | 'abort' | undefined {
		return this.#terminatedBy;
	}

	/** @internal */
	onExit(event: ExitEvent): void {
		if (this.#exit) return;
		this.#exit = event.exit;
		if (event.terminatedBy) this.#terminatedBy ??= event.terminatedBy;
		this.#settle(event.exit);
	}

	/** @internal Marks an abort from the client side, so terminatedBy says 'abort'. */
	markAborted(): void {
		this.#terminatedBy ??= 'abort';
	}

	/** @internal */
	onFrame(fd: number, flags: number, data: Uint8Array): void {
		const feed = this.#outputs.get(fd);
		if (!feed) return;
		if (data.byteLength > 0) feed.push(data);
		if (flags & FRAME_EOF) feed.end();
	}

	/** @internal stdin credit from the server. */
	onCredit(bytes: number): void {
		this.#input?.credit(bytes);
	}

	/** @internal A stream of this child failed on the host (stdin EPIPE, a read error). */
	onStreamError(fd: number | undefined, error: PidfdError): void {
		if (fd === 0) this.#input?.fail(error);
		else if (fd !== undefined) this.#outputs.get(fd)?.fail(error);
		else if (!this.#exit) {
			// No fd: the host lost the process itself (its sidecar died), so wait() cannot succeed.
			this.#lost = error;
			this.#fail(error);
		}
	}

	/** @internal The connection is gone: whatever was pending fails. */
	onLost(error: PidfdError): void {
		this.#input?.fail(error);
		for (const feed of this.#outputs.values()) feed.fail(error);
		if (this.#exit) return;
		this.#lost = error;
		this.#fail(error);
	}
}

/** The terminal handle; the host checks sizes, refusing a bad one with EINVAL. */
function remoteTerminal(
	writable: WritableStream<Uint8Array | string>,
	readable: ReadableStream<Uint8Array>,
	size: { cols: number; rows: number },
	send: (cols: number, rows: number) => Promise<void>,
): RemoteTerminal {
	let { cols, rows } = size;
	return {
		readable,
		writable,
		get cols() {
			return cols;
		},
		get rows() {
			return rows;
		},
		async resize(newCols: number, newRows: number) {
			await send(newCols, newRows);
			cols = newCols;
			rows = newRows;
		},
	};
}
