/** Peer: execa, the most used wrapper over child_process. */
import { execa } from 'execa';
import { type Adapter, main } from './harness.js';

const adapter: Adapter = {
	start(file, args) {
		// reject: false: a killed child is the expected outcome here, not an error.
		const child = execa(file, args, { stdio: 'ignore', reject: false });
		return { exited: child, kill: () => child.kill('SIGKILL') };
	},
	async capture(file, args, maxBytes) {
		const { stdout } = await execa(file, args, { encoding: 'buffer', maxBuffer: maxBytes, stdin: 'ignore', stderr: 'ignore' });
		return stdout.length;
	},
};

await main(adapter);
