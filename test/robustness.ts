// Faults and bad input: the host or the sidecar dying, shutdown(), the event loop, and frames
// the host would never send. Every process is named by pid and start time, so a reused pid
// can never pass for the process a test is looking for.
import { type ChildProcess, spawn as nodeSpawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidArgumentError, PidFd, PidfdError, shutdown, sidecarInfo, spawn } from '../host/index.js';
import { Sidecar } from '../host/sidecar/connection.js';
import { locateSidecar } from '../host/sidecar/locate.js';
import { eventually, nextTurn, within } from './helpers/deadline.js';
import { E, SC, STDIO, T, Writer, decodeError, decodeSpawned, expectError, frame, spawnBody } from './helpers/frames.js';
import { bytesRead, fdCount, inEpollWait, isAlive, startTime } from './helpers/proc.js';
import { RawSidecar } from './helpers/raw.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'host.ts');
/** The hang guard of every wait here: generous, never a measurement. */
const LIMIT = 10_000;

interface Proc {
	pid: number;
	start: number | undefined;
}

/** That very process still exists (zombie included). */
const exists = (p: Proc) => startTime(p.pid) === p.start;
/** Gone from /proc: dead and reaped. A zombie does not count. */
const reaped = (p: Proc) => !exists(p);
/** Dead: reaped, or a zombie waiting for a parent that is not ours. */
const dead = (p: Proc) => !exists(p) || !isAlive(p.pid);

/** Kills a process we left running on purpose, if it is still that process. */
function cleanup(p: Proc | undefined): void {
	if (p && exists(p)) process.kill(p.pid, 'SIGKILL');
}

interface Host {
	proc: ChildProcess;
	exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
	/** The first line starting with `tag `, parsed. */
	line<T = Record<string, unknown>>(tag: string): Promise<T>;
	output: () => string;
	errors: () => string;
}

