import { execFile, spawn as nodeSpawn } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { within } from './helpers/deadline.js';

/** Runs the CLI from source, as `npx pidfd` runs the bundle. */
function pidfd(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
	return within(
		20_000,
		new Promise((resolve) => {
			execFile(process.execPath, ['--import', 'tsx', 'host/cli/main.ts', ...args], (error, stdout, stderr) => {
				resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
			});
		}),
		`pidfd ${args.join(' ')}`,
	);
}

const run = suite('pidfd run');

run('--json reports code 7 and exits 7', async () => {
	const r = await pidfd(['run', '--json', '--', 'sh', '-c', 'exit 7']);
	assert.is(r.code, 7);
	const report = JSON.parse(r.stderr.trim().split('\n').pop()!);
	assert.is(report.code, 7);
	assert.is(report.signal, null);
	assert.type(report.rusage.maxRssKiB, 'number');
	assert.type(report.wallMs, 'number');
});

run('a signal death exits 128+N and says which signal', async () => {
	const r = await pidfd(['run', '--', 'sh', '-c', 'kill -TERM $$']);
	assert.is(r.code, 128 + 15);
	assert.match(r.stderr, /killed by SIGTERM/);
	assert.match(r.stderr, /max RSS/);
});

run("the child's output goes to the terminal's stdout (inherit)", async () => {
	const r = await pidfd(['run', '--', 'echo', 'hello from the child']);
	assert.is(r.code, 0);
	assert.is(r.stdout, 'hello from the child\n');
	assert.match(r.stderr, /exited with code 0/);
});

run('a missing program exits 127 like a shell', async () => {
	const r = await pidfd(['run', '--', 'pidfd-no-such-program']);
	assert.is(r.code, 127);
	assert.match(r.stderr, /ENOENT/);
});

run('usage errors exit 2', async () => {
	const r = await pidfd(['frobnicate']);
	assert.is(r.code, 2);
	assert.match(r.stderr, /Usage:/);
});

run.run();

// ---

const others = suite('pidfd wait / kill');

others('wait returns when the process exits; kill signals it', async () => {
	const sleeper = nodeSpawn('sleep', ['30'], { stdio: 'ignore' });
	const waiting = pidfd(['wait', '--json', String(sleeper.pid)]);
	await new Promise((resolve) => setTimeout(resolve, 500));
	const killed = await pidfd(['kill', String(sleeper.pid), 'KILL']);
	assert.is(killed.code, 0);
	const r = await waiting;
	assert.is(r.code, 0);
	const report = JSON.parse(r.stdout);
	assert.is(report.pid, sleeper.pid);
});

others.run();
