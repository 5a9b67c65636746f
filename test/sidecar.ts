// The sidecar binary, driven with raw frames over its pipes.
import { spawn } from 'node:child_process';
import { constants as os, existsSync, openSync, closeSync, readFileSync, readdirSync, unlinkSync, writeSync, createReadStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { E, SC, STDIO, T, Writer, decodeError, decodeInfo, decodeSpawned, expectError, frame, spawnBody } from './helpers/frames.js';
import { RawSidecar } from './helpers/raw.js';
import { eventually, within } from './helpers/deadline.js';
import { testIf } from './helpers/skip.js';

const FEAT = { clone3: 1, waitid: 2, getInfo: 4, infoExit: 8, getfd: 16, intoCgroup: 32, signalGroup: 128 };
const CLD_EXITED = 1;
const CLD_KILLED = 2;
/** A hang guard for every wait on the sidecar or a child: generous, never a measurement. */
const LIMIT = 10_000;

/** The raw-frame driver shared with test/robustness.ts. */
const Sidecar = RawSidecar;
type Sidecar = RawSidecar;

/** What this machine's sidecar can do, asked once, before the tests that need it are registered. */
const FEATURES = await (async () => {
	const probe = await Sidecar.start();
	await probe.stop();
	return probe.hello.features;
})();
const PIPE_MAX_SIZE = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8'));

// ---

/**
 * Ends a child whose handle was CLOSEd. Its pid cannot be reused meanwhile: the sidecar
 * still has to reap it.
 */
async function killClosed(sc: Sidecar, pid: number): Promise<void> {
	process.kill(pid, 'SIGKILL');
	await eventually(LIMIT, () => !sc.children().includes(pid), `reap of ${pid}`);
}

const openFds = (pid: number) =>
	readdirSync(`/proc/${pid}/fd`)
		.map(Number)
		.sort((a, b) => a - b);

/** A suite sharing one sidecar, with the fds it had at start to compare against. */
function sidecarSuite(name: string) {
	const s = suite<{ sc: Sidecar; fds: number[] }>(name, { sc: undefined as unknown as Sidecar, fds: [] });
	s.before(async (ctx) => {
		ctx.sc = await Sidecar.start();
		ctx.fds = openFds(ctx.sc.hello.pid);
	});
	return s;
}

const basics = sidecarSuite('sidecar basics');

basics.after(async (ctx) => {
	await ctx.sc.stop();
	const { code } = await ctx.sc.exited;
	assert.is(code, 0);
});

basics('HELLO announces version, pid, features and kernel', ({ sc }) => {
	const h = sc.hello;
	assert.is(h.version, 1);
	assert.is(h.pid, sc.proc.pid);
	assert.is(h.maxFrame, 16 << 20);
	assert.ok(h.maxHandles > 0 && (h.maxHandles & (h.maxHandles - 1)) === 0, 'max_handles is a power of two');
	assert.ok(h.features & FEAT.clone3, 'clone3');
	assert.ok(h.features & FEAT.waitid, 'waitid P_PIDFD');
	const [major = 0, minor = 0] = h.kernel.split('.').map(Number);
	if (major > 6 || (major === 6 && minor >= 15)) assert.is(h.features, 255, 'every feature on 6.15+');
	assert.ok(h.kernel.length > 0, 'kernel release');
	assert.is(h.kernel, readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
});

basics('/bin/true exits 0', async ({ sc }) => {
	const s = await sc.spawnOk({ argv: ['/bin/true'] });
	assert.ok(s.handle > 0 && s.pid > 0);
	const e = await sc.exit(s.handle);
	assert.is(e.signo, 17); // SIGCHLD
	assert.is(e.code, CLD_EXITED);
	assert.is(e.status, 0);
	assert.is(e.pid, s.pid);
	assert.ok(e.maxrss > 0, 'rusage maxrss');
});

basics('sh -c "exit 7" reports status 7, found through PATH', async ({ sc }) => {
	const s = await sc.spawnOk({ argv: ['sh', '-c', 'exit 7'] });
	const e = await sc.exit(s.handle);
	assert.is(e.code, CLD_EXITED);
	assert.is(e.status, 7);
});

basics('missing program: ENOENT from execve, no zombie left', async ({ sc }) => {
	const f = await sc.spawn({ argv: ['pidfd-no-such-program-xyz'] });
	const e = expectError(f, 2, SC.execve);
	assert.is(e.detail, 'pidfd-no-such-program-xyz');
	assert.equal(sc.children(), []);
	const g = await sc.spawn({ argv: ['/nonexistent/prog'] });
	expectError(g, 2, SC.execve);
	assert.equal(sc.children(), []);
});

basics('missing cwd: ENOENT from chdir', async ({ sc }) => {
	const f = await sc.spawn({ argv: ['/bin/true'], cwd: '/nonexistent-dir-xyz' });
	const e = expectError(f, 2, SC.chdir);
	assert.is(e.detail, '/nonexistent-dir-xyz');
	assert.equal(sc.children(), []);
});

basics('KILL SIGKILL ends sleep 10 with CLD_KILLED', async ({ sc }) => {
	const s = await sc.spawnOk({ argv: ['sleep', '10'] });
	const ok = await sc.kill(s.handle, 9);
	assert.is(ok.type, T.OK);
	const e = await sc.exit(s.handle);
	assert.is(e.code, CLD_KILLED);
	assert.is(e.status, 9);
	// The handle is gone after EXIT.
	expectError(await sc.kill(s.handle, 9), 3, SC.none);
});

// Bad signals, flags and handles: test/robustness.ts, "bad frames".
basics('KILL delivers the signal asked for: SIGTERM ends sleep 10 with status 15', async ({ sc }) => {
	const s = await sc.spawnOk({ argv: ['sleep', '10'] });
	assert.is((await sc.kill(s.handle, 15)).type, T.OK);
	const e = await sc.exit(s.handle);
	assert.is(e.code, CLD_KILLED);
	assert.is(e.status, 15);
});

basics('OPEN a process node started; EXITED when it dies', async ({ sc }) => {
	const child = spawn('sleep', ['10'], { stdio: 'ignore' });
	const reaped = new Promise((r) => child.on('exit', r));
	const f = await sc.request(T.OPEN, new Writer().i32(child.pid!).u32(0).bytes());
	assert.is(f.type, T.OPENED);
	const handle = f.body.readUInt32LE(0);
	assert.is(f.body.readInt32LE(4), child.pid);

	const info = await sc.request(
		T.INFO,
		new Writer()
			.u32(handle)
			.u32(1 | 2)
			.bytes(),
	);
	if (sc.hello.features & FEAT.getInfo) {
		assert.is(info.type, T.INFO_REPLY);
		assert.is(info.body.readUInt32LE(4), 64);
		const i = decodeInfo(info.body, 8);
		assert.is(i.pid, child.pid);
		assert.is(i.ppid, process.pid);
	}

	child.kill('SIGKILL');
	const ev = await within(
		LIMIT,
		sc.next((g) => g.type === T.EXITED && g.body.readUInt32LE(0) === handle),
		'EXITED',
	);
	await reaped;
	const hasExit = ev.body.readUInt32LE(4);
	const i = decodeInfo(ev.body, 8);
	// The pidfd turns readable when the process becomes a zombie, but the
	// kernel records PIDFD_INFO_EXIT only when its parent (node) reaps it.
	// The sidecar waits for that reap (up to 100 ms), so on a kernel with
	// PIDFD_INFO_EXIT the exit status is known: the wait status of SIGKILL.
	if (sc.hello.features & FEAT.infoExit) {
		assert.is(hasExit, 1);
		assert.is(i.mask & 8n, 8n);
		assert.is(i.exitCode, 9);
	} else {
		assert.is(hasExit, 0);
		assert.is(i.mask & 8n, 0n);
	}
	// Freed after EXITED.
	expectError(await sc.kill(handle, 9), 3, SC.none);
});

basics('OPEN of a zombie nobody reaps: EXITED after the grace period, no exit info', async ({ sc }) => {
	// The shell's `sleep 0.2` becomes a zombie: its parent has exec'd into a
	// `sleep 1000` that never waits for it (and is killed below).
	const sh = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
	try {
		const line = await within(LIMIT, new Promise<string>((r) => sh.stdout!.once('data', (d) => r(String(d)))), 'pid');
		const pid = Number(line.trim());
		const f = await sc.request(T.OPEN, new Writer().i32(pid).u32(0).bytes());
		assert.is(f.type, T.OPENED);
		const handle = f.body.readUInt32LE(0);
		const ev = await within(
			LIMIT,
			sc.next((g) => g.type === T.EXITED && g.body.readUInt32LE(0) === handle),
			'EXITED',
		);
		assert.match(readFileSync(`/proc/${pid}/stat`, 'utf8'), /\) Z /);
		assert.is(ev.body.readUInt32LE(4), 0);
		const i = decodeInfo(ev.body, 8);
		if (sc.hello.features & FEAT.getInfo) {
			assert.is(i.mask & 1n, 1n);
			assert.is(i.pid, pid);
			assert.is(i.ppid, sh.pid);
		}
	} finally {
		sh.kill('SIGKILL');
	}
});

basics('KILL GROUP signals the process group a SETPGID child leads', async ({ sc }) => {
	const plain = await sc.spawnOk({ argv: ['sleep', '10'] });
	if (!(sc.hello.features & FEAT.signalGroup)) {
		expectError(await sc.kill(plain.handle, 9, 1), 95, SC.pidfd_send_signal);
	} else {
		// Not a group leader: there is no group with its pid as id.
		expectError(await sc.kill(plain.handle, 9, 1), 3, SC.pidfd_send_signal);
		const s = await sc.spawnOk({
			argv: ['sh', '-c', 'sleep 100 & echo $!; wait'],
			flags: 4 /* SETPGID */,
			stdio: [{ kind: STDIO.NULL }, { kind: STDIO.PIPE_FROM_CHILD }],
		});
		const stream = createReadStream(`/proc/${sc.hello.pid}/fd/${s.pipes[0]!.sidecarFd}`);
		await within(LIMIT, once(stream, 'open'), 'open pipe');
		await sc.request(T.RELEASE, new Writer().u32(s.handle).bytes());
		const line = await within(LIMIT, new Promise<string>((r) => stream.once('data', (d) => r(String(d)))), 'pid');
		const grandchild = Number(line.trim());
		assert.is((await sc.kill(s.handle, 9, 1)).type, T.OK);
		const e = await sc.exit(s.handle);
		assert.is(e.code, CLD_KILLED);
		const dead = () => !existsSync(`/proc/${grandchild}`) || /\) Z /.test(readFileSync(`/proc/${grandchild}/stat`, 'utf8'));
		await eventually(LIMIT, dead, 'the whole group got the signal');
		stream.destroy();
	}
	await sc.kill(plain.handle, 9);
	await sc.exit(plain.handle);
});

