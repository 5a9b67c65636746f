// runSync(): run()'s options and result, blocking, in a one-shot sidecar. Cases ported from
// Node's test-child-process-spawnsync*.js are named so in their labels.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidArgumentError, PidfdError, RunError, run, runSync, spawn } from '../host/index.js';
import { readdirSync } from 'node:fs';
import { probeCgroup } from './helpers/cgroup.js';
import { within } from './helpers/deadline.js';
import { testIf } from './helpers/skip.js';

const sync = suite('runSync');

sync('the same { stdout, stderr, exit } as run(), rusage included', async () => {
	const script = 'echo hi; echo oops >&2; exit 3';
	const blocking = runSync('sh', ['-c', script], { encoding: 'utf8' });
	const awaited = await within(10_000, run('sh', ['-c', script], { encoding: 'utf8' }));
	assert.equal([blocking.stdout, blocking.stderr, blocking.exit.code, blocking.exit.status], [awaited.stdout, awaited.stderr, 3, 'exited']);
	assert.ok(blocking.exit.rusage && blocking.exit.rusage.maxRssKiB > 0, 'rusage of the child');
	assert.ok(blocking.exit.siginfo?.pid === blocking.exit.pid);
	assert.ok(Buffer.isBuffer(runSync('true').stdout), "encoding 'buffer' by default");
});

sync('test-child-process-spawnsync: a missing program throws ENOENT naming execve', () => {
	try {
		runSync('/no/such/program');
		assert.unreachable('should throw');
	} catch (error) {
		assert.instance(error, PidfdError);
		assert.equal([(error as PidfdError).code, (error as PidfdError).syscall, (error as PidfdError).path], ['ENOENT', 'execve', '/no/such/program']);
	}
});

sync('test-child-process-spawnsync-input: string and bytes input reach stdin, and stdin ends', () => {
	assert.is(runSync('cat', [], { input: 'hello world\n', encoding: 'utf8' }).stdout, 'hello world\n');
	const bytes = Buffer.from([0, 1, 2, 250, 255]);
	assert.ok(runSync('cat', [], { input: bytes }).stdout.equals(bytes));
	// Larger than any pipe: the input is taken whole before the child runs, so no deadlock.
	const big = Buffer.alloc(8 * 1024 * 1024, 7);
	const echoed = runSync('cat', [], { input: big, maxBuffer: Number.POSITIVE_INFINITY });
	assert.ok(echoed.stdout.equals(big), '8 MiB round trip through cat');
	assert.is(runSync('sh', ['-c', 'read x; echo "<$x>"'], { input: 'line\nrest', encoding: 'utf8' }).stdout, '<line>\n');
});

sync('test-child-process-spawnsync-timeout: the child is killed with killSignal and RunError says timeout', () => {
	const started = Date.now();
	try {
		runSync('sh', ['-c', 'echo started; sleep 10'], { encoding: 'utf8', timeout: 200 });
		assert.unreachable('should throw');
	} catch (error) {
		assert.instance(error, RunError);
		const e = error as RunError;
		assert.equal([e.reason, e.code, e.exit.signal, e.stdout], ['timeout', 'ETIMEDOUT', 'SIGTERM', 'started\n']);
	}
	assert.ok(Date.now() - started < 5_000, 'the timeout cut it short');
});

sync('test-child-process-spawnsync-kill-signal: killSignal, and SIGKILL after forceKillAfter for a child that ignores it', () => {
	const killed = (() => {
		try {
			runSync('sleep', ['10'], { timeout: 100, killSignal: 'SIGKILL' });
		} catch (error) {
			return error as RunError;
		}
	})();
	assert.is(killed?.exit.signal, 'SIGKILL');
	const stubborn = (() => {
		try {
			runSync('sh', ['-c', "trap '' TERM; sleep 10"], { timeout: 100, forceKillAfter: 200 });
		} catch (error) {
			return error as RunError;
		}
	})();
	assert.equal([stubborn?.reason, stubborn?.exit.signal], ['timeout', 'SIGKILL']);
});

