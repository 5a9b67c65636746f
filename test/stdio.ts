import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Command, PidfdError, RunError, run, sidecarInfo, spawn } from '../host/index.js';
import { eventually, sleep, within } from './helpers/deadline.js';
import { runAsNobody } from './helpers/nobody.js';
import { childrenOf, fdCount, isAlive, rssKiB } from './helpers/proc.js';

const LIMIT = 15_000;
const tmp = mkdtempSync(join(tmpdir(), 'pidfd-stdio-'));

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
	let text = '';
	for await (const chunk of stream) text += chunk.toString();
	return text;
}

// ---

const pipes = suite('pipes');

pipes('cat: write to stdin, read it back (wait_with_output)', async () => {
	const child = await spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
	child.stdin!.end('Hello, world!\n');
	const [out, exit] = await within(LIMIT, Promise.all([readAll(child.stdout!), child.wait()]));
	assert.is(out, 'Hello, world!\n');
	assert.is(exit.code, 0);
});

pipes('stdin EOF reaches the child', async () => {
	const child = await spawn('wc', ['-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
	child.stdin!.write('12345');
	child.stdin!.end();
	assert.is((await within(LIMIT, readAll(child.stdout!))).trim(), '5');
	assert.is((await child.wait()).code, 0);
});

pipes('stdout and stderr apart', async () => {
	const child = await spawn('sh', ['-c', 'echo out; echo err >&2'], { stdio: ['ignore', 'pipe', 'pipe'] });
	const [out, err] = await within(LIMIT, Promise.all([readAll(child.stdout!), readAll(child.stderr!)]));
	assert.is(out, 'out\n');
	assert.is(err, 'err\n');
});

pipes('an extra pipe as fd 3', async () => {
	const child = await spawn('sh', ['-c', 'echo three >&3'], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
	assert.is(await within(LIMIT, readAll(child.stdio[3] as NodeJS.ReadableStream)), 'three\n');
});

pipes('writing to a child that exited without reading gives EPIPE, not a crash', async () => {
	const child = await spawn('/bin/true', [], { stdio: ['pipe', 'ignore', 'ignore'] });
	await within(LIMIT, child.wait());
	const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
		child.stdin!.on('error', resolve);
		child.stdin!.write(Buffer.alloc(1 << 20), (e) => resolve(e ?? undefined));
	});
	assert.is(error?.code, 'EPIPE');
});

pipes.run();

// ---

const redirect = suite('ignore, files, host fds, inherit');

redirect('ignore is /dev/null', async () => {
	const { stdout } = await within(LIMIT, run('sh', ['-c', 'readlink /proc/self/fd/0'], { encoding: 'utf8' }));
	assert.is(stdout, '/dev/null\n');
});

redirect('file: write, append, read', async () => {
	const path = join(tmp, 'redirect.txt');
	await within(LIMIT, (await spawn('echo', ['one'], { stdio: ['ignore', { file: path }, 'inherit'] })).wait());
	await within(LIMIT, (await spawn('echo', ['two'], { stdio: ['ignore', { file: path, flags: 'a' }, 'inherit'] })).wait());
	assert.is(readFileSync(path, 'utf8'), 'one\ntwo\n');
	const child = await spawn('cat', [], { stdio: [{ file: path }, { file: `${path}.copy` }, 'inherit'] });
	await within(LIMIT, child.wait());
	assert.is(readFileSync(`${path}.copy`, 'utf8'), 'one\ntwo\n');
});

redirect("a file that can't be opened rejects spawn() with the syscall and path", async () => {
	const error = await spawn('/bin/true', [], { stdio: ['ignore', { file: join(tmp, 'no/such/dir/out') }, 'inherit'] }).then(
		() => undefined,
		(e: unknown) => e as PidfdError,
	);
	assert.instance(error, PidfdError);
	assert.is(error!.code, 'ENOENT');
	assert.is(error!.syscall, 'open');
});

redirect('an open fd of the host', async () => {
	const path = join(tmp, 'hostfd.txt');
	const fd = openSync(path, 'w');
	try {
		const child = await spawn('echo', ['via host fd'], { stdio: ['ignore', fd, 'inherit'] });
		await within(LIMIT, child.wait());
	} finally {
		closeSync(fd);
	}
	assert.is(readFileSync(path, 'utf8'), 'via host fd\n');
});

redirect("inherit: the child writes to the host's own stdout", async () => {
	// A separate host process, so its stdout is a pipe this test reads.
	const script = join(tmp, 'inherit.mts');
	writeFileSync(
		script,
		`import { spawn } from ${JSON.stringify(new URL('../host/index.ts', import.meta.url).pathname)};\nawait (await spawn('echo', ['inherited'])).wait();\n`,
	);
	const stdout = await within(
		LIMIT,
		new Promise<string>((resolve, reject) => execFile(process.execPath, ['--import', 'tsx', script], (error, out) => (error ? reject(error) : resolve(out)))),
	);
	assert.is(stdout, 'inherited\n');
});

redirect.run();

// ---

const capture = suite('run() and Command');

capture('run captures stdout and stderr as bytes or text', async () => {
	const r = await within(LIMIT, run('sh', ['-c', 'printf out; printf err >&2; exit 3']));
	assert.instance(r.stdout, Buffer);
	assert.is(r.stdout.toString(), 'out');
	assert.is(r.stderr.toString(), 'err');
	assert.is(r.exit.code, 3);
	const t = await within(LIMIT, run('echo', ['text'], { encoding: 'utf8' }));
	assert.is(t.stdout, 'text\n');
});

capture('input feeds stdin', async () => {
	const r = await within(LIMIT, run('tr', ['a-z', 'A-Z'], { input: 'shout', encoding: 'utf8' }));
	assert.is(r.stdout, 'SHOUT');
});

capture('ps --pid <pid> sees the child', async () => {
	const child = await spawn('sleep', ['5']);
	const r = await within(LIMIT, run('ps', ['--pid', String(child.pid), '-o', 'pid='], { encoding: 'utf8' }));
	assert.is(Number(r.stdout.trim()), child.pid);
	await child.kill('SIGKILL');
});

capture('maxBuffer kills the child and rejects with what was read', async () => {
	const error = await within(
		LIMIT,
		run('sh', ['-c', 'while :; do echo xxxxxxxxxxxxxxxxxxxxxxx; done'], { maxBuffer: 1000 }).then(
			() => undefined,
			(e: unknown) => e as RunError,
		),
	);
	assert.instance(error, RunError);
	assert.is(error!.reason, 'maxBuffer');
	assert.is(error!.code, 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER');
	assert.is((error!.stdout as Buffer).length, 1000);
	assert.is(error!.exit.signal, 'SIGKILL');
});

capture('maxBuffer: exactly the limit resolves, a byte more rejects, even split across reads', async () => {
	const script = 'head -c 70000 /dev/zero | tr "\\0" a; sleep 0.1; head -c "$1" /dev/zero | tr "\\0" b';
	const exact = await within(LIMIT, run('sh', ['-c', script, 'sh', '0'], { maxBuffer: 70000, encoding: 'utf8' }));
	assert.is(exact.stdout, 'a'.repeat(70000));
	const over = await within(
		LIMIT,
		run('sh', ['-c', script, 'sh', '1'], { maxBuffer: 70000 }).then(
			() => undefined,
			(e: unknown) => e as RunError,
		),
	);
	assert.instance(over, RunError);
	assert.is(over!.reason, 'maxBuffer');
	assert.is((over!.stdout as Buffer).length, 70000);
});

capture('run() keeps every byte of a long output on both streams, in order', async () => {
	const r = await within(LIMIT, run('sh', ['-c', 'seq 1 300000; seq 1 300000 >&2'], { encoding: 'utf8' }));
	const want = `${Array.from({ length: 300000 }, (_, i) => i + 1).join('\n')}\n`;
	assert.ok(r.stdout === want, 'stdout differs');
	assert.ok(r.stderr === want, 'stderr differs');
});

capture('a big capture grows in place: byte-exact across growths, limits exact, both transports, any maxBuffer', async () => {
	// 8 digits and a newline a line: 1,000,000 lines are 9,000,000 bytes, over many reads.
	const lines = (n: number) => `seq -w 10000001 ${10000000 + n}`;
	const want = (n: number) => Array.from({ length: n }, (_, i) => `${10000001 + i}\n`).join('');
	for (const stdioTransport of ['direct', 'relay'] as const) {
		for (const maxBuffer of [9_000_000, 64 * 1024 * 1024, Number.POSITIVE_INFINITY]) {
			const r = await within(LIMIT, run('sh', ['-c', lines(1_000_000)], { stdioTransport, maxBuffer, encoding: 'utf8' }));
			assert.ok(r.stdout === want(1_000_000), `${stdioTransport}, maxBuffer ${maxBuffer}: output differs`);
		}
		// A byte past a limit reached while growing: what fits is kept, whole, then maxBuffer.
		const over = await within(
			LIMIT,
			run('sh', ['-c', `${lines(1_000_000)}; printf x`], { stdioTransport, maxBuffer: 9_000_000 }).then(
				() => undefined,
				(e: unknown) => e as RunError,
			),
		);
		assert.instance(over, RunError);
		assert.is(over!.reason, 'maxBuffer');
		assert.ok((over!.stdout as Buffer).toString() === want(1_000_000), `${stdioTransport}: the kept bytes differ`);
	}
});

capture('Command: builder, env, envClear, envRemove, cwd, reuse', async () => {
	const cmd = new Command('sh').args(['-c', 'echo "$A:${B-unset}:$(pwd)"']).env('A', 'a').cwd(tmp);
	const first = await within(LIMIT, cmd.output({ encoding: 'utf8' }));
	const second = await within(LIMIT, cmd.output({ encoding: 'utf8' }));
	assert.is(first.stdout, second.stdout);
	assert.ok(first.stdout.startsWith('a:unset:'));
	process.env.PIDFD_TEST_REMOVE = 'present';
	const removed = await within(
		LIMIT,
		new Command('sh').args(['-c', 'echo ${PIDFD_TEST_REMOVE-gone}']).envRemove('PIDFD_TEST_REMOVE').output({ encoding: 'utf8' }),
	);
	assert.is(removed.stdout, 'gone\n');
	const cleared = await within(LIMIT, new Command('/usr/bin/env').envClear().env('ONLY', '1').output({ encoding: 'utf8' }));
	assert.is(cleared.stdout, 'ONLY=1\n');
	const status = await within(LIMIT, new Command('sh').args(['-c', 'exit 4']).stdout('ignore').status());
	assert.is(status.code, 4);
});

capture('Command: umask, setsid, processGroup reach the child', async () => {
	const umask = await within(LIMIT, new Command('sh').args(['-c', 'umask']).umask(0o027).output({ encoding: 'utf8' }));
	assert.is(umask.stdout.trim(), '0027');
	// In its own session, a process is its session and group leader: sid = pgid = pid.
	const ids = await within(LIMIT, new Command('sh').args(['-c', 'echo $$ $(ps -o sid= -o pgid= -p $$)']).setsid().output({ encoding: 'utf8' }));
	const [pid, sid, pgid] = ids.stdout.trim().split(/\s+/).map(Number);
	assert.is(sid, pid);
	assert.is(pgid, pid);
	const group = await within(LIMIT, new Command('sh').args(['-c', 'echo $$ $(ps -o pgid= -p $$)']).processGroup().output({ encoding: 'utf8' }));
	const [gpid, ggid] = group.stdout.trim().split(/\s+/).map(Number);
	assert.is(ggid, gpid);
});

capture("busy pipes do not hold back other children's exits", async () => {
	// Writers that never stop: if their bytes could starve the exit events, this would hang.
	const writers = await Promise.all(Array.from({ length: 6 }, () => spawn('cat', ['/dev/zero'], { stdio: ['ignore', 'pipe', 'inherit'] })));
	for (const w of writers) w.stdout!.on('data', () => {});
	try {
		// Starved, an exit would never arrive: the deadline catches that, however busy the machine.
		for (let i = 0; i < 5; i++) {
			const exit = await within(LIMIT, (await spawn('/bin/true')).wait(), 'an exit while 6 pipes stream');
			assert.is(exit.code, 0);
		}
	} finally {
		for (const w of writers) await w.kill('SIGKILL').catch(() => {});
	}
	const exits = await within(LIMIT, Promise.all(writers.map((w) => w.wait())));
	for (const e of exits) assert.is(e.signal, 'SIGKILL');
});

capture('a missing cwd rejects with ENOENT from chdir and the path', async () => {
	const error = await spawn('/bin/true', [], { cwd: join(tmp, 'missing-dir') }).then(
		() => undefined,
		(e: unknown) => e as PidfdError,
	);
	assert.is(error!.code, 'ENOENT');
	assert.is(error!.syscall, 'chdir');
	assert.match(error!.message, /missing-dir/);
});

capture.run();

// ---

const deadlines = suite('timeouts and cancellation');

deadlines('timeout: SIGTERM, then SIGKILL for a child that traps SIGTERM', async () => {
	const started = Date.now();
	const error = await within(
		LIMIT,
		run('sh', ['-c', 'trap "" TERM; while :; do sleep 0.05; done'], { timeout: 200, forceKillAfter: 300 }).then(
			() => undefined,
			(e: unknown) => e as RunError,
		),
	);
	assert.instance(error, RunError);
	assert.is(error!.reason, 'timeout');
	assert.is(error!.code, 'ETIMEDOUT');
	assert.is(error!.exit.signal, 'SIGKILL');
	assert.ok(Date.now() - started >= 450, 'escalated only after forceKillAfter');
});

deadlines('timeout: a child that honours SIGTERM ends with SIGTERM', async () => {
	const child = await spawn('sleep', ['30'], { timeout: 100 });
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.signal, 'SIGTERM');
	assert.is(child.terminatedBy, 'timeout');
});

deadlines('AbortSignal kills with killSignal', async () => {
	const controller = new AbortController();
	const child = await spawn('sleep', ['30'], { signal: controller.signal, killSignal: 'SIGINT' });
	controller.abort();
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.signal, 'SIGINT');
	assert.is(child.terminatedBy, 'abort');
	const error = await run('sleep', ['30'], { signal: AbortSignal.timeout(100) }).then(
		() => undefined,
		(e: unknown) => e as RunError,
	);
	assert.is(error!.reason, 'abort');
});

