/** The markdown report: machine, medians of every peer, pidfd/peer ratios, the issue's targets. */
import { advantage, auto, fmt, METRICS, type Medians, ratio, targets } from './metrics.js';

export interface ReportInput {
	date: string;
	command: string;
	rounds: number;
	mode: string;
	machine: Record<string, string | number>;
	versions: Record<string, string>;
	params: Record<string, Record<string, number>>;
	peers: { id: string; label: string; subject?: boolean; unavailable?: string }[];
	/** "peer workload" → why that task failed. */
	failures: Record<string, string>;
	medians: Medians;
	elapsedSec: number;
}

export function markdown(r: ReportInput): string {
	const ran = r.peers.filter((p) => !p.unavailable);
	const others = ran.filter((p) => !p.subject);
	const lines: string[] = [];
	lines.push(`# pidfd benchmarks (${r.mode})`, '');
	lines.push(`${r.date}, \`${r.command}\`, ${r.rounds} round${r.rounds === 1 ? '' : 's'} interleaved across peers, ${fmt(r.elapsedSec, 0)} s in all.`, '');
	lines.push(
		`Machine: ${Object.entries(r.machine)
			.map(([k, v]) => `${k} ${v}`)
			.join(' · ')}  `,
	);
	lines.push(
		`Runtimes: ${Object.entries(r.versions)
			.map(([k, v]) => `${k} ${v}`)
			.join(' · ')}`,
		'',
	);
	lines.push(
		`Workloads: ${Object.entries(r.params)
			.map(([w, p]) => `${w} ${JSON.stringify(p)}`)
			.join(' · ')}`,
		'',
	);

	lines.push('## Medians', '');
	lines.push(`| metric | ${ran.map((p) => p.label).join(' | ')} |`);
	lines.push(`|---|${ran.map(() => '--:').join('|')}|`);
	for (const m of METRICS) {
		const cells = ran.map((p) => auto(r.medians[p.id]?.[m.workload]?.[m.key] ?? Number.NaN));
		if (cells.every((c) => c === '—')) continue;
		lines.push(`| ${m.label} (${m.unit}, ${m.better} is better) | ${cells.join(' | ')} |`);
	}
	lines.push('');

	for (const subject of ran.filter((p) => p.subject)) {
		lines.push(`## ${subject.label} / peer`, '');
		lines.push(`Ratio of medians, pidfd ÷ peer; **bold** where pidfd is ahead.`, '');
		lines.push(`| metric | ${others.map((p) => p.label).join(' | ')} |`);
		lines.push(`|---|${others.map(() => '--:').join('|')}|`);
		for (const m of METRICS.filter((x) => x.headline)) {
			const cells = others.map((p) => {
				const x = ratio(r.medians, subject.id, p.id, m);
				if (!Number.isFinite(x)) return '—';
				return advantage(r.medians, subject.id, p.id, m) > 1 ? `**${fmt(x, 2)}×**` : `${fmt(x, 2)}×`;
			});
			if (cells.every((c) => c === '—')) continue;
			lines.push(`| ${m.label} (${m.better} is better) | ${cells.join(' | ')} |`);
		}
		lines.push('');
	}

	lines.push('## Targets (pidfd on Node unless named)', '');
	lines.push('| target | measured | met |', '|---|--:|:-:|');
	for (const t of targets(r.medians)) lines.push(`| ${t.text} | ${t.measured} | ${t.pass === null ? 'n/a' : t.pass ? 'yes' : '**no**'} |`);
	lines.push('');

	const missing = r.peers.filter((p) => p.unavailable);
	const failed = Object.entries(r.failures);
	if (missing.length || failed.length) {
		lines.push('## Not run or failed', '');
		for (const p of missing) lines.push(`- ${p.label}: ${p.unavailable}`);
		for (const [what, why] of failed) {
			const [id, workload] = what.split(' ');
			lines.push(`- ${r.peers.find((p) => p.id === id)?.label ?? id}, ${workload}: ${why}`);
		}
		lines.push('');
	}
	lines.push('## Reproduce', '');
	lines.push(
		'```sh',
		'npm install        # builds dist/ and installs the peers (bun, deno, execa)',
		'npm run bench      # about 15 minutes on 2 cores, with the scripts section',
		'npm run bench -- --quick   # one small round, ~30 s',
		'```',
		'',
	);
	lines.push(
		'Each task is one fresh process per peer and workload (Node with tsx, Bun, Deno, or the C floor compiled with `cc -O2`), run one after another, the peer order rotating each round. Latencies are from the call to the moment the exit is observed by the host; "event loop blocked" is from the spawn call until a `setImmediate` queued right after it runs.',
		'',
	);
	return lines.join('\n');
}
