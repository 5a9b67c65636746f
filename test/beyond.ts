// Beyond our own children: any process, process trees, and the pidfd features each kernel
// has or lacks. Real processes throughout; each check that needs something this machine may
// lack (unshare, gcc, a writable cgroup2, a kernel feature) is probed before it is registered,
// and is a uvu skip, with its reason, where it cannot run.
import { spawn as nodeSpawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cgroupDir } from '../host/kernel/cgroup2.js';
import { features, killTree, openTree, PidFd, PidfdError, sidecarInfo, spawn } from '../host/index.js';
import { infoFromProc } from '../host/kernel/proc-info.js';
import { listChildren } from '../host/kernel/procfs.js';
import { probeCgroup } from './helpers/cgroup.js';
import { pidfd } from './helpers/cli.js';
import { eventually, nextTurn, within } from './helpers/deadline.js';
import { exec, fixtureReport, withMarker } from './helpers/exec.js';
import { isAlive } from './helpers/proc.js';
import { commandExists, testIf } from './helpers/skip.js';
import { seccompMissing, seccompSidecar } from './helpers/seccomp.js';

const LIMIT = 15_000;
const tmp = mkdtempSync(join(tmpdir(), 'pidfd-beyond-'));

async function lineOf(stream: NodeJS.ReadableStream): Promise<string> {
	let text = '';
	for await (const chunk of stream) {
		text += String(chunk);
		if (text.includes('\n')) break;
	}
	return text.split('\n')[0]!;
}

// What this machine can do, asked before the tests that need it are registered.
const feature = await features();
const { kernel } = await sidecarInfo();
const cgroups = probeCgroup();
/** Why forced pid reuse cannot run here, or '' if it can: a pid namespace with a writable ns_last_pid. */
const reuseBlocked = commandExists('unshare')
	? await exec('unshare', ['-Urpf', '--mount-proc', 'sh', '-c', 'echo 100 > /proc/sys/kernel/ns_last_pid']).then((probe) =>
			probe.code === 0 ? '' : `cannot make a pid namespace with a writable ns_last_pid here: ${probe.stderr.trim()}`,
		)
	: 'unshare (util-linux) is not installed';

// ---

const reuse = suite('forced pid reuse (unshare -Urpf, ns_last_pid)');

testIf(reuse, !reuseBlocked, reuseBlocked, 'a recycled pid: process.kill hits the newcomer, a stale PidFd and killTree do not', async () => {
	const r = fixtureReport(await exec('unshare', ['-Urpf', '--mount-proc', process.execPath, '--import', 'tsx', 'test/fixtures/pid-reuse.ts']));

	// A: PidFd on a process that is not ours. The pid was given to a newcomer before the KILL
	// reached the kernel: the pidfd refuses (kill() resolves false: nothing was delivered), the
	// newcomer lives, and a bare kill of the same number kills the newcomer.
	assert.is(r.a.newcomerPid, r.a.oldPid, 'the newcomer got the old pid');
	assert.is(r.a.staleKill, false);
	assert.ok(r.a.newcomerAliveAfterStaleKill);
	assert.is(r.a.bareKillHitNewcomer, 'SIGKILL');
	// Its exit status, though it was not ours (PIDFD_INFO_EXIT, 6.15+; 'unknown' before).
	assert.is(r.a.staleExit.signal, feature.pidfdInfoExit ? 'SIGKILL' : null);

	// B1: a grandchild listed, killed and its pid recycled before it was opened: refused.
	assert.is(r.b1.newcomerPid, r.b1.listed);
	assert.is(r.b1.openChild, 'refused');
	assert.ok(r.b1.newcomerAlive);

	// B2: a grandchild held by the tree, its pid recycled before the tree was signalled: the
	// root got SIGKILL, the newcomer nothing.
	assert.is(r.b2.newcomerPid, r.b2.treePids[1]);
	assert.equal(r.b2.signalled, [r.b2.treePids[0]]);
	assert.is(r.b2.rootExit, 'SIGKILL');
	assert.ok(r.b2.newcomerAlive);
});

reuse.run();

// ---

const any = suite('any process: exit status, info(), alive()');

