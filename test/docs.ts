// Every fenced code block of README.md and docs/*.md is run, or at least checked, so that
// no example can rot: scripts run on Node (from the sources) and on Bun and Deno (against
// dist/), shell blocks run with `sh -e`, output blocks are compared, paths in diagrams must
// exist, relative links must lead somewhere. The info-string markers are in CONTRIBUTING.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transform } from 'esbuild';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cgroupDir } from '../host/kernel/cgroup2.js';
import { anchors, arrowComments, type Block, codeBlocks, looselyMatches, normalize, relativeLinks } from './helpers/doc-blocks.js';
import { within } from './helpers/deadline.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const DEADLINE = 30_000;
const SCRIPT = new Set(['js', 'ts', 'mjs', 'javascript', 'typescript']);
const SHELL = new Set(['sh', 'bash', 'shell']);
const BUN = join(ROOT, 'node_modules/.bin/bun');
const DENO = join(ROOT, 'node_modules/.bin/deno');
const TSX = import.meta.resolve('tsx');

const files = [
	'README.md',
	...readdirSync(join(ROOT, 'docs'))
		.filter((f) => f.endsWith('.md'))
		.sort()
		.map((f) => `docs/${f}`),
];
const texts = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));

const work = mkdtempSync(join(tmpdir(), 'pidfd-docs-'));
// A reader's project directory is searchable by others; `pidfd serve` run as root there maps
// its children to nobody, who must enter it (mkdtemp makes 0700).
chmodSync(work, 0o755);
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// --- what this machine offers the blocks that need something

/** Why blocks with `needs=WHAT` cannot run here, or undefined if they can. */
const missing = (() => {
	let cgroup: { dir: string; controllers: string[] } | string;
	try {
		const dir = cgroupDir();
		const probe = join(dir, `pidfd-docs-probe-${process.pid}`);
		mkdirSync(probe);
		rmSync(probe, { recursive: true });
		cgroup = { dir, controllers: readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean) };
	} catch (error) {
		cgroup = `no writable cgroup2 directory here (${(error as Error).message})`;
	}
	return (needs: string): string | undefined => {
		const [what, list = ''] = needs.split(':');
		if (what !== 'cgroup') return `unknown needs=${needs}`;
		if (typeof cgroup === 'string') return cgroup;
		const absent = list.split(',').filter((c) => c && !cgroup.controllers.includes(c));
		return absent.length > 0
			? `the ${absent.join(', ')} controller${absent.length > 1 ? 's are' : ' is'} not available on cgroup2 under ${cgroup.dir}`
			: undefined;
	};
})();

// --- commands the shell blocks name: the CLI from the sources, no installs

const shims = join(work, 'bin');
mkdirSync(shims);
const shim = (name: string, body: string) => {
	writeFileSync(join(shims, name), `#!/bin/sh\n${body}\n`);
	chmodSync(join(shims, name), 0o755);
};
shim('pidfd', `exec '${process.execPath}' --import '${TSX}' '${join(ROOT, 'host/cli/main.ts')}' "$@"`);
shim('npx', `[ "$1" = pidfd ] && { shift; exec pidfd "$@"; }\necho "docs test: npx $1 does not run here" >&2; exit 127`);
shim('npm', `[ "$*" = install ] && exit 0 # the checkout is installed already\necho "docs test: npm $* does not run here" >&2; exit 127`);
const PATH = `${shims}:${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}`;
const ENV = { ...process.env, PATH, NO_COLOR: '1', FORCE_COLOR: '0' };

// --- running things

interface Outcome {
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
	/** For `until=`: the text appeared, and the process was stopped then. */
	stopped?: boolean;
}

/**
 * Runs a command in a process group of its own and kills the group once it has exited (a
 * block's `sleep 10 &` must not outlive it), or at the deadline. With `until`, stops it with
 * SIGTERM once its output shows that text.
 */
