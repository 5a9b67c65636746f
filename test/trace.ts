// PIDFD_TRACE=1: the stage breakdown of spawns and exits, and its cost when off.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_STAGES, SPAWN_STAGES, TraceLog } from '../host/sidecar/trace.js';
import { within } from './helpers/deadline.js';

const trace = suite('PIDFD_TRACE');
const ROOT = new URL('..', import.meta.url).pathname;

function run(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
	return new Promise((resolve, reject) => {
		execFile(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env }, (error, stdout, stderr) =>
			error ? reject(new Error(stderr || error.message)) : resolve(stdout),
		);
	});
}

interface HostLine {
	p50Us: number;
	traced: number | null;
	feature: boolean;
}

async function host(n: number, on: boolean): Promise<HostLine> {
	const env = { ...process.env };
	if (on) env.PIDFD_TRACE = '1';
	else delete env.PIDFD_TRACE;
	const out = await run(['test/fixtures/trace-host.ts', String(n)], env);
	const line = out.split('\n').find((l) => l.startsWith('TRACE_HOST '));
	if (!line) assert.unreachable(`no TRACE_HOST line in ${out}`);
	return JSON.parse(line!.slice('TRACE_HOST '.length)) as HostLine;
}

trace('`npm run bench -- --trace` prints a p50/p99 row for every stage of a spawn and an exit', async () => {
	const out = mkdtempSync(join(tmpdir(), 'pidfd-trace-'));
	try {
		await within(30_000, run(['bench/run.ts', '--quick', '--trace', '--workloads', 'seq', '--out', out], process.env), 'bench --trace');
		const table = readFileSync(join(out, 'trace.md'), 'utf8');
		const rows = new Map(
			table
				.split('\n')
				.filter((l) => l.startsWith('| spawn: ') || l.startsWith('| exit: '))
				.map((l) => {
					const cells = l.split('|').map((c) => c.trim());
					return [cells[1]!, cells.slice(2, 4).map(Number)] as const;
				}),
		);
		const expect = [
			...SPAWN_STAGES.slice(1).map((s, i) => `spawn: ${SPAWN_STAGES[i]} → ${s}`),
			'spawn: total',
			...EXIT_STAGES.slice(1).map((s, i) => `exit: ${EXIT_STAGES[i]} → ${s}`),
			'exit: total',
		];
		for (const stage of expect) {
			const values = rows.get(stage);
			assert.ok(values, `no row for ${stage} in\n${table}`);
			for (const v of values!) assert.ok(Number.isFinite(v) && v >= 0, `${stage}: ${v}`);
		}
		// The sidecar's stamps and the host's are on one clock: each total covers its stages.
		assert.ok(rows.get('spawn: total')![0]! >= rows.get(`spawn: ${SPAWN_STAGES[4]} → ${SPAWN_STAGES[5]}`)![0]!);
	} finally {
		rmSync(out, { recursive: true, force: true });
	}
});

/**
 * Sequential spawns with known crossing times `up` (request written → sidecar read) and `down`
 * (reply written → host decoded), the sidecar's clock `skew` µs behind the host's.
 */
function synthetic(skew: number, up: number[], down: number[]): TraceLog {
	const log = new TraceLog();
	let t = 1_000_000;
	for (let i = 0; i < up.length; i++) {
		const r = log.request(i + 1, t, t + 50);
		log.written([r], t + 60);
		const read = t + 60 + up[i]!;
		const replied = read + 400;
		log.replied(i + 1, i + 1, replied + down[i]!);
		log.settled(r, replied + down[i]! + 40);
		log.sidecar(1, i + 1, [read, read + 5, read + 395, replied].map((us) => (us - skew) * 1e3) as [number, number, number, number]);
		t = replied + down[i]! + 1000;
	}
	return log;
}

