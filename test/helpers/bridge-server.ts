// `pidfd serve` in a process of its own (so its memory and its signals are its own), and a
// protocol-level client that sends raw messages and checks every reply against the schema.
import { type ChildProcess, spawn as nodeSpawn } from 'node:child_process';
import WebSocket from 'ws';
import { ServerMessage } from '../../schemas/bridge.js';
import { CLI } from './cli.js';
import { within } from './deadline.js';

const LIMIT = 15_000;

export interface ServeProcess {
	proc: ChildProcess;
	url: string;
	/** Everything serve printed on stderr so far. */
	stderr(): string;
	/** SIGTERM (or `signal`), and waits for the exit. */
	stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `pidfd serve ARGS` and waits for its `listening` line. */
export async function serveProcess(args: string[], env: Record<string, string>): Promise<ServeProcess> {
	const proc = nodeSpawn(process.execPath, [...CLI, 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
	let stderr = '';
	proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
	let stdout = '';
	const line = await within(
		LIMIT,
		new Promise<string>((resolve, reject) => {
			proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
				stdout += chunk;
				if (stdout.includes('\n')) resolve(stdout);
			});
			proc.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
		}),
		'listening line',
	);
	const match = /^listening (\S+)\n/.exec(line);
	if (!match) throw new Error(`expected one listening line, got ${JSON.stringify(line)}`);
	return {
		proc,
		url: match[1]!,
		stderr: () => stderr,
		async stop(signal: NodeJS.Signals = 'SIGTERM') {
			if (proc.exitCode !== null || proc.signalCode !== null) return;
			const exited = new Promise((resolve) => proc.once('exit', resolve));
			proc.kill(signal);
			await within(LIMIT, exited, 'serve exit');
		},
	};
}

type ErrorMessage = Extract<ServerMessage, { type: 'error' }>;

/** A client that speaks the wire protocol by hand: raw messages out, parsed messages in. */
export class RawClient {
	readonly messages: ServerMessage[] = [];
	readonly frames: Buffer[] = [];
	/** Bytes received so far, text and binary. */
	received = 0;
	closeCode: number | undefined;
	/** Messages from the server that its own schema refuses: a server bug, failing every wait. */
	readonly outsideSchema: string[] = [];
	#waiters: (() => void)[] = [];

	private constructor(readonly ws: WebSocket) {
		ws.on('message', (data: Buffer, isBinary) => {
			this.received += data.byteLength;
			if (isBinary) this.frames.push(data);
			else {
				const parsed = ServerMessage.safeParse(JSON.parse(data.toString()));
				if (parsed.success) this.messages.push(parsed.data);
				else this.outsideSchema.push(data.toString().slice(0, 500));
			}
			this.#wake();
		});
		ws.on('close', (code) => {
			this.closeCode = code;
			this.#wake();
		});
		ws.on('error', () => {});
	}

	static async open(url: string, token: string, options: WebSocket.ClientOptions = {}): Promise<RawClient> {
		const ws = new WebSocket(url, { ...options, headers: { Authorization: `Bearer ${token}`, ...options.headers } });
		const client = new RawClient(ws);
		await within(LIMIT, new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 'open');
		await client.next((m) => m.type === 'hello', 'hello');
		return client;
	}

	send(data: string | object | Buffer): void {
		this.ws.send(typeof data === 'object' && !Buffer.isBuffer(data) ? JSON.stringify(data) : data);
	}

	/** Removes and returns the first message that matches, waiting for it if need be. */
	next<T extends ServerMessage>(match: (m: ServerMessage) => boolean, what = 'message', ms = LIMIT): Promise<T> {
		const take = async (): Promise<T> => {
			for (;;) {
				const i = this.messages.findIndex(match);
				if (this.outsideSchema.length > 0) throw new Error(`server sent a message outside the schema: ${this.outsideSchema[0]}`);
				if (i >= 0) return this.messages.splice(i, 1)[0] as T;
				if (this.closeCode !== undefined) throw new Error(`connection closed (${this.closeCode}) while waiting for ${what}`);
				await new Promise<void>((resolve) => this.#waiters.push(resolve));
			}
		};
		return within(ms, take(), what);
	}

	/** The reply to request `id`: its error, or the message itself. */
	reply(id: number, ms = LIMIT): Promise<ServerMessage> {
		return this.next((m) => 'id' in m && m.id === id, `reply to ${id}`, ms);
	}

	error(match: (e: ErrorMessage) => boolean = () => true, what = 'error'): Promise<ErrorMessage> {
		return this.next<ErrorMessage>((m) => m.type === 'error' && match(m), what);
	}

	closed(ms = LIMIT): Promise<number> {
		return within(
			ms,
			this.closeCode !== undefined ? Promise.resolve(this.closeCode) : new Promise<number>((resolve) => this.ws.once('close', resolve)),
			'close',
		);
	}

	#wake(): void {
		for (const wake of this.#waiters.splice(0)) wake();
	}
}
