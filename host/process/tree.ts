import { InvalidArgumentError, PidfdError } from '../../schemas/errors.js';
import type { ProcessHandle } from './handle.js';
import { PidFd } from './pidfd.js';
import { listChildren } from '../kernel/procfs.js';
import { signalNumber } from '../../schemas/signals.js';

// Process trees through pidfds. The kernel offers no "descendants of this pidfd", only
// /proc/<pid>/task/<tid>/children, which names children by pid: by the time we open one,
// that pid may belong to someone else. So each listed pid is opened, and then confirmed:
// its parent (read through the new pidfd) must be the parent we listed it under, and that
// parent must still hold its pid afterwards. What passes is held by a pidfd, and every
// signal goes through one: a pid recycled at any point gets nothing.

const SIGKILL = 9;
const SIGSTOP = 19;
const SIGCONT = 18;

/** Options of the hard phase of a tree kill (`scope.kill()`, `child.killTree()`). */
export interface HardKillOptions {
	/** Give up waiting for the cgroup to empty after this many ms (processes stuck in D state). Default 10000. */
	timeout?: number;
	/** @internal Use the freezer path even when cgroup.kill exists (tests). */
	viaFreezer?: boolean;
}

/** Options of `scope.kill()` and `child.killTree()`. */
export interface TreeKillOptions extends HardKillOptions {
	/** First send this signal (e.g. 'SIGTERM') to every process and give them `gracePeriod` ms to exit. */
	graceful?: string | number;
	/** How long the graceful phase waits before the hard kill, in ms. Default 5000. */
	gracePeriod?: number;
}

export interface TreeOptions {
	/**
	 * Stop each process (SIGSTOP) before listing its children, so that none can fork a child
	 * the walk would miss: a process cannot fork once a stop signal is pending (the kernel
	 * restarts the fork after the stop). Default true for `killTree()`, false for `openTree()`
	 * and `waitTree()`, which must not stop anything.
	 */
	freeze?: boolean;
}

export interface TreeWaitOptions {
	/** How often to look for children forked since the last look, in ms. Default 100. */
	interval?: number;
	/** Stops waiting: the promise rejects with the signal's reason. */
	signal?: AbortSignal;
}

/**
 * A process and its descendants, each held by a pidfd. `members` lists every parent before
 * its children (breadth-first), the root first.
 */
export class ProcessTree {
	readonly root: ProcessHandle;
	readonly #members: ProcessHandle[];

	/** @internal Use `openTree()`, `killTree()`. */
	constructor(root: ProcessHandle, members: ProcessHandle[]) {
		this.root = root;
		this.#members = members;
	}

	get members(): readonly ProcessHandle[] {
		return this.#members;
	}

	/** The members' pids, for display. */
	get pids(): number[] {
		return this.#members.map((m) => m.pid);
	}

