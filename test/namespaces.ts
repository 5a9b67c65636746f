// spawn(…, { namespaces }): children in new user, pid, mount, ipc and net namespaces, made by
// the sidecar's clone3. What a namespaced child cannot do to the host (see, open, signal,
// ptrace), what still works as for any child (kill, timeouts, exit codes, signals, rusage,
// stdio direct and relayed), and what is left when it ends (nothing). Also as nobody, and on a
// kernel that refuses user namespaces (test/fixtures/seccomp-exec.c userns).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidArgumentError, PidfdError, type RunOptions, run, sidecarInfo, spawn } from '../host/index.js';
import { eventually, within } from './helpers/deadline.js';
import { exec, fixtureReport, withMarker } from './helpers/exec.js';
import { runAsNobody } from './helpers/nobody.js';
import { commandExists, testIf } from './helpers/skip.js';
import { seccompMissing, seccompSidecar } from './helpers/seccomp.js';

const LIMIT = 15_000;
const NS = ['user', 'pid', 'mount', 'ipc'] as const;
const tmp = mkdtempSync(join(tmpdir(), 'pidfd-ns-'));

/** Can this kernel give an unprivileged-style sandbox at all? Probed once, with the library itself. */
const probe = await spawn('true', [], { namespaces: [...NS], stdio: 'ignore' })
	.then(async (c) => ((await c.wait()).code === 0 ? '' : 'a namespaced /bin/true failed'))
	.catch((e: unknown) => `the kernel refuses namespaces here: ${(e as Error).message}`);

async function sh(script: string, options: Omit<RunOptions, 'encoding'> = {}) {
	return within(LIMIT, run('sh', ['-c', script], { namespaces: [...NS], encoding: 'utf8', reject: false, ...options }), script);
}

// ---

const options = suite('namespaces: options');

options('unknown namespaces and stray id maps are refused before anything starts', async () => {
	const bad = await spawn('true', [], { namespaces: ['time' as 'user'] }).catch((e: unknown) => e);
	assert.instance(bad, InvalidArgumentError);
	assert.match(String(bad), /namespaces/);
	const empty = await spawn('true', [], { namespaces: [] }).catch((e: unknown) => e);
	assert.instance(empty, InvalidArgumentError);
	const noUser = await spawn('true', [], { namespaces: ['pid'], uidMap: { inside: 0 } }).catch((e: unknown) => e);
	assert.instance(noUser, InvalidArgumentError);
	assert.match(String(noUser), /'user' namespace/);
	const withUid = await spawn('true', [], { namespaces: ['user'], uid: 1000 }).catch((e: unknown) => e);
	assert.instance(withUid, InvalidArgumentError);
	assert.match(String(withUid), /uidMap\.inside/);
	const badMap = await spawn('true', [], { namespaces: ['user'], uidMap: { inside: -1 } }).catch((e: unknown) => e);
	assert.instance(badMap, InvalidArgumentError);
});

options.run();

// ---

const iso = suite('namespaces: a child cannot see, open, signal or ptrace the host');

testIf(iso, !probe, probe, "user: the server's uid is nobody inside, with no capability after exec", async () => {
	const r = await sh('id -u; id -g; cat /proc/self/uid_map; grep CapEff /proc/self/status');
	const [uid, gid, map, caps] = r.stdout.trim().split('\n');
	assert.is(uid, '65534');
	assert.is(gid, '65534');
	assert.equal(map!.trim().split(/\s+/), ['65534', String(process.getuid!()), '1']);
	assert.match(caps!, /CapEff:\s+0+$/);
	const custom = await within(LIMIT, run('id', ['-u'], { namespaces: ['user'], uidMap: { inside: 1000 }, gidMap: { inside: 1000 }, encoding: 'utf8' }));
	assert.is(custom.stdout.trim(), '1000');
});

testIf(
	iso,
	!probe && process.getuid?.() === 0,
	probe || 'needs root: only a privileged sidecar may map ids other than its own',
	'a root sidecar maps nobody outside (it writes the maps itself): the child owns nothing of root',
	async () => {
		const r = await sh('cat /proc/self/uid_map /proc/self/gid_map; id -G; head -c 1 /etc/shadow >/dev/null 2>&1; echo shadow=$?', {
			uidMap: { outside: 65534 },
			gidMap: { outside: 65534 },
		});
		const lines = r.stdout.trim().split('\n');
		assert.equal(lines[0]!.trim().split(/\s+/), ['65534', '65534', '1']);
		assert.equal(lines[1]!.trim().split(/\s+/), ['65534', '65534', '1']);
		assert.is(lines[2], '65534', 'no supplementary group of root left');
		assert.is(lines[3], 'shadow=1');
		// The same as a user namespace alone (no init: the child itself waits for its maps).
		const alone = await within(LIMIT, run('id', ['-u'], { namespaces: ['user'], uidMap: { outside: 65534 }, gidMap: { outside: 65534 }, encoding: 'utf8' }));
		assert.is(alone.stdout.trim(), '65534');
	},
);