// Without PIDFD_INFO_EXIT the status is 'unknown': the old-kernel suite below checks that.
testIf(any, feature.pidfdInfoExit, `no PIDFD_INFO_EXIT on ${kernel} (6.15+)`, 'a process that is not ours: its exit code, from PIDFD_INFO_EXIT', async () => {
	const other = nodeSpawn('sh', ['-c', 'read x; exit 3'], { stdio: ['pipe', 'ignore', 'ignore'] });
	const handle = await PidFd.open(other.pid!);
	other.stdin!.end('\n');
	const exit = await within(LIMIT, handle.wait());
	assert.is(exit.status, 'exited');
	assert.is(exit.code, 3);
	assert.is(exit.rusage, null); // only a parent gets rusage
});

any('info() through the /proc fallback: pid, parent, credentials', async () => {
	const child = await spawn('sleep', ['1000'], { stdio: 'ignore' });
	const proc = await infoFromProc(child.pid, () => child.alive());
	assert.is(proc.pid, child.pid);
	assert.is(proc.ppid, (await sidecarInfo()).pid);
	assert.is(proc.euid, process.geteuid!());
	await child.kill('SIGKILL');
	await within(LIMIT, child.wait());
});

testIf(
	any,
	feature.pidfdGetInfo,
	`no PIDFD_GET_INFO on ${kernel} (6.13+): info() is the /proc fallback`,
	'info() through PIDFD_GET_INFO and through the /proc fallback agree',
	async () => {
		const child = await spawn('sleep', ['1000'], { stdio: 'ignore' });
		const proc = await infoFromProc(child.pid, () => child.alive());
		const ioctl = await child.info();
		assert.equal({ ...proc, mask: 0 }, { ...ioctl, mask: 0 });
		assert.is(ioctl.mask & 7, 7);
		await child.kill('SIGKILL');
		await within(LIMIT, child.wait());
	},
);

any('the /proc fallback refuses once the pidfd says the process is gone', async () => {
	const child = await spawn('sleep', ['1000'], { stdio: 'ignore' });
	// alive() answered after the read: "gone" means what was read may be someone else's.
	const err = await infoFromProc(child.pid, async () => false).catch((e: unknown) => e);
	assert.instance(err, PidfdError);
	assert.is((err as PidfdError).code, 'ESRCH');
	assert.ok(await child.alive());
	await child.kill('SIGKILL');
	await within(LIMIT, child.wait());
	assert.not.ok(await child.alive());
});

testIf(
	any,
	feature.pidfdThread,
	`no PIDFD_THREAD on ${kernel} (6.9+)`,
	'PidFd.open(tid, { thread: true }): one thread, its end while the process goes on',
	async () => {
		const script = `const { Worker } = require('node:worker_threads');
const w = new Worker("const { readlinkSync } = require('node:fs'); require('node:worker_threads').parentPort.postMessage(readlinkSync('/proc/thread-self')); setInterval(() => {}, 1000);", { eval: true });
w.on('message', (m) => console.log(m.split('/').pop()));
process.stdin.on('data', () => w.terminate());`;
		const child = await spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
		const tid = Number(await within(LIMIT, lineOf(child.stdout!)));
		assert.ok(tid > 0 && tid !== child.pid);
		const notLeader = await PidFd.open(tid).catch((e: unknown) => e);
		assert.is((notLeader as PidfdError).code, 'ENOENT', 'a tid is not a process without { thread: true }');
		const thread = await PidFd.open(tid, { thread: true });
		const info = await thread.info();
		assert.is(info.pid, tid);
		assert.is(info.tgid, child.pid);
		child.stdin!.write('stop\n');
		await within(LIMIT, thread.wait(), 'thread end');
		assert.not.ok(child.exited, 'the process outlives its thread');
		assert.ok(isAlive(child.pid));
		child.stdin!.end();
		await child.kill('SIGKILL');
		await within(LIMIT, child.wait());
	},
);

any.run();

// ---

const tree = suite('killTree / waitTree');

