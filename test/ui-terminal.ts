// The page's terminal panes in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core): `pidfd serve --ui --allow-terminal` starts bash in xterm.js, keystrokes
// typed on the page reach it, the pane's size follows the window's, and a full-screen program
// draws and quits. The screenshot is kept as test/artifacts/ui-terminal.png. Without
// /usr/bin/chromium the browser tests are skipped, with the reason printed.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningServer, startServer } from '../host/bridge/index.js';
import { type Browser, buildUi, CHROMIUM, HAVE_CHROMIUM, openBrowser } from './helpers/chromium.js';
import { eventually, within } from './helpers/deadline.js';
import { isAlive } from './helpers/proc.js';
import { commandExists, testIf } from './helpers/skip.js';

const LIMIT = 20_000;
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const which = (name: string) => ['/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => existsSync(p));
const bin = { bash: which('bash'), echo: which('echo')! };
const HAVE_VIM = commandExists('vim');
const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };

const browser = suite('serve --ui: terminal panes in headless Chromium');
const canRun = HAVE_CHROMIUM && bin.bash !== undefined;
const why = HAVE_CHROMIUM ? 'needs bash in /usr/bin or /bin' : `needs ${CHROMIUM} (Debian: apt-get install chromium)`;
const browserTest = (name: string, fn: () => Promise<void>) => testIf(browser, canRun, why, name, fn);

let served: RunningServer;
let context: BrowserContext;
let page: Page;
let browserOpen: Browser | undefined;
let home: string;
const pageErrors = (): string[] => browserOpen?.errors ?? [];

browser.before(async () => {
	if (!canRun) return;
	await buildUi(LIMIT);
	// A fixed environment for the shell: a prompt to wait for, a scratch HOME, and no history
	// file, so nothing is written outside it.
	home = mkdtempSync(join(tmpdir(), 'pidfd-ui-terminal-home-'));
	const policy = join(home, 'policy.json');
	writeFileSync(policy, JSON.stringify({ env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, HISTFILE: '/dev/null', PS1: '$ ' } }));
	served = await within(
		LIMIT,
		startServer(['--ui', '--allow-terminal', '--policy', policy, '--allow', bin.bash!, '--allow', bin.echo, '--cwd-root', ROOT], quiet),
		'serve --ui',
	);
	browserOpen = await openBrowser(LIMIT);
	({ context, page } = browserOpen);
});

browser.after(async () => {
	if (!canRun) return;
	await browserOpen?.close();
	await within(LIMIT, served?.close() ?? Promise.resolve(), 'close server');
	if (home) rmSync(home, { recursive: true, force: true });
});

/** Polls the page until `check` holds; each poll has a deadline too. */
const until = (what: string, check: () => Promise<boolean>) => eventually(LIMIT, () => within(LIMIT, check(), what), what);
const ask = <T>(what: string, question: Promise<T>): Promise<T> => within(LIMIT, question, what);

const TERMINAL_PANE = '#outputs .pane[data-kind="terminal"]';

