import type { WebSocket } from 'ws';
import type { ExitInfo } from '../../schemas/exit.js';
import {
	FRAME_EOF,
	type KillRequest,
	type ProcessSummary,
	type ResizeRequest,
	type ServerMessage,
	type SpawnRequest,
	type WaitRequest,
} from '../../schemas/bridge.js';
import { decodeFrame } from '../../schemas/bridge-wire.js';
import { type Child, PidfdError, signalNumber } from '../index.js';
import type { ConnectionTree } from './containment.js';
import { OutputPump, StdinSink } from './flow.js';
import { displayArgs } from './history.js';
import { type CheckedSpawn, type Policy, PolicyError, checkSpawn, cwdRefusal } from './policy.js';
import { parseClientMessage } from './messages.js';
import { liveUsage } from './live-usage.js';

/** Process slots shared by every session of one bridge. */
export interface ProcessBudget {
	running: number;
	readonly max: number;
}

/** Output credit a stream starts with when the client names none. */
const DEFAULT_WINDOW = 256 * 1024;
/** Ended children kept for `list`, per connection (each with its argv cut short: history.ts). */
const KEEP_EXITED = 64;
/**
 * Past this many bytes queued to a client that stopped reading, it is closed (1008): reading
 * from it stops at maxBuffered already, this catches what was in flight when it did.
 */
const HARD_LIMIT_FACTOR = 4;
/** Outstanding `wait` requests per child: a client cannot pile up closures without end. */
const MAX_WAITERS = 64;

interface Entry {
	readonly id: number;
	readonly child: Child;
	readonly file: string;
	/** As `list` shows them: cut to a few KiB (history.ts), so history stays small. */
	readonly args: string[];
	readonly startedAt: number;
	readonly detached: boolean;
	/** Leads its own process group, so a group kill stays inside what it started. */
	readonly group: boolean;
	readonly outputs: Map<number, OutputPump>;
	stdin: StdinSink | undefined;
	exit: ExitInfo | undefined;
	waiters: number;
}

/**
 * One client connection: its children, their stdio, and the requests it sends. When the
 * connection ends, its children are killed (detached ones, if the policy allows them, stay).
 */
export class Session {
	readonly #ws: WebSocket;
	readonly #policy: Policy;
	readonly #budget: ProcessBudget;
	readonly #tree: ConnectionTree;
	readonly #entries = new Map<number, Entry>();
	#nextChild = 1;
	/** Children running or being spawned for this connection. */
	#running = 0;
	/** Bytes handed to ws and not yet written to the socket. */
	#queued = 0;
	#blocked = false;
	#closed = false;
	/** A `list` reply is being built or has not reached the socket yet: one at a time. */
	#listing = false;
	#idleTimer: ReturnType<typeof setTimeout> | undefined;

