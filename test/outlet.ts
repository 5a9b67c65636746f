// The outlet (sidecar/outlet.c): the sidecar's output moved to a socket the host connects to
// itself. Its promise is that only the host gets it: anyone can see the listening name and
// connect (abstract sockets have no permissions), and the peer check must turn them away.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { run, shutdown, sidecarInfo, spawn } from '../host/index.js';
import { within } from './helpers/deadline.js';
import { E, type Frame, FrameReader, T, Writer, decodeError, frame } from './helpers/frames.js';
import { exec } from './helpers/exec.js';
import { RawSidecar } from './helpers/raw.js';
import { commandExists, testIf } from './helpers/skip.js';

const LIMIT = 10_000;

const listening = (body: Buffer) => body.toString('utf8', 4, 4 + body.readUInt32LE(0));

/** Abstract sockets of /proc/net/unix whose name starts with `prefix`, with their state. */
function abstractSockets(prefix: string): { listening: boolean }[] {
	return readFileSync('/proc/net/unix', 'utf8')
		.split('\n')
		.slice(1)
		.map((line) => line.trim().split(/\s+/))
		.filter((f) => f[7]?.startsWith(`@${prefix}`))
		.map((f) => ({ listening: (Number.parseInt(f[3]!, 16) & 0x10000) !== 0 }));
}

const intruderMissing = commandExists('gcc') ? '' : 'gcc is not installed to build test/fixtures/intrude.c';
/** The intruder, built where nobody can run it. */
let intruder = '';

/**
 * Connects to the abstract name from another process, as root or as nobody, with the name's
 * exact length and zero-padded (the two forms runtimes use): what each connection read
 * before it ended (test/fixtures/intrude.c).
 */
async function intrude(name: string, asNobody: boolean): Promise<string> {
	if (!intruder) {
		const dir = mkdtempSync(join(tmpdir(), 'pidfd-intrude-'));
		chmodSync(dir, 0o755);
		intruder = join(dir, 'intrude');
		const built = await exec('gcc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', intruder, 'test/fixtures/intrude.c']);
		assert.is(built.code, 0, built.stderr);
	}
	const r = asNobody ? await exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', intruder, name]) : await exec(intruder, [name]);
	assert.is(r.code, 0, r.stderr);
	return r.stdout.trim();
}

/** Frames read from a socket of ours (the outlet, once the sidecar has moved to it). */
function frames(socket: Socket): { next: (pred: (f: Frame) => boolean) => Promise<Frame> } {
	const reader = new FrameReader();
	const queue: Frame[] = [];
	const waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
	socket.on('data', (chunk: Buffer) => {
		for (const f of reader.push(chunk)) {
			const i = waiters.findIndex((w) => w.pred(f));
			if (i >= 0) waiters.splice(i, 1)[0]!.resolve(f);
			else queue.push(f);
		}
	});
	return {
		next: (pred) => {
			const i = queue.findIndex(pred);
			if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]!);
			return new Promise((resolve) => waiters.push({ pred, resolve }));
		},
	};
}

const raw = suite('outlet: the sidecar, raw frames');

raw.after(() => {
	if (intruder) rmSync(dirname(intruder), { recursive: true, force: true });
});

raw('LISTEN names a socket; a second one, or one with a body, is refused', async () => {
	const sc = await RawSidecar.start();
	try {
		const bad = await sc.request(T.LISTEN, Buffer.alloc(4));
		assert.is(bad.type, T.ERROR);
		assert.is(decodeError(bad.body).errno, E.EINVAL);
		const reply = await sc.request(T.LISTEN);
		assert.is(reply.type, T.LISTENING);
		const name = listening(reply.body);
		assert.match(name, new RegExp(`^pidfd-${sc.hello.pid}-[0-9a-f]{32}$`));
		// Both forms of the name listen (exact and padded: /proc shows the padded one with its NULs).
		assert.ok(abstractSockets(name).filter((s) => s.listening).length >= 1, 'a listener');
		const again = await sc.request(T.LISTEN);
		assert.is(again.type, T.ERROR);
		assert.is(decodeError(again.body).errno, E.EALREADY);
	} finally {
		await sc.stop();
	}
});

testIf(
	raw,
	!intruderMissing,
	intruderMissing,
	'only the host gets the output: root and nobody are turned away, both name forms, before and after',
	async () => {
		const sc = await RawSidecar.start();
		try {
			const name = listening((await sc.request(T.LISTEN)).body);
			// Strangers, as root and as an unprivileged user: accepted by the kernel, closed by the
			// sidecar before a byte is written to them.
			assert.is(await intrude(name, false), 'read 0,read 0');
			assert.is(await intrude(name, true), 'read 0,read 0');
			// Still on stdout: a request is answered there, and nothing moved.
			await sc.sync();
			assert.equal(
				sc.queued((f) => f.type === T.MOVED),
				[],
			);
			// The host (the sidecar's parent: this process) is taken.
			const socket = connect({ path: `\0${name}` });
			const outlet = frames(socket);
			await within(
				LIMIT,
				sc.next((f) => f.type === T.MOVED),
				'MOVED on stdout',
			);
			// From then on, replies come through the socket and not stdout.
			const id = 4242;
			sc.write(frame(T.ALIVE, id, new Writer().u32(0).bytes()));
			const reply = await within(
				LIMIT,
				outlet.next((f) => f.id === id),
				'the reply through the outlet',
			);
			assert.is(reply.type, T.ERROR); // ALIVE of handle 0: ESRCH, through the outlet
			assert.equal(
				sc.queued((f) => f.id === id),
				[],
			);
			// The listening ended with the host's connection: nobody else can even connect now.
			assert.equal(
				abstractSockets(name).filter((s) => s.listening),
				[],
			);
			assert.is(await intrude(name, true), 'ECONNREFUSED,ECONNREFUSED');
			socket.destroy();
		} finally {
			await sc.stop();
		}
	},
);

