import { spawn as nodeSpawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidArgumentError, PidFd, PidfdError, spawn } from '../host/index.js';
import { ExitInfo } from '../schemas/exit.js';
import { within } from './helpers/deadline.js';
import { isAlive } from './helpers/proc.js';

const LIMIT = 10_000;
const tmp = mkdtempSync(join(tmpdir(), 'pidfd-test-'));

// --- the examples of the async-pidfd crate, through our API

const examples = suite('spawn and wait');

examples('/bin/true exits 0', async () => {
	const child = await spawn('/bin/true');
	assert.ok(child.pid > 0);
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.status, 'exited');
	assert.is(exit.code, 0);
	assert.is(exit.signal, null);
	assert.ok(exit.success);
	assert.is(exit.pid, child.pid);
	ExitInfo.parse(exit);
});

examples("sh -c 'kill -9 $$' reports SIGKILL", async () => {
	const child = await spawn('sh', ['-c', 'kill -9 $$']);
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.status, 'signaled');
	assert.is(exit.code, null);
	assert.is(exit.signal, 'SIGKILL');
	assert.is(exit.signalNumber, 9);
	assert.not.ok(exit.coreDumped);
	assert.not.ok(exit.success);
});

examples('concurrent waits on /bin/true and /bin/false report 0 and 1', async () => {
	const [t, f] = await Promise.all([spawn('/bin/true'), spawn('/bin/false')]);
	const [a, b] = await within(LIMIT, Promise.all([t.wait(), f.wait()]));
	assert.is(a.code, 0);
	assert.is(b.code, 1);
});

examples('exit codes pass through, 255 included', async () => {
	for (const code of [7, 255]) {
		const exit = await within(LIMIT, (await spawn('sh', ['-c', `exit ${code}`])).wait());
		assert.is(exit.code, code);
	}
});

examples('each spawn sees process.env as it is at the call, changed or not', async () => {
	const out = join(tmp, 'env');
	const seen = async () => {
		await within(LIMIT, (await spawn('sh', ['-c', 'echo "${PIDFD_TEST_ENV-unset}" > "$0"', out])).wait());
		return readFileSync(out, 'utf8').trim();
	};
	try {
		assert.is(await seen(), 'unset');
		assert.is(await seen(), 'unset');
		process.env.PIDFD_TEST_ENV = 'one';
		assert.is(await seen(), 'one');
		process.env.PIDFD_TEST_ENV = 'two';
		assert.is(await seen(), 'two');
		assert.is(await seen(), 'two');
	} finally {
		delete process.env.PIDFD_TEST_ENV;
	}
	assert.is(await seen(), 'unset');
});

examples('PATH lookup and args reach the child', async () => {
	const out = join(tmp, 'argv');
	const child = await spawn('sh', ['-c', 'echo "$0|$1" > "$2"', 'one', 'two words', out]);
	await within(LIMIT, child.wait());
	assert.is(readFileSync(out, 'utf8'), 'one|two words\n');
});

examples('argv0 is what the child sees as its name', async () => {
	const out = join(tmp, 'cmdline');
	const child = await spawn('cat', ['/proc/self/cmdline'], { argv0: 'myname', stdio: ['ignore', { file: out }, 'inherit'] });
	await within(LIMIT, child.wait());
	assert.is(readFileSync(out, 'utf8'), 'myname\0/proc/self/cmdline\0');
});

examples.run();

// ---

const lifecycle = suite('wait, tryWait and kill');

lifecycle('wait twice gives the same ExitInfo', async () => {
	const child = await spawn('/bin/true');
	const first = await within(LIMIT, child.wait());
	const second = await child.wait();
	assert.is(first, second);
});

lifecycle('tryWait is undefined while running, the ExitInfo after', async () => {
	const child = await spawn('sleep', ['10']);
	assert.is(child.tryWait(), undefined);
	await child.kill('SIGKILL');
	const exit = await within(LIMIT, child.wait());
	assert.is(child.tryWait(), exit);
	assert.is(exit.signal, 'SIGKILL');
});

