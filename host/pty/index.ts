/**
 * pidfd/pty: node-pty's `IPty` surface on pidfd terminals, so projects can swap the import
 * (`import * as pty from 'pidfd/pty'`) and run on Node, Bun and Deno with nothing to compile.
 *
 * The difference that matters: node-pty forks synchronously, pidfd spawns through its sidecar,
 * so `spawn()` returns at once and the process starts a moment later. Until then `pid` is 0,
 * and what is written or resized is queued; `ready` resolves once it runs (or rejects, e.g.
 * ENOENT, which node-pty would report through `onExit` with code 1: here `onExit` fires too).
 * `onExit` comes after the last `onData` (the process ended and its terminal drained).
 */
import { type Child, type ExitInfo, spawn as spawnChild } from '../index.js';

export interface IPtyForkOptions {
	/** TERM of the child. Default 'xterm-256color' (node-pty: 'xterm'). */
	name?: string;
	cols?: number;
	rows?: number;
	cwd?: string;
	env?: Record<string, string | undefined>;
	/** 'utf8' (default) gives strings to onData; null gives Buffers. */
	encoding?: string | null;
}

export interface IDisposable {
	dispose(): void;
}

export interface IPtyExit {
	exitCode: number;
	/** The number of the signal that ended it, if one did. */
	signal?: number;
}

export interface IPty {
	/** 0 until the process has started (see `ready`). */
	readonly pid: number;
	readonly cols: number;
	readonly rows: number;
	/** The program, as given. */
	readonly process: string;
	/** Resolves once the process runs; rejects if it could not start. */
	readonly ready: Promise<void>;
	onData(listener: (data: string | Buffer) => void): IDisposable;
	onExit(listener: (exit: IPtyExit) => void): IDisposable;
	write(data: string | Buffer): void;
	resize(cols: number, rows: number): void;
	/** Default SIGHUP, as node-pty. */
	kill(signal?: string): void;
	pause(): void;
	resume(): void;
}

/** Starts `file` on a new terminal; node-pty's `spawn()`. */
export function spawn(file: string, args: string[] | string = [], options: IPtyForkOptions = {}): IPty {
	return new Pty(file, typeof args === 'string' ? [args] : args, options);
}

class Pty implements IPty {
	pid = 0;
	cols: number;
	rows: number;
	readonly process: string;
	readonly ready: Promise<void>;
	#child: Child | undefined;
	#queue: ((child: Child) => void)[] = [];
	#data = new Set<(data: string | Buffer) => void>();
	#exit = new Set<(exit: IPtyExit) => void>();
	#paused = false;

	constructor(file: string, args: string[], options: IPtyForkOptions) {
		this.process = file;
		this.cols = options.cols ?? 80;
		this.rows = options.rows ?? 24;
		const encoding = options.encoding === undefined ? 'utf8' : options.encoding;
		const started = spawnChild(file, args, {
			terminal: { cols: this.cols, rows: this.rows, ...(options.name && { name: options.name }) },
			...(options.cwd !== undefined && { cwd: options.cwd }),
			...(options.env !== undefined && { env: options.env }),
		});
		this.ready = started.then((child) => {
			this.#child = child;
			this.pid = child.pid;
			const terminal = child.terminal!;
			if (encoding) terminal.setEncoding(encoding as BufferEncoding);
			terminal.on('data', (data: string | Buffer) => {
				for (const listener of this.#data) listener(data);
			});
			// What node-pty reports too: a write to a terminal that has gone is not fatal.
			terminal.on('error', () => {});
			if (this.#paused) terminal.pause();
			for (const run of this.#queue) run(child);
			this.#queue = [];
			// After the last onData: the process has ended and the terminal has no more output.
			const drained = new Promise((resolve) => terminal.once('close', resolve));
			Promise.all([child.wait(), drained]).then(
				([exit]) => this.#exited(exit),
				() => this.#exited(undefined),
			);
		});
		// A start that failed is told through onExit, as node-pty tells a failed exec.
		this.ready.catch(() => queueMicrotask(() => this.#exited(undefined)));
	}

	onData(listener: (data: string | Buffer) => void): IDisposable {
		this.#data.add(listener);
		return { dispose: () => this.#data.delete(listener) };
	}

	onExit(listener: (exit: IPtyExit) => void): IDisposable {
		this.#exit.add(listener);
		return { dispose: () => this.#exit.delete(listener) };
	}

	write(data: string | Buffer): void {
		this.#with((child) => child.terminal!.write(data));
	}

	resize(cols: number, rows: number): void {
		this.cols = cols;
		this.rows = rows;
		this.#with((child) => {
			child.terminal!.resize(cols, rows).catch(() => {
				// The terminal ended meanwhile: node-pty ignores that as well.
			});
		});
	}

	kill(signal = 'SIGHUP'): void {
		this.#with((child) => {
			child.kill(signal).catch(() => {});
		});
	}

	pause(): void {
		this.#paused = true;
		this.#child?.terminal?.pause();
	}

	resume(): void {
		this.#paused = false;
		this.#child?.terminal?.resume();
	}

	#with(run: (child: Child) => void): void {
		if (this.#child) run(this.#child);
		else this.#queue.push(run);
	}

	#exited(exit: ExitInfo | undefined): void {
		const report: IPtyExit = { exitCode: exit?.code ?? (exit ? 0 : 1) };
		if (exit?.signalNumber != null) report.signal = exit.signalNumber;
		for (const listener of this.#exit) listener(report);
		this.#exit.clear();
	}
}
