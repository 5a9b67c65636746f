/**
 * `npm run bench:terminal`: terminal children on every runtime, beside Bun.Terminal and, when it
 * can be loaded, node-pty (a native addon: `npm i --no-save node-pty`, or PIDFD_BENCH_NODE_PTY
 * naming its lib/index.js). Rounds interleave the peers; medians go to
 * bench/results/terminal.md with ratios against node-pty.
 *   npm run bench:terminal -- --rounds 5 --bytes 67108864
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../peers.js';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, bytes: { type: 'string' }, out: { type: 'string' } } });
const rounds = Number(values.rounds ?? 3);
const bytes = String(values.bytes ?? 64 * 1024 * 1024);
const out = values.out ?? join(ROOT, 'bench', 'results', 'terminal.md');
const driver = join(ROOT, 'bench', 'terminal', 'driver.mjs');
const bundle = join(ROOT, 'dist', 'pidfd.mjs');
const bun = join(ROOT, 'node_modules', '.bin', 'bun');
const deno = join(ROOT, 'node_modules', '.bin', 'deno');

function nodePty(): string | undefined {
	if (process.env.PIDFD_BENCH_NODE_PTY) return process.env.PIDFD_BENCH_NODE_PTY;
	try {
		return createRequire(join(ROOT, 'package.json')).resolve('node-pty');
	} catch {
		return undefined;
	}
}

interface Peer {
	id: string;
	label: string;
	argv?: string[];
	missing?: string;
}

const pty = nodePty();
const peers: Peer[] = [
	{ id: 'pidfd-node', label: 'pidfd (Node)', argv: [process.execPath, driver, 'pidfd', bundle, bytes] },
	{ id: 'pidfd-node-relay', label: 'pidfd (Node, relay)', argv: [process.execPath, driver, 'pidfd-relay', bundle, bytes] },
	{ id: 'pidfd-bun', label: 'pidfd (Bun)', argv: [bun, driver, 'pidfd', bundle, bytes] },
	{
		id: 'pidfd-deno',
		label: 'pidfd (Deno)',
		argv: [deno, 'run', '--allow-run', '--allow-read', '--allow-env', '--allow-hrtime', driver, 'pidfd', bundle, bytes],
	},
	{ id: 'bun-terminal', label: 'Bun.Terminal', argv: [bun, driver, 'bun', '', bytes] },
	pty
		? { id: 'node-pty', label: 'node-pty (Node)', argv: [process.execPath, driver, 'node-pty', pty, bytes] }
		: { id: 'node-pty', label: 'node-pty (Node)', missing: 'not installed (npm i --no-save node-pty)' },
];
if (!existsSync(bundle)) throw new Error('dist/pidfd.mjs missing: npm run build');

type Result = { start: number; output: number; echo: { p50: number; p99: number } };
const results = new Map<string, Result[]>();
for (let round = 0; round < rounds; round++) {
	const order = peers.filter((p) => p.argv);
	for (let i = 0; i < order.length; i++) {
		const peer = order[(i + round) % order.length]!;
		const [file, ...args] = peer.argv!;
		let line: string;
		try {
			line = execFileSync(file!, args, { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop()!;
		} catch (error) {
			// One failed task costs its peer that round, not the run.
			console.log(`round ${round + 1} ${peer.id}: failed (${(error as Error).message.split('\n')[0]})`);
			continue;
		}
		const list = results.get(peer.id) ?? [];
		list.push(JSON.parse(line) as Result);
		results.set(peer.id, list);
		console.log(`round ${round + 1} ${peer.id}: ${line}`);
	}
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const med = (id: string, pick: (r: Result) => number) => {
	const list = results.get(id);
	return list ? median(list.map(pick)) : undefined;
};
const metrics: [string, (r: Result) => number, 'higher' | 'lower', number][] = [
	['start of a terminal child to its first output (ms)', (r) => r.start, 'lower', 2],
	[`output of ${Number(bytes) / 1048576} MiB through the terminal (MiB/s)`, (r) => r.output, 'higher', 1],
	['keystroke echo p50 (µs)', (r) => r.echo.p50, 'lower', 0],
	['keystroke echo p99 (µs)', (r) => r.echo.p99, 'lower', 0],
];
const fmt = (v: number | undefined, d: number) => (v === undefined ? '—' : v.toFixed(d));
const lines = [
	'# Terminal benchmark',
	'',
	`${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, \`npm run bench:terminal -- --rounds ${rounds}\`, rounds interleaved. Medians.`,
	'',
	`| metric | ${peers.map((p) => p.label).join(' | ')} |`,
	`|---|${peers.map(() => '--:').join('|')}|`,
	...metrics.map(([name, pick, , d]) => `| ${name} | ${peers.map((p) => fmt(med(p.id, pick), d)).join(' | ')} |`),
	'',
];
if (results.has('node-pty')) {
	lines.push('pidfd ÷ node-pty (above 1: pidfd better, whatever the direction of the metric):', '');
	lines.push(
		`| metric | ${peers
			.filter((p) => p.id.startsWith('pidfd'))
			.map((p) => p.label)
			.join(' | ')} |`,
	);
	lines.push(
		`|---|${peers
			.filter((p) => p.id.startsWith('pidfd'))
			.map(() => '--:')
			.join('|')}|`,
	);
	for (const [name, pick, better] of metrics) {
		const base = med('node-pty', pick)!;
		const cells = peers
			.filter((p) => p.id.startsWith('pidfd'))
			.map((p) => {
				const v = med(p.id, pick);
				return v === undefined ? '—' : `${(better === 'higher' ? v / base : base / v).toFixed(2)}×`;
			});
		lines.push(`| ${name} | ${cells.join(' | ')} |`);
	}
	lines.push('');
}
for (const p of peers) if (p.missing) lines.push(`${p.label}: ${p.missing}.`);
writeFileSync(out, `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
