import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { BRIDGE_PROTOCOL, PolicyFile } from '../../schemas/bridge.js';
import { authorize, refuse } from './auth.js';
import { type Policy, resolvePolicy } from './policy.js';
import { type ProcessBudget, Session } from './session.js';

export interface BridgeOptions {
	/** The token every client must present (Authorization: Bearer, or the pidfd.token.* subprotocol). */
	token: string;
	/** What clients may do; see PolicyFile. Default: no executable is allowed. */
	policy?: PolicyFile;
	/** Only upgrade requests for this path are taken (e.g. '/pidfd'). Default: every path. */
	path?: string;
	/** Ping interval in ms; a client that has not answered the previous ping is dropped. Default 30 000; 0 disables. */
	heartbeatMs?: number;
	/** Where to report refused upgrades and connection ends (one line each). Default: nowhere. */
	log?: (line: string) => void;
}

export interface Bridge {
	/** For an http server's 'upgrade' event: checks origin and token, then does the WebSocket handshake. */
	handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
	/** Listens for upgrades on `server`; returns a function that stops listening. */
	attach(server: Server): () => void;
	/** The policy in force, with its paths resolved. */
	readonly policy: Policy;
	/** Open client connections. */
	readonly connections: number;
	/** Children running, over every connection. */
	readonly running: number;
	/** Ends every connection (killing their children) and stops the heartbeat. */
	close(): Promise<void>;
}

/**
 * A WebSocket bridge that spawns for its clients under a policy. It owns no listening socket:
 * attach it to an http.Server (ws's `noServer` mode), so the server can serve other things.
 */
export function createBridge(options: BridgeOptions): Bridge {
	if (typeof options.token !== 'string' || options.token.length < 16) throw new TypeError('createBridge(): token must be a string of at least 16 characters');
	const parsed = PolicyFile.safeParse(options.policy ?? {});
	if (!parsed.success) {
		const issue = parsed.error.issues[0]!;
		throw new TypeError(`createBridge(): policy.${issue.path.map(String).join('.')}: ${issue.message}`);
	}
	const policy = resolvePolicy(parsed.data);
	const { token, path, log = () => {} } = options;
	const heartbeatMs = options.heartbeatMs ?? 30_000;
	const budget: ProcessBudget = { running: 0, max: policy.maxProcs };
	const sessions = new Map<WebSocket, Session>();
	const alive = new WeakSet<WebSocket>();
	const wss = new WebSocketServer({
		noServer: true,
		maxPayload: policy.maxPayload,
		// Compression would let a small message inflate into a large one; stdio rarely compresses anyway.
		perMessageDeflate: false,
		handleProtocols: (protocols) => (protocols.has(BRIDGE_PROTOCOL) ? BRIDGE_PROTOCOL : false),
	});

	wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
		const peer = describePeer(req);
		// ws emits 'error' for protocol violations (an oversized message, bad UTF-8) and then
		// closes: without a listener that error would end the process.
		ws.on('error', (error) => log(`${peer}: ${error.message}`));
		alive.add(ws);
		ws.on('pong', () => alive.add(ws));
		const session = new Session(ws, policy, budget);
		sessions.set(ws, session);
		ws.once('close', (code) => {
			sessions.delete(ws);
			log(`${peer}: closed (${code}), ${session.running} children killed`);
			session.close();
		});
	});

	const heartbeat =
		heartbeatMs > 0
			? setInterval(() => {
					for (const ws of sessions.keys()) {
						if (!alive.has(ws)) {
							ws.terminate();
							continue;
						}
						alive.delete(ws);
						ws.ping();
					}
				}, heartbeatMs)
			: undefined;
	heartbeat?.unref();

	const matches = (req: IncomingMessage) => path === undefined || new URL(req.url ?? '/', 'http://x').pathname === path;

	const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
		// A client that resets during the handshake must not take the server down with it.
		const onSocketError = () => socket.destroy();
		socket.on('error', onSocketError);
		const refusal = matches(req) ? authorize(req, token, policy.origins) : { status: 404 as const, reason: 'not found' };
		if (refusal) {
			log(`${describePeer(req)}: refused ${refusal.status} (${refusal.reason})`);
			refuse(socket, refusal);
			return;
		}
		socket.removeListener('error', onSocketError);
		wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
	};

	return {
		handleUpgrade,
		attach(server) {
			const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
				if (matches(req)) handleUpgrade(req, socket, head);
			};
			server.on('upgrade', listener);
			return () => server.off('upgrade', listener);
		},
		policy,
		get connections() {
			return sessions.size;
		},
		get running() {
			return budget.running;
		},
		close() {
			clearInterval(heartbeat);
			for (const [ws, session] of sessions) {
				session.close();
				ws.terminate();
			}
			return new Promise<void>((resolve) => wss.close(() => resolve()));
		},
	};
}

function describePeer(req: IncomingMessage): string {
	const { remoteAddress, remotePort } = req.socket;
	return remoteAddress ? `${remoteAddress}:${remotePort}` : 'unix socket';
}