// pid 0, negative pids and unknown flags: test/robustness.ts, "bad frames".
basics('OPEN of a dead pid: ESRCH from pidfd_open', async ({ sc }) => {
	const maxPid = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
	let dead = maxPid - 1;
	while (existsSync(`/proc/${dead}`)) dead--;
	expectError(await sc.request(T.OPEN, new Writer().i32(dead).u32(0).bytes()), 3, SC.pidfd_open);
});

basics('CLOSE stops events; the child is still reaped', async ({ sc }) => {
	const s = await sc.spawnOk({ argv: ['sleep', '1000'] });
	assert.is((await sc.request(T.CLOSE, new Writer().u32(s.handle).bytes())).type, T.OK);
	expectError(await sc.kill(s.handle, 9), 3, SC.none);
	expectError(await sc.request(T.CLOSE, new Writer().u32(s.handle).bytes()), 3, SC.none);
	await killClosed(sc, s.pid);
	// Anything the sidecar wrote when it reaped the child is here after a round trip.
	await sc.sync();
	assert.equal(
		sc.queued((f) => (f.type === T.EXIT || f.type === T.EXITED) && f.body.readUInt32LE(0) === s.handle),
		[],
		'no event for a closed handle',
	);
});

basics('children see only fds 0-2', async ({ sc }) => {
	const s = await sc.spawnOk({
		argv: ['ls', '-1', '/proc/self/fd'],
		stdio: [{ kind: STDIO.NULL }, { kind: STDIO.PIPE_FROM_CHILD }, { kind: STDIO.INHERIT, arg: 2 }],
	});
	assert.is(s.pipes.length, 1);
	assert.is(s.pipes[0]!.childFd, 1);
	const stream = createReadStream(`/proc/${sc.hello.pid}/fd/${s.pipes[0]!.sidecarFd}`);
	await within(LIMIT, once(stream, 'open'), 'open pipe');
	assert.is((await sc.request(T.RELEASE, new Writer().u32(s.handle).bytes())).type, T.OK);
	let out = '';
	stream.on('data', (d) => (out += d));
	await within(LIMIT, once(stream, 'close'), 'pipe EOF');
	const e = await sc.exit(s.handle);
	assert.is(e.status, 0);
	// ls itself holds one more fd: the directory it is reading.
	const fds = out
		.trim()
		.split('\n')
		.map(Number)
		.sort((a, b) => a - b);
	assert.equal(fds, [0, 1, 2, 3]);
});

