/**
 * What each workload reports, which way is better, and the targets: shared by the
 * markdown report and the chart so both read the numbers the same way.
 */
import type { Workload } from './peers.js';

export interface Metric {
	workload: Workload;
	key: string;
	label: string;
	unit: string;
	better: 'higher' | 'lower';
	/** Shown in the pidfd/peer ratio table and chart. */
	headline?: boolean;
}

export const METRICS: Metric[] = [
	{ workload: 'seq', key: 'opsPerSec', label: 'sequential spawn+wait', unit: 'ops/s', better: 'higher', headline: true },
	{ workload: 'seq', key: 'p50Us', label: 'sequential p50', unit: 'µs', better: 'lower' },
	{ workload: 'seq', key: 'p99Us', label: 'sequential p99', unit: 'µs', better: 'lower' },
	{ workload: 'flight', key: 'opsPerSec', label: '64 in flight', unit: 'ops/s', better: 'higher', headline: true },
	{ workload: 'kill', key: 'p50Us', label: 'kill → exit p50', unit: 'µs', better: 'lower', headline: true },
	{ workload: 'kill', key: 'p99Us', label: 'kill → exit p99', unit: 'µs', better: 'lower' },
	{ workload: 'capture', key: 'mibPerSec', label: 'capture of stdout', unit: 'MiB/s', better: 'higher', headline: true },
	{ workload: 'seq', key: 'hostCpuUsPerSpawn', label: 'host CPU per spawn', unit: 'µs', better: 'lower', headline: true },
	{ workload: 'seq', key: 'helperCpuUsPerSpawn', label: 'sidecar CPU per spawn', unit: 'µs', better: 'lower' },
	{ workload: 'seq', key: 'blockP50Us', label: 'event loop blocked per spawn p50', unit: 'µs', better: 'lower', headline: true },
	{ workload: 'seq', key: 'blockP99Us', label: 'event loop blocked per spawn p99', unit: 'µs', better: 'lower' },
	{ workload: 'seq', key: 'callP50Us', label: 'spawn() call returns p50', unit: 'µs', better: 'lower' },
	{ workload: 'many', key: 'startMs', label: 'live sleeps: start all', unit: 'ms', better: 'lower', headline: true },
	{ workload: 'many', key: 'killMs', label: 'live sleeps: kill+reap all', unit: 'ms', better: 'lower', headline: true },
	{ workload: 'many', key: 'hostRssGrowthMiB', label: 'live sleeps: host RSS growth', unit: 'MiB', better: 'lower' },
	{ workload: 'many', key: 'helperRssMiB', label: 'live sleeps: sidecar RSS', unit: 'MiB', better: 'lower' },
	{ workload: 'many', key: 'idleP50Us', label: 'spawn p50, idle', unit: 'µs', better: 'lower' },
	{ workload: 'many', key: 'loadedP50Us', label: 'spawn p50, sleeps alive', unit: 'µs', better: 'lower' },
	{ workload: 'many', key: 'loadedRatio', label: 'spawn p50 sleeps alive / idle', unit: '×', better: 'lower', headline: true },
	{ workload: 'fanout', key: 'wallMs', label: 'concurrent 1 MiB captures, wall', unit: 'ms', better: 'lower', headline: true },
];

/** Medians: peer id → workload → key → value. */
export type Medians = Record<string, Partial<Record<Workload, Record<string, number>>>>;

export function value(m: Medians, peer: string, workload: Workload, key: string): number {
	return m[peer]?.[workload]?.[key] ?? Number.NaN;
}

/** pidfd/peer, as the issue asks for; NaN when either side is missing. */
export function ratio(m: Medians, subject: string, peer: string, metric: Metric): number {
	return value(m, subject, metric.workload, metric.key) / value(m, peer, metric.workload, metric.key);
}

/** How many times better the subject is (> 1: better), whatever the metric's direction. */
export function advantage(m: Medians, subject: string, peer: string, metric: Metric): number {
	const r = ratio(m, subject, peer, metric);
	return metric.better === 'higher' ? r : 1 / r;
}

export interface Target {
	text: string;
	measured: string;
	pass: boolean | null;
}

/** A target met at `min` or more / `max` or less; `null` where a side of it did not run. */
function atLeast(text: string, x: number, min: number, show = times(x)): Target {
	return { text, measured: show, pass: Number.isFinite(x) ? x >= min : null };
}
function atMost(text: string, x: number, max: number, show = times(x)): Target {
	return { text, measured: show, pass: Number.isFinite(x) ? x <= max : null };
}

