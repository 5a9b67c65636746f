import { spawn as nodeSpawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cgroupDir, parseCgroup2Mounts, parseCgroup2Path, dirIn, hierarchyPath } from '../host/kernel/cgroup2.js';
import { bytesOf, controllersFor } from '../host/cgroup/limits.js';
import { type Child, cgroupOf, type ExitInfo, PidfdError, Scope, spawn } from '../host/index.js';
import { probeCgroup } from './helpers/cgroup.js';
import { pidfd } from './helpers/cli.js';
import { eventually, sleep, within } from './helpers/deadline.js';
import { runAsNobody } from './helpers/nobody.js';
import { isAlive } from './helpers/proc.js';
import { testIf } from './helpers/skip.js';

const LIMIT = 15_000;

/** The cgroup2 directory this test process sits in, if any, and whether we may create cgroups under it. */
const here = probeCgroup();
const available = here.controllers;
const isRoot = process.getuid?.() === 0;
console.log(`  cgroup2 here: ${here.dir ?? 'none'}; writable: ${here.writable}; controllers available on cgroup2: ${available.join(' ') || 'none'}`);

/** Reads a child's stdout until the text matches `done`; the stream stays open for the next call. */
function readUntil(child: Child, done: RegExp): Promise<string> {
	return new Promise((resolve, reject) => {
		let text = '';
		const onData = (chunk: Buffer) => {
			text += chunk;
			if (done.test(text)) finish();
		};
		const finish = () => {
			child.stdout!.off('data', onData).off('end', finish).off('error', reject);
			resolve(text);
		};
		child.stdout!.on('data', onData).on('end', finish).on('error', reject);
	});
}

/** Runs a node fixture (optionally as another user) and parses its one JSON line. */
function fixture(args: string[], options: { prefix?: string[] } = {}): Promise<Record<string, unknown>> {
	const argv = [...(options.prefix ?? []), process.execPath, '--import', 'tsx', ...args];
	return within(
		30_000,
		new Promise((resolve, reject) => {
			const p = nodeSpawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
			let out = '';
			p.stdout.on('data', (c: Buffer) => (out += c));
			p.on('error', reject);
			p.on('close', () => {
				try {
					resolve(JSON.parse(out.trim().split('\n').pop()!));
				} catch {
					reject(new Error(`fixture ${args.join(' ')} printed: ${out}`));
				}
			});
		}),
		`fixture ${args[0]}`,
	);
}

// --- discovery, from /proc texts

const discovery = suite('discovery');

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
`;
const PURE = `29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const BIND = `50 40 0:26 /user.slice/app /my\\040cgroups rw - cgroup2 cgroup2 rw
`;

discovery('finds cgroup2 on hybrid and pure systems, never by a fixed path', () => {
	assert.equal(parseCgroup2Mounts(HYBRID), [{ mountPoint: '/sys/fs/cgroup/unified', root: '/' }]);
	assert.equal(parseCgroup2Mounts(PURE), [{ mountPoint: '/sys/fs/cgroup', root: '/' }]);
	assert.equal(parseCgroup2Mounts(BIND), [{ mountPoint: '/my cgroups', root: '/user.slice/app' }]);
	assert.equal(parseCgroup2Mounts('31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n'), []);
});

discovery('reads the 0:: line and maps it onto the mount', () => {
	assert.is(parseCgroup2Path('9:name=systemd:/\n1:cpu:/\n0::/user.slice/x.scope\n'), '/user.slice/x.scope');
	assert.is(parseCgroup2Path('1:cpu:/\n'), undefined);
	assert.is(dirIn({ mountPoint: '/sys/fs/cgroup', root: '/' }, '/'), '/sys/fs/cgroup');
	assert.is(dirIn({ mountPoint: '/sys/fs/cgroup', root: '/' }, '/a/b'), '/sys/fs/cgroup/a/b');
	assert.is(dirIn({ mountPoint: '/m', root: '/user.slice/app' }, '/user.slice/app/job'), '/m/job');
	assert.is(dirIn({ mountPoint: '/m', root: '/user.slice/app' }, '/system.slice'), undefined);
	assert.is(hierarchyPath('/sys/fs/cgroup/unified/a/b', HYBRID), '/a/b');
	assert.is(hierarchyPath('/my cgroups/job', BIND), '/user.slice/app/job');
});

