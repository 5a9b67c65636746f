// `pidfd serve --ui` in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core): the page starts commands, streams their output, lists them and kills one.
// The screenshot is kept as test/artifacts/ui.png. Without /usr/bin/chromium the browser tests
// are skipped, with the reason printed.
import { existsSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { type RunningServer, startServer } from '../host/bridge/index.js';
import { type Browser, buildUi, CHROMIUM, HAVE_CHROMIUM, openBrowser } from './helpers/chromium.js';
import { eventually, within } from './helpers/deadline.js';
import { isAlive } from './helpers/proc.js';
import { testIf } from './helpers/skip.js';

const LIMIT = 20_000;
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const which = (name: string) => ['/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => existsSync(p))!;
const bin = { echo: which('echo'), sleep: which('sleep'), sh: which('sh') };

async function serveUi(args: string[] = []): Promise<{ running: RunningServer; stdout: string; stderr: string }> {
	const out = { stdout: '', stderr: '' };
	const io = { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } };
	const running = await within(LIMIT, startServer(['--ui', '--allow', bin.echo, '--allow', bin.sleep, '--allow', bin.sh, ...args], io), 'serve --ui');
	return { running, ...out };
}

function get(url: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
	return within(
		LIMIT,
		new Promise((resolve, reject) => {
			const req = request(url, { method }, (res) => {
				let body = '';
				res.setEncoding('utf8');
				res.on('data', (chunk: string) => (body += chunk));
				res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
			});
			req.on('error', reject);
			req.end();
		}),
		`${method} ${url}`,
	);
}

/** A WebSocket upgrade from a given Origin, with the right token: 'open' or the refusal's status. */
function openFrom(url: string, token: string, origin: string): Promise<string> {
	return within(
		LIMIT,
		new Promise((resolve) => {
			const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}`, Origin: origin } });
			ws.on('open', () => {
				ws.close();
				resolve('open');
			});
			ws.on('unexpected-response', (_req, res) => {
				resolve(String(res.statusCode));
				ws.terminate();
			});
			ws.on('error', (error) => resolve(error.message));
		}),
		'upgrade',
	);
}

// --- HTTP side, no browser needed

const http = suite('serve --ui: the page over HTTP');
let plain: Awaited<ReturnType<typeof serveUi>>;

http.before(async () => {
	await buildUi(LIMIT);
	plain = await serveUi();
});
http.after(async () => {
	await within(LIMIT, plain.running.close(), 'close');
});

http('prints the page address (with the token only when it generated one) and allows its origin', async () => {
	const { running, stdout, stderr } = plain;
	assert.match(stdout, /^listening ws:\/\/127\.0\.0\.1:\d+\/\n$/);
	assert.is(running.page, running.url.replace('ws:', 'http:'));
	const line = stderr.split('\n').find((l) => l.startsWith('page: '));
	assert.ok(line, stderr);
	if (stderr.includes(`token: ${running.token}`)) assert.is(line, `page: ${running.page}#token=${running.token}`);
	else assert.not.match(line, running.token);
	assert.not.match(stdout, running.token);
	assert.is(await openFrom(running.url, running.token, running.page!.slice(0, -1)), 'open');
	assert.is(await openFrom(running.url, running.token, 'http://evil.example'), '403');
	assert.is(await openFrom(running.url, running.token, running.page!.replace('127.0.0.1', 'localhost').slice(0, -1)), '403');
});

http('GET / and its assets, with a strict CSP; other paths 404, other methods 405', async () => {
	const page = plain.running.page!;
	const index = await get(page);
	assert.is(index.status, 200);
	assert.match(String(index.headers['content-type']), /^text\/html/);
	assert.match(String(index.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
	assert.is(index.headers['referrer-policy'], 'no-referrer');
	assert.match(index.body, /<script type="module" src="\/app.js">/);
	const app = await get(`${page}app.js`);
	assert.is(app.status, 200);
	assert.match(String(app.headers['content-type']), /^text\/javascript/);
	assert.not.match(app.body, /from\s*["']node:/);
	assert.is((await get(`${page}style.css`)).status, 200);
	assert.is((await get(`${page}nope`)).status, 404);
	assert.is((await get(page, 'POST')).status, 405);
});

http('without --ui, plain HTTP still gets 426; --ui with --socket is refused', async () => {
	const running = await within(LIMIT, startServer(['--allow', bin.echo], { stdout: { write: () => true }, stderr: { write: () => true } }), 'serve');
	try {
		assert.is(running.page, null);
		assert.is((await get(running.url.replace('ws:', 'http:'))).status, 426);
	} finally {
		await within(LIMIT, running.close(), 'close');
	}
	try {
		await within(
			LIMIT,
			startServer(['--ui', '--socket', join(tmpdir(), 'pidfd-ui-never.sock')], { stdout: { write: () => true }, stderr: { write: () => true } }),
			'serve',
		);
		assert.unreachable('--ui with --socket started');
	} catch (error) {
		assert.match(String(error), /--ui needs --listen/);
	}
});

http.run();

// --- the page in Chromium

const browser = suite('serve --ui in headless Chromium');
const browserTest = (name: string, fn: () => Promise<void>) => testIf(browser, HAVE_CHROMIUM, `needs ${CHROMIUM} (Debian: apt-get install chromium)`, name, fn);

let served: Awaited<ReturnType<typeof serveUi>>;
let context: BrowserContext;
let page: Page;
let browserOpen: Browser | undefined;
const pageErrors = (): string[] => browserOpen?.errors ?? [];

browser.before(async () => {
	if (!HAVE_CHROMIUM) return;
	served = await serveUi();
	browserOpen = await openBrowser(LIMIT);
	({ context, page } = browserOpen);
});

browser.after(async () => {
	if (!HAVE_CHROMIUM) return;
	await browserOpen?.close();
	await within(LIMIT, served?.running.close() ?? Promise.resolve(), 'close server');
});

/** Polls the page until `check` holds; each poll has a deadline too. */
const until = (what: string, check: () => Promise<boolean>) => eventually(LIMIT, () => within(LIMIT, check(), what), what);
/** One question to the browser, with a deadline. */
const ask = <T>(what: string, question: Promise<T>): Promise<T> => within(LIMIT, question, what);
const text = (selector: string) => within(LIMIT, page.locator(selector).first().textContent(), `text of ${selector}`).then((t) => t ?? '');
const count = (selector: string) => within(LIMIT, page.locator(selector).count(), `count ${selector}`);

async function startFromPage(program: string, args: string): Promise<void> {
	await within(LIMIT, page.selectOption('#program', program), 'select program');
	await within(LIMIT, page.fill('#args', args), 'fill args');
	// A new pane is a new newest id: the count alone stays put once ended panes are at their cap.
	const newestId = () => count('#outputs .pane').then((n) => (n ? page.locator('#outputs .pane').first().getAttribute('id') : null));
	const before = await ask('newest pane', newestId());
	await within(LIMIT, page.click('#start'), 'click Start');
	await until(`a pane for ${program} ${args}`, async () => (await newestId()) !== before || !(await page.locator('#spawn-error').isHidden()));
	assert.ok(await ask('isHidden', page.locator('#spawn-error').isHidden()), await text('#spawn-error'));
}

/** The table row of the process whose pane is newest. */
async function newestRow(): Promise<{ pid: string; row: string }> {
	const pid = (await within(LIMIT, page.locator('#outputs .pane').first().getAttribute('data-pid'), 'pane pid'))!;
	await until(`a table row for pid ${pid}`, async () => (await count(`#processes tbody tr:has(td.pid:text-is("${pid}"))`)) === 1);
	return { pid, row: `#processes tbody tr:has(td.pid:text-is("${pid}"))` };
}

browserTest('opens with the token from the fragment, drops it from the address, offers the allowed programs', async () => {
	await within(LIMIT, page.goto(`${served.running.page}#token=${served.running.token}`), 'goto');
	await until('connected', async () => (await page.locator('#status').getAttribute('data-state')) === 'connected');
	assert.is(new URL(page.url()).hash, '', 'the token stays in the address bar');
	const options = await within(
		LIMIT,
		page.locator('#program option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)),
		'options',
	);
	assert.equal(options, [bin.echo, bin.sleep, bin.sh]);
	assert.ok(await ask('isVisible', page.locator('#empty').isVisible()));
});

browserTest('echo from the page: its pid and state in the table, its output in its pane', async () => {
	await startFromPage(bin.echo, 'hello from the page');
	const { pid, row } = await newestRow();
	await until('the output', async () => (await text('#outputs .pane pre')) === 'hello from the page\n');
	await until('exited 0', async () => (await text(`${row} td.state`)) === 'exited 0');
	assert.is(await text(`${row} td.command`), `${bin.echo} hello from the page`);
	assert.match(await text(`${row} td.cpu`), /^\d+(\.\d+)? (ms|s)$|^—$/);
	assert.match(await text(`${row} td.rss`), /^[\d,]+ KiB$|^[\d.]+ MiB$/);
	assert.ok(await ask('isHidden', page.locator(`${row} button.kill`).isHidden()), 'Kill is offered for an ended process');
	assert.is(await text('#outputs .pane .meta'), `pid ${pid} · exited 0`);
	assert.is(
		await within(LIMIT, page.locator(`${row} td.command a`).getAttribute('href'), 'link'),
		`#${await within(LIMIT, page.locator('#outputs .pane').first().getAttribute('id'), 'pane id')}`,
	);
});

browserTest('one stream alone is bounded too: 640 KiB of `yes` keeps the pane at 256 KiB of text', async () => {
	await startFromPage(bin.sh, `-c 'yes | head -c 655360'`);
	const { row } = await newestRow();
	await until('exited 0', async () => (await text(`${row} td.state`)) === 'exited 0');
	const shown = await ask(
		'pane text',
		page
			.locator('#outputs .pane pre')
			.first()
			.evaluate((pre) => pre.textContent?.length ?? 0),
	);
	console.log(`    640 KiB of one stream: ${shown} characters kept in the pane`);
	assert.ok(shown > 0 && shown <= 256 * 1024, `${shown} characters`);
});

browserTest('ended panes are bounded: past 16 the oldest leave the page, the newest stay', async () => {
	for (let i = 0; i < 20; i++) {
		await within(LIMIT, page.selectOption('#program', bin.echo), 'select program');
		await within(LIMIT, page.fill('#args', `pane ${i}`), 'fill args');
		await within(LIMIT, page.click('#start'), 'click Start');
		await until(`pane ${i} exited`, async () => {
			const newest = page.locator('#outputs .pane').first();
			return (
				(await ask('text', newest.locator('pre').textContent())) === `pane ${i}\n` &&
				(await ask('meta', newest.locator('.meta').textContent()))!.endsWith('exited 0')
			);
		});
	}
	assert.is(await count('#outputs .pane'), 16);
	const texts = await ask('pane texts', page.locator('#outputs .pane pre').allTextContents());
	assert.equal(
		texts,
		Array.from({ length: 16 }, (_, k) => `pane ${19 - k}\n`),
	);
});

browserTest('stdout and stderr both stream into the pane, told apart', async () => {
	await startFromPage(bin.sh, `-c 'echo to stdout; echo to stderr >&2; exit 3'`);
	const { row } = await newestRow();
	await until('both streams', async () => (await text('#outputs .pane pre')).includes('to stdout') && (await text('#outputs .pane pre')).includes('to stderr'));
	assert.is(await text('#outputs .pane pre .stderr'), 'to stderr\n');
	await until('exited 3', async () => (await text(`${row} td.state`)) === 'exited 3');
});

browserTest('a bad argument line is refused on the page, with a message', async () => {
	await ask('select', page.selectOption('#program', bin.echo));
	await ask('fill', page.fill('#args', `'not closed`));
	await ask('click Start', page.click('#start'));
	await until('the error', async () => await page.locator('#spawn-error').isVisible());
	assert.match(await text('#spawn-error'), /quote is not closed/);
});

browserTest('a sleep runs until the Kill button: the state changes and the process is gone', async () => {
	await startFromPage(bin.sleep, '30');
	const { pid, row } = await newestRow();
	await until('running', async () => (await text(`${row} td.state`)) === 'running');
	assert.ok(isAlive(Number(pid)), `pid ${pid} runs on the host`);
	assert.ok(await ask('isEnabled', page.locator(`${row} button.kill`).isEnabled()));
	// A second one, left running, so the screenshot shows both kinds of row.
	await startFromPage(bin.sleep, '25');
	const other = await newestRow();
	await until('the second running', async () => (await text(`${other.row} td.state`)) === 'running');
	await within(LIMIT, page.click(`${row} button.kill`), 'click Kill');
	await until('killed', async () => (await text(`${row} td.state`)) === 'killed (SIGTERM)');
	await eventually(LIMIT, () => !isAlive(Number(pid)), `pid ${pid} gone`);
	assert.ok(await ask('isHidden', page.locator(`${row} button.kill`).isHidden()));
	assert.is(await text(`#outputs .pane[data-pid="${pid}"] .meta`), `pid ${pid} · killed (SIGTERM)`);
	assert.is(await text(`${other.row} td.state`), 'running');
	// Give the live CPU/RSS columns of the running one a refresh before the picture.
	await until('live usage shown', async () => (await text(`${other.row} td.rss`)) !== '—');
	mkdirSync(ARTIFACTS, { recursive: true });
	await within(LIMIT, page.screenshot({ path: join(ARTIFACTS, 'ui.png'), fullPage: true }), 'screenshot');
	assert.ok(existsSync(join(ARTIFACTS, 'ui.png')));
});

browserTest('without a token it asks for one; a wrong one is refused, the right one connects', async () => {
	const other = await within(LIMIT, context.newPage(), 'new page');
	try {
		await within(LIMIT, other.goto(served.running.page!), 'goto');
		await within(LIMIT, other.locator('#token').waitFor({ state: 'visible' }), 'token form');
		await within(LIMIT, other.fill('#token', 'not-the-token-at-all'), 'fill');
		await within(LIMIT, other.click('#token-form button'), 'submit');
		await until('refused', async () => (await other.locator('#status').getAttribute('data-state')) === 'error');
		assert.match((await ask('status', other.locator('#status').textContent())) ?? '', /Could not connect/);
		await within(LIMIT, other.fill('#token', served.running.token), 'fill');
		await within(LIMIT, other.click('#token-form button'), 'submit');
		await until('connected', async () => (await other.locator('#status').getAttribute('data-state')) === 'connected');
		// Another connection: it sees none of the first page's processes.
		await until('empty list', async () => await other.locator('#empty').isVisible());
	} finally {
		await within(LIMIT, other.close(), 'close page');
	}
});

browserTest('the server stops: the page says so and its processes are gone', async () => {
	const { pid } = await newestRow();
	assert.ok(isAlive(Number(pid)));
	await within(LIMIT, served.running.close(), 'close server');
	await until('disconnected', async () => (await page.locator('#status').getAttribute('data-state')) === 'closed');
	assert.ok(await ask('isDisabled', page.locator('#start').isDisabled()));
	await eventually(LIMIT, () => !isAlive(Number(pid)), `pid ${pid} killed with its connection`);
	assert.equal(pageErrors(), []);
});

browser.run();
