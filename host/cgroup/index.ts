import { basename, dirname, resolve } from 'node:path';
import { cgroupDir } from '../kernel/cgroup2.js';
import { Scope } from './scope.js';

export { Scope, type ScopeOptions, type ScopeSpawnOptions, type TreeKillOptions } from './scope.js';
export type { CgroupUsage } from './accounting.js';
export { cgroupDir } from '../kernel/cgroup2.js';

/**
 * The scope a process is contained in, or undefined if it is in none: a scope is a cgroup
 * directly under a pidfd root (`pidfd-<pid>` by default, or `options.root`), and the process
 * may sit in it or in a cgroup nested below it. Works from any process, e.g. a CLI: the
 * scope is found by its place in the hierarchy. `kind` is 'child' for the tree of one child
 * spawned with `contain`.
 *
 * The pid is read from /proc/<pid>/cgroup: hold a PidFd on it while you act on the answer,
 * and check it is still alive afterwards, if the pid may be recycled meanwhile.
 */
export function cgroupOf(pid: number, options: { root?: string } = {}): Scope | undefined {
	let dir: string;
	try {
		dir = cgroupDir(pid);
	} catch {
		return undefined;
	}
	const root = options.root === undefined ? undefined : resolve(options.root);
	for (let d = dir; d !== dirname(d); d = dirname(d)) {
		const parent = dirname(d);
		if (root === undefined ? /^pidfd-\d+$/.test(basename(parent)) : parent === root) {
			return Scope.open(d, basename(d).startsWith('child-') ? 'child' : 'shared');
		}
	}
	return undefined;
}
