import { fileURLToPath } from 'node:url';
import type { ScopeOptions } from '../../schemas/cgroup.js';
import { InvalidArgumentError } from '../../schemas/errors.js';
import type { ExitInfo } from '../../schemas/exit.js';
import { type PipelineOptions, type PipelineStage, pipeline } from './pipeline.js';
import { type RunOptions, run } from './run.js';
import { runSync } from './run-sync.js';

/** What `$(options)` sets for the commands of the `$` it returns. */
export interface DollarOptions
	extends Pick<RunOptions, 'cwd' | 'timeout' | 'signal' | 'killSignal' | 'forceKillAfter' | 'input' | 'stdin' | 'stderr' | 'maxBuffer' | 'stdioTransport'> {
	/** Variables added to the host's environment (an `undefined` value removes one). */
	env?: Record<string, string | undefined>;
	/** Reject with RunError when the command (with pipe(): the pipeline, pipefail) does not exit 0. Default true. */
	reject?: boolean;
	/** Run in a cgroup scope of its own (a pipeline: all its stages in one); nothing it starts outlives it. */
	contain?: boolean | ScopeOptions;
}

export interface DollarResult {
	/** utf8, one trailing newline removed. */
	stdout: string;
	stderr: string;
	exit: ExitInfo;
	/** With pipe(): every stage's exit. */
	exits?: ExitInfo[];
}

/** A `$` result with the readers of a command: `.lines()`, `.json()`. */
export interface DollarSyncResult extends DollarResult {
	lines(): string[];
	json<T = unknown>(): T;
}

export type DollarSync = (strings: TemplateStringsArray, ...values: unknown[]) => DollarSyncResult;

export interface Dollar {
	/** `` $`git log ${branch} -n ${n}` ``: a command, run without a shell. */
	(strings: TemplateStringsArray, ...values: unknown[]): DollarCommand;
	/** A new `$` with these options (merged over this one's). */
	(options: DollarOptions): Dollar;
	/** The same, blocking (on runSync()). */
	readonly sync: DollarSync;
}

/**
 * One command of `$` (or a pipeline of them): a promise of its DollarResult. It starts by
 * itself right after the statement that made it, unless `pipe()` took it into a pipeline.
 */
export class DollarCommand implements Promise<DollarResult> {
	readonly [Symbol.toStringTag] = 'DollarCommand';
	readonly #stages: { argv: string[]; options: DollarOptions }[];
	#running: Promise<DollarResult> | undefined;
	#piped = false;

