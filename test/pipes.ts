// Pipes that never block, on every runtime and transport: test/fixtures/pipes.mjs (plain JS
// against dist/pidfd.mjs) on Node (direct and relay), Bun, and Deno with -A and with the
// least privilege pidfd needs. Bun and Deno come from the npm devDependencies.
import { existsSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testIf } from './helpers/skip.js';
import { type Check, runTagged } from './helpers/tagged.js';

const FIXTURE = 'test/fixtures/pipes.mjs';
const LIMIT = 120_000;
const BUN = 'node_modules/.bin/bun';
const DENO = 'node_modules/.bin/deno';

/** Runs the fixture; its report is the `PIPES` line of stdout. */
const fixture = (file: string, args: string[]) => runTagged('PIPES', file, args, LIMIT);

function value(results: Record<string, Check>, name: string): Record<string, unknown> {
	const r = results[name];
	if (!r) assert.unreachable(`check ${name} did not run`);
	if (!r!.ok) assert.unreachable(`check ${name} failed: ${r!.error}`);
	return r!.value as Record<string, unknown>;
}

function expectAll(results: Record<string, Check>, what: string): void {
	const many = value(results, '256 concurrent runs, 1 MiB on stderr');
	assert.equal([many.count, many.wrong], [256, 0], `${what}: every run byte-exact`);
	const cat = value(results, '8 MiB through cat, timers ticking');
	assert.equal([cat.same, cat.length, cat.code], [true, 8 * 1024 * 1024, 0], `${what}: 8 MiB round trip`);
	// The transfer takes at least the child's 300 ms: a blocked main thread would show as a
	// gap of the whole transfer, with next to no ticks.
	assert.ok((cat.ticks as number) >= 4, `${what}: the interval ticked ${cat.ticks} times in ${cat.ms} ms`);
	assert.ok((cat.longestGap as number) < 1000, `${what}: the longest gap between ticks was ${cat.longestGap} ms`);
	assert.equal(value(results, 'clean signal state'), { sigIgn: '0000000000000000', sigBlk: '0000000000000000' }, `${what}: clean signal state`);
	console.log(`  ${what}: 256 × 1 MiB in ${many.ms} ms; 8 MiB via cat in ${cat.ms} ms, ${cat.ticks} ticks, longest gap ${cat.longestGap} ms`);
}

const built = existsSync('dist/pidfd.mjs');
const pipes = suite('pipes never block: 256 concurrent captures, 8 MiB input, clean children');

testIf(pipes, built, 'dist/pidfd.mjs is not built (npm run build)', 'Node, direct transport', async () => {
	expectAll(await fixture(process.execPath, [FIXTURE, 'direct']), 'node direct');
});

testIf(pipes, built, 'dist/pidfd.mjs is not built (npm run build)', 'Node, relay transport', async () => {
	expectAll(await fixture(process.execPath, [FIXTURE, 'relay']), 'node relay');
});

testIf(pipes, built && existsSync(BUN), 'bun is not installed (npm i)', 'Bun, its default transport', async () => {
	expectAll(await fixture(BUN, [FIXTURE]), 'bun');
});

testIf(pipes, built && existsSync(BUN), 'bun is not installed (npm i)', 'Bun, relay transport', async () => {
	expectAll(await fixture(BUN, [FIXTURE, 'relay']), 'bun relay');
});

testIf(pipes, built && existsSync(DENO), 'deno is not installed (npm i)', 'Deno -A (relay by default)', async () => {
	const results = await fixture(DENO, ['run', '-A', FIXTURE]);
	expectAll(results, 'deno -A');
});

testIf(pipes, built && existsSync(DENO), 'deno is not installed (npm i)', 'Deno with least privilege: --allow-run --allow-read --allow-env', async () => {
	const results = await fixture(DENO, ['run', '--allow-run', '--allow-read', '--allow-env', FIXTURE]);
	expectAll(results, 'deno least privilege');
});

pipes.run();

// ---

const permission = suite("Node's permission model: the relay where /proc may not be read");

testIf(
	permission,
	built,
	'dist/pidfd.mjs is not built (npm run build)',
	'--experimental-permission without /proc: pipes relayed, direct refused with ERR_ACCESS_DENIED',
	async () => {
		const repo = new URL('..', import.meta.url).pathname;
		const results = await runTagged(
			'PERMISSION',
			process.execPath,
			['--experimental-permission', `--allow-fs-read=${repo}`, '--allow-child-process', 'test/fixtures/permission.mjs'],
			LIMIT,
		);
		assert.equal(value(results, 'permission'), { procReadable: false, stdout: 'PIPED\n', direct: 'ERR_ACCESS_DENIED' });
	},
);

permission.run();
