// What a child starts with, whatever the sidecar was started with: no ignored signal, an
// empty signal mask, and a death signal that holds after a change of uid. And a FILE stdio
// entry whose open waits (a FIFO) waits in the child, not in the sidecar: every other request
// goes on meanwhile.
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { run, spawn } from '../host/index.js';
import { runAsNobody } from './helpers/nobody.js';
import { testIf } from './helpers/skip.js';

const LIMIT = 15_000;
const repo = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'pidfd-child-state-'));

/** uvu has no per-test timeout: every wait on a process goes through this. */
function deadline<T>(promise: Promise<T>, what: string, ms = LIMIT): Promise<T> {
	const signal = AbortSignal.timeout(ms);
	return new Promise<T>((resolve, reject) => {
		const onAbort = () => reject(new Error(`${what}: not done within ${ms} ms`));
		signal.addEventListener('abort', onAbort, { once: true });
		promise.then(
			(value) => {
				signal.removeEventListener('abort', onAbort);
				resolve(value);
			},
			(error: unknown) => {
				signal.removeEventListener('abort', onAbort);
				reject(error);
			},
		);
	});
}

/** The rejection of `promise`, or undefined if it resolved. */
function rejection(promise: Promise<unknown>): Promise<{ code?: string; syscall?: string; path?: string } | undefined> {
	return promise.then(
		() => undefined,
		(error: unknown) => error as { code?: string; syscall?: string; path?: string },
	);
}

async function mkfifo(name: string): Promise<string> {
	const path = join(tmp, name);
	const { exit } = await deadline(run('mkfifo', [path], { signal: AbortSignal.timeout(LIMIT) }), 'mkfifo');
	assert.is(exit.code, 0, 'mkfifo');
	return path;
}

// ---

const signals = suite('child signal state');

// rt_sigaction and rt_sigprocmask by number: libc's sigaction() (and so perl's %SIG) refuses
// the signals it keeps for itself, 32 and 33 in glibc. Perl's syscall() does not ask libc.
const SYSCALLS: Partial<Record<string, [number, number]>> = { x64: [13, 14], arm64: [134, 135] };
const numbers = SYSCALLS[process.arch];
const IGNORED = [13, 32, 33, 34];
const BLOCKED = [10, 12, 35];
const hex = (signals: number[]) =>
	signals
		.reduce((mask, sig) => mask | (1n << BigInt(sig - 1)), 0n)
		.toString(16)
		.padStart(16, '0');

/**
 * Execs the sidecar (or its arguments) with SIGPIPE and the real-time signals 32-34 ignored
 * and a few signals blocked: what a host like Deno leaves to the processes it starts.
 */
function wrapper(): string {
	const [sigaction, sigprocmask] = numbers!;
	const path = join(tmp, 'ignoring-wrapper');
	writeFileSync(
		path,
		`#!/usr/bin/perl
my $act = pack('Q4', 1, 0, 0, 0); # SIG_IGN
for my $sig (${IGNORED.join(', ')}) { syscall(${sigaction}, $sig, $act, 0, 8) == 0 or die "rt_sigaction $sig: $!"; }
my $set = pack('Q', 0x${hex(BLOCKED)});
syscall(${sigprocmask}, 0, $set, 0, 8) == 0 or die "rt_sigprocmask: $!"; # SIG_BLOCK
my @cmd = @ARGV ? @ARGV : ($ENV{PIDFD_WRAPPED});
exec { $cmd[0] } @cmd or die "exec $cmd[0]: $!";
`,
		{ mode: 0o755 },
	);
	return path;
}

