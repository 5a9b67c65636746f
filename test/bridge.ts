import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { type Server, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { type RemoteHost, RunError, connect } from '../client/index.js';
import { type Bridge, createBridge } from '../host/bridge/index.js';
import { type PolicyFile, ServerMessage } from '../schemas/bridge.js';
import { pidfd } from './helpers/cli.js';
import { eventually, sleep, within } from './helpers/deadline.js';
import { isAlive, rssKiB } from './helpers/proc.js';
import { testIf } from './helpers/skip.js';
import { serveProcess as serveWith } from './helpers/bridge-server.js';

const LIMIT = 15_000;
const TOKEN = randomBytes(24).toString('base64url');
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'pidfd-bridge-')));
const which = (name: string) => ['/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => existsSync(p))!;
const bin = { cat: which('cat'), echo: which('echo'), sleep: which('sleep'), sh: which('sh'), head: which('head'), env: which('env'), pwd: which('pwd') };

/** A bridge on a loopback http server of this process. */
async function startBridge(
	policy: PolicyFile,
	extra: { heartbeatMs?: number } = {},
): Promise<{ url: string; port: number; bridge: Bridge; server: Server; stop(): Promise<void> }> {
	const bridge = createBridge({ token: TOKEN, policy, ...extra });
	const server = createServer((_req, res) => res.writeHead(426).end());
	bridge.attach(server);
	await within(LIMIT, new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 'listen');
	const port = (server.address() as { port: number }).port;
	return {
		url: `ws://127.0.0.1:${port}/`,
		port,
		bridge,
		server,
		async stop() {
			await within(LIMIT, bridge.close(), 'bridge.close');
			server.closeAllConnections();
			await within(LIMIT, new Promise((resolve) => server.close(resolve)), 'server.close');
		},
	};
}

const connectTo = (url: string, token = TOKEN): Promise<RemoteHost> => within(LIMIT, connect(url, { token, WebSocket }), 'connect');

/** A hand-made upgrade request: the status and headers the server answers with. */
function upgrade(port: number, headers: Record<string, string>): Promise<{ status: number; body: string; protocol: string | undefined }> {
	return within(
		LIMIT,
		new Promise((resolve, reject) => {
			const req = request({
				host: '127.0.0.1',
				port,
				path: '/',
				headers: {
					Connection: 'Upgrade',
					Upgrade: 'websocket',
					'Sec-WebSocket-Version': '13',
					'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
					...headers,
				},
			});
			req.on('response', (res) => {
				let body = '';
				res.setEncoding('utf8');
				res.on('data', (chunk: string) => (body += chunk));
				res.on('end', () => resolve({ status: res.statusCode!, body, protocol: undefined }));
			});
			req.on('upgrade', (res, socket) => {
				socket.destroy();
				resolve({ status: 101, body: '', protocol: res.headers['sec-websocket-protocol'] });
			});
			req.on('error', reject);
			req.end();
		}),
		'upgrade',
	);
}

/** A protocol-level client: raw messages in, parsed messages out, checked against the schema. */
class RawClient {
	readonly messages: ServerMessage[] = [];
	readonly frames: Buffer[] = [];
	#waiters: (() => void)[] = [];
	closeCode: number | undefined;

	private constructor(readonly ws: WebSocket) {
		ws.on('message', (data: Buffer, isBinary) => {
			if (isBinary) this.frames.push(data);
			else {
				const parsed = ServerMessage.safeParse(JSON.parse(data.toString()));
				if (!parsed.success) throw new Error(`server sent a message outside the schema: ${data.toString()}`);
				this.messages.push(parsed.data);
			}
			for (const wake of this.#waiters.splice(0)) wake();
		});
		ws.on('close', (code) => {
			this.closeCode = code;
			for (const wake of this.#waiters.splice(0)) wake();
		});
		ws.on('error', () => {});
	}

	static async open(url: string, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }): Promise<RawClient> {
		const ws = new WebSocket(url, { headers });
		const client = new RawClient(ws);
		await within(LIMIT, new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 'open');
		await client.next((m) => m.type === 'hello');
		return client;
	}

	send(data: string | object | Buffer): void {
		this.ws.send(typeof data === 'object' && !Buffer.isBuffer(data) ? JSON.stringify(data) : data);
	}

	/** Removes and returns the first message that matches, waiting for it if need be. */
	next<T extends ServerMessage>(match: (m: ServerMessage) => boolean, what = 'message'): Promise<T> {
		const take = async (): Promise<T> => {
			for (;;) {
				const i = this.messages.findIndex(match);
				if (i >= 0) return this.messages.splice(i, 1)[0] as T;
				if (this.closeCode !== undefined) throw new Error(`connection closed (${this.closeCode}) while waiting for ${what}`);
				await new Promise<void>((resolve) => this.#waiters.push(resolve));
			}
		};
		return within(LIMIT, take(), what);
	}

	closed(): Promise<number> {
		return within(
			LIMIT,
			this.closeCode !== undefined ? Promise.resolve(this.closeCode) : new Promise<number>((resolve) => this.ws.once('close', resolve)),
			'close',
		);
	}
}

async function readText(stream: ReadableStream<Uint8Array>): Promise<string> {
	let text = '';
	const decoder = new TextDecoder();
	for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
	return text;
}

// ---

const auth = suite('auth at the upgrade');
let authBridge: Awaited<ReturnType<typeof startBridge>>;

auth.before(async () => {
	authBridge = await startBridge({ allow: [bin.echo], origins: ['https://app.example'] });
});
auth.after(() => authBridge.stop());

auth('no token: 401 and a body, no WebSocket', async () => {
	const r = await upgrade(authBridge.port, {});
	assert.is(r.status, 401);
	assert.match(r.body, /token/);
});

auth('wrong bearer token: 401', async () => {
	assert.is((await upgrade(authBridge.port, { Authorization: `Bearer ${TOKEN}x` })).status, 401);
	assert.is((await upgrade(authBridge.port, { Authorization: `Basic ${TOKEN}` })).status, 401);
});

auth('right bearer token: 101, no subprotocol needed', async () => {
	assert.is((await upgrade(authBridge.port, { Authorization: `Bearer ${TOKEN}` })).status, 101);
});

auth('token as a subprotocol (browsers): 101, and only pidfd.v1 is echoed', async () => {
	const offered = `pidfd.v1, pidfd.token.${Buffer.from(TOKEN).toString('base64url')}`;
	const r = await upgrade(authBridge.port, { 'Sec-WebSocket-Protocol': offered });
	assert.is(r.status, 101);
	assert.is(r.protocol, 'pidfd.v1');
	const wrong = `pidfd.v1, pidfd.token.${Buffer.from('nope-nope-nope-nope').toString('base64url')}`;
	assert.is((await upgrade(authBridge.port, { 'Sec-WebSocket-Protocol': wrong })).status, 401);
});

auth('an Origin not on the list: 403, even with the right token', async () => {
	const r = await upgrade(authBridge.port, { Authorization: `Bearer ${TOKEN}`, Origin: 'https://evil.example' });
	assert.is(r.status, 403);
	assert.is((await upgrade(authBridge.port, { Authorization: `Bearer ${TOKEN}`, Origin: 'https://app.example' })).status, 101);
});

auth('connect() with a wrong token rejects ECONNREFUSED; with the right one it works', async () => {
	try {
		await connectTo(authBridge.url, `${TOKEN}-wrong`);
		assert.unreachable('connected with a wrong token');
	} catch (error) {
		assert.is((error as { code?: string }).code, 'ECONNREFUSED');
		assert.match(String(error), /401/);
	}
	const host = await connectTo(authBridge.url);
	assert.is((await within(LIMIT, host.run('echo', ['ok'], { encoding: 'utf8' }))).stdout, 'ok\n');
	await within(LIMIT, host.close());
});

auth.run();

// ---

const policy = suite('policy refusals: EPERM, and the connection stays usable');
let policyBridge: Awaited<ReturnType<typeof startBridge>>;
let host: RemoteHost;
const root = join(tmp, 'root');

policy.before(async () => {
	mkdirSync(join(root, 'sub'), { recursive: true });
	mkdirSync(join(tmp, 'fake'), { recursive: true });
	// Named like an allowed program, pointing at one that is not allowed.
	symlinkSync(bin.sh, join(tmp, 'fake', 'cat'));
	symlinkSync(tmp, join(root, 'escape'));
	policyBridge = await startBridge({
		allow: [bin.cat, bin.echo, bin.env, bin.pwd, bin.sleep],
		cwdRoot: root,
		envAllow: ['GREETING', 'LC_*', 'L*'],
		maxProcsPerConnection: 2,
	});
	host = await connectTo(policyBridge.url);
});
policy.after(async () => {
	await within(LIMIT, host.close());
	await policyBridge.stop();
});

async function refused(promise: Promise<unknown>, reason: RegExp): Promise<void> {
	try {
		await within(LIMIT, promise);
	} catch (error) {
		assert.is((error as { code?: string }).code, 'EPERM', String(error));
		assert.match((error as Error).message, reason);
		// The same connection still serves the next request.
		assert.is((await within(LIMIT, host.run('echo', ['still here'], { encoding: 'utf8' }))).stdout, 'still here\n');
		return;
	}
	assert.unreachable('the request was allowed');
}

policy('an executable not on the list', async () => {
	await refused(host.spawn(bin.sh, ['-c', 'id']), /not an allowed executable/);
	await refused(host.spawn('sh'), /not an allowed executable/);
	await refused(host.spawn('/nonexistent/cat'), /not an allowed executable/);
});

policy('a symlink named like an allowed program but pointing elsewhere', async () => {
	await refused(host.spawn(join(tmp, 'fake', 'cat')), /not an allowed executable/);
	await refused(host.spawn(`${bin.cat}/../sh`), /not an allowed executable/);
});

policy('a relative path is refused; a bare name of an allowed program works', async () => {
	await refused(host.spawn('./cat'), /absolute path or a bare name/);
	assert.is((await within(LIMIT, host.run('echo', ['bare'], { encoding: 'utf8' }))).stdout, 'bare\n');
});

policy('.. in cwd, or a symlink out of the root', async () => {
	await refused(host.spawn('pwd', [], { cwd: '..' }), /outside the allowed root/);
	await refused(host.spawn('pwd', [], { cwd: 'sub/../../..' }), /outside the allowed root/);
	await refused(host.spawn('pwd', [], { cwd: '/etc' }), /outside the allowed root/);
	await refused(host.spawn('pwd', [], { cwd: 'escape' }), /outside the allowed root/);
	assert.is((await within(LIMIT, host.run('pwd', [], { cwd: 'sub', encoding: 'utf8' }))).stdout, `${join(root, 'sub')}\n`);
	assert.is((await within(LIMIT, host.run('pwd', [], { encoding: 'utf8' }))).stdout, `${root}\n`);
});

policy('LD_PRELOAD and LD_LIBRARY_PATH, even with envAllow "L*"', async () => {
	await refused(host.spawn('env', [], { env: { LD_PRELOAD: '/tmp/evil.so' } }), /LD_PRELOAD is not allowed/);
	await refused(host.spawn('env', [], { env: { LD_LIBRARY_PATH: '/tmp' } }), /LD_LIBRARY_PATH is not allowed/);
	const { stdout } = await within(LIMIT, host.run('env', [], { env: { GREETING: 'hi', LC_ALL: 'C' }, encoding: 'utf8' }));
	const vars = stdout.trim().split('\n').sort();
	assert.equal(vars, ['GREETING=hi', 'LC_ALL=C', 'PATH=/usr/local/bin:/usr/bin:/bin']);
});

policy('max processes per connection', async () => {
	const a = await within(LIMIT, host.spawn('sleep', ['1000'], { stdio: 'ignore' }));
	const b = await within(LIMIT, host.spawn('sleep', ['1000'], { stdio: 'ignore' }));
	try {
		await within(LIMIT, host.spawn('sleep', ['1000'], { stdio: 'ignore' }));
		assert.unreachable('a third process started');
	} catch (error) {
		assert.is((error as { code?: string }).code, 'EPERM');
		assert.match(String(error), /too many processes/);
	}
	await within(LIMIT, Promise.all([a.kill('SIGKILL'), b.kill('SIGKILL')]));
	await within(LIMIT, Promise.all([a.wait(), b.wait()]));
	assert.is((await within(LIMIT, host.run('echo', ['slots back'], { encoding: 'utf8' }))).stdout, 'slots back\n');
});

policy('detached children are refused unless the policy allows them', async () => {
	await refused(host.spawn('sleep', ['1'], { detached: true }), /detached/);
});

policy('exec failure on the host rejects spawn() with its errno', async () => {
	// Allowed, but the cwd is a file: chdir fails in the child, reported like locally.
	writeFileSync(join(root, 'file'), '');
	try {
		await within(LIMIT, host.spawn('pwd', [], { cwd: 'file' }));
		assert.unreachable('spawned in a file');
	} catch (error) {
		assert.is((error as { code?: string }).code, 'ENOTDIR', String(error));
	}
});

policy.run();

// ---

const protocol = suite('malformed messages: an error reply, never a crash');
let protocolBridge: Awaited<ReturnType<typeof startBridge>>;

protocol.before(async () => {
	protocolBridge = await startBridge({ allow: [bin.echo, bin.cat], maxPayload: 1024 * 1024 });
});
protocol.after(() => protocolBridge.stop());

protocol('garbage JSON, wrong shapes, unknown types: EINVAL naming the problem; the connection stays up', async () => {
	const c = await RawClient.open(protocolBridge.url);
	c.send('{ this is not json');
	const first = await c.next<{ type: 'error'; code: string; message: string } & ServerMessage>((m) => m.type === 'error');
	assert.is(first.code, 'EINVAL');
	assert.match(first.message, /invalid JSON/);
	c.send('[1,2,3]');
	c.send({ type: 'spawn', id: 7 });
	c.send({ type: 'spawn', id: 8, file: 'echo', args: 'not-an-array' });
	c.send({ type: 'spawn', id: 9, file: 'echo', unexpected: true });
	c.send({ type: 'launch-missiles', id: 10 });
	c.send({ type: 'kill', id: 11, child: -1 });
	c.send({ type: 'spawn', id: 12, file: 'ec\0ho' });
	const errors = [];
	for (let i = 0; i < 7; i++) errors.push(await c.next((m) => m.type === 'error'));
	const byId = new Map(errors.map((e) => [(e as { id: number | null }).id, e as { code: string; message: string }]));
	assert.match(byId.get(null)!.message, /expected a JSON object/);
	assert.match(byId.get(7)!.message, /file/);
	assert.match(byId.get(8)!.message, /args/);
	assert.match(byId.get(9)!.message, /unexpected/);
	assert.match(byId.get(10)!.message, /launch-missiles/);
	assert.match(byId.get(11)!.message, /child/);
	assert.match(byId.get(12)!.message, /NUL/);
	for (const e of byId.values()) assert.is(e.code, 'EINVAL');
	// Binary frames that make no sense.
	c.send(Buffer.from([1, 2, 3]));
	c.send(Buffer.from([99, 0, 0, 0, 0, 0, 0, 0, 1]));
	assert.is((await c.next<{ type: 'error'; code: string } & ServerMessage>((m) => m.type === 'error')).code, 'EINVAL');
	assert.is((await c.next<{ type: 'error'; code: string } & ServerMessage>((m) => m.type === 'error')).code, 'EBADF');
	// Still serving.
	c.send({ type: 'spawn', id: 20, file: 'echo', args: ['alive'] });
	const spawned = await c.next<{ type: 'spawned'; child: number } & ServerMessage>((m) => m.type === 'spawned' && m.id === 20);
	const exit = await c.next<{ type: 'exit'; exit: { code: number } } & ServerMessage>((m) => m.type === 'exit' && m.child === spawned.child);
	assert.is(exit.exit.code, 0);
	c.ws.close();
});

protocol('an 8 MiB message closes that connection (1009); the server keeps serving others', async () => {
	const bystander = await RawClient.open(protocolBridge.url);
	const big = await RawClient.open(protocolBridge.url);
	big.send(JSON.stringify({ type: 'spawn', id: 1, file: 'echo', args: ['x'.repeat(8 * 1024 * 1024)] }));
	assert.is(await big.closed(), 1009);
	const host = await connectTo(protocolBridge.url);
	assert.is((await within(LIMIT, host.run('echo', ['after'], { encoding: 'utf8' }))).stdout, 'after\n');
	await within(LIMIT, host.close());
	bystander.send({ type: 'list', id: 5 });
	assert.is((await bystander.next((m) => m.type === 'processes')).type, 'processes');
	bystander.ws.close();
});

protocol('a stdin frame beyond the granted window is refused (EPROTO), not buffered', async () => {
	const c = await RawClient.open(protocolBridge.url);
	c.send({ type: 'spawn', id: 1, file: 'cat', stdio: ['pipe', 'ignore', 'ignore'] });
	const spawned = await c.next<{ type: 'spawned'; child: number; stdinWindow: number } & ServerMessage>((m) => m.type === 'spawned');
	const frame = Buffer.alloc(8 + spawned.stdinWindow + 1);
	frame.writeUInt32LE(spawned.child, 0);
	c.send(frame);
	const error = await c.next<{ type: 'error'; code: string } & ServerMessage>((m) => m.type === 'error');
	assert.is(error.code, 'EPROTO');
	c.ws.close();
});

protocol.run();

// ---

const lifecycle = suite('children end with their connection');
let lifeBridge: Awaited<ReturnType<typeof startBridge>>;

lifecycle.before(async () => {
	lifeBridge = await startBridge({ allow: [bin.sleep, bin.sh], maxRuntimeMs: 60_000 }, { heartbeatMs: 200 });
});
lifecycle.after(() => lifeBridge.stop());

lifecycle('close() kills the children it started', async () => {
	const host = await connectTo(lifeBridge.url);
	const a = await within(LIMIT, host.spawn('sleep', ['1000'], { stdio: 'ignore' }));
	const b = await within(LIMIT, host.spawn('sleep', ['1000'], { stdio: 'ignore' }));
	assert.ok(isAlive(a.pid) && isAlive(b.pid));
	await within(LIMIT, host.close());
	await eventually(LIMIT, () => !isAlive(a.pid) && !isAlive(b.pid), 'children gone after close');
	await eventually(LIMIT, () => lifeBridge.bridge.running === 0, 'budget released');
});

lifecycle('an abrupt disconnect (no close frame) kills them too, with their process group', async () => {
	const c = await RawClient.open(lifeBridge.url);
	c.send({ type: 'spawn', id: 1, file: 'sh', args: ['-c', 'sleep 1000 & echo $!; wait'], stdio: ['ignore', 'pipe', 'ignore'], processGroup: true });
	const spawned = await c.next<{ type: 'spawned'; pid: number } & ServerMessage>((m) => m.type === 'spawned');
	await eventually(LIMIT, () => c.frames.length > 0, 'grandchild pid on stdout');
	const grandchild = Number(c.frames[0]!.subarray(8).toString().trim());
	assert.ok(isAlive(spawned.pid) && isAlive(grandchild));
	c.ws.terminate();
	await eventually(LIMIT, () => !isAlive(spawned.pid) && !isAlive(grandchild), 'shell and its sleep gone');
});

lifecycle('a client that stops answering pings is dropped, and its children killed', async () => {
	const c = await RawClient.open(lifeBridge.url);
	c.send({ type: 'spawn', id: 1, file: 'sleep', args: ['1000'], stdio: ['ignore', 'ignore', 'ignore'] });
	const spawned = await c.next<{ type: 'spawned'; pid: number } & ServerMessage>((m) => m.type === 'spawned');
	// Stop reading the socket: pings go unanswered.
	c.ws.pause();
	await eventually(LIMIT, () => !isAlive(spawned.pid), 'child of an unresponsive client killed');
	c.ws.terminate();
});

lifecycle('timeout, kill after exit (false), terminatedBy', async () => {
	const host = await connectTo(lifeBridge.url);
	const child = await within(LIMIT, host.spawn('sleep', ['1000'], { stdio: 'ignore', timeout: 100 }));
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.signal, 'SIGTERM');
	assert.is(child.terminatedBy, 'timeout');
	assert.is(await child.kill(), false, 'kill after exit resolves false, as in the library');
	await within(LIMIT, host.close());
});

lifecycle.run();

// ---

const stdio = suite('stdio through the client');
let stdioBridge: Awaited<ReturnType<typeof startBridge>>;

stdio.before(async () => {
	stdioBridge = await startBridge({ allow: [bin.cat, bin.sh, bin.head], maxPayload: 64 * 1024 });
});
stdio.after(() => stdioBridge.stop());

stdio('cat: text round trip, stdin EOF reaches the child', async () => {
	const host = await connectTo(stdioBridge.url);
	const cat = await within(LIMIT, host.spawn('cat'));
	const writer = cat.stdin!.getWriter();
	await within(LIMIT, writer.write('Hello, '));
	await within(LIMIT, writer.write(new TextEncoder().encode('world!\n')));
	await within(LIMIT, writer.close());
	assert.is(await within(LIMIT, readText(cat.stdout!)), 'Hello, world!\n');
	assert.is((await within(LIMIT, cat.wait())).code, 0);
	await within(LIMIT, host.close());
});

stdio('cat: 5 MiB of binary through 64 KiB messages, both directions at once', async () => {
	const host = await connectTo(stdioBridge.url);
	const cat = await within(LIMIT, host.spawn('cat'));
	const sent = randomBytes(5 * 1024 * 1024);
	const writer = cat.stdin!.getWriter();
	const writing = writer.write(sent).then(() => writer.close());
	const chunks: Uint8Array[] = [];
	for await (const chunk of cat.stdout! as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
	await within(LIMIT, writing);
	assert.ok(Buffer.concat(chunks).equals(sent));
	await within(LIMIT, host.close());
});

stdio('stdout and stderr apart; run() with input', async () => {
	const host = await connectTo(stdioBridge.url);
	const r = await within(LIMIT, host.run('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'in\n', encoding: 'utf8' }));
	assert.is(r.stdout, 'in\n');
	assert.is(r.stderr, 'err\n');
	assert.is(r.exit.code, 3);
	await within(LIMIT, host.close());
});

stdio('run() past maxBuffer: RunError, the child killed by SIGKILL (not SIGPIPE), output kept up to the limit', async () => {
	const host = await connectTo(stdioBridge.url);
	try {
		await within(LIMIT, host.run('head', ['-c', '10000000', '/dev/zero'], { maxBuffer: 1000 }));
		assert.unreachable('run() resolved past maxBuffer');
	} catch (error) {
		const e = error as RunError<Uint8Array>;
		assert.ok(e instanceof RunError, String(error));
		assert.is(e.reason, 'maxBuffer');
		assert.is(e.stdout.byteLength, 1000);
		assert.is(e.exit.signal, 'SIGKILL');
	}
	await within(LIMIT, host.close());
});

stdio('cancelling stdout closes the pipe: a writer gets EPIPE instead of hanging', async () => {
	const host = await connectTo(stdioBridge.url);
	const child = await within(LIMIT, host.spawn('head', ['-c', '100000000', '/dev/zero'], { stdio: ['ignore', 'pipe', 'ignore'] }));
	const reader = child.stdout!.getReader();
	await within(LIMIT, reader.read());
	await within(LIMIT, reader.cancel());
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.signal, 'SIGPIPE');
	await within(LIMIT, host.close());
});

stdio.run();

// ---

/** `pidfd serve` in its own process, so its memory can be measured alone. */
const serveProcess = (args: string[], env: Record<string, string> = { PIDFD_TOKEN: TOKEN }) => serveWith(args, env);

const backpressure = suite('backpressure: a slow client does not grow the server');

backpressure('64 MiB to a client that reads slowly: server RSS stays bounded', async () => {
	const server = await serveProcess(['--allow', bin.head, '--max-buffered', '1M']);
	try {
		const host = await connectTo(server.url);
		await within(LIMIT, host.run('head', ['-c', '1000000', '/dev/zero']));
		const before = rssKiB(server.proc.pid!);
		let peak = before;
		const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(server.proc.pid!))), 20);
		const size = 64 * 1024 * 1024;
		const child = await within(LIMIT, host.spawn('head', ['-c', String(size), '/dev/zero'], { stdio: ['ignore', 'pipe', 'ignore'] }));
		const reader = child.stdout!.getReader();
		let received = 0;
		const started = Date.now();
		try {
			// Slow: a pause every 256 KiB, so the child could outrun us a hundred times over.
			let next = 0;
			for (;;) {
				const { done, value } = await within(LIMIT, reader.read());
				if (done) break;
				received += value.byteLength;
				if (received >= next) {
					next += 256 * 1024;
					await sleep(5);
				}
			}
		} finally {
			clearInterval(sampler);
		}
		assert.is(received, size);
		assert.is((await within(LIMIT, child.wait())).code, 0);
		const growthMiB = (peak - before) / 1024;
		console.log(`    server RSS ${Math.round(before / 1024)} MiB before, peak +${growthMiB.toFixed(1)} MiB while sending 64 MiB in ${Date.now() - started} ms`);
		assert.ok(growthMiB < 100, `server grew by ${growthMiB} MiB`);
		await within(LIMIT, host.close());
	} finally {
		await server.stop();
	}
});

backpressure('a raw client that grants a huge window but stops reading its socket: still bounded', async () => {
	const server = await serveProcess(['--allow', bin.head, '--max-buffered', '1M']);
	try {
		const c = await RawClient.open(server.url);
		c.send({ type: 'spawn', id: 1, file: 'head', args: ['-c', String(64 * 1024 * 1024), '/dev/zero'], stdio: ['ignore', 'pipe', 'ignore'], window: 2 ** 30 });
		const spawned = await c.next<{ type: 'spawned'; pid: number } & ServerMessage>((m) => m.type === 'spawned');
		const before = rssKiB(server.proc.pid!);
		c.ws.pause();
		let peak = before;
		for (let i = 0; i < 100; i++) {
			peak = Math.max(peak, rssKiB(server.proc.pid!));
			await sleep(20);
		}
		const growthMiB = (peak - before) / 1024;
		console.log(`    paused socket: server RSS peak +${growthMiB.toFixed(1)} MiB over 2 s; child still blocked: ${isAlive(spawned.pid)}`);
		assert.ok(growthMiB < 100, `server grew by ${growthMiB} MiB`);
		// The child is blocked on its pipe, not finished: the data was never read out.
		assert.ok(isAlive(spawned.pid));
		c.ws.terminate();
		await eventually(LIMIT, () => !isAlive(spawned.pid), 'child killed with its connection');
	} finally {
		await server.stop();
	}
});

backpressure.run();

// ---

const cli = suite('pidfd serve');

cli('one listening line on stdout; a generated token on stderr; 426 for plain HTTP', async () => {
	const env: Record<string, string> = { PIDFD_TOKEN: '' };
	const server = await serveProcess(['--allow', bin.echo], env);
	try {
		assert.match(server.url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
		await eventually(LIMIT, () => /^token: \S+$/m.test(server.stderr()), 'token on stderr');
		const token = /^token: (\S+)$/m.exec(server.stderr())![1]!;
		const host = await connectTo(server.url, token);
		assert.is((await within(LIMIT, host.run('echo', ['generated'], { encoding: 'utf8' }))).stdout, 'generated\n');
		await within(LIMIT, host.close());
		const status = await within(
			LIMIT,
			new Promise<number>((resolve, reject) =>
				request(server.url.replace('ws:', 'http:'), (res) => resolve(res.statusCode!))
					.on('error', reject)
					.end(),
			),
		);
		assert.is(status, 426);
	} finally {
		await server.stop();
	}
});

cli('--socket: a unix socket of mode 0600, reachable with ws+unix', async () => {
	const path = join(tmp, 'bridge.sock');
	const server = await serveProcess(['--socket', path, '--allow', bin.echo]);
	try {
		assert.is(server.url, `ws+unix:${path}:/`);
		assert.is(statSync(path).mode & 0o777, 0o600);
		const host = await connectTo(server.url);
		assert.is((await within(LIMIT, host.run('echo', ['unix'], { encoding: 'utf8' }))).stdout, 'unix\n');
		await within(LIMIT, host.close());
	} finally {
		await server.stop();
	}
	assert.not.ok(existsSync(path), 'socket removed on exit');
});

cli('--policy FILE plus flags; a bad policy file is refused with a message', async () => {
	const file = join(tmp, 'policy.json');
	writeFileSync(file, JSON.stringify({ allow: [bin.echo], envAllow: ['GREETING'], maxRuntimeMs: 5000 }));
	const server = await serveProcess(['--policy', file, '--token-file', writeToken()]);
	try {
		const host = await connectTo(server.url);
		assert.is(host.limits.maxRuntimeMs, 5000);
		assert.is((await within(LIMIT, host.run('echo', ['from policy'], { encoding: 'utf8' }))).stdout, 'from policy\n');
		await within(LIMIT, host.close());
	} finally {
		await server.stop();
	}
	writeFileSync(file, JSON.stringify({ allow: 'not a list' }));
	const bad = await pidfd(['serve', '--policy', file]);
	assert.is(bad.code, 1);
	assert.match(bad.stderr, /allow/);
});

function writeToken(): string {
	const file = join(tmp, 'token');
	writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
	return file;
}

cli.run();

// ---

const portable = suite('the client is portable: no Node built-ins, same script in every runtime');
let portableServer: Awaited<ReturnType<typeof serveProcess>>;
const bundle = join('node_modules', '.cache', 'pidfd-test', 'bridge-client.mjs');

portable.before(async () => {
	portableServer = await serveProcess(['--allow', bin.echo, '--allow', bin.cat, '--allow', bin.sleep]);
	await build({
		entryPoints: ['test/fixtures/bridge-client.ts'],
		bundle: true,
		format: 'esm',
		platform: 'neutral',
		target: 'es2022',
		outfile: bundle,
		logLevel: 'error',
	});
});
portable.after(() => portableServer.stop());

portable('client/ bundles for browsers: no node: imports, no zod', async () => {
	const result = await build({
		entryPoints: ['client/index.ts'],
		bundle: true,
		format: 'esm',
		platform: 'browser',
		target: 'es2022',
		write: false,
		minify: true,
		logLevel: 'error',
	});
	const text = result.outputFiles[0]!.text;
	assert.not.match(text, /from\s*["']node:/);
	assert.not.match(text, /zod/i);
	console.log(`    client bundle: ${(text.length / 1024).toFixed(1)} KiB minified`);
});

portable('client/ type-checks without Node types (tsc -p client)', async () => {
	const r = await runScript(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'client']);
	assert.is(r.code, 0, r.stdout + r.stderr);
});

function runScript(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
	return within(
		60_000,
		new Promise((resolve) => {
			execFile(command, args, { timeout: 55_000 }, (error, stdout, stderr) => resolve({ code: error ? ((error.code as number) ?? 1) : 0, stdout, stderr }));
		}),
		`${command} ${args.join(' ')}`,
	);
}

function assertScriptPassed(r: { code: number | null; stdout: string; stderr: string }): void {
	assert.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
	assert.match(r.stdout, /\{"done":true\}/);
}

portable('Node 20 (ws passed in)', async () => {
	assertScriptPassed(await runScript(process.execPath, ['--import', 'tsx', 'test/fixtures/bridge-client.ts', portableServer.url, TOKEN]));
});

for (const [name, command, args] of [
	['Deno, --allow-net only', 'node_modules/.bin/deno', ['run', '--allow-net', '--no-config', bundle]],
	['Bun', 'node_modules/.bin/bun', [bundle]],
] as const) {
	testIf(portable, existsSync(command), `${command} is not installed (npm install: it is a devDependency)`, name, async () => {
		assertScriptPassed(await runScript(command, [...args, portableServer.url, TOKEN]));
	});
}

portable.run();
