// Soak: many spawn/wait cycles, then many children at once. Afterwards the fd counts of the
// host and of the sidecar are back at their baseline, and RSS has grown less than a bound.
// npm test runs a short version; `npm run soak` the full one (20,000 cycles, 1,000 children):
//   SOAK_CYCLES=20000 SOAK_CONCURRENT=1000 node --expose-gc --import tsx node_modules/uvu/bin.js test soak.ts
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Child, sidecarInfo, spawn } from '../host/index.js';
import { eventually, within } from './helpers/deadline.js';
import { fdCount, isAlive, rssKiB } from './helpers/proc.js';

const CYCLES = Number(process.env.SOAK_CYCLES ?? 2000);
const CONCURRENT = Number(process.env.SOAK_CONCURRENT ?? 200);
/** Spawns in flight during the cycles. */
const IN_FLIGHT = 16;
/** Bounds on RSS growth, host and sidecar, from the baseline after warm-up. */
const HOST_RSS_BOUND_MIB = 64;
/**
 * The plain sidecar grows ~0.1–0.3 MiB here. Built with AddressSanitizer (npm run test:asan)
 * the runtime's own bookkeeping (fake stacks, shadow pages for each child's stack) adds ~4 MiB
 * over 2000 cycles without a malloc of the sidecar's: that run checks memory errors, this
 * bound is the plain build's, with room for the sanitizer there.
 */
const SIDECAR_RSS_BOUND_MIB = process.env.PIDFD_SANITIZED === '1' ? 16 : 4;

const MiB = 1 << 20;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

interface Sample {
	hostFds: number;
	sidecarFds: number;
	hostRss: number;
	sidecarRss: number;
}

function sample(sidecar: number): Sample {
	gc();
	return { hostFds: fdCount('self'), sidecarFds: fdCount(sidecar), hostRss: process.memoryUsage().rss, sidecarRss: rssKiB(sidecar) * 1024 };
}

const fmt = (s: Sample) =>
	`fds host ${s.hostFds} sidecar ${s.sidecarFds}, RSS host ${(s.hostRss / MiB).toFixed(1)} MiB sidecar ${(s.sidecarRss / MiB).toFixed(2)} MiB`;

/** One cycle; every fourth child writes to a pipe we read to the end, so pipes churn too. */
async function cycle(i: number): Promise<void> {
	if (i % 4 === 0) {
		const child = await spawn('echo', [String(i)], { stdio: ['ignore', 'pipe', 'ignore'] });
		let out = '';
		for await (const chunk of child.stdout!) out += chunk;
		const exit = await child.wait();
		if (exit.code !== 0 || out !== `${i}\n`) throw new Error(`cycle ${i}: code ${exit.code}, output ${JSON.stringify(out)}`);
	} else {
		const exit = await (await spawn('/bin/true', [], { stdio: 'ignore' })).wait();
		if (exit.code !== 0) throw new Error(`cycle ${i}: code ${exit.code}`);
	}
}

const soak = suite<{ sidecar: number; base: Sample }>('soak', { sidecar: 0, base: undefined as unknown as Sample });

soak.before(async (ctx) => {
	for (let i = 0; i < 64; i++) await cycle(i); // warm-up: JIT, pools, the sidecar's first pages
	ctx.sidecar = (await sidecarInfo()).pid;
	ctx.base = sample(ctx.sidecar);
	console.log(`\n  soak baseline: ${fmt(ctx.base)}`);
});

/** fds back to baseline (sockets close a tick later), RSS within bounds. */
async function settle(ctx: { sidecar: number; base: Sample }, what: string): Promise<Sample> {
	let now = sample(ctx.sidecar);
	await eventually(
		10_000,
		() => {
			now = sample(ctx.sidecar);
			return now.hostFds === ctx.base.hostFds && now.sidecarFds === ctx.base.sidecarFds;
		},
		`${what}: fds back to baseline (${fmt(now)})`,
	);
	console.log(
		`  after ${what}: ${fmt(now)}; RSS growth host ${((now.hostRss - ctx.base.hostRss) / MiB).toFixed(1)} MiB, sidecar ${((now.sidecarRss - ctx.base.sidecarRss) / MiB).toFixed(2)} MiB`,
	);
	assert.ok(now.hostRss - ctx.base.hostRss < HOST_RSS_BOUND_MIB * MiB, `host RSS grew by more than ${HOST_RSS_BOUND_MIB} MiB`);
	assert.ok(now.sidecarRss - ctx.base.sidecarRss < SIDECAR_RSS_BOUND_MIB * MiB, `sidecar RSS grew by more than ${SIDECAR_RSS_BOUND_MIB} MiB`);
	return now;
}

soak(`${CYCLES} spawn/wait cycles (${IN_FLIGHT} in flight)`, async (ctx) => {
	const t0 = Date.now();
	let next = 0;
	const worker = async () => {
		while (next < CYCLES) await cycle(next++);
	};
	await within(CYCLES * 20 + 10_000, Promise.all(Array.from({ length: IN_FLIGHT }, worker)), 'cycles');
	const ms = Date.now() - t0;
	console.log(`  ${CYCLES} cycles in ${(ms / 1000).toFixed(1)} s (${Math.round((CYCLES * 1000) / ms)}/s)`);
	await settle(ctx, `${CYCLES} cycles`);
});

soak(`${CONCURRENT} concurrent sleep children`, async (ctx) => {
	const t0 = Date.now();
	const children: Child[] = [];
	// Spawned in batches: all requests in one tick would be one 1,000-frame write, also fine,
	// but batches keep the test's own memory flat.
	for (let i = 0; i < CONCURRENT; i += 100) {
		children.push(
			...(await within(
				30_000,
				Promise.all(Array.from({ length: Math.min(100, CONCURRENT - i) }, () => spawn('sleep', ['600'], { stdio: 'ignore' }))),
				'spawn batch',
			)),
		);
	}
	assert.ok(
		children.every((c) => isAlive(c.pid)),
		'all running',
	);
	// One pidfd each in the sidecar, nothing in the host.
	assert.is(fdCount(ctx.sidecar), ctx.base.sidecarFds + CONCURRENT);
	assert.is(fdCount('self'), ctx.base.hostFds);
	await Promise.all(children.map((c) => c.kill('SIGKILL')));
	const exits = await within(30_000, Promise.all(children.map((c) => c.wait())), 'waits');
	assert.ok(exits.every((e) => e.signal === 'SIGKILL'));
	console.log(`  ${CONCURRENT} children started, killed and reaped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
	await settle(ctx, `${CONCURRENT} concurrent children`);
});

soak.run();