discovery('no cgroup2, or a v1-only process: ENOENT that says what is missing', () => {
	const none = (() => {
		try {
			cgroupDir('self', { mountinfo: '31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n', cgroup: '0::/\n' });
		} catch (error) {
			return error as PidfdError;
		}
	})();
	assert.instance(none, PidfdError);
	assert.is(none!.code, 'ENOENT');
	assert.match(none!.message, /no cgroup2 filesystem is mounted/);
	const v1 = (() => {
		try {
			cgroupDir('self', { mountinfo: PURE, cgroup: '1:cpu:/\n' });
		} catch (error) {
			return error as PidfdError;
		}
	})();
	assert.is(v1!.code, 'ENOENT');
	assert.match(v1!.message, /no "0::" line/);
	assert.is(cgroupDir('self', { mountinfo: HYBRID, cgroup: '0::/a\n' }), '/sys/fs/cgroup/unified/a');
});

testIf(discovery, here.dir, here.why, 'on this machine: our own cgroup lists our pid', () => {
	assert.ok(readFileSync(`${here.dir}/cgroup.procs`, 'utf8').split('\n').includes(String(process.pid)));
});

discovery.run();

// --- no writable cgroup2 tree: a clear error, and nothing else changes

const refused = suite('no delegated cgroup2');

refused('an explicit root on another filesystem: ENOTSUP naming it, nothing created', async () => {
	for (const root of ['/proc/pidfd-no-such/root', mkdtempSync(join(tmpdir(), 'pidfd-notcg-'))]) {
		const error = await Scope.create({ root: `${root}/sub` }).catch((e: unknown) => e as PidfdError);
		assert.instance(error, PidfdError);
		assert.is((error as PidfdError).code, 'ENOTSUP');
		assert.match((error as PidfdError).message, /not on a cgroup2 filesystem/);
		assert.is((error as PidfdError).path, `${root}/sub`);
		assert.not.ok(existsSync(`${root}/sub`));
	}
});

refused('spawn with contain on a bad root rejects, and plain spawn still works', async () => {
	const error = await spawn('/bin/true', [], { contain: { root: '/proc/pidfd-no-such' } }).catch((e: unknown) => e as PidfdError);
	assert.instance(error, PidfdError);
	assert.match((error as PidfdError).message, /cgroup2/);
	const exit = await within(LIMIT, (await spawn('/bin/true')).wait());
	assert.is(exit.code, 0);
});

testIf(
	refused,
	here.dir && isRoot,
	here.dir ? 'needs root to switch to uid 65534' : here.why,
	'an unprivileged user with no delegated cgroup: EACCES with the path and what to do',
	async () => {
		const run = await runAsNobody('test/fixtures/scope-create.ts', ['']);
		const r = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
		assert.is(r.ok, false);
		assert.is(r.code, 'EACCES');
		assert.match(String(r.path), /\/pidfd-\d+$/);
		assert.match(String(r.message), /no writable cgroup2 tree is delegated/);
		assert.not.ok(existsSync(String(r.path)), 'nothing created');
	},
);

testIf(
	refused,
	here.dir && isRoot,
	here.dir ? 'needs root for a private mount namespace' : here.why,
	'a read-only cgroup2 mount: EROFS with the path',
	async () => {
		const mnt = mkdtempSync(join(tmpdir(), 'pidfd-ro-'));
		try {
			// A read-only mount of the same hierarchy, in a mount namespace of its own: nothing outside sees it.
			const r = await fixture(['test/fixtures/scope-create.ts', `${mnt}/sub`], {
				prefix: ['unshare', '-m', 'sh', '-c', `mount --make-rprivate / && mount -t cgroup2 -o ro cgroup2 ${mnt} && exec "$@"`, 'sh'],
			});
			assert.is(r.ok, false);
			assert.is(r.code, 'EROFS');
			assert.is(r.path, `${mnt}/sub`);
		} finally {
			rmdirSync(mnt);
		}
	},
);

refused.run();

// --- kill the whole tree, nothing escapes

const tree = suite('killTree');

/** A shell whose tree escapes every /proc or process-group walk: a setsid grandchild and a double-forked daemon. */
const ESCAPER = 'setsid sleep 1000 & echo setsid $!; (sleep 1000 & echo daemon $!); echo ready; exec sleep 1000';

