/**
 * `npm run bench`: every peer on every workload, in one sitting. Rounds are interleaved
 * (round 1: A B C…, round 2: B C… A) so drift of the machine hits every peer alike; the
 * report gives medians over rounds and pidfd/peer ratios.
 *
 *   npm run bench                      # 3 rounds, the issue's sizes (~4 min on 2 cores)
 *   npm run bench -- --quick           # 1 small round (~1 min), results under bench/results/quick.tmp/
 *   npm run bench -- --rounds 5 --only floor,pidfd-node,bun --workloads seq,kill
 *   npm run bench -- --trace           # PIDFD_TRACE=1: where pidfd's time goes, stage by stage
 *
 * A full or quick run (no --only, no --trace; or `scripts` among --workloads) ends with the
 * scripts section, bench/scripts/run.ts: runSync beside the runtimes' synchronous spawns and
 * a 3-stage kernel pipeline beside sh -c, written to scripts.md beside latest.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { chart } from './chart.js';
import type { Medians } from './metrics.js';
import { type Params, type Peer, peers as allPeers, ROOT, versions, type Workload } from './peers.js';
import { markdown } from './report.js';
import { median } from './stats.js';

const WORKLOADS: Workload[] = ['seq', 'flight', 'kill', 'capture', 'many', 'fanout'];

/** Sizes per mode. Full: the issue's; quick: enough to see every path work. */
const SIZES: Record<'full' | 'quick', Record<Workload, Params>> = {
	full: {
		seq: { n: 500, warmup: 50, block: 200 },
		flight: { n: 5000, inflight: 64, warmup: 50, budgetMs: 20_000 },
		kill: { n: 200, warmup: 20 },
		capture: { bytes: 256 * 1024 * 1024 },
		many: { n: 1000, probe: 200, inflight: 64 },
		fanout: { n: 256, bytes: 1024 * 1024 },
	},
	quick: {
		seq: { n: 100, warmup: 10, block: 30 },
		flight: { n: 500, inflight: 64, warmup: 10, budgetMs: 8_000 },
		kill: { n: 30, warmup: 5 },
		capture: { bytes: 16 * 1024 * 1024 },
		many: { n: 100, probe: 30, inflight: 64 },
		fanout: { n: 32, bytes: 1024 * 1024 },
	},
};

/**
 * A task that takes longer than this is stuck (the slowest healthy one, 5,000 spawns by
 * execa, takes ~12 s): that peer is reported failed for that workload, the rest go on.
 */
const TASK_TIMEOUT_MS = { full: 30_000, quick: 15_000 };

const { values: opts } = parseArgs({
	options: {
		quick: { type: 'boolean', default: false },
		rounds: { type: 'string' },
		only: { type: 'string' },
		workloads: { type: 'string' },
		out: { type: 'string' },
		trace: { type: 'boolean', default: false },
	},
});
/**
 * --trace: pidfd on Node only (unless --only says otherwise: pidfd-bun and pidfd-deno trace
 * too, their clock offset estimated, see host/sidecar/trace.ts), sequential spawns and kills by
 * default, with PIDFD_TRACE=1; prints and writes the p50/p99 of each stage (trace.md), not
 * the usual tables: a traced run is not a run to compare with the peers.
 */
const trace = opts.trace;
const mode = opts.quick ? 'quick' : 'full';
const rounds = Number(opts.rounds ?? (opts.quick ? 1 : 3));
const asked = opts.workloads?.split(',');
const scripts = asked ? asked.includes('scripts') : !trace && !opts.only;
const workloads = asked ? (asked.filter((w) => w !== 'scripts') as Workload[]) : trace ? (['seq', 'kill'] as Workload[]) : WORKLOADS;
const outDir = opts.out ?? join(ROOT, 'bench', 'results', opts.quick ? 'quick.tmp' : '');
for (const w of workloads) if (!WORKLOADS.includes(w)) throw new Error(`unknown workload ${w}; one of ${WORKLOADS.join(', ')}, scripts`);

const started = performance.now();
// Other work on the machine skews everything: the report states the load we started under.
const loadAtStart = loadavg()[0]!.toFixed(2);
if (!existsSync(join(ROOT, 'dist', 'pidfd-sidecar'))) {
	console.error('dist/pidfd-sidecar is missing: run `npm run build:sidecar` (or `npm install`, which builds everything)');
	process.exit(1);
}
const only = opts.only?.split(',') ?? (trace ? ['pidfd-node'] : undefined);
const peers = allPeers().filter((p) => !only || only.includes(p.id));
const unavailable = new Map<string, string>();
for (const p of peers) if (typeof p.command !== 'function') unavailable.set(p.id, p.command.unavailable);