tree('killTree(SIGTERM) reaches every descendant, and they act on it (frozen, then resumed)', async () => {
	const mark = join(tmp, 'term');
	// The grandchild records its SIGTERM: proof it ran its handler after the freeze.
	const child = await spawn('sh', ['-c', `sh -c 'trap "echo term > ${mark}; exit 0" TERM; while :; do sleep 0.05; done' & sleep 1000 & wait`], {
		stdio: 'ignore',
	});
	await eventually(LIMIT, () => listChildren(child.pid).length === 2, 'tree built');
	await eventually(LIMIT, () => listChildren(child.pid).flatMap(listChildren).length >= 1, 'grandchild sleeping');
	const t = await within(LIMIT, killTree(child, 'SIGTERM'));
	assert.ok(t.pids.length >= 4, `members: ${t.pids.join(' ')}`);
	assert.is(t.pids[0], child.pid, 'root first, parents before children');
	await within(LIMIT, t.wait());
	assert.is((await child.wait()).signal, 'SIGTERM');
	assert.is(readFileSync(mark, 'utf8').trim(), 'term');
	for (const pid of t.pids) assert.not.ok(isAlive(pid), `${pid} still there`);
});

tree('the freeze: a process forking every 5 ms loses no child to the walk', async () => {
	const marker = `1000.${process.pid}${Date.now() % 1000}`;
	const child = await spawn('sh', ['-c', `while :; do sleep ${marker} & sleep 0.005; done`], { stdio: 'ignore' });
	// Count the root's children, not the marker: the root's own command line carries it too.
	await eventually(LIMIT, () => listChildren(child.pid).length >= 10, 'forking');
	const t = await within(LIMIT, killTree(child, 'SIGKILL'));
	await within(LIMIT, t.wait());
	// Each `sleep 1000.…` would run for 1000 s: one that escaped the walk stays, and fails this.
	await eventually(LIMIT, () => withMarker(marker).length === 0, 'every sleep forked before or during the walk is gone');
	assert.ok(t.pids.length >= 11);
});

tree('killTree on an ended root rejects ESRCH', async () => {
	const child = await spawn('true');
	await within(LIMIT, child.wait());
	const err = await killTree(child, 'SIGTERM').catch((e: unknown) => e);
	assert.is((err as PidfdError).code, 'ESRCH');
});

