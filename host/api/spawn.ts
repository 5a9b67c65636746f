import type { SpawnOptions } from '../../schemas/spawn.js';
import { Scope } from '../cgroup/scope.js';
import type { Child } from '../process/child.js';
import { spawnChild } from '../process/spawn.js';

export type { SpawnOptions };

/**
 * Starts `file` with `args` and resolves once it has exec'd: an exec failure (ENOENT,
 * EACCES, a bad cwd) rejects here, never as a later event. `contain` or `limits` put the
 * child in a cgroup scope of its own (see Scope).
 */
export async function spawn(file: string, args: readonly string[] = [], options: SpawnOptions = {}): Promise<Child> {
	if ((options.contain !== undefined && options.contain !== false) || options.limits !== undefined) return Scope.spawnContained(file, args, options);
	return spawnChild(file, args, options);
}
