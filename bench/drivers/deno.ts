/** Peer: Deno.Command, run by Deno itself. */
import { type Adapter, main } from './harness.js';

/** The slice of Deno's API used here (this file is type-checked with Node's types). */
declare const Deno: {
	Command: new (
		file: string,
		options: { args: string[]; stdin: 'null'; stdout: 'null' | 'piped'; stderr: 'null' },
	) => {
		spawn(): { status: Promise<unknown>; kill(signal: string): void };
		output(): Promise<{ stdout: Uint8Array }>;
	};
};

const adapter: Adapter = {
	start(file, args) {
		const child = new Deno.Command(file, { args, stdin: 'null', stdout: 'null', stderr: 'null' }).spawn();
		return { exited: child.status, kill: () => child.kill('SIGKILL') };
	},
	async capture(file, args) {
		const { stdout } = await new Deno.Command(file, { args, stdin: 'null', stdout: 'piped', stderr: 'null' }).output();
		return stdout.length;
	},
};

await main(adapter);