basics('pipes both ways: cat echoes what it reads', async ({ sc }) => {
	const s = await sc.spawnOk({
		argv: ['cat'],
		stdio: [{ kind: STDIO.PIPE_TO_CHILD }, { kind: STDIO.PIPE_FROM_CHILD }, { kind: STDIO.INHERIT, arg: 2 }],
	});
	assert.equal(s.pipes.map((p) => p.childFd).sort(), [0, 1]);
	const inFd = s.pipes.find((p) => p.childFd === 0)!.sidecarFd;
	const outFd = s.pipes.find((p) => p.childFd === 1)!.sidecarFd;
	const w = openSync(`/proc/${sc.hello.pid}/fd/${inFd}`, os.O_WRONLY);
	const stream = createReadStream(`/proc/${sc.hello.pid}/fd/${outFd}`);
	await within(LIMIT, once(stream, 'open'), 'open pipe');
	assert.is((await sc.request(T.RELEASE, new Writer().u32(s.handle).bytes())).type, T.OK);
	let out = '';
	stream.on('data', (d) => (out += d));
	writeSync(w, 'hello');
	closeSync(w);
	await within(LIMIT, once(stream, 'close'), 'pipe EOF');
	assert.is(out, 'hello');
	assert.is((await sc.exit(s.handle)).status, 0);
});

