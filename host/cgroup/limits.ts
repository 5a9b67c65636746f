import { dirname } from 'node:path';
import type { ByteSize, Limits } from '../../schemas/cgroup.js';
import { PidfdError } from '../../schemas/errors.js';
import { readList, writeControl } from './fs.js';

/**
 * Budgets: the controller files of a scope, written before its first process starts, and
 * the controllers they need switched on above it.
 */

const CONTROLLER: Record<keyof Limits, string> = { memoryMax: 'memory', pidsMax: 'pids', cpuMax: 'cpu' };
const CPU_PERIOD_USEC = 100_000;
const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** '512M' → 536870912; numbers pass through. */
export function bytesOf(size: ByteSize): number {
	if (typeof size === 'number') return size;
	const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(size)!;
	return Math.floor(Number(match[1]) * UNITS[match[2]!.toUpperCase()]!);
}

/** The controllers `limits` needs, in a stable order. */
export function controllersFor(limits: Limits): string[] {
	return (Object.keys(CONTROLLER) as (keyof Limits)[]).filter((k) => limits[k] !== undefined).map((k) => CONTROLLER[k]);
}

/**
 * Makes `controller` available to the scopes under `root`: enabled in root's
 * cgroup.subtree_control, and first in its parent's when root does not have it yet. Goes no
 * higher than root's parent (the cgroup the host was given); a controller missing there is
 * an error that names it.
 */
export function enableController(root: string, controller: string, why: string): void {
	if (!readList(`${root}/cgroup.controllers`).includes(controller)) {
		const parent = dirname(root);
		const available = readList(`${parent}/cgroup.controllers`);
		if (!available.includes(controller)) {
			const list = available.length ? available.join(' ') : 'none';
			throw new PidfdError(
				'ENOTSUP',
				`${why} needs the cgroup2 "${controller}" controller, which is not available at ${parent} (its cgroup.controllers lists: ${list}). ` +
					"On a hybrid cgroup v1/v2 system it may be bound to a v1 hierarchy; otherwise it must be enabled in the parent cgroups' cgroup.subtree_control.",
				{ syscall: 'write', path: `${parent}/cgroup.controllers` },
			);
		}
		try {
			writeControl(`${parent}/cgroup.subtree_control`, `+${controller}`, `cannot enable the "${controller}" controller for ${why}`);
		} catch (error) {
			if ((error as PidfdError).code !== 'EBUSY') throw error;
			throw new PidfdError(
				'EBUSY',
				`cannot enable the "${controller}" controller for ${why}: ${parent} holds processes itself, and cgroup2's no-internal-process rule forbids controllers below it; give pidfd an explicit root in a cgroup that holds none`,
				{ syscall: 'write', path: `${parent}/cgroup.subtree_control`, cause: error },
			);
		}
	}
	if (!readList(`${root}/cgroup.subtree_control`).includes(controller)) {
		writeControl(`${root}/cgroup.subtree_control`, `+${controller}`, `cannot enable the "${controller}" controller for ${why}`);
	}
}

/** Writes the budgets to a scope's (still empty) cgroup `dir` under `root`. */
export function applyLimits(root: string, dir: string, limits: Limits): void {
	for (const key of Object.keys(CONTROLLER) as (keyof Limits)[]) {
		if (limits[key] !== undefined) enableController(root, CONTROLLER[key], `limits.${key}`);
	}
	if (limits.memoryMax !== undefined) writeControl(`${dir}/memory.max`, String(bytesOf(limits.memoryMax)), 'cannot set limits.memoryMax');
	if (limits.pidsMax !== undefined) writeControl(`${dir}/pids.max`, String(limits.pidsMax), 'cannot set limits.pidsMax');
	if (limits.cpuMax !== undefined) {
		const quota = Math.max(1000, Math.round(limits.cpuMax * CPU_PERIOD_USEC));
		writeControl(`${dir}/cpu.max`, `${quota} ${CPU_PERIOD_USEC}`, 'cannot set limits.cpuMax');
	}
}
