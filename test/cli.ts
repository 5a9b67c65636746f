import { spawn as nodeSpawn } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CLI, pidfd } from './helpers/cli.js';
import { within } from './helpers/deadline.js';

const LIMIT = 30_000;

/** The CLI in the background: `stderrLine(re)` waits for a line of its stderr, `done` for its end. */
function pidfdRunning(args: string[]) {
	const proc = nodeSpawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
	let stdout = '';
	let stderr = '';
	proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
	const stderrSeen: Array<() => void> = [];
	proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
		stderr += chunk;
		for (const wake of stderrSeen) wake();
	});
	const done = within(
		LIMIT,
		new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr }))),
		`pidfd ${args.join(' ')}`,
	);
	const stderrLine = (line: RegExp) =>
		within(
			LIMIT,
			new Promise<void>((resolve, reject) => {
				const check = () => (line.test(stderr) ? resolve() : undefined);
				stderrSeen.push(check);
				proc.on('close', () => reject(new Error(`pidfd ${args.join(' ')} ended before printing ${line}: ${stderr}`)));
				check();
			}),
			`${line} on the stderr of pidfd ${args.join(' ')}`,
		);
	return { proc, done, stderrLine };
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

others('wait says when it watches, returns when the process exits; kill signals it', async () => {
	const sleeper = nodeSpawn('sleep', ['30'], { stdio: 'ignore' });
	const waiting = pidfdRunning(['wait', '--json', String(sleeper.pid)]);
	// Its pidfd is open: from now on the exit cannot be missed.
	await waiting.stderrLine(new RegExp(`^pidfd wait: watching ${sleeper.pid}$`, 'm'));
	const killed = await pidfd(['kill', String(sleeper.pid), 'KILL']);
	assert.is(killed.code, 0);
	const r = await waiting.done;
	assert.is(r.code, 0);
	// stdout is the report alone.
	const report = JSON.parse(r.stdout);
	assert.is(report.pid, sleeper.pid);
});

others.run();