tree('waitTree outlasts the root: it ends with the last descendant', async () => {
	// The root execs into `cat`, which ends when its stdin closes, and leaves its child behind:
	// a `sleep` that ends when this test kills it. Each end is ours to order. waitTree() is
	// openTree() and wait(): the tree is opened first, so the child is a member before the root goes.
	const child = await spawn('sh', ['-c', 'sleep 1000 & exec cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
	await eventually(LIMIT, () => listChildren(child.pid).length === 1, 'forked');
	const [grandchild] = listChildren(child.pid);
	const t = await within(LIMIT, openTree(child));
	assert.equal(t.pids, [child.pid, grandchild]);
	let treeDone = false;
	const done = t.wait().then(() => {
		treeDone = true;
	});
	child.stdin!.end();
	assert.is((await within(LIMIT, child.wait())).code, 0);
	// The root has ended and its child lives: wait() goes on, however long we look.
	await nextTurn();
	assert.not.ok(treeDone, 'the tree was done with its root, its child still running');
	assert.ok(isAlive(grandchild!));
	process.kill(grandchild!, 'SIGKILL');
	await within(LIMIT, done, 'the tree after its last member');
	assert.not.ok(isAlive(grandchild!));
	await t.close();
});

tree('openTree holds the members; a member that exits meanwhile is simply skipped by kill()', async () => {
	const child = await spawn('sh', ['-c', 'sleep 1000 & sleep 1000 & wait'], { stdio: 'ignore' });
	await eventually(LIMIT, () => listChildren(child.pid).length === 2, 'forked');
	const t = await openTree(child);
	assert.is(t.members.length, 3);
	await t.members[2]!.kill('SIGKILL');
	await within(LIMIT, t.members[2]!.wait());
	const reached = await t.kill('SIGKILL');
	assert.equal(reached.sort(), [child.pid, t.pids[1]!].sort());
	await within(LIMIT, t.wait());
});

tree('pidfd kill --tree PID SIG', async () => {
	const child = nodeSpawn('sh', ['-c', 'sleep 1000 & sleep 1000 & wait'], { stdio: 'ignore' });
	await eventually(LIMIT, () => listChildren(child.pid!).length === 2, 'forked');
	const members = [child.pid!, ...listChildren(child.pid!)];
	const r = await pidfd(['kill', '--tree', '--json', String(child.pid), 'KILL']);
	assert.is(r.code, 0, r.stderr);
	assert.equal(JSON.parse(r.stdout).pids.sort(), members.sort());
	await eventually(LIMIT, () => members.every((p) => !isAlive(p)), 'all gone');
});

tree.run();

// ---

const opts = suite('spawn: cgroup, fd handoff');

/** A fresh cgroup under our own (found through /proc/self/mountinfo, never assumed). */
function cgroupHere(name: string): string {
	const dir = join(cgroupDir(), `pidfd-${name}-${process.pid}`);
	mkdirSync(dir);
	return dir;
}

/** A cgroup is busy until its last process is released, a moment after the reap. */
async function removeCgroup(dir: string): Promise<void> {
	await eventually(
		LIMIT,
		() => {
			try {
				rmdirSync(dir);
				return true;
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code === 'EBUSY') return false;
				throw error;
			}
		},
		`rmdir ${dir}`,
	);
}

testIf(opts, cgroups.writable, cgroups.why, 'cgroup: the child starts in it (CLONE_INTO_CGROUP); info() reports its id', async () => {
	const dir = cgroupHere('spawn');
	let child: Awaited<ReturnType<typeof spawn>> | undefined;
	try {
		// Hybrid systems list v1 hierarchies too: the "0::" line is the cgroup2 one.
		const c = await spawn('sh', ['-c', 'grep ^0:: /proc/self/cgroup; read x'], { cgroup: dir, stdio: ['pipe', 'pipe', 'inherit'] });
		child = c;
		const line = (await within(LIMIT, lineOf(child.stdout!))).trim();
		assert.ok(line.endsWith(`/pidfd-spawn-${process.pid}`), line);
		assert.is((await child.info()).cgroupId, statSync(dir).ino);
		assert.is((await infoFromProc(c.pid, () => c.alive())).cgroupId, statSync(dir).ino);
		child.stdin!.end('\n');
		await within(LIMIT, child.wait());
		const missing = await spawn('true', [], { cgroup: join(dir, 'no-such') }).catch((e: unknown) => e);
		assert.is((missing as PidfdError).code, 'ENOENT');
		assert.is((missing as PidfdError).syscall, 'open');
	} finally {
		const started = child;
		if (started && !started.exited)
			await started.kill('SIGKILL').then(
				() => started.wait(),
				() => {},
			);
		await removeCgroup(dir);
	}
});

testIf(
	opts,
	feature.pidfdGetfd,
	`no pidfd_getfd on ${kernel} (5.6+)`,
	"{ process, fd }: a new server takes the old one's listening socket (zero-downtime restart)",
	async () => {
		const OLD = `const s = require('node:net').createServer((c) => c.end('old\\n'));
s.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: s.address().port, fd: s._handle.fd })));`;
		const NEW = `require('node:net').createServer((c) => c.end('new\\n')).listen({ fd: 3 }, () => console.log('ready'));`;
		const ask = (port: number) =>
			within(
				LIMIT,
				new Promise<string>((done, fail) => {
					const socket = connect(port, '127.0.0.1');
					let text = '';
					socket.on('data', (d) => (text += String(d)));
					socket.on('end', () => done(text.trim()));
					socket.on('error', fail);
				}),
				'request',
			);
		const old = await spawn(process.execPath, ['-e', OLD], { stdio: ['ignore', 'pipe', 'inherit'] });
		const { port, fd } = JSON.parse(await within(LIMIT, lineOf(old.stdout!))) as { port: number; fd: number };
		assert.is(await ask(port), 'old');
		// The old server stops accepting; a client arrives now and waits in the socket's backlog.
		await old.kill('SIGSTOP');
		const waiting = ask(port);
		const fresh = await spawn(process.execPath, ['-e', NEW], { stdio: ['ignore', 'pipe', 'inherit', { process: old, fd }] });
		assert.is(await within(LIMIT, lineOf(fresh.stdout!)), 'ready');
		await old.kill('SIGKILL');
		await within(LIMIT, old.wait());
		assert.is(await waiting, 'new', 'the client that came during the switch was served, not refused');
		assert.is(await ask(port), 'new');
		await fresh.kill('SIGKILL');
		await within(LIMIT, fresh.wait());
	},
);

testIf(
	opts,
	feature.pidfdGetfd,
	`no pidfd_getfd on ${kernel} (5.6+)`,
	'{ process, fd }: an fd the process does not have is EBADF from pidfd_getfd',
	async () => {
		const source = await spawn('sleep', ['1000'], { stdio: 'ignore' });
		const err = await spawn('true', [], { stdio: ['ignore', 'ignore', 'ignore', { process: source, fd: 999 }] }).catch((e: unknown) => e);
		assert.is((err as PidfdError).code, 'EBADF');
		assert.is((err as PidfdError).syscall, 'pidfd_getfd');
		await source.kill('SIGKILL');
		await within(LIMIT, source.wait());
		const gone = await spawn('true', [], { stdio: ['ignore', 'ignore', 'ignore', { process: source, fd: 0 }] }).catch((e: unknown) => e);
		assert.is((gone as PidfdError).code, 'ESRCH');
	},
);

opts.run();

// ---

const old = suite<{ run?: Promise<Record<string, any>> }>('old kernels, simulated with seccomp (test/fixtures/seccomp-exec.c)', {});

/** One run of the fixture, with a cgroup of its own where we may make one; both tests judge it. */
async function runOld(): Promise<Record<string, any>> {
	const wrapper = await seccompSidecar(tmp, 'old-sidecar', ['clone3', 'pidfd_getfd', 'get_info']);
	const cgroup = cgroups.writable ? cgroupHere('old') : undefined;
	try {
		return fixtureReport(
			await exec(process.execPath, ['--import', 'tsx', 'test/fixtures/old-kernel.ts', ...(cgroup ? [cgroup] : [])], { ...process.env, PIDFD_SIDECAR: wrapper }),
		);
	} finally {
		if (cgroup) await removeCgroup(cgroup);
	}
}
/** The run, started by the first test that needs it (a failing hook would hide its error). */
const oldReport = (ctx: { run?: Promise<Record<string, any>> }) => (ctx.run ??= runOld());

testIf(old, !seccompMissing, seccompMissing, 'no clone3, no pidfd_getfd, no PIDFD_GET_INFO: each fallback, and features() says so', async (ctx) => {
	const r = await oldReport(ctx);
	assert.equal(
		{
			clone3: r.features.clone3,
			pidfdGetInfo: r.features.pidfdGetInfo,
			pidfdInfoExit: r.features.pidfdInfoExit,
			pidfdGetfd: r.features.pidfdGetfd,
			cloneIntoCgroup: r.features.cloneIntoCgroup,
		},
		{ clone3: false, pidfdGetInfo: false, pidfdInfoExit: false, pidfdGetfd: false, cloneIntoCgroup: false },
	);
	assert.ok(r.features.waitidPidfd);
	// fork + pidfd_open: exit status with rusage, exec errors still reject spawn().
	assert.equal(r.spawnExit, { code: 5, hasRusage: true });
	assert.is(r.spawnEnoent, 'ENOENT execve');
	// info() from /proc: our child's parent is the sidecar; after the exit, ESRCH.
	assert.is(r.childInfo.pid, r.sleeperPid);
	assert.is(r.childInfo.ppid, r.sidecarPid);
	assert.is(r.childInfo.mask & 3, 3);
	assert.is(r.otherInfo.pid, r.otherPid);
	assert.ok(r.aliveBefore);
	assert.not.ok(r.aliveAfter);
	assert.is(r.infoAfterExit, 'ESRCH ioctl');
	// No PIDFD_INFO_EXIT: a process that was not ours ends with status 'unknown'.
	assert.is(r.otherExit.status, 'unknown');
	assert.is(r.otherExit.code, null);
	// Host fds through /proc; { process, fd } has no fallback.
	assert.is(r.hostFd, 'via-host-fd');
	assert.is(r.fromPidfd, 'ENOSYS pidfd_getfd');
});

testIf(
	old,
	!seccompMissing && cgroups.writable,
	seccompMissing || cgroups.why,
	'cgroup without CLONE_INTO_CGROUP: the child still starts in it',
	async (ctx) => {
		const r = await oldReport(ctx);
		assert.ok(r.cgroup.endsWith(`/pidfd-old-${process.pid}`), r.cgroup);
	},
);

old.run();

process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
