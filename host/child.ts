import type { Readable, Writable } from 'node:stream';
import type { ExitInfo } from '../schemas/exit.js';
import type { Scope, TreeKillOptions } from './cgroup/scope.js';
import { PidfdError } from './errors.js';
import { killTree, waitTree } from './tree.js';
import { exitFromEvent } from './exit.js';
import { ProcessHandle } from './handle.js';
import { openPipeEnd, type PipeOnRead } from './pipes.js';
import type { Sidecar } from './sidecar.js';

/** One end of a child's pipe as SPAWNED reports it. */
export interface PipeEnd {
	childFd: number;
	sidecarFd: number;
}

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
	/** Every pipe by child fd: `stdio[3]` for `stdio: [..., 'pipe']`. */
	readonly stdio: (Readable | Writable | null)[] = [];

	/** @internal Use `spawn()` or `Command#spawn()`. */
	constructor(sidecar: Sidecar, handle: number, pid: number, pipes: readonly PipeEnd[], stdioCount: number, onread?: PipeOnRead) {
		super(sidecar, handle, pid);
		sidecar.ref();
		for (let fd = 0; fd < stdioCount; fd++) this.stdio.push(null);
		const sidecarPid = sidecar.hello!.pid;
		try {
			for (const { childFd, sidecarFd } of pipes) {
				this.stdio[childFd] = openPipeEnd(sidecarPid, sidecarFd, childFd === 0, onread?.[childFd]);
			}
		} catch (error) {
			// EMFILE, say: the caller gets no Child, so this one must not hold the loop.
			for (const stream of this.stdio) stream?.destroy();
			sidecar.unwatch(handle);
			sidecar.unref();
			throw error;
		}
		this.stdin = (this.stdio[0] as Writable | null) ?? null;
		this.stdout = (this.stdio[1] as Readable | null) ?? null;
		this.stderr = (this.stdio[2] as Readable | null) ?? null;
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
	#scope: Scope | undefined;

	/** The scope (cgroup) holding the child and its whole tree: spawned with `contain`, or by `scope.spawn()`. */
	get scope(): Scope | undefined {
		return this.#scope;
	}

	/** @internal */
	attachScope(scope: Scope): void {
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
			this.kill(killSignal).catch(() => {}); // ESRCH: it ended meanwhile, which is what we want
			if (forceKillAfter !== false) {
				forceTimer = setTimeout(() => this.kill('SIGKILL').catch(() => {}), forceKillAfter);
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
		const exit = exitFromEvent(body);
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
