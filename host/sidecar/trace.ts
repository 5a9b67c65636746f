// PIDFD_TRACE=1: where the time of a spawn and of an exit goes, stage by stage, on the host
// and in the sidecar (its TRACE events, sidecar/PROTOCOL.md). Off by default; off, every
// hook is one test of a constant and nothing is recorded or sent.
//
// Times are µs of CLOCK_MONOTONIC, the clock the sidecar reads too (Node's hrtime is it), so
// host and sidecar stamps of one request can be subtracted.

/** Read once, at load: a later change of the environment does not turn tracing on or off. */
export const tracing: boolean = readFlag();

function readFlag(): boolean {
	try {
		return process.env.PIDFD_TRACE === '1';
	} catch {
		// Deno without --allow-env: no tracing.
		return false;
	}
}

/** µs on CLOCK_MONOTONIC. */
export function traceNow(): number {
	const [s, ns] = process.hrtime();
	return s * 1e6 + ns / 1e3;
}

/** The stages of a spawn, in order: the time each was reached. */
export const SPAWN_STAGES = [
	'spawn() called',
	'request encoded',
	'request written',
	'sidecar read',
	'clone',
	'exec confirmed',
	'reply written',
	'host decoded',
	'promise settled',
] as const;

/** The stages of an exit, in order. */
export const EXIT_STAGES = ['pidfd readable', 'waitid', 'EXIT written', 'host decoded', 'wait() settled'] as const;

export type SpawnStage = (typeof SPAWN_STAGES)[number];
export type ExitStage = (typeof EXIT_STAGES)[number];

/** One spawn (and, once known, its exit): stage → µs. */
export interface TraceRecord {
	id: number;
	handle: number;
	spawn: Partial<Record<SpawnStage, number>>;
	exit: Partial<Record<ExitStage, number>>;
}

/**
 * Everything traced by this host, shared by every copy of the library in it (a bundle and
 * the sources) under one global symbol: `globalThis[Symbol.for('pidfd.trace')]`.
 */
export class TraceLog {
	readonly records: TraceRecord[] = [];
	readonly #byId = new Map<number, TraceRecord>();
	readonly #byHandle = new Map<number, TraceRecord>();

	/** A request leaves with id `id`; `called` is when spawn() was called, if known. */
	request(id: number, called: number | undefined, encoded: number): TraceRecord {
		const record: TraceRecord = { id, handle: 0, spawn: { 'request encoded': encoded }, exit: {} };
		if (called !== undefined) record.spawn['spawn() called'] = called;
		this.#byId.set(id, record);
		this.records.push(record);
		return record;
	}

	/** The corked writes of one tick went out. */
	written(records: TraceRecord[], at: number): void {
		for (const r of records) r.spawn['request written'] = at;
	}

	/** The reply to request `id` arrived: it names the handle its exit will come under. */
	replied(id: number, handle: number, at: number): void {
		const record = this.#byId.get(id);
		if (!record) return;
		record.spawn['host decoded'] = at;
		if (handle) {
			record.handle = handle;
			this.#byHandle.set(handle, record);
		}
	}

	settled(record: TraceRecord, at: number): void {
		record.spawn['promise settled'] = at;
	}

	/** A TRACE event: kind 1 (a spawn, key = request id) or 2 (an exit, key = handle); ns. */
	sidecar(kind: number, key: number, t: [number, number, number, number]): void {
		const us = t.map((ns) => ns / 1e3);
		if (kind === 1) {
			// Sent right after the reply, in the same batch: the request's last word.
			const record = this.#byId.get(key);
			if (!record) return;
			this.#byId.delete(key);
			Object.assign(record.spawn, { 'sidecar read': us[0], clone: us[1], 'exec confirmed': us[2], 'reply written': us[3] });
		} else if (kind === 2) {
			const record = this.#byHandle.get(key);
			if (record) Object.assign(record.exit, { 'pidfd readable': us[0], waitid: us[1], 'EXIT written': us[3] });
		}
	}

	exitDecoded(handle: number, at: number): void {
		const record = this.#byHandle.get(handle);
		if (record) record.exit['host decoded'] = at;
	}

	exitSettled(handle: number, at: number): void {
		const record = this.#byHandle.get(handle);
		if (!record) return;
		this.#byHandle.delete(handle);
		record.exit['wait() settled'] = at;
	}

	/**
	 * p50 and p99 (µs) of each stage: the time from the stage before it to it, over the
	 * records that have both, after skipping the first `skip` records (a warm-up).
	 */
	stages(skip = 0): TraceStage[] {
		const records = this.records.slice(skip);
		const rows: TraceStage[] = [];
		const add = <S extends string>(part: 'spawn' | 'exit', names: readonly S[], get: (r: TraceRecord) => Partial<Record<S, number>>) => {
			for (let i = 1; i <= names.length; i++) {
				const from = i === names.length ? names[0]! : names[i - 1]!;
				const to = names[i === names.length ? names.length - 1 : i]!;
				const values: number[] = [];
				for (const r of records) {
					const t = get(r);
					const a = t[from];
					const b = t[to];
					if (a !== undefined && b !== undefined) values.push(b - a);
				}
				values.sort((x, y) => x - y);
				const pick = (q: number) => (values.length ? values[Math.min(values.length - 1, Math.floor((q / 100) * values.length))]! : Number.NaN);
				rows.push({ part, stage: i === names.length ? 'total' : `${from} → ${to}`, n: values.length, p50: pick(50), p99: pick(99) });
			}
		};
		add('spawn', SPAWN_STAGES, (r) => r.spawn);
		add('exit', EXIT_STAGES, (r) => r.exit);
		return rows;
	}

	/** Forgets everything recorded so far (a warm-up). */
	clear(): void {
		this.records.length = 0;
		this.#byId.clear();
		this.#byHandle.clear();
	}
}

/** One row of the breakdown: a stage's p50 and p99 in µs over `n` records. */
export interface TraceStage {
	part: 'spawn' | 'exit';
	stage: string;
	n: number;
	p50: number;
	p99: number;
}

const kTrace = Symbol.for('pidfd.trace');

/** The host's trace log when tracing, else undefined. */
export const traceLog: TraceLog | undefined = tracing ? ((globalThis as { [kTrace]?: TraceLog })[kTrace] ??= new TraceLog()) : undefined;
