import { ClientMessage } from '../../schemas/bridge.js';

export type Parsed = { ok: true; message: ClientMessage } | { ok: false; id: number | null; message: string };

const TYPES: ReadonlySet<string> = new Set(ClientMessage.options.map((o) => o.shape.type.value));

/**
 * Parses one text message from a client. Never throws: anything wrong becomes a message
 * naming the problem (the first issue, with its path), and the request id when one can be
 * read, so the client can match the error to its request.
 */
export function parseClientMessage(text: string): Parsed {
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch (error) {
		return { ok: false, id: null, message: `invalid JSON: ${clip((error as Error).message)}` };
	}
	const id = idOf(value);
	if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, id, message: 'invalid message: expected a JSON object' };
	const type = (value as { type?: unknown }).type;
	if (typeof type !== 'string' || !TYPES.has(type)) {
		const shown = typeof type === 'string' ? JSON.stringify(clip(type)) : type === undefined ? 'missing' : `a ${typeof type}`;
		return { ok: false, id, message: `invalid message: type ${shown} is not one of ${[...TYPES].join(', ')}` };
	}
	const result = ClientMessage.safeParse(value);
	if (result.success) return { ok: true, message: result.data };
	const issue = result.error.issues[0]!;
	const path = issue.path.map(String).join('.');
	return { ok: false, id, message: `invalid ${type} message: ${path ? `${path}: ` : ''}${issue.message}` };
}

/** The request id of a message that failed to parse, if it has a usable one. */
function idOf(value: unknown): number | null {
	const id = (value as { id?: unknown } | null)?.id;
	return typeof id === 'number' && Number.isSafeInteger(id) && id >= 1 ? id : null;
}

/** Errors echo at most this much of what the client sent. */
function clip(text: string): string {
	return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