basics('pipes of a child that already exited stay openable until RELEASE', async ({ sc }) => {
	const s = await sc.spawnOk({
		argv: ['/bin/true'],
		stdio: [{ kind: STDIO.PIPE_TO_CHILD }, { kind: STDIO.PIPE_FROM_CHILD }, { kind: STDIO.NULL }],
	});
	await sc.exit(s.handle);
	expectError(await sc.kill(s.handle, 9), 3, SC.none);
	// Opening a pipe end through /proc blocks without a partner: the sidecar
	// still holds both ends, so neither open waits.
	const fds = s.pipes.map((p) => openSync(`/proc/${sc.hello.pid}/fd/${p.sidecarFd}`, p.childFd === 0 ? os.O_WRONLY : os.O_RDONLY));
	assert.is((await sc.request(T.RELEASE, new Writer().u32(s.handle).bytes())).type, T.OK);
	for (const fd of fds) closeSync(fd);
	expectError(await sc.request(T.RELEASE, new Writer().u32(s.handle).bytes()), 3, SC.none);
});

basics('stdio FILE: missing path fails in open; a real file receives output', async ({ sc }) => {
	const f = await sc.spawn({
		argv: ['/bin/true'],
		stdio: [{ kind: STDIO.FILE, arg: os.O_RDONLY, path: '/nonexistent-dir-xyz/f' }],
	});
	const e = expectError(f, 2, SC.open);
	assert.is(e.detail, '/nonexistent-dir-xyz/f');
	const path = join(tmpdir(), `pidfd-sidecar-test-${process.pid}`);
	const s = await sc.spawnOk({
		argv: ['sh', '-c', 'echo out; echo err >&2'],
		stdio: [
			{ kind: STDIO.NULL },
			{ kind: STDIO.FILE, arg: os.O_WRONLY | os.O_CREAT | os.O_TRUNC, path },
			{ kind: STDIO.FILE, arg: os.O_WRONLY | os.O_APPEND, path },
		],
	});
	assert.is((await sc.exit(s.handle)).status, 0);
	assert.is(readFileSync(path, 'utf8'), 'out\nerr\n');
	unlinkSync(path);
});

basics('stdio CLOSED and fewer than three entries', async ({ sc }) => {
	const s = await sc.spawnOk({
		argv: ['ls', '-1', '/proc/self/fd'],
		stdio: [{ kind: STDIO.CLOSED }, { kind: STDIO.PIPE_FROM_CHILD }],
	});
	const stream = createReadStream(`/proc/${sc.hello.pid}/fd/${s.pipes[0]!.sidecarFd}`);
	await within(LIMIT, once(stream, 'open'), 'open pipe');
	await sc.request(T.RELEASE, new Writer().u32(s.handle).bytes());
	let out = '';
	stream.on('data', (d) => (out += d));
	await within(LIMIT, once(stream, 'close'), 'pipe EOF');
	await sc.exit(s.handle);
	// fd 1 is the pipe; the directory ls reads takes the lowest free fd, 0.
	assert.equal(out.trim().split('\n').map(Number).sort(), [0, 1]);
	const t = await sc.spawnOk({ argv: ['/bin/true'], stdio: [] });
	assert.is((await sc.exit(t.handle)).status, 0);
});

basics('SPAWN with 100,000 arguments', async ({ sc }) => {
	const argv = ['/bin/true', ...Array<string>(100_000).fill('x')];
	const f = await sc.spawn({ argv }, 10_000);
	if (f.type === T.SPAWNED) {
		const e = await sc.exit(decodeSpawned(f.body).handle);
		assert.is(e.status, 0);
	} else {
		expectError(f, 7, SC.execve); // E2BIG
	}
	const huge = await sc.spawn({ argv: ['/bin/true', ...Array<string>(140_000).fill('x')] }, 10_000);
	expectError(huge, 7, SC.none);
	const s = await sc.spawnOk({ argv: ['/bin/true'] });
	await sc.exit(s.handle);
	assert.equal(sc.children(), []);
});

basics('many spawns in one write are answered in order', async ({ sc }) => {
	const n = 50;
	const frames: Buffer[] = [];
	for (let i = 0; i < n; i++) frames.push(frame(T.SPAWN, 10_000 + i, spawnBody({ argv: ['/bin/true'] })));
	sc.write(Buffer.concat(frames));
	const handles: number[] = [];
	for (let i = 0; i < n; i++) {
		const f = await within(
			LIMIT,
			sc.next((g) => g.id === 10_000 + i),
			`spawn ${i}`,
		);
		assert.is(f.type, T.SPAWNED);
		handles.push(decodeSpawned(f.body).handle);
	}
	assert.is(new Set(handles).size, n);
	for (const h of handles) assert.is((await sc.exit(h)).status, 0);
	assert.equal(sc.children(), []);
});

