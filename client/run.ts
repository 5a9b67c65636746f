import type { ExitInfo } from '../schemas/exit.js';
import type { BridgeConnection, RemoteSpawnOptions } from './connection.js';
import { RunError } from '../schemas/errors.js';

export interface RemoteRunOptions extends Omit<RemoteSpawnOptions, 'stdio' | 'terminal'> {
	/** Written to the child's stdin, which is then closed. Default: stdin is /dev/null. */
	input?: string | Uint8Array;
	/** 'utf8' gives strings; default 'buffer' gives Uint8Arrays. */
	encoding?: 'buffer' | 'utf8';
	/** Most bytes kept per stream; past it the child is killed and run() rejects. Default 64 MiB. */
	maxBuffer?: number;
}

export interface RemoteRunResult<T = Uint8Array | string> {
	stdout: T;
	stderr: T;
	exit: ExitInfo;
}

/**
 * Runs a program on the host to its end and collects its output, like the local `run()`:
 * resolves whatever the exit code, rejects with RunError only when it was cut short
 * (timeout, abort, maxBuffer), and with PidfdError if it could not start.
 */
export async function runRemote(connection: BridgeConnection, file: string, args: readonly string[], options: RemoteRunOptions): Promise<RemoteRunResult> {
	const { input, encoding = 'buffer', maxBuffer = 64 * 1024 * 1024, ...spawnOptions } = options;
	const child = await connection.spawn(file, args, { ...spawnOptions, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
	let overflow = false;
	const onOverflow = () => {
		if (overflow) return;
		overflow = true;
		child.kill('SIGKILL').catch(() => {});
	};
	const feeding = input === undefined ? Promise.resolve() : feed(child.stdin!, input);
	const [exit, stdout, stderr] = await Promise.all([
		child.wait(),
		collect(child.stdout!, maxBuffer, onOverflow),
		collect(child.stderr!, maxBuffer, onOverflow),
		feeding,
	]);
	const decode = (bytes: Uint8Array) => (encoding === 'utf8' ? new TextDecoder().decode(bytes) : bytes);
	const result = { stdout: decode(stdout), stderr: decode(stderr), exit };
	const cut = overflow ? 'maxBuffer' : child.terminatedBy;
	if (cut) {
		const what = cut === 'timeout' ? `timed out` : cut === 'abort' ? 'was aborted' : `wrote more than maxBuffer (${maxBuffer} bytes)`;
		throw new RunError(`${file} ${what}`, cut, result.stdout, result.stderr, exit);
	}
	return result;
}

/** Reads a stream to its end, keeping at most `limit` bytes; past it, calls onOverflow once and drops the rest. */
async function collect(stream: ReadableStream<Uint8Array>, limit: number, onOverflow: () => void): Promise<Uint8Array> {
	const chunks: Uint8Array[] = [];
	let size = 0;
	const reader = stream.getReader();
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			if (size + value.byteLength > limit) {
				// Keep draining (and dropping) rather than cancel: cancelling closes the pipe, and
				// the child would die of SIGPIPE before our SIGKILL arrives, as with local run().
				if (size < limit) chunks.push(value.subarray(0, limit - size));
				size = limit;
				onOverflow();
				continue;
			}
			chunks.push(value);
			size += value.byteLength;
		}
	} catch {
		// The connection or the child went away mid-stream: keep what arrived; wait() says why.
	}
	const all = new Uint8Array(size);
	let offset = 0;
	for (const chunk of chunks) {
		all.set(chunk, offset);
		offset += chunk.byteLength;
	}
	return all;
}

/** Writes all of `input` and closes stdin; a child that exits without reading it is fine. */
async function feed(stdin: WritableStream<Uint8Array | string>, input: string | Uint8Array): Promise<void> {
	const writer = stdin.getWriter();
	try {
		await writer.write(input);
		await writer.close();
	} catch {
		// EPIPE: the child did not want it all, as with a local pipe.
	}
}
