// schemas/errors.ts: the error model the library, the bridge and the browser client share.
// The errno table is checked against the kernel's own headers and Node's table; the classes
// against a second copy of the module, as another bundle of the library would load it.
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { abortError, describeRunEnd, ErrorCode, errnoName, errnoOf, InvalidArgumentError, PidfdError, RunError } from '../schemas/errors.js';
import type { ExitInfo } from '../schemas/exit.js';
import { testIf } from './helpers/skip.js';

const HEADERS = ['/usr/include/asm-generic/errno-base.h', '/usr/include/asm-generic/errno.h'];
const haveHeaders = HEADERS.every((h) => existsSync(h));

/** `#define ENAME 12` and `#define EALIAS ENAME` of the kernel's asm-generic headers. */
function kernelErrnos(): Map<string, number> {
	const found = new Map<string, number>();
	for (const header of HEADERS) {
		for (const [, name, value] of readFileSync(header, 'utf8').matchAll(/^#define\s+(E[A-Z0-9]+)\s+(\w+)/gm)) {
			const number = /^\d+$/.test(value!) ? Number(value) : found.get(value!);
			if (number !== undefined) found.set(name!, number);
		}
	}
	return found;
}

/** Another copy of schemas/errors.ts, bundled on its own: what a second bundle of pidfd carries. */
const copy = (await import(
	`data:text/javascript,${encodeURIComponent(
		(
			await build({
				entryPoints: [fileURLToPath(new URL('../schemas/errors.ts', import.meta.url))],
				bundle: true,
				format: 'esm',
				write: false,
				logLevel: 'silent',
			})
		).outputFiles[0]!.text,
	)}`
)) as typeof import('../schemas/errors.js');

const exited3: ExitInfo = {
	pid: 9,
	status: 'exited',
	code: 3,
	signal: null,
	signalNumber: null,
	coreDumped: false,
	success: false,
	rusage: null,
	siginfo: null,
};

// ---

const table = suite('errnoName / errnoOf');

testIf(table, haveHeaders, `no ${HEADERS.join(', ')} (linux-libc-dev)`, "the kernel's asm-generic numbers, every name and alias", () => {
	const kernel = kernelErrnos();
	assert.ok(kernel.size > 130, `${kernel.size} names in the headers`);
	for (const [name, number] of kernel) {
		assert.is(errnoOf(name), number, name);
		// The name back is this one or another name of the same number (EWOULDBLOCK → EAGAIN).
		assert.is(errnoOf(errnoName(number)), number, `${name}: errnoName(${number}) is ${errnoName(number)}`);
	}
});

table("Node's table agrees (os.constants.errno)", () => {
	for (const [name, number] of Object.entries(constants.errno)) {
		assert.is(errnoOf(name), number, name);
		assert.is(errnoOf(errnoName(number)), number, `errnoName(${number})`);
	}
	assert.is(errnoName(2), 'ENOENT');
	assert.is(errnoName(3), 'ESRCH');
	assert.is(errnoName(11), 'EAGAIN');
	assert.is(errnoOf('EWOULDBLOCK'), 11);
	assert.is(errnoOf('EOPNOTSUPP'), 95);
	assert.is(errnoOf('ENOTSUP'), 95);
	assert.is(errnoOf('EDEADLOCK'), 35);
});

table('a name for every number 1..133, and back', () => {
	for (let n = 1; n <= 133; n++) {
		const name = errnoName(n);
		assert.match(name, /^E[A-Z0-9]+$/, String(n));
		// 41 and 58 are holes in the numbering: named E41, E58, which are no codes.
		if (n === 41 || n === 58) assert.is(name, `E${n}`);
		else assert.is(errnoOf(name), n, name);
	}
});

table('numbers Linux does not name are E<n>; codes that are no errno are 0', () => {
	for (const n of [0, 41, 58, 134, 200, 4095]) assert.is(errnoName(n), `E${n}`);
	for (const code of Object.values(ErrorCode)) assert.is(errnoOf(code), 0, code);
	for (const code of ['', 'E', 'enoent', 'ENOENT ', 'E2', 'constructor', '__proto__']) assert.is(errnoOf(code), 0, JSON.stringify(code));
});

table.run();

// ---

const pidfdError = suite('PidfdError');

pidfdError("Node's shape: code, errno, syscall, and the message `${syscall} ${code} ${path}`", () => {
	const e = new PidfdError('ENOENT', undefined, { syscall: 'execve', path: '/no/such' });
	assert.instance(e, Error);
	assert.is(e.name, 'PidfdError');
	assert.is(e.message, 'execve ENOENT /no/such');
	assert.equal([e.code, e.errno, e.syscall, e.path], ['ENOENT', 2, 'execve', '/no/such']);
	assert.is(new PidfdError('ESRCH', undefined, { syscall: 'pidfd_open' }).message, 'pidfd_open ESRCH', 'no path: no trailing space');
	assert.is(new PidfdError('ESRCH').message, 'pidfd ESRCH', "syscall 'pidfd' by default");
	assert.is(new PidfdError('ESRCH').syscall, 'pidfd');
});

pidfdError('path and pid are set only when given', () => {
	const bare = new PidfdError('EPERM');
	assert.is(bare.path, undefined);
	assert.is(bare.pid, undefined);
	const full = new PidfdError('EPERM', 'pidfd_send_signal EPERM', { syscall: 'pidfd_send_signal', pid: 1 });
	assert.is(full.pid, 1);
	assert.is(full.path, undefined);
	assert.equal(JSON.parse(JSON.stringify(bare)), { code: 'EPERM', errno: 1, syscall: 'pidfd', name: 'PidfdError' });
});

pidfdError('errno: the number the code names, 0 for ERR_PIDFD_*, unless given', () => {
	assert.is(new PidfdError('E2BIG').errno, 7);
	assert.is(new PidfdError(ErrorCode.SIDECAR_DIED, 'pidfd: the sidecar died').errno, 0);
	assert.is(new PidfdError('ENOENT', 'x', { errno: 99 }).errno, 99);
});

pidfdError('a message and a cause of its own', () => {
	const cause = new Error('underneath');
	const e = new PidfdError(ErrorCode.PROTOCOL, 'pidfd: unreadable data', { cause });
	assert.is(e.message, 'pidfd: unreadable data');
	assert.is(e.cause, cause);
	assert.not.ok('cause' in new PidfdError('EIO'), 'no cause property without a cause');
});

pidfdError('fromErrno: the code from the number', () => {
	const e = PidfdError.fromErrno(3, 'pidfd_send_signal', { pid: 77 });
	assert.equal([e.code, e.errno, e.syscall, e.pid, e.message], ['ESRCH', 3, 'pidfd_send_signal', 77, 'pidfd_send_signal ESRCH']);
	assert.is(PidfdError.fromErrno(2, 'open', { path: '/x' }).message, 'open ENOENT /x');
	assert.is(PidfdError.fromErrno(134, 'ioctl').code, 'E134');
});

pidfdError('the published ERR_PIDFD_* codes never change', () => {
	assert.equal(ErrorCode, {
		SIDECAR_DIED: 'ERR_PIDFD_SIDECAR_DIED',
		PROTOCOL_MISMATCH: 'ERR_PIDFD_PROTOCOL_MISMATCH',
		PROTOCOL: 'ERR_PIDFD_PROTOCOL',
		ACCESS_DENIED: 'ERR_ACCESS_DENIED',
		INVALID_ARG: 'ERR_INVALID_ARG_VALUE',
	});
});

pidfdError.run();

// ---

const brands = suite('instanceof by brand, across copies of the module');

brands('the copy is another module: its classes are other classes', () => {
	assert.is.not(copy.PidfdError, PidfdError);
	assert.is.not(copy.RunError, RunError);
});

brands('a PidfdError of either copy is a PidfdError of both', () => {
	const theirs = new copy.PidfdError('ESRCH', undefined, { syscall: 'pidfd_open' });
	const ours = new PidfdError('ESRCH');
	assert.ok(theirs instanceof PidfdError);
	assert.ok(ours instanceof copy.PidfdError);
	assert.ok(theirs instanceof Error);
	assert.is(theirs.errno, 3);
});

brands('a RunError of either copy is a RunError of both, and no PidfdError', () => {
	const theirs = new copy.RunError('Command failed with exit code 3: x', 'failed', '', '', exited3);
	assert.ok(theirs instanceof RunError);
	assert.ok(new RunError('x', 'timeout', '', '', exited3) instanceof copy.RunError);
	assert.not.ok(theirs instanceof PidfdError);
	assert.not.ok(new PidfdError('EIO') instanceof RunError);
});

brands('look-alikes without the brand are not', () => {
	const plain = Object.assign(new Error('execve ENOENT /x'), { code: 'ENOENT', errno: 2, syscall: 'execve' });
	for (const value of [plain, { code: 'ENOENT' }, null, undefined, 'PidfdError', 2]) {
		assert.not.ok((value as unknown) instanceof PidfdError, String(value));
		assert.not.ok((value as unknown) instanceof RunError, String(value));
	}
	assert.not.ok(new InvalidArgumentError('x') instanceof PidfdError);
});

brands.run();

// ---

const others = suite('RunError, AbortError, InvalidArgumentError');

others('RunError: a code per reason, and what was read', () => {
	const codes = { timeout: 'ETIMEDOUT', abort: 'ABORT_ERR', maxBuffer: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER', failed: 'ERR_PIDFD_CHILD_FAILED' } as const;
	for (const [reason, code] of Object.entries(codes) as [keyof typeof codes, string][]) {
		const e = new RunError('m', reason, 'out', 'err', exited3);
		assert.equal([e.name, e.code, e.reason, e.stdout, e.stderr, e.exit, e.message], ['RunError', code, reason, 'out', 'err', exited3, 'm'], reason);
		assert.instance(e, Error);
	}
});

others('describeRunEnd: "Command failed with exit code 3: ls /nope", and the other ends', () => {
	const limits = { timeout: 200, maxBuffer: 1000 };
	assert.is(describeRunEnd('ls', ['/nope'], 'failed', exited3, limits), 'Command failed with exit code 3: ls /nope');
	const killed: ExitInfo = { ...exited3, status: 'signaled', code: null, signal: 'SIGKILL', signalNumber: 9 };
	assert.is(describeRunEnd('sleep', ['9'], 'failed', killed, limits), 'Command was killed with SIGKILL: sleep 9');
	assert.is(describeRunEnd('sleep', ['9'], 'timeout', killed, limits), 'Command timed out after 200 ms: sleep 9');
	assert.is(describeRunEnd('sleep', ['9'], 'abort', killed, limits), 'Command was aborted: sleep 9');
	assert.is(describeRunEnd('yes', [], 'maxBuffer', killed, limits), 'Command wrote more than maxBuffer (1000 bytes) to stdout or stderr: yes');
	const unknown: ExitInfo = { ...exited3, status: 'unknown', code: null };
	assert.is(describeRunEnd('x', [], 'failed', unknown, limits), 'Command failed with exit code unknown: x');
});

others("abortError: name AbortError, code ABORT_ERR, the signal's reason as cause", () => {
	const controller = new AbortController();
	const reason = new Error('changed my mind');
	controller.abort(reason);
	const e = abortError('spawn() was aborted', controller.signal) as Error & { code: string };
	assert.instance(e, Error);
	assert.equal([e.name, e.code, e.message, e.cause], ['AbortError', 'ABORT_ERR', 'spawn() was aborted', reason]);
	const timedOut = AbortSignal.abort();
	assert.is((abortError('x', timedOut).cause as Error).name, 'AbortError', 'the default reason is kept too');
});

others("InvalidArgumentError: a TypeError with Node's code", () => {
	const e = new InvalidArgumentError('spawn(): args.0 must not contain NUL bytes');
	assert.instance(e, TypeError);
	assert.equal([e.name, e.code, e.message], ['InvalidArgumentError', 'ERR_INVALID_ARG_VALUE', 'spawn(): args.0 must not contain NUL bytes']);
});

others.run();
