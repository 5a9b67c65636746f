import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs a TypeScript fixture as uid/gid 65534 (nobody). The checkout may sit in a directory
 * nobody cannot enter (a 0700 temp dir, a home), so the fixture is bundled, with the library,
 * into a fresh world-readable directory, and the sidecar copied beside it.
 */
export async function runAsNobody(fixture: string, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
	const dir = mkdtempSync(join(tmpdir(), 'pidfd-nobody-'));
	try {
		chmodSync(dir, 0o755);
		await build({
			entryPoints: [join(repo, fixture)],
			outfile: join(dir, 'main.mjs'),
			bundle: true,
			platform: 'node',
			format: 'esm',
			target: 'es2022',
			logLevel: 'silent',
			// CommonJS dependencies (ws) call require() for Node's built-ins: give the bundle one.
			banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
		});
		const sidecar = join(dir, 'pidfd-sidecar');
		copyFileSync(process.env.PIDFD_SIDECAR ?? join(repo, 'dist/pidfd-sidecar'), sidecar);
		chmodSync(sidecar, 0o755);
		return await new Promise((resolve) => {
			execFile(
				'setpriv',
				['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(dir, 'main.mjs'), ...args],
				{ cwd: dir, env: { ...process.env, PIDFD_SIDECAR: sidecar } },
				(error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
			);
		});
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}
