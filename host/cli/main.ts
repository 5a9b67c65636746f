import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
// Only the public entry: the CLI bundle loads it from ./pidfd.mjs instead of carrying a copy.
import { type CgroupUsage, type ExitInfo, type Limits, killTree, PidFd, PidfdError, signalNumber, spawn, waitTree } from '../index.js';

const USAGE = `Usage:
  pidfd run [--json] [-o FILE] -- COMMAND [ARG...]   run COMMAND, then report how it ended and its resource usage
      [--tty]                                        ... on a terminal of its own, bridged to yours (script(1) with rusage)
      [--contain [--memory-max SIZE] [--pids-max N] [--cpu-max CPUS]]
                                                     ... in a cgroup of its own, with budgets; report the whole tree's usage
  pidfd wait [--json] [--tree] PID...                wait until every PID (--tree: and all its descendants) has exited
  pidfd kill [--tree] [--json] PID [SIGNAL]          signal PID (--tree: and all its descendants) through pidfds (default SIGTERM)
  pidfd info [--json] PID                            pid, ppid, credentials and cgroup of PID
  pidfd serve [--listen HOST:PORT] [--allow PATH]... the WebSocket bridge (pidfd serve --help)

run reports on stderr (or FILE) and exits as the command did: its code, or 128+N for signal N.`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	switch (command) {
		case 'run':
			return run(rest);
		case 'wait':
			return waitAll(rest);
		case 'kill':
			return kill(rest);
		case 'info':
			return info(rest);
		case 'serve':
			// Loaded on demand: only serve needs ws and the bridge.
			return (await import('../bridge/serve.js')).serve(rest);
		case '-h':
		case '--help':
		case 'help':
			process.stdout.write(`${USAGE}\n`);
			return 0;
		default:
			throw new UsageError(command ? `unknown command: ${command}` : 'no command given');
	}
}

async function run(args: string[]): Promise<number> {
	const { values, positionals } = parseArgs({
		args,
		allowPositionals: true,
		options: {
			json: { type: 'boolean' },
			output: { type: 'string', short: 'o' },
			contain: { type: 'boolean' },
			'memory-max': { type: 'string' },
			'pids-max': { type: 'string' },
			'cpu-max': { type: 'string' },
			tty: { type: 'boolean' },
		},
	});
	const [file, ...rest] = positionals;
	if (!file) throw new UsageError('run: no command given');
	const limits = limitsOf(values);
	if (limits && !values.contain) throw new UsageError('run: --memory-max, --pids-max and --cpu-max need --contain');
	const started = performance.now();
	let child: Awaited<ReturnType<typeof spawn>>;
	try {
		child = await spawn(file, rest, {
			...(values.contain ? { contain: true, ...(limits ? { limits } : {}) } : {}),
			...(values.tty ? { terminal: terminalOfOurs() } : {}),
		});
	} catch (error) {
		if (error instanceof PidfdError && error.syscall === 'execve') {
			process.stderr.write(`pidfd: ${file}: ${error.message}\n`);
			return error.code === 'ENOENT' ? 127 : 126; // as shells do
		}
		throw error;
	}
	// SIGINT and SIGQUIT from a terminal reach the child directly (same process group):
	// outlive them to report. Signals aimed at us alone are passed on, through the pidfd.
	const forward = (signal: NodeJS.Signals) => () => void child.kill(signal).catch(() => {});
	for (const signal of ['SIGINT', 'SIGQUIT'] as const) process.on(signal, () => {});
	for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.on(signal, forward(signal));
	const bridged = child.terminal ? bridgeTerminal(child.terminal) : undefined;
	const exit = await child.wait();
	await bridged?.();
	const wallMs = performance.now() - started;
	// The run is over: what the command left running in its tree goes too.
	const leftover = child.scope?.pids().length ?? 0;
	await child.scope?.kill();
	const tree = child.scope && { ...child.scope.usage(), leftoverKilled: leftover };
	const report = values.json
		? `${JSON.stringify({ ...exit, wallMs: round(wallMs), ...(tree ? { tree } : {}) })}\n`
		: describeRun(file, exit, wallMs) + (tree ? describeTree(tree) : '');
	if (values.output) writeFileSync(values.output, report);
	else process.stderr.write(report);
	return exitCodeOf(exit);
}