testIf(iso, !probe, probe, 'pid + mount: /proc lists only the namespace (its init, the program, what it runs)', async () => {
	const r = await sh('echo $$; ls /proc');
	const [self, ...rest] = r.stdout.trim().split('\n');
	assert.is(self, '2', 'the program is pid 2: pid 1 is its init');
	const pids = rest.filter((l) => /^\d+$/.test(l)).map(Number);
	assert.equal(pids, [1, 2, 3]);
});

testIf(iso, !probe, probe, "the server's and the sidecar's files in /proc cannot be opened, nor their pids signalled", async () => {
	const sidecar = (await sidecarInfo()).pid;
	const r = await sh(
		`cat /proc/${process.pid}/environ; echo "environ=$?"; ls /proc/${sidecar}/fd; echo "fd=$?"; kill -0 ${process.pid}; echo "kill=$?"; kill -0 ${sidecar}; echo "kill2=$?"`,
	);
	assert.match(r.stdout, /environ=1/);
	assert.match(r.stdout, /fd=2/);
	assert.match(r.stdout, /kill=1/);
	assert.match(r.stdout, /kill2=1/);
	assert.match(r.stderr, /No such process/);
	assert.not.match(r.stdout, /PATH=/);
});

testIf(
	iso,
	!probe && commandExists('perl'),
	probe || 'perl is not installed',
	"ptrace reaches neither the host, another child, nor the namespace's init",
	async () => {
		const other = await spawn('sleep', ['100'], { namespaces: [...NS], stdio: 'ignore' });
		try {
			// ptrace(PTRACE_ATTACH = 16, pid): x86-64 syscall 101. Prints errno per target.
			const perl = (pid: number) => `perl -e 'syscall(101, 16, ${pid}, 0, 0) == -1 ? print(($!+0), "\\n") : print("0\\n")'`;
			const r = await sh(`${perl(process.pid)}; ${perl(other.pid)}; ${perl(1)}`);
			const [host, sibling, init] = r.stdout.trim().split('\n').map(Number);
			assert.is(host, 3, 'ESRCH: the host has no pid in the namespace');
			assert.is(sibling, 3, 'ESRCH: nor has another child');
			assert.is(init, 1, 'EPERM: the init keeps capabilities the program lost');
		} finally {
			await other.kill('SIGKILL');
			await within(LIMIT, other.wait());
		}
	},
);

testIf(iso, !probe, probe, "the program cannot read its init's environment or memory, nor open its fds (the status pipe)", async () => {
	const r = await sh(
		'cat /proc/1/environ >/dev/null 2>&1; echo environ=$?; head -c 1 /proc/1/mem >/dev/null 2>&1; echo mem=$?; for f in /proc/1/fd/*; do (printf forged > "$f") 2>/dev/null; echo fd=$?; done; exit 5',
	);
	assert.equal(r.stdout.trim().split('\n'), ['environ=1', 'mem=1', 'fd=2']);
	assert.is(r.exit.code, 5, "the program's own status, unforged");
});

testIf(iso, !probe, probe, 'net: only a loopback, down', async () => {
	const r = await within(LIMIT, run('cat', ['/proc/net/dev'], { namespaces: ['user', 'net'], encoding: 'utf8' }));
	const ifaces = r.stdout
		.split('\n')
		.slice(2)
		.filter(Boolean)
		.map((l) => l.split(':')[0]!.trim());
	assert.equal(ifaces, ['lo']);
});

iso.run();

// ---

const life = suite('namespaces: the child behaves as any child');

testIf(life, !probe, probe, 'a program that prints and exits at once: its terminal and its relayed stdout arrive whole, 100 times each', async () => {
	// Such a child has written and gone before its SPAWNED (the init reports the exec): the
	// streams must still start after SPAWNED, or the host drops bytes for a stream it does
	// not know yet.
	for (let i = 0; i < 100; i++) {
		const term = await spawn('echo', ['on the terminal'], { namespaces: [...NS], terminal: true });
		let text = '';
		for await (const chunk of term.terminal!) text += chunk;
		assert.is(text, 'on the terminal\r\n', `terminal, run ${i}`);
		assert.is((await term.wait()).code, 0);
		const piped = await within(LIMIT, run('echo', ['through the relay'], { namespaces: [...NS], stdioTransport: 'relay', encoding: 'utf8' }));
		assert.is(piped.stdout, 'through the relay\n', `relay, run ${i}`);
	}
});

testIf(life, !probe, probe, "exit codes and signals are the program's, not its init's", async () => {
	assert.is((await sh('exit 7')).exit.code, 7);
	const killed = await sh('kill -USR1 $$');
	assert.is(killed.exit.signal, 'SIGUSR1');
	assert.is(killed.exit.status, 'signaled');
});

