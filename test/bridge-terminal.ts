// Terminal sessions over the bridge: a child on a pty for a WebSocket client, its output as
// fd 1 frames, keystrokes as fd 0 frames, `resize` as a request, all under the policy.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, realpathSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { type RemoteChild, type RemoteHost, connect } from '../client/index.js';
import { createBridge } from '../host/bridge/index.js';
import { startServer } from '../host/bridge/serve.js';
import { type PolicyFile, ServerMessage } from '../schemas/bridge.js';
import { BRIDGE_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../schemas/bridge-wire.js';
import { eventually, within } from './helpers/deadline.js';
import { isAlive } from './helpers/proc.js';

const LIMIT = 15_000;
const TOKEN = randomBytes(24).toString('base64url');
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'pidfd-bridge-terminal-')));
// The cwd root of children that a server running as root maps to nobody: nobody must enter it.
chmodSync(tmp, 0o755);
const which = (name: string) => ['/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => existsSync(p))!;
const sh = which('sh');
const cat = which('cat');

/** A bridge on a loopback http server of this process. */
async function startBridge(policy: PolicyFile): Promise<{ url: string; stop(): Promise<void> }> {
	const bridge = createBridge({ token: TOKEN, policy });
	const server: Server = createServer((_req, res) => res.writeHead(426).end());
	bridge.attach(server);
	await within(LIMIT, new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 'listen');
	const port = (server.address() as { port: number }).port;
	return {
		url: `ws://127.0.0.1:${port}/`,
		async stop() {
			await within(LIMIT, bridge.close(), 'bridge.close');
			server.closeAllConnections();
			await within(LIMIT, new Promise((resolve) => server.close(resolve)), 'server.close');
		},
	};
}

/** Calls `each` with every chunk of a stream until it ends. */
async function drain(stream: ReadableStream<Uint8Array>, each: (chunk: Uint8Array) => void): Promise<void> {
	const reader = stream.getReader();
	for (;;) {
		const { done, value } = await reader.read();
		if (done) return;
		each(value);
	}
}

const connectTo = (url: string): Promise<RemoteHost> => within(LIMIT, connect(url, { token: TOKEN, WebSocket }), 'connect');

/** Everything the terminal has shown so far, and a way to wait for more. */
function watch(child: RemoteChild): { text: () => string; until(pattern: RegExp, from: number, what: string): Promise<number> } {
	let text = '';
	const decoder = new TextDecoder();
	drain(child.terminal!.readable, (chunk) => {
		text += decoder.decode(chunk, { stream: true });
	}).catch(() => {});
	return {
		text: () => text,
		/** Waits until `pattern` matches the output after `from`; resolves with the end of the match. */
		async until(pattern, from, what) {
			let end = -1;
			await eventually(
				LIMIT,
				() => {
					const match = pattern.exec(text.slice(from));
					if (match) end = from + match.index + match[0].length;
					return match !== null;
				},
				`${what} (the terminal showed ${JSON.stringify(text.slice(from))})`,
			);
			return end;
		},
	};
}

const policy: PolicyFile = { allow: [sh, cat], cwdRoot: tmp, envAllow: ['PS1'], allowTerminal: true };

const terminal = suite('bridge: terminal sessions');

terminal('an interactive shell: prompt, a typed command, stty size before and after resize', async () => {
	const server = await startBridge(policy);
	const host = await connectTo(server.url);
	try {
		const child = await within(LIMIT, host.spawn('sh', ['-i'], { env: { PS1: '$ ' }, terminal: { cols: 100, rows: 30 } }), 'spawn');
		assert.is(child.stdin, null);
		assert.is(child.stdout, null);
		assert.is(child.stderr, null);
		assert.ok(child.terminal);
		assert.equal([child.terminal.cols, child.terminal.rows], [100, 30]);
		const screen = watch(child);
		const keys = child.terminal.writable.getWriter();
		let at = await screen.until(/\$ $/, 0, 'first prompt');
		await within(LIMIT, keys.write('echo $((6*7))\n'), 'type');
		at = await screen.until(/\r\n42\r\n\$ $/, at, 'answer 42');
		await within(LIMIT, keys.write('stty size\n'), 'type');
		at = await screen.until(/\r\n30 100\r\n\$ $/, at, 'stty size 30 100');
		await within(LIMIT, child.terminal.resize(120, 40), 'resize');
		assert.equal([child.terminal.cols, child.terminal.rows], [120, 40]);
		await within(LIMIT, keys.write('stty size\n'), 'type');
		at = await screen.until(/\r\n40 120\r\n\$ $/, at, 'stty size 40 120');
		await within(LIMIT, keys.write('exit 3\n'), 'type');
		assert.is((await within(LIMIT, child.wait(), 'wait')).code, 3);
	} finally {
		await within(LIMIT, host.close(), 'close');
		await server.stop();
	}
});

terminal('terminal: true gives 80 × 24 and TERM=xterm-256color; the output ends with the child', async () => {
	const server = await startBridge(policy);
	const host = await connectTo(server.url);
	try {
		const child = await within(LIMIT, host.spawn('sh', ['-c', 'stty size; echo "$TERM"'], { terminal: true }), 'spawn');
		let text = '';
		const decoder = new TextDecoder();
		await within(
			LIMIT,
			drain(child.terminal!.readable, (chunk) => {
				text += decoder.decode(chunk, { stream: true });
			}),
			'read to the end',
		);
		assert.is(text, '24 80\r\nxterm-256color\r\n');
		assert.is((await within(LIMIT, child.wait(), 'wait')).code, 0);
	} finally {
		await within(LIMIT, host.close(), 'close');
		await server.stop();
	}
});

terminal('a policy without allowTerminal refuses a terminal with EPERM', async () => {
	const server = await startBridge({ ...policy, allowTerminal: undefined });
	const host = await connectTo(server.url);
	try {
		const error = await within(
			LIMIT,
			host.spawn('sh', ['-i'], { terminal: true }).then(
				() => undefined,
				(e: { code?: string; message?: string }) => e,
			),
			'spawn',
		);
		assert.is(error?.code, 'EPERM');
		assert.match(String(error?.message), /terminal/);
		// The refusal took no slot: an ordinary spawn still runs.
		const child = await within(LIMIT, host.spawn('sh', ['-c', 'exit 0'], { stdio: 'ignore' }), 'spawn');
		assert.is((await within(LIMIT, child.wait(), 'wait')).code, 0);
	} finally {
		await within(LIMIT, host.close(), 'close');
		await server.stop();
	}
});

terminal('a bad resize is refused with EINVAL and changes nothing', async () => {
	const server = await startBridge(policy);
	const host = await connectTo(server.url);
	try {
		const child = await within(LIMIT, host.spawn('sh', ['-i'], { env: { PS1: '$ ' }, terminal: { cols: 90, rows: 20 } }), 'spawn');
		for (const [cols, rows] of [
			[0, 20],
			[90, 65536],
			[1.5, 20],
		] as const) {
			const error = await within(
				LIMIT,
				child.terminal!.resize(cols, rows).then(
					() => undefined,
					(e: { code?: string }) => e,
				),
				'resize',
			);
			assert.is(error?.code, 'EINVAL', `resize(${cols}, ${rows})`);
		}
		assert.equal([child.terminal!.cols, child.terminal!.rows], [90, 20]);
		const screen = watch(child);
		const keys = child.terminal!.writable.getWriter();
		const at = await screen.until(/\$ $/, 0, 'prompt');
		await within(LIMIT, keys.write('stty size\n'), 'type');
		await screen.until(/\r\n20 90\r\n/, at, 'stty size unchanged');
	} finally {
		await within(LIMIT, host.close(), 'close');
		await server.stop();
	}
});

terminal('resize of a child not on a terminal, or of no child, is refused', async () => {
	const server = await startBridge(policy);
	const ws = new WebSocket(server.url, [BRIDGE_PROTOCOL, TOKEN_PROTOCOL_PREFIX + Buffer.from(TOKEN).toString('base64url')]);
	const messages: ServerMessage[] = [];
	ws.on('message', (data: Buffer, isBinary) => {
		if (isBinary) return;
		const parsed = ServerMessage.safeParse(JSON.parse(data.toString()));
		if (!parsed.success) throw new Error(`server sent a message outside the schema: ${data.toString()}`);
		messages.push(parsed.data);
	});
	const reply = async (id: number) => {
		await eventually(LIMIT, () => messages.some((m) => 'id' in m && m.id === id), `reply ${id}`);
		return messages.find((m) => 'id' in m && m.id === id)!;
	};
	try {
		await eventually(LIMIT, () => messages.some((m) => m.type === 'hello'), 'hello');
		ws.send(JSON.stringify({ type: 'spawn', id: 1, file: 'cat' }));
		const spawned = await reply(1);
		assert.is(spawned.type, 'spawned');
		const child = (spawned as { child: number }).child;
		ws.send(JSON.stringify({ type: 'resize', id: 2, child, cols: 80, rows: 24 }));
		const notTerminal = await reply(2);
		assert.is(notTerminal.type, 'error');
		assert.is((notTerminal as { code: string }).code, 'EINVAL');
		assert.match((notTerminal as { message: string }).message, /not on a terminal/);
		ws.send(JSON.stringify({ type: 'resize', id: 3, child: 999, cols: 80, rows: 24 }));
		assert.is((await reply(3)).type, 'error');
		assert.is(((await reply(3)) as { code: string }).code, 'ESRCH');
		ws.send(JSON.stringify({ type: 'resize', id: 4, child, cols: 80 }));
		assert.is(((await reply(4)) as { code: string }).code, 'EINVAL');
	} finally {
		ws.close();
		await server.stop();
	}
});

terminal('closing the connection kills the terminal child', async () => {
	const server = await startBridge(policy);
	const host = await connectTo(server.url);
	try {
		const child = await within(LIMIT, host.spawn('sh', ['-i'], { env: { PS1: '$ ' }, terminal: true }), 'spawn');
		const screen = watch(child);
		await screen.until(/\$ $/, 0, 'prompt');
		assert.ok(isAlive(child.pid));
		await within(LIMIT, host.close(), 'close');
		await eventually(LIMIT, () => !isAlive(child.pid), 'shell gone after close');
	} finally {
		await server.stop();
	}
});

terminal('pidfd serve --allow-terminal allows terminals; without it they are refused', async () => {
	const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };
	for (const allow of [true, false]) {
		const args = ['--listen', '127.0.0.1:0', '--allow', sh, '--cwd-root', tmp, ...(allow ? ['--allow-terminal'] : [])];
		const running = await within(LIMIT, startServer(args, quiet), 'startServer');
		try {
			assert.is(running.bridge.policy.allowTerminal, allow);
			const host = await within(LIMIT, connect(running.url, { token: running.token, WebSocket }), 'connect');
			assert.is(host.allowTerminal, allow, 'the hello says whether terminals are allowed');
			const spawning = host.spawn('sh', ['-c', 'test -t 0 && echo tty'], { terminal: true });
			if (allow) {
				const child = await within(LIMIT, spawning, 'spawn');
				let text = '';
				await within(
					LIMIT,
					drain(child.terminal!.readable, (chunk) => {
						text += new TextDecoder().decode(chunk);
					}),
					'read',
				);
				assert.is(text, 'tty\r\n');
			} else {
				const error = await within(
					LIMIT,
					spawning.then(
						() => undefined,
						(e: { code?: string }) => e,
					),
					'spawn',
				);
				assert.is(error?.code, 'EPERM');
			}
			await within(LIMIT, host.close(), 'close');
		} finally {
			await within(LIMIT, running.close(), 'running.close');
		}
	}
});

terminal.run();