/** The lines xterm shows in the newest terminal pane, as drawn in the page. */
function screen(): Promise<string[]> {
	return ask(
		'read the screen',
		page
			.locator(`${TERMINAL_PANE} .xterm-rows`)
			.first()
			.evaluate((rows) => Array.from(rows.children, (row) => (row.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd())),
	);
}

/** Waits until the screen shows a line that `match` accepts; fails with what it showed. */
async function untilLine(what: string, match: (line: string) => boolean): Promise<void> {
	let last: string[] = [];
	try {
		await until(what, async () => (last = await screen()).some(match));
	} catch (error) {
		throw new Error(`${(error as Error).message}; the screen showed:\n${last.join('\n')}`);
	}
}

/** The size the program sees: the pane records each size the host has applied. */
async function appliedSize(): Promise<{ cols: number; rows: number }> {
	const pane = page.locator(TERMINAL_PANE).first();
	const [cols, rows] = await Promise.all([ask('cols', pane.getAttribute('data-cols')), ask('rows', pane.getAttribute('data-rows'))]);
	return { cols: Number(cols), rows: Number(rows) };
}

/** Types a line into the terminal through the page's keyboard, as a person would. */
async function typeLine(line: string): Promise<void> {
	await ask('focus the terminal', page.locator(`${TERMINAL_PANE} .terminal-screen`).first().click());
	await ask(`type ${line}`, page.keyboard.type(line));
	await ask('press Enter', page.keyboard.press('Enter'));
}

browserTest('the terminal option is offered when the server allows terminals', async () => {
	await within(LIMIT, page.goto(`${served.page}#token=${served.token}`), 'goto');
	await until('connected', async () => (await page.locator('#status').getAttribute('data-state')) === 'connected');
	assert.ok(await ask('isVisible', page.locator('#terminal-option').isVisible()));
	// A server without --allow-terminal: the page does not offer it.
	const plain = await within(LIMIT, startServer(['--ui', '--listen', '127.0.0.1:0', '--allow', bin.echo], quiet), 'serve --ui');
	const other = await within(LIMIT, context.newPage(), 'new page');
	try {
		await within(LIMIT, other.goto(`${plain.page}#token=${plain.token}`), 'goto');
		await until('connected', async () => (await other.locator('#status').getAttribute('data-state')) === 'connected');
		assert.ok(await ask('isHidden', other.locator('#terminal-option').isHidden()));
		assert.ok(await ask('isHidden', other.locator('#terminal-hint').isHidden()));
	} finally {
		await within(LIMIT, other.close(), 'close page');
		await within(LIMIT, plain.close(), 'close server');
	}
});

browserTest('bash in a terminal pane: echo $((6*7)) typed on the page shows 42', async () => {
	await ask('select bash', page.selectOption('#program', bin.bash!));
	await ask('fill args', page.fill('#args', '--norc --noprofile -i'));
	await ask('check terminal', page.check('#terminal'));
	await ask('click Start', page.click('#start'));
	await until('a terminal pane with a pid', async () => (await page.locator(`${TERMINAL_PANE}[data-pid]`).count()) === 1);
	assert.ok(await ask('isHidden', page.locator('#spawn-error').isHidden()));
	const pid = Number(await ask('pid', page.locator(TERMINAL_PANE).first().getAttribute('data-pid')));
	assert.ok(isAlive(pid), `pid ${pid} runs on the host`);
	await untilLine('the first prompt', (line) => line === '$');
	await typeLine('echo $((6*7))');
	await untilLine('42', (line) => line === '42');
	assert.ok((await screen()).includes('$ echo $((6*7))'), 'the typed line is echoed');
	// xterm's styles apply under the page's CSP (they go in adopted sheets): the theme's colour.
	const color = await ask(
		'computed colour',
		page
			.locator(`${TERMINAL_PANE} .xterm-rows`)
			.first()
			.evaluate((rows) => getComputedStyle(rows).color),
	);
	assert.is(color, 'rgb(227, 232, 238)');
});

browserTest('the pane follows the window: stty size reports the fitted size before and after', async () => {
	const before = await appliedSize();
	assert.is((await screen()).length, before.rows, 'xterm shows as many rows as the program was told');
	await typeLine('stty size');
	await untilLine(`stty size ${before.rows} ${before.cols}`, (line) => line === `${before.rows} ${before.cols}`);
	await ask('shrink the window', page.setViewportSize({ width: 800, height: 600 }));
	await until('a smaller size applied', async () => {
		const now = await appliedSize();
		return now.cols < before.cols && now.rows < before.rows;
	});
	const smaller = await appliedSize();
	assert.is((await screen()).length, smaller.rows);
	await typeLine('stty size');
	await untilLine(`stty size ${smaller.rows} ${smaller.cols}`, (line) => line === `${smaller.rows} ${smaller.cols}`);
	// A line as long as the program thinks the terminal is wide fills exactly one row of xterm.
	await typeLine(`head -c "$(stty size | cut -d' ' -f2)" /dev/zero | tr '\\0' x; echo`);
	await untilLine(`a full row of ${smaller.cols} x`, (line) => line === 'x'.repeat(smaller.cols));
	await ask('grow the window', page.setViewportSize({ width: 1100, height: 820 }));
	await until('the first size again', async () => {
		const now = await appliedSize();
		return now.cols === before.cols && now.rows === before.rows;
	});
	await typeLine('clear; stty size');
	await untilLine(`stty size ${before.rows} ${before.cols}`, (line) => line === `${before.rows} ${before.cols}`);
});

testIf(
	browser,
	canRun && HAVE_VIM,
	canRun ? 'needs vim' : why,
	'a full-screen program: vim draws on the alternate screen, :q gives the shell back',
	async () => {
		const command = `vim -u NONE -i NONE -N -c 'syntax on' -c 'set number' scripts/build-ui.mjs`;
		await typeLine(command);
		await untilLine('vim shows the file, numbered', (line) => /^ +1 \/\/ Builds the `pidfd serve --ui` page/.test(line));
		await untilLine('vim status line', (line) => line.includes('"scripts/build-ui.mjs"'));
		const { rows, cols } = await appliedSize();
		const shown = await screen();
		assert.is(shown.length, rows);
		assert.not.ok(shown.includes(`$ ${command}`), 'vim has the whole screen');
		mkdirSync(ARTIFACTS, { recursive: true });
		await ask('screenshot', page.screenshot({ path: join(ARTIFACTS, 'ui-terminal.png'), fullPage: true }));
		assert.ok(existsSync(join(ARTIFACTS, 'ui-terminal.png')));
		await ask('focus the terminal', page.locator(`${TERMINAL_PANE} .terminal-screen`).first().click());
		await ask('Escape', page.keyboard.press('Escape'));
		await typeLine(':q');
		// The shell's screen comes back as it was before vim, with a prompt under it.
		await untilLine('the shell screen again', (line) => line === `$ ${command}`);
		const back = await screen();
		assert.is(back[0], `${rows} ${cols}`, 'the stty size printed before vim');
		assert.is(back[2], '$');
	},
);

browserTest('exit 3 in the shell: the pane says so; typing after the end is no error', async () => {
	const pid = await ask('pid', page.locator(TERMINAL_PANE).first().getAttribute('data-pid'));
	await typeLine('exit 3');
	await until('exited 3', async () => (await ask('meta', page.locator(`${TERMINAL_PANE} .meta`).first().textContent())) === `pid ${pid} · exited 3`);
	assert.is(await ask('state', page.locator(TERMINAL_PANE).first().getAttribute('data-state')), 'failed');
	await eventually(LIMIT, () => !isAlive(Number(pid)), `pid ${pid} gone`);
	await typeLine('echo never');
	await ask('resize after the end', page.setViewportSize({ width: 1000, height: 700 }));
	await ask('the page still answers', page.locator('#status').textContent());
	assert.equal(pageErrors(), []);
});

browserTest('a short program in a terminal: all it printed, then how it ended', async () => {
	await ask('select echo', page.selectOption('#program', bin.echo));
	await ask('fill args', page.fill('#args', 'hello from a terminal'));
	await ask('check terminal', page.check('#terminal'));
	await ask('click Start', page.click('#start'));
	await until('exited 0', async () => (await ask('state', page.locator(TERMINAL_PANE).first().getAttribute('data-state'))) === 'ok');
	await untilLine('its output', (line) => line === 'hello from a terminal');
	assert.equal(pageErrors(), []);
});

browserTest('Kill on a terminal shell hangs it up (SIGHUP: an interactive shell ignores SIGTERM)', async () => {
	await ask('select bash', page.selectOption('#program', bin.bash!));
	await ask('fill args', page.fill('#args', '--norc --noprofile -i'));
	await ask('check terminal', page.check('#terminal'));
	await ask('click Start', page.click('#start'));
	await until('a new shell', async () => (await ask('state', page.locator(TERMINAL_PANE).first().getAttribute('data-state'))) === 'running');
	await until('its pid', async () => (await ask('pid', page.locator(TERMINAL_PANE).first().getAttribute('data-pid'))) !== null);
	const pid = (await ask('pid', page.locator(TERMINAL_PANE).first().getAttribute('data-pid')))!;
	await untilLine('its prompt', (line) => line === '$');
	const row = `#processes tbody tr:has(td.pid:text-is("${pid}"))`;
	await until('its Kill button', async () => await page.locator(`${row} button.kill`).isEnabled());
	await ask('click Kill', page.click(`${row} button.kill`));
	await until('killed', async () => (await ask('meta', page.locator(`${TERMINAL_PANE} .meta`).first().textContent())) === `pid ${pid} · killed (SIGHUP)`);
	await eventually(LIMIT, () => !isAlive(Number(pid)), `pid ${pid} gone`);
});

browserTest('a terminal the server refuses leaves no pane, and the form says why', async () => {
	const limited = await within(
		LIMIT,
		startServer(['--ui', '--listen', '127.0.0.1:0', '--allow-terminal', '--max-procs-per-connection', '1', '--allow', bin.bash!], quiet),
		'serve --ui',
	);
	const other = await within(LIMIT, context.newPage(), 'new page');
	try {
		await within(LIMIT, other.goto(`${limited.page}#token=${limited.token}`), 'goto');
		await until('connected', async () => (await other.locator('#status').getAttribute('data-state')) === 'connected');
		await ask('check terminal', other.check('#terminal'));
		await ask('click Start', other.click('#start'));
		await until('the first one runs', async () => (await other.locator(`${TERMINAL_PANE}[data-pid]`).count()) === 1);
		await ask('click Start', other.click('#start'));
		await until('the refusal', async () => await other.locator('#spawn-error').isVisible());
		assert.match((await ask('error', other.locator('#spawn-error').textContent())) ?? '', /^EPERM: /);
		assert.is(await ask('count', other.locator('#outputs .pane').count()), 1, 'the refused one left a pane');
	} finally {
		await within(LIMIT, other.close(), 'close page');
		await within(LIMIT, limited.close(), 'close server');
	}
});

browser.run();
