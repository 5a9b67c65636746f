// host/kernel/exit-status.ts: ExitInfo from a wait(2) status word (PIDFD_INFO_EXIT), from
// waitid()'s siginfo (our own children), or for an end nobody told us about. Status words are
// built here with the <sys/wait.h> encoding (W_EXITCODE, WCOREFLAG); the
// committed kernel vectors (test/vectors, captured by test/fixtures/capture.c) are the
// kernel's own answers.
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { exitFromSiginfo, fromWaitStatus, unknownExit } from '../host/kernel/exit-status.js';
import { ExitInfo } from '../schemas/exit.js';
import type { Rusage, Siginfo } from '../schemas/kernel.js';

/** <sys/wait.h>: a normal exit with `code`, or the end by `signal`. */
const W_EXITCODE = (code: number, signal: number) => (code << 8) | signal;
const WCOREFLAG = 0x80;
const CLD = { EXITED: 1, KILLED: 2, DUMPED: 3, TRAPPED: 4, STOPPED: 5, CONTINUED: 6 };

const vector = <T>(name: string) => JSON.parse(readFileSync(new URL(`./vectors/${name}.json`, import.meta.url), 'utf8')) as T;

// ---

const wait = suite('fromWaitStatus: a wait(2) status word');

wait('a normal exit: its code, success only for 0', () => {
	for (const code of [0, 1, 3, 127, 128, 255]) {
		const exit = fromWaitStatus(42, W_EXITCODE(code, 0));
		assert.equal(exit, {
			pid: 42,
			status: 'exited',
			code,
			signal: null,
			signalNumber: null,
			coreDumped: false,
			success: code === 0,
			rusage: null,
			siginfo: null,
		});
		ExitInfo.parse(exit);
	}
});

wait('an end by a signal: its name and number, no code', () => {
	for (const [signal, name] of [
		[1, 'SIGHUP'],
		[9, 'SIGKILL'],
		[15, 'SIGTERM'],
		[31, 'SIGSYS'],
	] as const) {
		const exit = fromWaitStatus(7, W_EXITCODE(0, signal));
		assert.equal(exit, {
			pid: 7,
			status: 'signaled',
			code: null,
			signal: name,
			signalNumber: signal,
			coreDumped: false,
			success: false,
			rusage: null,
			siginfo: null,
		});
		ExitInfo.parse(exit);
	}
});

wait('the core flag: coreDumped, same signal', () => {
	const exit = fromWaitStatus(7, W_EXITCODE(0, 6) | WCOREFLAG);
	assert.is(exit.signal, 'SIGABRT');
	assert.is(exit.signalNumber, 6);
	assert.ok(exit.coreDumped);
	assert.is(fromWaitStatus(7, W_EXITCODE(0, 11) | WCOREFLAG).signal, 'SIGSEGV');
	assert.not.ok(fromWaitStatus(7, W_EXITCODE(0, 11)).coreDumped);
});

wait('real-time signals have no fixed name: SIG<n>', () => {
	const exit = fromWaitStatus(7, W_EXITCODE(0, 34));
	assert.is(exit.signal, 'SIG34');
	assert.is(exit.signalNumber, 34);
	assert.is(fromWaitStatus(7, W_EXITCODE(0, 64)).signal, 'SIG64');
});

wait("the kernel's own word: PIDFD_INFO_EXIT of `exit 3` (test/vectors/info-exited)", () => {
	const { info } = vector<{ info: { exitCode: number } }>('info-exited');
	assert.is(info.exitCode, W_EXITCODE(3, 0));
	const exit = fromWaitStatus(1, info.exitCode);
	assert.is(exit.status, 'exited');
	assert.is(exit.code, 3);
});

wait.run();

// ---

const siginfo = suite('exitFromSiginfo: waitid() of our own child');

interface ExitVector {
	siginfo: Siginfo;
	rusage: Rusage;
	childPid: number;
}

siginfo("the kernel's answers: exit 0, exit 255, SIGKILL, SIGABRT with a core (test/vectors)", () => {
	const expect: Record<string, Partial<ExitInfo>> = {
		'exit-0': { status: 'exited', code: 0, signal: null, signalNumber: null, coreDumped: false, success: true },
		'exit-255': { status: 'exited', code: 255, signal: null, signalNumber: null, coreDumped: false, success: false },
		'killed-sigkill': { status: 'signaled', code: null, signal: 'SIGKILL', signalNumber: 9, coreDumped: false, success: false },
	};
	const dumped = vector<ExitVector & { got: string }>('dumped');
	expect.dumped = { status: 'signaled', code: null, signal: 'SIGABRT', signalNumber: 6, coreDumped: dumped.got === 'CLD_DUMPED', success: false };
	for (const [name, want] of Object.entries(expect)) {
		const v = vector<ExitVector>(name);
		const exit = exitFromSiginfo(v.siginfo, v.rusage);
		assert.equal({ ...exit, pid: 0, rusage: null, siginfo: null }, { pid: 0, rusage: null, siginfo: null, ...want }, name);
		assert.is(exit.pid, v.childPid, `${name}: pid`);
		ExitInfo.parse(exit);
	}
});

siginfo('rusage and siginfo are kept as they came', () => {
	const v = vector<ExitVector>('burn-cpu');
	const exit = exitFromSiginfo(v.siginfo, v.rusage);
	assert.is(exit.rusage, v.rusage);
	assert.is(exit.siginfo, v.siginfo);
});

siginfo('CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED are no end: status unknown, nothing claimed', () => {
	for (const code of [CLD.TRAPPED, CLD.STOPPED, CLD.CONTINUED, 0, 99]) {
		const exit = exitFromSiginfo({ signo: 17, errno: 0, code, pid: 5, uid: 0, status: 19 }, vector<ExitVector>('exit-0').rusage);
		assert.equal(
			{ status: exit.status, code: exit.code, signal: exit.signal, signalNumber: exit.signalNumber, coreDumped: exit.coreDumped, success: exit.success },
			{
				status: 'unknown',
				code: null,
				signal: null,
				signalNumber: null,
				coreDumped: false,
				success: false,
			},
			`si_code ${code}`,
		);
	}
});

siginfo('CLD_DUMPED and CLD_KILLED differ only in coreDumped', () => {
	const ru = vector<ExitVector>('exit-0').rusage;
	const killed = exitFromSiginfo({ signo: 17, errno: 0, code: CLD.KILLED, pid: 5, uid: 0, status: 11 }, ru);
	const dumped = exitFromSiginfo({ signo: 17, errno: 0, code: CLD.DUMPED, pid: 5, uid: 0, status: 11 }, ru);
	assert.equal({ ...killed, siginfo: null }, { ...dumped, coreDumped: false, siginfo: null });
	assert.ok(dumped.coreDumped);
	assert.is(dumped.signal, 'SIGSEGV');
});

siginfo.run();

// ---

const unknown = suite('unknownExit: an end nobody told us about');

unknown('status unknown, every field empty, never a success', () => {
	const exit = unknownExit(1234);
	assert.equal(exit, {
		pid: 1234,
		status: 'unknown',
		code: null,
		signal: null,
		signalNumber: null,
		coreDumped: false,
		success: false,
		rusage: null,
		siginfo: null,
	});
	ExitInfo.parse(exit);
	assert.is.not(unknownExit(1234), exit, 'a new object each time');
});

unknown.run();