sync('test-child-process-spawnsync-maxbuf: maxBuffer bytes pass, one more kills the child', () => {
	assert.is(runSync('head', ['-c', '1000', '/dev/zero'], { maxBuffer: 1000 }).stdout.length, 1000);
	try {
		runSync('head', ['-c', '10000000', '/dev/zero'], { maxBuffer: 1000 });
		assert.unreachable('should throw');
	} catch (error) {
		const e = error as RunError;
		assert.equal([e.reason, e.code, e.stdout.length, e.exit.signal], ['maxBuffer', 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER', 1000, 'SIGKILL']);
	}
});

sync('test-child-process-spawnsync-env: env, cwd and argv0 reach the child', () => {
	const { stdout } = runSync('sh', ['-c', 'echo "$FOO $(pwd) $0"'], {
		env: { FOO: 'bar', PATH: process.env.PATH },
		cwd: '/tmp',
		argv0: 'named',
		encoding: 'utf8',
	});
	assert.is(stdout, 'bar /tmp named\n');
});

sync('test-child-process-spawnsync-validation-errors: bad options throw InvalidArgumentError before anything runs', () => {
	const bad: unknown[] = [{ cwd: 42 }, { env: { A: 1 } }, { timeout: -1 }, { maxBuffer: 0 }, { encoding: 'latin1' }, { input: 42 }, { killSignal: 'SIGNOPE' }];
	for (const options of bad)
		assert.throws(
			() => runSync('true', [], options as never),
			(e: unknown) => e instanceof InvalidArgumentError,
			JSON.stringify(options),
		);
	assert.throws(
		() => runSync('true', ['a\0b']),
		(e: unknown) => e instanceof InvalidArgumentError,
		'NUL in an argument',
	);
	assert.throws(
		() => runSync('true', [], { input: 'x', stdin: 'inherit' }),
		(e: unknown) => e instanceof InvalidArgumentError,
		'input and stdin',
	);
});

sync('reject: true throws RunError failed for a non-zero exit', () => {
	try {
		runSync('sh', ['-c', 'echo nope >&2; exit 4'], { reject: true, encoding: 'utf8' });
		assert.unreachable('should throw');
	} catch (error) {
		const e = error as RunError;
		assert.equal([e.reason, e.code, e.stderr, e.exit.code], ['failed', 'ERR_PIDFD_CHILD_FAILED', 'nope\n', 4]);
	}
});

sync('an aborted signal throws AbortError before the child starts', () => {
	assert.throws(
		() => runSync('true', [], { signal: AbortSignal.abort() }),
		(e: unknown) => (e as Error).name === 'AbortError',
	);
});

sync('blocks without busy-waiting: host CPU during a 1 s child stays under 5% of a core', () => {
	const before = process.cpuUsage();
	const wall = performance.now();
	runSync('sleep', ['1']);
	const { user, system } = process.cpuUsage(before);
	const elapsed = performance.now() - wall;
	assert.ok(elapsed >= 1000, `the call blocked for the child (${elapsed} ms)`);
	const share = (user + system) / 1000 / elapsed;
	assert.ok(share < 0.05, `host CPU ${(share * 100).toFixed(2)}% of a core`);
});

sync('async children in flight keep running and lose no event', async () => {
	const children = await Promise.all(
		Array.from({ length: 4 }, (_, i) => spawn('sh', ['-c', `sleep 0.2; echo child${i}; exit ${i}`], { stdio: ['ignore', 'pipe', 'inherit'] })),
	);
	const outputs = children.map((child) => child.output({ encoding: 'utf8' }));
	// Longer than the children: they all end while the host is blocked.
	runSync('sleep', ['0.5']);
	const done = await within(10_000, Promise.all(outputs));
	assert.equal(
		done.map((o) => [o.stdout, o.exit.code]),
		[0, 1, 2, 3].map((i) => [`child${i}\n`, i]),
	);
});

sync('stdin from a file or /dev/null; stderr inherit or ignore', () => {
	assert.is(runSync('head', ['-c', '5', '/proc/version'], { encoding: 'utf8' }).stdout, 'Linux');
	assert.is(runSync('cat', [], { stdin: { file: '/proc/version' }, encoding: 'utf8' }).stdout.slice(0, 5), 'Linux');
	assert.is(runSync('cat', [], { encoding: 'utf8' }).stdout, '', 'stdin is /dev/null by default');
	assert.is(runSync('sh', ['-c', 'echo err >&2'], { stderr: 'ignore', encoding: 'utf8' }).stderr, '');
});

const here = probeCgroup();
testIf(
	sync,
	here.writable && here.hasKill,
	here.writable ? 'needs cgroup.kill (Linux 5.14)' : here.why,
	'contain: the child in a scope of its own; what it leaves behind is killed, the scope removed',
	() => {
		const before = readdirSync(here.dir!).length;
		const started = Date.now();
		// The orphan holds stdout open: without the scope's kill the call would wait 30 s for EOF.
		const r = runSync('sh', ['-c', 'sleep 30 & grep ^0:: /proc/self/cgroup'], { contain: true, encoding: 'utf8' });
		assert.match(r.stdout, /child-/);
		assert.ok(Date.now() - started < 10_000, 'the orphan was killed with the scope');
		assert.is(readdirSync(here.dir!).length, before, 'the scope (and its root) are gone');
	},
);

sync('what a blocking call cannot do is refused clearly', () => {
	assert.throws(
		() => runSync('true', [], { terminal: true }),
		(e: unknown) => e instanceof InvalidArgumentError,
	);
});

sync.run();