lifecycle('kill delivers the signal asked for', async () => {
	const child = await spawn('sleep', ['10']);
	await child.kill('SIGTERM');
	assert.is((await within(LIMIT, child.wait())).signal, 'SIGTERM');
	const other = await spawn('sleep', ['10']);
	await other.kill(2);
	assert.is((await within(LIMIT, other.wait())).signal, 'SIGINT');
});

// kill() after the end resolves false (no longer ESRCH): test/api.ts, "kill(): true when delivered".

lifecycle.run();

// ---

const errors = suite('errors');

errors('a missing program rejects spawn() with ENOENT from execve', async () => {
	const error = await spawn('/nonexistent/program').then(
		() => undefined,
		(e: unknown) => e,
	);
	assert.instance(error, PidfdError);
	const e = error as PidfdError;
	assert.is(e.code, 'ENOENT');
	assert.is(e.errno, 2);
	assert.is(e.syscall, 'execve');
	assert.is(e.path, '/nonexistent/program');
	assert.is(e.message, 'execve ENOENT /nonexistent/program');
});

errors('a program not on PATH rejects with ENOENT', async () => {
	const error = await spawn('pidfd-no-such-command-xyz').then(
		() => undefined,
		(e: unknown) => e,
	);
	assert.is((error as PidfdError).code, 'ENOENT');
});

errors('a file without execute permission rejects with EACCES', async () => {
	const path = join(tmp, 'not-executable');
	writeFileSync(path, '#!/bin/sh\n', { mode: 0o644 });
	const error = await spawn(path).then(
		() => undefined,
		(e: unknown) => e,
	);
	assert.is((error as PidfdError).code, 'EACCES');
	assert.is((error as PidfdError).syscall, 'execve');
});

errors('errors name the process they were about: pidfd_open and pidfd_send_signal carry its pid', async () => {
	const probe = nodeSpawn('/bin/true');
	await new Promise((resolve) => probe.on('exit', resolve));
	const gone = (await PidFd.open(probe.pid!).then(
		() => undefined,
		(e: unknown) => e,
	)) as PidfdError;
	assert.instance(gone, PidfdError);
	assert.equal([gone.code, gone.errno, gone.syscall, gone.pid], ['ESRCH', 3, 'pidfd_open', probe.pid]);
	// Not a group leader: no group has its pid as id.
	const child = await spawn('sleep', ['300'], { stdio: 'ignore' });
	const group = (await child.kill('SIGTERM', { group: true }).then(
		() => undefined,
		(e: unknown) => e,
	)) as PidfdError;
	assert.instance(group, PidfdError);
	assert.is(group.syscall, 'pidfd_send_signal');
	assert.is(group.pid, child.pid);
	await child.kill('SIGKILL');
	await within(LIMIT, child.wait());
});

errors('invalid arguments reject before anything is sent', async () => {
	const cases: [string, () => Promise<unknown>, RegExp][] = [
		['NUL in an argument', () => spawn('echo', ['a\0b']), /args\.0 must not contain NUL/],
		['NUL in the file', () => spawn('ec\0ho'), /NUL/],
		['empty file', () => spawn(''), /non-empty/],
		['unknown kill signal', async () => (await spawn('/bin/true')).kill('SIGNOPE'), /not a signal/],
		['signal 0', async () => (await spawn('/bin/true')).kill(0), /not a signal/],
		['negative pid', () => PidFd.open(-1), /pid must be an integer/],
		['pid 0', () => PidFd.open(0), /pid must be an integer/],
		['unknown option', () => spawn('/bin/true', [], { nope: 1 } as never), /nope/],
		['bad env name', () => spawn('/bin/true', [], { env: { 'A=B': 'x' } }), /invalid variable name/],
	];
	for (const [what, call, message] of cases) {
		const error = await call().then(
			() => undefined,
			(e: unknown) => e,
		);
		assert.instance(error, InvalidArgumentError, what);
		assert.is((error as InvalidArgumentError).code, 'ERR_INVALID_ARG_VALUE', what);
		assert.match((error as Error).message, message, what);
	}
});

