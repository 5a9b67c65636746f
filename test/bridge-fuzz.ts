// Property-based fuzzing of what a client sends the bridge (fast-check), against `pidfd serve`
// in a process of its own: whatever the message, text or binary, the server answers each
// malformed one with an error (or closes that connection), never hangs, and never crashes.
// Each message is followed by a `list` as a fence: its reply proves every reply to the message
// before it has been sent. Bounded in time: the runs stop at the time limit, counted as passed.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClientMessage, type ServerMessage } from '../schemas/bridge.js';
import { decodeFrame } from '../schemas/bridge-wire.js';
import { RawClient, type ServeProcess, serveProcess } from './helpers/bridge-server.js';
import { within } from './helpers/deadline.js';
import { isAlive } from './helpers/proc.js';

const TOKEN = randomBytes(32).toString('base64url');
/** Fuzzing time per property; the suite stays under a minute. */
const TIME_LIMIT_MS = Number(process.env.PIDFD_FUZZ_MS ?? 15_000);
/** A fence's reply later than this is a hang. */
const FENCE_MS = 5_000;
/** Fence ids count down from here: above any id the fuzzer makes (32-bit integers). */
const FENCE_ID = 9_007_199_254_740_991;
let fences = 0;

const fuzz = suite('fuzzing the bridge: an error or a close for every malformed message, never a hang or a crash');
let server: ServeProcess;
let client: RawClient | undefined;
const stats = { messages: 0, errors: 0, closes: 0 };

fuzz.before(async () => {
	server = await serveProcess(
		['--allow', '/bin/echo', '--allow', '/bin/cat', '--isolation', 'none', '--max-payload', '64k', '--max-procs-per-connection', '4', '--max-runtime', '2s'],
		{ PIDFD_TOKEN: TOKEN },
	);
});
fuzz.after(async () => {
	client?.ws.terminate();
	await server.stop();
});

async function connection(): Promise<RawClient> {
	if (client === undefined || client.closeCode !== undefined) client = await RawClient.open(server.url, TOKEN);
	return client;
}

/**
 * Sends one message and a fence; resolves with the replies that came before the fence's,
 * or 'closed' if the server closed the connection (a valid answer to a broken message).
 *
 * One exchange at a time, each with its own fence. fast-check's time limit abandons the run
 * in flight, which goes on in the background: the next property's first run must not share
 * the connection with it (the old run's fence reply ended the new run's wait before the
 * new run's own replies had come: "no EINVAL", once in CI).
 */
let lastExchange: Promise<unknown> = Promise.resolve();
function exchange(message: string | Buffer, binary: boolean): Promise<ServerMessage[] | 'closed'> {
	const run = lastExchange.then(() => exchangeNow(message, binary));
	lastExchange = run.catch(() => {});
	return run;
}

async function exchangeNow(message: string | Buffer, binary: boolean): Promise<ServerMessage[] | 'closed'> {
	const c = await connection();
	const fence = FENCE_ID - fences++;
	c.messages.length = 0;
	c.ws.send(message, { binary });
	c.send({ type: 'list', id: fence });
	stats.messages++;
	try {
		await c.next((m) => 'id' in m && m.id === fence, 'the fence', FENCE_MS);
	} catch (error) {
		if (c.closeCode !== undefined) {
			stats.closes++;
			return 'closed';
		}
		throw error;
	}
	const before = c.messages.splice(0);
	stats.errors += before.filter((m) => m.type === 'error').length;
	return before;
}

/** True if the server must refuse this text: not JSON, or not a ClientMessage. */
function malformedText(text: string): boolean {
	try {
		return !ClientMessage.safeParse(JSON.parse(text)).success;
	} catch {
		return true;
	}
}

const requestId = fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer(), fc.double(), fc.string({ maxLength: 8 }), fc.constant(null));
const childId = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer(), fc.double(), fc.string({ maxLength: 4 }));
const anyValue = fc.jsonValue({ maxDepth: 2 });

/** Messages near the real ones: a known type or not, fields of the right type or not. */
const nearMessage = fc
	.record(
		{
			type: fc.oneof(fc.constantFrom('spawn', 'kill', 'wait', 'list', 'credit', 'close', 'resize'), fc.string({ maxLength: 10 })),
			id: requestId,
			child: childId,
			file: fc.oneof(fc.constantFrom('echo', 'cat', '/bin/echo', '/bin/sh', '../cat', ''), fc.string({ maxLength: 20 })),
			args: fc.oneof(fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }), anyValue),
			signal: fc.oneof(fc.constantFrom('SIGTERM', 'KILL', 'SIGNOPE', 9, 0, 65), anyValue),
			fd: fc.oneof(fc.integer({ min: -1, max: 3 }), anyValue),
			bytes: fc.oneof(fc.integer({ min: -1, max: 2 ** 31 }), anyValue),
			cols: fc.oneof(fc.integer({ min: 0, max: 70_000 }), anyValue),
			rows: fc.integer({ min: 0, max: 70_000 }),
			stdio: fc.oneof(fc.constant(['ignore', 'pipe', 'ignore']), anyValue),
			env: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 2 }), anyValue),
			extra: anyValue,
		},
		{ requiredKeys: ['type'] },
	)
	.map((m) => JSON.stringify(m));

