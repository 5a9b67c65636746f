import { chmodSync, readFileSync, unlinkSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PolicyFile } from '../../schemas/bridge.js';
import { PidfdError, spawn } from '../index.js';
import { generateToken } from './auth.js';
import { ISOLATION_NAMESPACES, isolationOptions } from './policy.js';
import { describeContainment } from './containment.js';
import type { Policy } from './policy.js';
import { type Bridge, createBridge } from './server.js';
import { loadUi } from './ui.js';

export const SERVE_USAGE = `Usage: pidfd serve [options]
  --listen HOST:PORT         where to listen (default 127.0.0.1:0, a free port)
  --socket PATH              listen on a unix socket instead (mode 0600)
  --token-file FILE          the token clients must present (else $PIDFD_TOKEN, removed from
                             the environment once read, else a new one, printed on stderr as
                             "token: <token>"); at least 16 characters
  --origin ORIGIN            a browser origin allowed to connect (repeatable; '*' for any)
  --allow PATH               an executable clients may start (repeatable)
  --cwd-root DIR             children run in DIR or below (default: the current directory)
  --env-allow NAME           a variable clients may set (repeatable; PREFIX* for a family; a
                             bare * is refused; PATH, LD_*, PYTHON*... pass only by name)
  --max-procs N              children running at once, all clients together (default 64)
  --max-procs-per-connection N                                            (default 16)
  --max-runtime DURATION     kill children after this long (30s, 5m, 1500ms; bare = seconds)
  --max-payload BYTES        largest message accepted (default 1M)
  --max-buffered BYTES       bytes queued per client (output and replies) before its children
                             and its requests are paused (default 1M)
  --max-connections N        connections at once, all clients together (default 64)
  --max-connections-per-ip N connections at once from one address (default 16)
  --idle-timeout DURATION    close a connection with no child and no message for this long
                             (default 10m; 0 never)
  --allow-detach             let clients start children that outlive their connection
  --allow-terminal           let clients start children on a pseudo-terminal
  --isolation MODE           namespaces (default): each child in new user, pid, mount and IPC
                             namespaces, unable to see, open, signal or ptrace the server or
                             other children; serve refuses to start where the kernel will not
                             make them. none: children share the server's uid, pids and mounts
  --policy FILE              a JSON policy file (see PolicyFile); flags add to it
  --ui                       also serve a page at http://HOST:PORT/ that lists this
                             connection's processes, starts allowed ones and kills them;
                             allows its own origin and prints its address on stderr as
                             "page: http://HOST:PORT/#token=<token>" (the token only if generated)

When ready, prints one line on stdout: "listening ws://HOST:PORT/" (or
"listening ws+unix:PATH:/" for --socket). Stops on SIGINT or SIGTERM, killing every child.`;

/** Where serve() writes: the process's own streams, or a test's. */
export interface ServeIO {
	stdout: { write(text: string): unknown };
	stderr: { write(text: string): unknown };
}

/** A running `pidfd serve`. */
export interface RunningServer {
	/** The line printed on stdout, without "listening ": ws://127.0.0.1:PORT/ or ws+unix:PATH:/. */
	url: string;
	token: string;
	/** With --ui: the page's address, http://HOST:PORT/ (without the token); else null. */
	page: string | null;
	bridge: Bridge;
	server: Server;
	/** Stops listening, ends every connection and kills every child. */
	close(): Promise<void>;
}

/**
 * `pidfd serve ARGS`: starts the bridge and resolves with the exit code once it has stopped
 * (SIGINT/SIGTERM). Bad flags, a bad policy or a listen failure reject with a message.
 */
export async function serve(args: string[], io: ServeIO = process): Promise<number> {
	if (args.includes('--help') || args.includes('-h')) {
		io.stdout.write(`${SERVE_USAGE}\n`);
		return 0;
	}
	const running = await startServer(args, io);
	await new Promise<void>((done) => {
		const stop = () => {
			process.off('SIGINT', stop);
			process.off('SIGTERM', stop);
			running.close().then(done, done);
		};
		process.on('SIGINT', stop);
		process.on('SIGTERM', stop);
	});
	return 0;
}

