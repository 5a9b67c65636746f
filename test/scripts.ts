// runSync(), pipeline() and $ on every runtime: test/fixtures/scripts.mjs (plain JS against
// dist/pidfd.mjs) on Node (direct and relay), Bun, and Deno with the least privilege pidfd
// needs. Bun and Deno come from the npm devDependencies.
import { existsSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testIf } from './helpers/skip.js';
import { type Check, runTagged } from './helpers/tagged.js';

const FIXTURE = 'test/fixtures/scripts.mjs';
const LIMIT = 120_000;
const BUN = 'node_modules/.bin/bun';
const DENO = 'node_modules/.bin/deno';

function value(results: Record<string, Check>, name: string): unknown {
	const r = results[name];
	if (!r) assert.unreachable(`check ${name} did not run`);
	if (!r!.ok) assert.unreachable(`check ${name} failed: ${r!.error}`);
	return r!.value;
}

function expectAll(results: Record<string, Check>, what: string): void {
	assert.equal(value(results, 'runSync first'), { stdout: 'in', stderr: 'err\n', code: 3, rusage: true }, `${what}: runSync before any async call`);
	assert.equal(
		value(results, 'runSync with async children in flight, no busy wait'),
		{ outputs: ['0\n', '1\n', '2\n'], cpuUnder5: true },
		`${what}: runSync beside async children`,
	);
	assert.equal(value(results, 'pipeline of 3 stages, 32 MiB'), { stdout: String(32 * 1024 * 1024), codes: [0, 0, 0] }, `${what}: pipeline`);
	assert.equal(
		value(results, '$ with a value that would inject, piped'),
		{ stdout: '[b]\n[a; echo injected $(id)]', sync: 'a; echo injected $(id)' },
		`${what}: $`,
	);
}

const built = existsSync('dist/pidfd.mjs');
const runtimes = suite('runSync, pipeline and $ on Node, Bun and Deno');

testIf(runtimes, built, 'dist/pidfd.mjs is not built (npm run build)', 'Node, direct transport', async () => {
	expectAll(await runTagged('SCRIPTS', process.execPath, [FIXTURE, 'direct'], LIMIT), 'node direct');
});

testIf(runtimes, built, 'dist/pidfd.mjs is not built (npm run build)', 'Node, relay transport', async () => {
	expectAll(await runTagged('SCRIPTS', process.execPath, [FIXTURE, 'relay'], LIMIT), 'node relay');
});

testIf(runtimes, built && existsSync(BUN), 'bun is not installed (npm i)', 'Bun, its default transport', async () => {
	expectAll(await runTagged('SCRIPTS', BUN, [FIXTURE], LIMIT), 'bun');
});

testIf(runtimes, built && existsSync(BUN), 'bun is not installed (npm i)', 'Bun, relay transport', async () => {
	expectAll(await runTagged('SCRIPTS', BUN, [FIXTURE, 'relay'], LIMIT), 'bun relay');
});

testIf(runtimes, built && existsSync(DENO), 'deno is not installed (npm i)', 'Deno with least privilege: --allow-run --allow-read --allow-env', async () => {
	expectAll(await runTagged('SCRIPTS', DENO, ['run', '--allow-run', '--allow-read', '--allow-env', FIXTURE], LIMIT), 'deno least privilege');
});

runtimes.run();
