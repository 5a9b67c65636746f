/**
 * The workloads every JS driver runs, written once against a tiny Adapter so that only the
 * spawn API differs between peers. Runs unchanged on Node, Bun and Deno: it uses nothing
 * but `performance`, `node:` built-ins they all provide, and /proc.
 *
 * A driver process runs one workload once: `driver WORKLOAD '{"n":500,...}'`, and prints
 * one JSON line on stdout (the same fields bench/floor.c prints). One process per task
 * keeps the runs apart: a 256 MiB capture never inflates the next RSS reading.
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { setImmediate } from 'node:timers';
import { percentile } from '../stats.js';

/** A started child: resolves `exited` once its exit has been observed by the host. */
export interface Proc {
	exited: Promise<unknown>;
	kill(): unknown;
}

/** The spawn API of one peer. */
export interface Adapter {
	/** Starts `file` with stdio ignored; the Proc (or its promise) once it is running. */
	start(file: string, args: string[]): Proc | Promise<Proc>;
	/** Runs `file` and collects its stdout in memory; resolves with the byte count. */
	capture(file: string, args: string[], maxBytes: number): Promise<number>;
	/** pid of a helper process doing the work for the host (pidfd's sidecar), if any. */
	helperPid?(): Promise<number>;
	/** More fields for the result, once the workload is done (pidfd's trace, with PIDFD_TRACE=1). */
	extra?(params: Params): Result;
}

export type Params = Record<string, number>;
export type Result = Record<string, number | string | null>;

const SLEEP = ['/bin/sleep', ['600']] as const;
const TRUE = '/bin/true';

export async function main(adapter: Adapter): Promise<void> {
	const [workload = '', json = '{}'] = process.argv.slice(2);
	const params = JSON.parse(json) as Params;
	const run = WORKLOADS[workload];
	if (!run) throw new Error(`unknown workload ${workload}`);
	const result = { ...(await run(adapter, params)), ...adapter.extra?.(params) };
	process.stdout.write(`${JSON.stringify(result)}\n`);
	// Bun and Deno keep no handle open for a finished child; Node's pidfd sidecar is unref'd.
	// Exit explicitly anyway: a lingering handle must not stall the whole bench.
	process.exit(0);
}

