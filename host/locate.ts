import { accessSync, constants, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PidfdError } from './errors.js';

/**
 * Where the sidecar binary is: $PIDFD_SIDECAR, else beside the bundle (dist/pidfd.mjs and
 * dist/pidfd-sidecar ship together), else dist/ of a source checkout.
 */
export function locateSidecar(): string {
	const fromEnv = process.env.PIDFD_SIDECAR;
	const candidates = fromEnv
		? [fromEnv]
		: [new URL('./pidfd-sidecar', import.meta.url), new URL('../dist/pidfd-sidecar', import.meta.url)].map((u) => fileURLToPath(u));
	for (const path of candidates) {
		try {
			if (!statSync(path).isFile()) continue;
		} catch {
			continue;
		}
		try {
			accessSync(path, constants.X_OK);
		} catch (cause) {
			throw new PidfdError('EACCES', 13, 'spawn', `pidfd: the sidecar at ${path} is not executable (chmod +x it, or rebuild with \`npm run build:sidecar\`)`, { path, cause });
		}
		return path;
	}
	const where = candidates.join(' or ');
	throw new PidfdError(
		'ESIDECAR',
		2,
		'spawn',
		`pidfd: sidecar binary not found at ${where}. Build it with \`npm run build:sidecar\` (needs musl-tools or a C compiler), or point PIDFD_SIDECAR at one.`,
		{ path: candidates[0] },
	);
}
