// A sidecar binary driven with raw frames, independent of host/: for tests that send what
// the host never would.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { within } from './deadline.js';
import {
	type Frame,
	FrameReader,
	T,
	Writer,
	decodeError,
	decodeExit,
	decodeHello,
	decodeSpawned,
	frame,
	type Hello,
	type SpawnRequest,
	spawnBody,
} from './frames.js';

export const BIN = process.env.PIDFD_SIDECAR ?? join(process.cwd(), 'dist', 'pidfd-sidecar');

/** The hang guard of every wait on the sidecar: generous, never a measurement. */
const LIMIT = 10_000;

export class RawSidecar {
	readonly proc: ChildProcess;
	readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
	hello!: Hello;
	private reader = new FrameReader();
	private queue: Frame[] = [];
	private waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
	private nextId = 1;

	private constructor() {
		this.proc = spawn(BIN, [], { stdio: ['pipe', 'pipe', 'inherit', 0, 1, 2] });
		this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
		this.proc.stdout!.on('data', (chunk: Buffer) => {
			for (const f of this.reader.push(chunk)) this.deliver(f);
		});
		this.proc.stdin!.on('error', () => {}); // EPIPE once it has gone: the exit promise says so
	}

	static async start(): Promise<RawSidecar> {
		const s = new RawSidecar();
		s.hello = decodeHello(
			(
				await within(
					LIMIT,
					s.next((f) => f.type === T.HELLO),
					'HELLO',
				)
			).body,
		);
		return s;
	}

	private deliver(f: Frame): void {
		const i = this.waiters.findIndex((w) => w.pred(f));
		if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(f);
		else this.queue.push(f);
	}

	/** The first frame, queued or future, matching pred. */
	next(pred: (f: Frame) => boolean): Promise<Frame> {
		const i = this.queue.findIndex(pred);
		if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
		return new Promise((resolve) => this.waiters.push({ pred, resolve }));
	}

	/** Frames received and not yet taken that match pred (they stay queued). */
	queued(pred: (f: Frame) => boolean): Frame[] {
		return this.queue.filter(pred);
	}

	/**
	 * A round trip: the sidecar answers requests in order on one pipe, so once this resolves
	 * every frame it wrote before reading it has been received.
	 */
	async sync(): Promise<void> {
		await this.request(T.ALIVE, new Writer().u32(0).bytes());
	}

	write(b: Buffer): void {
		this.proc.stdin!.write(b);
	}

	request(type: number, body: Buffer = Buffer.alloc(0), ms = LIMIT): Promise<Frame> {
		const id = this.nextId++;
		this.write(frame(type, id, body));
		return within(
			ms,
			this.next((f) => f.id === id),
			`reply to type ${type}`,
		);
	}

	spawn(r: SpawnRequest, ms = LIMIT): Promise<Frame> {
		return this.request(T.SPAWN, spawnBody(r), ms);
	}

	/** SPAWN that must succeed: the decoded SPAWNED reply. */
	async spawnOk(r: SpawnRequest): Promise<ReturnType<typeof decodeSpawned>> {
		const f = await this.spawn(r);
		if (f.type === T.ERROR) throw new Error(`spawn failed: ${JSON.stringify(decodeError(f.body))}`);
		if (f.type !== T.SPAWNED) throw new Error(`expected SPAWNED, got type ${f.type}`);
		return decodeSpawned(f.body);
	}

	/** The EXIT event of a handle, decoded. */
	exit(handle: number, ms = LIMIT): Promise<ReturnType<typeof decodeExit>> {
		return within(
			ms,
			this.next((f) => f.type === T.EXIT && f.body.readUInt32LE(0) === handle),
			`EXIT of handle ${handle}`,
		).then((f) => decodeExit(f.body));
	}

	kill(handle: number, sig: number, flags = 0): Promise<Frame> {
		return this.request(T.KILL, new Writer().u32(handle).i32(sig).u32(flags).bytes());
	}

	/** Pids of the sidecar's children, zombies included. */
	children(): number[] {
		const text = readFileSync(`/proc/${this.hello.pid}/task/${this.hello.pid}/children`, 'utf8').trim();
		return text ? text.split(/\s+/).map(Number) : [];
	}

	async stop(): Promise<void> {
		if (this.proc.exitCode === null && this.proc.signalCode === null) {
			this.proc.stdin!.end();
			await within(LIMIT, this.exited, 'sidecar exit');
		}
	}
}