/** The child's terminal starts with our terminal's size and TERM (80 × 24 if we have none). */
function terminalOfOurs(): { cols: number; rows: number; name: string } {
	return { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24, name: process.env.TERM || 'xterm-256color' };
}

type ChildTerminal = NonNullable<Awaited<ReturnType<typeof spawn>>['terminal']>;

/**
 * Connects our terminal to the child's: keystrokes raw (Ctrl-C is a byte for the child's
 * terminal to turn into its SIGINT, not ours), output as it comes, our window size followed.
 * Returns the undoing, to await once the child has ended: it waits for the last output and
 * gives the terminal back as it was. A signal that ends us restores it too.
 */
function bridgeTerminal(terminal: ChildTerminal): () => Promise<void> {
	const stdin = process.stdin;
	const raw = stdin.isTTY === true && !stdin.isRaw;
	const restore = () => {
		if (raw && stdin.isRaw) stdin.setRawMode(false);
	};
	if (raw) stdin.setRawMode(true);
	process.once('exit', restore);
	const onResize = () => {
		terminal.resize(process.stdout.columns || terminal.cols, process.stdout.rows || terminal.rows).catch(() => {});
	};
	process.stdout.on('resize', onResize);
	stdin.pipe(terminal);
	const drained = new Promise<void>((resolve) => {
		terminal.on('data', (chunk: Buffer) => process.stdout.write(chunk));
		terminal.once('close', resolve);
	});
	return async () => {
		await drained;
		process.stdout.off('resize', onResize);
		stdin.unpipe(terminal);
		stdin.pause();
		restore();
	};
}

async function waitAll(args: string[]): Promise<number> {
	const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, tree: { type: 'boolean' } } });
	if (positionals.length === 0) throw new UsageError('wait: no PID given');
	const handles = await Promise.all(positionals.map((p) => PidFd.open(parsePid(p))));
	// From here no exit can be missed: say so, for whoever waits to act on it (stdout stays the report).
	process.stderr.write(`pidfd wait: watching ${handles.map((h) => h.pid).join(' ')}\n`);
	// The trees first, while their roots are alive to list descendants under; the roots' own
	// exits are then already known.
	if (values.tree) await Promise.all(handles.map((h) => waitTree(h)));
	const exits = await Promise.all(handles.map((h) => h.wait()));
	for (const exit of exits) {
		process.stdout.write(values.json ? `${JSON.stringify(exit)}\n` : `${exit.pid}: ${describeEnd(exit)}\n`);
	}
	return 0;
}

async function kill(args: string[]): Promise<number> {
	const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { tree: { type: 'boolean' }, json: { type: 'boolean' } } });
	const [pid, signal = 'SIGTERM', ...extra] = positionals;
	if (!pid || extra.length > 0) throw new UsageError('kill: expected [--tree] PID [SIGNAL]');
	const number = signalNumber(/^\d+$/.test(signal) ? Number(signal) : signal);
	if (number === undefined) throw new UsageError(`kill: unknown signal ${signal}`);
	const handle = await PidFd.open(parsePid(pid));
	let pids = [handle.pid];
	if (values.tree) {
		const tree = await killTree(handle, number);
		pids = tree.pids;
		await tree.close();
	} else {
		await handle.kill(number);
	}
	await handle.close();
	if (values.json) process.stdout.write(`${JSON.stringify({ signal: number, pids })}\n`);
	return 0;
}

async function info(args: string[]): Promise<number> {
	const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
	if (positionals.length !== 1) throw new UsageError('info: expected one PID');
	const handle = await PidFd.open(parsePid(positionals[0]!));
	const result = await handle.info();
	await handle.close();
	process.stdout.write(
		values.json
			? `${JSON.stringify(result)}\n`
			: `${Object.entries(result)
					.map(([k, v]) => `${k}: ${String(v)}`)
					.join('\n')}\n`,
	);
	return 0;
}

