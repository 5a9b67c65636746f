// The same smoke test (test/fixtures/smoke.mjs, plain JS importing dist/pidfd.mjs) on Node,
// Bun and Deno. Bun and Deno come from the npm devDependencies of the same names.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const SMOKE = 'test/fixtures/smoke.mjs';
const LIMIT = 60_000;

interface Outcome {
	code: number | null;
	stdout: string;
	stderr: string;
	/** Killed at LIMIT: it did not exit by itself. */
	hung: boolean;
}

/**
 * Runs a runtime with its stdout and stderr in files: a terminal or a shell pipeline in real
 * use. (Deno cannot hand a socket on to the sidecar, which Node's own stdio pipes are.)
 */
async function exec(file: string, args: string[]): Promise<Outcome> {
	const dir = mkdtempSync(join(tmpdir(), 'pidfd-runtimes-'));
	const out = openSync(join(dir, 'stdout'), 'w');
	const err = openSync(join(dir, 'stderr'), 'w');
	try {
		const child = spawn(file, args, { stdio: ['ignore', out, err] });
		let hung = false;
		const timer = setTimeout(() => {
			hung = true;
			child.kill('SIGKILL');
		}, LIMIT);
		const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
		clearTimeout(timer);
		return { code, stdout: readFileSync(join(dir, 'stdout'), 'utf8'), stderr: readFileSync(join(dir, 'stderr'), 'utf8'), hung };
	} finally {
		closeSync(out);
		closeSync(err);
		rmSync(dir, { recursive: true, force: true });
	}
}

type Results = Record<string, { ok: true; value: Record<string, unknown> } | { ok: false; error: string }>;

function parse(r: Outcome, runtime: string): Results {
	const line = r.stdout.split('\n').find((l) => l.startsWith('SMOKE '));
	if (!line) assert.unreachable(`${runtime}: no SMOKE line (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
	const report = JSON.parse(line!.slice('SMOKE '.length)) as { runtime: string; results: Results };
	assert.is(report.runtime, runtime, 'the fixture ran on the runtime we asked for');
	return report.results;
}

function value(results: Results, name: string): Record<string, unknown> {
	const r = results[name];
	if (!r) assert.unreachable(`check ${name} did not run`);
	if (!r!.ok) assert.unreachable(`check ${name} failed: ${r!.error}`);
	return (r as { value: Record<string, unknown> }).value;
}

/** Every check of the fixture, asserted the same way on each runtime. */
function expectAllPass(r: Outcome, runtime: string): void {
	// Nothing was closed by hand: an idle sidecar must not hold the runtime open.
	assert.not.ok(r.hung, `${runtime} did not exit by itself within ${LIMIT} ms`);
	assert.is(r.code, 0, `${runtime} exited ${r.code}\n${r.stderr}`);
	const results = parse(r, runtime);
	assert.equal(value(results, 'features'), { clone3: true, waitidPidfd: true });
	assert.equal(value(results, 'spawn+wait'), { code: 3, status: 'exited', hasRusage: true, sameObject: true });
	assert.equal(value(results, 'kill'), { before: null, delivered: true, signal: 'SIGTERM', status: 'signaled', killAfterExit: false });
	assert.equal(value(results, 'stdio pipes'), { stdout: 'hello through a pipe', stderr: 'err\n', fd3: 'three\n', code: 0 });
	assert.equal(value(results, 'many pipes'), { texts: ['fd 3\n', 'fd 4\n', 'fd 5\n', 'fd 6\n', 'fd 7\n', 'fd 8\n'], code: 0 });
	assert.equal(value(results, 'inherit'), { code: 0 });
	assert.match(r.stdout, `inherited stdout from ${runtime}\n`);
	assert.equal(value(results, 'run'), { stdout: 'in->out', stderr: 'oops\n', code: 5 });
	assert.equal(value(results, 'env at the call'), { one: 'one', two: 'two', deleted: 'unset' });
	assert.equal(value(results, 'run timeout'), { isRunError: true, reason: 'timeout', signal: 'SIGTERM' });
	assert.equal(value(results, 'PidFd.open'), { samePid: true, status: 'signaled', rusage: null });
	assert.equal(value(results, 'ENOENT'), { isPidfdError: true, code: 'ENOENT', syscall: 'execve' });
	assert.equal(value(results, 'invalid options'), { code: 'ERR_INVALID_ARG_VALUE', message: 'spawn(): args.0 must not contain NUL bytes' });
}

const BUN = 'node_modules/.bin/bun';
const DENO = 'node_modules/.bin/deno';

const runtimes = suite('the bundle on Node, Bun and Deno');

runtimes.before(() => {
	if (!existsSync('dist/pidfd.mjs') || !existsSync('dist/pidfd-sidecar')) assert.unreachable('dist/ is not built: run `npm run build` first');
});

runtimes('node', async () => {
	expectAllPass(await exec(process.execPath, [SMOKE]), 'node');
});

runtimes('bun', async () => {
	if (!existsSync(BUN)) assert.unreachable(`${BUN} missing: npm install (bun is a devDependency)`);
	expectAllPass(await exec(BUN, [SMOKE]), 'bun');
});

runtimes('deno -A', async () => {
	if (!existsSync(DENO)) assert.unreachable(`${DENO} missing: npm install (deno is a devDependency)`);
	expectAllPass(await exec(DENO, ['run', '--allow-all', SMOKE]), 'deno');
});

runtimes.run();

// ---

const deno = suite('Deno without the permissions pidfd needs');

/** The error of one check of the fixture, which must have failed. */
async function denoError(flags: string[], check: string): Promise<string> {
	const results = parse(await exec(DENO, ['run', ...flags, SMOKE]), 'deno');
	const failed = results[check];
	if (!failed || failed.ok) assert.unreachable(`expected ${check} to be refused with ${flags.join(' ') || 'no flags'}`);
	return (failed as { error: string }).error;
}

deno('no --allow-env: ERR_ACCESS_DENIED naming --allow-env', async () => {
	const error = await denoError([], 'features');
	assert.match(error, /^ERR_ACCESS_DENIED /);
	assert.match(error, /--allow-env/);
});

deno('no --allow-read: names --allow-read', async () => {
	const error = await denoError(['--allow-env'], 'features');
	assert.match(error, /^ERR_ACCESS_DENIED /);
	assert.match(error, /locating the sidecar was denied.*--allow-read/);
});

deno('--allow-run --allow-read --allow-env is enough: everything works, pipes included (relayed)', async () => {
	expectAllPass(await exec(DENO, ['run', '--allow-run', '--allow-read', '--allow-env', SMOKE]), 'deno');
});

deno('no --allow-run: ERR_ACCESS_DENIED naming --allow-run', async () => {
	// Not the smoke fixture: it starts a process of its own, which needs --allow-run itself.
	const dir = mkdtempSync(join(tmpdir(), 'pidfd-deno-'));
	try {
		const script = join(dir, 'no-run.mjs');
		const library = new URL('../dist/pidfd.mjs', import.meta.url).href;
		writeFileSync(script, `import { features } from '${library}';\nawait features().catch((e) => console.log('DENIED', e.code, e.message));\n`);
		const r = await exec(DENO, ['run', '--allow-read', '--allow-env', script]);
		assert.match(r.stdout, /^DENIED ERR_ACCESS_DENIED .*--allow-run/m);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

deno.run();
