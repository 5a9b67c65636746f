// Builds the `pidfd serve --ui` page into dist/ui/ (or the directory given): index.html as it
// is, app.js and style.css bundled and minified for browsers. serve reads them from beside
// its bundle (dist/cli.mjs) or, run from source, from dist/ui/ of the checkout.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

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
		logLevel: 'warning',
	});
	copyFileSync('ui/index.html', join(outdir, 'index.html'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await buildUi(process.argv[2]);
