import { constants, existsSync } from 'node:fs';
import { abortError, describeRunEnd, InvalidArgumentError, PidfdError, RunError } from '../../schemas/errors.js';
import { signalNumber } from '../../schemas/signals.js';
import type { SpawnOptions, StdioEntry } from '../../schemas/spawn.js';
import { Scope } from '../cgroup/scope.js';
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
 * With `contain`, whatever the child leaves in its scope is killed when it ends.
 */
export function runSync(file: string, args?: readonly string[], options?: RunOptions & { encoding: 'utf8' }): RunResult<string>;
export function runSync(file: string, args?: readonly string[], options?: RunOptions & { encoding?: 'buffer' }): RunResult<Buffer>;
export function runSync(file: string, args: readonly string[] = [], options: RunOptions = {}): RunResult {
	const { input, stdin, encoding = 'buffer', maxBuffer = DEFAULT_MAX_BUFFER, stderr = 'pipe', reject = false, ...spawnOptions } = options;
	checkRunOnly('runSync()', options);
	if (spawnOptions.terminal !== undefined) throw new InvalidArgumentError('runSync(): a terminal needs someone to answer it; use spawn(…, { terminal })');
	if (stdin !== undefined && typeof stdin === 'object' && stdin !== null) {
		if (!('file' in stdin))
			throw new InvalidArgumentError("runSync(): options.stdin must be the host's own (a file, an fd, 'inherit'), not another process's stream");
	}
	if (spawnOptions.signal?.aborted) throw abortError('runSync() was aborted before the child started', spawnOptions.signal);
	const { contain, limits, ...rest } = spawnOptions;
	if ((contain !== undefined && contain !== false) || limits !== undefined) {
		if (rest.cgroup !== undefined) throw new InvalidArgumentError('runSync() options: contain and cgroup exclude each other');
	}
	const stdinEntry: StdioEntry = input !== undefined ? 'ignore' : (stdin ?? 'ignore');
	const stdio: StdioEntry[] = [stdinEntry, 'pipe', stderr];
	const wireOptions: SpawnOptions = { ...rest, stdioTransport: 'relay', stdio };
	// Invalid options fail here, before any cgroup is made.
	let request = oneShot(toWire(file, args, wireOptions), input !== undefined, maxBuffer);
	const scope = (contain !== undefined && contain !== false) || limits !== undefined ? containedScope(contain, limits) : undefined;
	const timeout = rest.timeout === 0 || rest.timeout === Number.POSITIVE_INFINITY ? undefined : rest.timeout;
	const started = performance.now();
	let ran: ReturnType<typeof runOnce>;
	try {
		if (scope) request = oneShot(toWire(file, args, { ...wireOptions, cgroup: scope.path }), input !== undefined, maxBuffer);
		ran = runOnce(request, typeof input === 'string' ? Buffer.from(input, 'utf8') : input, {
			timeout,
			killSignal: signalNumber(rest.killSignal ?? 'SIGTERM')!,
			forceKillAfter: rest.forceKillAfter ?? 5000,
			contain: scope?.path,
		});
	} finally {
		// The one-shot sidecar killed what the child left in the scope and waited for it to empty.
		scope?.removeEmptied();
	}
	const { output, exit } = ran;
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
 * A scope of its own for the call (`contain`, `limits`), as spawn() makes one. The one-shot
 * sidecar ends everything in it once the child has ended (cgroup.kill, Linux 5.14), so
 * nothing outlives the call.
 */
function containedScope(contain: RunOptions['contain'], limits: RunOptions['limits']): Scope {
	const scopeOptions = typeof contain === 'object' ? contain : {};
	const scope = Scope.createSync(limits === undefined ? scopeOptions : { ...scopeOptions, limits: { ...scopeOptions.limits, ...limits } }, 'child');
	if (!existsSync(`${scope.path}/cgroup.kill`)) {
		scope.removeEmptied();
		throw new PidfdError('ENOTSUP', `runSync(): contain needs cgroup.kill (Linux 5.14) in ${scope.path}`, { syscall: 'open', path: scope.path });
	}
	return scope;
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
