import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { BRIDGE_PROTOCOL, PolicyFile } from '../../schemas/bridge.js';
import { type Refusal, authorize, refuse } from './auth.js';
import { type Containment, ConnectionTree, detectContainment } from './containment.js';
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
	/** What holds each connection's processes: a cgroup2 scope, or process groups where none can be made. */
	containment(): Promise<Containment>;
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
	/** Open connections per remote address, for maxConnectionsPerAddress. */
	const perAddress = new Map<string, number>();
	// Found once, before the first spawn needs it: can this process make cgroups?
	const containment = detectContainment();
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
		const session = new Session(ws, policy, budget, new ConnectionTree(containment));
		sessions.set(ws, session);
		const address = req.socket.remoteAddress;
		if (address !== undefined) perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
		ws.once('close', (code) => {
			sessions.delete(ws);
			if (address !== undefined) {
				const left = perAddress.get(address)! - 1;
				if (left === 0) perAddress.delete(address);
				else perAddress.set(address, left);
			}
			log(`${peer}: closed (${code}), ${session.running} children killed`);
			session.close().catch((error: unknown) => log(`${peer}: ending its processes: ${(error as Error).message}`));
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
		const refusal = matches(req) ? (authorize(req, token, policy.origins) ?? overCapacity(req)) : { status: 404 as const, reason: 'not found' };
		if (refusal) {
			log(`${describePeer(req)}: refused ${refusal.status} (${refusal.reason})`);
			refuse(socket, refusal);
			return;
		}
		socket.removeListener('error', onSocketError);
		wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
	};

	/**
	 * 503 past the connection caps. Checked after the token, so only a client that may connect
	 * learns the server is full; ws completes a handshake synchronously, so a burst of upgrades
	 * cannot all pass the check before the first is counted.
	 */
	const overCapacity = (req: IncomingMessage): Refusal | undefined => {
		if (sessions.size >= policy.maxConnections) return { status: 503, reason: `too many connections (max ${policy.maxConnections})` };
		const address = req.socket.remoteAddress;
		if (address !== undefined && (perAddress.get(address) ?? 0) >= policy.maxConnectionsPerAddress)
			return { status: 503, reason: `too many connections from ${address} (max ${policy.maxConnectionsPerAddress})` };
		return undefined;
	};

	return {
		handleUpgrade,
		attach(server) {
			const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
				if (matches(req)) handleUpgrade(req, socket, head);
				// Nobody else will answer it: a socket left open would hang its client forever.
				else if (server.listenerCount('upgrade') === 1) {
					socket.on('error', () => socket.destroy());
					refuse(socket, { status: 404, reason: 'not found' });
				}
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
		containment: () => containment,
		async close() {
			clearInterval(heartbeat);
			const ending: Promise<void>[] = [];
			for (const [ws, session] of sessions) {
				ending.push(session.close());
				ws.terminate();
			}
			await Promise.all(ending);
			await new Promise<void>((resolve) => wss.close(() => resolve()));
		},
	};
}

function describePeer(req: IncomingMessage): string {
	const { remoteAddress, remotePort } = req.socket;
	return remoteAddress ? `${remoteAddress}:${remotePort}` : 'unix socket';
}
