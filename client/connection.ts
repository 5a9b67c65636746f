import type { ErrorReply, HelloMessage, ProcessSummary, ProcessesReply, ServerMessage, SpawnedReply } from '../schemas/bridge.js';
import { type ChildLink, RemoteChild } from './child.js';
import { abortError, ErrorCode, PidfdError } from '../schemas/errors.js';
import { BRIDGE_PROTOCOL, FRAME_HEADER_SIZE, TOKEN_PROTOCOL_PREFIX, decodeFrame } from '../schemas/bridge-wire.js';

/** Any WebSocket class with the standard constructor: the global one, or the `ws` package's. */
export type WebSocketConstructor = new (url: string, protocols: string[]) => object;

export interface ConnectOptions {
	/** The server's token (`pidfd serve` prints it, or reads it from PIDFD_TOKEN / --token-file). */
	token: string;
	/** The WebSocket implementation. Default: the global `WebSocket` (browsers, Deno, Bun, Node ≥ 22). */
	WebSocket?: WebSocketConstructor;
	/** Give up connecting after this many ms. Default 10 000. */
	timeout?: number;
}

/** Options of a remote spawn. The host's policy decides what is allowed; a refusal rejects with EPERM. */
export interface RemoteSpawnOptions {
	/** Working directory: absolute, or relative to the policy's root. Default: the root. */
	cwd?: string;
	/** Variables added to the policy's fixed environment; each name must be allowed. */
	env?: Record<string, string>;
	/** 'pipe' (default) or 'ignore', for all three or each of stdin, stdout, stderr. */
	stdio?: 'pipe' | 'ignore' | readonly ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe' | 'ignore'];
	/** Kill the child after this many ms (the policy's maxRuntime applies anyway). */
	timeout?: number;
	/** Signal for `timeout` and `signal`. Default 'SIGTERM'. */
	killSignal?: string | number;
	/** Kill the child when this signal aborts. */
	signal?: AbortSignal;
	/** Put the child in a process group of its own, so `kill(sig, { group: true })` reaches its descendants. */
	processGroup?: boolean;
	setsid?: boolean;
	/** Keep running after this connection ends (only if the host's policy allows it). */
	detached?: boolean;
	/** Bytes of stdout (and of stderr) the host may send ahead of your reads. Default 256 KiB. */
	window?: number;
	/**
	 * Run the child on a pseudo-terminal (only if the host's policy allows terminals):
	 * `child.terminal` is then its master and `stdio` is ignored. Default size 80 × 24, TERM
	 * from `name` (default 'xterm-256color') unless `env` sets TERM.
	 */
	terminal?: true | { cols?: number; rows?: number; name?: string };
}

const DEFAULT_WINDOW = 256 * 1024;

interface Pending {
	resolve: (message: ServerMessage) => void;
	reject: (error: PidfdError) => void;
}

/** A connection to a `pidfd serve` host. */
export class BridgeConnection {
	/** What the host allows, from its hello. */
	readonly limits: HelloMessage['limits'];
	/** The executables the host allows (absolute paths; spawn takes the path or its basename), from its hello. */
	readonly allow: readonly string[];
	/** Whether the host allows terminal sessions (`terminal` in spawn), from its hello. */
	readonly allowTerminal: boolean;
	/** Resolves when the connection has ended, for whatever reason. */
	readonly closed: Promise<void>;

	readonly #ws: WebSocket;
	readonly #pending = new Map<number, Pending>();
	readonly #children = new Map<number, RemoteChild>();
	/** Spawn replies build their child synchronously: frames for it may follow in the same tick. */
	readonly #spawning = new Map<number, (reply: SpawnedReply) => void>();
	readonly #link: ChildLink;
	#nextId = 1;
	#lost: PidfdError | undefined;
	/** The `list` in flight, which later calls share. */
	#listing: Promise<ProcessSummary[]> | undefined;