console.log(`pidfd bench (${mode}): ${rounds} round(s) × ${workloads.join(', ')}`);
await preflight();

/** results[workload][peer] = one result object per round */
const results: Record<string, Record<string, Record<string, number | null>[]>> = {};
/** "peer workload" → why it failed; a failed pair is not retried in later rounds. */
const failures = new Map<string, string>();
for (let round = 0; round < rounds; round++) {
	for (const w of workloads) {
		const order = rotate(
			peers.filter((p) => !unavailable.has(p.id)),
			round,
		);
		for (const peer of order) {
			const tag = `round ${round + 1}/${rounds}  ${w.padEnd(7)} ${peer.id.padEnd(13)}`;
			if (failures.has(`${peer.id} ${w}`)) continue;
			try {
				const result = await runTask(peer, w, SIZES[mode][w]);
				((results[w] ??= {})[peer.id] ??= []).push(result);
				console.log(`${tag} ${summary(result)}`);
			} catch (error) {
				failures.set(`${peer.id} ${w}`, (error as Error).message);
				console.log(`${tag} FAILED: ${(error as Error).message}`);
			}
		}
	}
}

const medians: Medians = {};
for (const [w, byPeer] of Object.entries(results)) {
	for (const [peer, list] of Object.entries(byPeer)) {
		const keys = new Set(list.flatMap((r) => Object.keys(r)));
		const m: Record<string, number> = {};
		for (const k of keys) m[k] = median(list.map((r) => r[k]));
		(medians[peer] ??= {})[w as Workload] = m;
	}
}

