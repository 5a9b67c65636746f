// The public API's conventions shared with Node, execa, Bun and Deno: kill() results, "no
// limit" values, early validation, settling after a timeout, disposal, output(), Command.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Command, InvalidArgumentError, PidfdError, RunError, run, sidecarInfo, spawn } from '../host/index.js';
import { within } from './helpers/deadline.js';

const LIMIT = 10_000;

/** The pid is still a live, non-zombie process (for processes that are not ours). */
function isRunning(pid: number): boolean {
	try {
		return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
	} catch {
		return false;
	}
}

/** The sidecar's children right now: a spawn that never started adds none. */
async function sidecarChildren(): Promise<string> {
	const { pid } = await sidecarInfo();
	return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
}

// ---

const kill = suite('kill(): true when delivered, false once ended');

kill('a running child: true; after its end: false, not ESRCH', async () => {
	const child = await spawn('sleep', ['30'], { stdio: 'ignore' });
	assert.is(await within(LIMIT, child.kill('SIGKILL')), true);
	await within(LIMIT, child.wait());
	assert.is(await child.kill('SIGKILL'), false);
});

kill('other failures still reject: a group signal to a child that leads no group', async () => {
	const child = await spawn('sleep', ['30'], { stdio: 'ignore' });
	try {
		const error = (await child.kill('SIGTERM', { group: true }).catch((e: unknown) => e)) as PidfdError;
		assert.instance(error, PidfdError);
		assert.is(error.syscall, 'pidfd_send_signal');
	} finally {
		await child.kill('SIGKILL');
		await within(LIMIT, child.wait());
	}
});

kill.run();

// ---

const limits = suite('no-limit values: maxBuffer Infinity, timeout 0 and Infinity');

limits('maxBuffer: Infinity keeps everything', async () => {
	const { stdout } = await within(LIMIT, run('head', ['-c', '300000', '/dev/zero'], { maxBuffer: Number.POSITIVE_INFINITY }));
	assert.is(stdout.length, 300000);
});

for (const timeout of [0, Number.POSITIVE_INFINITY]) {
	limits(`timeout: ${timeout} never kills`, async () => {
		const child = await spawn('sleep', ['0.2'], { stdio: 'ignore', timeout });
		const exit = await within(LIMIT, child.wait());
		assert.is(exit.code, 0);
		assert.is(child.terminatedBy, undefined);
	});
}

limits('a negative timeout and maxBuffer 0 are refused before anything starts', async () => {
	assert.instance(await spawn('true', [], { timeout: -1 }).catch((e: unknown) => e), InvalidArgumentError);
	assert.instance(await run('true', [], { maxBuffer: 0 }).catch((e: unknown) => e), InvalidArgumentError);
});

limits.run();

// ---

const early = suite('run(): options checked before anything starts');

early('input: 1234 rejects InvalidArgumentError and starts no child', async () => {
	await run('true'); // the sidecar is up, so its children can be counted
	const before = await sidecarChildren();
	const error = await run('cat', [], { input: 1234 as unknown as string }).catch((e: unknown) => e);
	assert.instance(error, InvalidArgumentError);
	assert.match((error as Error).message, /input/);
	assert.is(await sidecarChildren(), before);
});

early('encoding, stderr and reject of the wrong type are refused too', async () => {
	for (const options of [{ encoding: 'latin1' }, { stderr: 'file' }, { reject: 'yes' }]) {
		const error = await run('true', [], options as never).catch((e: unknown) => e);
		assert.instance(error, InvalidArgumentError, JSON.stringify(options));
	}
});

early.run();

// ---

const settle = suite('run() with a timeout settles even when a grandchild holds stdout');

