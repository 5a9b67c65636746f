// The relay transport under faults: a reader that stops, a stream that must not hold up
// another, a sidecar that dies mid-stream, and frames naming streams that do not exist.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, PidfdError, run, sidecarInfo, spawn } from '../host/index.js';
import { eventually, within } from './helpers/deadline.js';
import { E, expectError, frame, SC, STDIO, T, Writer } from './helpers/frames.js';
import { rssKiB } from './helpers/proc.js';
import { RawSidecar } from './helpers/raw.js';

const LIMIT = 20_000;
const relay = { stdioTransport: 'relay' } as const;

/** Bytes the process has written so far (/proc/<pid>/io wchar). */
function written(pid: number): number {
	return Number(/^wchar:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
}

/** True once the process sleeps in a pipe write: its reader stopped taking bytes. */
function blockedInPipeWrite(pid: number): boolean {
	try {
		// pipe_write, or anon_pipe_write on kernels that split anonymous pipes out (6.14+).
		return /(^|_)pipe_write$/.test(readFileSync(`/proc/${pid}/wchan`, 'utf8'));
	} catch {
		return false;
	}
}

// ---

const slow = suite('a reader that stops: the child blocks, memory stays flat');

slow('cat /dev/zero into a stream nobody reads: blocked after a window, not a GiB', async () => {
	const sidecarPid = (await sidecarInfo()).pid;
	const child = await spawn('cat', ['/dev/zero'], { ...relay, stdio: ['ignore', 'pipe', 'ignore'] });
	const stdout = child.stdout as Readable;
	stdout.pause();
	try {
		const before = { host: rssKiB(process.pid), sidecar: rssKiB(sidecarPid) };
		// cat offers an endless stream; what it gets out is the credit window, the pipe and the
		// stream's buffer: bounded by design. Blocked means asleep in a pipe write with no
		// progress since the last look (a slow sidecar may fill the pipe for a moment while
		// credit is left, and cat then goes on).
		let first = -1;
		await eventually(
			LIMIT,
			() => {
				const now = written(child.pid);
				const stuck = now === first && blockedInPipeWrite(child.pid);
				first = now;
				return stuck;
			},
			'cat blocked in pipe_write',
		);
		const after = { host: rssKiB(process.pid), sidecar: rssKiB(sidecarPid) };
		console.log(
			`  blocked after ${(first / 1024).toFixed(0)} KiB written; host RSS ${before.host} → ${after.host} KiB, sidecar ${before.sidecar} → ${after.sidecar} KiB`,
		);
		assert.ok(first < 4 * 1024 * 1024, `cat wrote ${first} bytes before blocking`);
		assert.ok(after.sidecar - before.sidecar < 1024, 'the sidecar buffers nothing');
		// Reading again lets it go on: 8 MiB more arrive.
		let more = 0;
		stdout.on('data', (chunk: Buffer) => {
			more += chunk.length;
		});
		stdout.resume();
		await eventually(LIMIT, () => more > 8 * 1024 * 1024, 'more bytes once read');
	} finally {
		await child.kill('SIGKILL');
		await within(LIMIT, child.wait());
	}
});

slow('an unread relayed stream of an exited child costs the sidecar no CPU', async () => {
	const { pid } = await sidecarInfo();
	const ticks = () => {
		const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
		return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks
	};
	const child = await spawn('sh', ['-c', 'echo unread'], { stdio: ['ignore', 'pipe', 'ignore'], ...relay });
	await within(LIMIT, child.wait());
	// Its pipe's writer is gone (EPOLLHUP) while the stream has no credit: the sidecar must not
	// be woken for it over and over. Half a second is the measuring window, not a wait.
	const before = ticks();
	await new Promise((resolve) => setTimeout(resolve, 500));
	const spent = ticks() - before;
	assert.ok(spent < 10, `the sidecar used ${spent} ticks of CPU in 500 ms`);
	let text = '';
	for await (const chunk of child.stdout!) text += chunk;
	assert.is(text, 'unread\n');
});

slow.run();

// ---

const hol = suite('no head-of-line blocking across streams');

hol('one stalled stream does not slow another child', async () => {
	const stalled = await spawn('cat', ['/dev/zero'], { ...relay, stdio: ['ignore', 'pipe', 'ignore'] });
	(stalled.stdout as Readable).pause();
	try {
		await eventually(LIMIT, () => blockedInPipeWrite(stalled.pid), 'the stalled cat is blocked');
		const { stdout, exit } = await within(LIMIT, run('head', ['-c', String(64 * 1024 * 1024), '/dev/zero'], relay));
		assert.is(exit.code, 0);
		assert.is(stdout.length, 64 * 1024 * 1024);
		assert.ok(blockedInPipeWrite(stalled.pid), 'and the other is still held back');
	} finally {
		await stalled.kill('SIGKILL');
		await within(LIMIT, stalled.wait());
	}
});

hol.run();

// ---

const capture = suite('captures: straight into the result, or through the stream once it has been read');

capture('output() of a stream read in part keeps what the stream holds, then the rest', async () => {
	const child = await spawn('sh', ['-c', 'printf first; sleep 0.1; head -c 300000 /dev/zero; printf last'], { ...relay, stdio: ['ignore', 'pipe', 'ignore'] });
	const stdout = child.stdout as Readable;
	// The first bytes are in the stream's own buffer (read() returns them, so they must not be lost).
	await within(LIMIT, once(stdout, 'readable'));
	const first = (stdout.read(2) as Buffer).toString();
	assert.is(first, 'fi');
	const { stdout: rest, exit } = await within(LIMIT, child.output());
	assert.is(exit.code, 0);
	assert.is(rest.length, 3 + 300000 + 4);
	assert.is(rest.subarray(0, 3).toString(), 'rst');
	assert.is(rest.subarray(-4).toString(), 'last');
});

capture('a stream nobody read is captured without passing through it', async () => {
	const child = await spawn('head', ['-c', '1000000', '/dev/zero'], { ...relay, stdio: ['ignore', 'pipe', 'ignore'] });
	const stdout = child.stdout as Readable;
	let pushed = 0;
	const push = stdout.push.bind(stdout);
	stdout.push = (chunk: unknown, encoding?: BufferEncoding) => {
		if (chunk !== null) pushed++;
		return push(chunk, encoding);
	};
	const { stdout: bytes } = await within(LIMIT, child.output());
	assert.is(bytes.length, 1000000);
	assert.is(pushed, 0, 'no chunk went through the stream');
});

capture.run();

// ---

const death = suite('a sidecar killed mid-relay');

death('reads end with ERR_PIDFD_SIDECAR_DIED, no hang', async () => {
	const child = await spawn('cat', ['/dev/zero'], { ...relay, stdio: ['pipe', 'pipe', 'ignore'] });
	const stdout = child.stdout as Readable;
	const failed = new Promise<unknown>((resolve) => stdout.once('error', resolve));
	let got = 0;
	stdout.on('data', (chunk: Buffer) => {
		got += chunk.length;
	});
	await eventually(LIMIT, () => got > 1024 * 1024, 'bytes flowing');
	process.kill((await sidecarInfo()).pid, 'SIGKILL');
	const error = (await within(LIMIT, failed, 'the stream error')) as PidfdError;
	assert.instance(error, PidfdError);
	assert.is(error.code, ErrorCode.SIDECAR_DIED);
	await eventually(LIMIT, () => child.stdin!.destroyed, 'stdin destroyed too');
	assert.instance(child.stdin!.errored, PidfdError, 'stdin failed the same way');
	assert.instance(await child.wait().catch((e: unknown) => e), PidfdError, 'and wait() says so');
	const { exit } = await within(LIMIT, run('true', [], relay));
	assert.is(exit.code, 0, 'the next call gets a new sidecar');
});

death.run();

// ---

const unknown = suite('relay frames for streams that do not exist');

unknown('WRITE and SHUT answer EBADF, CREDIT is ignored, the sidecar lives on', async () => {
	const s = await RawSidecar.start();
	try {
		const write = await s.request(T.WRITE, new Writer().u32(12345).u32(0).raw(Buffer.from('data')).bytes());
		expectError(write, E.EBADF, SC.write);
		expectError(await s.request(T.SHUT, new Writer().u32(12345).u32(1).bytes()), E.EBADF);
		s.write(frame(T.CREDIT, 0, new Writer().u32(12345).u32(1).u32(65536).bytes()));
		// Short bodies: an error for a request with an id, never a crash.
		expectError(await s.request(T.WRITE, Buffer.alloc(3)), E.EINVAL);
		expectError(await s.request(T.SHUT, Buffer.alloc(9)), E.EINVAL);
		expectError(await s.request(T.CREDIT, Buffer.alloc(2)), E.EINVAL);
		await s.sync();
		assert.is(s.proc.exitCode, null, 'still running');
	} finally {
		await s.stop();
	}
});

unknown('a relayed stdin fed through raw WRITEs; its stdout arrives as DATA, then EOF', async () => {
	const s = await RawSidecar.start();
	try {
		const spawned = await s.spawnOk({
			argv: ['/bin/cat'],
			stdio: [{ kind: STDIO.RELAY_TO_CHILD }, { kind: STDIO.RELAY_FROM_CHILD }, { kind: STDIO.NULL }],
		});
		const written = await s.request(T.WRITE, new Writer().u32(spawned.handle).u32(0).raw(Buffer.from('hello')).bytes());
		assert.is(written.type, T.WRITTEN);
		assert.is(written.body.readUInt32LE(8), 5);
		assert.is((await s.request(T.SHUT, new Writer().u32(spawned.handle).u32(0).bytes())).type, T.OK);
		const data = await within(
			LIMIT,
			s.next((f) => f.type === T.DATA),
		);
		assert.equal([data.body.readUInt32LE(0), data.body.readUInt32LE(4), data.body.subarray(8).toString()], [spawned.handle, 1, 'hello']);
		const eof = await within(
			LIMIT,
			s.next((f) => f.type === T.EOF),
		);
		assert.equal([eof.body.readUInt32LE(4), eof.body.readInt32LE(8)], [1, 0]);
		await s.exit(spawned.handle);
	} finally {
		await s.stop();
	}
});

unknown.run();