	constructor(ws: WebSocket, policy: Policy, budget: ProcessBudget, tree: ConnectionTree) {
		this.#ws = ws;
		this.#policy = policy;
		this.#budget = budget;
		this.#tree = tree;
		ws.on('message', (data: Buffer, isBinary: boolean) => {
			this.#touch();
			try {
				if (isBinary) this.#onFrame(data);
				else this.#onText(data.toString('utf8'));
			} catch (error) {
				// A bug here must cost one reply, not the server.
				this.#send({ type: 'error', id: null, code: 'EIO', message: `internal error: ${(error as Error).message}` });
			}
		});
		this.#send({
			type: 'hello',
			protocol: 1,
			limits: {
				maxPayload: policy.maxPayload,
				maxProcsPerConnection: policy.maxProcsPerConnection,
				maxWindow: policy.maxBuffered,
				maxRuntimeMs: policy.maxRuntimeMs ?? null,
			},
			allow: policy.allowed.map((e) => e.path),
			allowTerminal: policy.allowTerminal,
		});
		this.#touch();
	}

	/** Children of this connection that have not ended yet. */
	get running(): number {
		return this.#running;
	}

	/**
	 * The connection ended: close every pipe and end everything it started (but detached
	 * children), backgrounded and double-forked processes included. Resolves once they are gone.
	 */
	close(): Promise<void> {
		if (this.#closed) return Promise.resolve();
		this.#closed = true;
		clearTimeout(this.#idleTimer);
		for (const entry of this.#entries.values()) this.#closePipes(entry);
		const running = [...this.#entries.values()].filter((e) => !e.exit);
		return this.#tree.close(running);
	}

	#closePipes(entry: Entry): void {
		for (const pump of entry.outputs.values()) pump.close();
		entry.stdin?.destroy();
	}

	/**
	 * A message came, or a child ended: the idle clock starts again. A connection with no
	 * child running and nothing said for idleTimeoutMs holds a slot for nothing: closed (1001).
	 */
	#touch(): void {
		const ms = this.#policy.idleTimeoutMs;
		if (ms === 0 || this.#closed) return;
		clearTimeout(this.#idleTimer);
		this.#idleTimer = setTimeout(() => {
			if (this.#running > 0) this.#touch();
			else this.#ws.close(1001, 'idle');
		}, ms);
		this.#idleTimer.unref();
	}

	#onText(text: string): void {
		const parsed = parseClientMessage(text);
		if (!parsed.ok) {
			this.#send({ type: 'error', id: parsed.id, code: 'EINVAL', message: parsed.message });
			return;
		}
		const message = parsed.message;
		switch (message.type) {
			case 'spawn':
				this.#spawn(message).catch((error: unknown) => this.#replyError(message.id, error));
				return;
			case 'kill':
				this.#kill(message);
				return;
			case 'wait':
				this.#wait(message);
				return;
			case 'list':
				// One at a time: a client that asks faster than it reads gets EBUSY, not copies.
				if (this.#listing) return this.#send({ type: 'error', id: message.id, code: 'EBUSY', message: 'a list is already in progress on this connection' });
				this.#listing = true;
				this.#list(message.id).catch((error: unknown) => {
					this.#listing = false;
					this.#replyError(message.id, error);
				});
				return;
			case 'credit':
				this.#entries.get(message.child)?.outputs.get(message.fd)?.grant(message.bytes);
				return;
			case 'close':
				this.#entries.get(message.child)?.outputs.get(message.fd)?.close();
				return;
			case 'resize':
				this.#resize(message);
				return;
			default:
				return unreachable(message);
		}
	}

	#onFrame(data: Buffer): void {
		const frame = decodeFrame(data);
		if (!frame) {
			this.#send({ type: 'error', id: null, code: 'EINVAL', message: 'binary frame: header too short or reserved bytes set' });
			return;
		}
		const entry = this.#entries.get(frame.child);
		if (frame.fd !== 0 || !entry?.stdin) {
			this.#send({
				type: 'error',
				id: null,
				code: 'EBADF',
				message: `binary frame: child ${frame.child} has no stdin pipe on fd ${frame.fd}`,
				// Child ids start at 1: a frame for 0 names no child, and the reply must not either.
				...(frame.child >= 1 ? { child: frame.child } : {}),
				fd: frame.fd,
			});
			return;
		}
		if (frame.data.byteLength > 0 && !entry.stdin.write(frame.data)) {
			this.#send({
				type: 'error',
				id: null,
				code: 'EPROTO',
				message: `stdin of child ${frame.child}: more data than the granted window`,
				child: frame.child,
				fd: 0,
			});
			return;
		}
		if (frame.flags & FRAME_EOF) entry.stdin.end();
	}

	async #spawn(request: SpawnRequest): Promise<void> {
		const policy = this.#policy;
		if (this.#running >= policy.maxProcsPerConnection) throw new PolicyError(`too many processes on this connection (max ${policy.maxProcsPerConnection})`);
		if (this.#budget.running >= this.#budget.max) throw new PolicyError(`too many processes on this server (max ${this.#budget.max})`);
		// Take the slots before the first await, so concurrent requests cannot all pass the check.
		this.#running++;
		this.#budget.running++;
		let child: Child;
		let checked: CheckedSpawn;
		try {
			checked = await checkSpawn(policy, request);
			if (this.#closed) throw new PolicyError('connection closed');
			child = await this.#tree.spawn(checked.file, checked.args, checked.options).catch((error: unknown) => {
				throw cwdRefusal(error, request.cwd);
			});
		} catch (error) {
			this.#running--;
			this.#budget.running--;
			throw error;
		}
		const entry: Entry = {
			id: this.#nextChild++,
			child,
			file: checked.display,
			args: displayArgs(checked.args),
			startedAt: Date.now(),
			detached: checked.detached,
			// A terminal child leads a session (and so a process group) of its own.
			group: request.processGroup === true || request.setsid === true || child.terminal !== null,
			outputs: new Map(),
			stdin: undefined,
			exit: undefined,
			waiters: 0,
		};
		this.#entries.set(entry.id, entry);
		const stdinWindow = child.stdin || child.terminal ? Math.min(DEFAULT_WINDOW, policy.maxBuffered) : 0;
		// The reply goes out before any frame or event of this child, so the client knows it first.
		this.#send({ type: 'spawned', id: request.id, child: entry.id, pid: child.pid, stdinWindow });
		this.#attachStdio(entry, request.window ?? DEFAULT_WINDOW, stdinWindow);
		child.wait().then(
			(exit) => this.#onExit(entry, exit),
			(error: unknown) => {
				this.#onExit(entry, undefined);
				this.#send({ type: 'error', id: null, child: entry.id, ...describe(error) });
			},
		);
	}

	#attachStdio(entry: Entry, window: number, stdinWindow: number): void {
		const { child } = entry;
		const credit = Math.min(window, this.#policy.maxBuffered);
		// A terminal is one stream each way: what its programs print goes out as fd 1,
		// keystrokes come in as fd 0, under the same windows as pipes.
		const output = child.terminal ?? child.stdout;
		const input = child.terminal ?? child.stdin;
		for (const [fd, stream] of [
			[1, output],
			[2, child.stderr],
		] as const) {
			if (!stream) continue;
			const onError = (error: Error) => this.#send({ type: 'error', id: null, child: entry.id, fd, ...describe(error) });
			const pump = new OutputPump(stream, entry.id, fd, credit, this.#policy.maxBuffered, (frame) => this.#sendFrame(frame), onError);
			if (this.#blocked) pump.block(true);
			entry.outputs.set(fd, pump);
		}
		if (input) {
			entry.stdin = new StdinSink(
				input,
				stdinWindow,
				(bytes) => this.#send({ type: 'credit', child: entry.id, fd: 0, bytes }),
				(error) => this.#send({ type: 'error', id: null, child: entry.id, fd: 0, ...describe(error) }),
			);
		}
		// The client left while we spawned: nobody will ever read or kill this one.
		if (this.#closed) {
			this.#closePipes(entry);
			this.#tree.close([entry]).catch(() => {});
		}
	}

	#onExit(entry: Entry, exit: ExitInfo | undefined): void {
		this.#running--;
		this.#budget.running--;
		this.#tree.endTreeOf(entry.child, entry.detached).catch(() => {});
		this.#touch();
		if (!exit) return;
		entry.exit = exit;
		this.#send({ type: 'exit', child: entry.id, exit, terminatedBy: entry.child.terminatedBy ?? null });
		this.#forgetOldExits();
	}

	#forgetOldExits(): void {
		const exited = [...this.#entries.values()].filter((e) => e.exit);
		for (const entry of exited.slice(0, Math.max(0, exited.length - KEEP_EXITED))) this.#entries.delete(entry.id);
	}

	#kill(request: KillRequest): void {
		const entry = this.#entries.get(request.child);
		if (!entry) return this.#send({ type: 'error', id: request.id, code: 'ESRCH', message: `no child ${request.child} on this connection` });
		const signal = signalNumber(request.signal ?? 'SIGTERM');
		if (signal === undefined) return this.#send({ type: 'error', id: request.id, code: 'EINVAL', message: `${String(request.signal)} is not a signal` });
		if (request.group && !entry.group) {
			return this.#send({ type: 'error', id: request.id, code: 'EPERM', message: 'group kill needs a child spawned with processGroup or setsid' });
		}
		// In a pid namespace the child's init forwards every signal to the program's group itself.
		entry.child.kill(signal, { group: request.group === true && this.#policy.isolation !== 'namespaces' }).then(
			(delivered) => this.#send({ type: 'ok', id: request.id, delivered }),
			(error: unknown) => this.#replyError(request.id, error),
		);
	}

	#resize(request: ResizeRequest): void {
		const entry = this.#entries.get(request.child);
		if (!entry) return this.#send({ type: 'error', id: request.id, code: 'ESRCH', message: `no child ${request.child} on this connection` });
		const terminal = entry.child.terminal;
		if (!terminal) return this.#send({ type: 'error', id: request.id, code: 'EINVAL', message: `resize: child ${request.child} is not on a terminal` });
		if (entry.exit) return this.#send({ type: 'error', id: request.id, code: 'ESRCH', message: `resize: child ${request.child} has ended` });
		terminal.resize(request.cols, request.rows).then(
			() => this.#send({ type: 'ok', id: request.id }),
			(error: unknown) => this.#replyError(request.id, error),
		);
	}

	#wait(request: WaitRequest): void {
		const entry = this.#entries.get(request.child);
		if (!entry) return this.#send({ type: 'error', id: request.id, code: 'ESRCH', message: `no child ${request.child} on this connection` });
		if (entry.waiters >= MAX_WAITERS) return this.#send({ type: 'error', id: request.id, code: 'EPERM', message: `too many waits on child ${request.child}` });
		entry.waiters++;
		entry.child.wait().then(
			(exit) => {
				entry.waiters--;
				this.#send({ type: 'waited', id: request.id, child: entry.id, exit, terminatedBy: entry.child.terminatedBy ?? null });
			},
			(error: unknown) => {
				entry.waiters--;
				this.#replyError(request.id, error);
			},
		);
	}

	async #list(id: number): Promise<void> {
		const processes: ProcessSummary[] = await Promise.all(
			[...this.#entries.values()].map(async (e) => {
				const exit = e.exit ?? null;
				const usage = exit
					? { cpuMs: exit.rusage ? exit.rusage.userCpuMs + exit.rusage.systemCpuMs : null, maxRssKiB: exit.rusage?.maxRssKiB ?? null }
					: await liveUsage(e.child.pid);
				return {
					child: e.id,
					pid: e.child.pid,
					file: e.file,
					args: e.args,
					state: exit ? 'exited' : 'running',
					startedAt: e.startedAt,
					...usage,
					exit,
				} as const;
			}),
		);
		this.#write(JSON.stringify({ type: 'processes', id, processes } satisfies ServerMessage), () => {
			this.#listing = false;
		});
	}

	#replyError(id: number, error: unknown): void {
		this.#send({ type: 'error', id, ...describe(error) });
	}

	#send(message: ServerMessage): void {
		this.#write(JSON.stringify(message));
	}

	#sendFrame(frame: Uint8Array): void {
		this.#write(frame);
	}

	/**
	 * Every byte to the client passes here, replies and output alike. Past maxBuffered queued,
	 * the children's output is paused and the client's socket is no longer read (so it cannot
	 * ask for more replies) until half of it has reached the socket: credits bound what the
	 * client holds, this bounds what we hold when a client does not read its socket.
	 */
	#write(data: string | Uint8Array, written?: () => void): void {
		const ws = this.#ws;
		if (ws.readyState !== ws.OPEN) return;
		const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
		this.#queued += size;
		ws.send(data, { binary: typeof data !== 'string' }, () => {
			this.#queued -= size;
			written?.();
			if (this.#blocked && this.#queued <= this.#policy.maxBuffered / 2) this.#block(false);
		});
		if (!this.#blocked && this.#queued > this.#policy.maxBuffered) this.#block(true);
		if (this.#queued > HARD_LIMIT_FACTOR * this.#policy.maxBuffered) {
			// Reading again lets the close handshake finish; no reply is sent once closing.
			ws.resume();
			ws.close(1008, 'too much unread');
		}
	}

	#block(blocked: boolean): void {
		this.#blocked = blocked;
		if (blocked) this.#ws.pause();
		else this.#ws.resume();
		for (const entry of this.#entries.values()) for (const pump of entry.outputs.values()) pump.block(blocked);
	}
}

/** The error fields of a reply, from whatever a request failed with. */
function describe(error: unknown): { code: string; message: string; errno?: number; syscall?: string } {
	if (error instanceof PolicyError) return { code: error.code, message: error.message };
	if (error instanceof PidfdError) return { code: error.code, message: error.message, errno: error.errno, syscall: error.syscall };
	const e = error as { code?: unknown; message?: unknown };
	if (typeof e?.code === 'string') return { code: e.code === 'ERR_INVALID_ARG_VALUE' ? 'EINVAL' : e.code, message: String(e.message) };
	return { code: 'EIO', message: error instanceof Error ? error.message : String(error) };
}

function unreachable(value: never): never {
	throw new Error(`unhandled message ${JSON.stringify(value)}`);
}
