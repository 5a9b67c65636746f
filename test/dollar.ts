// `$` without a shell. Cases after execa's `$` tests and zx's quoting tests (turned into
// "nothing is injected" tests) are named so in their labels.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { $, DollarCommand, InvalidArgumentError, RunError } from '../host/index.js';
import { templateArgv } from '../host/api/dollar.js';
import { probeCgroup } from './helpers/cgroup.js';
import { within } from './helpers/deadline.js';
import { testIf } from './helpers/skip.js';

const argv = (strings: TemplateStringsArray, ...values: unknown[]) => templateArgv(strings, values);
const invalid = (fn: () => unknown, what: string) => assert.throws(fn, (e: unknown) => e instanceof InvalidArgumentError, what);

const parse = suite('$: a template is an argv, never a shell line');

parse('execa $: literal parts split on any whitespace, runs of it included', () => {
	assert.equal(argv`git   log\t--oneline\n -n 3`, ['git', 'log', '--oneline', '-n', '3']);
});

parse('execa $: each interpolated value is exactly one argument, whatever it holds', () => {
	const message = 'two words  and\ttabs';
	assert.equal(argv`git commit -m ${message}`, ['git', 'commit', '-m', message]);
	assert.equal(argv`echo ${''}`, ['echo', ''], 'an empty string is an (empty) argument');
	assert.equal(argv`echo ${123} ${1.5} ${10n}`, ['echo', '123', '1.5', '10']);
});

parse('execa $: a value touching literal text is glued to it; arrays give one argument per element', () => {
	assert.equal(argv`git log --format=${'%s'} -n${3}`, ['git', 'log', '--format=%s', '-n3']);
	assert.equal(argv`ls ${['a b', 'c']} end`, ['ls', 'a b', 'c', 'end']);
	assert.equal(argv`ls pre${['a', 'b']}post`, ['ls', 'prea', 'bpost']);
	assert.equal(argv`ls ${[]} x`, ['ls', 'x'], 'an empty array adds nothing');
});

parse('execa $: a file: URL is its path, another URL its href', () => {
	assert.equal(argv`cat ${new URL('file:///tmp/a%20b')} ${new URL('https://example.com/x?y=1')}`, ['cat', '/tmp/a b', 'https://example.com/x?y=1']);
});

parse('clear errors: no program, a NUL byte, a value of the wrong type (never stringified)', () => {
	invalid(() => argv``, 'empty template');
	invalid(() => argv`   `, 'whitespace only');
	invalid(() => argv`${''} x`, 'an empty program');
	invalid(() => argv`echo ${'a\0b'}`, 'NUL in a value');
	invalid(() => argv`echo a\0b`, 'NUL in the template');
	for (const bad of [{}, null, undefined, true, Symbol('s'), () => 1, Number.NaN, Number.POSITIVE_INFINITY, [['nested']], [{}], new Date(0)]) {
		invalid(() => argv`echo ${bad}`, `value ${String(bad)}`);
	}
	invalid(() => ($ as unknown as (x: number) => unknown)(42), 'neither a template nor options');
});

parse.run();

const injection = suite('$: zx quoting tests as no-injection tests: every value reaches the program as one literal argument');

// zx quotes these for a shell; here there is no shell, so each must arrive untouched.
const hostile = [
	'a; rm -rf /tmp/nothing-here',
	'$(echo injected)',
	'`echo injected`',
	'line1\nline2',
	'a && echo injected',
	'a || echo injected',
	'a | cat',
	'*',
	'/etc/*',
	'~',
	'-n',
	'--help',
	'it\'s "quoted"',
	'$HOME',
	'${HOME}',
	'a > /tmp/pidfd-injected',
	'\\',
	'',
	' leading and trailing ',
	'ünïcødé ✓',
];

for (const value of hostile) {
	injection(`zx quote(${JSON.stringify(value)}): one literal argument`, async () => {
		const { stdout } = await within(10_000, $`printf [%s] ${value}`);
		assert.is(stdout, `[${value}]`);
	});
}

injection('zx quote of arrays: every element is one literal argument', async () => {
	const { stdout } = await within(10_000, $`printf [%s] ${hostile}`);
	assert.is(stdout, hostile.map((v) => `[${v}]`).join(''));
});

injection.run();

const running = suite('$: running commands');

