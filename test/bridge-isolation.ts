// The bridge's isolation: with 'namespaces' (the default of `pidfd serve`) each child of a
// connection runs in new user, pid, mount and IPC namespaces: it cannot see, open or signal
// the server or another connection's children, and nothing it leaves behind survives it. A
// kernel that refuses namespaces stops `pidfd serve` at startup, naming the cause and
// --isolation none. The cwd is resolved beneath --cwd-root by the child (cwdRoot).
import { spawn as nodeSpawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { type RemoteHost, connect } from '../client/index.js';
import { type Bridge, createBridge } from '../host/bridge/index.js';
import { sidecarInfo, spawn } from '../host/index.js';
import type { PolicyFile } from '../schemas/bridge.js';
import { CLI } from './helpers/cli.js';
import { eventually, within } from './helpers/deadline.js';
import { fixtureReport, withMarker } from './helpers/exec.js';
import { runAsNobody } from './helpers/nobody.js';
import { isAlive } from './helpers/proc.js';
import { testIf } from './helpers/skip.js';
import { seccompMissing, seccompSidecar } from './helpers/seccomp.js';

const LIMIT = 15_000;
const TOKEN = 'isolation-test-token-0123456789abcdef';
const repo = resolve(import.meta.dirname ?? '.', '..');
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'pidfd-bridge-iso-')));
const which = (name: string) => ['/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => existsSync(p))!;
const bin = { sh: which('sh'), cat: which('cat'), pwd: which('pwd'), sleep: which('sleep') };
const root = join(tmp, 'root');
mkdirSync(join(root, 'work'), { recursive: true });
// A server running as root runs its children as nobody outside too: they must be able to enter the root.
chmodSync(tmp, 0o755);
symlinkSync('/etc', join(root, 'to-etc'));
symlinkSync('/no-such-dir-anywhere', join(root, 'to-nothing'));

const probe = await spawn('true', [], { namespaces: ['user', 'pid', 'mount', 'ipc'], stdio: 'ignore' })
	.then(async (c) => ((await c.wait()).code === 0 ? '' : 'a namespaced /bin/true failed'))
	.catch((e: unknown) => `the kernel refuses namespaces here: ${(e as Error).message}`);

async function startBridge(policy: PolicyFile): Promise<{ url: string; bridge: Bridge; server: Server; stop(): Promise<void> }> {
	const bridge = createBridge({ token: TOKEN, policy });
	const server = createServer((_req, res) => res.writeHead(426).end());
	bridge.attach(server);
	await within(LIMIT, new Promise<void>((done) => server.listen(0, '127.0.0.1', done)), 'listen');
	const port = (server.address() as { port: number }).port;
	return {
		url: `ws://127.0.0.1:${port}/`,
		bridge,
		server,
		async stop() {
			await within(LIMIT, bridge.close(), 'bridge.close');
			server.closeAllConnections();
			await within(LIMIT, new Promise((done) => server.close(done)), 'server.close');
		},
	};
}

const connectTo = (url: string): Promise<RemoteHost> => within(LIMIT, connect(url, { token: TOKEN, WebSocket }), 'connect');

// ---

const iso = suite('bridge, isolation namespaces: a connection cannot reach the server or another connection');

testIf(
	iso,
	!probe,
	probe,
	"a child sees only its namespace; the server's environ and fds, the sidecar and the other connection's child are out of reach",
	async () => {
		const server = await startBridge({ allow: [bin.sh, bin.sleep], cwdRoot: root, isolation: 'namespaces' });
		const a = await connectTo(server.url);
		const b = await connectTo(server.url);
		try {
			const victim = await within(LIMIT, a.spawn('sleep', ['100']));
			const sidecar = (await sidecarInfo()).pid;
			const script = [
				'id -u',
				'ls /proc | grep -c "^[0-9]"',
				`cat /proc/${process.pid}/environ >/dev/null 2>&1; echo environ=$?`,
				`ls /proc/${process.pid}/fd >/dev/null 2>&1; echo fds=$?`,
				`ls /proc/${sidecar}/fd >/dev/null 2>&1; echo sidecar=$?`,
				`kill -0 ${process.pid} 2>/dev/null; echo kill-server=$?`,
				`kill -STOP ${victim.pid} 2>/dev/null; echo stop-other=$?`,
				`kill -9 ${sidecar} 2>/dev/null; echo kill-sidecar=$?`,
				'head -c 1 /etc/shadow >/dev/null 2>&1; echo shadow=$?',
			].join('; ');
			const r = await within(LIMIT, b.run('sh', ['-c', script], { encoding: 'utf8' }));
			const lines = r.stdout.trim().split('\n');
			assert.is(lines[0], '65534', 'nobody inside');
			assert.ok(Number(lines[1]) <= 4, `processes in /proc: ${lines[1]}`);
			assert.equal(lines.slice(2), ['environ=1', 'fds=2', 'sidecar=2', 'kill-server=1', 'stop-other=1', 'kill-sidecar=1', 'shadow=1']);
			assert.ok(isAlive(sidecar), 'the sidecar lives on');
			// The other connection's child was neither stopped nor killed: it still answers a signal.
			assert.ok(await victim.kill('SIGTERM'));
			assert.is((await within(LIMIT, victim.wait())).signal, 'SIGTERM');
		} finally {
			await a.close();
			await b.close();
			await server.stop();
		}
	},
);

testIf(iso, !probe, probe, "a backgrounded process dies with its shell: sh -c 'sleep 100 & exit 0' leaves nothing", async () => {
	const server = await startBridge({ allow: [bin.sh], isolation: 'namespaces' });
	const host = await connectTo(server.url);
	const marker = `${Date.now() % 100000}.5`;
	try {
		const r = await within(LIMIT, host.run('sh', ['-c', `sleep ${marker} & exit 0`], { encoding: 'utf8' }));
		assert.is(r.exit.code, 0);
		await eventually(5000, () => withMarker(`sleep\0${marker}`).length === 0, 'the background sleep is gone');
	} finally {
		await host.close();
		await server.stop();
	}
});

const asRoot = process.getuid?.() === 0 ? probe : 'needs root to become nobody';
testIf(iso, !asRoot, asRoot, 'the same attack on a server running as nobody, whose children have its own uid outside', async () => {
	const r = fixtureReport(await within(60_000, runAsNobody('test/fixtures/bridge-isolation-attack.ts'), 'the server as nobody'));
	console.log(`    as nobody: ${r.isolation}; the attacker saw ${JSON.stringify(r.lines)}`);
	assert.is(r.uid, 65534);
	assert.match(r.isolation, /^namespaces \(user, pid, mount, ipc/);
	assert.is(r.lines[0], '65534', 'nobody inside');
	assert.ok(Number(r.lines[1]) <= 4, `processes in /proc: ${r.lines[1]}`);
	assert.equal(r.lines.slice(2), ['environ=1', 'fds=2', 'sidecar=2', 'kill-server=1', 'stop-other=1', 'kill-sidecar=1']);
	assert.is(r.victimState, 'S', "the other connection's child was not stopped");
	assert.is(r.victimSignal, 'SIGTERM');
	assert.ok(r.sidecarAlive, 'the sidecar lives on');
	// The control: the same server with --isolation none, and the same reads succeed.
	const open = fixtureReport(
		await within(60_000, runAsNobody('test/fixtures/bridge-isolation-attack.ts', ['--isolation', 'none']), 'the server as nobody, unisolated'),
	);
	assert.equal(open.lines.slice(2), ['environ=0', 'fds=0', 'sidecar=0', 'kill-server=0']);
});

iso.run();

// ---

const cwd = suite('bridge: the cwd resolved beneath --cwd-root by the child');

cwd('inside works; every way out is the same EPERM, whether the target exists or not', async () => {
	const server = await startBridge({ allow: [bin.pwd], cwdRoot: root });
	const host = await connectTo(server.url);
	try {
		assert.is((await within(LIMIT, host.run('pwd', ['-P'], { cwd: 'work', encoding: 'utf8' }))).stdout.trim(), join(root, 'work'));
		const refusal = async (where: string) => {
			const e = (await within(
				LIMIT,
				host.run('pwd', [], { cwd: where }).catch((error: unknown) => error),
			)) as { code?: string };
			return e.code;
		};
		for (const where of ['to-etc', 'to-nothing', '..', '/etc']) assert.is(await refusal(where), 'EPERM', where);
		assert.is(await refusal('work/missing'), 'ENOENT');
	} finally {
		await host.close();
		await server.stop();
	}
});

cwd.run();

// ---

const cli = suite('pidfd serve --isolation');

/** `pidfd serve ARGS` until its listening line or its exit; stops it if it listens. */
async function serveOnce(args: string[], env: NodeJS.ProcessEnv): Promise<{ listening: boolean; code: number | null; stderr: string }> {
	const proc = nodeSpawn(process.execPath, [...CLI, 'serve', ...args], { env: { ...env, PIDFD_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'], cwd: repo });
	let stderr = '';
	proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
	const result = await within(
		LIMIT * 2,
		new Promise<{ listening: boolean; code: number | null }>((done) => {
			proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
				if (chunk.startsWith('listening ')) done({ listening: true, code: null });
			});
			proc.once('exit', (code) => done({ listening: false, code }));
		}),
		'serve',
	);
	if (result.listening) {
		const exited = new Promise((done) => proc.once('exit', done));
		proc.kill('SIGTERM');
		await within(LIMIT, exited, 'serve exit');
	}
	return { ...result, stderr };
}

testIf(cli, !probe, probe, 'namespaces by default, said at startup; --isolation none said too; a bad mode is refused', async () => {
	const byDefault = await serveOnce(['--allow', bin.cat], process.env);
	assert.ok(byDefault.listening, byDefault.stderr);
	assert.match(byDefault.stderr, /isolation: namespaces \(user, pid, mount, ipc/);
	const none = await serveOnce(['--allow', bin.cat, '--isolation', 'none'], process.env);
	assert.ok(none.listening, none.stderr);
	assert.match(none.stderr, /isolation: none/);
	const bad = await serveOnce(['--isolation', 'chroot'], process.env);
	assert.not.ok(bad.listening);
	assert.match(bad.stderr, /--isolation chroot: expected namespaces or none/);
});

testIf(cli, !seccompMissing, seccompMissing, 'a kernel that refuses user namespaces: serve will not start, naming the cause and --isolation none', async () => {
	const wrapper = await seccompSidecar(tmp, 'no-userns-sidecar', ['userns']);
	const env = { ...process.env, PIDFD_SIDECAR: wrapper };
	const refused = await serveOnce(['--allow', bin.cat], env);
	assert.not.ok(refused.listening, 'serve must not start unisolated');
	assert.ok(refused.code !== 0);
	assert.match(refused.stderr, /cannot isolate children in namespaces/);
	assert.match(refused.stderr, /clone3 EPERM/);
	assert.match(refused.stderr, /--isolation none/);
	const accepted = await serveOnce(['--allow', bin.cat, '--isolation', 'none'], env);
	assert.ok(accepted.listening, accepted.stderr);
	assert.match(accepted.stderr, /isolation: none/);
});

const notRoot = process.getuid?.() === 0 ? probe : 'only a server running as root maps its children to nobody outside';
testIf(cli, !notRoot, notRoot, 'as root, a --cwd-root nobody cannot enter is refused at startup, naming the root and the way out', async () => {
	const closed = join(tmp, 'closed-root');
	mkdirSync(closed, { mode: 0o700 });
	chmodSync(closed, 0o700);
	const refused = await serveOnce(['--allow', bin.cat, '--cwd-root', closed], process.env);
	assert.not.ok(refused.listening, 'serve must not start with a root its children cannot enter');
	assert.ok(refused.code !== 0);
	assert.match(refused.stderr, /children run as nobody/);
	assert.ok(refused.stderr.includes(`cannot enter the cwd root ${closed} (openat2 EACCES)`), refused.stderr);
	assert.match(refused.stderr, /--cwd-root/);
	chmodSync(closed, 0o755);
	const opened = await serveOnce(['--allow', bin.cat, '--cwd-root', closed], process.env);
	assert.ok(opened.listening, opened.stderr);
});

cli.run();

process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
