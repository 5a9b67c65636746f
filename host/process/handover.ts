// Kernel pipelines: a child's pipe given to another child as one of its stdio entries,
// `spawn('sort', [], { stdio: [producer.stdout, 'pipe', 'inherit'] })`, like Rust's
// `Stdio::from(child.stdout)`. The pipe itself changes hands, so no byte passes through the
// host, and the host's end is closed once the new child has its copy: EOF and SIGPIPE then
// behave as in a shell pipeline.
//
// - direct transport: the host holds its end (opened through /proc/<sidecar>/fd/N); the
//   sidecar takes a copy with pidfd_getfd (HOST_PIPE), made blocking for the child.
// - relay transport: the sidecar holds its end; it moves it from the relay to the child
//   (RELAYED). Relayed output is read only once the host's reader asks (RELAY_LAZY), so no
//   byte has left the pipe before the handover.
// Either way the stream must not have been read or written by the host: what it took would
// be missing from the next child's input. That is refused, as is handing a stream twice.
import type { Readable, Writable } from 'node:stream';
import { InvalidArgumentError, PidfdError } from '../../schemas/errors.js';
import type { Sidecar } from '../sidecar/connection.js';
import { StdioKind, type WireStdio } from '../sidecar/protocol.js';

/** Symbol.for, as the schema recognises a pipe stream without importing this module. */
export const kHandover = Symbol.for('pidfd.pipeHandover');

/** Where a child's pipe stream comes from, so it can be handed to another child. */
export interface HandoverSource {
	sidecar: Sidecar;
	/** The process that owns the pipe, and its fd. */
	handle: number;
	childFd: number;
	/** direct: the host's own fd of the pipe. */
	hostFd?: number;
	/** relay: let go of the stream without shutting the sidecar's end (it changed hands). */
	detach?: () => void;
	taken?: boolean;
}

type PipeStream = (Readable | Writable) & { [kHandover]?: HandoverSource };

/** Makes a child's pipe stream a possible stdio entry of another child. */
export function markHandover(stream: Readable | Writable, source: HandoverSource): void {
	(stream as PipeStream)[kHandover] = source;
}

/** The source of a stdio entry that is a child's pipe stream, else undefined. */
export function handoverOf(entry: unknown): HandoverSource | undefined {
	return typeof entry === 'object' && entry !== null ? (entry as PipeStream)[kHandover] : undefined;
}

/** The SPAWN stdio entry for a pipe stream handed over; refuses one already read, written or given. */
export function handoverEntry(stream: Readable | Writable): WireStdio {
	const source = handoverOf(stream)!;
	if (source.taken) throw new InvalidArgumentError(`spawn() options.stdio: the pipe of process fd ${source.childFd} was already given to another child`);
	// The child's fd 0 is the host's to write; any other, the host's to read.
	const readable = stream as Readable;
	const writable = stream as Writable;
	const used =
		stream.destroyed ||
		(source.childFd === 0
			? writable.writableLength > 0 || writable.writableEnded
			: readable.readableLength > 0 || readable.readableDidRead || readable.readableEnded || readable.readableFlowing === true);
	if (used) {
		throw new InvalidArgumentError(
			'spawn() options.stdio: a pipe stream can be given to another child only before this process reads, writes or closes it (what it took would be missing)',
		);
	}
	if (source.hostFd !== undefined) return { kind: StdioKind.HOST_PIPE, arg: source.hostFd, path: '' };
	return { kind: StdioKind.RELAYED, arg: source.childFd, path: '', handle: source.handle };
}

/**
 * The pipe streams among `stdio`, marked taken for the spawn about to be sent. A relayed one
 * must live in the sidecar the spawn goes to.
 */
export function claimHandovers(stdio: unknown, sidecar: Sidecar): PipeStream[] {
	if (!Array.isArray(stdio)) return [];
	const claimed: PipeStream[] = [];
	for (const entry of stdio) {
		const source = handoverOf(entry);
		if (!source) continue;
		if (source.hostFd === undefined && source.sidecar !== sidecar) {
			throw new PidfdError('EBADF', 'spawn EBADF: the relayed pipe belongs to a sidecar that is gone', { syscall: 'spawn' });
		}
		source.taken = true;
		claimed.push(entry as PipeStream);
	}
	return claimed;
}

/**
 * Once the spawn is answered, the host's ends are closed (direct) or forgotten (relay: the
 * sidecar's end went to the child). Also after a failed spawn: the stream was given away,
 * as a Rust `Stdio` is consumed either way.
 */
export function releaseHandovers(claimed: readonly PipeStream[]): void {
	for (const stream of claimed) {
		const source = stream[kHandover]!;
		if (source.detach) source.detach();
		else stream.destroy();
	}
}
