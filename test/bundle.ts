// What the dist/ bundles import: the browser client nothing from Node, the library only
// node: built-ins that Node, Bun and Deno all implement, the CLI the library as ./pidfd.mjs.
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

/** Every module specifier a bundle loads: static and dynamic imports, re-exports, requires. */
function specifiers(file: string): string[] {
	if (!existsSync(file)) assert.unreachable(`${file} is not built: run \`npm run build\` first`);
	const code = readFileSync(file, 'utf8');
	const found = new Set<string>();
	const patterns = [
		/^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gm,
		/^\s*import\s*["']([^"']+)["']/gm,
		/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
		/\b(?:require|__require)\s*\(\s*["']([^"']+)["']\s*\)/g,
	];
	for (const pattern of patterns) for (const match of code.matchAll(pattern)) found.add(match[1]!);
	return [...found].sort();
}

const nodeBuiltins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const bundles = suite('dist bundles: what they import');

bundles('client.mjs: no node: import and no require of a Node built-in', () => {
	const code = readFileSync('dist/client.mjs', 'utf8');
	assert.not.match(code, /["']node:/, 'a node: specifier');
	const imported = specifiers('dist/client.mjs');
	assert.equal(
		imported.filter((s) => nodeBuiltins.has(s)),
		[],
		'Node built-ins',
	);
	assert.equal(imported, [], 'the client bundle is self-contained');
	assert.not.match(code, /\b(?:process|Buffer)\./, 'Node globals');
});

bundles('pidfd.mjs: only node: built-ins that Bun and Deno implement; zod and the wasm inside', () => {
	// node:tty: a terminal's master held by the host (Node only; Bun and Deno have the module).
	const allowed = ['node:child_process', 'node:fs', 'node:module', 'node:net', 'node:os', 'node:path', 'node:stream', 'node:tty', 'node:url'];
	for (const s of specifiers('dist/pidfd.mjs')) assert.ok(allowed.includes(s), `pidfd.mjs imports ${s}`);
	const code = readFileSync('dist/pidfd.mjs', 'utf8');
	assert.not.match(code, /fromBase64/, 'Uint8Array.fromBase64 is missing on Node 20: keep target es2022');
});

bundles('cli.mjs: the library as ./pidfd.mjs (one copy, one sidecar), ws for serve', () => {
	const imported = specifiers('dist/cli.mjs');
	assert.ok(imported.includes('./pidfd.mjs'));
	for (const s of imported) assert.ok(s === './pidfd.mjs' || s === 'ws' || s.startsWith('node:'), `cli.mjs imports ${s}`);
	assert.not.match(readFileSync('dist/cli.mjs', 'utf8'), /^\/\/ host\/sidecar\.ts$/m, 'a second copy of the library');
});

bundles('bridge.mjs: the library as ./pidfd.mjs, ws left to the runtime dependency', () => {
	const imported = specifiers('dist/bridge.mjs');
	assert.ok(imported.includes('./pidfd.mjs'));
	for (const s of imported) assert.ok(s === './pidfd.mjs' || s === 'ws' || s.startsWith('node:'), `bridge.mjs imports ${s}`);
	assert.not.match(readFileSync('dist/bridge.mjs', 'utf8'), /^\/\/ host\/sidecar\.ts$/m, 'a second copy of the library');
});

bundles.run();