async function escaper(options: { viaFreezer?: boolean } = {}): Promise<void> {
	const bystander = await spawn('sleep', ['1000']);
	const child = await spawn('sh', ['-c', ESCAPER], { contain: true, stdio: ['ignore', 'pipe', 'inherit'] });
	const scope = child.scope!;
	assert.is(existsSync(`${scope.path}/cgroup.kill`), here.hasKill);
	const out = await within(LIMIT, readUntil(child, /ready/), 'the tree to start');
	const setsidPid = Number(/setsid (\d+)/.exec(out)![1]);
	const daemonPid = Number(/daemon (\d+)/.exec(out)![1]);
	assert.ok(isAlive(setsidPid) && isAlive(daemonPid));
	// They really escaped the usual tree walks: another session, and another parent.
	assert.is.not(readFileSync(`/proc/${setsidPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[4], String(child.pid));
	await eventually(LIMIT, () => !readFileSync(`/proc/${daemonPid}/stat`, 'utf8').split(') ')[1]!.startsWith(`S ${child.pid}`), 'the daemon reparented');
	assert.equal(scope.pids().sort(), [child.pid, setsidPid, daemonPid].sort());
	assert.is(cgroupOf(daemonPid)?.path, scope.path);
	assert.is(cgroupOf(daemonPid)?.kind, 'child');

	await within(LIMIT, child.killTree(options), 'killTree');
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.signal, 'SIGKILL');
	await eventually(LIMIT, () => !isAlive(setsidPid) && !isAlive(daemonPid), 'the setsid grandchild and the daemon gone');
	assert.ok(scope.removed);
	assert.not.ok(existsSync(scope.path), 'the cgroup directory is removed');
	assert.ok(isAlive(bystander.pid), 'an unrelated process lives');
	await bystander.kill('SIGKILL');
	await within(LIMIT, bystander.wait());
}

testIf(
	tree,
	here.writable && here.hasKill,
	here.writable ? 'no cgroup.kill here (Linux < 5.14): the freezer test covers this machine' : here.why,
	'cgroup.kill takes a setsid grandchild and a double-forked daemon; the directory goes',
	async () => {
		await escaper();
	},
);

testIf(tree, here.writable, here.why, 'the freezer fallback (no cgroup.kill): freeze, SIGKILL each through a pidfd, thaw', async () => {
	await escaper({ viaFreezer: true });
});

testIf(tree, here.writable, here.why, 'graceful: SIGTERM reaches every member first, and a clean exit needs no hard kill', async () => {
	const scope = await Scope.create();
	const child = await scope.spawn('sh', ['-c', 'trap "echo term; exit 0" TERM; echo ready; while :; do sleep 0.05; done'], {
		stdio: ['ignore', 'pipe', 'ignore'],
	});
	await within(LIMIT, readUntil(child, /ready/));
	const out = readUntil(child, /term/);
	await within(LIMIT, scope.kill({ graceful: 'SIGTERM', gracePeriod: 5000 }));
	assert.match(await within(LIMIT, out), /term/);
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.code, 0, 'it exited on its own, not by SIGKILL');
	assert.not.ok(existsSync(scope.path));
});

testIf(tree, here.writable, here.why, 'a shared scope holds several spawns; kill() ends them all', async () => {
	const scope = await Scope.create({ name: `shared-${process.pid}` });
	assert.is(scope.kind, 'shared');
	const a = await scope.spawn('sleep', ['1000']);
	const b = await scope.spawn('sh', ['-c', 'sleep 1000 & wait']);
	assert.is(a.scope, scope);
	await eventually(LIMIT, () => scope.pids().length === 3, 'three processes in the scope');
	await within(LIMIT, scope.kill());
	assert.is((await within(LIMIT, a.wait())).signal, 'SIGKILL');
	assert.is((await within(LIMIT, b.wait())).signal, 'SIGKILL');
	assert.not.ok(existsSync(scope.path));
	const late = await scope.spawn('/bin/true').catch((e: unknown) => e as PidfdError);
	assert.is((late as PidfdError).code, 'ESRCH');
});

testIf(tree, here.writable, here.why, 'a contained child that ends with an empty tree takes its cgroup with it', async () => {
	const child = await spawn('sh', ['-c', 'exit 3'], { contain: true });
	const exit = await within(LIMIT, child.wait());
	assert.is(exit.code, 3);
	assert.ok(child.scope!.removed);
	assert.not.ok(existsSync(child.scope!.path));
	assert.ok(child.scope!.usage().cpu!.usageUsec > 0, 'the last usage is kept');
	await child.killTree(); // nothing left: resolves at once
});

tree('killTree on a child that is not contained walks its descendants instead', async () => {
	const child = await spawn('sh', ['-c', 'sleep 30 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'inherit'] });
	const grandchild = Number((await within(LIMIT, new Promise<string>((resolve) => child.stdout!.once('data', (d) => resolve(String(d)))))).trim());
	assert.ok(isAlive(grandchild));
	await within(LIMIT, child.killTree({ graceful: 'SIGTERM', gracePeriod: 2000 }));
	assert.is((await within(LIMIT, child.wait())).status, 'signaled');
	await eventually(2000, () => !isAlive(grandchild), `grandchild ${grandchild} ended with the tree`);
	assert.is(child.scope, undefined);
	assert.is(cgroupOf(process.pid), undefined);
	await child.killTree(); // nothing left: resolves at once
});

tree.run();

// --- live usage

const usage = suite('usage');

testIf(usage, here.writable, here.why, 'CPU numbers move while the tree burns CPU; memory and pids where their controllers are', async () => {
	const child = await spawn('sh', ['-c', 'while :; do :; done'], { contain: true });
	const scope = child.scope!;
	const first = scope.usage();
	// However busy the machine, the loop gets 50 ms of CPU in the end.
	await eventually(LIMIT, () => scope.usage().cpu!.usageUsec > first.cpu!.usageUsec + 50_000, 'usage_usec grows by 50 ms');
	const second = scope.usage();
	assert.ok(second.cpu!.userUsec > 0);
	assert.is(second.processes, 1);
	// Without its controller in the scope (no memory.current, pids.current) a part is null.
	for (const part of ['memory', 'pids'] as const) {
		if (existsSync(`${scope.path}/${part}.current`))
			assert.ok(
				Object.values(second[part]!).some((v) => typeof v === 'number'),
				part,
			);
		else assert.is(second[part], null, part);
	}
	await within(LIMIT, child.killTree());
	assert.ok(scope.usage().cpu!.usageUsec >= second.cpu!.usageUsec);
});

usage.run();

// --- budgets

const budgets = suite('budgets');

budgets('sizes and controllers', () => {
	assert.is(bytesOf('512M'), 512 * 2 ** 20);
	assert.is(bytesOf('2GiB'), 2 * 2 ** 30);
	assert.is(bytesOf(4096), 4096);
	assert.equal(controllersFor({ cpuMax: 0.5, memoryMax: '1G' }), ['memory', 'cpu']);
});

/** Where the scope's controllers come from: the parent of the default root, i.e. our own cgroup. */
const hasController = (c: string) => available.includes(c);

/** A budget test runs only where its controller is on cgroup2 here; elsewhere it is a uvu skip. */
function budgetTest(controller: string): (name: string, fn: () => Promise<void>) => void {
	const why = here.writable ? `the ${controller} controller is not on cgroup2 here (cgroup.controllers: ${available.join(' ') || 'none'})` : here.why;
	return (name, fn) => testIf(budgets, here.writable && hasController(controller), why, name, fn);
}

const missing = (['memory', 'pids', 'cpu'] as const).filter((c) => !hasController(c));

testIf(
	budgets,
	here.writable && missing.length > 0,
	here.writable ? 'every controller is available here' : here.why,
	'a missing controller is an error at spawn that names it, not a silent no-op',
	async () => {
		const option = { memory: { memoryMax: '64M' }, pids: { pidsMax: 10 }, cpu: { cpuMax: 0.5 } } as const;
		// Other hosts may come and go beside us: look at ours only.
		const ours = () => readdirSync(here.dir!).filter((n) => !/^pidfd-\d+$/.test(n) || n === `pidfd-${process.pid}`);
		const before = ours();
		for (const c of missing) {
			const error = await spawn('/bin/true', [], { limits: option[c] }).catch((e: unknown) => e as PidfdError);
			assert.instance(error, PidfdError, c);
			assert.is((error as PidfdError).code, 'ENOTSUP');
			assert.match((error as PidfdError).message, new RegExp(`"${c}" controller`));
			console.log(`  budget ${Object.keys(option[c])[0]}: refused here, as it must be: ${(error as PidfdError).message.split('. ')[0]}`);
		}
		assert.equal(ours(), before, 'nothing left behind');
	},
);

budgetTest('memory')('memoryMax: the OOM kill is reported as reason memory-budget', async () => {
	const child = await spawn(process.execPath, ['-e', 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))'], { limits: { memoryMax: '64M' } });
	const exit: ExitInfo = await within(30_000, child.wait());
	assert.is(exit.signal, 'SIGKILL');
	assert.is(exit.reason, 'memory-budget');
});

budgetTest('pids')('pidsMax: forks past the budget fail inside the tree', async () => {
	const child = await spawn('sh', ['-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>/dev/null; jobs -p | wc -l'], {
		limits: { pidsMax: 4 },
		stdio: ['ignore', 'pipe', 'ignore'],
	});
	const out = await within(LIMIT, readUntil(child, /\d+\n/));
	assert.ok(Number(out.trim()) <= 3, `started ${out.trim()} with pidsMax 4`);
	await within(LIMIT, child.killTree());
});

budgetTest('cpu')('cpuMax: a busy loop gets about its share', async () => {
	const child = await spawn('sh', ['-c', 'while :; do :; done'], { limits: { cpuMax: 0.2 } });
	const start = child.scope!.usage().cpu!.usageUsec;
	await sleep(1000);
	const used = child.scope!.usage().cpu!.usageUsec - start;
	assert.ok(used < 400_000, `used ${used} µs of CPU in 1 s with cpuMax 0.2`);
	await within(LIMIT, child.killTree());
});

budgets('the budget reason comes from memory.events, and only for a SIGKILL', () => {
	// A stand-in cgroup directory: the reason logic reads memory.events and cgroup.events only.
	const dir = mkdtempSync(join(tmpdir(), 'pidfd-fakecg-'));
	writeFileSync(`${dir}/cgroup.procs`, '');
	writeFileSync(`${dir}/cgroup.events`, 'populated 1\nfrozen 0\n');
	writeFileSync(`${dir}/memory.events`, 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n');
	const scope = Scope.open(dir);
	const killed = { signal: 'SIGKILL' } as ExitInfo;
	assert.is(scope.annotateExit(killed, {} as Child).reason, 'memory-budget');
	assert.is(scope.annotateExit({ signal: 'SIGTERM' } as ExitInfo, {} as Child).reason, undefined);
	writeFileSync(`${dir}/memory.events`, 'oom_kill 0\n');
	assert.is(scope.annotateExit(killed, {} as Child).reason, undefined);
	rmSync(dir, { recursive: true });
});

budgets.run();

// --- accurate per-child accounting

const accounting = suite('maxRSS');

accounting("a host that touched 300 MB spawns /bin/true: the child's maxRSS is a few MB", async () => {
	const r = await fixture(['test/fixtures/rss-host.ts']);
	console.log(`  host max RSS ${r.hostMaxRssKiB} KiB, child (/bin/true) max RSS ${r.childMaxRssKiB} KiB`);
	assert.ok(Number(r.hostMaxRssKiB) > 300 * 1024, 'the host really touched 300 MB');
	assert.ok(Number(r.childMaxRssKiB) < 8 * 1024, `child maxRSS ${r.childMaxRssKiB} KiB`);
});

accounting.run();

// --- CLI

const cli = suite('pidfd run --contain');

testIf(cli, here.writable, here.why, 'reports the whole tree and ends what the command left running', async () => {
	const r = await pidfd(['run', '--json', '--contain', '--', 'sh', '-c', 'setsid sleep 1000 & i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 4']);
	assert.is(r.code, 4);
	const report = JSON.parse(r.stderr.trim().split('\n').pop()!);
	assert.is(report.tree.leftoverKilled, 1);
	assert.ok(report.tree.cpu.usageUsec >= report.rusage.userCpuMs * 1000, 'the tree used at least what the shell did');
	assert.is(report.tree.processes, 0);
	const text = await pidfd(['run', '--contain', '--', 'true']);
	assert.match(text.stderr, /tree: cpu/);
});

testIf(
	cli,
	here.writable && !hasController('memory'),
	here.writable ? 'the memory controller is available here' : here.why,
	'a budget without its controller fails before running anything',
	async () => {
		const r = await pidfd(['run', '--contain', '--memory-max', '64M', '--', 'true']);
		assert.is(r.code, 1);
		assert.match(r.stderr, /"memory" controller/);
		const usage = await pidfd(['run', '--memory-max', '64M', '--', 'true']);
		assert.is(usage.code, 2);
		assert.match(usage.stderr, /need --contain/);
	},
);

cli.run();

// A root left by a crashed host is swept by the next one; ours is gone once our scopes are.
const after = suite('cleanup');
testIf(after, here.writable, here.why, 'a root left by a host that is gone is swept by the next scope', async () => {
	const gone = await spawn('/bin/true');
	await within(LIMIT, gone.wait());
	const stale = `${here.dir}/pidfd-${gone.pid}`;
	mkdirSync(`${stale}/child-1`, { recursive: true });
	const scope = await Scope.create();
	assert.not.ok(existsSync(stale));
	await scope.kill();
});

testIf(after, here.writable, here.why, 'no scope of ours is left', async () => {
	await eventually(LIMIT, () => !existsSync(`${here.dir}/pidfd-${process.pid}`), 'our root removed');
});
after.run();