const WORKLOADS: Record<string, (a: Adapter, p: Params) => Promise<Result>> = {
	/** (1) sequential spawn+wait, (6) host CPU per spawn, and how long spawn() blocks the loop. */
	async seq(a, { n = 500, warmup = 50, block = 200 }) {
		await seqLatencies(a, warmup);
		const helper = a.helperPid ? await a.helperPid() : 0;
		const helperCpu0 = helper ? procCpuUs(helper) : 0;
		const cpu0 = process.cpuUsage();
		const t0 = performance.now();
		const lat = await seqLatencies(a, n);
		const elapsed = performance.now() - t0;
		const cpu = process.cpuUsage(cpu0);
		const helperCpu = helper ? procCpuUs(helper) - helperCpu0 : null;
		const blocked = await blockTimes(a, block);
		return {
			opsPerSec: n / (elapsed / 1000),
			p50Us: percentile(lat, 50),
			p99Us: percentile(lat, 99),
			hostCpuUsPerSpawn: (cpu.user + cpu.system) / n,
			helperCpuUsPerSpawn: helperCpu === null ? null : helperCpu / n,
			callP50Us: percentile(blocked.call, 50),
			blockP50Us: percentile(blocked.loop, 50),
			blockP99Us: percentile(blocked.loop, 99),
		};
	},

	/**
	 * (2) `inflight` children at a time, `n` in all, or as many as start within `budgetMs`:
	 * the rate is the same either way, and a slow peer (child_process takes 50 s for 5,000
	 * on 2 busy cores) still gets a figure within the task's time limit.
	 */
	async flight(a, { n = 5000, inflight = 64, warmup = 50, budgetMs = Number.POSITIVE_INFINITY }) {
		await seqLatencies(a, warmup);
		const t0 = performance.now();
		const stopAt = t0 + budgetMs;
		let started = 0;
		const lane = async () => {
			while (started < n && performance.now() < stopAt) {
				started++;
				const p = await a.start(TRUE, []);
				await p.exited;
			}
		};
		await Promise.all(Array.from({ length: inflight }, lane));
		return { opsPerSec: started / ((performance.now() - t0) / 1000) };
	},

	/** (3) SIGKILL a running sleep; time until the host has observed its exit. */
	async kill(a, { n = 200, warmup = 20 }) {
		const lat: number[] = [];
		for (let i = 0; i < warmup + n; i++) {
			const p = await a.start(...sleepArgs());
			const t0 = performance.now();
			p.kill();
			await p.exited;
			if (i >= warmup) lat.push((performance.now() - t0) * 1000);
		}
		return { p50Us: percentile(lat, 50), p99Us: percentile(lat, 99) };
	},

	/** (4) capture of `head -c BYTES /dev/zero` into memory. */
	async capture(a, { bytes = 256 * 1024 * 1024 }) {
		await a.capture('head', ['-c', '1M', '/dev/zero'], 2 * 1024 * 1024); // warm-up
		const t0 = performance.now();
		const got = await a.capture('head', ['-c', String(bytes), '/dev/zero'], bytes + 1);
		const elapsed = performance.now() - t0;
		if (got !== bytes) throw new Error(`captured ${got} of ${bytes} bytes`);
		return { mibPerSec: bytes / 1048576 / (elapsed / 1000) };
	},

	/**
	 * (5) `n` live sleeps: time to start them (64 requests in flight, which only helps an
	 * async spawn), host RSS growth, helper RSS, spawn latency beside them vs. idle, and
	 * time to kill and reap them all.
	 */
	async many(a, { n = 1000, probe = 200, inflight = 64 }) {
		await seqLatencies(a, 20);
		const idle = percentile(await seqLatencies(a, probe), 50);
		collectGarbage();
		const rss0 = process.memoryUsage().rss;
		const procs: Proc[] = [];
		const t0 = performance.now();
		let next = 0;
		const lane = async () => {
			while (next < n) {
				const i = next++;
				procs[i] = await a.start(...sleepArgs());
			}
		};
		await Promise.all(Array.from({ length: Math.min(inflight, n) }, lane));
		const startMs = performance.now() - t0;
		collectGarbage();
		const hostRssGrowthMiB = (process.memoryUsage().rss - rss0) / 1048576;
		const helper = a.helperPid ? await a.helperPid() : 0;
		const helperRssMiB = helper ? procRssMiB(helper) : null;
		const loaded = percentile(await seqLatencies(a, probe), 50);
		const t1 = performance.now();
		for (const p of procs) p.kill();
		await Promise.all(procs.map((p) => p.exited));
		const killMs = performance.now() - t1;
		return { startMs, hostRssGrowthMiB, helperRssMiB, idleP50Us: idle, loadedP50Us: loaded, loadedRatio: loaded / idle, killMs };
	},

	/**
	 * (7) `n` captures of `bytes` each, all started at once: wall time until every one has
	 * resolved with all its bytes. Many streams in flight together, where a relay multiplexes
	 * them over one connection and direct pipes each have their own.
	 */
	async fanout(a, { n = 256, bytes = 1024 * 1024 }) {
		await a.capture('head', ['-c', '1M', '/dev/zero'], 2 * 1024 * 1024); // warm-up
		const t0 = performance.now();
		const got = await Promise.all(Array.from({ length: n }, () => a.capture('head', ['-c', String(bytes), '/dev/zero'], bytes + 1)));
		const wallMs = performance.now() - t0;
		const short = got.findIndex((g) => g !== bytes);
		if (short >= 0) throw new Error(`capture ${short} got ${got[short]} of ${bytes} bytes`);
		return { wallMs };
	},
};

/**
 * A full GC where the runtime allows one (Node and Deno with --expose-gc, Bun always), so
 * RSS growth counts what 1,000 children keep alive rather than garbage not yet collected.
 */
function collectGarbage(): void {
	const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
	if (g.gc) g.gc();
	else g.Bun?.gc(true);
}

function sleepArgs(): [string, string[]] {
	return [SLEEP[0], [...SLEEP[1]]];
}

/** Latencies (µs) of `n` sequential spawn+wait of /bin/true: call to exit observed. */
async function seqLatencies(a: Adapter, n: number): Promise<number[]> {
	const lat: number[] = [];
	for (let i = 0; i < n; i++) {
		const t0 = performance.now();
		const p = await a.start(TRUE, []);
		await p.exited;
		lat.push((performance.now() - t0) * 1000);
	}
	return lat;
}

/**
 * How long one spawn() keeps the event loop from doing anything else: from the call until
 * a setImmediate queued right after it runs. That covers the synchronous call (a fork in
 * child_process) and the microtasks and nextTicks it queues (pidfd encodes and writes its
 * request there), but not the wait for the child. `call` is the bare call-to-return time.
 */
async function blockTimes(a: Adapter, n: number): Promise<{ call: number[]; loop: number[] }> {
	const call: number[] = [];
	const loop: number[] = [];
	for (let i = 0; i < n; i++) {
		const t0 = performance.now();
		const started = a.start(TRUE, []);
		const t1 = performance.now();
		await new Promise((resolve) => setImmediate(resolve));
		const t2 = performance.now();
		await (await started).exited;
		call.push((t1 - t0) * 1000);
		loop.push((t2 - t0) * 1000);
	}
	return { call, loop };
}

/** utime+stime of another process, µs (clock ticks of 10 ms: use over long runs only). */
function procCpuUs(pid: number): number {
	const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
	const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
	return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function procRssMiB(pid: number): number {
	const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
	return match ? Number(match[1]) / 1024 : Number.NaN;
}