const elapsedSec = (performance.now() - started) / 1000;
if (trace) {
	const table = traceTable(medians);
	mkdirSync(outDir, { recursive: true });
	writeFileSync(join(outDir, 'trace.md'), table);
	console.log(`\n${table}\nwrote ${relative(process.cwd(), join(outDir, 'trace.md'))} in ${elapsedSec.toFixed(0)} s`);
	process.exit(0);
}
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const report = {
	date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
	command,
	mode,
	rounds,
	elapsedSec,
	machine: machine(),
	versions: versions(),
	params: Object.fromEntries(workloads.map((w) => [w, SIZES[mode][w]])),
	peers: peers.map((p) => ({
		id: p.id,
		label: p.label,
		...(p.subject ? { subject: true } : {}),
		...(unavailable.has(p.id) ? { unavailable: unavailable.get(p.id)! } : {}),
	})),
	failures: Object.fromEntries(failures),
	medians,
	results,
};
const md = markdown(report);
const svg = chart(
	medians,
	'pidfd-node',
	peers.filter((p) => !p.subject && !unavailable.has(p.id)),
	'pidfd on Node vs. each peer (× better; medians)',
);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(report, null, '\t')}\n`);
writeFileSync(join(outDir, 'latest.md'), md);
writeFileSync(join(outDir, 'latest.svg'), svg);
console.log(`\n${md}`);
console.log(
	`wrote ${['latest.json', 'latest.md', 'latest.svg'].map((f) => relative(process.cwd(), join(outDir, f))).join(', ')} in ${elapsedSec.toFixed(0)} s`,
);
if (scripts) runScriptsSection();

/** The scripts section in its own process, with this run's rounds and sizes. */
function runScriptsSection(): void {
	const sizes = opts.quick ? ['--n', '30', '--bytes', String(16 * 1024 * 1024)] : [];
	const args = ['--import', 'tsx', join(ROOT, 'bench', 'scripts', 'run.ts'), '--rounds', String(rounds), ...sizes, '--out', join(outDir, 'scripts.md')];
	console.log(`\npidfd bench: scripts (runSync, kernel pipelines)`);
	const done = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
	if (done.status !== 0) console.log(`scripts section failed: ${done.signal ?? `exit ${done.status}`}`);
}

/** One tiny task per peer first: a peer that cannot run at all is reported, not retried. */
async function preflight(): Promise<void> {
	await Promise.all(
		peers
			.filter((p) => !unavailable.has(p.id))
			.map(async (p) => {
				try {
					await runTask(p, 'seq', { n: 3, warmup: 1, block: 1 });
				} catch (error) {
					unavailable.set(p.id, (error as Error).message);
				}
			}),
	);
	for (const p of peers) if (unavailable.has(p.id)) console.log(`skipping ${p.label}: ${unavailable.get(p.id)}`);
}

/** Runs one driver process and parses the JSON line it prints last. */
function runTask(peer: Peer, workload: Workload, params: Params): Promise<Record<string, number | null>> {
	if (typeof peer.command !== 'function') return Promise.reject(new Error(peer.command.unavailable));
	const [file, ...args] = peer.command(workload, params);
	return new Promise((resolve, reject) => {
		const env = trace ? { ...process.env, PIDFD_TRACE: '1' } : process.env;
		const child = spawn(file!, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
		child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
		const timer = setTimeout(() => {
			stderr += `\nerror: no result after ${TASK_TIMEOUT_MS[mode] / 1000} s, killed`;
			child.kill('SIGKILL');
		}, TASK_TIMEOUT_MS[mode]);
		child.once('error', reject);
		child.once('close', (code, signal) => {
			clearTimeout(timer);
			const last = stdout.trim().split('\n').pop() ?? '';
			if (code === 0 && last.startsWith('{')) return resolve(JSON.parse(last));
			reject(new Error(`${signal ?? `exit ${code}`}: ${firstError(stderr) || last || 'no output'}`));
		});
	});
}

/** The line of a runtime's error output that says what went wrong, without colours. */
function firstError(stderr: string): string {
	const lines = stderr
		.replace(/\x1b\[[0-9;]*m/g, '')
		.split('\n')
		.map((l) => l.trim());
	return lines.find((l) => /error/i.test(l))?.replace(/^error: /, '') ?? lines.find(Boolean) ?? '';
}

function rotate<T>(list: T[], by: number): T[] {
	const k = list.length ? by % list.length : 0;
	return [...list.slice(k), ...list.slice(0, k)];
}

function summary(r: Record<string, number | null>): string {
	const show = (k: string, unit: string, d = 0) => (typeof r[k] === 'number' ? `${r[k]!.toFixed(d)} ${unit}` : undefined);
	return [
		show('opsPerSec', 'ops/s'),
		show('p50Us', 'µs p50'),
		show('p99Us', 'µs p99'),
		show('blockP50Us', 'µs blocked'),
		show('mibPerSec', 'MiB/s'),
		show('startMs', 'ms start'),
		show('killMs', 'ms kill'),
		show('wallMs', 'ms wall'),
		show('hostRssGrowthMiB', 'MiB host', 1),
		show('loadedRatio', '× loaded', 2),
	]
		.filter(Boolean)
		.join(', ');
}

function machine(): Record<string, string | number> {
	const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
	let os = 'Linux';
	try {
		os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
	} catch {
		// no os-release: keep "Linux"
	}
	return {
		cpu: cpus()[0]?.model.trim() ?? 'unknown',
		cores: cpus().length,
		memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
		kernel: release,
		os,
		'load average (1 min) at start/end': `${loadAtStart}/${loadavg()[0]!.toFixed(2)}`,
	};
}

/**
 * The trace breakdown: one row per stage, p50 and p99 (µs) per peer and workload, each the
 * median over rounds of that round's percentile.
 */
function traceTable(m: Medians): string {
	const columns: { head: string; fields: Record<string, number> }[] = [];
	for (const [peer, byWorkload] of Object.entries(m))
		for (const [w, fields] of Object.entries(byWorkload)) columns.push({ head: `${peer} ${w}`, fields: fields as Record<string, number> });
	const stages = [...new Set(columns.flatMap((c) => Object.keys(c.fields)))]
		.filter((k) => k.startsWith('trace ') && k.endsWith(' p50'))
		.map((k) => k.slice('trace '.length, -' p50'.length));
	const us = (v: number | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(1) : '—');
	const lines = [
		`# pidfd trace (PIDFD_TRACE=1)`,
		'',
		`${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, \`npm run bench -- ${process.argv.slice(2).join(' ')}\`, ${rounds} round(s); µs, median over rounds of each round's p50 and p99.`,
		'',
		`| stage | ${columns.map((c) => `${c.head} p50 | ${c.head} p99`).join(' | ')} |`,
		`|---|${columns.map(() => '--:|--:').join('|')}|`,
		...stages.map((s) => `| ${s} | ${columns.map((c) => `${us(c.fields[`trace ${s} p50`])} | ${us(c.fields[`trace ${s} p99`])}`).join(' | ')} |`),
		'',
	];
	return lines.join('\n');
}
