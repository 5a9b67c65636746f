// Builds the `pidfd serve --ui` page into dist/ui/ (or the directory given): index.html as it
// is, app.js and style.css bundled and minified for browsers, xterm.js (the terminal panes)
// and its CSS included: the page loads nothing from anywhere else. serve reads them from
// beside its bundle (dist/cli.mjs) or, run from source, from dist/ui/ of the checkout.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** The packages bundled into the page: their MIT licenses ask for the notice in every copy. */
const BUNDLED = ['@xterm/xterm', '@xterm/addon-fit'];

function licenseBanner() {
	const require = createRequire(import.meta.url);
	const notices = BUNDLED.map((name) => {
		const text = readFileSync(join(require.resolve(`${name}/package.json`), '..', 'LICENSE'), 'utf8');
		return `${name}:\n\n${text.trim().replaceAll('*/', '* /')}`;
	});
	return `/*! The pidfd page includes these packages, under their licenses.\n\n${notices.join('\n\n')}\n*/`;
}

export async function buildUi(outdir = 'dist/ui') {
	mkdirSync(outdir, { recursive: true });
	await build({
		entryPoints: { app: 'ui/app.ts', style: 'ui/style.css' },
		outdir,
		bundle: true,
		format: 'esm',
		platform: 'browser',
		target: 'es2022',
		minify: true,
		legalComments: 'none',
		banner: { js: licenseBanner(), css: licenseBanner() },
		logLevel: 'warning',
	});
	copyFileSync('ui/index.html', join(outdir, 'index.html'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await buildUi(process.argv[2]);
