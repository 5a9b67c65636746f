/**
 * Who is benchmarked and how each one is started: the raw C floor, the JS peers in their own
 * runtimes, and pidfd on Node, Bun and Deno. Finding the runtimes and compiling the floor
 * happen here, so bench/run.ts only schedules.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(ROOT, 'package.json'));

export type Workload = 'seq' | 'flight' | 'kill' | 'capture' | 'many' | 'fanout';
export type Params = Record<string, number>;

export interface Peer {
	/** Short id used in results and on the command line (`--only`). */
	id: string;
	/** What the tables show. */
	label: string;
	/** Argument vector for one task, or a reason this peer cannot run here. */
	command: ((workload: Workload, params: Params) => string[]) | { unavailable: string };
	/** pidfd itself rather than a peer it is compared with. */
	subject?: boolean;
}

// --expose-gc: the RSS readings of the `many` workload are taken after a full GC.
const NODE = [process.execPath, '--expose-gc', '--import', 'tsx'];
const driver = (name: string) => join(ROOT, 'bench', 'drivers', `${name}.ts`);
const task = (w: Workload, p: Params) => [w, JSON.stringify(p)];

/** Every peer, in the order tables list them. */
export function peers(): Peer[] {
	const bun = bunBinary();
	const deno = denoBinary();
	const floor = buildFloor();
	const bundle = join(ROOT, 'dist', 'pidfd.mjs');
	const haveBundle = existsSync(bundle) ? undefined : { unavailable: 'dist/pidfd.mjs missing: run `npm run build`' };
	// Deno: `--sloppy-imports` lets the drivers import './harness.js' as Node and tsc want;
	// no config or lockfile: the drivers use nothing but node: built-ins.
	const denoRun = deno.path ? [deno.path, 'run', '-A', '--sloppy-imports', '--no-config', '--no-lock', '--quiet', '--v8-flags=--expose-gc'] : [];
	const via = (runtime: { path?: string; unavailable?: string }, argv: (w: Workload, p: Params) => string[]) =>
		runtime.path ? argv : { unavailable: runtime.unavailable ?? 'not found' };
	return [
		{ id: 'floor', label: 'raw C floor', command: floor.path ? (w, p) => [floor.path!, ...floorArgs(w, p)] : { unavailable: floor.unavailable! } },
		{ id: 'pidfd-node', label: 'pidfd (Node)', subject: true, command: (w, p) => [...NODE, driver('pidfd'), ...task(w, p), join(ROOT, 'host', 'index.ts')] },
		{ id: 'pidfd-bun', label: 'pidfd (Bun)', subject: true, command: haveBundle ?? via(bun, (w, p) => [bun.path!, driver('pidfd'), ...task(w, p), bundle]) },
		{
			id: 'pidfd-node-relay',
			label: 'pidfd (Node, relay)',
			subject: true,
			command: (w, p) => [...NODE, driver('pidfd'), ...task(w, p), join(ROOT, 'host', 'index.ts'), 'relay'],
		},
		{
			id: 'pidfd-bun-relay',
			label: 'pidfd (Bun, relay)',
			subject: true,
			command: haveBundle ?? via(bun, (w, p) => [bun.path!, driver('pidfd'), ...task(w, p), bundle, 'relay']),
		},
		{
			id: 'pidfd-deno',
			label: 'pidfd (Deno, relay)',
			subject: true,
			command: haveBundle ?? via(deno, (w, p) => [...denoRun, driver('pidfd'), ...task(w, p), bundle]),
		},
		{ id: 'child_process', label: 'Node child_process', command: (w, p) => [...NODE, driver('child-process'), ...task(w, p)] },
		{ id: 'execa', label: 'execa (Node)', command: (w, p) => [...NODE, driver('execa'), ...task(w, p)] },
		{ id: 'bun', label: 'Bun.spawn', command: via(bun, (w, p) => [bun.path!, driver('bun'), ...task(w, p)]) },
		{ id: 'deno', label: 'Deno.Command', command: via(deno, (w, p) => [...denoRun, driver('deno'), ...task(w, p)]) },
	];
}

/** bench/floor.c takes positional arguments instead of JSON. */
function floorArgs(w: Workload, p: Params): string[] {
	const args: Record<Workload, (number | undefined)[]> = {
		seq: [p.n, p.warmup],
		flight: [p.n, p.inflight],
		kill: [p.n],
		capture: [p.bytes],
		many: [p.n, p.probe],
		fanout: [p.n, p.bytes],
	};
	return [w, ...args[w].map(String)];
}

/** Compiles bench/floor.c into build/ (gitignored) with the system compiler. */
function buildFloor(): { path?: string; unavailable?: string } {
	const out = join(ROOT, 'build', 'bench-floor');
	const src = join(ROOT, 'bench', 'floor.c');
	if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return { path: out };
	mkdirSync(dirname(out), { recursive: true });
	try {
		execFileSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-Wextra', '-o', out, src], { stdio: 'inherit' });
		return { path: out };
	} catch (error) {
		return { unavailable: `cannot compile bench/floor.c: ${(error as Error).message.split('\n')[0]}` };
	}
}

/**
 * The npm package `bun` puts the real binary in place with a postinstall script; when
 * install scripts were skipped, bin/bun.exe is a small placeholder that only prints an
 * error, but the platform package (@oven/bun-linux-x64...) still holds the binary.
 */
function bunBinary(): { path?: string; unavailable?: string } {
	return firstBinary('bun', [
		['bun', 'bin/bun.exe'],
		...['x64', 'x64-baseline', 'x64-musl', 'x64-musl-baseline', 'aarch64', 'aarch64-musl'].map((arch): [string, string] => [
			`@oven/bun-linux-${arch}`,
			'bin/bun',
		]),
	]);
}

/** Same for `deno`: without its postinstall, `.bin/deno` is a Node wrapper script (slow to start). */
function denoBinary(): { path?: string; unavailable?: string } {
	return firstBinary('deno', [['deno', 'deno'], ...['x64-glibc', 'arm64-glibc'].map((arch): [string, string] => [`@deno/linux-${arch}`, 'deno'])]);
}

function firstBinary(name: string, candidates: [pkg: string, file: string][]): { path?: string; unavailable?: string } {
	for (const [pkg, file] of candidates) {
		let path: string;
		try {
			path = join(dirname(require.resolve(`${pkg}/package.json`)), file);
		} catch {
			continue;
		}
		// A real runtime is tens of MB; the placeholders are a few hundred bytes.
		if (existsSync(path) && statSync(path).size > 1_000_000) return { path };
	}
	return { unavailable: `${name} not installed (npm install -D ${name})` };
}

/** Versions of the runtimes that ran, for the results' header. */
export function versions(): Record<string, string> {
	const out: Record<string, string> = { node: process.version };
	for (const [name, find] of [
		['bun', bunBinary],
		['deno', denoBinary],
	] as const) {
		const { path } = find();
		if (!path) continue;
		try {
			out[name] = execFileSync(path, ['--version'], { encoding: 'utf8' })
				.replace(/^deno /, '')
				.split(' ')[0]!
				.trim();
		} catch {
			// left out: the peer will report itself unavailable
		}
	}
	try {
		out.execa = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'execa', 'package.json'), 'utf8')) as { version: string }).version;
	} catch {
		// execa not installed
	}
	return out;
}
