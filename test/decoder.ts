import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePidfdInfo, decodeRusage, decodeSiginfo, structDecoder } from '../host/kernel/structs.js';
import { PidfdInfo, Rusage, Siginfo } from '../schemas/kernel.js';
import { commandExists, testIf } from './helpers/skip.js';

// Vectors are raw kernel bytes captured by test/fixtures/capture.c; each NAME.hex
// has a NAME.json with the same fields as the C program read them through C
// structs, and values the parent knew independently (child pid, uid).

const VECTORS = fileURLToPath(new URL('./vectors/', import.meta.url));
const CAPTURE_C = fileURLToPath(new URL('./fixtures/capture.c', import.meta.url));
const run = promisify(execFile);

const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;
const SIGCHLD = 17;
const PIDFD_INFO_PID = 1;
const PIDFD_INFO_CREDS = 2;
const PIDFD_INFO_EXIT = 8;

interface ExitVector {
	note: string;
	got: string;
	childPid: number;
	uid: number;
	siginfo: Record<string, number>;
	rusage: Record<string, number>;
}

interface InfoVector {
	childPid: number;
	parentPid: number;
	uid: number;
	gid: number;
	info: Record<string, number>;
}

async function readVector<T>(dir: string, name: string): Promise<{ bytes: Uint8Array; meta: T }> {
	const hex = (await readFile(join(dir, `${name}.hex`), 'utf8')).replace(/\s+/g, '');
	const meta = JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8')) as T;
	return { bytes: new Uint8Array(Buffer.from(hex, 'hex')), meta };
}

/** Same keys; equal values, CPU times to the microsecond the JSON prints. */
function assertFields(actual: object, expected: Record<string, number>, what: string): void {
	assert.equal(Object.keys(actual).sort(), Object.keys(expected).sort(), `${what}: keys`);
	for (const [key, value] of Object.entries(actual) as [string, number][]) {
		const want = expected[key]!;
		if (key.endsWith('Ms')) assert.ok(Math.abs(value - want) < 1e-6, `${what}.${key}: ${value} vs ${want}`);
		else assert.is(value, want, `${what}.${key}`);
	}
}

/** Decodes NAME.hex (siginfo + rusage), checks it against NAME.json, and returns it. */
async function checkExit(dir: string, name: string): Promise<{ si: Siginfo; ru: Rusage; meta: ExitVector }> {
	const { bytes, meta } = await readVector<ExitVector>(dir, name);
	assert.is(bytes.length, 128 + 144, `${name}: size`);
	const si = Siginfo.parse(decodeSiginfo(bytes.subarray(0, 128)));
	const ru = Rusage.parse(decodeRusage(bytes.subarray(128)));
	assertFields(si, meta.siginfo, `${name} siginfo`);
	assertFields(ru, meta.rusage, `${name} rusage`);
	assert.is(si.signo, SIGCHLD);
	assert.is(si.errno, 0);
	assert.is(si.pid, meta.childPid);
	assert.is(si.uid, meta.uid);
	return { si, ru, meta };
}

async function checkInfo(dir: string, name: string): Promise<{ info: PidfdInfo; meta: InfoVector }> {
	const { bytes, meta } = await readVector<InfoVector>(dir, name);
	const info = PidfdInfo.parse(decodePidfdInfo(bytes));
	assertFields(info, meta.info, name);
	return { info, meta };
}