/** Runs test/fixtures/host.ts in its own Node process. */
function host(mode: string, args: string[] = [], shell?: string): Host {
	const argv = ['--import', 'tsx', FIXTURE, mode, ...args];
	const proc = shell
		? nodeSpawn('sh', ['-c', `${shell}; exec "$0" "$@"`, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
		: nodeSpawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	const listeners: Array<() => void> = [];
	proc.stdout!.on('data', (d) => {
		out += d;
		for (const l of listeners) l();
	});
	// Kept, not shown: the crash case prints its stack on purpose. A failing test shows it.
	let err = '';
	proc.stderr!.on('data', (d) => (err += d));
	const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
	const line = <T>(tag: string) =>
		within(
			20_000,
			new Promise<T>((resolve) => {
				const check = () => {
					const m = out.match(new RegExp(`^${tag} (.*)$`, 'm'));
					if (m) resolve(JSON.parse(m[1]!) as T);
				};
				listeners.push(check);
				check();
			}),
			`${tag} line from the fixture host (${mode}; stderr: ${err.slice(-2000)})`,
		);
	return { proc, exited, line, output: () => out, errors: () => err };
}

interface Ready {
	host: Proc;
	sidecar: Proc;
	children: Proc[];
	detached?: Proc;
}

// ---

const hostDies = suite('the host dies: its children go with it');

for (const [mode, how] of [
	['wait', 'SIGKILL'],
	['exit', 'process.exit() with handles open'],
	['crash', 'an uncaught exception'],
] as const) {
	hostDies(`${how}: every child is gone, reaped by the sidecar; detached ones live on`, async () => {
		const h = host(mode);
		const ready = await h.line<Ready>('READY');
		try {
			assert.ok(ready.children.every(exists), 'children running');
			if (mode === 'wait') process.kill(ready.host.pid, 'SIGKILL');
			const { code, signal } = await within(LIMIT, h.exited, 'host exit');
			if (mode === 'wait') assert.is(signal, 'SIGKILL');
			if (mode === 'exit') assert.is(code, 0);
			if (mode === 'crash') {
				assert.is(code, 1);
				assert.match(h.errors(), /host crashed on purpose/);
			}
			// Reaped by the sidecar: not even a zombie is left. (They would run for 300 s.)
			await eventually(LIMIT, () => ready.children.every(reaped), `children of a host ended by ${how}`);
			await eventually(LIMIT, () => dead(ready.sidecar), 'sidecar exits');
			assert.ok(exists(ready.detached!) && isAlive(ready.detached!.pid), 'the detached child survives');
		} finally {
			for (const p of [ready.detached, ...ready.children]) cleanup(p);
		}
	});
}

hostDies('host and sidecar SIGKILLed together: PR_SET_PDEATHSIG takes the children down', async () => {
	const h = host('wait');
	const ready = await h.line<Ready>('READY');
	try {
		// The sidecar first, so it has no chance to kill anything itself.
		process.kill(ready.sidecar.pid, 'SIGKILL');
		process.kill(ready.host.pid, 'SIGKILL');
		await within(LIMIT, h.exited, 'host exit');
		// Orphans now: reaping them is their new parent's job (init, or a subreaper), so
		// "dead" is the promise here, zombie or not.
		await eventually(LIMIT, () => ready.children.every(dead), 'children die of their death signal');
		assert.ok(exists(ready.detached!) && isAlive(ready.detached!.pid), 'detached children have no death signal');
	} finally {
		for (const p of [ready.detached, ...ready.children]) cleanup(p);
	}
});

hostDies.run();

// ---

const sidecarDies = suite('the sidecar dies: nothing is left pending, the next call gets a new one');

sidecarDies('SIGKILL: pending calls and wait() reject ERR_PIDFD_SIDECAR_DIED, children die, the next spawn works', async () => {
	await shutdown(); // a sidecar of our own, whatever ran before
	const children = await Promise.all([spawn('sleep', ['300'], { stdio: 'ignore' }), spawn('sleep', ['300'], { stdio: 'ignore' })]);
	const procs = children.map((c) => ({ pid: c.pid, start: startTime(c.pid) }));
	const waits = children.map((c) =>
		c.wait().then(
			() => undefined,
			(e: unknown) => e,
		),
	);
	const { pid } = await sidecarInfo();
	const sidecar = { pid, start: startTime(pid) };
	// Stopped, it cannot answer: these calls are in flight when it dies.
	process.kill(pid, 'SIGSTOP');
	const pending = [
		PidFd.open(process.pid).then(
			() => undefined,
			(e: unknown) => e,
		),
		children[0]!.kill('SIGUSR1').then(
			() => undefined,
			(e: unknown) => e,
		),
		spawn('/bin/true').then(
			() => undefined,
			(e: unknown) => e,
		),
	];
	// Their requests are in the stopped sidecar's pipe once the loop has turned.
	await nextTurn();
	process.kill(pid, 'SIGKILL');
	const errors = await within(LIMIT, Promise.all([...waits, ...pending]), 'everything settles');
	for (const error of errors) {
		assert.instance(error, PidfdError);
		assert.is((error as PidfdError).code, 'ERR_PIDFD_SIDECAR_DIED');
		assert.match((error as PidfdError).message, new RegExp(`sidecar \\(pid ${pid}\\) was killed by SIGKILL`));
	}
	// Later calls on the lost handles fail the same way, at once.
	assert.throws(
		() => children[0]!.tryWait(),
		(e: PidfdError) => e.code === 'ERR_PIDFD_SIDECAR_DIED',
	);
	assert.is(((await children[1]!.kill().catch((e: unknown) => e)) as PidfdError).code, 'ERR_PIDFD_SIDECAR_DIED');
	assert.is(((await children[1]!.wait().catch((e: unknown) => e)) as PidfdError).code, 'ERR_PIDFD_SIDECAR_DIED');
	// Not forgotten: PR_SET_PDEATHSIG (SIGKILL by default) ended them with their parent.
	await eventually(LIMIT, () => procs.every(dead), 'children of the dead sidecar die');
	await eventually(LIMIT, () => dead(sidecar), 'sidecar gone');
	// The next call starts a new sidecar, transparently.
	const child = await within(LIMIT, spawn('sh', ['-c', 'exit 3']), 'spawn on a new sidecar');
	assert.is((await within(LIMIT, child.wait(), 'wait')).code, 3);
	assert.is.not((await sidecarInfo()).pid, pid);
});

sidecarDies('killed while starting: a spawn waiting for HELLO rejects ERR_PIDFD_SIDECAR_DIED', async () => {
	await shutdown();
	const sc = Sidecar.get();
	const spawning = spawn('/bin/true').then(
		() => undefined,
		(e: unknown) => e,
	);
	process.kill(sc.pid!, 'SIGKILL');
	const error = (await within(LIMIT, spawning, 'spawn settles')) as PidfdError;
	assert.instance(error, PidfdError);
	assert.is(error.code, 'ERR_PIDFD_SIDECAR_DIED');
	assert.match(error.message, /SIGKILL/);
	const child = await within(LIMIT, spawn('/bin/true'), 'the next spawn');
	assert.is((await within(LIMIT, child.wait(), 'wait')).code, 0);
});

for (const [what, bin, code, message] of [
	['exits at once', '/bin/false', 'ERR_PIDFD_SIDECAR_DIED', /exited with status 1/],
	['sends garbage', '/usr/bin/yes', 'ERR_PIDFD_PROTOCOL', /unreadable data from the sidecar/],
	['does not exist', '/nonexistent/pidfd-sidecar', 'ENOENT', /sidecar/],
] as const) {
	sidecarDies(`a sidecar that ${what}: spawn() rejects ${code} instead of hanging`, async () => {
		await shutdown();
		const saved = process.env.PIDFD_SIDECAR;
		process.env.PIDFD_SIDECAR = bin;
		try {
			const error = (await within(
				LIMIT,
				spawn('/bin/true').then(
					() => undefined,
					(e: unknown) => e,
				),
				'spawn settles',
			)) as PidfdError;
			assert.instance(error, PidfdError);
			assert.is(error.code, code);
			assert.match(error.message, message);
		} finally {
			if (saved === undefined) delete process.env.PIDFD_SIDECAR;
			else process.env.PIDFD_SIDECAR = saved;
		}
		const child = await within(LIMIT, spawn('/bin/true'), 'spawn with the real sidecar');
		assert.is((await within(LIMIT, child.wait(), 'wait')).code, 0);
	});
}

sidecarDies('an exit the host cannot decode rejects that wait() ERR_PIDFD_PROTOCOL instead of hanging', async () => {
	// The real sidecar behind test/fixtures/exit-mangler.mjs, which cuts a byte off each EXIT.
	await shutdown();
	const real = locateSidecar(); // PIDFD_SIDECAR's, if set (the ASan build in CI)
	const dir = mkdtempSync(join(tmpdir(), 'pidfd-mangler-'));
	const wrapper = join(dir, 'pidfd-sidecar');
	writeFileSync(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${fileURLToPath(new URL('./fixtures/exit-mangler.mjs', import.meta.url))}'\n`, {
		mode: 0o755,
	});
	const saved = process.env.PIDFD_SIDECAR;
	process.env.PIDFD_SIDECAR = wrapper;
	process.env.PIDFD_REAL_SIDECAR = real;
	try {
		const child = await within(LIMIT, spawn('sh', ['-c', 'exit 3'], { stdio: 'ignore' }), 'spawn through the mangler');
		const error = (await within(
			LIMIT,
			child.wait().then(
				() => undefined,
				(e: unknown) => e,
			),
			'wait() settles',
		)) as PidfdError;
		assert.instance(error, PidfdError);
		assert.is(error.code, 'ERR_PIDFD_PROTOCOL');
		assert.match(error.message, /an exit could not be decoded/);
	} finally {
		if (saved === undefined) delete process.env.PIDFD_SIDECAR;
		else process.env.PIDFD_SIDECAR = saved;
		delete process.env.PIDFD_REAL_SIDECAR;
		await shutdown();
		rmSync(dir, { recursive: true, force: true });
	}
	const child = await within(LIMIT, spawn('/bin/true'), 'spawn with the real sidecar');
	assert.is((await within(LIMIT, child.wait(), 'wait')).code, 0);
});

sidecarDies('PidFd.close() on a handle whose sidecar died resolves: nothing is left open', async () => {
	const other = nodeSpawn('sleep', ['30'], { stdio: 'ignore' });
	const handle = await PidFd.open(other.pid!);
	const waiting = handle.wait().then(
		() => undefined,
		(e: unknown) => e,
	);
	process.kill((await sidecarInfo()).pid, 'SIGKILL');
	assert.is(((await within(LIMIT, waiting, 'wait')) as PidfdError).code, 'ERR_PIDFD_SIDECAR_DIED');
	await within(LIMIT, handle.close(), 'close');
	assert.ok(isAlive(other.pid!), 'a process we only opened is not ours to kill');
	other.kill('SIGKILL');
});

sidecarDies.run();

// ---

const stopping = suite('shutdown() and the event loop');

stopping('shutdown(): SIGTERM, SIGKILL after the timeout, sidecar stopped; detached children stay', async () => {
	const stubborn = await spawn('sh', ['-c', "trap '' TERM; echo trapped; while :; do sleep 0.05; done"], { stdio: ['ignore', 'pipe', 'ignore'] });
	// Only once the trap is set does SIGTERM bounce off it.
	await once(stubborn.stdout!, 'data');
	stubborn.stdout!.resume();
	const polite = await spawn('sleep', ['300'], { stdio: 'ignore' });
	const detached = await spawn('sleep', ['300'], { stdio: 'ignore', detached: true });
	const detachedProc = { pid: detached.pid, start: startTime(detached.pid) };
	const { pid } = await sidecarInfo();
	const sidecar = { pid, start: startTime(pid) };
	try {
		const t0 = Date.now();
		await within(LIMIT, shutdown({ timeout: 300 }), 'shutdown');
		// A lower bound holds however busy the machine is: the stubborn child was given its 300 ms.
		assert.ok(Date.now() - t0 >= 290, `${Date.now() - t0} ms`);
		assert.is((await stubborn.wait()).signal, 'SIGKILL');
		assert.is((await polite.wait()).signal, 'SIGTERM');
		assert.ok(dead(sidecar), 'the sidecar has exited when shutdown() resolves');
		assert.ok(exists(detachedProc) && isAlive(detached.pid), 'detached child left running');
		assert.is(((await detached.wait().catch((e: unknown) => e)) as PidfdError).code, 'ERR_PIDFD_SIDECAR_DIED');
		await within(LIMIT, shutdown(), 'shutdown with nothing running');
		const child = await spawn('/bin/true');
		assert.is((await within(LIMIT, child.wait(), 'wait')).code, 0);
		assert.is.not((await sidecarInfo()).pid, pid);
	} finally {
		cleanup(detachedProc);
	}
});

stopping('shutdown(): children that exit on SIGTERM end it at once; bad options are refused', async () => {
	const kids = await Promise.all(Array.from({ length: 5 }, () => spawn('sleep', ['300'], { stdio: 'ignore' })));
	// A timeout of ~25 days: resolving at all means it did not wait for it.
	await within(LIMIT, shutdown({ signal: 'SIGINT', timeout: 2 ** 31 - 1 }), 'shutdown, well before its timeout');
	for (const k of kids) assert.is((await k.wait()).signal, 'SIGINT');
	for (const bad of [{ signal: 'SIGNOPE' }, { signal: 0 }, { timeout: -1 }, { timeout: Number.NaN }]) {
		const error = await shutdown(bad).catch((e: unknown) => e);
		assert.instance(error, InvalidArgumentError, JSON.stringify(bad));
	}
});

stopping('a host with nothing running exits by itself: the sidecar does not hold the loop', async () => {
	const h = host('finish');
	await h.line('DONE').catch(() => {});
	const { code } = await within(LIMIT, h.exited, 'host exits on its own');
	assert.is(code, 0);
	assert.match(h.output(), /^DONE$/m);
});

stopping('an open PidFd nobody waits for does not hold the loop either', async () => {
	const h = host('idle');
	const { code } = await within(15_000, h.exited, 'host exits on its own');
	const other = Number(h.output().match(/^OTHER (\d+)$/m)![1]);
	try {
		assert.is(code, 0);
		assert.ok(isAlive(other), 'and the opened process is left alone');
	} finally {
		process.kill(other, 'SIGKILL');
	}
});

stopping('child.unref(): the host ends while the child runs, and the child goes with it', async () => {
	const h = host('unref');
	const ready = await h.line<Ready>('READY');
	try {
		const { code } = await within(15_000, h.exited, 'host exits on its own');
		assert.is(code, 0);
		await eventually(LIMIT, () => ready.children.every(reaped), 'the unref()ed child is killed with the host');
	} finally {
		ready.children.forEach(cleanup);
	}
});

stopping('a host process ending with shutdown() exits, having escalated to SIGKILL', async () => {
	const h = host('shutdown');
	const ready = await h.line<Ready>('READY');
	const result = await h.line<{ took: number; stubborn: string; polite: string }>('SHUTDOWN');
	assert.is(result.stubborn, 'SIGKILL');
	assert.is(result.polite, 'SIGTERM');
	assert.is((await within(LIMIT, h.exited, 'host exits')).code, 0);
	assert.ok(ready.children.every(reaped));
	assert.ok(dead(ready.sidecar));
});

stopping('spawn() that fails in the host after the sidecar spawned (EMFILE) leaves no child behind', async () => {
	const h = host('emfile', [], 'ulimit -n 400');
	const { code: errorCode, sidecar } = await h.line<{ code: string; sidecar: Proc }>('EMFILE');
	assert.is(errorCode, 'EMFILE');
	// Before the fix the orphaned Child held the loop: the host never exited.
	assert.is((await within(LIMIT, h.exited, 'host exits on its own')).code, 0);
	await eventually(LIMIT, () => dead(sidecar), 'sidecar gone');
});

stopping.run();

// ---

const { EINVAL, ESRCH } = E;

const u32s = (...v: number[]) => v.reduce((w, x) => w.u32(x), new Writer()).bytes();

const frames = suite<{ sc: RawSidecar; canary: ChildProcess; canaryProc: Proc; fds: number }>('bad frames: an error reply, never a crash', {
	sc: undefined as unknown as RawSidecar,
	canary: undefined as unknown as ChildProcess,
	canaryProc: { pid: 0, start: 0 },
	fds: 0,
});

frames.before(async (ctx) => {
	// An unrelated process, in its own process group: nothing below may touch it.
	ctx.canary = nodeSpawn('sleep', ['300'], { stdio: 'ignore', detached: true });
	await once(ctx.canary, 'spawn');
	ctx.canaryProc = { pid: ctx.canary.pid!, start: startTime(ctx.canary.pid!) };
	ctx.sc = await RawSidecar.start();
	ctx.fds = fdCount(ctx.sc.hello.pid);
});

frames.after(async (ctx) => {
	assert.ok(exists(ctx.canaryProc) && isAlive(ctx.canaryProc.pid), 'the unrelated process was never touched');
	ctx.canary.kill('SIGKILL');
	await ctx.sc.stop();
	assert.is((await ctx.sc.exited).code, 0);
});

frames('unknown types, and reply or event types sent as requests, get UNIMPLEMENTED', async ({ sc }) => {
	for (const type of [0, 2, 3, 99, 113, 199, 200, 201, 205, 206, 207, 300, 302, 303, 307, 0xffff]) {
		const f = await sc.request(type, Buffer.from('junk'));
		assert.is(f.type, T.UNIMPLEMENTED, `type ${type}`);
		assert.is(f.body.length, 4, 'u16 type, u16 reserved');
		assert.is(f.body.readUInt16LE(0), type);
	}
});

frames('every request type with a short or long body: EINVAL "body size"', async ({ sc }) => {
	const sizes: Record<number, number> = { [T.KILL]: 12, [T.OPEN]: 8, [T.CLOSE]: 4, [T.INFO]: 8, [T.RELEASE]: 4, [T.ALIVE]: 4 };
	for (const [type, size] of Object.entries(sizes).map(([t, s]) => [Number(t), s] as const)) {
		for (const n of [0, 1, size - 1, size + 1, 4096]) expectError(await sc.request(type, Buffer.alloc(n)), EINVAL, SC.none, 'body size');
	}
	// SPAWN, cut anywhere: never a crash, never a child.
	const body = spawnBody({ argv: ['/bin/true'], env: [], cwd: '/', stdio: [{ kind: STDIO.NULL }, { kind: STDIO.FILE, arg: 0, path: '/dev/null' }] });
	for (let n = 0; n < body.length; n++) assert.is((await sc.request(T.SPAWN, body.subarray(0, n))).type, T.ERROR, `cut at ${n}`);
	// ... or one byte too long.
	expectError(await sc.request(T.SPAWN, Buffer.concat([body, Buffer.alloc(1)])), EINVAL, SC.none, 'body size');
	assert.equal(sc.children(), []);
});

frames('handles that never existed, or were closed: ESRCH for every request that names one', async ({ sc, canaryProc }) => {
	const opened = await sc.request(T.OPEN, new Writer().i32(canaryProc.pid).u32(0).bytes());
	assert.is(opened.type, T.OPENED);
	const closed = opened.body.readUInt32LE(0);
	assert.is((await sc.request(T.CLOSE, u32s(closed))).type, T.OK);
	for (const h of [0, closed, closed + 1, 0x3fff, 0x4000 + closed, 0x7fffffff, 0x80000000, 0xffffffff]) {
		expectError(await sc.request(T.KILL, u32s(h, 9, 0)), ESRCH, SC.none, 'handle');
		expectError(await sc.request(T.CLOSE, u32s(h)), ESRCH, SC.none, 'handle');
		expectError(await sc.request(T.INFO, u32s(h, 1)), ESRCH, SC.none, 'handle');
		expectError(await sc.request(T.RELEASE, u32s(h)), ESRCH, SC.none, 'handle');
		expectError(await sc.request(T.ALIVE, u32s(h)), ESRCH, SC.none, 'handle');
		const f = await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'], stdio: [{ kind: STDIO.FROM_PIDFD, arg: 0, handle: h || 1 }] }));
		assert.is(f.type, T.ERROR);
		assert.is(decodeError(f.body).errno, ESRCH);
	}
	assert.equal(sc.children(), []);
});

frames('argv without a program, empty programs, strings with NUL: EINVAL', async ({ sc }) => {
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: [] })), EINVAL, SC.none, 'argc');
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: [''] })), EINVAL, SC.none, 'file');
	expectError(await sc.request(T.SPAWN, spawnBody({ file: '', argv: [''] })), EINVAL, SC.none, 'file');
	const nul = '/bin/true\0--evil';
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: [nul] })), EINVAL, SC.none, 'argv');
	expectError(await sc.request(T.SPAWN, spawnBody({ file: nul, argv: ['true'] })), EINVAL, SC.none, 'file');
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true', 'a\0b'] })), EINVAL, SC.none, 'argv');
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'], env: ['A=1\0LD_PRELOAD=x'] })), EINVAL, SC.none, 'env');
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'], cwd: '/tmp\0/etc' })), EINVAL, SC.none, 'cwd');
	expectError(
		await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'], stdio: [{ kind: STDIO.FILE, arg: 0, path: '/dev/null\0x' }] })),
		EINVAL,
		SC.none,
		'stdio',
	);
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'], flags: 16, cgroup: '/sys\0/fs' })), EINVAL, SC.none, 'cgroup');
	assert.equal(sc.children(), []);
});