settle('the grandchild keeps the pipe open; run() rejects ETIMEDOUT with what was read', async () => {
	// sh prints its background sleep's pid, then waits: the timeout's SIGTERM ends sh, and the
	// orphaned sleep still holds stdout. Node's execFile would wait for the sleep.
	const started = Date.now();
	const error = (await within(
		LIMIT,
		run('sh', ['-c', 'sleep 30 & echo $!; wait'], { timeout: 300, encoding: 'utf8' }).catch((e: unknown) => e),
	)) as RunError<string>;
	const grandchild = Number(error.stdout.trim());
	try {
		assert.instance(error, RunError);
		assert.is(error.code, 'ETIMEDOUT');
		assert.ok(grandchild > 0, 'the output read before the timeout is kept');
		assert.ok(isRunning(grandchild), 'the grandchild really held the pipe');
		// timeout + forceKillAfter (5 s, unused: sh dies of SIGTERM) + the grace.
		assert.ok(Date.now() - started < 300 + 5000, `settled after ${Date.now() - started} ms`);
	} finally {
		if (grandchild > 0) process.kill(grandchild, 'SIGKILL');
	}
});

settle('a child that exits in time but leaves a grandchild on stdout: ETIMEDOUT at the timeout', async () => {
	const error = (await within(
		LIMIT,
		run('sh', ['-c', 'sleep 30 & echo $!'], { timeout: 300, encoding: 'utf8' }).catch((e: unknown) => e),
	)) as RunError<string>;
	const grandchild = Number(error.stdout.trim());
	try {
		assert.instance(error, RunError);
		assert.is(error.reason, 'timeout');
		assert.is(error.exit.code, 0, 'sh itself exited normally');
	} finally {
		if (grandchild > 0) process.kill(grandchild, 'SIGKILL');
	}
});

settle.run();

// ---

const reject = suite('run({ reject: true })');

reject('a non-zero exit rejects with a RunError carrying the output', async () => {
	const error = (await run('sh', ['-c', 'echo out; echo err >&2; exit 3'], { reject: true, encoding: 'utf8' }).catch((e: unknown) => e)) as RunError<string>;
	assert.instance(error, RunError);
	assert.is(error.code, 'ERR_PIDFD_CHILD_FAILED');
	assert.is(error.reason, 'failed');
	assert.is(error.message, 'Command failed with exit code 3: sh -c echo out; echo err >&2; exit 3');
	assert.equal([error.stdout, error.stderr, error.exit.code], ['out\n', 'err\n', 3]);
});

reject('a signal death names the signal; success resolves', async () => {
	const error = (await run('sh', ['-c', 'kill -9 $$'], { reject: true }).catch((e: unknown) => e)) as RunError;
	assert.match(error.message, /killed with SIGKILL/);
	const ok = await run('true', [], { reject: true });
	assert.is(ok.exit.code, 0);
});

reject('without reject, a failure resolves (the default)', async () => {
	const { exit } = await run('sh', ['-c', 'exit 3']);
	assert.is(exit.code, 3);
});

reject.run();

// ---

const dispose = suite('Child is AsyncDisposable');

dispose('await using: a running child is killed and reaped on scope exit', async () => {
	let pid = 0;
	let child: Awaited<ReturnType<typeof spawn>> | undefined;
	{
		await using c = await spawn('sleep', ['30'], { stdio: 'ignore' });
		pid = c.pid;
		child = c;
		assert.ok(isRunning(pid));
	}
	const exit = child!.tryWait();
	assert.ok(exit, 'reaped when the scope ended');
	assert.is(exit!.signal, 'SIGKILL');
	assert.not.ok(isRunning(pid));
});

dispose('a child that already ended is left as it is', async () => {
	const child = await spawn('true', [], { stdio: 'ignore' });
	await child.wait();
	await child[Symbol.asyncDispose]();
	assert.is(child.tryWait()!.code, 0);
});

dispose.run();

// ---

const output = suite('child.output()');

