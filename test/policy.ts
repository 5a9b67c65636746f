// host/bridge/policy.ts: what a bridge client may run, where, and with which environment. This
// is the security boundary, so each check meets the tricks: `..`, symlinks in and out,
// /root against /rootx, relative paths, names that look like allowed ones. Real files in a
// temporary tree; children are spawned only where the child itself resolves the cwd.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type PidfdError, run } from '../host/index.js';
import {
	checkSpawn,
	envAllowed,
	isDangerousEnv,
	isWithin,
	POLICY_DEFAULTS,
	type Policy,
	PolicyError,
	resolveCwd,
	resolveEnv,
	resolveExecutable,
	resolvePolicy,
} from '../host/bridge/policy.js';

// tmp/root            the allowed cwd root, with sub/, inner -> sub, escape -> tmp, up -> ..
// tmp/rootx           a sibling whose name starts with the root's
// tmp/bin/tool        the allowed executable (a copy of true); tmp/bin/other is not allowed
// tmp/bin/alias       a symlink to tool; tmp/fake/tool a symlink named like it, to other
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'pidfd-policy-')));
const root = join(tmp, 'root');
const tool = join(tmp, 'bin', 'tool');
const other = join(tmp, 'bin', 'other');
mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
mkdirSync(join(tmp, 'rootx'));
mkdirSync(join(tmp, 'bin'));
mkdirSync(join(tmp, 'fake'));
for (const file of [tool, other]) {
	copyFileSync('/bin/true', file);
	chmodSync(file, 0o755);
}
symlinkSync(join(root, 'sub'), join(root, 'inner'));
symlinkSync(tmp, join(root, 'escape'));
symlinkSync('..', join(root, 'up'));
symlinkSync(join(tmp, 'rootx'), join(root, 'sideways'));
symlinkSync(tool, join(tmp, 'bin', 'alias'));
symlinkSync(other, join(tmp, 'fake', 'tool'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const policy: Policy = resolvePolicy({ allow: [tool], cwdRoot: root, envAllow: ['GREETING', 'LC_*'] });

/** The PolicyError a promise rejects with. */
async function refusal(promise: Promise<unknown>): Promise<PolicyError> {
	const error = await promise.then(
		() => undefined,
		(e: unknown) => e,
	);
	assert.instance(error, PolicyError, 'refused with a PolicyError');
	return error as PolicyError;
}

// ---

const within = suite('isWithin: a resolved path under a resolved root');

within('the root itself and what is below it', () => {
	assert.ok(isWithin('/srv/root', '/srv/root'));
	assert.ok(isWithin('/srv/root', '/srv/root/a'));
	assert.ok(isWithin('/srv/root', '/srv/root/a/b/c'));
});

within('a sibling that shares the prefix is outside: /srv/root vs /srv/rootx', () => {
	assert.not.ok(isWithin('/srv/root', '/srv/rootx'));
	assert.not.ok(isWithin('/srv/root', '/srv/rootx/a'));
	assert.not.ok(isWithin('/srv/root', '/srv/roo'));
});

within('parents and unrelated paths are outside', () => {
	assert.not.ok(isWithin('/srv/root', '/srv'));
	assert.not.ok(isWithin('/srv/root', '/'));
	assert.not.ok(isWithin('/srv/root', '/etc'));
	assert.not.ok(isWithin('/srv/root', ''));
});

within('a root of / holds every path', () => {
	for (const path of ['/', '/etc', '/srv/root/a']) assert.ok(isWithin('/', path), path);
});

within.run();

// ---

const cwd = suite('resolveCwd and cwdRoot: lexical ways out refused here, the rest resolved beneath the root by the child');

/** Where a child of this policy starts for `path`: `pwd -P` under cwdRoot, or the refusal's code. */
async function startsIn(p: Policy, path: string | undefined): Promise<string> {
	try {
		const r = await run('pwd', ['-P'], { cwdRoot: p.cwdRoot, cwd: await resolveCwd(p, path), encoding: 'utf8' });
		return r.stdout.trim();
	} catch (error) {
		return error instanceof PolicyError ? `PolicyError ${error.code}` : `${(error as PidfdError).code} ${(error as PidfdError).syscall}`;
	}
}

cwd('no cwd: the root', async () => {
	assert.is(await resolveCwd(policy, undefined), '.');
	assert.is(await startsIn(policy, undefined), root);
});

cwd('relative and absolute paths inside the root, relative to it', async () => {
	assert.is(await resolveCwd(policy, 'sub'), 'sub');
	assert.is(await resolveCwd(policy, 'sub/deeper/..'), 'sub');
	assert.is(await resolveCwd(policy, './sub/./deeper'), join('sub', 'deeper'));
	assert.is(await resolveCwd(policy, join(root, 'sub')), 'sub');
	assert.is(await resolveCwd(policy, '.'), '.');
	assert.is(await resolveCwd(policy, ''), '.');
	assert.is(await startsIn(policy, join(root, 'sub', 'deeper')), join(root, 'sub', 'deeper'));
});

cwd('a relative symlink that stays inside: its target; an absolute one: EPERM, wherever it points', async () => {
	symlinkSync('sub', join(root, 'inner-relative'));
	assert.is(await startsIn(policy, 'inner-relative'), join(root, 'sub'));
	assert.is(await startsIn(policy, 'inner-relative/deeper'), join(root, 'sub', 'deeper'));
	assert.is(await startsIn(policy, 'inner'), 'EPERM openat2');
});

cwd('.. out of the root: EPERM, before any lookup', async () => {
	for (const path of ['..', '../..', 'sub/../..', 'sub/deeper/../../..', '../root/../..']) {
		const e = await refusal(resolveCwd(policy, path));
		assert.is(e.code, 'EPERM', path);
		assert.match(e.message, /outside the allowed root/, path);
	}
});

cwd('absolute paths elsewhere: EPERM', async () => {
	for (const path of ['/', '/etc', tmp, join(tmp, 'bin')]) assert.is((await refusal(resolveCwd(policy, path))).code, 'EPERM', path);
});

cwd('the prefix trick: ../rootx and /…/rootx are outside', async () => {
	assert.is((await refusal(resolveCwd(policy, '../rootx'))).code, 'EPERM');
	assert.is((await refusal(resolveCwd(policy, join(tmp, 'rootx')))).code, 'EPERM');
	assert.is((await refusal(resolveCwd(policy, `${root}x`))).code, 'EPERM');
});

cwd('a symlink out of the root, however it is spelled: EPERM from the child', async () => {
	for (const path of ['escape', 'escape/bin', 'up', 'up/rootx', 'sideways', 'inner/../escape', 'sub/../up']) {
		assert.is(await startsIn(policy, path), 'EPERM openat2', path);
	}
});

cwd('a detour out and back in is refused too: the lookup never leaves the root', async () => {
	assert.is(await startsIn(policy, 'escape/root/sub'), 'EPERM openat2');
	assert.is(await startsIn(policy, 'up/root'), 'EPERM openat2');
});

cwd('missing inside the root: ENOENT; missing outside: EPERM, no oracle', async () => {
	assert.is(await startsIn(policy, 'sub/no-such-dir'), 'ENOENT openat2');
	for (const path of ['../no-such-dir', '/no-such-dir', join(tmp, 'secret-name')]) {
		const outside = await refusal(resolveCwd(policy, path));
		assert.is(outside.code, 'EPERM', path);
		assert.not.match(outside.message, /does not exist/, path);
	}
	symlinkSync('/no-such-dir-anywhere', join(root, 'to-nothing'));
	symlinkSync('/etc', join(root, 'to-etc'));
	assert.is(await startsIn(policy, 'to-nothing'), 'EPERM openat2');
	assert.is(await startsIn(policy, 'to-etc'), 'EPERM openat2');
});

cwd('a root given through a symlink is resolved once, at load', async () => {
	const viaLink = join(tmp, 'root-link');
	symlinkSync(root, viaLink);
	const linked = resolvePolicy({ cwdRoot: viaLink });
	assert.is(linked.cwdRoot, root);
	assert.is(await resolveCwd(linked, 'sub'), 'sub');
	assert.is((await refusal(resolveCwd(linked, '..'))).code, 'EPERM');
});

cwd.run();

// ---

const executable = suite('resolveExecutable: only what is allowed, however it is named');

executable('the configured path, or its bare name', async () => {
	assert.equal(await resolveExecutable(policy, tool), { path: tool, real: tool });
	assert.equal(await resolveExecutable(policy, 'tool'), { path: tool, real: tool });
});

executable('another path to the same file: a symlink, a .. detour', async () => {
	assert.is((await resolveExecutable(policy, join(tmp, 'bin', 'alias'))).path, tool);
	assert.is((await resolveExecutable(policy, join(tmp, 'fake', '..', 'bin', 'tool'))).path, tool);
});

executable('other programs: EPERM, by path or by name', async () => {
	for (const file of [other, 'other', '/bin/sh', 'sh', join(tmp, 'fake', 'tool'), `${tool}/../other`]) {
		const e = await refusal(resolveExecutable(policy, file));
		assert.is(e.code, 'EPERM', file);
		assert.match(e.message, /not an allowed executable/, file);
	}
});

executable('relative paths: EPERM, asking for an absolute path or a bare name', async () => {
	for (const file of ['./tool', 'bin/tool', '../bin/tool']) {
		const e = await refusal(resolveExecutable(policy, file));
		assert.is(e.code, 'EPERM', file);
		assert.match(e.message, /absolute path or a bare name/, file);
	}
});

executable('a path that does not exist: EPERM, not ENOENT (no oracle)', async () => {
	const e = await refusal(resolveExecutable(policy, join(tmp, 'bin', 'no-such-tool')));
	assert.is(e.code, 'EPERM');
});

executable('the policy itself: absolute and existing allowed paths only', () => {
	assert.throws(() => resolvePolicy({ allow: ['bin/tool'] }), /must be an absolute path/);
	assert.throws(() => resolvePolicy({ allow: [join(tmp, 'bin', 'missing')] }), /allowed executable .*missing/);
	assert.throws(() => resolvePolicy({ cwdRoot: join(tmp, 'no-such-root') }), /cwdRoot/);
	// A symlink is allowed as configured, and matched by what it resolves to.
	const viaAlias = resolvePolicy({ allow: [join(tmp, 'bin', 'alias')] });
	assert.equal(viaAlias.allowed, [{ path: join(tmp, 'bin', 'alias'), real: tool }]);
});

executable.run();

// ---

const env = suite("envAllowed, resolveEnv: no variable that runs code of the caller's choosing");

env('loader and interpreter variables are dangerous; look-alikes are not', () => {
	for (const name of [
		'LD_PRELOAD',
		'LD_LIBRARY_PATH',
		'LD_AUDIT',
		'LD_',
		'GCONV_PATH',
		'GLIBC_TUNABLES',
		'BASH_ENV',
		'ENV',
		'NODE_OPTIONS',
		'NODE_ENV',
		'PERL5OPT',
		'PYTHONSTARTUP',
		'PATH',
		'HOME',
	]) {
		assert.ok(isDangerousEnv(name), name);
	}
	for (const name of ['LDAP_URI', 'LD', 'ld_preload', 'XLD_PRELOAD', 'ENVIRONMENT', 'LANG', 'TZ', 'TERM']) assert.not.ok(isDangerousEnv(name), name);
});

env('exact names and prefix* patterns', () => {
	assert.ok(envAllowed('GREETING', ['GREETING']));
	assert.not.ok(envAllowed('GREETINGS', ['GREETING']), 'no implicit prefix');
	assert.ok(envAllowed('LC_ALL', ['LC_*']));
	assert.ok(envAllowed('LC_', ['LC_*']));
	assert.not.ok(envAllowed('LANG', ['LC_*']));
	assert.not.ok(envAllowed('XLC_ALL', ['LC_*']));
	assert.not.ok(envAllowed('GREETING', []));
});

env('a wildcard never matches a dangerous name; its exact name does', () => {
	for (const name of ['LD_PRELOAD', 'NODE_OPTIONS', 'BASH_ENV']) {
		assert.not.ok(envAllowed(name, ['*']), `* ${name}`);
		assert.not.ok(envAllowed(name, [`${name.slice(0, 3)}*`]), `prefix* ${name}`);
		assert.ok(envAllowed(name, [name]), `exactly ${name}`);
	}
	assert.ok(envAllowed('ANYTHING', ['*']));
});

env("the policy's fixed environment, plus the allowed variables asked for", () => {
	assert.equal(resolveEnv(policy, undefined), { PATH: '/usr/local/bin:/usr/bin:/bin' });
	assert.equal(resolveEnv(policy, { GREETING: 'hi', LC_ALL: 'C' }), { PATH: '/usr/local/bin:/usr/bin:/bin', GREETING: 'hi', LC_ALL: 'C' });
	const fixed = resolvePolicy({ env: { PATH: '/bin', TZ: 'UTC' }, envAllow: ['TZ'] });
	assert.equal(resolveEnv(fixed, { TZ: 'CET' }), { PATH: '/bin', TZ: 'CET' });
});

env('one variable not allowed refuses the request, naming it', () => {
	for (const name of ['PATH', 'LD_PRELOAD', 'HOME']) {
		assert.throws(
			() => resolveEnv(policy, { GREETING: 'hi', [name]: 'x' }),
			(e: unknown) => e instanceof PolicyError && e.code === 'EPERM' && e.message === `env ${name} is not allowed`,
			name,
		);
	}
	const wide = resolvePolicy({ envAllow: ['L*'] });
	assert.throws(() => resolveEnv(wide, { LD_PRELOAD: '/tmp/x.so' }), /LD_PRELOAD is not allowed/);
});

env('a bare * is refused when the policy loads, saying why', () => {
	assert.throws(() => resolvePolicy({ envAllow: ['GREETING', '*'] }), /envAllow '\*' would let clients set every variable/);
});

env.run();

// ---

const spawnCheck = suite('checkSpawn: a request turned into spawn() arguments');

spawnCheck('the resolved file, the configured path as argv0, the root as cwd, pipes by default', async () => {
	const checked = await checkSpawn(policy, { type: 'spawn', id: 1, file: 'tool', args: ['a', 'b'] });
	assert.is(checked.file, tool);
	assert.equal(checked.args, ['a', 'b']);
	assert.is(checked.display, tool);
	assert.is(checked.detached, false);
	assert.equal(checked.options, {
		cwd: '.',
		cwdRoot: root,
		env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
		stdio: ['pipe', 'pipe', 'pipe'],
		argv0: tool,
		detached: false,
	});
});

spawnCheck('through a symlink: the real file runs, argv0 is the allowed path', async () => {
	const linked = resolvePolicy({ allow: [join(tmp, 'bin', 'alias')], cwdRoot: root });
	const checked = await checkSpawn(linked, { type: 'spawn', id: 1, file: 'alias' });
	assert.is(checked.file, tool);
	assert.is(checked.options.argv0, join(tmp, 'bin', 'alias'));
});

spawnCheck('maxRuntimeMs caps the timeout asked for, and sets one when none is', async () => {
	const capped = resolvePolicy({ allow: [tool], cwdRoot: root, maxRuntimeMs: 1000 });
	assert.is((await checkSpawn(capped, { type: 'spawn', id: 1, file: 'tool' })).options.timeout, 1000);
	assert.is((await checkSpawn(capped, { type: 'spawn', id: 1, file: 'tool', timeout: 50 })).options.timeout, 50);
	assert.is((await checkSpawn(capped, { type: 'spawn', id: 1, file: 'tool', timeout: 5000 })).options.timeout, 1000);
	assert.not.ok('timeout' in (await checkSpawn(policy, { type: 'spawn', id: 1, file: 'tool' })).options);
});

spawnCheck('detached only where the policy allows it', async () => {
	const e = await refusal(checkSpawn(policy, { type: 'spawn', id: 1, file: 'tool', detached: true }));
	assert.match(e.message, /detached/);
	const allowing = resolvePolicy({ allow: [tool], cwdRoot: root, allowDetach: true });
	assert.ok((await checkSpawn(allowing, { type: 'spawn', id: 1, file: 'tool', detached: true })).detached);
});

spawnCheck('every part is checked: env, program and cwd refusals', async () => {
	assert.match((await refusal(checkSpawn(policy, { type: 'spawn', id: 1, file: 'tool', env: { LD_PRELOAD: 'x' } }))).message, /LD_PRELOAD/);
	assert.match((await refusal(checkSpawn(policy, { type: 'spawn', id: 1, file: 'other' }))).message, /not an allowed executable/);
	assert.match((await refusal(checkSpawn(policy, { type: 'spawn', id: 1, file: 'tool', cwd: '../escape' }))).message, /outside the allowed root/);
});

spawnCheck('defaults: small enough that a forgotten flag does not hand out the machine', () => {
	const p = resolvePolicy({});
	assert.equal(p.allowed, []);
	assert.is(p.cwdRoot, realpathSync(process.cwd()));
	assert.equal(
		[p.maxProcsPerConnection, p.maxProcs, p.maxPayload, p.maxBuffered, p.maxRuntimeMs, p.allowDetach, p.origins, p.envAllow],
		[POLICY_DEFAULTS.maxProcsPerConnection, POLICY_DEFAULTS.maxProcs, POLICY_DEFAULTS.maxPayload, POLICY_DEFAULTS.maxBuffered, undefined, false, [], []],
	);
});

spawnCheck.run();