	/** @internal Use `connect()`. */
	constructor(ws: WebSocket, hello: HelloMessage, closed: Promise<void>) {
		this.#ws = ws;
		this.limits = hello.limits;
		this.allow = hello.allow ?? [];
		this.allowTerminal = hello.allowTerminal ?? false;
		this.closed = closed;
		const maxChunk = Math.max(1, Math.min(64 * 1024, hello.limits.maxPayload - FRAME_HEADER_SIZE));
		this.#link = {
			maxChunk,
			sendJson: (message) => this.#sendRaw(JSON.stringify(message)),
			sendFrame: (frame) => this.#sendRaw(frame),
			request: (message) => this.#request(message),
		};
		ws.addEventListener('message', (event) => this.#onMessage(event.data));
		closed.then(() => this.#onClose());
	}

	/** Starts `file` on the host; resolves once it runs (an exec failure rejects, as locally). */
	async spawn(file: string, args: readonly string[] = [], options: RemoteSpawnOptions = {}): Promise<RemoteChild> {
		const { signal, stdio = 'pipe', window = DEFAULT_WINDOW, ...rest } = options;
		if (signal?.aborted) throw abortError('spawn() was aborted before the child started', signal);
		const modes = (typeof stdio === 'string' ? [stdio, stdio, stdio] : [...stdio]) as ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe' | 'ignore'];
		const granted = Math.max(1, Math.min(window, this.limits.maxWindow));
		const id = this.#nextId++;
		const child = await new Promise<RemoteChild>((resolve, reject) => {
			this.#spawning.set(id, (reply) => {
				const c = new RemoteChild(this.#link, reply.child, reply.pid, modes, reply.stdinWindow, granted, terminalSize(options.terminal));
				this.#children.set(reply.child, c);
				resolve(c);
			});
			this.#request({ type: 'spawn', id, file, args: [...args], stdio: modes, window: granted, ...rest }, id).catch((error: PidfdError) => {
				this.#spawning.delete(id);
				reject(error);
			});
		});
		if (signal) {
			const onAbort = () => {
				child.markAborted();
				child.kill(options.killSignal ?? 'SIGTERM').catch(() => {});
			};
			signal.addEventListener('abort', onAbort, { once: true });
			child.wait().then(
				() => signal.removeEventListener('abort', onAbort),
				() => signal.removeEventListener('abort', onAbort),
			);
		}
		return child;
	}

	/**
	 * This connection's processes (running, and recently ended), with CPU time and peak RSS.
	 * Calls made while one is in flight share its answer: the server runs one list at a time.
	 */
	list(): Promise<ProcessSummary[]> {
		this.#listing ??= (this.#request({ type: 'list' }) as Promise<ProcessesReply>)
			.then((reply) => reply.processes)
			.finally(() => {
				this.#listing = undefined;
			});
		return this.#listing;
	}

	/** Ends the connection; the host kills this connection's children (except detached ones). */
	close(): Promise<void> {
		if (this.#ws.readyState === 0 || this.#ws.readyState === 1) this.#ws.close(1000, 'client closed');
		return this.closed;
	}

	#request(message: { type: string; [key: string]: unknown }, id = this.#nextId++): Promise<ServerMessage> {
		if (this.#lost) return Promise.reject(this.#lost);
		return new Promise((resolve, reject) => {
			this.#pending.set(id, { resolve, reject });
			this.#sendRaw(JSON.stringify({ ...message, id }));
		});
	}

	#sendRaw(data: string | Uint8Array): void {
		if (this.#ws.readyState !== 1) return;
		this.#ws.send(data);
	}

	#onMessage(data: unknown): void {
		if (typeof data !== 'string') {
			const frame = decodeFrame(new Uint8Array(data as ArrayBuffer));
			if (frame) this.#children.get(frame.child)?.onFrame(frame.fd, frame.flags, frame.data);
			return;
		}
		let message: ServerMessage;
		try {
			message = JSON.parse(data) as ServerMessage;
		} catch {
			return;
		}
		switch (message.type) {
			case 'exit':
				this.#children.get(message.child)?.onExit(message);
				return;
			case 'credit':
				this.#children.get(message.child)?.onCredit(message.bytes);
				return;
			case 'error':
				if (message.id === null) {
					if (message.child !== undefined) this.#children.get(message.child)?.onStreamError(message.fd, toError(message));
					return;
				}
				this.#settle(message.id, undefined, toError(message));
				return;
			case 'spawned': {
				const build = this.#spawning.get(message.id);
				this.#spawning.delete(message.id);
				build?.(message);
				this.#settle(message.id, message);
				return;
			}
			case 'hello':
				return;
			default:
				this.#settle(message.id, message);
		}
	}

	#settle(id: number, message: ServerMessage | undefined, error?: PidfdError): void {
		const pending = this.#pending.get(id);
		if (!pending) return;
		this.#pending.delete(id);
		if (error) pending.reject(error);
		else pending.resolve(message!);
	}

	#onClose(): void {
		this.#lost = new PidfdError('ECONNRESET', 'the connection to the pidfd host has closed');
		for (const pending of this.#pending.values()) pending.reject(this.#lost);
		this.#pending.clear();
		for (const child of this.#children.values()) child.onLost(this.#lost);
	}
}

