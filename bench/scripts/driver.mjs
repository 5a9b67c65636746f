// One implementation on one runtime, one measurement, one JSON line:
//   sync:     N sequential synchronous runs of /bin/true, output captured (ops/s)
//   pipeline: `head -c BYTES /dev/zero | cat | wc -c`, three stages (MiB/s of the stream)
// Usage: <runtime> bench/scripts/driver.mjs sync|pipeline IMPL [module] [n|bytes]
//   IMPL: pidfd | pidfd-relay | child_process | bun | deno | sh
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const [what, impl, module, sizeArg] = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
const pidfd = impl.startsWith('pidfd') ? await import(module) : undefined;
const transport = impl === 'pidfd-relay' ? { stdioTransport: 'relay' } : {};

function syncRun() {
	switch (impl) {
		case 'pidfd':
			return pidfd.runSync('/bin/true').exit.code;
		case 'child_process':
			return spawnSync('/bin/true').status;
		case 'bun':
			return Bun.spawnSync(['/bin/true']).exitCode;
		case 'deno':
			return new Deno.Command('/bin/true').outputSync().code;
	}
	throw new Error(`no sync run for ${impl}`);
}

async function pipelineRun(bytes) {
	const head = ['head', ['-c', String(bytes), '/dev/zero']];
	switch (impl) {
		case 'pidfd':
		case 'pidfd-relay': {
			const r = await pidfd.pipeline([head, ['cat'], ['wc', ['-c']]], { ...transport, encoding: 'utf8' });
			return Number(r.stdout.trim());
		}
		case 'sh':
			return Number(execFileSync('sh', ['-c', `head -c ${bytes} /dev/zero | cat | wc -c`], { encoding: 'utf8' }).trim());
		case 'child_process': {
			// Node streams carry every byte through the host: head → cat → wc.
			const a = spawn(head[0], head[1], { stdio: ['ignore', 'pipe', 'inherit'] });
			const b = spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
			const c = spawn('wc', ['-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
			a.stdout.pipe(b.stdin);
			b.stdout.pipe(c.stdin);
			let out = '';
			c.stdout.on('data', (d) => {
				out += d;
			});
			await new Promise((resolve) => c.on('close', resolve));
			return Number(out.trim());
		}
	}
	throw new Error(`no pipeline for ${impl}`);
}

if (what === 'sync') {
	const n = Number(sizeArg ?? 200);
	for (let i = 0; i < 10; i++) syncRun();
	const t0 = performance.now();
	for (let i = 0; i < n; i++) if (syncRun() !== 0) throw new Error('/bin/true failed');
	console.log(JSON.stringify({ opsPerSec: n / ((performance.now() - t0) / 1000) }));
} else {
	const bytes = Number(sizeArg ?? 256 * 1024 * 1024);
	const t0 = performance.now();
	const counted = await pipelineRun(bytes);
	const ms = performance.now() - t0;
	if (counted !== bytes) throw new Error(`counted ${counted} of ${bytes} bytes`);
	console.log(JSON.stringify({ mibPerSec: bytes / 1048576 / (ms / 1000), ms }));
}
if (pidfd) await pidfd.shutdown();