frames('counts the body cannot hold are refused before any loop runs', async ({ sc }) => {
	// SPAWN header fields, then a count claiming 2^32-1 entries in a few bytes.
	const head = (ngroups: number) => new Writer().u32(0).i32(0).i32(-1).i32(-1).u32(0xffffffff).u32(ngroups);
	expectError(await sc.request(T.SPAWN, head(0xffffffff).bytes()), EINVAL, SC.none, 'ngroups');
	expectError(await sc.request(T.SPAWN, head(0).str('/bin/true').u32(0xffffffff).str('x').bytes()), EINVAL, SC.none, 'argc');
	expectError(await sc.request(T.SPAWN, head(0).str('').u32(1).str('/bin/true').u32(0xffffffff).bytes()), EINVAL, SC.none, 'envc');
	expectError(await sc.request(T.SPAWN, head(0).str('').u32(1).str('/bin/true').u32(0).str('').u32(257).bytes()), EINVAL, SC.none, 'nstdio');
	expectError(await sc.request(T.SPAWN, head(0).str('').u32(1).u32(0xffffffff).bytes()), EINVAL, SC.none, 'argv');
	expectError(
		await sc.request(T.SPAWN, head(0).str('').u32(1).str('/bin/true').u32(0).str('').u32(1).u32(99).i32(0).str('').bytes()),
		EINVAL,
		SC.none,
		'stdio',
	);
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'], pdeathsig: 65 })), EINVAL, SC.none, 'pdeathsig');
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'], pdeathsig: -1 })), EINVAL, SC.none, 'pdeathsig');
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'], flags: 1 << 12 })), EINVAL, SC.none, 'flags');
	expectError(await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'], uid: -2 })), EINVAL, SC.none, 'uid');
});

frames('signals 0, negative and above 64 are refused; the child does not see them', async ({ sc }) => {
	const f = await sc.request(T.SPAWN, spawnBody({ argv: ['sleep', '300'] }));
	const { handle, pid } = decodeSpawned(f.body);
	for (const sig of [0, -1, -9, 65, 128, 0x7fffffff, -0x80000000])
		expectError(await sc.request(T.KILL, new Writer().u32(handle).i32(sig).u32(0).bytes()), EINVAL, SC.none, 'signal');
	// Flag 1 is GROUP; any other bit is EINVAL.
	for (const flags of [2, 0xfffffffe]) expectError(await sc.request(T.KILL, u32s(handle, 9, flags)), EINVAL, SC.none, 'flags');
	assert.ok(isAlive(pid), 'untouched');
	assert.is((await sc.request(T.KILL, u32s(handle, 9, 0))).type, T.OK);
	await within(
		LIMIT,
		sc.next((g) => g.type === T.EXIT && g.body.readUInt32LE(0) === handle),
		'EXIT',
	);
});

frames('pid 0, -1 and negative pids never reach the kernel (no "every process", no process group)', async ({ sc, canaryProc }) => {
	// -canary is the canary's process group: pidfd_open would refuse it, but kill(2) semantics
	// must never be one typo away.
	for (const pid of [0, -1, -2, -canaryProc.pid, -0x80000000])
		expectError(await sc.request(T.OPEN, new Writer().i32(pid).u32(0).bytes()), EINVAL, SC.none, 'pid');
	// Flag 1 is THREAD; any other bit is EINVAL.
	for (const flags of [2, 0x80]) expectError(await sc.request(T.OPEN, new Writer().i32(canaryProc.pid).u32(flags).bytes()), EINVAL, SC.none, 'flags');
});

frames('header flags must be 0', async ({ sc }) => {
	sc.write(frame(T.ALIVE, 777, u32s(1), 0x8000));
	expectError(
		await within(
			LIMIT,
			sc.next((g) => g.id === 777),
			'reply',
		),
		EINVAL,
		SC.none,
		'header flags',
	);
	sc.write(frame(T.KILL, 778, u32s(1, 9, 0), 1));
	expectError(
		await within(
			LIMIT,
			sc.next((g) => g.id === 778),
			'reply',
		),
		EINVAL,
		SC.none,
		'header flags',
	);
});

frames('after all that: no child, no stray fd, and a real spawn still works', async ({ sc, fds }) => {
	const f = await sc.request(T.SPAWN, spawnBody({ argv: ['/bin/true'] }));
	assert.is(f.type, T.SPAWNED);
	const { handle } = decodeSpawned(f.body);
	await within(
		LIMIT,
		sc.next((g) => g.type === T.EXIT && g.body.readUInt32LE(0) === handle),
		'EXIT',
	);
	assert.equal(sc.children(), []);
	assert.is(fdCount(sc.hello.pid), fds);
});

frames.run();

// ---

const fatal = suite('broken framing: FATAL and a clean exit, children killed');

async function expectFatal(bytes: Buffer, errno: number): Promise<void> {
	const sc = await RawSidecar.start();
	const f = await sc.request(T.SPAWN, spawnBody({ argv: ['sleep', '300'] }));
	const child = { pid: decodeSpawned(f.body).pid, start: startTime(decodeSpawned(f.body).pid) };
	sc.write(bytes);
	const ev = await within(
		LIMIT,
		sc.next((g) => g.type === T.FATAL),
		'FATAL',
	);
	assert.is(ev.id, 0);
	assert.is(ev.body.readInt32LE(0), errno);
	assert.is((await within(LIMIT, sc.exited, 'exit')).code, 2);
	assert.ok(reaped(child), 'its child was killed and reaped');
}

const lenOnly = (len: number) => {
	const b = Buffer.alloc(12);
	b.writeUInt32LE(len >>> 0, 0);
	return b;
};

fatal('length 0', () => expectFatal(lenOnly(0), E.EPROTO));
fatal('length 7 (shorter than a header)', () => expectFatal(lenOnly(7), E.EPROTO));
fatal('length 2^32-1', () => expectFatal(lenOnly(0xffffffff), E.EMSGSIZE));
fatal('a bad length after good frames in the same write', () =>
	expectFatal(Buffer.concat([frame(T.ALIVE, 1, u32s(9)), frame(999, 2), lenOnly(0xffffffff)]), E.EMSGSIZE),
);

fatal('a frame cut short by EOF: the sidecar exits 0 at once, killing its children', async () => {
	const sc = await RawSidecar.start();
	const f = await sc.request(T.SPAWN, spawnBody({ argv: ['sleep', '300'] }));
	const child = { pid: decodeSpawned(f.body).pid, start: startTime(decodeSpawned(f.body).pid) };
	// The pipe keeps the order: the sidecar reads the cut frame, then EOF.
	sc.write(frame(T.KILL, 5, u32s(1, 9, 0)).subarray(0, 10));
	sc.proc.stdin!.end();
	assert.is((await within(LIMIT, sc.exited, 'exit')).code, 0);
	assert.ok(reaped(child));
});

fatal('a frame that promises 16 MiB and never comes: the sidecar waits, then exits on EOF', async () => {
	const sc = await RawSidecar.start();
	const before = bytesRead(sc.hello.pid);
	sc.write(lenOnly(16 << 20));
	// Read the header, and back in epoll_wait: it has decided to wait for the body.
	await eventually(LIMIT, () => bytesRead(sc.hello.pid) >= before + 12 && inEpollWait(sc.hello.pid), 'the sidecar reads the header and waits');
	assert.ok(isAlive(sc.hello.pid), 'a valid length is waited for, not fatal');
	assert.equal(
		sc.queued((f) => f.type === T.FATAL),
		[],
	);
	sc.proc.stdin!.end();
	assert.is((await within(LIMIT, sc.exited, 'exit')).code, 0);
});

fatal.run();
