import { accessSync, constants, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PidfdError } from '../../schemas/errors.js';
import { explainDenied, isDenied } from './permissions.js';

/**
 * Where the sidecar binary is: $PIDFD_SIDECAR, else beside the bundle (dist/pidfd.mjs and
 * dist/pidfd-sidecar ship together), else dist/ of a source checkout.
 */
export function locateSidecar(): string {
	try {
		return locate();
	} catch (error) {
		throw explainDenied(error, 'locating the sidecar');
	}
}

function locate(): string {
	const fromEnv = process.env.PIDFD_SIDECAR;
	const candidates = fromEnv
		? [fromEnv]
		: [new URL('./pidfd-sidecar', import.meta.url), new URL('../../dist/pidfd-sidecar', import.meta.url)].map((u) => fileURLToPath(u));
	for (const path of candidates) {
		let mode: number;
		try {
			const stat = statSync(path);
			if (!stat.isFile()) continue;
			mode = stat.mode;
		} catch (error) {
			if (isDenied(error)) throw error;
			continue;
		}
		if (!isExecutable(path, mode)) {
			const message = `pidfd: the sidecar at ${path} is not executable (chmod +x it, or rebuild with \`npm run build:sidecar\`)`;
			throw new PidfdError('EACCES', message, { syscall: 'spawn', path });
		}
		return path;
	}
	const where = candidates.join(' or ');
	throw new PidfdError(
		'ENOENT',
		`pidfd: sidecar binary not found at ${where}. Build it with \`npm run build:sidecar\` (needs musl-tools or a C compiler), or point PIDFD_SIDECAR at one.`,
		{ syscall: 'spawn', path: candidates[0] },
	);
}

function isExecutable(path: string, mode: number): boolean {
	try {
		accessSync(path, constants.X_OK);
		return true;
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'EACCES') return false;
		// Deno's accessSync needs --allow-sys=uid even for this; the mode bits answer without it.
		return (mode & 0o111) !== 0;
	}
}
