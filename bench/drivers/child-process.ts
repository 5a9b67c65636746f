/** Peer: Node's child_process.spawn, the async API most code uses. */
import { spawn } from 'node:child_process';
import { type Adapter, main } from './harness.js';

const adapter: Adapter = {
	start(file, args) {
		const child = spawn(file, args, { stdio: 'ignore' });
		const exited = new Promise((resolve, reject) => {
			child.once('exit', resolve);
			child.once('error', reject);
		});
		return { exited, kill: () => child.kill('SIGKILL') };
	},
	capture(file, args) {
		const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'ignore'] });
		const chunks: Buffer[] = [];
		child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
		// 'close' comes after both the exit and the end of stdout.
		return new Promise((resolve, reject) => {
			child.once('error', reject);
			child.once('close', () => resolve(Buffer.concat(chunks).length));
		});
	},
};

await main(adapter);