running('execa $: resolves { stdout, stderr, exit } with one trailing newline removed', async () => {
	const r = await within(10_000, $`sh -c ${'echo out; echo err >&2'}`);
	assert.equal([r.stdout, r.stderr, r.exit.code], ['out', 'err', 0]);
	assert.is((await $`printf ${'two\n\n'}`).stdout, 'two\n', 'only one newline goes');
	assert.ok(r.exit.rusage !== null);
});

running('execa $: .lines() and .json()', async () => {
	assert.equal(await $`printf ${'a\nb\nc\n'}`.lines(), ['a', 'b', 'c']);
	assert.equal(await $`true`.lines(), []);
	assert.equal(await $`echo ${'{"a":[1,2]}'}`.json(), { a: [1, 2] });
});

running('execa $: rejects on a non-zero exit by default; $({ reject: false }) resolves', async () => {
	const error = await $`sh -c ${'echo why >&2; exit 3'}`.then(
		() => undefined,
		(e: unknown) => e,
	);
	assert.instance(error, RunError);
	assert.equal([(error as RunError).reason, (error as RunError).exit.code], ['failed', 3]);
	assert.is((await $({ reject: false })`sh -c ${'exit 3'}`).exit.code, 3);
});

running('execa $: $(options) returns a new $; cwd, env (added to the host env), timeout', async () => {
	const inTmp = $({ cwd: '/tmp', env: { PIDFD_GREETING: 'hi' } });
	assert.is((await inTmp`pwd`).stdout, '/tmp');
	assert.is((await inTmp`sh -c ${'echo $PIDFD_GREETING $PATH'}`).stdout.split(' ')[0], 'hi');
	assert.ok((await inTmp`sh -c ${'echo $PATH'}`).stdout.length > 0, 'PATH is still there');
	assert.is((await $`pwd`).stdout, process.cwd(), 'the original $ is unchanged');
	const nested = inTmp({ env: { OTHER: 'x' } });
	assert.is((await nested`sh -c ${'echo $PIDFD_GREETING$OTHER'}`).stdout, 'hix', 'options merge');
	const slow = await $({ timeout: 100 })`sleep 10`.then(
		() => undefined,
		(e: unknown) => e,
	);
	assert.is((slow as RunError).reason, 'timeout');
});

running('$`a`.pipe($`b`): a kernel pipeline; pipefail rejects', async () => {
	assert.is((await within(10_000, $`printf ${'b\nc\na\n'}`.pipe($`sort`).pipe($`head -2`))).stdout, 'a\nb');
	const failed = await $`sh -c ${'exit 2'}`.pipe($`cat`).then(
		() => undefined,
		(e: unknown) => e,
	);
	assert.is((failed as RunError).exit.code, 2, 'pipefail: the failing first stage decides');
	const started = $`true`;
	await started;
	invalid(() => started.pipe($`cat`), 'pipe() after the command started');
	const piped = $`echo x`;
	const joined = piped.pipe($`cat`);
	assert.instance(joined, DollarCommand);
	assert.is((await joined).stdout, 'x');
});

running('$.sync on runSync: the same result, .lines() and .json() at once', () => {
	const r = $.sync`printf ${'x\ny\n'}`;
	assert.equal([r.stdout, r.lines(), r.exit.code], ['x\ny', ['x', 'y'], 0]);
	assert.equal($.sync`echo ${'[1]'}`.json(), [1]);
	assert.throws(
		() => $.sync`false`,
		(e: unknown) => e instanceof RunError,
	);
	assert.is($({ reject: false }).sync`false`.exit.code, 1);
	assert.is($({ cwd: '/' }).sync`pwd`.stdout, '/');
});

const here = probeCgroup();
testIf(
	running,
	here.writable && here.hasKill,
	here.writable ? 'needs cgroup.kill (Linux 5.14)' : here.why,
	'$({ contain: true }): the command, a pipeline and $.sync each in a scope of their own',
	async () => {
		const contained = $({ contain: true });
		assert.match((await contained`grep ^0:: /proc/self/cgroup`).stdout, /child-/);
		assert.match((await contained`grep ^0:: /proc/self/cgroup`.pipe($`cat`)).stdout, /scope-/);
		assert.match(contained.sync`grep ^0:: /proc/self/cgroup`.stdout, /child-/);
	},
);

running.run();