basics('the sidecar holds no stray fds after all that', ({ sc, fds }) => {
	// 0-5, /dev/null, signalfd, epoll, the host's pidfd (plus whatever it inherited).
	assert.ok(fds.length >= 10);
	assert.equal(openFds(sc.hello.pid), fds);
});

basics.run();

// ---

const lifecycle = suite('sidecar lifecycle');

lifecycle('a frame with len 4 is FATAL; the sidecar exits 2', async () => {
	const sc = await Sidecar.start();
	const s = await sc.spawnOk({ argv: ['sleep', '100'] });
	const bad = Buffer.alloc(12);
	bad.writeUInt32LE(4, 0);
	sc.write(bad);
	const f = await within(
		LIMIT,
		sc.next((g) => g.type === T.FATAL),
		'FATAL',
	);
	assert.is(f.id, 0);
	assert.ok(f.body.readInt32LE(0) > 0);
	const { code } = await within(LIMIT, sc.exited, 'exit');
	assert.is(code, 2);
	assert.not.ok(existsSync(`/proc/${s.pid}`), 'child killed and reaped');
});

lifecycle('a frame above max_frame is FATAL', async () => {
	const sc = await Sidecar.start();
	const bad = Buffer.alloc(12);
	bad.writeUInt32LE((16 << 20) + 1, 0);
	sc.write(bad);
	const f = await within(
		LIMIT,
		sc.next((g) => g.type === T.FATAL),
		'FATAL',
	);
	assert.is(f.body.readInt32LE(0), 90); // EMSGSIZE
	assert.is((await within(LIMIT, sc.exited, 'exit')).code, 2);
});

lifecycle('closing stdin kills running children and exits 0', async () => {
	const sc = await Sidecar.start();
	const s = await sc.spawnOk({ argv: ['sleep', '100'] });
	const d = await sc.spawnOk({ argv: ['sleep', '100'], flags: 1 /* DETACHED */ });
	assert.ok(existsSync(`/proc/${s.pid}`));
	sc.proc.stdin!.end();
	const { code } = await within(LIMIT, sc.exited, 'exit');
	assert.is(code, 0);
	assert.not.ok(existsSync(`/proc/${s.pid}`), 'its child was killed and reaped before the sidecar exited');
	assert.ok(existsSync(`/proc/${d.pid}`), 'detached child survives');
	process.kill(d.pid, 'SIGKILL');
});

lifecycle('SIGTERM to the sidecar ends it like the host going away', async () => {
	const sc = await Sidecar.start();
	const s = await sc.spawnOk({ argv: ['sleep', '100'] });
	sc.proc.kill('SIGTERM');
	const { code } = await within(LIMIT, sc.exited, 'exit');
	assert.is(code, 0);
	assert.not.ok(existsSync(`/proc/${s.pid}`));
});

lifecycle('SIGINT is left to the host', async () => {
	const sc = await Sidecar.start();
	// A signal's fate is settled when kill(2) returns: ignored, it is dropped; fatal, the
	// sidecar is already on its way out, and the spawn below would get no answer.
	sc.proc.kill('SIGINT');
	const s = await sc.spawnOk({ argv: ['sh', '-c', 'kill -INT $$; exit 3'] });
	const e = await sc.exit(s.handle);
	// The child gets SIGINT's default action back.
	assert.is(e.code, CLD_KILLED);
	assert.is(e.status, 2);
	await sc.stop();
	assert.is((await sc.exited).code, 0);
});

lifecycle.run();

// ---

const late = sidecarSuite('sidecar ALIVE, CGROUP, FROM_PIDFD, pipe size');

late.after(async (ctx) => {
	await ctx.sc.stop();
	assert.is((await ctx.sc.exited).code, 0);
});

const u32 = (v: number) => new Writer().u32(v).bytes();
const alive = (sc: Sidecar, handle: number) => sc.request(T.ALIVE, u32(handle));
const release = (sc: Sidecar, handle: number) => sc.request(T.RELEASE, u32(handle));
const { ENOENT, ESRCH, EBADF, ENOTDIR, EINVAL, ENOSYS } = E;

/** What a PIPE_FROM_CHILD end carries until EOF; RELEASEs the handle once the stream is open. */
async function drain(sc: Sidecar, handle: number, sidecarFd: number): Promise<string> {
	const stream = createReadStream(`/proc/${sc.hello.pid}/fd/${sidecarFd}`);
	await within(LIMIT, once(stream, 'open'), 'open pipe');
	assert.is((await release(sc, handle)).type, T.OK);
	let out = '';
	stream.on('data', (d) => (out += d));
	await within(LIMIT, once(stream, 'close'), 'pipe EOF');
	return out;
}

