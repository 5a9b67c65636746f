import type { ExitInfo } from '../../schemas/exit.js';
import type { Limits } from '../../schemas/cgroup.js';
import { InvalidArgumentError } from '../../schemas/errors.js';
import type { IdMap, Signal, StdioEntry } from '../../schemas/spawn.js';
import type { Child } from '../process/child.js';
import { type RunOptions, type RunResult, run } from './run.js';
import { toWire } from '../process/spawn-request.js';
import { type SpawnOptions, spawn } from './spawn.js';

type Stdio = Exclude<StdioEntry, null | undefined>;

/**
 * A process to start, built step by step and reusable, like Rust's `std::process::Command`:
 *
 *   const cmd = new Command('ls').arg('-l').cwd('/tmp').env('LC_ALL', 'C');
 *   const { stdout } = await cmd.output();
 *   const child = await cmd.spawn();
 *
 * Every method returns `this`; `spawn()`, `output()` and `status()` may be called any number
 * of times. Options are validated by the same schema as `spawn()`'s, when the process starts.
 */
export class Command {
	readonly #file: string;
	#args: string[] = [];
	#env = new Map<string, string | undefined>();
	#envClear = false;
	/** By child fd: 0–2 and any extra fds given with `fd()`. */
	#stdio: (Stdio | undefined)[] = [undefined, undefined, undefined];
	#options: SpawnOptions = {};

	constructor(file: string) {
		this.#file = file;
	}

	arg(arg: string): this {
		this.#args.push(arg);
		return this;
	}

	args(args: Iterable<string>): this {
		for (const a of args) this.#args.push(a);
		return this;
	}

	/** Sets one variable (on top of the host's environment unless `envClear()`). */
	env(name: string, value: string): this {
		this.#env.set(name, value);
		return this;
	}

	envs(vars: Record<string, string> | Iterable<[string, string]>): this {
		for (const [k, v] of Symbol.iterator in vars ? (vars as Iterable<[string, string]>) : Object.entries(vars)) this.#env.set(k, v);
		return this;
	}

	/** Removes one variable from what the child gets. */
	envRemove(name: string): this {
		this.#env.set(name, undefined);
		return this;
	}

	/** Starts from an empty environment instead of the host's. */
	envClear(): this {
		this.#envClear = true;
		this.#env.clear();
		return this;
	}

	cwd(dir: string | URL): this {
		return this.#set({ cwd: dir });
	}

	stdin(stdio: Stdio): this {
		this.#stdio[0] = stdio;
		return this;
	}

	stdout(stdio: Stdio): this {
		this.#stdio[1] = stdio;
		return this;
	}

	stderr(stdio: Stdio): this {
		this.#stdio[2] = stdio;
		return this;
	}

