// Runs a fixture that reports as one `TAG <json>` line on stdout (the runtime fixtures:
// pipes.mjs, pty.mjs), under a hang guard, and returns its per-check results.
import { spawn } from 'node:child_process';
import * as assert from 'uvu/assert';

export interface Check {
	ok: boolean;
	value?: unknown;
	error?: string;
}

export async function runTagged(tag: string, file: string, args: string[], limit: number): Promise<Record<string, Check>> {
	const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
	let stdout = '';
	let stderr = '';
	child.stdout.on('data', (d: Buffer) => {
		stdout += d;
	});
	child.stderr.on('data', (d: Buffer) => {
		stderr += d;
	});
	const timer = setTimeout(() => child.kill('SIGKILL'), limit);
	const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
	clearTimeout(timer);
	const line = stdout.split('\n').find((l) => l.startsWith(`${tag} `));
	if (!line) assert.unreachable(`${file} ${args.join(' ')}: no ${tag} line (exit ${code})\n${stderr.slice(-2000)}`);
	return (JSON.parse(line!.slice(tag.length + 1)) as { results: Record<string, Check> }).results;
}
