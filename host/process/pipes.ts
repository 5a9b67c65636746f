import { closeSync, constants, createReadStream, createWriteStream, openSync } from 'node:fs';
import { type OnReadOpts, Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { explainDenied } from '../sidecar/permissions.js';
import { runtime } from '../sidecar/runtime.js';

/** Not in every runtime's fs.constants; the Linux value. */
const O_CLOEXEC = 0o2000000;

/**
 * Opens the host's own end of a pipe the sidecar made for a child, through
 * /proc/<sidecar>/fd/<n>. The bytes then flow between the child and the host directly, with
 * the kernel's pipe buffer as the only buffer and its blocking as the backpressure: the
 * sidecar never copies them.
 */
export function openPipeEnd(sidecarPid: number, fd: number, hostWrites: boolean, onread?: OnReadOpts): Socket | Readable | Writable {
	const path = `/proc/${sidecarPid}/fd/${fd}`;
	// Node polls a non-blocking pipe in its event loop. Bun's net.Socket never reads such an
	// fd and Deno's refuses it (EEXIST): there, fs streams read and write it, blocking, off
	// the main thread.
	const sockets = runtime === 'node';
	let hostFd: number;
	try {
		hostFd = openSync(path, (hostWrites ? constants.O_WRONLY : constants.O_RDONLY) | (sockets ? constants.O_NONBLOCK : 0) | O_CLOEXEC);
	} catch (error) {
		// Opening the write end of a pipe whose reader is gone (the child already exited or
		// closed its stdin) fails with ENXIO: the same as writing to it, EPIPE.
		if (hostWrites && (error as NodeJS.ErrnoException).code === 'ENXIO') return closedWritable();
		throw explainDenied(error, `opening the pipe ${path}`);
	}
	if (!sockets) return withHostFd(hostWrites ? createWriteStream('', { fd: hostFd }) : readStream(hostFd), hostFd);
	// `onread` (run() capturing output, see there): each read lands in a buffer the caller
	// gives and goes to its callback, instead of a fresh Buffer per read through the stream.
	// Otherwise nothing is read before someone reads the stream (manualStart: no read(0) at
	// creation), so the pipe can still be handed to another child whole (handover.ts).
	const options = onread && !hostWrites ? { onread } : { manualStart: true };
	return withHostFd(new Socket({ fd: hostFd, readable: !hostWrites, writable: hostWrites, ...options }), hostFd);
}

const kHostFd = Symbol('pidfd.hostFd');

function withHostFd<T extends Readable | Writable>(stream: T, fd: number): T {
	(stream as T & { [kHostFd]?: number })[kHostFd] = fd;
	return stream;
}

/** The host's fd of a pipe end openPipeEnd() opened. */
export function hostFdOf(stream: Readable | Writable): number | undefined {
	return (stream as { [kHostFd]?: number })[kHostFd];
}

/**
 * Whether openPipeEnd() honours `onread`: only where the host's end is a net.Socket (Node).
 * Elsewhere the stream emits 'data' as usual.
 */
export const pipeOnRead = runtime === 'node';

/**
 * @internal A spawn option, by symbol so it is no part of the public options and survives
 * their spreads: `onread` for the pipe of some child fds (openPipeEnd()). Used by run().
 */
export const kPipeOnRead = Symbol('pidfd.pipeOnRead');
export type PipeOnRead = Readonly<Record<number, OnReadOpts>>;

interface BunGlobal {
	file(fd: number): { stream(): ReadableStream<Uint8Array> };
}

/**
 * fs read streams read on the runtime's thread pool, where a blocking read of a pipe holds a
 * thread until the child writes. Deno's pool is large; Bun's has one thread per CPU, so a
 * few quiet pipes would stall every fs call: there Bun.file() polls the pipe instead.
 */
function readStream(fd: number): Readable {
	const bun = (globalThis as { Bun?: BunGlobal }).Bun;
	if (!bun) return createReadStream('', { fd, highWaterMark: 64 * 1024 });
	const stream = Readable.fromWeb(bun.file(fd).stream() as import('node:stream/web').ReadableStream<Uint8Array>);
	stream.once('close', () => closeSync(fd));
	return stream;
}

function closedWritable(): Writable {
	return new Writable({
		write(_chunk, _encoding, callback) {
			const error = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: 32, syscall: 'write' });
			callback(error);
		},
	});
}
