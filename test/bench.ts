import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { within } from './helpers/deadline.js';

const bench = suite('bench --quick');

// The smallest slice that crosses every part: the C floor and pidfd, one round, two
// workloads, and the three output files.
bench('runs one tiny round and writes valid JSON, markdown and SVG', async () => {
	const out = mkdtempSync(join(tmpdir(), 'pidfd-bench-'));
	try {
		await within(
			20_000,
			new Promise<void>((resolve, reject) => {
				const args = ['--import', 'tsx', 'bench/run.ts', '--quick', '--only', 'floor,pidfd-node', '--workloads', 'seq,kill', '--out', out];
				execFile(process.execPath, args, (error, _stdout, stderr) => (error ? reject(new Error(stderr || error.message)) : resolve()));
			}),
			'npm run bench -- --quick',
		);
		const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
		for (const peer of ['floor', 'pidfd-node']) {
			assert.ok(report.medians[peer].seq.opsPerSec > 0, `${peer} seq ops/s`);
			assert.ok(report.medians[peer].kill.p50Us > 0, `${peer} kill p50`);
		}
		assert.type(report.medians['pidfd-node'].seq.blockP50Us, 'number');
		assert.match(readFileSync(join(out, 'latest.md'), 'utf8'), /\| sequential spawn\+wait/);
		assert.match(readFileSync(join(out, 'latest.svg'), 'utf8'), /^<svg [^>]*>[\s\S]*<\/svg>\n$/);
	} finally {
		rmSync(out, { recursive: true, force: true });
	}
});

bench.run();