/** What the child of a host whose sidecar started in that state sees, once direct and once deferred. */
const HOST_SCRIPT = `
import { open } from 'node:fs/promises';
const { run } = await import(process.env.HOST_URL);
const status = ['-E', '^Sig(Ign|Blk)', '/proc/self/status'];
const direct = await run('grep', status, { encoding: 'utf8', timeout: 10000 });
const deferred = run('grep', status, { stdin: { file: process.env.FIFO }, encoding: 'utf8', timeout: 10000 });
await (await open(process.env.FIFO, 'w')).close();
process.stdout.write(JSON.stringify({ direct: direct.stdout, deferred: (await deferred).stdout }));
`;

const signalsSkip = !numbers ? `no syscall numbers for ${process.arch}` : !existsSync('/usr/bin/perl') ? 'needs /usr/bin/perl' : undefined;

testIf(signals, signalsSkip === undefined, signalsSkip ?? '', 'the wrapper really starts processes with those signals ignored and blocked', async () => {
	const { stdout } = await deadline(
		run(wrapper(), ['grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'], { encoding: 'utf8', signal: AbortSignal.timeout(LIMIT) }),
		'wrapped grep',
	);
	assert.ok(stdout.includes(`SigIgn:\t${hex(IGNORED)}`), stdout);
	assert.ok(stdout.includes(`SigBlk:\t${hex(BLOCKED)}`), stdout);
});

testIf(signals, signalsSkip === undefined, signalsSkip ?? '', 'children of a sidecar started with ignored and blocked signals start clean', async () => {
	const script = join(tmp, 'host.mjs');
	writeFileSync(script, HOST_SCRIPT);
	const sidecar = process.env.PIDFD_SIDECAR ?? join(repo, 'dist', 'pidfd-sidecar');
	const env = {
		...process.env,
		PIDFD_SIDECAR: wrapper(),
		PIDFD_WRAPPED: sidecar,
		HOST_URL: new URL('../host/index.js', import.meta.url).href,
		FIFO: await mkfifo('signals.fifo'),
	};
	const result = await deadline(
		run(process.execPath, ['--import', 'tsx', script], { cwd: repo, env, encoding: 'utf8', stderr: 'inherit', signal: AbortSignal.timeout(LIMIT) }),
		'host under the wrapper',
	);
	assert.is(result.exit.code, 0, 'the inner host exits 0');
	const seen = JSON.parse(result.stdout) as { direct: string; deferred: string };
	for (const [route, text] of Object.entries(seen)) {
		assert.ok(text.includes('SigIgn:\t0000000000000000'), `${route}: ${text}`);
		assert.ok(text.includes('SigBlk:\t0000000000000000'), `${route}: ${text}`);
	}
});

/**
 * A host that starts `sleep` as nobody, on its own sidecar, and says both pids. The child
 * shares the host's stdout, so the reader sees EOF only once both are gone.
 */
const DEATH_SCRIPT = `
import { readFileSync } from 'node:fs';
const { spawn } = await import(process.env.HOST_URL);
const child = await spawn('sleep', ['30'], { uid: 65534, gid: 65534, cwd: '/', stdio: ['ignore', 'inherit', 'ignore'] });
const sidecar = Number(readFileSync('/proc/' + child.pid + '/stat', 'utf8').split(') ')[1].split(' ')[1]);
process.stdout.write(JSON.stringify({ child: child.pid, sidecar }) + '\\n');
await child.wait().catch(() => {});
`;

testIf(
	signals,
	process.getuid?.() === 0,
	'needs root to start a child as another user',
	'the death signal survives the change of uid: the child dies with its sidecar',
	async () => {
		const script = join(tmp, 'death.mjs');
		writeFileSync(script, DEATH_SCRIPT);
		const env = { ...process.env, HOST_URL: new URL('../host/index.js', import.meta.url).href };
		const host = await deadline(
			spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, env, stdio: ['ignore', 'pipe', 'inherit'], signal: AbortSignal.timeout(LIMIT) }),
			'the inner host',
		);
		let out = '';
		let pids: { child: number; sidecar: number } | undefined;
		try {
			const eof = (async () => {
				for await (const chunk of host.stdout!) {
					out += chunk.toString();
					if (pids || !out.includes('\n')) continue;
					pids = JSON.parse(out.slice(0, out.indexOf('\n'))) as { child: number; sidecar: number };
					process.kill(pids.sidecar, 'SIGKILL');
				}
			})();
			await deadline(eof, 'EOF from the host and its child once the sidecar is killed');
			assert.ok(pids, out);
		} finally {
			try {
				if (pids) process.kill(pids.child, 'SIGKILL');
			} catch {}
		}
	},
);