/** Parses the flags, starts listening and prints the `listening` line. */
export async function startServer(args: string[], io: ServeIO = process): Promise<RunningServer> {
	const { values } = parseArgs({
		args,
		allowPositionals: false,
		options: {
			listen: { type: 'string' },
			socket: { type: 'string' },
			'token-file': { type: 'string' },
			origin: { type: 'string', multiple: true },
			allow: { type: 'string', multiple: true },
			'cwd-root': { type: 'string' },
			'env-allow': { type: 'string', multiple: true },
			'max-procs': { type: 'string' },
			'max-procs-per-connection': { type: 'string' },
			'max-runtime': { type: 'string' },
			'max-payload': { type: 'string' },
			'max-buffered': { type: 'string' },
			'max-connections': { type: 'string' },
			'max-connections-per-ip': { type: 'string' },
			'idle-timeout': { type: 'string' },
			'allow-detach': { type: 'boolean' },
			'allow-terminal': { type: 'boolean' },
			isolation: { type: 'string' },
			policy: { type: 'string' },
			ui: { type: 'boolean' },
		},
	});
	if (values.listen !== undefined && values.socket !== undefined) throw new Error('serve: give --listen or --socket, not both');
	if (values.ui && values.socket !== undefined) throw new Error('serve: --ui needs --listen: a browser cannot open a unix socket');

	const policy = readPolicy(values.policy);
	if (values.allow) policy.allow = [...(policy.allow ?? []), ...values.allow.map((p) => resolve(p))];
	if (values.origin) policy.origins = [...(policy.origins ?? []), ...values.origin];
	if (values['env-allow']) policy.envAllow = [...(policy.envAllow ?? []), ...values['env-allow']];
	if (values['cwd-root'] !== undefined) policy.cwdRoot = resolve(values['cwd-root']);
	if (values['max-procs'] !== undefined) policy.maxProcs = count('--max-procs', values['max-procs']);
	if (values['max-procs-per-connection'] !== undefined) policy.maxProcsPerConnection = count('--max-procs-per-connection', values['max-procs-per-connection']);
	if (values['max-runtime'] !== undefined) policy.maxRuntimeMs = duration('--max-runtime', values['max-runtime']);
	if (values['max-payload'] !== undefined) policy.maxPayload = bytes('--max-payload', values['max-payload']);
	if (values['max-buffered'] !== undefined) policy.maxBuffered = bytes('--max-buffered', values['max-buffered']);
	if (values['max-connections'] !== undefined) policy.maxConnections = count('--max-connections', values['max-connections']);
	if (values['max-connections-per-ip'] !== undefined) policy.maxConnectionsPerAddress = count('--max-connections-per-ip', values['max-connections-per-ip']);
	if (values['idle-timeout'] !== undefined) policy.idleTimeoutMs = values['idle-timeout'] === '0' ? 0 : duration('--idle-timeout', values['idle-timeout']);
	if (values['allow-detach']) policy.allowDetach = true;
	if (values['allow-terminal']) policy.allowTerminal = true;
	if (values.isolation !== undefined) {
		if (values.isolation !== 'namespaces' && values.isolation !== 'none')
			throw new Error(`serve: --isolation ${values.isolation}: expected namespaces or none`);
		policy.isolation = values.isolation;
	}
	policy.isolation ??= 'namespaces';
	const checked = PolicyFile.safeParse(policy);
	if (!checked.success) {
		const issue = checked.error.issues[0]!;
		throw new Error(`serve: policy ${issue.path.map(String).join('.')}: ${issue.message}`);
	}

	// Before anything starts a process (the sidecar inherits the environment it is started with).
	const { token, generated } = readToken(values['token-file'], io);
	if (checked.data.isolation === 'namespaces') await probeIsolation(checked.data.cwdRoot);
	const log = (line: string) => io.stderr.write(`pidfd serve: ${line}\n`);
	const ui = values.ui ? loadUi() : undefined;

	// The bridge is made once the port is known: with --ui, the page's origin is allowed.
	// A client that opens a socket and never finishes its upgrade request holds it 10 s at most.
	const server = createServer(
		{ headersTimeout: HANDSHAKE_TIMEOUT_MS, requestTimeout: HANDSHAKE_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
		ui ?? notWebSocket,
	);
	let url: string;
	let page: string | null = null;
	if (values.socket !== undefined) {
		const path = resolve(values.socket);
		// Created 0600 from the start (umask around the synchronous bind), not chmod'ed after
		// it was briefly open to everyone; the chmod then only confirms it.
		const umask = process.umask(0o177);
		try {
			await listen(server, () => server.listen(path));
		} finally {
			process.umask(umask);
		}
		chmodSync(path, 0o600);
		url = `ws+unix:${path}:/`;
		server.once('close', () => {
			try {
				unlinkSync(path);
			} catch {}
		});
	} else {
		const { host, port } = hostPort(values.listen ?? '127.0.0.1:0');
		await listen(server, () => server.listen(port, host));
		const address = server.address();
		const actualPort = typeof address === 'object' && address ? address.port : port;
		url = `ws://${isIP(host) === 6 ? `[${host}]` : host}:${actualPort}/`;
		if (!isLoopback(host)) log(`warning: listening on ${host}, not loopback: the token and all stdio cross the network in clear text`);
		if (ui) {
			page = url.replace(/^ws:/, 'http:');
			checked.data.origins = [...(checked.data.origins ?? []), page.slice(0, -1)];
			if (host === '0.0.0.0' || host === '::')
				log(`--ui: the page is allowed only as ${page}; add --origin http://NAME:${actualPort} for the name you open it by`);
		}
	}
	let bridge: Bridge;
	try {
		bridge = createBridge({ token, policy: checked.data, log });
	} catch (error) {
		server.close();
		throw error;
	}
	if (bridge.policy.allowed.length === 0) log('no --allow given: clients can connect but start nothing');
	log(`containment: ${describeContainment(await bridge.containment())}`);
	log(`limits: ${describeLimits(bridge.policy)}`);
	log(
		bridge.policy.isolation === 'namespaces'
			? `isolation: namespaces (${ISOLATION_NAMESPACES.join(', ')}, new for each child; uid ${process.getuid?.() ?? '?'} is nobody inside${process.getuid?.() === 0 ? ', and nobody outside' : ''})`
			: "isolation: none (--isolation none: children share the server's uid, pids and mounts, and can read its /proc)",
	);
	bridge.attach(server);
	io.stdout.write(`listening ${url}\n`);
	if (page !== null) io.stderr.write(`page: ${page}${generated ? `#token=${token}` : ' (enter the token there, or add #token=<token> to the address)'}\n`);

	let closing: Promise<void> | undefined;
	return {
		url,
		token,
		page,
		bridge,
		server,
		close() {
			closing ??= (async () => {
				const closed = new Promise<void>((done) => server.close(() => done()));
				await bridge.close();
				server.closeAllConnections();
				await closed;
			})();
			return closing;
		},
	};
}

/**
 * Isolation must be real, never assumed: one namespaced /bin/true, made as every child will be
 * and started in the cwd root as every child is. A kernel that refuses stops the server, naming
 * the cause and the way to go on anyway; so does a root the children cannot enter (a server
 * running as root maps them to nobody outside, who cannot search a 0700 home directory), which
 * would otherwise surface as an EACCES on every spawn.
 */
async function probeIsolation(cwdRoot: string | undefined): Promise<void> {
	const root = resolve(cwdRoot ?? process.cwd());
	try {
		const child = await spawn('/bin/true', [], { ...isolationOptions(), cwdRoot: root, cwd: '.', stdio: 'ignore' });
		const exit = await child.wait();
		if (exit.code !== 0) throw new Error(`a namespaced /bin/true ended with ${exit.status} ${exit.code ?? exit.signal}`);
	} catch (error) {
		if (error instanceof PidfdError && error.code === 'EACCES' && error.syscall !== 'clone3') {
			const who = process.getuid?.() === 0 ? 'nobody (uid 65534, as a server running as root maps them)' : `uid ${process.getuid?.()}`;
			throw new Error(
				`serve: children run as ${who} and cannot enter the cwd root ${root} (${error.syscall} EACCES). Give --cwd-root a directory they can enter (every directory on its path searchable by others, e.g. mode 0755), or start with --isolation none to run children unisolated`,
				{ cause: error },
			);
		}
		throw new Error(
			`serve: cannot isolate children in namespaces: ${(error as Error).message}. Allow unprivileged user namespaces (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone, AppArmor's apparmor_restrict_unprivileged_userns), or start with --isolation none to run children unisolated`,
			{ cause: error },
		);
	}
}

const HANDSHAKE_TIMEOUT_MS = 10_000;

/** The limits in force, for the startup output. */
function describeLimits(policy: Policy): string {
	const size = (n: number) => (n % 1024 ** 2 === 0 ? `${n / 1024 ** 2} MiB` : `${Math.round(n / 1024)} KiB`);
	const time = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);
	return [
		`connections ${policy.maxConnections} (${policy.maxConnectionsPerAddress} per address)`,
		`processes ${policy.maxProcs} (${policy.maxProcsPerConnection} per connection)`,
		`runtime ${policy.maxRuntimeMs === undefined ? 'unlimited' : time(policy.maxRuntimeMs)}`,
		`message ${size(policy.maxPayload)}`,
		`queued ${size(policy.maxBuffered)} per connection`,
		`idle ${policy.idleTimeoutMs === 0 ? 'never closed' : time(policy.idleTimeoutMs)}`,
		`handshake ${time(HANDSHAKE_TIMEOUT_MS)}`,
	].join(', ');
}

/** Plain HTTP requests get 426: this server speaks WebSocket only. */
function notWebSocket(_req: IncomingMessage, res: ServerResponse): void {
	res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket', Connection: 'close' });
	res.end('pidfd serve: connect with a WebSocket client\n');
}

function listen(server: Server, start: () => void): Promise<void> {
	return new Promise((done, fail) => {
		server.once('error', fail);
		server.once('listening', () => {
			server.off('error', fail);
			done();
		});
		start();
	});
}

function readPolicy(file: string | undefined): PolicyFile {
	if (file === undefined) return {};
	let value: unknown;
	try {
		value = JSON.parse(readFileSync(file, 'utf8'));
	} catch (error) {
		throw new Error(`serve: --policy ${file}: ${(error as Error).message}`);
	}
	const parsed = PolicyFile.safeParse(value);
	if (!parsed.success) {
		const issue = parsed.error.issues[0]!;
		throw new Error(`serve: --policy ${file}: ${issue.path.map(String).join('.') || '(top level)'}: ${issue.message}`);
	}
	// Relative paths in a policy file are relative to the file, not to wherever serve was started.
	const base = resolve(file, '..');
	const policy = { ...parsed.data };
	if (policy.allow) policy.allow = policy.allow.map((p) => resolve(base, p));
	if (policy.cwdRoot) policy.cwdRoot = resolve(base, policy.cwdRoot);
	return policy;
}

/**
 * The token, from --token-file, else PIDFD_TOKEN, else made up (and printed). PIDFD_TOKEN
 * leaves process.env as soon as it is read, so no process started from here inherits it.
 */
function readToken(file: string | undefined, io: ServeIO): { token: string; generated: boolean } {
	let token: string | undefined;
	let source: string;
	if (file !== undefined) {
		token = readFileSync(file, 'utf8').trim();
		source = `--token-file ${file}`;
	} else {
		token = process.env.PIDFD_TOKEN;
		delete process.env.PIDFD_TOKEN;
		source = 'PIDFD_TOKEN';
	}
	if (token === undefined || token === '') {
		token = generateToken();
		io.stderr.write(`token: ${token}\n`);
		return { token, generated: true };
	}
	if (token.length < 16) throw new Error(`serve: the token from ${source} is too short (at least 16 characters; leave it out to get a generated one)`);
	return { token, generated: false };
}

function hostPort(text: string): { host: string; port: number } {
	const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
	const port = Number(match?.[3]);
	if (!match || port > 65535) throw new Error(`serve: --listen ${text}: expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:0`);
	return { host: (match[1] ?? match[2])!, port };
}

function isLoopback(host: string): boolean {
	return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function count(flag: string, text: string): number {
	if (!/^[1-9]\d*$/.test(text)) throw new Error(`serve: ${flag} ${text}: expected a positive integer`);
	return Number(text);
}

/** '30s', '5m', '1h', '1500ms'; a bare number is seconds. */
function duration(flag: string, text: string): number {
	const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
	if (!match) throw new Error(`serve: ${flag} ${text}: expected a duration such as 30s, 5m or 1500ms`);
	const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!;
	const ms = Math.round(Number(match[1]) * unit);
	if (ms < 1) throw new Error(`serve: ${flag} ${text}: must be at least 1ms`);
	return ms;
}

/** '65536', '64k', '1M' (binary units). */
function bytes(flag: string, text: string): number {
	const match = /^(\d+)([kKmMgG])?(?:i?B)?$/.exec(text);
	if (!match) throw new Error(`serve: ${flag} ${text}: expected a size such as 65536, 64k or 1M`);
	const unit = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? '').toLowerCase()] ?? 1;
	return Number(match[1]) * unit;
}
