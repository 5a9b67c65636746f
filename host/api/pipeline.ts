import type { Readable } from 'node:stream';
import type { ScopeOptions } from '../../schemas/cgroup.js';
import { abortError, describeRunEnd, InvalidArgumentError, RunError } from '../../schemas/errors.js';
import type { ExitInfo } from '../../schemas/exit.js';
import type { SpawnOptions, StdioEntry } from '../../schemas/spawn.js';
import { Scope } from '../cgroup/scope.js';
import type { Child } from '../process/child.js';
import { collect, feed } from '../process/output.js';
import { reportDetached } from '../process/report.js';
import { checkRunOnly, DEFAULT_MAX_BUFFER, type RunOptions } from './run.js';
import { spawn } from './spawn.js';

/** What one stage may set for itself; time limits, transport and containment are the pipeline's. */
export type PipelineStageOptions = Omit<
	SpawnOptions,
	'stdio' | 'timeout' | 'signal' | 'killSignal' | 'forceKillAfter' | 'contain' | 'limits' | 'cgroup' | 'terminal' | 'detached' | 'stdioTransport'
>;

/** `[file, args?, options?]`, as `spawn()` takes them. */
export type PipelineStage = readonly [file: string, args?: readonly string[], options?: PipelineStageOptions];

export interface PipelineOptions
	extends Pick<
		RunOptions,
		'input' | 'stdin' | 'encoding' | 'maxBuffer' | 'reject' | 'timeout' | 'signal' | 'killSignal' | 'forceKillAfter' | 'stdioTransport' | 'cwd' | 'env'
	> {
	/** Every stage's stderr: 'pipe' (captured, joined in stage order), 'inherit' or 'ignore'. Default 'pipe'. */
	stderr?: 'pipe' | 'inherit' | 'ignore';
	/** The pipeline's exit is the last failing stage's, as bash's `set -o pipefail`; false: the last stage's. Default true. */
	pipefail?: boolean;
	/** All stages in one cgroup scope (true, or its options): nothing any stage starts outlives the pipeline. */
	contain?: boolean | ScopeOptions;
}

export interface PipelineResult<T = Buffer | string> {
	/** The last stage's stdout. */
	stdout: T;
	/** Every stage's stderr, in stage order. */
	stderr: T;
	/** The exit that decides: with pipefail, the last stage that failed, else the last stage's. */
	exit: ExitInfo;
	/** Every stage's exit, in stage order. */
	exits: ExitInfo[];
}

/** After a timeout or abort, once every stage has ended, how long their output may take to end (as run()). */
const OUTPUT_GRACE_MS = 100;

/**
 * Runs `a | b | c` with the pipes joined in the kernel: each stage's stdout is the next
 * one's stdin, handed over whole, so no byte passes through the host but the last stage's
 * output (captured like run()'s) and the first stage's `input`. `timeout` and `signal` end
 * every stage; `contain` puts them all in one scope. Resolves whatever the exit codes, like
 * run(), unless `reject`: then a failing `exit` (see pipefail) rejects with RunError.
 */