deadlines('a process group kill reaches the grandchildren', async () => {
	const child = await spawn('sh', ['-c', 'sleep 30 & sleep 30 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'inherit'], processGroup: true });
	const grandchild = Number((await within(LIMIT, new Promise<string>((resolve) => child.stdout!.once('data', (d) => resolve(String(d)))))).trim());
	await child.kill('SIGKILL', { group: true });
	await within(LIMIT, child.wait());
	await eventually(2000, () => !isAlive(grandchild), `grandchild ${grandchild} killed with its group`);
});

deadlines.run();

// ---

const bounds = suite('bounded memory, no leaks, errors with context');

bounds('64 MiB through stdout to a slow reader: host and sidecar memory stay bounded', async () => {
	const { pid: sidecarPid } = await sidecarInfo();
	const child = await spawn('head', ['-c', String(64 << 20), '/dev/zero'], { stdio: ['ignore', 'pipe', 'inherit'] });
	const stdout = child.stdout!;
	const hostBefore = rssKiB('self');
	const sidecarBefore = rssKiB(sidecarPid);
	let hostPeak = 0;
	let sidecarPeak = 0;
	let total = 0;
	let buffered = 0;
	// Read a chunk, then pause 2 ms: the child writes far faster than this reader reads.
	for await (const chunk of stdout) {
		total += (chunk as Buffer).length;
		buffered = Math.max(buffered, stdout.readableLength);
		if (total % (4 << 20) < (chunk as Buffer).length) {
			hostPeak = Math.max(hostPeak, rssKiB('self'));
			sidecarPeak = Math.max(sidecarPeak, rssKiB(sidecarPid));
		}
		await sleep(2);
	}
	assert.is(total, 64 << 20);
	assert.is((await within(LIMIT, child.wait())).code, 0);
	// The bytes go child → kernel pipe (64 KiB) → host stream: nothing accumulates anywhere.
	// The stream's own queue is the proof; RSS only shows garbage not yet collected.
	assert.ok(buffered <= 256 * 1024, `host stream queued ${buffered} bytes`);
	assert.ok(hostPeak - hostBefore < 48 * 1024, `host RSS grew ${hostPeak - hostBefore} KiB while reading 64 MiB`);
	// Growth, not size: a sanitizer build of the sidecar starts at several MiB.
	assert.ok(sidecarPeak - sidecarBefore < 1024, `sidecar RSS grew ${sidecarPeak - sidecarBefore} KiB`);
	console.log(`  64 MiB slow read: host RSS +${hostPeak - hostBefore} KiB, sidecar RSS ${sidecarBefore} → ${sidecarPeak} KiB`);
});

bounds('1,000 spawns with pipes: host and sidecar fd counts return to their baseline', async () => {
	const { pid: sidecarPid } = await sidecarInfo();
	const hostFds = fdCount('self');
	const sidecarFds = fdCount(sidecarPid);
	for (let round = 0; round < 10; round++) {
		await within(
			LIMIT,
			Promise.all(
				Array.from({ length: 100 }, async () => {
					const r = await run('cat', [], { input: 'x' });
					assert.is(r.stdout.toString(), 'x');
				}),
			),
		);
	}
	await eventually(
		2000,
		() => fdCount('self') <= hostFds && fdCount(sidecarPid) <= sidecarFds,
		`fds back to ${hostFds} (host) and ${sidecarFds} (sidecar): now ${fdCount('self')} and ${fdCount(sidecarPid)}`,
	);
});

bounds('E2BIG for an argument or environment past the kernel limit, and nothing left behind', async () => {
	const { pid: sidecarPid } = await sidecarInfo();
	const before = childrenOf(sidecarPid).length;
	// One string may hold at most MAX_ARG_STRLEN (128 KiB).
	const big = 'x'.repeat(200_000);
	for (const attempt of [() => spawn('/bin/true', [big]), () => spawn('/bin/true', [], { env: { BIG: big } })]) {
		const error = await attempt().then(
			() => undefined,
			(e: unknown) => e as PidfdError,
		);
		assert.instance(error, PidfdError);
		assert.is(error!.code, 'E2BIG');
		assert.is(error!.syscall, 'execve');
	}
	assert.is(childrenOf(sidecarPid).length, before, 'no zombie left by the failed exec');
});

bounds('uid/gid: the child runs as the user asked for; setuid failures say so', async () => {
	// cwd '/': as nobody, the child may not enter the host's directory (it would get chdir EACCES).
	const { stdout } = await within(LIMIT, run('id', ['-u'], { uid: 65534, gid: 65534, groups: [], cwd: '/', encoding: 'utf8' }));
	assert.is(stdout.trim(), '65534');
	// Unprivileged, asking for root: a host running as nobody.
	const r = await within(LIMIT, runAsNobody('test/fixtures/setuid-root.ts'));
	const out = r.stdout;
	assert.equal(JSON.parse(out), { code: 'EPERM', syscall: 'setuid' });
});

bounds.after(() => rmSync(tmp, { recursive: true, force: true }));
bounds.run();
