/**
 * pidfd itself. The module comes from argv[4]: the TypeScript source on Node (through tsx),
 * the dist/pidfd.mjs bundle on Bun and Deno, so each runtime runs what its users would.
 * argv[5], if given, is the stdio transport ('direct' or 'relay'); else the runtime's default.
 */
import { pathToFileURL } from 'node:url';
import process from 'node:process';
import type { TraceStage } from '../../host/sidecar/trace.js';
import { type Adapter, main, type Result } from './harness.js';

type Pidfd = typeof import('../../host/index.js');

const modulePath = process.argv[4];
if (!modulePath) throw new Error('usage: pidfd.ts WORKLOAD PARAMS MODULE [direct|relay]');
const transport = process.argv[5] as 'direct' | 'relay' | undefined;
const pidfd = (await import(pathToFileURL(modulePath).href)) as Pidfd;

const adapter: Adapter = {
	async start(file, args) {
		const child = await pidfd.spawn(file, args, { stdio: 'ignore' });
		const exited = child.wait();
		return { exited, kill: () => child.kill('SIGKILL') };
	},
	async capture(file, args, maxBytes) {
		const { stdout } = await pidfd.run(file, args, { maxBuffer: maxBytes, stderr: 'ignore', ...(transport && { stdioTransport: transport }) });
		return stdout.length;
	},
	async helperPid() {
		return (await pidfd.sidecarInfo()).pid;
	},
	extra(params) {
		// PIDFD_TRACE=1: the stage breakdown, warm-up skipped, as "trace <part>: <stage> p50|p99".
		const log = (globalThis as { [k: symbol]: { stages(skip: number): TraceStage[] } | undefined })[Symbol.for('pidfd.trace')];
		if (!log) return {};
		const fields: Result = {};
		for (const row of log.stages(params.warmup ?? 0)) {
			fields[`trace ${row.part}: ${row.stage} p50`] = row.p50;
			fields[`trace ${row.part}: ${row.stage} p99`] = row.p99;
		}
		return fields;
	},
};

await main(adapter);