trace("a host clock other than the sidecar's (Bun, Deno): the offset is estimated within the bounds the crossings give", () => {
	const up = Array.from({ length: 200 }, (_, i) => 20 + ((i * 37) % 180));
	const down = Array.from({ length: 200 }, (_, i) => 30 + ((i * 53) % 240));
	const stage = (log: TraceLog, name: string) => log.stages().find((r) => r.stage === name)!;
	// One clock (Node): nothing is moved, no estimate is reported.
	const same = synthetic(0, up, down);
	assert.equal(same.clockOffset(), { offset: 0, uncertainty: 0 });
	assert.not.ok(same.stages().some((r) => r.part === 'clock'));
	assert.is(stage(same, 'request written → sidecar read').p50, [...up].sort((a, b) => a - b)[100]);
	// The sidecar's clock 20 hours behind: every stage comes out non-negative, each crossing
	// within the reported uncertainty of the truth, and the sidecar's own stages exact.
	const skewed = synthetic(72_000e6, up, down);
	const { uncertainty } = skewed.clockOffset();
	// Half the fastest round trip's two crossings: (20 + 30) / 2.
	assert.is(uncertainty, 25);
	for (const row of skewed.stages().filter((r) => r.n > 0)) assert.ok(row.p50 >= 0 && row.p99 >= 0, `${row.stage}: ${row.p50}`);
	for (const [name, truth] of [
		['request written → sidecar read', up],
		['reply written → host decoded', down],
	] as const) {
		const p50 = [...truth].sort((a, b) => a - b)[100]!;
		assert.ok(Math.abs(stage(skewed, name).p50 - p50) <= uncertainty, `${name}: ${stage(skewed, name).p50} vs ${p50} ± ${uncertainty}`);
	}
	assert.is(stage(skewed, 'clone → exec confirmed').p50, 390);
	assert.is(stage(skewed, 'total').p50, stage(same, 'total').p50);
	assert.is(skewed.stages().find((r) => r.part === 'clock')?.p50, uncertainty);
});

trace('`npm run bench -- --trace` on Bun and Deno: every stage on one clock, the estimate said', async () => {
	const out = mkdtempSync(join(tmpdir(), 'pidfd-trace-'));
	try {
		await within(
			60_000,
			run(['bench/run.ts', '--quick', '--trace', '--only', 'pidfd-bun,pidfd-deno', '--workloads', 'seq', '--out', out], process.env),
			'bench --trace',
		);
		const table = readFileSync(join(out, 'trace.md'), 'utf8');
		const rows = table.split('\n').filter((l) => /^\| (spawn|exit|clock): /.test(l));
		assert.ok(rows.length >= 14, `rows in\n${table}`);
		for (const row of rows) {
			const cells = row.split('|').map((c) => c.trim());
			// Two columns (p50, p99) per runtime, both runtimes present.
			assert.is(cells.length, 7, row);
			for (const v of cells.slice(2, 6).map(Number)) assert.ok(Number.isFinite(v) && v >= 0 && v < 1e6, `${row}`);
		}
		assert.ok(
			rows.some((r) => r.startsWith('| clock: ')),
			`the estimate is said in\n${table}`,
		);
	} finally {
		rmSync(out, { recursive: true, force: true });
	}
});

trace('off: no trace log, no TRACE events, and no slower than on (interleaved rounds)', async () => {
	const ratios: number[] = [];
	for (let round = 0; round < 7; round++) {
		// Alternate which goes first, so drift of a shared machine hits both alike; compare
		// within each round, where the two runs are seconds apart.
		const pair = round % 2 ? [true, false] : [false, true];
		const p50 = { on: 0, off: 0 };
		for (const tracing of pair) {
			const line = await within(30_000, host(100, tracing), 'trace host');
			if (tracing) {
				assert.ok(line.feature, 'the sidecar announces tracing');
				assert.ok((line.traced ?? 0) >= 100, 'every spawn recorded');
				p50.on = line.p50Us;
			} else {
				assert.is(line.traced, null, 'no trace log when off');
				assert.is(line.feature, false, 'no TRACE events when off');
				p50.off = line.p50Us;
			}
		}
		ratios.push(p50.off / p50.on);
	}
	const median = ratios.sort((a, b) => a - b)[Math.floor(ratios.length / 2)]!;
	// Off does strictly less than on; a margin for the noise of a shared machine (one run of
	// 5 unpaired rounds once read off 17% slower under load).
	assert.ok(median <= 1.2, `off p50 / on p50, median of ${ratios.length} rounds: ${median.toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(', ')})`);
});

trace.run();
