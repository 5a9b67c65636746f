/** Peer: Bun.spawn, run by Bun itself. */
import { type Adapter, main } from './harness.js';

/** The slice of Bun's API used here (this file is type-checked with Node's types). */
declare const Bun: {
	spawn(
		cmd: string[],
		options: { stdin: 'ignore'; stdout: 'ignore' | 'pipe'; stderr: 'ignore' },
	): {
		exited: Promise<number>;
		stdout: ReadableStream<Uint8Array>;
		kill(signal?: number | string): void;
	};
	readableStreamToArrayBuffer(stream: ReadableStream<Uint8Array>): Promise<ArrayBuffer>;
};

const adapter: Adapter = {
	start(file, args) {
		const child = Bun.spawn([file, ...args], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
		return { exited: child.exited, kill: () => child.kill('SIGKILL') };
	},
	async capture(file, args) {
		const child = Bun.spawn([file, ...args], { stdin: 'ignore', stdout: 'pipe', stderr: 'ignore' });
		const [bytes] = await Promise.all([Bun.readableStreamToArrayBuffer(child.stdout), child.exited]);
		return bytes.byteLength;
	},
};

await main(adapter);