export function pipeline(stages: readonly PipelineStage[], options: PipelineOptions & { encoding: 'utf8' }): Promise<PipelineResult<string>>;
export function pipeline(stages: readonly PipelineStage[], options?: PipelineOptions & { encoding?: 'buffer' }): Promise<PipelineResult<Buffer>>;
export async function pipeline(stages: readonly PipelineStage[], options: PipelineOptions = {}): Promise<PipelineResult> {
	const { input, stdin, encoding = 'buffer', maxBuffer = DEFAULT_MAX_BUFFER, stderr = 'pipe', reject = false, pipefail = true, contain, ...shared } = options;
	checkRunOnly('pipeline()', options);
	if (!Array.isArray(stages) || stages.length === 0) throw new InvalidArgumentError('pipeline(): stages must be a non-empty array of [file, args?, options?]');
	for (const [i, stage] of stages.entries()) {
		if (!Array.isArray(stage) || typeof stage[0] !== 'string' || stage.length > 3) {
			throw new InvalidArgumentError(`pipeline(): stage ${i} must be [file, args?, options?]`);
		}
	}
	if (typeof pipefail !== 'boolean') throw new InvalidArgumentError('pipeline() options.pipefail: must be a boolean');
	const { timeout, signal, killSignal, forceKillAfter, stdioTransport, cwd, env } = shared;
	if (signal?.aborted) throw abortError('pipeline() was aborted before it started', signal);

	// One abort for every stage: the user's signal, or the timeout.
	const stop = new AbortController();
	let cutBy: 'timeout' | 'abort' | undefined;
	const cut = (why: 'timeout' | 'abort') => {
		if (cutBy) return;
		cutBy = why;
		stop.abort();
	};
	const onAbort = () => cut('abort');
	signal?.addEventListener('abort', onAbort, { once: true });
	const limit = timeout !== undefined && timeout > 0 && Number.isFinite(timeout) ? timeout : undefined;
	const timer = limit !== undefined ? setTimeout(() => cut('timeout'), limit) : undefined;

	const scope = contain ? await Scope.create(typeof contain === 'object' ? contain : {}) : undefined;
	const children: Child[] = [];
	let overflow = false;
	const onOverflow = () => {
		if (overflow) return;
		overflow = true;
		for (const child of children) child.kill('SIGKILL').catch(reportDetached);
	};
	try {
		const last = stages.length - 1;
		for (const [i, [file, args = [], stageOptions = {}]] of stages.entries()) {
			const first: StdioEntry = input !== undefined ? 'pipe' : (stdin ?? 'ignore');
			const stdio: StdioEntry[] = [i === 0 ? first : (children[i - 1]!.stdout as StdioEntry), 'pipe', stderr];
			const spawnOptions: SpawnOptions = { cwd, env, stdioTransport, ...stageOptions, stdio, signal: stop.signal, killSignal, forceKillAfter };
			try {
				children.push(await (scope ? scope.spawn(file, args, spawnOptions) : spawn(file, args, spawnOptions)));
			} catch (error) {
				// The stages already running would wait for a reader or a writer that never comes.
				await Promise.all(children.map((child) => child.kill('SIGKILL').then(() => child.wait())));
				throw error;
			}
			if (i === 0 && input !== undefined) feed(children[0]!.stdin!, input);
			if (i === last) break;
		}
		const outputs = Promise.all([
			collect(children[last]!.stdout, maxBuffer, onOverflow),
			Promise.all(children.map((child) => collect(child.stderr, maxBuffer, onOverflow))),
		]);
		const exits = Promise.all(children.map((child) => child.wait()));
		// Cut short: once every stage has ended, their output gets a moment, then is closed.
		const grace = exits.then(() => {
			if (cutBy) setTimeout(() => closeOutputs(children), OUTPUT_GRACE_MS);
		});
		const [ended, [stdoutBytes, stderrParts]] = await Promise.all([exits, outputs, grace]);
		const decision = pipefail ? ([...ended].reverse().find((exit) => !exit.success) ?? ended[last]!) : ended[last]!;
		const decode = (b: Buffer) => (encoding === 'utf8' ? b.toString('utf8') : b);
		const result = { stdout: decode(stdoutBytes), stderr: decode(Buffer.concat(stderrParts)), exit: decision, exits: ended };
		const reason = overflow ? 'maxBuffer' : (cutBy ?? (reject && !decision.success ? 'failed' : undefined));
		if (reason) {
			const described = stages.map(([file, args = []]) => [file, ...args].join(' ')).join(' | ');
			const error = new RunError(
				describeRunEnd(described, [], reason, decision, { timeout: limit, maxBuffer }),
				reason,
				result.stdout,
				result.stderr,
				decision,
			);
			throw Object.assign(error, { exits: ended });
		}
		return result;
	} finally {
		clearTimeout(timer);
		signal?.removeEventListener('abort', onAbort);
		await scope?.kill().catch(reportDetached);
	}
}

function closeOutputs(children: readonly Child[]): void {
	for (const child of children) {
		(child.stdout as Readable | null)?.destroy();
		child.stderr?.destroy();
	}
}
