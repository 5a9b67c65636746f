import { dirname } from 'node:path';
import { type Child, Scope, type SpawnOptions, spawn } from '../index.js';

// Each connection's children form one tree that nothing escapes: a background job, `setsid`
// or a double fork stays in it, and it ends with the connection, the server, or the child
// that started it. A cgroup2 scope per connection (a child scope per child inside it) where
// the server may create cgroups; else a process group per child, killed whether or not its
// leader still lives (a process that calls setsid escapes that one: the startup line says so).

/** What holds a connection's processes on this server. */
export type Containment =
	| { kind: 'cgroup' /** Where the connection scopes are made. */; root: string }
	| { kind: 'process-group' /** Why no cgroup could be made. */; reason: string };

/** Creates and removes one scope: the only way to know this process may. */
export async function detectContainment(): Promise<Containment> {
	try {
		const probe = await Scope.create();
		const root = dirname(probe.path);
		await probe.kill();
		return { kind: 'cgroup', root };
	} catch (error) {
		return { kind: 'process-group', reason: (error as Error).message };
	}
}

/** One line for the startup output. */
export function describeContainment(containment: Containment): string {
	if (containment.kind === 'cgroup')
		return `cgroup2 (a scope per connection under ${containment.root}): whatever a client starts, backgrounded or double-forked, ends with it`;
	return `process groups (no cgroup2 scope could be made: ${containment.reason}); a child that calls setsid escapes its group`;
}

/** The processes of one connection. */
export class ConnectionTree {
	readonly #containment: Promise<Containment>;
	#scope: Promise<Scope> | undefined;
	#closed = false;

	constructor(containment: Promise<Containment>) {
		this.#containment = containment;
	}

	/**
	 * Starts a child inside the tree. `detached` children are the exception the policy allowed:
	 * they are started outside it, and outlive the connection.
	 */
	async spawn(file: string, args: readonly string[], options: SpawnOptions): Promise<Child> {
		if (options.detached) return spawn(file, args, options);
		const containment = await this.#containment;
		if (containment.kind === 'process-group') {
			// A terminal or setsid child leads a group already; every other one is made to.
			const leads = options.setsid === true || options.terminal !== undefined;
			return spawn(file, args, leads ? options : { ...options, processGroup: true });
		}
		if (this.#closed) throw new Error('connection closed');
		this.#scope ??= Scope.create();
		const scope = await this.#scope;
		// A scope of its own inside the connection's: its tree can end alone, when it does.
		return spawn(file, args, { ...options, contain: { root: scope.path } });
	}

	/**
	 * The child ended (or was lost with the sidecar): what it left running goes too. It had no
	 * id the client could name, and it would live outside the process limits.
	 */
	endTreeOf(child: Child, detached: boolean): Promise<void> {
		if (detached) return Promise.resolve();
		if (child.scope) return child.killTree().catch(() => {});
		killGroup(child.pid);
		return Promise.resolve();
	}

	/** The connection ended: every process it started, except detached ones, is killed. */
	async close(running: readonly { child: Child; detached: boolean }[]): Promise<void> {
		this.#closed = true;
		const kills: Promise<void>[] = [];
		for (const { child, detached } of running) {
			if (detached) continue;
			child.kill('SIGKILL').catch(() => {});
			kills.push(this.endTreeOf(child, false));
		}
		await Promise.all(kills);
		// Then the connection's scope: whatever a child scope could not hold is below it too.
		if (this.#scope) await this.#scope.then((scope) => scope.kill()).catch(() => {});
	}
}

/**
 * SIGKILL to the process group `pgid`, which the child of that pid leads. Also after the
 * leader was reaped: its pid cannot be given to a new process while the group has members.
 */
function killGroup(pgid: number): void {
	try {
		process.kill(-pgid, 'SIGKILL');
	} catch {
		// ESRCH: the group is empty.
	}
}
