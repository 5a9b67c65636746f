import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { type Limits, ScopeOptions } from '../../schemas/cgroup.js';
import type { ExitInfo } from '../../schemas/exit.js';
import type { TreeKillOptions } from '../process/tree.js';
import type { Child } from '../process/child.js';
import { InvalidArgumentError, PidfdError } from '../../schemas/errors.js';
import type { SpawnOptions } from '../../schemas/spawn.js';
import { spawnChild } from '../process/spawn.js';
import { toWire } from '../process/spawn-request.js';
import { hierarchyPath } from '../kernel/cgroup2.js';
import { eventValue, waitForEvent } from './events.js';
import { fsError, readKeyed, readPids, writeControl } from './fs.js';
import { killAll, signalMembers, subtree } from './kill.js';
import { applyLimits, controllersFor } from './limits.js';
import { prepareRoot, removeTree } from './root.js';
import { type CgroupUsage, readUsage } from './accounting.js';

export type { ScopeOptions, TreeKillOptions };

// `child.scope` is typed as this class: the process layer leaves the type open for the
// layer above it to fill in, without importing it (see ScopeRegistry in process/child.ts).
declare module '../process/child.js' {
	interface ScopeRegistry {
		scope: Scope;
	}
}

/** Spawn options inside a scope: everything but the cgroup, which the scope chooses. */
export type ScopeSpawnOptions = Omit<SpawnOptions, 'contain' | 'limits' | 'cgroup'>;

let counter = 0;
const live = new Set<Scope>();

/**
 * A cgroup2 directory that holds a group of processes and everything they start. Children are
 * spawned straight into it (clone3 with CLONE_INTO_CGROUP: no moment outside it), and no
 * descendant can leave it by `setsid`, double forks or a new process group. `kill()` ends
 * every one of them and removes the directory.
 */
export class Scope {
	/** The cgroup directory, e.g. '/sys/fs/cgroup/…/pidfd-1234/scope-1'. */
	readonly path: string;
	/** 'child': made by `spawn(…, { contain })` for one child's tree; 'shared': by `Scope.create()` or found by `cgroupOf()`. */
	readonly kind: 'child' | 'shared';
	/** The budgets written to the cgroup, if any. */
	readonly limits: Readonly<Limits> | undefined;
	readonly #hierarchyPath: string;
	#final: CgroupUsage | undefined;
	#oomKills: number | undefined;
	#killing: Promise<void> | undefined;
	#owner: Child | undefined;
	#detached = false;
	#created: boolean;

	private constructor(path: string, kind: 'child' | 'shared', limits: Limits | undefined, created: boolean) {
		this.path = path;
		this.kind = kind;
		this.limits = limits;
		this.#created = created;
		this.#hierarchyPath = hierarchyPath(path) ?? path;
	}

	/**
	 * Creates a fresh cgroup under the root (see `ScopeOptions.root`) and writes its budgets.
	 * Rejects with a PidfdError naming what is missing when there is no writable cgroup2 tree
	 * or a budget's controller; nothing is left behind then.
	 */
	static async create(options: ScopeOptions = {}): Promise<Scope> {
		return Scope.#create(options, 'shared');
	}

