// The package as users get it: npm pack, install the tarball into an empty folder, use it.
// Installing never compiles (prepare does not run for a tarball): the prebuilt sidecar ships.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = resolve('.');
const LIMIT = 120_000;

function exec(file: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
	return new Promise((done) => {
		execFile(file, args, { cwd, timeout: LIMIT, maxBuffer: 16 << 20, env: { ...process.env, npm_config_yes: 'true' } }, (error, stdout, stderr) => {
			done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
		});
	});
}

function ok(r: { code: number; stdout: string; stderr: string }, what: string): string {
	assert.is(r.code, 0, `${what} failed:\n${r.stdout}\n${r.stderr}`);
	return r.stdout;
}

const pack = suite('npm pack → npm install ./pidfd-x.y.z.tgz → use it');
let dir = '';
let app = '';
let tarball = '';

pack.before(async () => {
	dir = mkdtempSync(join(tmpdir(), 'pidfd-pack-'));
	// --ignore-scripts: pack what is built (CI builds first), don't rebuild through prepare.
	const out = ok(await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT), 'npm pack');
	const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
	tarball = join(dir, info!.filename);
	app = join(dir, 'app');
	ok(await exec('mkdir', ['-p', app], dir), 'mkdir');
	writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
});

pack.after(() => {
	if (dir) rmSync(dir, { recursive: true, force: true });
});

pack('the tarball holds the bundles, types, sidecar and its sources, and nothing else', async () => {
	const out = ok(await exec('tar', ['-tzf', tarball], dir), 'tar');
	const files = out
		.trim()
		.split('\n')
		.map((f) => f.replace(/^package\//, ''));
	for (const f of [
		'dist/pidfd.mjs',
		'dist/client.mjs',
		'dist/cli.mjs',
		'dist/pidfd-sidecar',
		'dist/types/host/index.d.ts',
		'dist/types/client/index.d.ts',
		'sidecar/sidecar.c',
		'sidecar/Makefile',
		'README.md',
		'package.json',
	]) {
		assert.ok(files.includes(f), `${f} missing from the tarball`);
	}
	for (const f of files) assert.not.match(f, /asan|fuzz|^test\/|^host\/|^bench\//, `${f} should not ship`);
});

pack('npm install of the tarball: no compiler runs, the prebuilt sidecar is used', async () => {
	const r = ok(await exec('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball], app), 'npm install');
	assert.not.match(r, /build:sidecar|musl-gcc|esbuild/, 'install ran the build');
	const installed = readFileSync(join(app, 'node_modules/pidfd/dist/pidfd-sidecar'));
	assert.ok(installed.equals(readFileSync(join(ROOT, 'dist/pidfd-sidecar'))), 'the sidecar was rebuilt');
});

pack('npx pidfd run -- true', async () => {
	const r = await exec('npx', ['--no-install', 'pidfd', 'run', '--json', '--', 'true'], app);
	ok(r, 'npx pidfd run');
	const report = JSON.parse(r.stderr.trim().split('\n').pop()!);
	assert.is(report.code, 0);
	assert.is(report.status, 'exited');
});

pack("import 'pidfd', 'pidfd/client' and 'pidfd/bridge' from the installed package", async () => {
	const script = `
		import { run, PidfdError } from 'pidfd';
		import { connect } from 'pidfd/client';
		import { createBridge } from 'pidfd/bridge';
		const { stdout, exit } = await run('echo', ['from the package'], { encoding: 'utf8' });
		const bridge = createBridge({ token: 'a-token-of-16-chars-or-more' });
		await bridge.close();
		console.log(JSON.stringify({ stdout, code: exit.code, connect: typeof connect, PidfdError: typeof PidfdError, bridge: typeof bridge.attach }));
	`;
	const out = ok(await exec(process.execPath, ['--input-type=module', '-e', script], app), 'import');
	assert.equal(JSON.parse(out), { stdout: 'from the package\n', code: 0, connect: 'function', PidfdError: 'function', bridge: 'function' });
});

pack('the types resolve for a TypeScript user (exports map, types conditions)', async () => {
	writeFileSync(
		join(app, 'use.ts'),
		`import { spawn, type ExitInfo } from 'pidfd';
import { connect, type RemoteHost } from 'pidfd/client';
import { createBridge, type BridgeOptions } from 'pidfd/bridge';
const options: BridgeOptions = { token: 'a-token-of-16-chars-or-more' };
const bridge = createBridge(options);
const exit: ExitInfo = await (await spawn('true')).wait();
const code: number | null = exit.code;
// @ts-expect-error: a real type, not any
const wrong: string = exit.code;
const host: Promise<RemoteHost> = connect('ws://127.0.0.1:1/', { token: 't' });
export { code, wrong, host, bridge };
`,
	);
	const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
	const args = ['--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext'];
	args.push('--typeRoots', join(ROOT, 'node_modules/@types'), '--types', 'node', 'use.ts');
	ok(await exec(process.execPath, [tsc, ...args], app), 'tsc');
});

pack.run();
