// Kernel pipelines: a child's pipe stream as another child's stdio entry, and pipeline().
// Cases after Rust's `Stdio::from(child.stdout)` are named so in their labels.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidArgumentError, pipeline, RunError, spawn } from '../host/index.js';
import { Sidecar } from '../host/sidecar/connection.js';
import { probeCgroup } from './helpers/cgroup.js';
import { eventually, within } from './helpers/deadline.js';
import { testIf } from './helpers/skip.js';

const transports = ['direct', 'relay'] as const;

/** Awaits a promise that must reject with an error `check` accepts. */
async function rejects(promise: Promise<unknown>, check: (e: unknown) => boolean, what = 'rejection'): Promise<void> {
	const outcome = await promise.then(
		() => undefined,
		(e: unknown) => e,
	);
	assert.ok(outcome !== undefined && check(outcome), `${what}: got ${String(outcome)}`);
}
const text = async (stream: AsyncIterable<Buffer | string> | null) => {
	let out = '';
	for await (const chunk of stream!) out += chunk;
	return out;
};

/**
 * Bytes read with read(2) and its kin (rchar): by this process, all threads; or by one
 * thread of another, /proc/<pid>/task/<pid>/io, which leaves out the reaped children that
 * /proc/<pid>/io adds in (the sidecar reaps every stage).
 */
function readBytes(pid?: number): number {
	const line = readFileSync(pid === undefined ? '/proc/self/io' : `/proc/${pid}/task/${pid}/io`, 'utf8')
		.split('\n')
		.find((l) => l.startsWith('rchar:'));
	return Number(line!.split(/\s+/)[1]);
}

const handover = suite('a child pipe as another child stdio: the kernel pipe changes hands');

for (const stdioTransport of transports) {
	handover(`Rust Stdio::from(child.stdout): the producer's stdout is the consumer's stdin (${stdioTransport})`, async () => {
		const producer = await spawn('printf', ['b\\nc\\na\\n'], { stdioTransport, stdio: ['ignore', 'pipe', 'inherit'] });
		const consumer = await spawn('sort', [], { stdioTransport, stdio: [producer.stdout, 'pipe', 'inherit'] });
		assert.is(await within(10_000, text(consumer.stdout)), 'a\nb\nc\n');
		assert.equal([(await producer.wait()).code, (await consumer.wait()).code], [0, 0]);
		assert.ok(producer.stdout!.destroyed, "the host's end is closed once the consumer has the pipe");
	});

	handover(`Rust Stdio::from(child.stdin): the consumer's stdin is the producer's stdout (${stdioTransport})`, async () => {
		const consumer = await spawn('tr', ['a-z', 'A-Z'], { stdioTransport, stdio: ['pipe', 'pipe', 'inherit'] });
		const producer = await spawn('echo', ['shout'], { stdioTransport, stdio: ['ignore', consumer.stdin, 'inherit'] });
		assert.is(await within(10_000, text(consumer.stdout)), 'SHOUT\n');
		assert.equal([(await producer.wait()).code, (await consumer.wait()).code], [0, 0]);
	});

	handover(`as in a shell: yes | head -1 ends yes with SIGPIPE, and EOF reaches the consumer (${stdioTransport})`, async () => {
		const yes = await spawn('yes', [], { stdioTransport, stdio: ['ignore', 'pipe', 'inherit'] });
		const head = await spawn('head', ['-1'], { stdioTransport, stdio: [yes.stdout, 'pipe', 'inherit'] });
		assert.is(await within(10_000, text(head.stdout)), 'y\n');
		assert.is((await within(10_000, yes.wait())).signal, 'SIGPIPE', 'no reader is left once head exits: the host closed its end');
		const quick = await spawn('echo', ['done'], { stdioTransport, stdio: ['ignore', 'pipe', 'inherit'] });
		await quick.wait(); // the producer is gone before the consumer even starts
		const cat = await spawn('cat', [], { stdioTransport, stdio: [quick.stdout, 'pipe', 'inherit'] });
		assert.is(await within(10_000, text(cat.stdout)), 'done\n', 'its output waited in the pipe');
		assert.is((await cat.wait()).code, 0, 'cat saw EOF: no copy of the write end is left anywhere');
	});
}

handover('a stream given twice, or read first, is refused: its bytes would be missing', async () => {
	const producer = await spawn('echo', ['once'], { stdio: ['ignore', 'pipe', 'inherit'] });
	const first = await spawn('cat', [], { stdio: [producer.stdout, 'ignore', 'inherit'] });
	await rejects(spawn('cat', [], { stdio: [producer.stdout, 'ignore', 'inherit'] }), (e: unknown) => e instanceof InvalidArgumentError);
	await first.wait();
	const read = await spawn('echo', ['read'], { stdio: ['ignore', 'pipe', 'inherit'] });
	assert.is(await text(read.stdout), 'read\n');
	await rejects(spawn('cat', [], { stdio: [read.stdout, 'ignore', 'inherit'] }), (e: unknown) => e instanceof InvalidArgumentError);
	await rejects(spawn('cat', [], { stdio: [{} as never, 'ignore', 'inherit'] }), (e: unknown) => e instanceof InvalidArgumentError, 'any other object');
});

handover.run();

const pipelines = suite('pipeline()');

