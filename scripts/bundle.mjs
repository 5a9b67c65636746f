// Bundles the host into dist/: the library (pidfd.mjs), the CLI (cli.mjs) and the bridge
// client (client.mjs), ESM with source maps, wasm embedded; then emits .d.ts files with tsc.
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { buildUi } from './build-ui.mjs';

const common = {
	bundle: true,
	format: 'esm',
	platform: 'node',
	// es2022: esbuild 0.28 otherwise emits Uint8Array.fromBase64, which Node 20 lacks.
	target: 'es2022',
	sourcemap: true,
	logLevel: 'warning',
	legalComments: 'none',
};

// The CLI shares the library's module (and so its one sidecar) instead of a second copy:
// every import that lands on host/index.ts, from any folder, becomes ./pidfd.mjs.
const libraryEntry = resolve('host/index.ts');
const libraryAsExternal = {
	name: 'library-as-external',
	setup(b) {
		b.onResolve({ filter: /(^|\/)index\.js$/ }, (args) => {
			const target = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
			return target === libraryEntry ? { path: './pidfd.mjs', external: true } : undefined;
		});
	},
};

await Promise.all([
	build({ ...common, entryPoints: { pidfd: 'host/index.ts' }, outdir: 'dist', outExtension: { '.js': '.mjs' } }),
	build({
		...common,
		entryPoints: { cli: 'host/cli/main.ts' },
		outdir: 'dist',
		outExtension: { '.js': '.mjs' },
		banner: { js: '#!/usr/bin/env node' },
		plugins: [libraryAsExternal],
		// ws is CommonJS that requires Node built-ins at run time, which an ESM bundle cannot
		// do: it stays a runtime dependency, loaded only by `pidfd serve`.
		external: ['ws'],
	}),
	// pidfd/client: web standards only (no node: built-ins), for browsers, workers, Deno, Bun.
	build({ ...common, platform: 'neutral', entryPoints: { client: 'client/index.ts' }, outdir: 'dist', outExtension: { '.js': '.mjs' } }),
	// pidfd/bridge: createBridge() to embed in your own server; shares ./pidfd.mjs like the CLI.
	build({
		...common,
		entryPoints: { bridge: 'host/bridge/index.ts' },
		outdir: 'dist',
		outExtension: { '.js': '.mjs' },
		plugins: [libraryAsExternal],
		external: ['ws'],
	}),
	// pidfd/pty: node-pty's IPty surface; shares ./pidfd.mjs like the CLI.
	build({ ...common, entryPoints: { pty: 'host/pty/index.ts' }, outdir: 'dist', outExtension: { '.js': '.mjs' }, plugins: [libraryAsExternal] }),
	buildUi(), // the `pidfd serve --ui` page, into dist/ui/
]);
chmodSync('dist/cli.mjs', 0o755);
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
