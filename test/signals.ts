// schemas/signals.ts: the static signal table the library, the schemas and the browser client
// share. Checked against Node's own table (os.constants.signals, from the C headers).
import { constants } from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SIGNAL_MAX, signalName, signalNumber } from '../schemas/signals.js';

// ---

const numbers = suite('signalNumber: names');

numbers('every name Node knows on Linux has the same number here', () => {
	const known = Object.entries(constants.signals);
	assert.ok(known.length >= 31, 'os.constants.signals lists the standard signals');
	for (const [name, number] of known) assert.is(signalNumber(name), number, name);
});

numbers('with or without SIG, in any case', () => {
	for (const name of ['SIGTERM', 'TERM', 'sigterm', 'term', 'SigTerm', 'Term']) assert.is(signalNumber(name), 15, name);
	assert.is(signalNumber('kill'), 9);
	assert.is(signalNumber('SIGKILL'), 9);
	assert.is(signalNumber('hup'), 1);
});

numbers('second names of the same numbers: SIGIOT, SIGPOLL, SIGCLD', () => {
	assert.is(signalNumber('SIGIOT'), 6);
	assert.is(signalNumber('iot'), 6);
	assert.is(signalNumber('SIGPOLL'), 29);
	assert.is(signalNumber('POLL'), 29);
	assert.is(signalNumber('SIGCLD'), 17);
	assert.is(signalNumber('SIGABRT'), signalNumber('SIGIOT'));
	assert.is(signalNumber('SIGIO'), signalNumber('SIGPOLL'));
});

numbers('junk is undefined, never a guess', () => {
	for (const junk of [
		'',
		'SIG',
		'sig',
		'SIGNOPE',
		'NOPE',
		'KILL9',
		' SIGTERM',
		'SIGTERM ',
		'SIG TERM',
		'SIGSIGTERM',
		'9',
		'15',
		'SIGRTMIN',
		'SIG0',
		'constructor',
		'__proto__',
		'toString',
	]) {
		assert.is(signalNumber(junk), undefined, JSON.stringify(junk));
	}
	for (const junk of [null, undefined, {}, [], true, 9n] as unknown[]) assert.is(signalNumber(junk as string), undefined, String(junk));
});

numbers('real-time signals by the names signalName() gives them: SIG32..SIG64', () => {
	for (const n of [32, 34, 50, 64]) assert.is(signalNumber(signalName(n)), n);
	for (const junk of ['SIG31x', 'SIG65', 'SIG1', 'SIG031', '34']) assert.is(signalNumber(junk), undefined, junk);
});

numbers.run();

// ---

const byNumber = suite('signalNumber: numbers');

byNumber('1..64 are signals, as themselves', () => {
	assert.is(SIGNAL_MAX, 64);
	for (let n = 1; n <= 64; n++) assert.is(signalNumber(n), n, String(n));
});

byNumber('0, negatives, past 64, fractions and non-finite numbers are not', () => {
	for (const n of [0, -0, -1, -9, 65, 128, 2 ** 31, 1.5, 9.000001, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
		assert.is(signalNumber(n), undefined, String(n));
	}
});

byNumber.run();

// ---

const names = suite('signalName');

names('1..31: the conventional name, the one Node gives first', () => {
	const first = new Map<number, string>();
	for (const [name, number] of Object.entries(constants.signals)) if (!first.has(number)) first.set(number, name);
	for (let n = 1; n <= 31; n++) assert.is(signalName(n), first.get(n), String(n));
	// Not the second names.
	assert.is(signalName(6), 'SIGABRT');
	assert.is(signalName(29), 'SIGIO');
	assert.is(signalName(17), 'SIGCHLD');
});

names('real-time signals 32..64 have no fixed name: SIG<n>', () => {
	for (let n = 32; n <= 64; n++) assert.is(signalName(n), `SIG${n}`);
});

names('a name and its number round-trip for 1..31', () => {
	for (let n = 1; n <= 31; n++) assert.is(signalNumber(signalName(n)), n, String(n));
});

names.run();