/** The checks every capture must pass, committed or fresh. */
const exitChecks: Record<string, (si: Siginfo, ru: Rusage, meta: ExitVector) => void> = {
	'exit-0': (si) => {
		assert.is(si.code, CLD_EXITED);
		assert.is(si.status, 0);
	},
	'exit-255': (si) => {
		assert.is(si.code, CLD_EXITED);
		assert.is(si.status, 255);
	},
	'killed-sigkill': (si) => {
		assert.is(si.code, CLD_KILLED);
		assert.is(si.status, 9);
	},
	dumped: (si, _ru, meta) => {
		// CLD_DUMPED needs core_pattern to let the core be written; otherwise the
		// kernel reports CLD_KILLED. capture.c records which one it got.
		assert.is(si.code, meta.got === 'CLD_DUMPED' ? CLD_DUMPED : CLD_KILLED);
		assert.is(si.status, 6); // SIGABRT
	},
	'burn-cpu': (si, ru) => {
		assert.is(si.code, CLD_EXITED);
		assert.is(si.status, 0);
		assert.ok(ru.userCpuMs > 100, `userCpuMs ${ru.userCpuMs}`);
		assert.ok(ru.maxRssKiB > 40_000, `maxRssKiB ${ru.maxRssKiB}`);
		assert.ok(ru.minorFaults > 10_000, `minorFaults ${ru.minorFaults}`);
	},
};

function checkInfoLive(info: PidfdInfo, meta: InfoVector): void {
	assert.ok(info.mask & PIDFD_INFO_PID && info.mask & PIDFD_INFO_CREDS, `mask ${info.mask}`);
	assert.is(info.pid, meta.childPid);
	assert.is(info.tgid, meta.childPid);
	assert.is(info.ppid, meta.parentPid);
	for (const id of [info.ruid, info.euid, info.suid, info.fsuid]) assert.is(id, meta.uid);
	for (const id of [info.rgid, info.egid, info.sgid, info.fsgid]) assert.is(id, meta.gid);
	assert.is(info.exitCode, undefined);
}

function checkInfoExited(info: PidfdInfo): void {
	assert.ok(info.mask & PIDFD_INFO_EXIT, `mask ${info.mask}`);
	// A wait status: exit(3) is 3 << 8.
	assert.is(info.exitCode, 3 << 8);
	// Reaped: only exit information is left.
	assert.is(info.pid, 0);
}

// ---

const vectors = suite('decoder: committed kernel vectors');

for (const [name, check] of Object.entries(exitChecks)) {
	vectors(name, async () => {
		const { si, ru, meta } = await checkExit(VECTORS, name);
		check(si, ru, meta);
	});
}

vectors('dumped was captured as CLD_DUMPED', async () => {
	const { si } = await checkExit(VECTORS, 'dumped');
	assert.is(si.code, CLD_DUMPED);
});

vectors('info-live', async () => {
	const { info, meta } = await checkInfo(VECTORS, 'info-live');
	checkInfoLive(info, meta);
});

vectors('info-exited', async () => {
	const { info } = await checkInfo(VECTORS, 'info-exited');
	checkInfoExited(info);
});

vectors.run();

// ---

const fallback = suite('decoder: the JavaScript fallback (no WebAssembly memory, as under RLIMIT_AS)');

/** Every decoder's output for `bytes`, by the decoder named. */
function decodeAll(use: 'wasm' | 'js', exit: Uint8Array, info: Uint8Array): unknown {
	assert.is(structDecoder(use), use);
	return { si: decodeSiginfo(exit.subarray(0, 128)), ru: decodeRusage(exit.subarray(128)), info: decodePidfdInfo(info) };
}

fallback("gives the module's numbers for every committed vector and for random bytes", async () => {
	const info = (await readVector<InfoVector>(VECTORS, 'info-live')).bytes;
	const exits = await Promise.all(Object.keys(exitChecks).map(async (name) => (await readVector<ExitVector>(VECTORS, name)).bytes));
	// Random structs too: sign bits, values past 2^53 (rounded the same way), any field.
	let seed = 0x9e3779b9;
	const random = (n: number) =>
		Uint8Array.from({ length: n }, () => {
			seed = (seed * 1103515245 + 12345) >>> 0;
			return seed >>> 24;
		});
	const cases: [Uint8Array, Uint8Array][] = [
		...exits.map((e) => [e, info] as [Uint8Array, Uint8Array]),
		...Array.from({ length: 200 }, () => [random(272), random(64)] as [Uint8Array, Uint8Array]),
	];
	try {
		for (const [exit, pidfdInfo] of cases) assert.equal(decodeAll('js', exit, pidfdInfo), decodeAll('wasm', exit, pidfdInfo));
	} finally {
		structDecoder('wasm');
	}
});