late('RAW: a body not 8 bytes or on > 1 is EINVAL; a handle with no terminal is EBADF', async ({ sc }) => {
	const raw = (...words: number[]) => sc.request(T.RAW, Buffer.concat(words.map(u32)));
	expectError(await sc.request(T.RAW, u32(1)), EINVAL, SC.none, 'RAW body');
	expectError(await raw(1, 1, 0), EINVAL, SC.none, 'RAW body');
	expectError(await raw(1, 2), EINVAL, SC.none, 'on');
	expectError(await raw(0x7fff_fff0, 1), EBADF, SC.ioctl);
	// A child without a terminal has no such stream either.
	const plain = await sc.spawnOk({ argv: ['sleep', '10'] });
	expectError(await raw(plain.handle, 0), EBADF, SC.ioctl);
	await sc.kill(plain.handle, 9);
	await sc.exit(plain.handle);
});

late('ALIVE: OK while running or stopped, ESRCH once exited', async ({ sc }) => {
	const s = await sc.spawnOk({ argv: ['sleep', '10'] });
	assert.is((await alive(sc, s.handle)).type, T.OK);
	assert.is((await sc.kill(s.handle, 19)).type, T.OK); // SIGSTOP
	assert.is((await alive(sc, s.handle)).type, T.OK, 'a stopped process is alive');
	assert.is((await sc.kill(s.handle, 9)).type, T.OK);
	assert.is((await sc.exit(s.handle)).code, CLD_KILLED);
	const e = expectError(await alive(sc, s.handle), ESRCH, SC.none);
	assert.is(e.detail, 'handle');
});

late('ALIVE: ESRCH for an exited child whose pipes are still held, RELEASE still accepted', async ({ sc }) => {
	const s = await sc.spawnOk({ argv: ['/bin/true'], stdio: [{ kind: STDIO.NULL }, { kind: STDIO.PIPE_FROM_CHILD }] });
	await sc.exit(s.handle);
	expectError(await alive(sc, s.handle), ESRCH, SC.none);
	assert.is((await release(sc, s.handle)).type, T.OK);
	expectError(await alive(sc, s.handle), ESRCH, SC.none);
});

late('ALIVE: ESRCH for unknown and CLOSEd handles, OK for an OPENed process', async ({ sc }) => {
	expectError(await alive(sc, 0), ESRCH, SC.none);
	expectError(await alive(sc, 0x7fff_fff0), ESRCH, SC.none);
	expectError(await alive(sc, 0xffff_ffff), ESRCH, SC.none);

	const s = await sc.spawnOk({ argv: ['sleep', '10'] });
	assert.is((await sc.request(T.CLOSE, u32(s.handle))).type, T.OK);
	expectError(await alive(sc, s.handle), ESRCH, SC.none); // the process runs on, the handle is gone
	await killClosed(sc, s.pid);

	const child = spawn('sleep', ['10'], { stdio: 'ignore' });
	const reaped = once(child, 'exit');
	try {
		const f = await sc.request(T.OPEN, new Writer().i32(child.pid!).u32(0).bytes());
		assert.is(f.type, T.OPENED);
		const handle = f.body.readUInt32LE(0);
		assert.is((await alive(sc, handle)).type, T.OK);
		assert.is((await sc.request(T.CLOSE, u32(handle))).type, T.OK);
		expectError(await alive(sc, handle), ESRCH, SC.none);
	} finally {
		child.kill('SIGKILL');
		await within(LIMIT, reaped, 'node child exit');
	}
});

late('ALIVE: a body other than 4 bytes is EINVAL, even with a live handle in it', async ({ sc }) => {
	const s = await sc.spawnOk({ argv: ['sleep', '10'] });
	for (const body of [Buffer.alloc(0), Buffer.alloc(3), new Writer().u32(s.handle).u32(0).bytes()]) {
		const e = expectError(await sc.request(T.ALIVE, body), EINVAL, SC.none);
		assert.is(e.detail, 'body size');
	}
	assert.is((await alive(sc, s.handle)).type, T.OK);
	await sc.kill(s.handle, 9);
	await sc.exit(s.handle);
});

late('SPAWN CGROUP: the path must be absolute and present', async ({ sc }) => {
	for (const cgroup of ['relative/dir', '', 'sys/fs/cgroup']) {
		const e = expectError(await sc.spawn({ argv: ['/bin/true'], flags: 16, cgroup }), EINVAL, SC.none);
		assert.is(e.detail, 'cgroup', JSON.stringify(cgroup));
	}
	// Flag set, string missing: the reader runs off the end while reading the cgroup field.
	const body = spawnBody({ argv: ['/bin/true'] });
	body.writeUInt32LE(16, 0);
	assert.is(expectError(await sc.request(T.SPAWN, body), EINVAL, SC.none).detail, 'cgroup');
	// Length longer than what follows.
	const short = Buffer.concat([spawnBody({ argv: ['/bin/true'] }), new Writer().u32(10).raw(Buffer.from('/sy')).bytes()]);
	short.writeUInt32LE(16, 0);
	assert.is(expectError(await sc.request(T.SPAWN, short), EINVAL, SC.none).detail, 'cgroup');
	// A string without the flag, or bytes after it: trailing bytes.
	const extra = Buffer.concat([spawnBody({ argv: ['/bin/true'] }), new Writer().str('/').bytes()]);
	assert.is(expectError(await sc.request(T.SPAWN, extra), EINVAL, SC.none).detail, 'body size');
	const after = Buffer.concat([spawnBody({ argv: ['/bin/true'], flags: 16, cgroup: '/' }), Buffer.alloc(1)]);
	assert.is(expectError(await sc.request(T.SPAWN, after), EINVAL, SC.none).detail, 'body size');
	assert.equal(sc.children(), []);
});