	/**
	 * Sends `signal` to every member still there, children before parents, through their
	 * pidfds. Resolves with the pids that got it; members that have ended (ESRCH) are skipped.
	 */
	async kill(signal: string | number = 'SIGTERM'): Promise<number[]> {
		return send([...this.#members].reverse(), signalOf(signal, 'ProcessTree.kill()'));
	}

	/**
	 * Resolves once every member has exited, including children forked meanwhile: the
	 * children of live members are listed again (and confirmed) whenever a member exits and
	 * every `interval` ms. A child forked and orphaned between two looks is not seen: nothing
	 * is left to list it under. `killTree()` first (it freezes the tree), or a cgroup, closes
	 * that gap.
	 */
	async wait(options: TreeWaitOptions = {}): Promise<void> {
		const interval = options.interval ?? 100;
		if (!Number.isInteger(interval) || interval < 1)
			throw new InvalidArgumentError(`ProcessTree.wait(): interval must be an integer ≥ 1, got ${String(interval)}`);
		const { signal } = options;
		const watched = new Set<ProcessHandle>();
		let wake: (() => void) | undefined;
		let failure: { error: unknown } | undefined;
		for (;;) {
			signal?.throwIfAborted();
			if (failure) throw failure.error;
			const live = this.#members.filter((m) => !m.exited);
			if (live.length === 0) return;
			for (const parent of live) await this.#adopt(parent, live);
			// One handler per member, however many rounds: an exit wakes the loop at once.
			for (const m of this.#members) {
				if (m.exited || watched.has(m)) continue;
				watched.add(m);
				m.wait().then(
					() => wake?.(),
					(error: unknown) => {
						failure ??= { error };
						wake?.();
					},
				);
			}
			await pause(interval, signal, (resolve) => {
				wake = resolve;
			});
		}
	}

	/** Stops watching the descendants (closes their pidfds); the root is the caller's. */
	async close(): Promise<void> {
		await Promise.all(this.#members.filter((m): m is PidFd => m !== this.root && m instanceof PidFd).map((m) => m.close()));
	}

	/** @internal Opens and adds the children of `parent` not held yet; returns them. */
	async #adopt(parent: ProcessHandle, live: readonly ProcessHandle[] = this.#members.filter((m) => !m.exited)): Promise<ProcessHandle[]> {
		const held = new Set(live.map((m) => m.pid));
		const found = await Promise.all(
			listChildren(parent.pid)
				.filter((pid) => !held.has(pid))
				.map((pid) => openChild(parent, pid)),
		);
		const added = found.filter((c): c is PidFd => c !== undefined);
		this.#members.push(...added);
		return added;
	}

	/** @internal Breadth-first walk from the root; with `freeze`, each member is stopped before it is listed. */
	async walk(freeze: boolean): Promise<void> {
		for (let i = 0; i < this.#members.length; i++) {
			const member = this.#members[i]!;
			if (freeze && !(await stop(member))) continue;
			await this.#adopt(member);
		}
	}
}

/**
 * Opens a pidfd on `pid`, listed as a child of `parent`, and confirms it: through the new
 * pidfd its parent is `parent.pid`, and `parent` still holds that pid afterwards (so the
 * parent pid was not recycled either). Undefined if `pid` is gone or now someone else's.
 */
export async function openChild(parent: ProcessHandle, pid: number): Promise<PidFd | undefined> {
	let child: PidFd;
	try {
		child = await PidFd.open(pid);
	} catch (error) {
		if (isGone(error)) return undefined;
		throw error;
	}
	try {
		const { ppid } = await child.info();
		if (ppid === parent.pid && (await parent.alive())) return child;
	} catch (error) {
		if (!isGone(error)) {
			await child.close();
			throw error;
		}
	}
	await child.close();
	return undefined;
}

/**
 * `root` and all its descendants now, each confirmed and held by a pidfd (see `openChild`).
 * Nothing is signalled unless `freeze` (then every member is left stopped: `kill()` them
 * and send SIGCONT).
 */
export async function openTree(root: ProcessHandle, options: TreeOptions = {}): Promise<ProcessTree> {
	const tree = new ProcessTree(root, [root]);
	await tree.walk(options.freeze ?? false);
	return tree;
}

/**
 * Signals a process and all its descendants through pidfds, none of which can be a process
 * that merely got a recycled pid. In order:
 *  1. freeze, parents first: each member gets SIGSTOP before its children are listed, so no
 *     member can fork one that escapes the walk (skip with `freeze: false`);
 *  2. `signal` to every member, children before parents;
 *  3. SIGCONT to every member, children before parents, so the signal is acted on (a stopped
 *     process acts on SIGKILL alone). Not sent when `signal` is SIGKILL or SIGSTOP. A member
 *     that was stopped before the call is resumed too.
 * Resolves with the tree (`tree.wait()` for the end of it all; `tree.close()` if you don't
 * wait). Rejects ESRCH if the root has already ended.
 */
export async function killTree(root: ProcessHandle, signal: string | number = 'SIGTERM', options: TreeOptions = {}): Promise<ProcessTree> {
	const number = signalOf(signal, 'killTree()');
	const freeze = options.freeze ?? true;
	if (root.exited) throw new PidfdError('ESRCH', `pidfd_send_signal ESRCH: process ${root.pid} has exited`, { syscall: 'pidfd_send_signal', pid: root.pid });
	const tree = new ProcessTree(root, [root]);
	let reached: number[] = [];
	try {
		await tree.walk(freeze);
		reached = await send([...tree.members].reverse(), number);
	} finally {
		// Also after a failed walk: never leave stopped processes behind.
		if (freeze && number !== SIGKILL && number !== SIGSTOP) await send([...tree.members].reverse(), SIGCONT).catch(() => {});
	}
	if (!reached.includes(root.pid)) {
		await tree.close();
		throw new PidfdError('ESRCH', `pidfd_send_signal ESRCH: process ${root.pid} has exited`, { syscall: 'pidfd_send_signal', pid: root.pid });
	}
	return tree;
}

/** Resolves once `root` and every descendant has exited (see `ProcessTree.wait()`). */
export async function waitTree(root: ProcessHandle, options: TreeWaitOptions = {}): Promise<void> {
	const tree = await openTree(root);
	try {
		await tree.wait(options);
	} finally {
		await tree.close();
	}
}

/** SIGSTOP through the pidfd; false if the member has ended meanwhile. */
async function stop(member: ProcessHandle): Promise<boolean> {
	try {
		return await member.kill(SIGSTOP);
	} catch (error) {
		if (isGone(error)) return false;
		throw error;
	}
}

/**
 * Signals in the order given. The requests leave together and the sidecar handles them in
 * order, so the order holds at one round trip's cost.
 */
async function send(members: readonly ProcessHandle[], signal: number): Promise<number[]> {
	const results = await Promise.allSettled(members.map((m) => m.kill(signal)));
	const reached: number[] = [];
	let failure: unknown;
	results.forEach((r, i) => {
		if (r.status === 'fulfilled') {
			if (r.value) reached.push(members[i]!.pid);
		} else if (!isGone(r.reason)) failure ??= r.reason;
	});
	if (failure !== undefined) throw failure;
	return reached;
}

function signalOf(signal: string | number, what: string): number {
	const number = signalNumber(signal);
	if (number === undefined) throw new InvalidArgumentError(`${what}: ${String(signal)} is not a signal name or number in 1..64`);
	return number;
}

function isGone(error: unknown): boolean {
	return error instanceof PidfdError && (error.code === 'ESRCH' || error.code === 'ENOENT');
}

/** Waits `ms`, or until the function handed to `register` is called; rejects when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined, register: (wake: () => void) => void): Promise<void> {
	return new Promise<void>((resolve, reject) => {
		const done = () => {
			clearTimeout(timer);
			signal?.removeEventListener('abort', onAbort);
			resolve();
		};
		const onAbort = () => {
			clearTimeout(timer);
			reject(signal!.reason);
		};
		const timer = setTimeout(done, ms);
		signal?.addEventListener('abort', onAbort, { once: true });
		register(done);
	});
}