/** The size a terminal starts with, as the host fills in the defaults; undefined without one. */
function terminalSize(terminal: RemoteSpawnOptions['terminal']): { cols: number; rows: number } | undefined {
	if (!terminal) return undefined;
	const { cols = 80, rows = 24 } = terminal === true ? {} : terminal;
	return { cols, rows };
}

function toError(reply: ErrorReply): PidfdError {
	return new PidfdError(reply.code, reply.message, { errno: reply.errno, syscall: reply.syscall });
}

/**
 * Connects to a `pidfd serve` host. The token travels as a subprotocol (`pidfd.token.*`),
 * the one header a browser lets a page set; the host selects `pidfd.v1` and never echoes it.
 */
export function connect(url: string | URL, options: ConnectOptions): Promise<BridgeConnection> {
	const Impl = (options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket) as
		| (new (
				url: string,
				protocols: string[],
		  ) => WebSocket)
		| undefined;
	if (!Impl) return Promise.reject(new TypeError('connect(): no global WebSocket in this runtime; pass one as options.WebSocket (e.g. the ws package)'));
	if (typeof options.token !== 'string' || options.token === '') return Promise.reject(new TypeError('connect(): options.token is required'));
	const ws = new Impl(String(url), [BRIDGE_PROTOCOL, TOKEN_PROTOCOL_PREFIX + base64url(options.token)]);
	ws.binaryType = 'arraybuffer';
	const closed = new Promise<void>((resolve) => ws.addEventListener('close', () => resolve()));
	return new Promise<BridgeConnection>((resolve, reject) => {
		let errorText = '';
		const timer = setTimeout(() => {
			reject(new PidfdError('ETIMEDOUT', `connect(): no answer from ${String(url)} within ${options.timeout ?? 10_000} ms`));
			ws.close();
		}, options.timeout ?? 10_000);
		const onHello = (event: MessageEvent) => {
			if (typeof event.data !== 'string') return;
			let hello: HelloMessage;
			try {
				hello = JSON.parse(event.data) as HelloMessage;
			} catch {
				return;
			}
			if (hello.type !== 'hello') return;
			ws.removeEventListener('message', onHello);
			clearTimeout(timer);
			if (hello.protocol !== 1) {
				ws.close();
				reject(new PidfdError(ErrorCode.PROTOCOL_MISMATCH, `connect(): the host speaks protocol ${String(hello.protocol)}, this client 1`));
				return;
			}
			resolve(new BridgeConnection(ws, hello, closed));
		};
		ws.addEventListener('message', onHello);
		// Browsers say nothing about why a handshake failed; the ws package says "Unexpected server response: 401".
		ws.addEventListener('error', (event) => {
			errorText = (event as Event & { message?: string }).message ?? '';
		});
		closed.then(() => {
			clearTimeout(timer);
			const why = errorText ? `: ${errorText}` : ' (a wrong token or origin is refused with 401/403)';
			reject(new PidfdError('ECONNREFUSED', `connect(): ${String(url)} closed the connection before the handshake finished${why}`));
		});
	});
}

/** base64url of the token's UTF-8 bytes, without padding: a valid subprotocol token. */
function base64url(text: string): string {
	let binary = '';
	for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
	return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
