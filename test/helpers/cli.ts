// The CLI from source (host/cli/main.ts), as `npx pidfd` runs the bundle.
import { execFile } from 'node:child_process';
import { within } from './deadline.js';

/** node's arguments that run the CLI from source. */
export const CLI = ['--import', 'tsx', 'host/cli/main.ts'];

/** Runs `pidfd ARGS...` to its end: its exit code and output. */
export function pidfd(args: string[], ms = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
	return within(
		ms,
		new Promise((resolve) => {
			execFile(process.execPath, [...CLI, ...args], { maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
				resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
			});
		}),
		`pidfd ${args.join(' ')}`,
	);
}