signals.run();

// ---

const fifos = suite('a FILE entry that waits');

fifos('a FIFO nobody writes yet: the spawn waits, other requests do not', async () => {
	const fifo = await mkfifo('in.fifo');
	let settled = false;
	// In one write to the sidecar, and the unrelated one first: the waiting child must not
	// hold on to its pipe, or its reader would never see EOF.
	const other = run('echo', ['unrelated'], { encoding: 'utf8', signal: AbortSignal.timeout(LIMIT) });
	const pending = spawn('cat', [], { stdio: [{ file: fifo }, 'pipe', 'inherit'], signal: AbortSignal.timeout(LIMIT) });
	pending.then(
		() => (settled = true),
		() => (settled = true),
	);
	try {
		const result = await deadline(other, 'run(echo) while the FIFO spawn waits');
		assert.is(result.stdout, 'unrelated\n');
		assert.is((await deadline(run('true', [], { signal: AbortSignal.timeout(LIMIT) }), "run('true') while the FIFO spawn waits")).exit.code, 0);
		assert.not.ok(settled, 'the FIFO spawn is still pending');

		const writer = await deadline(open(fifo, 'w'), 'opening the other end of the FIFO');
		await writer.write('through the fifo\n');
		await writer.close();
		const child = await deadline(pending, 'the FIFO spawn, once its FIFO has a writer');
		let out = '';
		for await (const chunk of child.stdout!) out += chunk.toString();
		assert.is(out, 'through the fifo\n');
		assert.is((await deadline(child.wait(), 'cat')).code, 0);
	} finally {
		// A failed assertion must not leave the child waiting on the FIFO: O_RDWR never waits.
		if (!settled) await (await open(fifo, 'r+')).close();
		await pending.catch(() => {});
	}
});

fifos('an open that fails in the child rejects with open and the path', async () => {
	// open(2) of a unix socket fails with ENXIO: like a FIFO, it is left to the child.
	const socket = join(tmp, 'sock');
	const server = createServer().listen(socket);
	await deadline(once(server, 'listening'), 'listen');
	try {
		const error = await deadline(rejection(spawn('true', [], { stdio: [{ file: socket }, 'ignore', 'ignore'] })), 'spawn with a socket as stdin');
		assert.is(error?.code, 'ENXIO');
		assert.is(error?.syscall, 'open');
		assert.is(error?.path, socket);
	} finally {
		server.close();
	}
	// A path that is not there fails before any child: the same shape.
	const missing = join(tmp, 'missing', 'file');
	const error = await deadline(rejection(spawn('true', [], { stdio: [{ file: missing }, 'ignore', 'ignore'] })), 'spawn with a missing stdin');
	assert.is(error?.code, 'ENOENT');
	assert.is(error?.syscall, 'open');
	assert.is(error?.path, missing);
});

testIf(fifos, process.getuid?.() === 0, 'needs root to start the check as nobody', 'a FIFO the sidecar may not open: EACCES from the child', async () => {
	// Root opens any FIFO: the host runs as nobody for this one.
	const r = await deadline(runAsNobody('test/fixtures/fifo-eacces.ts'), 'the fixture as nobody');
	assert.is(r.code, 0, r.stderr);
	assert.equal(JSON.parse(r.stdout.trim()), { code: 'EACCES', syscall: 'open', same: true });
});

fifos.after(() => rmSync(tmp, { recursive: true, force: true }));
fifos.run();