late('SPAWN CGROUP: a missing or non-directory path is an ERROR from open naming it', async ({ sc }) => {
	const missing = '/nonexistent-cgroup-xyz/child';
	const e = expectError(await sc.spawn({ argv: ['/bin/true'], flags: 16, cgroup: missing }), ENOENT, SC.open);
	assert.is(e.detail, missing);
	const f = expectError(await sc.spawn({ argv: ['/bin/true'], flags: 16, cgroup: '/dev/null' }), ENOTDIR, SC.open);
	assert.is(f.detail, '/dev/null');
	// With pipes and files set up first: all undone.
	const g = await sc.spawn({
		argv: ['/bin/true'],
		flags: 16,
		cgroup: missing,
		stdio: [{ kind: STDIO.PIPE_TO_CHILD }, { kind: STDIO.PIPE_FROM_CHILD }, { kind: STDIO.NULL }],
	});
	expectError(g, ENOENT, SC.open);
	assert.equal(sc.children(), []);
});

late('SPAWN CGROUP: a directory that is no cgroup fails in clone3 or in opening cgroup.procs', async ({ sc }) => {
	const f = await sc.spawn({
		argv: ['/bin/true'],
		flags: 16,
		cgroup: '/',
		stdio: [{ kind: STDIO.NULL }, { kind: STDIO.PIPE_FROM_CHILD }],
	});
	assert.is(f.type, T.ERROR);
	const e = decodeError(f.body);
	assert.ok(e.errno > 0, `errno ${e.errno}`);
	assert.is(e.detail, '/');
	const into = FEAT.clone3 | FEAT.intoCgroup;
	assert.is(e.syscall, (sc.hello.features & into) === into ? SC.clone3 : SC.open, `syscall id (errno ${e.errno})`);
	assert.equal(sc.children(), []);
	// Still spawning without the flag.
	const s = await sc.spawnOk({ argv: ['/bin/true'] });
	assert.is((await sc.exit(s.handle)).status, 0);
});

late('FROM_PIDFD: fd 1 of a spawned child becomes fd 1 of the next', async ({ sc }) => {
	const path = join(tmpdir(), `pidfd-from-pidfd-${process.pid}`);
	try {
		const a = await sc.spawnOk({
			argv: ['sleep', '10'],
			stdio: [{ kind: STDIO.NULL }, { kind: STDIO.FILE, arg: os.O_WRONLY | os.O_CREAT | os.O_TRUNC, path }],
		});
		const b = await sc.spawn({
			argv: ['sh', '-c', 'echo from-b'],
			stdio: [{ kind: STDIO.NULL }, { kind: STDIO.FROM_PIDFD, arg: 1, handle: a.handle }],
		});
		if (!(sc.hello.features & FEAT.getfd)) {
			expectError(b, ENOSYS, SC.pidfd_getfd);
		} else {
			assert.is(b.type, T.SPAWNED);
			assert.is((await sc.exit(decodeSpawned(b.body).handle)).status, 0);
			assert.is(readFileSync(path, 'utf8'), 'from-b\n');
		}
		await sc.kill(a.handle, 9);
		await sc.exit(a.handle);
	} finally {
		if (existsSync(path)) unlinkSync(path);
	}
});

testIf(late, FEATURES & FEAT.getfd, 'no pidfd_getfd on this kernel (5.6+)', 'FROM_PIDFD: works from an OPENed handle too', async ({ sc }) => {
	const child = spawn('sleep', ['10'], { stdio: ['ignore', 'ignore', 'ignore'] });
	const reaped = once(child, 'exit');
	try {
		const f = await sc.request(T.OPEN, new Writer().i32(child.pid!).u32(0).bytes());
		assert.is(f.type, T.OPENED);
		const handle = f.body.readUInt32LE(0);
		const s = await sc.spawnOk({
			argv: ['readlink', '/proc/self/fd/0'],
			stdio: [{ kind: STDIO.FROM_PIDFD, arg: 0, handle }, { kind: STDIO.PIPE_FROM_CHILD }],
		});
		assert.is((await drain(sc, s.handle, s.pipes[0]!.sidecarFd)).trim(), '/dev/null');
		assert.is((await sc.exit(s.handle)).status, 0);
		assert.is((await sc.request(T.CLOSE, u32(handle))).type, T.OK);
	} finally {
		child.kill('SIGKILL');
		await within(LIMIT, reaped, 'node child exit');
	}
});