	/**
	 * What the child gets as fd `fd` (3 and up: extra fds; 0–2: as `stdin()`/`stdout()`/
	 * `stderr()`), e.g. `.fd(3, 'pipe')` or `.fd(3, { process: other, fd: 4 })`.
	 */
	fd(fd: number, stdio: Stdio): this {
		if (!Number.isInteger(fd) || fd < 0 || fd > 255) throw new InvalidArgumentError(`Command.fd(): ${String(fd)} is not an fd in 0..255`);
		while (this.#stdio.length <= fd) this.#stdio.push(undefined);
		this.#stdio[fd] = stdio;
		return this;
	}

	/** Start the child in a cgroup scope of its own: `true`, or the scope's options (see Scope). */
	contain(contain: NonNullable<SpawnOptions['contain']> = true): this {
		return this.#set({ contain });
	}

	/** Budgets of the child's tree (memoryMax, pidsMax, cpuMax); implies `contain`. */
	limits(limits: Limits): this {
		return this.#set({ limits });
	}

	/** An existing cgroup v2 directory to start the child in. */
	cgroup(dir: string | URL): this {
		return this.#set({ cgroup: dir });
	}

	argv0(name: string): this {
		return this.#set({ argv0: name });
	}

	/** Resolve `cwd` beneath this directory (openat2 RESOLVE_BENEATH): nothing leads out of it. */
	cwdRoot(dir: string | URL): this {
		return this.#set({ cwdRoot: dir });
	}

	/** New namespaces for the child ('user', 'pid', 'mount', 'ipc', 'net'), with the ids mapped in a user namespace. */
	namespaces(names: NonNullable<SpawnOptions['namespaces']>, maps: { uidMap?: IdMap; gidMap?: IdMap } = {}): this {
		return this.#set({ namespaces: [...names], ...(maps.uidMap ? { uidMap: maps.uidMap } : {}), ...(maps.gidMap ? { gidMap: maps.gidMap } : {}) });
	}

	uid(uid: number): this {
		return this.#set({ uid });
	}

	gid(gid: number): this {
		return this.#set({ gid });
	}

	groups(groups: readonly number[]): this {
		return this.#set({ groups: [...groups] });
	}

	setsid(on = true): this {
		return this.#set({ setsid: on });
	}

	processGroup(on = true): this {
		return this.#set({ processGroup: on });
	}

	umask(mask: number): this {
		return this.#set({ umask: mask });
	}

	pdeathsig(signal: Signal | false): this {
		return this.#set({ pdeathsig: signal });
	}

	detached(on = true): this {
		return this.#set({ detached: on });
	}

	timeout(ms: number): this {
		return this.#set({ timeout: ms });
	}

	signal(signal: AbortSignal): this {
		return this.#set({ signal });
	}

	killSignal(signal: Signal): this {
		return this.#set({ killSignal: signal });
	}

	forceKillAfter(ms: number | false): this {
		return this.#set({ forceKillAfter: ms });
	}

	/** The options `spawn()` would get, for inspection or to pass on. */
	toOptions(): SpawnOptions {
		const options: SpawnOptions = { ...this.#options };
		if (this.#envClear || this.#env.size > 0) {
			const env: Record<string, string | undefined> = this.#envClear ? {} : { ...process.env };
			for (const [k, v] of this.#env) {
				if (v === undefined) delete env[k];
				else env[k] = v;
			}
			options.env = env;
		}
		if (this.#stdio.some((s) => s !== undefined)) options.stdio = [...this.#stdio];
		return options;
	}

	/** Starts the process; stdio defaults to inherit. */
	spawn(): Promise<Child> {
		return spawn(this.#file, this.#args, this.toOptions());
	}

	/** Runs to the end and captures stdout and stderr (stdin: as set by `stdin()`, else /dev/null). */
	output(options: Pick<RunOptions, 'input' | 'maxBuffer'> & { encoding: 'utf8' }): Promise<RunResult<string>>;
	output(options?: Pick<RunOptions, 'input' | 'maxBuffer'> & { encoding?: 'buffer' }): Promise<RunResult<Buffer>>;
	output(options: Pick<RunOptions, 'input' | 'maxBuffer' | 'encoding'> = {}): Promise<RunResult> {
		// stdin and stdout are run()'s to manage; stderr may be inherited or ignored.
		const { stdio: _stdio, ...rest } = this.toOptions();
		const [stdin, , stderr] = this.#stdio;
		if (this.#stdio.length > 3) throw new InvalidArgumentError('Command.output(): extra fds need spawn(), which gives their streams');
		const runOptions: RunOptions = { ...rest, ...options };
		if (stderr === 'inherit' || stderr === 'ignore' || stderr === 'pipe') runOptions.stderr = stderr;
		// `input` wins over a stdin() of 'pipe' (output() has nothing else to write into it).
		if (stdin !== undefined && options.input === undefined && stdin !== 'pipe') runOptions.stdin = stdin;
		return run(this.#file, this.#args, runOptions as RunOptions & { encoding?: 'buffer' });
	}

	/** Runs to the end with inherited stdio and resolves with how it ended. */
	async status(): Promise<ExitInfo> {
		return (await this.spawn()).wait();
	}

	/** Checks the options now (they are checked at spawn anyway); throws InvalidArgumentError. */
	validate(): this {
		toWire(this.#file, this.#args, this.toOptions());
		return this;
	}

	#set(options: SpawnOptions): this {
		this.#options = { ...this.#options, ...options };
		return this;
	}
}