	static async #create(options: ScopeOptions, kind: 'child' | 'shared'): Promise<Scope> {
		return Scope.createSync(options, kind);
	}

	/** @internal The same, for runSync(): making a cgroup waits for nothing. */
	static createSync(options: ScopeOptions, kind: 'child' | 'shared'): Scope {
		const parsed = ScopeOptions.safeParse(options);
		if (!parsed.success) {
			const issue = parsed.error.issues[0]!;
			throw new InvalidArgumentError(`scope options: ${issue.path.join('.')} ${issue.message}`, { cause: parsed.error });
		}
		const { root: explicit, name, limits } = parsed.data;
		const root = prepareRoot(explicit);
		// The host's pid in the name: hosts can share an explicit root.
		const path = `${root}/${name ?? `${kind === 'child' ? 'child' : 'scope'}-${process.pid}-${++counter}`}`;
		try {
			mkdirSync(path);
		} catch (error) {
			tryRemoveDefaultRoot(root);
			throw fsError(error, 'cannot create the scope cgroup');
		}
		const scope = new Scope(path, kind, limits, true);
		try {
			if (limits && controllersFor(limits).length > 0) applyLimits(root, path, limits);
		} catch (error) {
			scope.#remove();
			throw error;
		}
		live.add(scope);
		armExitHook();
		return scope;
	}

	/**
	 * A scope over an existing cgroup2 directory, e.g. one `cgroupOf()` found. `kill()` and
	 * `usage()` work on it as on one created here.
	 */
	static open(path: string, kind: 'child' | 'shared' = 'shared'): Scope {
		if (!existsSync(`${path}/cgroup.procs`)) throw new PidfdError('ENOENT', `${path} is not a cgroup directory`, { syscall: 'open', path });
		return new Scope(path, kind, undefined, false);
	}

	/** True once the cgroup directory has been removed (after `kill()`, or when a contained child's tree ended). */
	get removed(): boolean {
		return this.#final !== undefined;
	}

	/** Starts a child inside this scope; it and everything it starts stay in it. */
	spawn(file: string, args: readonly string[] = [], options: ScopeSpawnOptions = {}): Promise<Child> {
		return this.#spawn(file, args, options, false);
	}

	/**
	 * @internal `spawn(file, args, { contain, limits })`: a fresh scope for one child, removed
	 * again if the child cannot start.
	 */
	static async spawnContained(file: string, args: readonly string[], options: SpawnOptions): Promise<Child> {
		const { contain, limits, ...rest } = options;
		if (rest.cgroup !== undefined) throw new InvalidArgumentError('spawn() options: contain and cgroup exclude each other');
		toWire(file, args, rest); // invalid options fail before any cgroup is made
		const scopeOptions = typeof contain === 'object' ? contain : {};
		const merged = limits === undefined ? scopeOptions : { ...scopeOptions, limits: { ...scopeOptions.limits, ...limits } };
		const scope = await Scope.#create(merged, 'child');
		try {
			return await scope.#spawn(file, args, rest, true);
		} catch (error) {
			await scope.kill().catch(() => {});
			throw error;
		}
	}

	async #spawn(file: string, args: readonly string[], options: ScopeSpawnOptions, owner: boolean): Promise<Child> {
		if (this.#killing || this.removed) throw new PidfdError('ESRCH', `spawn ESRCH: the scope ${this.path} was killed`, { syscall: 'spawn', path: this.path });
		if ('contain' in options || 'limits' in options || 'cgroup' in options) {
			throw new InvalidArgumentError('scope.spawn(): contain, limits and cgroup come from the scope');
		}
		this.#oomKills ??= this.#readOomKills();
		// Attached before any event can reach the child: a quick exit is still annotated.
		const child = await spawnChild(file, args, { ...options, cgroup: this.path }, (c) => {
			c.attachScope(this);
			if (owner) this.#owner = c;
		});
		if (options.detached) this.#detached = true;
		return child;
	}

	/** Pids of every process in the scope now, nested cgroups included. For display: they can change any moment. */
	pids(): number[] {
		return this.removed ? [] : subtree(this.path).flatMap(readPids);
	}

	/** CPU (cpu.stat), memory and pids of the whole tree; after removal, the last numbers before it. */
	usage(): CgroupUsage {
		return this.#final ?? readUsage(this.path);
	}

	/** Sends `signal` to every process in the scope through pidfds. Resolves with how many got it. */
	signal(signal: string | number): Promise<number> {
		if (this.removed) return Promise.resolve(0);
		return signalMembers(this.path, this.#hierarchyPath, signal);
	}

	/**
	 * Ends every process in the scope, then removes its cgroup. With `graceful`, that signal
	 * goes to each process first and they get `gracePeriod` ms; then cgroup.kill (or, before
	 * Linux 5.14, freeze + SIGKILL each + thaw) takes whatever is left, and nothing can escape
	 * it. Resolves once the cgroup is empty and gone.
	 */
	kill(options: TreeKillOptions = {}): Promise<void> {
		this.#killing ??= this.#kill(options);
		return this.#killing;
	}

	async #kill(options: TreeKillOptions): Promise<void> {
		if (this.removed) return;
		if (options.graceful !== undefined) {
			await this.signal(options.graceful);
			await waitForEvent(this.path, 'populated', 0, options.gracePeriod ?? 5000);
		}
		await killAll(this.path, this.#hierarchyPath, options);
		this.#remove();
	}

	/** @internal The EXIT of a child of this scope: adds the budget reason, removes an emptied child scope. */
	annotateExit(exit: ExitInfo, child: Child): ExitInfo {
		try {
			const oomKills = this.#readOomKills();
			if (exit.signal === 'SIGKILL' && oomKills !== undefined && oomKills > (this.#oomKills ?? 0)) exit = { ...exit, reason: 'memory-budget' };
			if (this.kind === 'child' && this.#owner === child && !this.#killing && !this.removed && eventValue(this.path, 'populated') === 0) this.#remove();
		} catch {
			// An unreadable cgroup costs the annotation, never the exit itself.
		}
		return exit;
	}

	/**
	 * @internal runSync(): the one-shot sidecar has killed everything in the scope and waited
	 * for it to empty; take the last usage and remove it.
	 */
	removeEmptied(): void {
		this.#remove();
	}

	/** @internal Writes cgroup.kill at host exit, unless a member was spawned detached. */
	killAtExit(): void {
		if (this.#detached || this.removed || this.#killing) return;
		try {
			if (existsSync(`${this.path}/cgroup.kill`)) writeControl(`${this.path}/cgroup.kill`, '1', 'host exit');
		} catch {}
	}

	/** oom_kill of memory.events: processes the OOM killer took here; undefined without the memory controller. */
	#readOomKills(): number | undefined {
		if (this.removed) return this.#oomFinal;
		return readKeyed(`${this.path}/memory.events`)?.get('oom_kill');
	}

	#oomFinal: number | undefined;

	/** Takes the last usage and oom count, then removes the (empty) cgroup. */
	#remove(): void {
		if (this.removed) return;
		const usage = readUsage(this.path);
		this.#oomFinal = this.#readOomKills();
		try {
			rmdirSync(this.path);
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code;
			// Nested cgroups made by the tree itself: take those down first.
			if (code === 'EBUSY' || code === 'ENOTEMPTY') {
				if (!removeTree(this.path)) throw fsError(error, 'cannot remove the scope cgroup');
			} else if (code !== 'ENOENT') {
				throw fsError(error, 'cannot remove the scope cgroup');
			}
		}
		this.#final = usage;
		live.delete(this);
		if (this.#created) tryRemoveDefaultRoot(dirname(this.path));
	}
}

/** The name of the default root: removed when its last scope goes, re-created on demand. */
function tryRemoveDefaultRoot(root: string): void {
	if (basename(root) !== `pidfd-${process.pid}`) return;
	for (const scope of live) if (dirname(scope.path) === root) return;
	try {
		rmdirSync(root);
	} catch {}
}

let exitHookArmed = false;

/**
 * When the host exits, its sidecar kills the children it spawned; for contained ones, the
 * whole tree goes too (cgroup.kill is one write, fine in an exit handler). The directories
 * stay until the next host sweeps roots of hosts that are gone.
 */
function armExitHook(): void {
	if (exitHookArmed) return;
	exitHookArmed = true;
	process.once('exit', () => {
		for (const scope of live) scope.killAtExit();
	});
}
