// Starting a child: one SPAWN request, and the Child built from its reply.
import { abortError, PidfdError } from '../../schemas/errors.js';
import { signalNumber } from '../../schemas/signals.js';
import type { SpawnOptions, StdioEntry } from '../../schemas/spawn.js';
import { Sidecar } from '../sidecar/connection.js';
import { decodeSpawned, encodeHandle, encodeKill, encodeSpawn } from '../sidecar/messages.js';
import { MessageType, SpawnFlag, StdioKind, type WireSpawn } from '../sidecar/protocol.js';
import { traceNow, tracing } from '../sidecar/trace.js';
import { Child, type Relay } from './child.js';
import { sidecarHandle } from './handle.js';
import { claimHandovers, releaseHandovers } from './handover.js';
import { kPipeOnRead, type PipeOnRead } from './pipes.js';
import { toWire } from './spawn-request.js';
import { hostMasterRefused, openHostMaster } from './terminal.js';
import { transportOf } from './transport.js';
import { reportDetached } from './report.js';

/**
 * Pipe size asked for a captured stream: the default /proc/sys/fs/pipe-max-size, which any
 * user may ask for. 256 MiB captured: ~1,040 MiB/s against ~700 with the default 64 KiB.
 */
const CAPTURE_PIPE_SIZE = 1024 * 1024;

/** @internal `spawn()` without containment; `setup` runs on the Child before any event can reach it. */
export async function spawnChild(file: string, args: readonly string[], options: SpawnOptions, setup?: (child: Child) => void): Promise<Child> {
	const calledAt = tracing ? traceNow() : undefined;
	const onread = (options as { [kPipeOnRead]?: PipeOnRead })[kPipeOnRead];
	let request = sizeCapturePipes(toWire(file, args, options), onread);
	const termination = {
		// 0 and Infinity mean no limit (Node's and execa's convention).
		timeout: options.timeout === 0 || options.timeout === Number.POSITIVE_INFINITY ? undefined : options.timeout,
		signal: options.signal,
		killSignal: signalNumber(options.killSignal ?? 'SIGTERM')!,
		forceKillAfter: options.forceKillAfter ?? 5000,
	};
	if (options.signal?.aborted) throw abortError('spawn() was aborted before the child started', options.signal);
	const sidecar = Sidecar.get();
	checkSources(options.stdio, sidecar);
	await sidecar.ready;
	const size = terminalSize(request);
	const master = size ? openHostMaster(sidecar, transportOf(options)) : undefined;
	if (master !== undefined) request = withHostMaster(request, master);
	let masterTaken = false;
	// Pipes of other children given as stdio: theirs until the reply, then closed here.
	const handed = claimHandovers(options.stdio, sidecar);
	const spawned = sidecar.call(
		MessageType.SPAWN,
		(w) => encodeSpawn(w, request),
		(reply) => {
			const { handle, pid, pipes } = decodeSpawned(reply.body);
			let child: Child | undefined;
			try {
				// From here the Child owns the master, and closes it if it cannot be built.
				masterTaken = true;
				child = new Child(sidecar, handle, pid, pipes, relaysOf(request), request.stdio.length, onread, size && { size, master });
				if (request.flags & SpawnFlag.DETACHED) child.markDetached();
				setup?.(child);
			} catch (error) {
				abandon(sidecar, handle, child);
				throw error;
			}
			child.armTermination(termination);
			if (pipes.length > 0) {
				// Our ends are open now: the sidecar can drop its copies, so EOF and EPIPE work.
				sidecar
					.call(
						MessageType.RELEASE,
						(w) => encodeHandle(w, handle),
						() => undefined,
					)
					.catch(reportDetached);
			}
			return child;
		},
		calledAt === undefined ? undefined : { calledAt },
	);
	if (handed.length > 0)
		spawned.then(
			() => releaseHandovers(handed),
			() => releaseHandovers(handed),
		);
	// A spawn that failed before any Child took the master: if the sidecar could not take it,
	// nothing ran, so again relayed (no pipe of another child was taken either: the terminal
	// is entry 0, the first the sidecar sets up).
	const started =
		master === undefined
			? spawned
			: spawned.catch((error: unknown) => {
					if (masterTaken || !hostMasterRefused(master, error) || handed.length > 0) throw error;
					return spawnChild(file, args, options, setup);
				});
	return request.namespaces ? started.catch(explainNamespaces) : started;
}

