// Headless Chromium for the page's tests (Debian's `chromium`, driven by playwright-core), and
// the page built as the repository builds it. Without /usr/bin/chromium the callers skip.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { within } from './deadline.js';

export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The page as the repository builds it (npm run build does the same, into dist/ui/). */
export function buildUi(limit: number): Promise<void> {
	return within(
		limit,
		new Promise<void>((resolve, reject) =>
			execFile(process.execPath, ['scripts/build-ui.mjs'], { cwd: ROOT }, (error, _stdout, stderr) =>
				error ? reject(new Error(`build-ui: ${stderr || error.message}`)) : resolve(),
			),
		),
		'build the page',
	);
}

export interface Browser {
	context: BrowserContext;
	page: Page;
	/** Uncaught page errors and Content Security Policy reports, in order: a test wants none. */
	errors: string[];
	close(): Promise<void>;
}

/** A fresh profile with no background traffic (the network may be closed), one page open. */
export async function openBrowser(limit: number): Promise<Browser> {
	const profile = mkdtempSync(join(tmpdir(), 'pidfd-ui-chromium-'));
	const context = await within(
		limit,
		chromium.launchPersistentContext(profile, {
			executablePath: CHROMIUM,
			headless: true,
			viewport: { width: 1100, height: 820 },
			args: [
				'--headless',
				'--no-sandbox',
				'--disable-gpu',
				'--disable-quic',
				'--no-first-run',
				'--disable-background-networking',
				'--disable-component-update',
				'--disable-sync',
			],
		}),
		'launch chromium',
	);
	context.setDefaultTimeout(limit);
	const page = context.pages()[0] ?? (await within(limit, context.newPage(), 'new page'));
	const errors: string[] = [];
	page.on('pageerror', (error) => errors.push(error.message));
	page.on('console', (message) => {
		if (/Content Security Policy/i.test(message.text())) errors.push(message.text());
	});
	return {
		context,
		page,
		errors,
		async close() {
			await within(limit, context.close(), 'close chromium');
			rmSync(profile, { recursive: true, force: true });
		},
	};
}