function execute(file: string, args: string[], cwd: string, options: { until?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Outcome> {
	return new Promise((done, fail) => {
		const p: ChildProcess = spawn(file, args, { cwd, env: options.env ?? ENV, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		let stopped = false;
		const group = (signal: NodeJS.Signals) => {
			try {
				process.kill(-p.pid!, signal);
			} catch {}
		};
		const check = () => {
			if (options.until !== undefined && !stopped && (stdout + stderr).includes(options.until)) {
				stopped = true;
				group('SIGTERM');
			}
		};
		p.stdout!.on('data', (c: Buffer) => {
			stdout += c;
			check();
		});
		p.stderr!.on('data', (c: Buffer) => {
			stderr += c;
			check();
		});
		const timer = setTimeout(() => group('SIGKILL'), DEADLINE);
		p.on('error', fail);
		p.on('exit', () => group('SIGKILL'));
		p.on('close', (code, signal) => {
			clearTimeout(timer);
			done({ code, signal, stdout, stderr, stopped });
		});
	});
}

/**
 * The blocks start when the first test of this file does, not when uvu imports it: `npm test`
 * imports every test file before it runs any suite, and other suites count the host's fds.
 */
let open: () => void = () => {};
const opened = new Promise<void>((resolve) => {
	open = resolve;
});

/** Small pool: each block is a process of a second or so, and a test should not take a minute. */
const pool = (() => {
	let running = 0;
	const queue: (() => void)[] = [];
	const size = Math.max(2, Math.min(4, availableParallelism()));
	return async <T>(job: () => Promise<T>): Promise<T> => {
		await opened;
		if (running >= size) await new Promise<void>((go) => queue.push(go));
		running++;
		try {
			return await job();
		} finally {
			running--;
			queue.shift()?.();
		}
	};
})();

/** Where `'pidfd'` and friends lead: the sources for Node (through tsx), the bundles for Bun and Deno. */
function rewriteImports(code: string, bundles: boolean): string {
	const targets: Record<string, string> = bundles
		? { pidfd: 'dist/pidfd.mjs', 'pidfd/client': 'dist/client.mjs', 'pidfd/bridge': 'dist/bridge.mjs', 'pidfd/pty': 'dist/pty.mjs' }
		: { pidfd: 'host/index.ts', 'pidfd/client': 'client/index.ts', 'pidfd/bridge': 'host/bridge/index.ts', 'pidfd/pty': 'host/pty/index.ts' };
	// `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')`: nothing but a specifier list between the keyword and the quote.
	const specifiers = /(^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*|^\s*import\s*|\bimport\s*\(\s*)(['"])([^'"]+)\2/gm;
	return code.replace(specifiers, (whole, lead: string, quote: string, specifier: string) => {
		const name = specifier.replace(/^npm:/, '');
		if (targets[name]) return `${lead}${quote}${pathToFileURL(join(ROOT, targets[name]))}${quote}`;
		// Other packages (ws) from the repository's node_modules: the block runs in a temp dir.
		if (!/^(node:|\.|\/|file:)/.test(specifier)) return `${lead}${quote}${import.meta.resolve(specifier)}${quote}`;
		return whole;
	});
}

/** Parses a script as esbuild does, then `node --check`s the JavaScript: a syntax check for blocks that do not run. */
async function syntaxCheck(block: Block, dir: string): Promise<string | undefined> {
	if (SHELL.has(block.lang)) {
		const r = await execute('sh', ['-n', '-c', block.code], dir);
		return r.code === 0 ? undefined : `sh -n: ${r.stderr}`;
	}
	let js: string;
	try {
		js = (await transform(block.code, { loader: block.lang.startsWith('t') ? 'ts' : 'js', format: 'esm', target: 'es2022' })).code;
	} catch (error) {
		return (error as Error).message;
	}
	const file = join(dir, 'check.mjs');
	writeFileSync(file, js);
	const r = await execute(process.execPath, ['--check', file], dir);
	return r.code === 0 ? undefined : `node --check: ${r.stderr}`;
}

/** Runs a script block on one runtime. */
async function runScript(block: Block, runtime: string, dir: string): Promise<Outcome> {
	const ts = block.lang.startsWith('t');
	if (runtime === 'node') {
		const file = join(dir, ts ? 'block.mts' : 'block.mjs');
		writeFileSync(file, rewriteImports(block.code, false));
		return execute(process.execPath, ['--import', TSX, file], dir);
	}
	if (!existsSync(join(ROOT, 'dist/pidfd.mjs'))) throw new Error('dist/pidfd.mjs is missing: npm run build');
	const file = join(dir, ts ? 'block.ts' : 'block.mjs');
	writeFileSync(file, rewriteImports(block.code, true));
	if (runtime === 'bun') return execute(BUN, [file], dir);
	if (runtime === 'deno') return execute(DENO, ['run', ...(block.attrs.deno ?? '-A').split(/\s+/).filter(Boolean), file], dir);
	throw new Error(`unknown runtime=${runtime}`);
}

// --- the blocks, classified, and started at once (uvu runs the tests one by one)

interface Job {
	name: string;
	block: Block;
	/** Resolves with an error message, or undefined when all is well. */
	result: Promise<string | undefined>;
	/** Ran for real (else: checked only). */
	ran: boolean;
	/** Why it only gets checked. */
	reason?: string;
	/** Not run because this machine lacks something: also a uvu skip. */
	skipped?: boolean;
	compared?: boolean;
}

const jobs: Job[] = [];
let serial = 0;

function newDir(): string {
	const dir = join(work, String(++serial));
	mkdirSync(dir);
	return dir;
}

/** Failure message for a run whose output or status is not what the documentation says. */
function judge(block: Block, output: Block | undefined, r: Outcome, runtime: string): string | undefined {
	const where = `${block.file}:${block.line}${runtime === 'node' ? '' : ` on ${runtime}`}`;
	const shown = `\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
	if (block.attrs.until !== undefined) {
		if (!r.stopped) return `${where}: never printed ${JSON.stringify(block.attrs.until)} (exit ${r.code ?? r.signal})${shown}`;
	} else {
		const expected = Number(block.attrs.exit ?? 0);
		if (r.code !== expected) return `${where}: exit ${r.code ?? r.signal}, expected ${expected}${shown}`;
	}
	const printed = SHELL.has(block.lang) ? r.stdout + r.stderr : r.stdout;
	const wanted = output?.code ?? (SCRIPT.has(block.lang) ? arrowComments(block.code) : undefined);
	if (wanted !== undefined && !looselyMatches(wanted, printed)) {
		return `${where}: printed\n  ${normalize(printed)}\nbut the documentation shows\n  ${normalize(wanted)}${shown}`;
	}
	return undefined;
}

/** Repository paths named in a diagram or a layout must exist (a `*` in the last part matches any name). */
function checkPaths(block: Block): string | undefined {
	const top = /^(host|schemas|client|ui|sidecar|assembly|bench|test|scripts|docs|dist)\/[\w./*-]*$/;
	const gone: string[] = [];
	for (const raw of block.code.split(/[\s,()`'"]+/)) {
		const path = raw.replace(/[:;.,]+$/, '');
		if (!top.test(path)) continue;
		const clean = path.replace(/\/$/, '');
		if (!clean.includes('*')) {
			if (!existsSync(join(ROOT, clean))) gone.push(path);
			continue;
		}
		const parent = join(ROOT, dirname(clean));
		const name = new RegExp(
			`^${clean
				.split('/')
				.pop()!
				.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
				.replace(/\*/g, '.*')}$`,
		);
		if (!existsSync(parent) || !readdirSync(parent).some((f) => name.test(f))) gone.push(path);
	}
	return gone.length > 0 ? `${block.file}:${block.line}: no such path: ${gone.join(', ')}` : undefined;
}

for (const file of files) {
	const blocks = codeBlocks(file, texts.get(file)!);
	const outputs = new Set<Block>();
	for (const [i, block] of blocks.entries()) {
		if (outputs.has(block)) continue;
		const next = blocks[i + 1];
		const output = next && next.lang === 'text' && 'output' in next.attrs ? next : undefined;
		if (output) outputs.add(output);
		const name = `${block.file}:${block.line} ${block.lang || '(no language)'}`;
		const add = (job: Omit<Job, 'block'>) => jobs.push({ ...job, block });

		if (block.lang === 'text' && 'output' in block.attrs) {
			add({ name, ran: false, result: Promise.resolve(`${name}: an output block that follows no code block`) });
		} else if (output && output.line > block.endLine + 2) {
			add({
				name,
				ran: false,
				result: Promise.resolve(`${output.file}:${output.line}: an output block must follow its code block, with at most one blank line between`),
			});
		} else if (block.lang === 'text') {
			add({ name: `${name} (paths)`, ran: false, result: Promise.resolve(checkPaths(block)) });
		} else if (block.lang === 'json') {
			add({
				name,
				ran: false,
				result: Promise.resolve()
					.then(() => void JSON.parse(block.code))
					.catch((e: Error) => `${name}: ${e.message}`),
			});
		} else if (!SCRIPT.has(block.lang) && !SHELL.has(block.lang)) {
			add({ name, ran: false, result: Promise.resolve(`${name}: give the block a language this test knows (js, ts, sh, text, json)`) });
		} else {
			const needs = block.attrs.needs !== undefined ? missing(block.attrs.needs) : undefined;
			const reason = block.attrs['no-run'] ?? needs;
			if (reason !== undefined) {
				if ('no-run' in block.attrs && !block.attrs['no-run']) {
					add({ name, ran: false, result: Promise.resolve(`${name}: no-run needs a reason: no-run="why"`) });
					continue;
				}
				const dir = newDir();
				const result = pool(() => syntaxCheck(block, dir)).then((error) => (error ? `${name}: ${error}` : undefined));
				add({ name: `${name} (syntax only: ${reason})`, ran: false, reason, skipped: needs !== undefined, result });
				continue;
			}
			const runtimes = SHELL.has(block.lang) ? ['sh'] : (block.attrs.runtime ?? 'node').split(',');
			for (const runtime of runtimes) {
				const dir = newDir();
				const started = pool(async () => {
					const t0 = performance.now();
					const r =
						runtime === 'sh'
							? await execute('sh', ['-e', '-c', block.code], dir, block.attrs.until !== undefined ? { until: block.attrs.until } : {})
							: await runScript(block, runtime, dir);
					// DOCS_TIMING=1: how long each block takes, to keep this file well under a minute.
					if (process.env.DOCS_TIMING) console.log(`  ${Math.round(performance.now() - t0)} ms ${name} ${runtime}`);
					return r;
				});
				const result = started.then(
					(r) => judge(block, output, r, runtime),
					(error: Error) => `${name}: ${error.message}`,
				);
				add({
					name: runtime === 'sh' || runtimes.length === 1 ? name : `${name} on ${runtime}`,
					ran: true,
					compared: output !== undefined || (SCRIPT.has(block.lang) && arrowComments(block.code) !== undefined),
					result,
				});
			}
		}
	}
}

// --- one test per block, a suite per file

for (const file of files) {
	const blocks = suite(`docs: ${file}`);
	blocks.before(() => open());
	for (const job of jobs.filter((j) => j.block.file === file)) {
		blocks(job.name, async () => {
			const error = await within(DEADLINE * 4, job.result, job.name);
			if (error) assert.unreachable(error);
		});
		// The run itself, where this machine lacks what the block needs: counted as skipped.
		if (job.skipped) blocks.skip(`${job.block.file}:${job.block.line} runs (${job.reason})`, () => {});
	}
	blocks('relative links lead to a file and a heading', () => {
		const broken: string[] = [];
		for (const { line, target } of relativeLinks(texts.get(file)!)) {
			const [path = '', anchor] = target.split('#');
			const dest = path === '' ? join(ROOT, file) : resolve(ROOT, dirname(file), path);
			if (!existsSync(dest)) {
				broken.push(`${file}:${line}: ${target}: no such file`);
				continue;
			}
			if (anchor !== undefined && dest.endsWith('.md') && !anchors(readFileSync(dest, 'utf8')).has(anchor)) {
				broken.push(`${file}:${line}: ${target}: no heading #${anchor} in ${relative(ROOT, dest)}`);
			}
		}
		if (broken.length > 0) assert.unreachable(broken.join('\n'));
	});
	blocks.run();
}

const summary = suite('docs: every block is run or checked');

summary('counts', () => {
	const code = jobs.filter((j) => SCRIPT.has(j.block.lang) || SHELL.has(j.block.lang));
	const ran = code.filter((j) => j.ran);
	const checked = code.filter((j) => !j.ran);
	const blocks = new Set(ran.map((j) => j.block));
	console.log(
		`  docs: ${new Set(code.map((j) => j.block)).size} code blocks: ${blocks.size} run (${ran.length} runs, ${ran.filter((j) => j.compared).length} with their output compared), ` +
			`${checked.length} syntax-checked only; ${jobs.length - code.length} text and json blocks checked`,
	);
	for (const j of checked) console.log(`  not run: ${j.block.file}:${j.block.line} (${j.reason})`);
	assert.ok(ran.length > checked.length, 'most blocks should run');
});

summary.run();