raw('a host that closes the outlet is gone: the sidecar kills its children and exits', async () => {
	const sc = await RawSidecar.start();
	const name = listening((await sc.request(T.LISTEN)).body);
	const socket = connect({ path: `\0${name}` });
	await within(
		LIMIT,
		sc.next((f) => f.type === T.MOVED),
		'MOVED',
	);
	socket.destroy();
	// The next write to the outlet fails (EPIPE): the host is taken to be gone.
	sc.write(frame(T.ALIVE, 7, new Writer().u32(0).bytes()));
	const exit = await within(LIMIT, sc.exited, 'the sidecar exits');
	assert.is(exit.code, 0);
});

raw.run();

const host = suite('outlet: the host');

host.before(async () => {
	await shutdown();
});

/** The sidecar's open fds that are sockets, but its stdio (0-5: a runtime's pipes may be socketpairs). */
function socketsOf(pid: number): number {
	return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
		if (Number(fd) <= 5) return false;
		try {
			return readlinkSync(join(`/proc/${pid}/fd`, fd)).startsWith('socket:');
		} catch {
			return false;
		}
	}).length;
}

host('a relayed stream moves the output to the outlet; every byte arrives, across the move', async () => {
	const { pid } = await sidecarInfo();
	assert.is(socketsOf(pid), 0, 'no outlet before any relayed stream');
	// 8 MiB of a counting pattern: its first DATA can leave before the move and the rest after.
	const bytes = 8 * 1024 * 1024;
	const script = `const b=Buffer.alloc(${bytes});for(let i=0;i<b.length;i+=4)b.writeUInt32LE(i,i);process.stdout.write(b)`;
	const { stdout, exit } = await run(process.execPath, ['-e', script], { stdioTransport: 'relay', maxBuffer: bytes });
	assert.is(exit.code, 0);
	assert.is(stdout.length, bytes);
	for (let i = 0; i < bytes; i += 4) if (stdout.readUInt32LE(i) !== i) assert.unreachable(`byte ${i} is wrong`);
	assert.is(socketsOf(pid), 1, 'the outlet');
	// A streamed (not captured) relay through the outlet: chunks are the host's to keep.
	const child = await spawn('sh', ['-c', 'printf one; sleep 0.05; printf two'], { stdio: ['ignore', 'pipe', 'ignore'], stdioTransport: 'relay' });
	const chunks: Buffer[] = [];
	child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
	await once(child.stdout!, 'end');
	await child.wait();
	assert.is(Buffer.concat(chunks).toString(), 'onetwo');
	assert.is((await sidecarInfo()).pid, pid, 'the same sidecar all along');
});

host('a host with an outlet still exits when it has nothing left to do', async () => {
	const entry = join(process.cwd(), 'dist', 'pidfd.mjs');
	const code = `import { run } from ${JSON.stringify(entry)}; const r = await run('echo', ['hi'], { stdioTransport: 'relay' }); process.stdout.write(r.stdout);`;
	const out = await new Promise<string>((resolve, reject) => {
		execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: LIMIT }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
	});
	assert.is(out, 'hi\n');
});

host('a sidecar whose parent is not the host (a wrapper that stays) refuses it: the output stays on stdout', async () => {
	const dir = mkdtempSync(join(tmpdir(), 'pidfd-wrapped-'));
	const wrapper = join(dir, 'sidecar');
	// No exec: sh stays, the sidecar is its child, and the host's connection is not its parent's.
	writeFileSync(wrapper, `#!/bin/sh\n'${process.env.PIDFD_SIDECAR ?? join(process.cwd(), 'dist', 'pidfd-sidecar')}'\n`);
	chmodSync(wrapper, 0o755);
	const saved = process.env.PIDFD_SIDECAR;
	process.env.PIDFD_SIDECAR = wrapper;
	try {
		await shutdown();
		const { pid } = await sidecarInfo();
		const bytes = 3 * 1024 * 1024;
		const { stdout } = await run('head', ['-c', String(bytes), '/dev/zero'], { stdioTransport: 'relay' });
		assert.is(stdout.length, bytes);
		assert.is(socketsOf(pid), 2, 'only the listeners: nobody was taken');
		// And the sidecar still serves after the refusal, through stdout.
		assert.is((await run('echo', ['still here'], { stdioTransport: 'relay', encoding: 'utf8' })).stdout, 'still here\n');
		assert.is((await sidecarInfo()).pid, pid);
	} finally {
		await shutdown();
		if (saved === undefined) delete process.env.PIDFD_SIDECAR;
		else process.env.PIDFD_SIDECAR = saved;
		rmSync(dir, { recursive: true, force: true });
	}
});

host.after(async () => {
	await shutdown();
});

host.run();
