/**
 * `npm run bench:scripts`: synchronous runs and kernel pipelines beside their peers.
 *   - runSync('/bin/true') on Node, Bun and Deno beside child_process.spawnSync, Bun.spawnSync
 *     and Deno.Command#outputSync (ops/s);
 *   - a 3-stage pipeline (`head -c N /dev/zero | cat | wc -c`) by pidfd's pipeline() beside the
 *     same line in `sh -c` and beside child_process piping through Node streams (MiB/s).
 * Rounds interleave the peers; medians go to bench/results/scripts.md.
 *   npm run bench:scripts -- --rounds 5 --n 500 --bytes 268435456 --only sync
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../peers.js';

const { values } = parseArgs({
	options: { rounds: { type: 'string' }, n: { type: 'string' }, bytes: { type: 'string' }, only: { type: 'string' }, out: { type: 'string' } },
});
const rounds = Number(values.rounds ?? 3);
const n = String(values.n ?? 200);
const bytes = String(values.bytes ?? 256 * 1024 * 1024);
const only = values.only?.split(',');
const out = values.out ?? join(ROOT, 'bench', 'results', 'scripts.md');
const driver = join(ROOT, 'bench', 'scripts', 'driver.mjs');
const bundle = join(ROOT, 'dist', 'pidfd.mjs');
const bun = join(ROOT, 'node_modules', '.bin', 'bun');
const deno = join(ROOT, 'node_modules', '.bin', 'deno');
const denoRun = [deno, 'run', '--allow-run', '--allow-read', '--allow-env'];
if (!existsSync(bundle)) throw new Error('dist/pidfd.mjs missing: npm run build');

interface Row {
	id: string;
	label: string;
	argv: string[];
}
const node = process.execPath;
const sections: { id: string; title: string; unit: string; key: 'opsPerSec' | 'mibPerSec'; base: string; rows: Row[] }[] = [
	{
		id: 'sync',
		title: `synchronous run of /bin/true, ${n} in a row`,
		unit: 'ops/s',
		key: 'opsPerSec',
		base: 'spawnSync',
		rows: [
			{ id: 'pidfd-node', label: 'pidfd runSync (Node)', argv: [node, driver, 'sync', 'pidfd', bundle, n] },
			{ id: 'pidfd-bun', label: 'pidfd runSync (Bun)', argv: [bun, driver, 'sync', 'pidfd', bundle, n] },
			{ id: 'pidfd-deno', label: 'pidfd runSync (Deno)', argv: [...denoRun, driver, 'sync', 'pidfd', bundle, n] },
			{ id: 'spawnSync', label: 'child_process.spawnSync (Node)', argv: [node, driver, 'sync', 'child_process', '', n] },
			{ id: 'bun', label: 'Bun.spawnSync', argv: [bun, driver, 'sync', 'bun', '', n] },
			{ id: 'deno', label: 'Deno.Command outputSync', argv: [...denoRun, driver, 'sync', 'deno', '', n] },
		],
	},
	{
		id: 'pipeline',
		title: `3-stage pipeline, ${Number(bytes) / 1048576} MiB: head | cat | wc -c`,
		unit: 'MiB/s',
		key: 'mibPerSec',
		base: 'sh',
		rows: [
			{ id: 'pidfd-node', label: 'pidfd pipeline (Node, direct)', argv: [node, driver, 'pipeline', 'pidfd', bundle, bytes] },
			{ id: 'pidfd-node-relay', label: 'pidfd pipeline (Node, relay)', argv: [node, driver, 'pipeline', 'pidfd-relay', bundle, bytes] },
			{ id: 'pidfd-bun', label: 'pidfd pipeline (Bun)', argv: [bun, driver, 'pipeline', 'pidfd', bundle, bytes] },
			{ id: 'pidfd-deno', label: 'pidfd pipeline (Deno, relay)', argv: [...denoRun, driver, 'pipeline', 'pidfd', bundle, bytes] },
			{ id: 'sh', label: 'sh -c (from Node)', argv: [node, driver, 'pipeline', 'sh', '', bytes] },
			{ id: 'child_process', label: 'child_process, Node streams', argv: [node, driver, 'pipeline', 'child_process', '', bytes] },
		],
	},
];

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
// Other work on the machine skews everything: the report states the load we started under.
const load = `load average ${loadavg()[0]!.toFixed(2)} on ${cpus().length} CPUs at the start`;
const lines = [
	'# Scripts benchmark',
	'',
	`${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, \`npm run bench:scripts -- --rounds ${rounds}\`, rounds interleaved. Medians; ${load}.`,
	'',
];
for (const section of sections.filter((s) => !only || only.includes(s.id))) {
	const results = new Map<string, number[]>();
	for (let round = 0; round < rounds; round++) {
		for (let i = 0; i < section.rows.length; i++) {
			const row = section.rows[(i + round) % section.rows.length]!;
			const [file, ...args] = row.argv;
			try {
				const line = execFileSync(file!, args, { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop()!;
				const value = (JSON.parse(line) as Record<string, number>)[section.key]!;
				results.set(row.id, [...(results.get(row.id) ?? []), value]);
				console.log(`${section.id} round ${round + 1} ${row.id}: ${value.toFixed(1)} ${section.unit}`);
			} catch (error) {
				console.log(`${section.id} round ${round + 1} ${row.id}: failed (${(error as Error).message.split('\n')[0]})`);
			}
		}
	}
	const base = results.get(section.base);
	lines.push(`## ${section.title}`, '', `| | ${section.unit} | ÷ ${section.rows.find((r) => r.id === section.base)!.label} |`, '|---|--:|--:|');
	for (const row of section.rows) {
		const list = results.get(row.id);
		const value = list ? median(list) : undefined;
		const ratio = value !== undefined && base ? `${(value / median(base)).toFixed(2)}×` : '—';
		lines.push(`| ${row.label} | ${value === undefined ? 'failed' : value.toFixed(1)} | ${ratio} |`);
	}
	lines.push('');
}
writeFileSync(out, `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
