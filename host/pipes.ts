import { constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';

/** Not in every runtime's fs.constants; the Linux value. */
const O_CLOEXEC = 0o2000000;

/**
 * Opens the host's own end of a pipe the sidecar made for a child, through
 * /proc/<sidecar>/fd/<n>. The bytes then flow between the child and the host directly, with
 * the kernel's pipe buffer as the only buffer and its blocking as the backpressure: the
 * sidecar never copies them.
 */
export function openPipeEnd(sidecarPid: number, fd: number, hostWrites: boolean): Socket | Writable {
	const path = `/proc/${sidecarPid}/fd/${fd}`;
	let hostFd: number;
	try {
		hostFd = openSync(path, (hostWrites ? constants.O_WRONLY : constants.O_RDONLY) | constants.O_NONBLOCK | O_CLOEXEC);
	} catch (error) {
		// Opening the write end of a pipe whose reader is gone (the child already exited or
		// closed its stdin) fails with ENXIO: the same as writing to it, EPIPE.
		if (hostWrites && (error as NodeJS.ErrnoException).code === 'ENXIO') return closedWritable();
		throw error;
	}
	return new Socket({ fd: hostFd, readable: !hostWrites, writable: hostWrites });
}

function closedWritable(): Writable {
	return new Writable({
		write(_chunk, _encoding, callback) {
			const error = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: 32, syscall: 'write' });
			callback(error);
		},
	});
}