fallback('a host under an address-space limit too small for WebAssembly memory still waits its children', async () => {
	// 8 GiB: Node runs, V8 cannot reserve a wasm memory. Before the fallback, wait() never
	// settled. The bundle, in plain Node: tsx needs WebAssembly itself.
	const script = `
		const { run } = await import(${JSON.stringify(new URL('../dist/pidfd.mjs', import.meta.url).href)});
		let wasm = 'ok';
		try { new WebAssembly.Memory({ initial: 1 }); } catch (e) { wasm = e.constructor.name; }
		const r = await run('sh', ['-c', 'echo hi; exit 7'], { encoding: 'utf8' });
		console.log(JSON.stringify({ wasm, stdout: r.stdout, code: r.exit.code, rss: r.exit.rusage.maxRssKiB > 0 }));
		process.exit(0);`;
	// The plain sidecar, even in the sanitizer pass: an ASan build cannot start under such a
	// limit (its shadow memory alone reserves terabytes), and this test is about the host.
	const env = { ...process.env, PIDFD_SIDECAR: fileURLToPath(new URL('../dist/pidfd-sidecar', import.meta.url)) };
	const { stdout } = await run('prlimit', [`--as=${8 * 1024 ** 3}`, process.execPath, '--input-type=module', '-e', script], {
		timeout: 30_000,
		env,
	});
	const got = JSON.parse(stdout.trim().split('\n').pop()!) as { wasm: string };
	assert.is(got.wasm, 'RangeError', 'the limit really refuses WebAssembly memory');
	assert.equal(got, { wasm: 'RangeError', stdout: 'hi\n', code: 7, rss: true });
});

fallback.run();

// ---

const inputs = suite('decoder: input handling');

inputs('wrong lengths throw RangeError', () => {
	for (const n of [0, 127, 129, 272]) assert.throws(() => decodeSiginfo(new Uint8Array(n)), RangeError);
	for (const n of [0, 143, 145, 128]) assert.throws(() => decodeRusage(new Uint8Array(n)), RangeError);
	for (const n of [0, 63, 65, 72]) assert.throws(() => decodePidfdInfo(new Uint8Array(n)), RangeError);
});

inputs('reads a subarray at an odd offset of a larger buffer', async () => {
	const { bytes, meta } = await readVector<ExitVector>(VECTORS, 'burn-cpu');
	const big = new Uint8Array(3 + bytes.length + 5).fill(0xee);
	big.set(bytes, 3);
	assertFields(decodeSiginfo(big.subarray(3, 3 + 128)), meta.siginfo, 'siginfo');
	assertFields(decodeRusage(big.subarray(3 + 128, 3 + 272)), meta.rusage, 'rusage');
});

// Offsets written out here from sidecar/PROTOCOL.md, not from assembly/layout.ts,
// so a wrong constant there cannot hide behind the same wrong constant here.
inputs('signedness, u32 ids, u64 fields and microseconds', () => {
	const si = new DataView(new ArrayBuffer(128));
	si.setInt32(8, CLD_KILLED, true);
	si.setUint32(20, 0xffff_fffe, true);
	si.setInt32(24, -1, true);
	const s = decodeSiginfo(new Uint8Array(si.buffer));
	assert.is(s.code, CLD_KILLED);
	assert.is(s.uid, 4_294_967_294);
	assert.is(s.status, -1);

	const ru = new DataView(new ArrayBuffer(144));
	ru.setBigInt64(0, 1n, true);
	ru.setBigInt64(8, 999_999n, true);
	ru.setBigInt64(16, 3n, true);
	ru.setBigInt64(24, 1n, true);
	ru.setBigInt64(32, 5_000_000_000n, true);
	ru.setBigInt64(136, 7n, true);
	const r = decodeRusage(new Uint8Array(ru.buffer));
	assert.ok(Math.abs(r.userCpuMs - 1999.999) < 1e-9, `userCpuMs ${r.userCpuMs}`);
	assert.ok(Math.abs(r.systemCpuMs - 3000.001) < 1e-9, `systemCpuMs ${r.systemCpuMs}`);
	assert.is(r.maxRssKiB, 5_000_000_000);
	assert.is(r.involuntaryCtxSwitches, 7);

	const pi = new DataView(new ArrayBuffer(64));
	pi.setBigUint64(0, (1n << 40n) | BigInt(PIDFD_INFO_EXIT), true);
	pi.setBigUint64(8, 1n << 40n, true);
	pi.setUint32(16, 4_000_000_000, true);
	pi.setUint32(56, 0xffff_ffff, true);
	pi.setInt32(60, 0x86, true); // SIGABRT (6) with core dumped (0x80)
	const p = decodePidfdInfo(new Uint8Array(pi.buffer));
	assert.is(p.mask, 2 ** 40 + PIDFD_INFO_EXIT);
	assert.is(p.cgroupId, 2 ** 40);
	assert.is(p.pid, 4_000_000_000);
	assert.is(p.fsgid, 4_294_967_295);
	assert.is(p.exitCode, 0x86);

	pi.setBigUint64(0, BigInt(PIDFD_INFO_PID), true);
	assert.not.ok('exitCode' in decodePidfdInfo(new Uint8Array(pi.buffer)), 'exitCode without PIDFD_INFO_EXIT');
});

