import type { SpawnOptions } from '../../schemas/spawn.js';
import { runtime } from '../sidecar/runtime.js';

/**
 * How a child's `'pipe'` stdio reaches the host:
 * - `'direct'`: the sidecar makes kernel pipes and the host opens its ends through
 *   /proc/<sidecar>/fd/N; no byte passes through the sidecar. Node's default: fastest there.
 * - `'relay'`: the sidecar reads and writes the pipes and carries the bytes over its own
 *   connection under per-stream credit windows (relay.ts). Deno's default: its blocking fs
 *   streams deadlock on many pipes, and it opens /proc/<pid>/fd only with -A. Also where a
 *   permission model denies reading /proc (Node's --permission).
 */
export type StdioTransport = 'direct' | 'relay';

let fallback: StdioTransport | undefined;

/** The transport for spawns that do not name one: PIDFD_STDIO, else what suits the runtime. */
export function defaultTransport(): StdioTransport {
	fallback ??= chooseDefault();
	return fallback;
}

/** The transport `options` asks for, or the default. */
export function transportOf(options: Pick<SpawnOptions, 'stdioTransport'>): StdioTransport {
	return options.stdioTransport ?? defaultTransport();
}

function chooseDefault(): StdioTransport {
	let fromEnv: string | undefined;
	try {
		fromEnv = process.env.PIDFD_STDIO;
	} catch {
		// Deno without --allow-env for it: the runtime's default, then.
	}
	if (fromEnv === 'relay' || fromEnv === 'direct') return fromEnv;
	if (runtime === 'deno') return 'relay';
	return procReadable() ? 'direct' : 'relay';
}

/** False under a permission model that would refuse opening /proc/<sidecar>/fd/N. */
function procReadable(): boolean {
	const permission = (process as { permission?: { has(scope: string, reference?: string): boolean } }).permission;
	if (!permission) return true;
	try {
		return permission.has('fs.read', '/proc/');
	} catch {
		return false;
	}
}
