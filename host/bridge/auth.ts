import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { BRIDGE_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../../schemas/bridge.js';

/** A refused upgrade: the HTTP status and a one-line reason for the body. */
export interface Refusal {
	status: 400 | 401 | 403 | 404 | 503;
	reason: string;
}

/** A new random token: 32 bytes, base64url (fits in a subprotocol name as it is). */
export function generateToken(): string {
	return randomBytes(32).toString('base64url');
}

/**
 * Compares tokens in constant time. Hashing first makes both sides the same length, so
 * neither the comparison nor a length check tells an attacker how close a guess was.
 */
export function tokenMatches(expected: string, presented: string | undefined): boolean {
	if (presented === undefined) return false;
	const a = createHash('sha256').update(expected).digest();
	const b = createHash('sha256').update(presented).digest();
	return timingSafeEqual(a, b);
}

/** The subprotocols a client offered, in order. */
export function offeredProtocols(req: IncomingMessage): string[] {
	const header = req.headers['sec-websocket-protocol'];
	if (typeof header !== 'string') return [];
	return header
		.split(',')
		.map((p) => p.trim())
		.filter((p) => p !== '');
}

/**
 * The token a client presented: `Authorization: Bearer <token>`, or, for browsers, which
 * cannot set headers on a WebSocket, a `pidfd.token.<base64url>` subprotocol.
 */
export function presentedToken(req: IncomingMessage, protocols: readonly string[]): string | undefined {
	const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
	if (match) return match[1];
	const offered = protocols.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
	if (offered === undefined) return undefined;
	const encoded = offered.slice(TOKEN_PROTOCOL_PREFIX.length);
	return /^[A-Za-z0-9_-]+$/.test(encoded) ? Buffer.from(encoded, 'base64url').toString('utf8') : undefined;
}

/**
 * True if this Origin may connect. A request without Origin does not come from a browser
 * page; with one, it must be listed ('*' lists every origin). Checking it stops other web
 * pages (and DNS rebinding) from reaching a server on loopback.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
	if (origin === undefined) return true;
	return allowed.includes('*') || allowed.includes(origin);
}

/** Checks an upgrade request: undefined if it may proceed, else why not. */
export function authorize(req: IncomingMessage, token: string, origins: readonly string[]): Refusal | undefined {
	// Origin first: a foreign page learns nothing about the token, not even whether it was right.
	if (!originAllowed(req.headers.origin, origins)) return { status: 403, reason: 'origin not allowed' };
	const protocols = offeredProtocols(req);
	if (!tokenMatches(token, presentedToken(req, protocols))) return { status: 401, reason: 'missing or wrong token' };
	// A browser that offered subprotocols fails the handshake unless we select one of them.
	if (protocols.length > 0 && !protocols.includes(BRIDGE_PROTOCOL)) return { status: 400, reason: `offer the ${BRIDGE_PROTOCOL} subprotocol` };
	return undefined;
}

/**
 * Answers a refused upgrade with a complete HTTP response, then destroys the socket, as ws's
 * own abortHandshake does: the client sees a real status instead of a reset connection.
 */
export function refuse(socket: Duplex, { status, reason }: Refusal): void {
	const body = `${reason}\n`;
	const headers: OutgoingHttpHeaders = {
		Connection: 'close',
		'Content-Type': 'text/plain; charset=utf-8',
		'Content-Length': Buffer.byteLength(body),
	};
	if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="pidfd"';
	const head = Object.entries(headers)
		.map(([name, value]) => `${name}: ${String(value)}`)
		.join('\r\n');
	if (!socket.writable) {
		socket.destroy();
		return;
	}
	socket.once('finish', () => socket.destroy());
	socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n\r\n${body}`);
}