late('FROM_PIDFD: unknown, exited or CLOSEd handle is ESRCH; path, handle 0, fd < 0 are EINVAL', async ({ sc }) => {
	const from = (handle: number, arg = 0, path = '') => sc.spawn({ argv: ['/bin/true'], stdio: [{ kind: STDIO.FROM_PIDFD, arg, path, handle }] });
	assert.is(expectError(await from(0x7fff_fff0), ESRCH, SC.none).detail, 'handle');
	const gone = await sc.spawnOk({ argv: ['/bin/true'] });
	await sc.exit(gone.handle);
	expectError(await from(gone.handle), ESRCH, SC.none);
	const closed = await sc.spawnOk({ argv: ['sleep', '10'] });
	assert.is((await sc.request(T.CLOSE, u32(closed.handle))).type, T.OK);
	expectError(await from(closed.handle), ESRCH, SC.none);
	await killClosed(sc, closed.pid);

	const live = await sc.spawnOk({ argv: ['sleep', '10'] });
	assert.is(expectError(await from(live.handle, 0, '/dev/null'), EINVAL, SC.none).detail, 'stdio');
	assert.is(expectError(await from(0), EINVAL, SC.none).detail, 'stdio');
	assert.is(expectError(await from(live.handle, -1), EINVAL, SC.none).detail, 'stdio');
	// The entry's handle field cut off.
	const body = spawnBody({ argv: ['/bin/true'], stdio: [{ kind: STDIO.FROM_PIDFD, arg: 0, handle: live.handle }] });
	assert.is(expectError(await sc.request(T.SPAWN, body.subarray(0, body.length - 4)), EINVAL, SC.none).detail, 'stdio');
	await sc.kill(live.handle, 9);
	await sc.exit(live.handle);
	assert.equal(sc.children(), []);
});

late('FROM_PIDFD: an fd the process does not have is EBADF from pidfd_getfd; earlier entries undone', async ({ sc }) => {
	const live = await sc.spawnOk({ argv: ['sleep', '10'], stdio: [{ kind: STDIO.NULL }, { kind: STDIO.NULL }] });
	const f = await sc.spawn({
		argv: ['/bin/true'],
		stdio: [{ kind: STDIO.PIPE_TO_CHILD }, { kind: STDIO.PIPE_FROM_CHILD }, { kind: STDIO.FROM_PIDFD, arg: 200, handle: live.handle }],
	});
	const e = expectError(f, sc.hello.features & FEAT.getfd ? EBADF : ENOSYS, SC.pidfd_getfd);
	assert.is(e.detail, '');
	// fd 2 was never given to it.
	expectError(await sc.spawn({ argv: ['/bin/true'], stdio: [{ kind: STDIO.FROM_PIDFD, arg: 2, handle: live.handle }] }), e.errno, SC.pidfd_getfd);
	assert.equal(sc.children(), [live.pid]);
	await sc.kill(live.handle, 9);
	await sc.exit(live.handle);
});

late('PIPE_FROM_CHILD arg: any requested size still spawns a working pipe', async ({ sc }) => {
	for (const arg of [-1, 0, 1, 4097, 1 << 20, 0x7fff_ffff]) {
		const s = await sc.spawnOk({ argv: ['sh', '-c', 'echo ok'], stdio: [{ kind: STDIO.NULL }, { kind: STDIO.PIPE_FROM_CHILD, arg }] });
		assert.is(s.pipes.length, 1);
		assert.is(await drain(sc, s.handle, s.pipes[0]!.sidecarFd), 'ok\n', `arg ${arg}`);
		assert.is((await sc.exit(s.handle)).status, 0);
	}
});

testIf(
	late,
	PIPE_MAX_SIZE >= 1 << 20,
	`/proc/sys/fs/pipe-max-size is ${PIPE_MAX_SIZE}, below the 1 MiB asked for`,
	'PIPE_FROM_CHILD arg: a granted size holds more than the default 64 KiB unread',
	async ({ sc }) => {
		// 256 KiB into a pipe nobody reads: the child exits only if the pipe took it all.
		const s = await sc.spawnOk({
			argv: ['head', '-c', String(256 << 10), '/dev/zero'],
			stdio: [{ kind: STDIO.NULL }, { kind: STDIO.PIPE_FROM_CHILD, arg: 1 << 20 }],
		});
		assert.is((await sc.exit(s.handle)).status, 0);
		assert.is((await release(sc, s.handle)).type, T.OK);
	},
);

late('the sidecar holds no stray fds after all that', ({ sc, fds }) => {
	assert.equal(openFds(sc.hello.pid), fds);
});

late.run();
