// PIDFD_TRACE=1: the stage breakdown of spawns and exits, and its cost when off.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_STAGES, SPAWN_STAGES } from '../host/sidecar/trace.js';
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

trace('off: no trace log, no TRACE events, and no slower than on (interleaved rounds)', async () => {
	const off: number[] = [];
	const on: number[] = [];
	for (let round = 0; round < 5; round++) {
		// Alternate which goes first, so drift of a shared machine hits both alike.
		const pair = round % 2 ? [true, false] : [false, true];
		for (const tracing of pair) {
			const line = await within(30_000, host(100, tracing), 'trace host');
			if (tracing) {
				assert.ok(line.feature, 'the sidecar announces tracing');
				assert.ok((line.traced ?? 0) >= 100, 'every spawn recorded');
				on.push(line.p50Us);
			} else {
				assert.is(line.traced, null, 'no trace log when off');
				assert.is(line.feature, false, 'no TRACE events when off');
				off.push(line.p50Us);
			}
		}
	}
	const median = (v: number[]) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
	// Off does strictly less than on; a margin for the noise of a shared machine.
	assert.ok(median(off) <= median(on) * 1.15, `off p50 ${median(off).toFixed(0)} µs vs on ${median(on).toFixed(0)} µs`);
});

trace.run();
