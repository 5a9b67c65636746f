// What a child starts with, whatever the sidecar was started with: no ignored signal, an
// empty signal mask, and a death signal that holds after a change of uid.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Test, suite } from 'uvu';
import * as assert from 'uvu/assert';
import { run, spawn } from '../host/index.js';

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

/** Registers the test, or a uvu skip with its reason when this machine cannot run it. */
function testIf(s: Test, reason: string | undefined, name: string, fn: () => Promise<void>): void {
	if (reason === undefined) return s(name, fn);
	console.log(`  skip: ${name}: ${reason}`);
	s.skip(name, fn);
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

/** What the child of a host whose sidecar started in that state sees. */
const HOST_SCRIPT = `
const { run } = await import(process.env.HOST_URL);
const direct = await run('grep', ['-E', '^Sig(Ign|Blk)', '/proc/self/status'], { encoding: 'utf8', timeout: 10000 });
process.stdout.write(JSON.stringify({ direct: direct.stdout }));
`;

const signalsSkip = !numbers ? `no syscall numbers for ${process.arch}` : !existsSync('/usr/bin/perl') ? 'needs /usr/bin/perl' : undefined;

testIf(signals, signalsSkip, 'the wrapper really starts processes with those signals ignored and blocked', async () => {
	const { stdout } = await deadline(
		run(wrapper(), ['grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'], { encoding: 'utf8', signal: AbortSignal.timeout(LIMIT) }),
		'wrapped grep',
	);
	assert.ok(stdout.includes(`SigIgn:\t${hex(IGNORED)}`), stdout);
	assert.ok(stdout.includes(`SigBlk:\t${hex(BLOCKED)}`), stdout);
});

testIf(signals, signalsSkip, 'children of a sidecar started with ignored and blocked signals start clean', async () => {
	const script = join(tmp, 'host.mjs');
	writeFileSync(script, HOST_SCRIPT);
	const sidecar = process.env.PIDFD_SIDECAR ?? join(repo, 'dist', 'pidfd-sidecar');
	const env = {
		...process.env,
		PIDFD_SIDECAR: wrapper(),
		PIDFD_WRAPPED: sidecar,
		HOST_URL: new URL('../host/index.js', import.meta.url).href,
	};
	const result = await deadline(
		run(process.execPath, ['--import', 'tsx', script], { cwd: repo, env, encoding: 'utf8', stderr: 'inherit', signal: AbortSignal.timeout(LIMIT) }),
		'host under the wrapper',
	);
	assert.is(result.exit.code, 0, 'the inner host exits 0');
	const seen = JSON.parse(result.stdout) as { direct: string };
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
	process.getuid?.() === 0 ? undefined : 'needs root to start a child as another user',
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

signals.after(() => rmSync(tmp, { recursive: true, force: true }));
signals.run();
