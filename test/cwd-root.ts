// spawn(…, { cwdRoot }): the cwd resolved beneath a root by the child itself (openat2
// RESOLVE_BENEATH, or the O_NOFOLLOW walk of kernels before 5.6), so that no rename between a
// check and the chdir can lead out of it, and every way out answers the same EPERM whether
// what lies outside exists or not. Run through test/fixtures/beneath-host.ts, as is and with
// openat2 hidden by test/fixtures/seccomp-exec.c.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PidfdError, spawn } from '../host/index.js';
import { exec, fixtureReport } from './helpers/exec.js';
import { testIf } from './helpers/skip.js';
import { seccompMissing, seccompSidecar } from './helpers/seccomp.js';

const tmp = mkdtempSync(join(tmpdir(), 'pidfd-cwd-root-'));
const ROUNDS = 200;

async function fixture(name: string, env: NodeJS.ProcessEnv = process.env): Promise<Record<string, any>> {
	const dir = join(tmp, name);
	// 200 rounds of a race, each a spawn: minutes on a loaded machine, not seconds.
	return fixtureReport(await exec(process.execPath, ['--import', 'tsx', 'test/fixtures/beneath-host.ts', dir, String(ROUNDS)], env, 120_000));
}

const EPERM = { code: 'EPERM', errno: 1, syscall: 'openat2' };

/** What both resolutions must agree on. */
function judge(r: Record<string, any>, symlinksInside: boolean): void {
	const root = r.root as string;
	assert.equal(r.default, { pwd: root }, 'no cwd: the root itself');
	assert.equal(r.relative, { pwd: `${root}/sub/deeper` });
	assert.equal(r.absoluteInside, { pwd: `${root}/sub` });
	assert.equal(r.symlinkInside, symlinksInside ? { pwd: `${root}/sub/deeper` } : EPERM);
	assert.equal(r.missingInside, { code: 'ENOENT', errno: 2, syscall: 'openat2' }, 'a missing directory inside the root is not a secret');
	for (const way of ['dotdot', 'dotdotDeep', 'absoluteOutside', 'toEtc', 'toNothing', 'upEtc', 'upNothing', 'magic']) {
		assert.equal(r[way], EPERM, way);
	}
	assert.equal(r.namespaced, { pwd: `${root}/sub` }, 'with a new mount namespace too');
	assert.equal(r.race.outside, [], 'never outside the root');
	const seen = r.race.seen as Record<string, number>;
	assert.is(
		Object.values(seen).reduce((a, b) => a + b, 0),
		ROUNDS,
	);
	for (const key of Object.keys(seen)) assert.ok(['inside', 'EPERM', 'ENOENT'].includes(key), key);
	console.log(`  race, ${ROUNDS} spawns of pwd while the directory is swapped for a symlink to /: ${JSON.stringify(seen)}`);
}

// ---

const beneath = suite('cwdRoot: the cwd is resolved beneath the root, where it is used');

beneath('a lexical way out is refused before anything is looked up, with the same EPERM', async () => {
	for (const cwd of ['..', '../etc', '/etc', 'a/../../b']) {
		const error = (await spawn('true', [], { cwdRoot: tmp, cwd }).catch((e: unknown) => e)) as PidfdError;
		assert.instance(error, PidfdError);
		assert.equal({ code: error.code, errno: error.errno, syscall: error.syscall }, EPERM, cwd);
	}
});

beneath('openat2(RESOLVE_BENEATH): inside works, symlinks inside work, every way out is EPERM, the swap race never escapes', async () => {
	judge(await fixture('openat2'), true);
});

testIf(beneath, !seccompMissing, seccompMissing, 'without openat2 (before Linux 5.6): the O_NOFOLLOW walk, symlinks refused, same answers', async () => {
	const wrapper = await seccompSidecar(tmp, 'no-openat2-sidecar', ['openat2']);
	judge(await fixture('walk', { ...process.env, PIDFD_SIDECAR: wrapper }), false);
});

beneath.run();

process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