/** The targets, checked against pidfd on Node. `null`: a side of it did not run. */
export function targets(m: Medians, subject = 'pidfd-node'): Target[] {
	const v = (peer: string, w: Workload, key: string) => value(m, peer, w, key);
	const me = (w: Workload, key: string) => v(subject, w, key);
	const seqFloor = me('seq', 'opsPerSec') / v('floor', 'seq', 'opsPerSec');
	const seqNode = me('seq', 'opsPerSec') / v('child_process', 'seq', 'opsPerSec');
	const flight = me('flight', 'opsPerSec') / v('floor', 'flight', 'opsPerSec');
	const kill = me('kill', 'p50Us');
	const peersKill = ['child_process', 'execa', 'bun', 'deno'].map((p) => v(p, 'kill', 'p50Us')).filter(Number.isFinite);
	const capBun = me('capture', 'mibPerSec') / v('bun', 'capture', 'mibPerSec');
	const capNode = me('capture', 'mibPerSec') / v('child_process', 'capture', 'mibPerSec');
	return [
		atLeast('seq spawn+wait ≥ 0.9× raw C floor', seqFloor, 0.9),
		atLeast('seq spawn+wait ≥ 1.6× Node child_process', seqNode, 1.6),
		atLeast('64 in flight ≥ 1.0× raw C floor', flight, 1.0),
		atMost('kill → exit p50 ≤ 150 µs', kill, 150, `${fmt(kill, 0)} µs`),
		atMost('kill → exit p50 ahead of every JS peer', kill, Math.min(...peersKill), `${fmt(kill, 0)} µs vs best peer ${fmt(Math.min(...peersKill), 0)} µs`),
		atMost('spawn() blocks the event loop ≤ 50 µs (p50)', me('seq', 'blockP50Us'), 50, `${fmt(me('seq', 'blockP50Us'), 0)} µs`),
		atMost('spawn p50 with 1,000 children alive ≤ 1.1× idle', me('many', 'loadedRatio'), 1.1),
		atLeast('capture ≥ 1.2× Bun', capBun, 1.2),
		atLeast('capture ≥ 2× Node child_process', capNode, 2.0),
		atMost('1,000 children: host RSS growth ≤ 5 MB', me('many', 'hostRssGrowthMiB') * 1.048576, 5, `${fmt(me('many', 'hostRssGrowthMiB') * 1.048576, 1)} MB`),
		atMost('1,000 children: sidecar RSS ≤ 2 MB', me('many', 'helperRssMiB') * 1.048576, 2, `${fmt(me('many', 'helperRssMiB') * 1.048576, 2)} MB`),
		...hostPathTargets(m),
		...relayTargets(m),
	];
}

/** `a`'s value of a metric over `b`'s. */
function ratioOf(m: Medians, a: string, b: string, w: Workload, key: string): number {
	return value(m, a, w, key) / value(m, b, w, key);
}

/** The host path's targets: against the C floor and each runtime's own spawn. */
function hostPathTargets(m: Medians): Target[] {
	return [
		atLeast('seq spawn+wait on Bun ≥ 1.0× Bun.spawn', ratioOf(m, 'pidfd-bun', 'bun', 'seq', 'opsPerSec'), 1),
		atLeast('seq spawn+wait on Deno ≥ 1.0× Deno.Command', ratioOf(m, 'pidfd-deno', 'deno', 'seq', 'opsPerSec'), 1),
		atMost('kill → exit p50 ≤ 1.1× raw C floor', ratioOf(m, 'pidfd-node', 'floor', 'kill', 'p50Us'), 1.1),
		atMost('kill → exit p50 ≤ Bun.spawn', ratioOf(m, 'pidfd-node', 'bun', 'kill', 'p50Us'), 1),
		atMost('kill → exit p99 ≤ 3× raw C floor', ratioOf(m, 'pidfd-node', 'floor', 'kill', 'p99Us'), 3),
		atMost('event loop blocked per spawn() p50 ≤ Bun.spawn', ratioOf(m, 'pidfd-node', 'bun', 'seq', 'blockP50Us'), 1),
		atMost('host CPU per spawn ≤ 2× Bun.spawn', ratioOf(m, 'pidfd-node', 'bun', 'seq', 'hostCpuUsPerSpawn'), 2),
	];
}

/** The relay transport's targets: against the direct path on Node and Deno's own API. */
function relayTargets(m: Medians): Target[] {
	const direct = value(m, 'pidfd-node', 'fanout', 'wallMs');
	const others = ['pidfd-node-relay', 'pidfd-bun', 'pidfd-bun-relay', 'pidfd-deno']
		.map((p) => [p, value(m, p, 'fanout', 'wallMs') / direct] as const)
		.filter(([, x]) => Number.isFinite(x));
	const worst = others.reduce<readonly [string, number]>((a, b) => (b[1] > a[1] ? b : a), ['', Number.NEGATIVE_INFINITY]);
	return [
		atLeast('relay capture ≥ 0.8× the direct path (Node)', ratioOf(m, 'pidfd-node-relay', 'pidfd-node', 'capture', 'mibPerSec'), 0.8),
		atLeast('relay capture on Deno ≥ 1.0× Deno.Command', ratioOf(m, 'pidfd-deno', 'deno', 'capture', 'mibPerSec'), 1.0),
		{
			text: 'concurrent captures: every runtime and transport within 1.5× of Node direct (wall)',
			measured: worst[0] ? `worst ${times(worst[1])} (${worst[0]})` : '—',
			pass: worst[0] ? worst[1] <= 1.5 : null,
		},
	];
}

/** A ratio for tables: `1.23×`. */
function times(x: number): string {
	return `${fmt(x, 2)}×`;
}

/** A number for tables: `digits` decimals, thousands separated, '—' when missing. */
export function fmt(x: number, digits = 0): string {
	if (!Number.isFinite(x)) return '—';
	return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Decimals that suit a value's size. */
export function auto(x: number): string {
	const a = Math.abs(x);
	return fmt(x, a >= 100 ? 0 : a >= 10 ? 1 : 2);
}