inputs.run();

// ---

const live = suite('decoder: fresh capture from this kernel');

/**
 * capture.c built and run before the tests are registered: the directory of its vectors, or
 * why this machine cannot make them. A failure to build or run is kept for the tests to throw.
 */
const capture = await (async (): Promise<{ dir: string; why: string; failure?: unknown }> => {
	if (!commandExists('gcc')) return { dir: '', why: 'gcc not found' };
	const dir = await mkdtemp(join(tmpdir(), 'pidfd-decoder-'));
	process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
	const exe = join(dir, 'capture');
	try {
		await run('gcc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-o', exe, CAPTURE_C], { signal: AbortSignal.timeout(60_000) });
		await run(exe, [dir], { signal: AbortSignal.timeout(30_000) });
	} catch (failure) {
		// capture.c exits 77, as automake's skip, where the kernel lacks what it needs.
		if ((failure as { code?: unknown }).code === 77)
			return { dir, why: `kernel lacks clone3 or waitid(P_PIDFD): ${String((failure as { stderr?: unknown }).stderr).trim()}` };
		return { dir, why: '', failure };
	}
	return { dir, why: '' };
})();

/** A vector capture.c writes only where the kernel has its feature: why it is missing, or ''. */
const vectorMissing = (name: string, feature: string) =>
	capture.why || (capture.failure || existsSync(join(capture.dir, `${name}.hex`)) ? '' : `no ${feature} on this kernel: capture.c wrote no ${name} vector`);

testIf(live, !capture.why, capture.why, 'capture.c exit bytes decode to what C read', async () => {
	if (capture.failure) throw capture.failure;
	for (const [name, check] of Object.entries(exitChecks)) {
		const { si, ru, meta } = await checkExit(capture.dir, name);
		check(si, ru, meta);
		if (name === 'dumped' && si.code !== CLD_DUMPED) {
			console.log(`  note: live capture: SIGABRT gave ${meta.got}, not CLD_DUMPED (core_pattern)`);
		}
	}
});

const noGetInfo = vectorMissing('info-live', 'PIDFD_GET_INFO (6.13+)');
testIf(live, !noGetInfo, noGetInfo, 'capture.c PIDFD_GET_INFO bytes of a live child', async () => {
	if (capture.failure) throw capture.failure;
	const { info, meta } = await checkInfo(capture.dir, 'info-live');
	checkInfoLive(info, meta);
});

const noInfoExit = vectorMissing('info-exited', 'PIDFD_INFO_EXIT (6.15+)');
testIf(live, !noInfoExit, noInfoExit, 'capture.c PIDFD_INFO_EXIT bytes of a reaped child', async () => {
	if (capture.failure) throw capture.failure;
	checkInfoExited((await checkInfo(capture.dir, 'info-exited')).info);
});

live.run();