function parsePid(text: string): number {
	if (!/^[1-9]\d*$/.test(text)) throw new UsageError(`not a pid: ${text}`);
	return Number(text);
}

function exitCodeOf(exit: ExitInfo): number {
	if (exit.code !== null) return exit.code;
	if (exit.signalNumber !== null) return 128 + exit.signalNumber;
	return 1;
}

function describeEnd(exit: ExitInfo): string {
	if (exit.status === 'exited') return `exited with code ${exit.code}`;
	if (exit.status === 'signaled') return `killed by ${exit.signal}${exit.coreDumped ? ' (core dumped)' : ''}`;
	return 'exited (status unknown: not our child, and this kernel could not tell)';
}

function describeRun(file: string, exit: ExitInfo, wallMs: number): string {
	const lines = [`pidfd: ${file} ${describeEnd(exit)}`];
	const r = exit.rusage;
	if (r) {
		lines.push(`  pid ${exit.pid}  wall ${ms(wallMs)}  user ${ms(r.userCpuMs)}  sys ${ms(r.systemCpuMs)}  max RSS ${r.maxRssKiB.toLocaleString('en')} KiB`);
		lines.push(
			`  page faults ${r.minorFaults} minor, ${r.majorFaults} major  context switches ${r.voluntaryCtxSwitches} voluntary, ${r.involuntaryCtxSwitches} involuntary`,
		);
		lines.push(`  block I/O ${r.blockInputs} in, ${r.blockOutputs} out  signals ${r.signalsReceived}`);
	}
	return `${lines.join('\n')}\n`;
}

function limitsOf(values: { 'memory-max'?: string | undefined; 'pids-max'?: string | undefined; 'cpu-max'?: string | undefined }): Limits | undefined {
	const limits: Limits = {};
	if (values['memory-max'] !== undefined) limits.memoryMax = /^\d+$/.test(values['memory-max']) ? Number(values['memory-max']) : values['memory-max'];
	if (values['pids-max'] !== undefined) limits.pidsMax = Number(values['pids-max']);
	if (values['cpu-max'] !== undefined) limits.cpuMax = Number(values['cpu-max']);
	return Object.keys(limits).length ? limits : undefined;
}

function describeTree(tree: CgroupUsage & { leftoverKilled: number }): string {
	const parts = [
		`  tree: cpu ${tree.cpu ? `${ms(tree.cpu.usageUsec / 1000)} (user ${ms(tree.cpu.userUsec / 1000)}, sys ${ms(tree.cpu.systemUsec / 1000)})` : 'n/a'}`,
	];
	const kib = (bytes: number) => `${Math.round(bytes / 1024).toLocaleString('en')} KiB`;
	parts.push(tree.memory ? `memory peak ${tree.memory.peakBytes === null ? 'n/a' : kib(tree.memory.peakBytes)}` : 'memory n/a (no memory controller)');
	parts.push(tree.pids ? `pids peak ${tree.pids.peak ?? 'n/a'}` : 'pids n/a (no pids controller)');
	const left = tree.leftoverKilled ? `\n  ${tree.leftoverKilled} process(es) left in the tree were killed` : '';
	return `${parts.join('  ')}${left}\n`;
}

function ms(value: number): string {
	return value < 1000 ? `${round(value)} ms` : `${round(value / 1000)} s`;
}

function round(value: number): number {
	return Math.round(value * 1000) / 1000;
}

main(process.argv.slice(2)).then(
	(code) => {
		process.exitCode = code;
	},
	(error: unknown) => {
		if (error instanceof UsageError) {
			process.stderr.write(`pidfd: ${error.message}\n\n${USAGE}\n`);
			process.exitCode = 2;
		} else {
			process.stderr.write(`pidfd: ${error instanceof Error ? error.message : String(error)}\n`);
			process.exitCode = 1;
		}
	},
);
