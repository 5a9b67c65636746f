import { PidfdError } from '../../schemas/errors.js';

/**
 * Runtimes with a permission model refuse some of what the host does: Deno (`NotCapable`,
 * before 2.0 `PermissionDenied`) and Node's `--permission` (`ERR_ACCESS_DENIED`). Their errors
 * become a PidfdError with code ERR_ACCESS_DENIED whose message names the flag to add; any
 * other error is returned unchanged.
 */
export function explainDenied(error: unknown, what: string): unknown {
	if (!(error instanceof Error) || !isDenied(error)) return error;
	const deno = error.name === 'NotCapable' || error.name === 'PermissionDenied';
	const flag = /--allow-[a-z-]+/.exec(error.message)?.[0];
	const procFd = /\/proc\/[^/]+\/fd\//.test(error.message);
	const advice = !deno
		? 'grant it with --allow-child-process, --allow-fs-read and --allow-fs-write'
		: procFd
			? "the 'direct' stdio transport opens /proc/<pid>/fd/N, which Deno allows only with --allow-all (-A): use the default 'relay' transport, or -A"
			: `run Deno with ${flag ?? 'the flag it names'} (pidfd needs --allow-run --allow-read --allow-env)`;
	return new PidfdError('ERR_ACCESS_DENIED', `pidfd: ${what} was denied: ${error.message}; ${advice}`, { syscall: 'pidfd', cause: error });
}

/** True for a runtime's permission refusal (not for EACCES/EPERM from the kernel). */
export function isDenied(error: unknown): boolean {
	if (!(error instanceof Error)) return false;
	return error.name === 'NotCapable' || error.name === 'PermissionDenied' || (error as { code?: unknown }).code === 'ERR_ACCESS_DENIED';
}