output('collects the piped output of a spawned child and its exit', async () => {
	const child = await spawn('sh', ['-c', 'echo out; echo err >&2; exit 4'], { stdio: ['ignore', 'pipe', 'pipe'] });
	const { stdout, stderr, exit } = await within(LIMIT, child.output({ encoding: 'utf8' }));
	assert.equal([stdout, stderr, exit.code], ['out\n', 'err\n', 4]);
});

output('closes a piped stdin first, so `cat` ends', async () => {
	const child = await spawn('cat', [], { stdio: 'pipe' });
	child.stdin!.write('typed ');
	const { stdout } = await within(LIMIT, child.output());
	assert.is(stdout.toString(), 'typed ');
});

output('past maxBuffer the child is killed and output() rejects', async () => {
	const child = await spawn('cat', ['/dev/zero'], { stdio: ['ignore', 'pipe', 'ignore'] });
	const error = (await within(
		LIMIT,
		child.output({ maxBuffer: 100_000 }).catch((e: unknown) => e),
	)) as RunError;
	assert.instance(error, RunError);
	assert.is(error.reason, 'maxBuffer');
	assert.is((error.stdout as Buffer).length, 100_000);
	assert.is(error.exit.signal, 'SIGKILL');
});

output.run();

// ---

const command = suite('Command covers spawn() options');

command('.fd(3, "pipe") gives an extra fd', async () => {
	const child = await new Command('sh').args(['-c', 'echo three >&3']).stdout('ignore').fd(3, 'pipe').spawn();
	const chunks: Buffer[] = [];
	for await (const chunk of child.stdio[3] as AsyncIterable<Buffer>) chunks.push(chunk);
	assert.is(Buffer.concat(chunks).toString(), 'three\n');
	await within(LIMIT, child.wait());
});

command('.contain() puts the child in a scope of its own', async () => {
	const child = await new Command('sleep').arg('30').stdin('ignore').stdout('ignore').contain().spawn();
	try {
		assert.ok(child.scope, 'contained');
		assert.ok(child.scope!.path.length > 0);
	} finally {
		await within(LIMIT, child.killTree());
	}
	assert.is((await within(LIMIT, child.wait())).signal, 'SIGKILL');
});

command('output() honours .stdin()', async () => {
	const dir = mkdtempSync(join(tmpdir(), 'pidfd-api-'));
	try {
		const file = join(dir, 'in.txt');
		writeFileSync(file, 'from a file\n');
		const { stdout } = await within(LIMIT, new Command('cat').stdin({ file }).output({ encoding: 'utf8' }));
		assert.is(stdout, 'from a file\n');
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

command.run();

// ---

const oversized = suite('oversized requests are refused, never fatal');

oversized('20 MiB of argv rejects E2BIG before sending, and other children live on', async () => {
	const bystander = await spawn('sleep', ['30'], { stdio: 'ignore' });
	const before = (await sidecarInfo()).pid;
	const args = Array.from({ length: 20 }, () => 'x'.repeat(1024 * 1024));
	const error = (await spawn('true', args).catch((e: unknown) => e)) as PidfdError;
	assert.instance(error, PidfdError);
	assert.is(error.code, 'E2BIG');
	assert.is((await sidecarInfo()).pid, before, 'the same sidecar');
	assert.ok(await bystander.alive(), 'the bystander lives');
	const { exit } = await within(LIMIT, run('true'));
	assert.is(exit.code, 0);
	await bystander.kill('SIGKILL');
	await within(LIMIT, bystander.wait());
});

oversized.run();

// ---

const abort = suite('an aborted spawn rejects with an AbortError');

abort('already aborted: name AbortError, code ABORT_ERR, cause = the reason', async () => {
	const controller = new AbortController();
	const reason = new Error('changed my mind');
	controller.abort(reason);
	const error = (await spawn('true', [], { signal: controller.signal }).catch((e: unknown) => e)) as Error & { code: string };
	assert.is(error.name, 'AbortError');
	assert.is(error.code, 'ABORT_ERR');
	assert.is(error.cause, reason);
});

abort.run();
