import { constants } from 'node:fs';
import { abortError, describeRunEnd, InvalidArgumentError, RunError } from '../../schemas/errors.js';
import { signalNumber } from '../../schemas/signals.js';
import type { StdioEntry } from '../../schemas/spawn.js';
import { toWire } from '../process/spawn-request.js';
import { runOnce } from '../sidecar/once.js';
import { StdioKind, type WireSpawn, type WireStdio } from '../sidecar/protocol.js';
import { checkRunOnly, DEFAULT_MAX_BUFFER, type RunOptions, type RunResult } from './run.js';

/** Where the one-shot sidecar puts the input (sidecar/once.c): its own fd 0, a memory file. */
const INPUT_PATH = '/proc/self/fd/0';

/** The largest window a relayed stream can have (the wire's i32 `arg`). */
const MAX_WINDOW = 0x7fffffff;

/**
 * `run()`, blocking: the same options, the same `{ stdout, stderr, exit }` (ExitInfo with
 * rusage), the same PidfdError and RunError. The host's thread waits in the kernel while the
 * child runs, in a one-shot sidecar of its own (host/sidecar/once.ts says why), so async
 * children of this host go on, and their events come once this returns.
 *
 * Differences that follow from blocking: a `signal` can only abort before the call (nothing
 * runs to see it abort meanwhile); the input is read in full before the child starts, and
 * the child finds it on a memory file, not a pipe (seekable, like `< file` in a shell);
 * stdio sources must be the host's own (a file, an fd, 'inherit'), not another process's.
 */
export function runSync(file: string, args?: readonly string[], options?: RunOptions & { encoding: 'utf8' }): RunResult<string>;
export function runSync(file: string, args?: readonly string[], options?: RunOptions & { encoding?: 'buffer' }): RunResult<Buffer>;
export function runSync(file: string, args: readonly string[] = [], options: RunOptions = {}): RunResult {
	const { input, stdin, encoding = 'buffer', maxBuffer = DEFAULT_MAX_BUFFER, stderr = 'pipe', reject = false, ...spawnOptions } = options;
	checkRunOnly('runSync()', options);
	if (spawnOptions.terminal !== undefined) throw new InvalidArgumentError('runSync(): a terminal needs someone to answer it; use spawn(…, { terminal })');
	if (stdin !== undefined && typeof stdin === 'object' && stdin !== null) {
		if (!('file' in stdin)) throw new InvalidArgumentError("runSync(): options.stdin must be the host's own (a file, an fd, 'inherit'), not another process's stream");
	}
	if ((spawnOptions.contain !== undefined && spawnOptions.contain !== false) || spawnOptions.limits !== undefined) {
		throw new InvalidArgumentError('runSync(): contain and limits need a scope that outlives the call; use run() or pipeline()');
	}
	if (spawnOptions.signal?.aborted) throw abortError('runSync() was aborted before the child started', spawnOptions.signal);
	const stdinEntry: StdioEntry = input !== undefined ? 'ignore' : (stdin ?? 'ignore');
	const request = oneShot(toWire(file, args, { ...spawnOptions, stdioTransport: 'relay', stdio: [stdinEntry, 'pipe', stderr] }), input !== undefined, maxBuffer);
	const timeout = spawnOptions.timeout === 0 || spawnOptions.timeout === Number.POSITIVE_INFINITY ? undefined : spawnOptions.timeout;
	const started = performance.now();
	const { output, exit } = runOnce(request, typeof input === 'string' ? Buffer.from(input, 'utf8') : input, {
		timeout,
		killSignal: signalNumber(spawnOptions.killSignal ?? 'SIGTERM')!,
		forceKillAfter: spawnOptions.forceKillAfter ?? 5000,
	});
	const timedOut = timeout !== undefined && performance.now() - started >= timeout;
	let overflow = false;
	const take = (fd: number): Buffer => {
		const bytes = output.get(fd) ?? Buffer.alloc(0);
		if (bytes.length <= maxBuffer) return bytes;
		overflow = true;
		return bytes.subarray(0, maxBuffer);
	};
	const [stdoutBytes, stderrBytes] = [take(1), take(2)];
	const decode = (b: Buffer) => (encoding === 'utf8' ? b.toString('utf8') : b);
	const result = { stdout: decode(stdoutBytes), stderr: decode(stderrBytes), exit };
	const reason = overflow ? 'maxBuffer' : timedOut ? 'timeout' : reject && !exit.success ? 'failed' : undefined;
	if (reason) throw new RunError(describeRunEnd(file, args, reason, exit, { timeout, maxBuffer }), reason, result.stdout, result.stderr, exit);
	return result;
}

/**
 * The request as the one-shot sidecar takes it: the input on its fd 0 (INPUT_PATH), and
 * output windows of maxBuffer + 1 bytes: no credit ever comes back, so a stream that uses
 * its window up is one byte past maxBuffer, and the sidecar kills the child.
 */
function oneShot(request: WireSpawn, hasInput: boolean, maxBuffer: number): WireSpawn {
	const window = Math.min(MAX_WINDOW, maxBuffer + 1);
	const stdio = request.stdio.map((entry, fd): WireStdio => {
		if (fd === 0 && hasInput) return { kind: StdioKind.FILE, arg: constants.O_RDONLY, path: INPUT_PATH };
		if (entry.kind === StdioKind.RELAY_FROM_CHILD) return { ...entry, arg: window };
		return entry;
	});
	return { ...request, stdio };
}