testIf(life, !probe, probe, 'kill(SIGTERM) reaches the program through its init; SIGKILL ends the namespace', async () => {
	const child = await spawn('sleep', ['100'], { namespaces: [...NS], stdio: 'ignore' });
	await child.kill('SIGTERM');
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.signal, 'SIGTERM');
	const hard = await spawn('sleep', ['100'], { namespaces: [...NS], stdio: 'ignore' });
	await hard.kill('SIGKILL');
	assert.is((await within(LIMIT, hard.wait())).signal, 'SIGKILL');
});

testIf(life, !probe, probe, 'timeout kills with killSignal', async () => {
	const child = await spawn('sleep', ['100'], { namespaces: [...NS], stdio: 'ignore', timeout: 200 });
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.signal, 'SIGTERM');
});

testIf(life, !probe, probe, "rusage counts the program's CPU (the init reaps it)", async () => {
	const r = await sh('i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done');
	assert.is(r.exit.code, 0);
	assert.ok(r.exit.rusage!.userCpuMs > 50, `userCpuMs ${r.exit.rusage!.userCpuMs}`);
});

testIf(life, !probe, probe, 'exec failures still reject spawn(), naming execve', async () => {
	const error = (await spawn('/no/such/program', [], { namespaces: [...NS] }).catch((e: unknown) => e)) as PidfdError;
	assert.instance(error, PidfdError);
	assert.is(error.code, 'ENOENT');
	assert.is(error.syscall, 'execve');
	const cwd = (await spawn('true', [], { namespaces: [...NS], cwd: '/no/such/dir' }).catch((e: unknown) => e)) as PidfdError;
	assert.is(cwd.syscall, 'chdir');
});

for (const transport of ['direct', 'relay'] as const) {
	testIf(life, !probe, probe, `stdio pipes, ${transport}`, async () => {
		const r = await within(LIMIT, run('sh', ['-c', 'cat; echo err >&2'], { namespaces: [...NS], input: 'hello', encoding: 'utf8', stdioTransport: transport }));
		assert.is(r.stdout, 'hello');
		assert.is(r.stderr, 'err\n');
	});
}

testIf(life, !probe, probe, 'a terminal child in namespaces', async () => {
	const child = await spawn('sh', ['-c', 'tty >/dev/null && echo tty-ok'], { namespaces: [...NS], terminal: true });
	let text = '';
	for await (const chunk of child.terminal!) text += String(chunk);
	assert.is((await within(LIMIT, child.wait())).code, 0);
	assert.match(text, /tty-ok/);
});

testIf(life, !probe, probe, "sh -c 'sleep 100 & exit 0' leaves nothing behind", async () => {
	const marker = `${process.pid}.${Date.now() % 100000}`;
	const r = await sh(`sleep 100${marker.replace(/^\d+/, '')} & exit 0`);
	assert.is(r.exit.code, 0);
	await eventually(5000, () => withMarker(`100${marker.replace(/^\d+/, '')}`).length === 0, 'the background sleep is gone');
});

life.run();

// ---

const others = suite('namespaces: as nobody, and on a kernel that refuses them');

testIf(others, !probe && commandExists('setpriv'), probe || 'setpriv is not installed', 'a host running as nobody: the same isolation', async () => {
	const r = fixtureReport(await runAsNobody('test/fixtures/ns-host.ts'));
	assert.is(r.hostUid, 65534);
	assert.not.ok(r.refused, JSON.stringify(r.refused));
	assert.equal(r.id, [65534, 65534]);
	assert.equal(r.procPids, [1, 2, 3]);
	assert.match(r.killHost, /No such process/);
	assert.is(r.environ, '1');
	assert.is(r.sidecarFds, '2');
	assert.is(r.exit, 9);
	assert.is(r.term, 'SIGTERM');
	assert.equal(r.foreignMap, { code: 'EPERM', syscall: 'write', path: 'gid_map' }, 'nobody may not map root');
});

testIf(
	others,
	!seccompMissing,
	seccompMissing,
	'user namespaces refused (seccomp): spawn rejects with EPERM naming clone3 and namespaces; plain spawns go on',
	async () => {
		const wrapper = await seccompSidecar(tmp, 'no-userns-sidecar', ['userns']);
		const r = fixtureReport(await exec(process.execPath, ['--import', 'tsx', 'test/fixtures/ns-host.ts'], { ...process.env, PIDFD_SIDECAR: wrapper }));
		assert.ok(r.refused, 'refused');
		assert.equal(
			{ isPidfdError: r.refused.isPidfdError, code: r.refused.code, errno: r.refused.errno, syscall: r.refused.syscall },
			{ isPidfdError: true, code: 'EPERM', errno: 1, syscall: 'clone3' },
		);
		assert.match(r.refused.message, /refused new namespaces/);
		assert.match(r.refused.message, /max_user_namespaces/);
		assert.is(r.plain, 3);
	},
);

others.run();

process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
