// The sidecar's one-shot mode (`pidfd-sidecar --once`, sidecar/once.c), for synchronous runs.
//
// Why a one-shot sidecar started with spawnSync() rather than a second, blocking channel to
// the host's long-lived sidecar read with fs.readSync():
// - spawnSync() blocks the host's thread in the kernel (a wait, not a poll) on Node, Bun and
//   Deno alike; a blocking read of a pipe is not available everywhere (Deno's and Bun's fs
//   calls on a pipe the runtime also polls differ), and a second channel would have to be
//   set up before the first async call, or by a handshake the async side is part of.
// - The long-lived sidecar, its pending replies and its children are left alone: async
//   children of the same host run on, and their events are delivered once the event loop
//   turns again. Nothing is shared, so nothing can be lost or reordered.
// - It works before any async call has started a sidecar, and costs one exec of a 50 KB
//   static binary per call (a `runSync('true')` is ~1 ms: bench/).
// The request, the spawn and the frames are the long-lived sidecar's own: the same C code,
// the same codec.
import { spawnSync } from 'node:child_process';
import { ErrorCode, PidfdError } from '../../schemas/errors.js';
import type { ExitInfo } from '../../schemas/exit.js';
import { hostStdioFd } from './connection.js';
import { FrameDecoder, FrameWriter, ProtocolError } from './framing.js';
import { locateSidecar } from './locate.js';
import { decodeError, decodeExit, decodeFatal, decodeHello, decodeSpawned, decodeStreamEvent, encodeSpawn } from './messages.js';
import { explainDenied } from './permissions.js';
import { MessageType, PROTOCOL_VERSION, type WireSpawn } from './protocol.js';

/** How the one-shot sidecar ends a child that runs too long (run()'s timeout options). */
export interface OnceLimits {
	/** ms; undefined: none. */
	timeout?: number | undefined;
	killSignal: number;
	/** ms after killSignal; false: never. */
	forceKillAfter: number | false;
	/** The run's own scope: whatever the child leaves in it is killed when it ends. */
	contain?: string | undefined;
}

export interface OnceResult {
	pid: number;
	/** Bytes the child wrote, by its fd (relayed streams only). */
	output: Map<number, Buffer>;
	exit: ExitInfo;
}

/** The request id of the one SPAWN: any non-zero id would do. */
const REQUEST_ID = 1;

/**
 * Runs one SPAWN request to its end in a sidecar of its own, blocking: `input` is what the
 * child finds on a FILE entry "/proc/self/fd/0". Throws the PidfdError the sidecar answered
 * when the child could not start.
 */
export function runOnce(request: WireSpawn, input: Uint8Array | undefined, limits: OnceLimits): OnceResult {
	const writer = new FrameWriter();
	encodeSpawn(writer, request);
	const frame = writer.finish(MessageType.SPAWN, REQUEST_ID);
	const path = locateSidecar();
	const args = ['--once', '--kill-signal', String(limits.killSignal)];
	if (limits.timeout !== undefined) args.push('--timeout', String(limits.timeout));
	if (limits.forceKillAfter !== false) args.push('--force-kill-after', String(limits.forceKillAfter));
	if (limits.contain !== undefined) args.push('--contain', limits.contain);
	const result = spawnSync(path, args, {
		input: input && input.length > 0 ? Buffer.concat([frame, input]) : frame,
		// fds 3-5 carry the host's own stdio, as for the long-lived sidecar (see connection.ts).
		stdio: ['pipe', 'pipe', 'inherit', ...[0, 1, 2].map(hostStdioFd)],
		maxBuffer: Number.POSITIVE_INFINITY,
		windowsHide: true,
	});
	if (result.error) throw explainDenied(result.error, `starting the sidecar ${path}`);
	return decodeReplies(result.stdout, result.status, result.signal);
}

function decodeReplies(stdout: Buffer | null, status: number | null, signal: string | null): OnceResult {
	const output = new Map<number, Buffer[]>();
	let spawned: { pid: number } | undefined;
	let failure: PidfdError | undefined;
	let exit: ExitInfo | undefined;
	try {
		new FrameDecoder().push(stdout ?? Buffer.alloc(0), (frame) => {
			switch (frame.type) {
				case MessageType.HELLO: {
					const { version } = decodeHello(frame.body);
					if (version !== PROTOCOL_VERSION) {
						throw new PidfdError(ErrorCode.PROTOCOL_MISMATCH, `pidfd: the sidecar speaks protocol ${version}, this host ${PROTOCOL_VERSION}: rebuild it`, {
							syscall: 'spawn',
						});
					}
					break;
				}
				case MessageType.SPAWNED:
					spawned = decodeSpawned(frame.body);
					break;
				case MessageType.ERROR:
					failure = decodeError(frame.body);
					break;
				case MessageType.DATA: {
					const { fd, data } = decodeStreamEvent(frame.type, frame.body);
					const chunks = output.get(fd) ?? [];
					chunks.push(data);
					output.set(fd, chunks);
					break;
				}
				case MessageType.EXIT:
					exit = decodeExit(frame.body);
					break;
				case MessageType.FATAL:
					throw new PidfdError(ErrorCode.PROTOCOL, `pidfd: the sidecar refused the request: ${decodeFatal(frame.body).detail}`, { syscall: 'spawn' });
				// EOF: the stream ended; nothing more to learn from it here.
			}
		});
	} catch (error) {
		if (error instanceof ProtocolError) throw new PidfdError(ErrorCode.PROTOCOL, `pidfd: unreadable data from the sidecar: ${error.message}`, { cause: error });
		throw error;
	}
	if (failure) throw failure;
	if (!spawned || !exit) {
		const how = signal ? `was killed by ${signal}` : `exited with status ${status}`;
		throw new PidfdError(ErrorCode.SIDECAR_DIED, `pidfd: the one-shot sidecar ${how} before the child's end`, { syscall: 'spawn' });
	}
	const joined = new Map<number, Buffer>();
	for (const [fd, chunks] of output) joined.set(fd, Buffer.concat(chunks));
	return { pid: spawned.pid, output: joined, exit };
}
