// What this machine offers on cgroup2, probed once before tests are registered.
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { cgroupDir } from '../../host/kernel/cgroup2.js';

export interface CgroupProbe {
	/** Our own cgroup2 directory, if cgroup2 is mounted and we are in it. */
	dir?: string;
	/** We may create cgroups under `dir`. */
	writable: boolean;
	/** Why not, when `dir` is missing or not writable. */
	why: string;
	/** Controllers available to cgroups under `dir` (its cgroup.controllers). */
	controllers: string[];
	/** A new cgroup has cgroup.kill (Linux 5.14+). */
	hasKill: boolean;
}

/** Creates and removes one cgroup under ours: the only way to know we may. */
export function probeCgroup(): CgroupProbe {
	let dir: string;
	try {
		dir = cgroupDir();
	} catch (error) {
		return { writable: false, why: `no cgroup2 here: ${(error as Error).message}`, controllers: [], hasKill: false };
	}
	const controllers = readFileSync(`${dir}/cgroup.controllers`, 'utf8').trim().split(/\s+/).filter(Boolean);
	const probe = `${dir}/pidfd-probe-${process.pid}`;
	try {
		mkdirSync(probe);
	} catch (error) {
		return { dir, writable: false, why: `cannot create a cgroup under ${dir}: ${(error as Error).message}`, controllers, hasKill: false };
	}
	const hasKill = existsSync(`${probe}/cgroup.kill`);
	rmdirSync(probe);
	return { dir, writable: true, why: '', controllers, hasKill };
}