const text = fc.oneof(
	nearMessage,
	fc.json({ maxDepth: 3 }),
	fc.string({ maxLength: 200 }),
	fc.string({ unit: 'binary', maxLength: 200 }),
	fc.constantFrom(
		'',
		'{',
		'[]',
		'null',
		'{"type":"list"}',
		'{"type":"spawn","id":1,"file":"echo","args":["\\u0000"]}',
		`{"type":"list","id":${'9'.repeat(400)}}`,
	),
	// Raw bytes in a text message: invalid UTF-8 must close the connection (1007), nothing more.
	fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
);

fuzz('text messages', async () => {
	await fc.assert(
		fc.asyncProperty(text, async (message) => {
			const replies = await exchange(message, false);
			if (replies === 'closed' || !malformedText(String(message))) return;
			// Replies of earlier spawns may come too: what must be there is an EINVAL.
			assert.ok(
				replies.some((m) => m.type === 'error' && m.code === 'EINVAL'),
				`no EINVAL for ${JSON.stringify(String(message)).slice(0, 200)}: ${JSON.stringify(replies).slice(0, 300)}`,
			);
		}),
		// includeErrorInReport: the failing assertion itself in the message (fast-check 4 keeps it in `cause`, which the runner does not print).
		{ numRuns: 100_000, interruptAfterTimeLimit: TIME_LIMIT_MS, endOnFailure: true, includeErrorInReport: true },
	);
	assert.ok(isAlive(server.proc.pid!), 'the server died');
});

/** Frames near the real ones: a small child id, fd 0..3, flags and reserved bytes random. */
const nearFrame = fc
	.record({
		child: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.nat()),
		fd: fc.integer({ min: 0, max: 255 }),
		flags: fc.integer({ min: 0, max: 255 }),
		reserved: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
		data: fc.uint8Array({ maxLength: 64 }),
	})
	.map(({ child, fd, flags, reserved, data }) => {
		const frame = Buffer.alloc(8 + data.byteLength);
		frame.writeUInt32LE(child, 0);
		frame.writeUInt8(fd, 4);
		frame.writeUInt8(flags, 5);
		frame.writeUInt16LE(reserved, 6);
		frame.set(data, 8);
		return frame;
	});

fuzz('binary frames', async () => {
	await fc.assert(
		fc.asyncProperty(
			fc.oneof(
				nearFrame,
				fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)),
			),
			async (frame) => {
				const replies = await exchange(frame, true);
				if (replies === 'closed') return;
				const header = decodeFrame(frame);
				// Frames to a child without a stdin pipe, or broken ones: an error each. (The fuzzed
				// spawns can give a child a stdin pipe, so a frame may be one it takes.)
				if (!header)
					assert.ok(
						replies.some((m) => m.type === 'error' && m.code === 'EINVAL'),
						`no EINVAL for ${frame.toString('hex')}`,
					);
				else if (header.fd !== 0)
					assert.ok(
						replies.some((m) => m.type === 'error' && m.code === 'EBADF'),
						`no EBADF for ${frame.toString('hex')}`,
					);
			},
		),
		// includeErrorInReport: the failing assertion itself in the message (fast-check 4 keeps it in `cause`, which the runner does not print).
		{ numRuns: 100_000, interruptAfterTimeLimit: TIME_LIMIT_MS, endOnFailure: true, includeErrorInReport: true },
	);
	assert.ok(isAlive(server.proc.pid!), 'the server died');
});

fuzz('after the fuzzing, the server still serves a new connection', async () => {
	console.log(`    ${stats.messages} messages: ${stats.errors} error replies, ${stats.closes} connections closed by the server`);
	const fresh = await RawClient.open(server.url, TOKEN);
	fresh.send({ type: 'spawn', id: 1, file: 'echo', args: ['alive'], stdio: ['ignore', 'ignore', 'ignore'] });
	const reply = await within(10_000, fresh.reply(1), 'spawn after fuzzing');
	assert.is(reply.type, 'spawned');
	fresh.ws.close();
});

fuzz.run();
