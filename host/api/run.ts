import { describeRunEnd, InvalidArgumentError, RunError } from '../../schemas/errors.js';
import type { ExitInfo } from '../../schemas/exit.js';
import { RunOnlyOptions, type StdioEntry } from '../../schemas/spawn.js';
import type { Child } from '../process/child.js';
import { Capture, collect, feed } from '../process/output.js';
import { kPipeOnRead, type PipeOnRead, pipeOnRead } from '../process/pipes.js';
import { reportDetached } from '../process/report.js';
import { transportOf } from '../process/transport.js';
import { type SpawnOptions, spawn } from './spawn.js';

export interface RunOptions extends Omit<SpawnOptions, 'stdio'> {
	/** Written to the child's stdin, which is then closed. Default: stdin is /dev/null. */
	input?: string | Uint8Array;
	/** Where stdin comes from when there is no `input` (a file, an fd, 'inherit'). Default 'ignore'. */
	stdin?: StdioEntry;
	/** 'utf8' gives strings; default 'buffer' gives Uint8Arrays (Buffers). */
	encoding?: 'buffer' | 'utf8';
	/** Most bytes kept per stream; past it the child is killed and run() rejects. Default 64 MiB; `Infinity`: no limit. */
	maxBuffer?: number;
	/** stderr: 'pipe' (captured, default), 'inherit' or 'ignore'. */
	stderr?: 'pipe' | 'inherit' | 'ignore';
	/** Reject with a RunError when the child does not exit with code 0 (execa's default). Default false. */
	reject?: boolean;
}

export interface RunResult<T = Buffer | string> {
	stdout: T;
	stderr: T;
	exit: ExitInfo;
}

/**
 * After the timeout, once the child has ended, how long run() still waits for EOF on its
 * pipes: a grandchild that inherited stdout may hold it open for ever. Then our ends are
 * closed and run() settles with what was read (tinyexec and Bun settle there too).
 */
const OUTPUT_GRACE_MS = 100;

export const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

/** Checks what run() (and runSync()) add to spawn()'s options, before anything starts. */
export function checkRunOnly(what: string, options: Pick<RunOptions, 'input' | 'stdin' | 'encoding' | 'maxBuffer' | 'stderr' | 'reject'>): void {
	const { input, stdin, encoding = 'buffer', maxBuffer = DEFAULT_MAX_BUFFER, stderr = 'pipe', reject = false } = options;
	// Checked before anything starts: a bad `input` must not leave a child running.
	const parsed = RunOnlyOptions.safeParse({ input, stdin, encoding, maxBuffer, stderr, reject });
	if (!parsed.success) {
		const issue = parsed.error.issues[0]!;
		throw new InvalidArgumentError(`${what} options.${issue.path.join('.')}: ${issue.message}`, { cause: parsed.error });
	}
	if (input !== undefined && stdin !== undefined) throw new InvalidArgumentError(`${what}: give either options.input or options.stdin, not both`);
}

/**
 * Runs a program to its end and collects its output, like Rust's `Command::output()`:
 * resolves whatever the exit code (look at `exit.code`; or pass `reject: true`), rejects
 * with RunError when pidfd cut it short (timeout, abort, maxBuffer), and with PidfdError if
 * it could not start.
 */
export function run(file: string, args?: readonly string[], options?: RunOptions & { encoding: 'utf8' }): Promise<RunResult<string>>;
export function run(file: string, args?: readonly string[], options?: RunOptions & { encoding?: 'buffer' }): Promise<RunResult<Buffer>>;
export async function run(file: string, args: readonly string[] = [], options: RunOptions = {}): Promise<RunResult> {
	const { input, stdin, encoding = 'buffer', maxBuffer = DEFAULT_MAX_BUFFER, stderr = 'pipe', reject = false, ...spawnOptions } = options;
	checkRunOnly('run()', options);
	let overflow = false;
	let child: Child | undefined;
	const onOverflow = () => {
		if (overflow) return;
		overflow = true;
		child?.kill('SIGKILL').catch(reportDetached);
	};
	// Where the pipes are net.Sockets (Node, direct), the output is read straight into buffers
	// of ours (Capture) rather than as a stream of fresh chunks joined at the end.
	const captures = pipeOnRead && transportOf(spawnOptions) === 'direct' ? [new Capture(maxBuffer, onOverflow), new Capture(maxBuffer, onOverflow)] : undefined;
	const onread: PipeOnRead | undefined = captures && { 1: captures[0]!.onread, 2: captures[1]!.onread };
	const stdinEntry = input !== undefined ? 'pipe' : (stdin ?? 'ignore');
	child = await spawn(file, args, { ...spawnOptions, stdio: [stdinEntry, 'pipe', stderr], ...(onread && { [kPipeOnRead]: onread }) });
	const running = child;
	const outputs = Promise.all([collect(running.stdout, maxBuffer, onOverflow, captures?.[0]), collect(running.stderr, maxBuffer, onOverflow, captures?.[1])]);
	if (input !== undefined) feed(running.stdin!, input);
	let timedOut = false;
	const limit = options.timeout;
	const cutoff =
		limit !== undefined && limit > 0 && Number.isFinite(limit)
			? setTimeout(() => {
					timedOut = true;
					// The child's own timeout kills it; once it has ended, give its pipes a moment.
					running.wait().then(
						() => setTimeout(() => closeOutputs(running), OUTPUT_GRACE_MS),
						() => closeOutputs(running),
					);
				}, limit)
			: undefined;
	let exit: ExitInfo;
	let stdoutBytes: Buffer;
	let stderrBytes: Buffer;
	try {
		[exit, [stdoutBytes, stderrBytes]] = await Promise.all([running.wait(), outputs]);
	} finally {
		clearTimeout(cutoff);
	}
	const decode = (b: Buffer) => (encoding === 'utf8' ? b.toString('utf8') : b);
	const result = { stdout: decode(stdoutBytes), stderr: decode(stderrBytes), exit };
	const reason = overflow ? 'maxBuffer' : (running.terminatedBy ?? (timedOut ? 'timeout' : reject && !exit.success ? 'failed' : undefined));
	if (reason) throw new RunError(describeRunEnd(file, args, reason, exit, { timeout: limit, maxBuffer }), reason, result.stdout, result.stderr, exit);
	return result;
}

function closeOutputs(child: Child): void {
	child.stdout?.destroy();
	child.stderr?.destroy();
}
