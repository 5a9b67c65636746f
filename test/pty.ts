// pidfd/pty, the node-pty shim, on Node, Bun and Deno (least privilege): test/fixtures/pty.mjs
// against the dist/ bundles. Bun and Deno come from the npm devDependencies.
import { existsSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testIf } from './helpers/skip.js';
import { runTagged } from './helpers/tagged.js';

const LIMIT = 60_000;
const FIXTURE = 'test/fixtures/pty.mjs';
const BUN = 'node_modules/.bin/bun';
const DENO = 'node_modules/.bin/deno';

const fixture = (file: string, args: string[]) => runTagged('PTY', file, args, LIMIT);

function expectAll(results: Awaited<ReturnType<typeof fixture>>): void {
	for (const [name, r] of Object.entries(results)) assert.ok(r.ok, `${name}: ${r.error}`);
	const v = (name: string) => results[name]!.value;
	assert.equal(v('size and name'), { lines: ['33 90', 'xterm-color'], tty: true, exit: { exitCode: 0 } });
	assert.equal(v('interactive sh'), { answered: true, exit: { exitCode: 3 } });
	assert.equal(v('kill'), { pidSet: true, exit: { exitCode: 0, signal: 15 } });
	assert.equal(v('^C'), { rc: '130', exit: { exitCode: 0 } });
	assert.equal(v('64 MiB'), { count: true, other: 0, exit: { exitCode: 0 } });
	assert.equal(v('resize'), { size: '50 120' });
	assert.equal(v('a program that does not exist'), { exit: { exitCode: 1 }, error: 'ENOENT' });
	assert.equal(v('setRawMode'), { isRaw: true, flags: ['-echo', '-icanon', '-isig'], echoed: false, code: 0 });
}

const built = existsSync('dist/pty.mjs');
const shim = suite('pidfd/pty: the node-pty surface on every runtime (and setRawMode)');

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
