import { ErrorCode, PidfdError } from '../../schemas/errors.js';

/**
 * For requests nobody awaits (a timeout's kill, a RELEASE after spawn): a failure has no
 * caller to reject, yet must not vanish, so it becomes a process warning. The sidecar's death
 * is left out (every pending `wait()` already rejects with it), and so is ESRCH: a process
 * that ended is what a kill wanted.
 */
export function reportDetached(error: unknown): void {
	if (error instanceof PidfdError && (error.code === ErrorCode.SIDECAR_DIED || error.code === 'ESRCH')) return;
	const warn = (process as { emitWarning?: (warning: Error) => void }).emitWarning;
	if (warn) warn.call(process, error instanceof Error ? error : new Error(String(error)));
	else console.warn(error);
}
