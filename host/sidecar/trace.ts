// PIDFD_TRACE=1: where the time of a spawn and of an exit goes, stage by stage, on the host
// and in the sidecar (its TRACE events, sidecar/PROTOCOL.md). Off by default; off, every
// hook is one test of a constant and nothing is recorded or sent.
//
// The sidecar stamps CLOCK_MONOTONIC. Node's hrtime is that clock, so host and sidecar stamps
// of one request subtract as they are. Bun's and Deno's hrtime count from their own start
// instead, and no JavaScript API of theirs reads CLOCK_MONOTONIC: there the offset between
// the clocks is taken from the stamps themselves (TraceLog#clockOffset).

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

/** µs on the host's monotonic clock (CLOCK_MONOTONIC on Node). */
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

/** The stages stamped by the sidecar, on its clock. */
const SIDECAR_SPAWN_STAGES: readonly SpawnStage[] = ['sidecar read', 'clone', 'exec confirmed', 'reply written'];
const SIDECAR_EXIT_STAGES: readonly ExitStage[] = ['pidfd readable', 'waitid', 'EXIT written'];

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
	 * Host clock minus sidecar clock (µs), and how far off it may be. Every crossing bounds it:
	 * a request is read after it was written (offset ≥ written − read), a reply or an EXIT is
	 * decoded after it was written (offset ≤ decoded − written). Where 0 is inside the bounds
	 * the clocks are taken as one (Node: they are); else the midpoint, which splits each
	 * round trip's crossings as its fastest pair was split, evenly. A crossing's estimate is
	 * then off by at most `uncertainty`; the sum of the two crossings of a request is exact.
	 */
	clockOffset(): { offset: number; uncertainty: number } {
		let low = Number.NEGATIVE_INFINITY;
		let high = Number.POSITIVE_INFINITY;
		for (const { spawn, exit } of this.records) {
			const written = spawn['request written'];
			const read = spawn['sidecar read'];
			const replied = spawn['reply written'];
			const decoded = spawn['host decoded'];
			if (written !== undefined && read !== undefined) low = Math.max(low, written - read);
			if (replied !== undefined && decoded !== undefined) high = Math.min(high, decoded - replied);
			const exitWritten = exit['EXIT written'];
			const exitDecoded = exit['host decoded'];
			if (exitWritten !== undefined && exitDecoded !== undefined) high = Math.min(high, exitDecoded - exitWritten);
		}
		if (!Number.isFinite(low) || !Number.isFinite(high) || (low <= 0 && high >= 0)) return { offset: 0, uncertainty: 0 };
		return { offset: (low + high) / 2, uncertainty: Math.abs(high - low) / 2 };
	}

	/**
	 * p50 and p99 (µs) of each stage: the time from the stage before it to it, over the
	 * records that have both, after skipping the first `skip` records (a warm-up). Sidecar
	 * stamps are moved onto the host's clock first; where that took an estimate, one more
	 * row says how far a crossing's figure may be off.
	 */
	stages(skip = 0): TraceStage[] {
		// Every record bounds the offset, the warm-up's too: more crossings, tighter bounds.
		const { offset, uncertainty } = this.clockOffset();
		const records = this.records.slice(skip).map((r) => onHostClock(r, offset));
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
		if (uncertainty > 0) rows.push({ part: 'clock', stage: 'crossings ± (clock offset estimated)', n: records.length, p50: uncertainty, p99: uncertainty });
		return rows;
	}

	/** Forgets everything recorded so far (a warm-up). */
	clear(): void {
		this.records.length = 0;
		this.#byId.clear();
		this.#byHandle.clear();
	}
}

/** A copy of `r` with the sidecar's stamps moved onto the host's clock. */
function onHostClock(r: TraceRecord, offset: number): TraceRecord {
	if (offset === 0) return r;
	const spawn = { ...r.spawn };
	const exit = { ...r.exit };
	for (const stage of SIDECAR_SPAWN_STAGES) if (spawn[stage] !== undefined) spawn[stage] += offset;
	for (const stage of SIDECAR_EXIT_STAGES) if (exit[stage] !== undefined) exit[stage] += offset;
	return { ...r, spawn, exit };
}

/** One row of the breakdown: a stage's p50 and p99 in µs over `n` records. */
export interface TraceStage {
	/** 'clock': how far the crossings may be off, where the host's clock is not the sidecar's. */
	part: 'spawn' | 'exit' | 'clock';
	stage: string;
	n: number;
	p50: number;
	p99: number;
}

const kTrace = Symbol.for('pidfd.trace');

/** The host's trace log when tracing, else undefined. */
export const traceLog: TraceLog | undefined = tracing ? ((globalThis as { [kTrace]?: TraceLog })[kTrace] ??= new TraceLog()) : undefined;