errors.run();

// ---

const others = suite('PidFd.open: processes we did not spawn');

others('wait() resolves when a node:child_process child exits; kill goes through the pidfd', async () => {
	const sleeper = nodeSpawn('sleep', ['10'], { stdio: 'ignore' });
	const exited = new Promise((resolve) => sleeper.on('exit', resolve));
	const handle = await PidFd.open(sleeper.pid!);
	assert.is(handle.pid, sleeper.pid);
	assert.is(handle.tryWait(), undefined);
	await handle.kill('SIGTERM');
	const exit = await within(LIMIT, handle.wait());
	await exited;
	assert.is(exit.pid, sleeper.pid);
	// Not our child: no rusage; the status comes from PIDFD_INFO_EXIT where the kernel has it.
	assert.is(exit.rusage, null);
	assert.ok(exit.status === 'signaled' || exit.status === 'unknown');
	if (exit.status === 'signaled') assert.is(exit.signal, 'SIGTERM');
});

others('close() settles a pending wait with ECANCELED', async () => {
	const sleeper = nodeSpawn('sleep', ['10'], { stdio: 'ignore' });
	const handle = await PidFd.open(sleeper.pid!);
	const waiting = handle.wait().then(
		() => undefined,
		(e: unknown) => e,
	);
	await handle.close();
	assert.is(((await within(LIMIT, waiting)) as PidfdError).code, 'ECANCELED');
	sleeper.kill('SIGKILL');
});

others.run();

// ---

const usage = suite('rusage and fd hygiene');

usage('a CPU-burning child shows CPU time and max RSS', async () => {
	// ~80 MB touched and some CPU burnt, in a runtime we know is there.
	const child = await spawn(process.execPath, ['-e', 'const b = Buffer.alloc(80e6, 1); let x = 0; for (let i = 0; i < 3e7; i++) x += b[i % 1000]']);
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.code, 0);
	const r = exit.rusage!;
	assert.ok(r.userCpuMs + r.systemCpuMs > 20, `cpu ${r.userCpuMs}+${r.systemCpuMs} ms`);
	assert.ok(r.maxRssKiB > 80_000, `maxRss ${r.maxRssKiB} KiB`);
	assert.ok(r.minorFaults > 1000, `minor faults ${r.minorFaults}`);
});

usage('a child sees only fds 0, 1, 2 and its own', async () => {
	const out = join(tmp, 'fds');
	// ls opens one fd to read /proc/self/fd: that is "its own".
	const child = await spawn('ls', ['/proc/self/fd'], { stdio: ['ignore', { file: out }, 'inherit'] });
	assert.is((await within(LIMIT, child.wait())).code, 0);
	const fds = readFileSync(out, 'utf8')
		.trim()
		.split('\n')
		.map(Number)
		.sort((a, b) => a - b);
	assert.equal(fds.slice(0, 3), [0, 1, 2]);
	assert.ok(fds.length <= 4, `child fds: ${fds.join(' ')}`);
});

usage('children are gone once reaped: no zombies', async () => {
	const children = await Promise.all(Array.from({ length: 20 }, () => spawn('/bin/true')));
	await within(LIMIT, Promise.all(children.map((c) => c.wait())));
	// Reaped means /proc/<pid> is gone: a zombie would still have an entry.
	for (const c of children) assert.not.ok(existsSync(`/proc/${c.pid}`) && !isAlive(c.pid), `pid ${c.pid} is a zombie`);
});

usage.after(() => rmSync(tmp, { recursive: true, force: true }));
usage.run();
