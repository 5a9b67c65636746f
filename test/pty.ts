// pidfd/pty, the node-pty shim, on Node, Bun and Deno (least privilege): test/fixtures/pty.mjs
// against the dist/ bundles. Bun and Deno come from the npm devDependencies.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testIf } from './helpers/skip.js';

const LIMIT = 60_000;
const FIXTURE = 'test/fixtures/pty.mjs';
const BUN = 'node_modules/.bin/bun';
const DENO = 'node_modules/.bin/deno';

async function fixture(file: string, args: string[]): Promise<Record<string, { ok: boolean; value?: unknown; error?: string }>> {
	const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
	let stdout = '';
	let stderr = '';
	child.stdout.on('data', (d: Buffer) => {
		stdout += d;
	});
	child.stderr.on('data', (d: Buffer) => {
		stderr += d;
	});
	const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT);
	const code = await new Promise((resolve) => child.on('close', resolve));
	clearTimeout(timer);
	const line = stdout.split('\n').find((l) => l.startsWith('PTY '));
	if (!line) assert.unreachable(`${file}: no PTY line (exit ${code})\n${stderr.slice(-2000)}`);
	return JSON.parse(line!.slice(4)).results;
}

function expectAll(results: Awaited<ReturnType<typeof fixture>>): void {
	for (const [name, r] of Object.entries(results)) assert.ok(r.ok, `${name}: ${r.error}`);
	const v = (name: string) => results[name]!.value;
	assert.equal(v('size and name'), { lines: ['33 90', 'xterm-color'], tty: true, exit: { exitCode: 0 } });
	assert.equal(v('interactive sh'), { answered: true, exit: { exitCode: 3 } });
	assert.equal(v('kill'), { pidSet: true, exit: { exitCode: 0, signal: 15 } });
	assert.equal(v('resize'), { size: '50 120' });
	assert.equal(v('a program that does not exist'), { exit: { exitCode: 1 }, error: 'ENOENT' });
}

const built = existsSync('dist/pty.mjs');
const shim = suite('pidfd/pty: the node-pty surface on every runtime');

testIf(shim, built, 'dist/pty.mjs is not built (npm run build)', 'Node', async () => {
	expectAll(await fixture(process.execPath, [FIXTURE]));
});

testIf(shim, built && existsSync(BUN), 'bun is not installed (npm i)', 'Bun', async () => {
	expectAll(await fixture(BUN, [FIXTURE]));
});

testIf(shim, built && existsSync(DENO), 'deno is not installed (npm i)', 'Deno with --allow-run --allow-read --allow-env', async () => {
	expectAll(await fixture(DENO, ['run', '--allow-run', '--allow-read', '--allow-env', FIXTURE]));
});

shim.run();