pipelines('the last stage output, every exit, input to the first', async () => {
	const r = await within(10_000, pipeline([['printf', ['b\\na\\nc\\n']], ['sort'], ['tr', ['a-z', 'A-Z']]], { encoding: 'utf8' }));
	assert.equal([r.stdout, r.exits.length, r.exit.code], ['A\nB\nC\n', 3, 0]);
	assert.ok(r.exits.every((e) => e.rusage !== null));
	assert.is((await pipeline([['cat'], ['wc', ['-c']]], { input: 'abcd', encoding: 'utf8' })).stdout.trim(), '4');
});

pipelines('pipefail: the exit is the last failing stage, like bash set -o pipefail; reject makes it a RunError', async () => {
	const r = await pipeline([['sh', ['-c', 'echo x; exit 3']], ['sh', ['-c', 'cat; exit 4']], ['cat']], { encoding: 'utf8' });
	assert.equal([r.exit.code, r.exits.map((e) => e.code)], [4, [3, 4, 0]]);
	const plain = await pipeline([['sh', ['-c', 'exit 3']], ['cat']], { pipefail: false });
	assert.is(plain.exit.code, 0, 'without pipefail: the last stage decides');
	const error = await pipeline([['false'], ['cat']], { reject: true }).catch((e: unknown) => e);
	assert.instance(error, RunError);
	assert.equal([(error as RunError).reason, (error as RunError & { exits: unknown[] }).exits.length], ['failed', 2]);
});

pipelines('stderr of every stage, in stage order', async () => {
	const r = await pipeline(
		[
			['sh', ['-c', 'echo one >&2; echo data']],
			['sh', ['-c', 'cat >/dev/null; echo two >&2']],
		],
		{ encoding: 'utf8' },
	);
	assert.is(r.stderr, 'one\ntwo\n');
});

pipelines('a shared timeout and signal end every stage', async () => {
	const timedOut = await within(
		10_000,
		pipeline([['sleep', ['10']], ['sleep', ['10']], ['cat']], { timeout: 200 }).catch((e: unknown) => e),
	);
	assert.is((timedOut as RunError).reason, 'timeout');
	const signals = (timedOut as RunError & { exits: { signal: string | null }[] }).exits.map((e) => e.signal);
	assert.equal(signals.slice(0, 2), ['SIGTERM', 'SIGTERM'], 'both sleeps were killed (cat too, or it saw EOF first)');
	const controller = new AbortController();
	const marker = join(mkdtempSync(join(tmpdir(), 'pidfd-pipeline-')), 'started');
	const running = pipeline(
		[
			['sleep', ['10']],
			['sh', ['-c', `: > ${marker}; exec cat`]],
		],
		{ signal: controller.signal, killSignal: 'SIGKILL' },
	);
	// Once the last stage runs (an abort during the start would reject with AbortError instead).
	await eventually(10_000, () => existsSync(marker), 'the last stage started');
	controller.abort();
	const aborted = await within(
		10_000,
		running.catch((e: unknown) => e),
	);
	assert.equal([(aborted as RunError).reason, (aborted as RunError).exit.signal], ['abort', 'SIGKILL']);
});

pipelines('a stage that cannot start rejects, and the stages already running are ended', async () => {
	const error = await within(
		10_000,
		pipeline([['sleep', ['10']], ['/no/such/program']]).catch((e: unknown) => e),
	);
	assert.equal([(error as { code: string }).code, (error as { syscall: string }).syscall], ['ENOENT', 'execve']);
	await rejects(pipeline([]), (e: unknown) => e instanceof InvalidArgumentError);
});

const MiB = 1024 * 1024;
for (const stdioTransport of transports) {
	pipelines(`256 MiB through 3 stages with a slow last stage: no byte through the host or the sidecar, flat memory (${stdioTransport})`, async () => {
		await spawn('true').then((c) => c.wait()); // the sidecar is up before the counts start
		const sidecarPid = Sidecar.peek()!.hello!.pid;
		const hostBefore = readBytes();
		const sidecarBefore = readBytes(sidecarPid);
		const rssBefore = process.memoryUsage().rss;
		let rssPeak = rssBefore;
		const sampler = setInterval(() => {
			rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
		}, 20);
		const r = await within(
			120_000,
			pipeline([['head', ['-c', String(256 * MiB), '/dev/zero']], ['cat'], ['sh', ['-c', 'sleep 0.5; exec wc -c']]], { stdioTransport, encoding: 'utf8' }),
		);
		clearInterval(sampler);
		assert.equal([r.stdout.trim(), r.exits.map((e) => e.code)], [String(256 * MiB), [0, 0, 0]]);
		const hostRead = readBytes() - hostBefore;
		const sidecarRead = readBytes(sidecarPid) - sidecarBefore;
		assert.ok(hostRead < 4 * MiB, `the host read ${hostRead} bytes`);
		assert.ok(sidecarRead < 4 * MiB, `the sidecar read ${sidecarRead} bytes`);
		assert.ok(rssPeak - rssBefore < 64 * MiB, `host RSS grew by ${((rssPeak - rssBefore) / MiB).toFixed(1)} MiB`);
	});
}

const here = probeCgroup();
testIf(pipelines, here.writable, here.why, 'contain: every stage in one scope, removed at the end', async () => {
	const r = await within(
		10_000,
		pipeline(
			[
				['grep', ['^0::', '/proc/self/cgroup']],
				['sh', ['-c', 'cat; grep ^0:: /proc/self/cgroup']],
			],
			{ contain: true, encoding: 'utf8' },
		),
	);
	const [first, second] = r.stdout.trim().split('\n');
	assert.ok(first && first === second, `both stages in one cgroup: ${r.stdout}`);
	assert.match(first!, /scope-/);
});

pipelines.run();