	/** @internal Use `$`. */
	constructor(stages: { argv: string[]; options: DollarOptions }[]) {
		this.#stages = stages;
		// Started after the statement that made it, so `$`a`.pipe($`b`)` can still join them.
		queueMicrotask(() => {
			if (!this.#piped) this.#start();
		});
	}

	/**
	 * `` $`a`.pipe($`b`) ``: a pipeline joined in the kernel (see pipeline()): b reads a's
	 * output straight from the pipe. Both must be fresh (in the same statement); the options
	 * shared by every stage (timeout, signal, reject, contain) are the first command's.
	 */
	pipe(next: DollarCommand): DollarCommand {
		if (!(next instanceof DollarCommand)) throw new InvalidArgumentError('$: pipe() takes another $ command');
		if (this.#running || next.#running || this.#piped || next.#piped) {
			throw new InvalidArgumentError('$: pipe() joins commands that have not started: write $`a`.pipe($`b`) in one statement');
		}
		this.#piped = true;
		next.#piped = true;
		return new DollarCommand([...this.#stages, ...next.#stages]);
	}

	// biome-ignore lint/suspicious/noThenProperty: a command is awaited like execa's and zx's, on purpose
	then<A = DollarResult, B = never>(
		onFulfilled?: ((value: DollarResult) => A | PromiseLike<A>) | null,
		onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
	): Promise<A | B> {
		return this.#start().then(onFulfilled, onRejected);
	}

	catch<B = never>(onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<DollarResult | B> {
		return this.#start().catch(onRejected);
	}

	finally(onFinally?: (() => void) | null): Promise<DollarResult> {
		return this.#start().finally(onFinally);
	}

	/** stdout split into lines (none for an empty output). */
	async lines(): Promise<string[]> {
		return splitLines((await this.#start()).stdout);
	}

	/** stdout parsed as JSON. */
	async json<T = unknown>(): Promise<T> {
		return JSON.parse((await this.#start()).stdout) as T;
	}

	#start(): Promise<DollarResult> {
		if (this.#piped && !this.#running) return Promise.reject(new InvalidArgumentError('$: this command was piped into another; await the result of pipe()'));
		this.#running ??= this.#run();
		return this.#running;
	}

	async #run(): Promise<DollarResult> {
		const [first] = this.#stages;
		const shared = runOptions(first!.options);
		if (this.#stages.length === 1) {
			const [file, ...args] = first!.argv;
			const { stdout, stderr, exit } = await run(file!, args, { ...shared, encoding: 'utf8' });
			return { stdout: trimNewline(stdout), stderr: trimNewline(stderr), exit };
		}
		const { contain } = first!.options;
		const stages: PipelineStage[] = this.#stages.map(({ argv: [file, ...args], options }) => {
			const { cwd, env } = runOptions(options);
			return [file!, args, { ...(cwd !== undefined && { cwd }), ...(env !== undefined && { env }) }];
		});
		const { timeout, signal, killSignal, forceKillAfter, input, stdin, stderr, maxBuffer, stdioTransport, reject } = shared;
		const given = { timeout, signal, killSignal, forceKillAfter, input, stdin, stderr, maxBuffer, stdioTransport, reject, encoding: 'utf8' };
		const options = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as unknown as PipelineOptions & { encoding: 'utf8' };
		if (contain !== undefined) options.contain = contain;
		const r = await pipeline(stages, options);
		return { stdout: trimNewline(r.stdout), stderr: trimNewline(r.stderr), exit: r.exit, exits: r.exits };
	}
}

/** run()'s options for a `$` command: reject by default, the env added to the host's. */
function runOptions(options: DollarOptions): RunOptions {
	const { env, reject = true, ...rest } = options;
	return { ...rest, reject, ...(env !== undefined && { env: { ...process.env, ...env } }) };
}

function trimNewline(text: string): string {
	return text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
}

function splitLines(text: string): string[] {
	return text === '' ? [] : text.split(/\r?\n/);
}

/**
 * The argv of a template: the literal text splits on whitespace; each interpolated value is
 * exactly one argument (an array: one per element), glued to literal text it touches
 * (`--n=${n}` is one argument), and never split again, globbed or seen by a shell.
 */
export function templateArgv(strings: TemplateStringsArray, values: readonly unknown[]): string[] {
	const argv: string[] = [];
	let current: string | undefined;
	const end = () => {
		if (current !== undefined) argv.push(current);
		current = undefined;
	};
	const append = (text: string) => {
		current = (current ?? '') + text;
	};
	strings.forEach((literal, i) => {
		if (literal === undefined) throw new InvalidArgumentError('$: the template has an invalid escape sequence');
		if (literal.includes('\0')) throw new InvalidArgumentError('$: the template contains a NUL byte');
		for (const piece of literal.split(/(\s+)/)) {
			if (piece === '') continue;
			if (/^\s+$/.test(piece)) end();
			else append(piece);
		}
		if (i >= values.length) return;
		const value = values[i];
		if (Array.isArray(value)) {
			value.forEach((element, j) => {
				if (j > 0) end();
				append(argument(element, i));
			});
		} else append(argument(value, i));
	});
	end();
	if (argv.length === 0 || argv[0] === '') throw new InvalidArgumentError('$: the template names no program');
	return argv;
}

function argument(value: unknown, index: number): string {
	let text: string;
	if (typeof value === 'string') text = value;
	else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
	else if (typeof value === 'bigint') text = String(value);
	else if (value instanceof URL) text = value.protocol === 'file:' ? fileURLToPath(value) : value.href;
	else {
		const what = value === null ? 'null' : Array.isArray(value) ? 'a nested array' : typeof value === 'number' ? String(value) : typeof value;
		throw new InvalidArgumentError(
			`$: value \${${index}} is ${what}; an argument is a string, a finite number, a URL or an array of them (nothing else is stringified)`,
		);
	}
	if (text.includes('\0')) throw new InvalidArgumentError(`$: value \${${index}} contains a NUL byte`);
	return text;
}

function isTemplate(value: unknown): value is TemplateStringsArray {
	return Array.isArray(value) && Array.isArray((value as { raw?: unknown }).raw);
}

function make(options: DollarOptions): Dollar {
	function dollar(strings: TemplateStringsArray, ...values: unknown[]): DollarCommand;
	function dollar(more: DollarOptions): Dollar;
	function dollar(first: TemplateStringsArray | DollarOptions, ...values: unknown[]): DollarCommand | Dollar {
		if (isTemplate(first)) return new DollarCommand([{ argv: templateArgv(first, values), options }]);
		if (typeof first !== 'object' || first === null || Array.isArray(first)) {
			throw new InvalidArgumentError('$: call it as a template tag, $`cmd arg`, or with options, $({ cwd })');
		}
		const env = first.env && options.env ? { ...options.env, ...first.env } : (first.env ?? options.env);
		return make({ ...options, ...first, ...(env !== undefined && { env }) });
	}
	const sync: DollarSync = (strings, ...values) => {
		if (!isTemplate(strings)) throw new InvalidArgumentError('$.sync: call it as a template tag, $.sync`cmd arg`');
		const [file, ...args] = templateArgv(strings, values);
		const { stdout, stderr, exit } = runSync(file!, args, { ...runOptions(options), encoding: 'utf8' });
		const out = trimNewline(stdout);
		return { stdout: out, stderr: trimNewline(stderr), exit, lines: () => splitLines(out), json: <T>() => JSON.parse(out) as T };
	};
	return Object.assign(dollar, { sync }) as Dollar;
}

/**
 * Scripts without a shell: `` await $`git log ${branch} --format=%s -n ${n}` ``. Every
 * interpolated value is exactly one argument, so nothing in it can inject a command; the
 * command rejects on a non-zero exit (`$({ reject: false })` to look at `exit` instead).
 */
export const $: Dollar = make({});
