import { existsSync, mkdirSync, readdirSync, rmdirSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PidfdError } from '../../schemas/errors.js';
import { cgroupDir } from '../kernel/cgroup2.js';
import { fsError } from './fs.js';

/**
 * The directory pidfd manages on cgroup2: every scope is a subdirectory of it. By default
 * `<the host's own cgroup>/pidfd-<host pid>`, created on first use; or one given explicitly.
 */

export const CGROUP2_SUPER_MAGIC = 0x63677270;

const HOW_TO_DELEGATE =
	'run as root, or under a cgroup delegated to this user (systemd: Delegate=yes, e.g. `systemd-run --user --scope -p Delegate=yes …`), or pass an explicit root';

let defaultRoot: string | undefined;

/** The root for new scopes: `explicit` if given, else the default one; created if missing. */
export function prepareRoot(explicit?: string): string {
	if (explicit !== undefined) return prepareExplicit(resolve(explicit));
	if (defaultRoot !== undefined && existsSync(defaultRoot)) return defaultRoot;
	const parent = cgroupDir();
	sweepStaleRoots(parent);
	const root = `${parent}/pidfd-${process.pid}`;
	try {
		mkdirSync(root);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
			throw fsError(error, `no writable cgroup2 tree is delegated to this process (its cgroup is ${parent}): ${HOW_TO_DELEGATE}`);
		}
	}
	defaultRoot = root;
	return root;
}

/** Checks that an explicit root is on cgroup2 before creating anything, then creates it. */
function prepareExplicit(root: string): string {
	let existing = root;
	while (!existsSync(existing) && existing !== '/') existing = dirname(existing);
	let type: number;
	try {
		type = statfsSync(existing).type;
	} catch (error) {
		throw fsError(error, `cannot use ${root} as the cgroup root`);
	}
	if (type !== CGROUP2_SUPER_MAGIC) {
		const what = existsSync(root) ? root : `${existing} (the nearest existing parent of ${root})`;
		throw new PidfdError(
			'ENOTSUP',
			`${what} is not on a cgroup2 filesystem (statfs type 0x${type.toString(16)}): containment needs a cgroup2 directory as root`,
			{ syscall: 'statfs', path: root },
		);
	}
	const made: string[] = [];
	try {
		// One level at a time: a recursive mkdir reports EROFS as ENOENT.
		for (const part of root.slice(existing.length).split('/').filter(Boolean)) {
			existing = `${existing === '/' ? '' : existing}/${part}`;
			mkdirSync(existing);
			made.unshift(existing);
		}
	} catch (error) {
		for (const dir of made) removeTree(dir); // nothing else changes
		throw fsError(error, `the cgroup root is not writable: ${HOW_TO_DELEGATE}`);
	}
	return root;
}

/**
 * Removes `pidfd-<pid>` roots left by hosts that are gone (their children were killed by
 * their sidecar, but nobody was left to rmdir). rmdir refuses a populated cgroup (EBUSY),
 * so this can never take a cgroup from under a running process.
 */
function sweepStaleRoots(parent: string): void {
	let names: string[];
	try {
		names = readdirSync(parent);
	} catch {
		return;
	}
	for (const name of names) {
		const match = /^pidfd-(\d+)$/.exec(name);
		if (!match || Number(match[1]) === process.pid || existsSync(`/proc/${match[1]}`)) continue;
		removeTree(`${parent}/${name}`);
	}
}

/** rmdir depth-first; cgroups still populated stay (EBUSY), so does their parent. */
export function removeTree(dir: string): boolean {
	let entries: string[];
	try {
		entries = readdirSync(dir, { withFileTypes: true })
			.filter((e) => e.isDirectory())
			.map((e) => e.name);
	} catch {
		return false;
	}
	for (const name of entries) removeTree(`${dir}/${name}`);
	try {
		rmdirSync(dir);
		return true;
	} catch {
		return false;
	}
}