/** Entry 0 names the master the host opened: the sidecar sets up its slave and keeps only a copy for input. */
function withHostMaster(request: WireSpawn, master: number): WireSpawn {
	const [first, ...rest] = request.stdio;
	return { ...request, stdio: [{ ...first!, kind: StdioKind.HOST_TERMINAL, masterFd: master }, ...rest] };
}

/** A clone the kernel refused for its namespace flags: say so, and where to look. */
function explainNamespaces(error: unknown): never {
	if (!(error instanceof PidfdError) || error.syscall !== 'clone3' || error.path !== 'namespaces') throw error;
	const why =
		error.code === 'EPERM' || error.code === 'ENOSPC' || error.code === 'EINVAL' || error.code === 'ENOSYS'
			? ' (user namespaces may be disabled: sysctl user.max_user_namespaces or kernel.unprivileged_userns_clone, an AppArmor rule, or a seccomp filter)'
			: '';
	throw new PidfdError(error.code, `clone3 ${error.code}: the kernel refused new namespaces for the child${why}`, {
		syscall: 'clone3',
		errno: error.errno,
		path: 'namespaces',
		cause: error,
		...(error.pid === undefined ? {} : { pid: error.pid }),
	});
}

/** The size a terminal child starts with: entry 0 packs rows << 16 | cols. */
function terminalSize(request: WireSpawn): { cols: number; rows: number } | undefined {
	const first = request.stdio[0];
	if (first?.kind !== StdioKind.TERMINAL && first?.kind !== StdioKind.HOST_TERMINAL) return undefined;
	return { cols: first.arg & 0xffff, rows: (first.arg >>> 16) & 0xffff };
}

/** The stdio entries the sidecar relays, which SPAWNED does not list. */
function relaysOf(request: WireSpawn): Relay[] {
	const relays: Relay[] = [];
	request.stdio.forEach((entry, fd) => {
		if (entry.kind === StdioKind.RELAY_TO_CHILD) relays.push({ fd, toChild: true });
		else if (entry.kind === StdioKind.RELAY_FROM_CHILD) relays.push({ fd, toChild: false });
		// A relayed pty master: keystrokes in on 0, the terminal's output on 1. Of a master the
		// host opened, the sidecar keeps only the input (see terminal.ts).
		else if (entry.kind === StdioKind.HOST_TERMINAL) relays.push({ fd, toChild: true, terminal: true });
		else if (entry.kind === StdioKind.TERMINAL && fd < 2 && request.stdio[0]!.kind === StdioKind.TERMINAL)
			relays.push({ fd, toChild: fd === 0, terminal: true });
	});
	return relays;
}

/**
 * A pipe read through `onread` (run() capturing output) goes into big buffers: a bigger
 * pipe lets each read take more. The sidecar's F_SETPIPE_SZ, best effort.
 */
function sizeCapturePipes(request: WireSpawn, onread: PipeOnRead | undefined): WireSpawn {
	if (!onread) return request;
	const stdio = request.stdio.map((entry, fd) => (entry.kind === StdioKind.PIPE_FROM_CHILD && onread[fd] ? { ...entry, arg: CAPTURE_PIPE_SIZE } : entry));
	return { ...request, stdio };
}

/**
 * The sidecar spawned a child but this side could not take it (its pipes could not be
 * opened, say): spawn() rejects, so nobody could ever wait for or kill it. It is killed, and
 * CLOSE lets the sidecar drop its pipes and reap it silently.
 */
function abandon(sidecar: Sidecar, handle: number, child: Child | undefined): void {
	child?.unref();
	sidecar.unwatch(handle);
	sidecar
		.call(
			MessageType.KILL,
			(w) => encodeKill(w, handle, 9, 0),
			() => undefined,
		)
		.catch(reportDetached);
	sidecar
		.call(
			MessageType.CLOSE,
			(w) => encodeHandle(w, handle),
			() => undefined,
		)
		.catch(reportDetached);
}

/**
 * Handle ids are per sidecar: one from a sidecar that has died could name another process
 * in the new one. So `{ process, fd }` entries must come from the sidecar we spawn with.
 */
function checkSources(stdio: SpawnOptions['stdio'], sidecar: Sidecar): void {
	if (!Array.isArray(stdio)) return;
	for (const entry of stdio as readonly StdioEntry[]) {
		if (entry && typeof entry === 'object' && 'process' in entry && sidecarHandle(entry.process).sidecar !== sidecar) {
			throw new PidfdError('ESRCH', `pidfd_getfd ESRCH: process ${entry.process.pid} was opened by a sidecar that is gone`, {
				syscall: 'pidfd_getfd',
				pid: entry.process.pid,
			});
		}
	}
}
