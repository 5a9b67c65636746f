import { closeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { ExitInfo } from '../../schemas/exit.js';
import { describeRunEnd, InvalidArgumentError, PidfdError, RunError } from '../../schemas/errors.js';
import { collect } from './output.js';
import { reportDetached } from './report.js';
import { killTree, type TreeKillOptions, waitTree } from './tree.js';
import { ProcessHandle } from './handle.js';
import { markHandover } from './handover.js';
import { hostFdOf, openPipeEnd, type PipeOnRead } from './pipes.js';
import { RelayReadable, RelayWritable } from './relay.js';
import { Terminal } from './terminal.js';
import type { Sidecar } from '../sidecar/connection.js';
import { decodeExit, type PipeEnd } from '../sidecar/messages.js';

export interface OutputOptions {
	/** 'utf8' gives strings; default 'buffer' gives Buffers. */
	encoding?: 'buffer' | 'utf8';
	/** Most bytes kept per stream; past it the child is killed. Default 64 MiB; Infinity: no limit. */
	maxBuffer?: number;
}

export interface ChildOutput<T = Buffer | string> {
	stdout: T;
	stderr: T;
	exit: ExitInfo;
}

/** A stdio entry carried by the relay transport: the child's fd and its direction. */
export interface Relay {
	fd: number;
	toChild: boolean;
	/** One side of a terminal's pty master, not a stdio stream of its own. */
	terminal?: boolean;
}

/** A terminal child's size, and the pty master the host opened for it (else it is relayed). */
export interface TerminalSetup {
	size: { cols: number; rows: number };
	master?: number | undefined;
}

/** What a child needs of the cgroup scope holding its tree (host/cgroup's Scope). */
export interface ChildScope {
	kill(options?: TreeKillOptions): Promise<void>;
	annotateExit(exit: ExitInfo, child: Child): ExitInfo;
}

/**
 * Filled in by host/cgroup (declaration merging) with `scope: Scope`, so `child.scope` has
 * the Scope type while this layer never imports the one above it.
 */
// biome-ignore lint/suspicious/noEmptyInterface: a registry for declaration merging
export interface ScopeRegistry {}
type ScopeType = ScopeRegistry extends { scope: infer S } ? S : ChildScope;

/**
 * A child spawned by the sidecar. Like Node's ChildProcess it keeps the host's event loop
 * alive while it runs.
 */
export class Child extends ProcessHandle {
	/** The child's fd 0 when it is `'pipe'`, else null. */
	readonly stdin: Writable | null = null;
	/** The child's fd 1 when it is `'pipe'`, else null. */
	readonly stdout: Readable | null = null;
	/** The child's fd 2 when it is `'pipe'`, else null. */
	readonly stderr: Readable | null = null;
	/**
	 * The pty master of a child spawned with `terminal`: read what its programs print, write
	 * keystrokes, `resize()`. Its `stdin`, `stdout` and `stderr` are null then, as in Bun.
	 */
	readonly terminal: Terminal | null = null;
	/** Every pipe by child fd: `stdio[3]` for `stdio: [..., 'pipe']`. */
	readonly stdio: (Readable | Writable | null)[] = [];

	/** @internal Use `spawn()` or `Command#spawn()`. */
	constructor(
		sidecar: Sidecar,
		handle: number,
		pid: number,
		pipes: readonly PipeEnd[],
		relays: readonly Relay[],
		stdioCount: number,
		onread?: PipeOnRead,
		pty?: TerminalSetup,
	) {
		super(sidecar, handle, pid);
		sidecar.ref();
		for (let fd = 0; fd < stdioCount; fd++) this.stdio.push(null);
		const sidecarPid = sidecar.hello!.pid;
		try {
			for (const { childFd, sidecarFd } of pipes) {
				const stream = openPipeEnd(sidecarPid, sidecarFd, childFd === 0, onread?.[childFd]);
				this.stdio[childFd] = stream;
				const hostFd = hostFdOf(stream);
				if (hostFd !== undefined) markHandover(stream, { sidecar, handle, childFd, hostFd });
			}
			let keys: RelayWritable | undefined;
			let screen: RelayReadable | undefined;
			for (const { fd, toChild, terminal } of relays) {
				// A terminal's screen flows at once; a stdio stream waits for its reader (RELAY_LAZY).
				const stream = toChild ? new RelayWritable(sidecar, handle, fd) : new RelayReadable(sidecar, handle, fd, !terminal);
				if (!terminal) {
					this.stdio[fd] = stream;
					markHandover(stream, { sidecar, handle, childFd: fd, detach: () => stream.handOver() });
				} else if (toChild) keys = stream as RelayWritable;
				else screen = stream as RelayReadable;
			}
			if (pty?.master !== undefined && keys) this.terminal = new Terminal(sidecar, handle, { input: keys, master: pty.master }, pty.size);
			else if (keys && screen) this.terminal = new Terminal(sidecar, handle, { input: keys, output: screen }, pty?.size ?? { cols: 80, rows: 24 });
		} catch (error) {
			// EMFILE, say: the caller gets no Child, so this one must not hold the loop.
			for (const stream of this.stdio) stream?.destroy();
			if (this.terminal) this.terminal.destroy();
			else if (pty?.master !== undefined) closeSync(pty.master);
			sidecar.unwatch(handle);
			sidecar.unref();
			throw error;
		}
		this.stdin = (this.stdio[0] as Writable | null) ?? null;
		this.stdout = (this.stdio[1] as Readable | null) ?? null;
		this.stderr = (this.stdio[2] as Readable | null) ?? null;
	}

	/**
	 * Reads the child's piped stdout and stderr to their end and waits for it, like Rust's
	 * `wait_with_output()` and Deno's `output()`. A piped stdin is closed first, so a child
	 * reading it to EOF cannot wait for us while we wait for it. Streams that are not
	 * `'pipe'` give empty output. Past `maxBuffer` bytes on a stream (default 64 MiB,
	 * `Infinity`: none) the child is killed and this rejects with a RunError.
	 */
	output(options: OutputOptions & { encoding: 'utf8' }): Promise<ChildOutput<string>>;
	output(options?: OutputOptions & { encoding?: 'buffer' }): Promise<ChildOutput<Buffer>>;
	async output(options: OutputOptions = {}): Promise<ChildOutput> {
		const { encoding = 'buffer', maxBuffer = 64 * 1024 * 1024 } = options;
		if (!(maxBuffer === Number.POSITIVE_INFINITY || (Number.isSafeInteger(maxBuffer) && maxBuffer > 0))) {
			throw new InvalidArgumentError(`output(): maxBuffer must be a positive integer or Infinity, got ${String(maxBuffer)}`);
		}
		let overflow = false;
		const onOverflow = () => {
			if (overflow) return;
			overflow = true;
			this.kill('SIGKILL').catch(reportDetached);
		};
		if (this.stdin && !this.stdin.writableEnded) this.stdin.end();
		const [exit, stdout, stderr] = await Promise.all([this.wait(), collect(this.stdout, maxBuffer, onOverflow), collect(this.stderr, maxBuffer, onOverflow)]);
		const decode = (b: Buffer) => (encoding === 'utf8' ? b.toString('utf8') : b);
		const result = { stdout: decode(stdout), stderr: decode(stderr), exit };
		if (overflow) {
			throw new RunError(describeRunEnd(`process ${this.pid}`, [], 'maxBuffer', exit, { maxBuffer }), 'maxBuffer', result.stdout, result.stderr, exit);
		}
		return result;
	}

	/**
	 * `await using child = await spawn(...)`: on leaving the scope a child still running is
	 * killed (SIGKILL, so leaving cannot hang on a child that ignores SIGTERM) and reaped.
	 * A child lost with its sidecar is already gone: nothing to do.
	 */
	async [Symbol.asyncDispose](): Promise<void> {
		if (this.settled) return;
		await this.kill('SIGKILL');
		await this.wait();
	}

	/** Why pidfd ended the child, if it did: its `timeout` passed, or its `signal` aborted. */
	get terminatedBy(): 'timeout' | 'abort' | undefined {
		return this.#terminatedBy;
	}

	#terminatedBy: 'timeout' | 'abort' | undefined;
	#disarm: (() => void) | undefined;
	#detached = false;
	#refed = true;

	/** Spawned `detached`: it outlives the host, and `shutdown()` leaves it running. */
	get detached(): boolean {
		return this.#detached;
	}

	/** @internal */
	markDetached(): void {
		this.#detached = true;
	}

	/**
	 * Lets the host's event loop end while this child runs, like Node's `ChildProcess#unref()`.
	 * A child that is not `detached` is still killed when the host exits.
	 */
	unref(): this {
		if (this.#refed && !this.settled) this.sidecar.unref();
		this.#refed = false;
		return this;
	}

	/** Undoes `unref()`: the running child keeps the event loop alive again. */
	ref(): this {
		if (!this.#refed && !this.settled) this.sidecar.ref();
		this.#refed = true;
		return this;
	}
	#scope: ChildScope | undefined;

	/** The scope (cgroup) holding the child and its whole tree: spawned with `contain`, or by `scope.spawn()`. */
	get scope(): ScopeType | undefined {
		return this.#scope as ScopeType | undefined;
	}

	/** @internal */
	attachScope(scope: ChildScope): void {
		this.#scope = scope;
	}

	/**
	 * Ends the child's whole tree. A contained child (`contain`, or a Scope): `scope.kill()`,
	 * which nothing escapes, whatever sessions, process groups or double forks it used, and
	 * which removes the cgroup; in a shared scope that is every process of the scope. Any other
	 * child: the same phases over a walk of its descendants (`killTree()` of the module), which
	 * cannot see processes that double-forked away from the tree.
	 */
	async killTree(options: TreeKillOptions = {}): Promise<void> {
		if (this.#scope) return this.#scope.kill(options);
		if (this.exited) return;
		if (options.graceful !== undefined) {
			await killTree(this, options.graceful).catch(ignoreGone);
			const grace = new Promise((resolve) => setTimeout(resolve, options.gracePeriod ?? 5000).unref());
			await Promise.race([waitTree(this), grace]);
		}
		if (!this.exited) await killTree(this, 'SIGKILL').catch(ignoreGone);
	}

	/**
	 * @internal Arms `timeout` and `signal`: when one fires, `killSignal`, then SIGKILL after
	 * `forceKillAfter` ms if the child is still there.
	 */
	armTermination(options: { timeout?: number | undefined; signal?: AbortSignal | undefined; killSignal: number; forceKillAfter: number | false }): void {
		const { timeout, signal, killSignal, forceKillAfter } = options;
		if (timeout === undefined && signal === undefined) return;
		let timer: ReturnType<typeof setTimeout> | undefined;
		let forceTimer: ReturnType<typeof setTimeout> | undefined;
		const terminate = (why: 'timeout' | 'abort') => {
			if (this.exited || this.#terminatedBy) return;
			this.#terminatedBy = why;
			this.kill(killSignal).catch(reportDetached);
			if (forceKillAfter !== false) {
				forceTimer = setTimeout(() => this.kill('SIGKILL').catch(reportDetached), forceKillAfter);
			}
		};
		const onAbort = () => terminate('abort');
		if (timeout !== undefined) timer = setTimeout(() => terminate('timeout'), timeout);
		if (signal) {
			if (signal.aborted) queueMicrotask(onAbort);
			else signal.addEventListener('abort', onAbort, { once: true });
		}
		this.#disarm = () => {
			clearTimeout(timer);
			clearTimeout(forceTimer);
			signal?.removeEventListener('abort', onAbort);
		};
	}

	protected decodeExit(_type: number, body: Buffer): ExitInfo {
		const exit = decodeExit(body);
		return this.#scope ? this.#scope.annotateExit(exit, this) : exit;
	}

	protected override onSettled(): void {
		this.#disarm?.();
		if (this.#refed) this.sidecar.unref();
	}
}

/** A tree that ended on its own while we were about to end it: that is what we wanted. */
function ignoreGone(error: unknown): void {
	if (!(error instanceof PidfdError && error.code === 'ESRCH')) throw error;
}
