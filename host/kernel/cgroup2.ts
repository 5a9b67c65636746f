import { readFileSync } from 'node:fs';
import { PidfdError } from '../../schemas/errors.js';

/**
 * Where cgroup2 is on this machine and where a process sits in it, from /proc alone: never
 * a hard-coded path. Pure cgroup2 systems mount it at /sys/fs/cgroup, hybrid ones at e.g.
 * /sys/fs/cgroup/unified, containers at whatever their runtime chose.
 */

/** One cgroup2 mount: where it is, and which directory of the hierarchy it shows. */
export interface Cgroup2Mount {
	/** The mount point, e.g. '/sys/fs/cgroup'. */
	mountPoint: string;
	/** The hierarchy path mounted there ('/' unless it is a bind mount of a subtree). */
	root: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(field: string): string {
	return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Every cgroup2 mount listed in a mountinfo text (proc(5)), in order. */
export function parseCgroup2Mounts(mountinfo: string): Cgroup2Mount[] {
	const mounts: Cgroup2Mount[] = [];
	for (const line of mountinfo.split('\n')) {
		const fields = line.split(' ');
		const dash = fields.indexOf('-', 6);
		if (dash < 0 || fields[dash + 1] !== 'cgroup2') continue;
		mounts.push({ mountPoint: unescapeOctal(fields[4]!), root: unescapeOctal(fields[3]!) });
	}
	return mounts;
}

/** The cgroup2 path ('0::' line) in a /proc/<pid>/cgroup text, or undefined on a v1-only system. */
export function parseCgroup2Path(procCgroup: string): string | undefined {
	for (const line of procCgroup.split('\n')) {
		if (line.startsWith('0::')) return line.slice(3).replace(/ \(deleted\)$/, '');
	}
	return undefined;
}

/** Joins a hierarchy path to the mount that shows it; undefined if that mount does not show it. */
export function dirIn(mount: Cgroup2Mount, path: string): string | undefined {
	const root = mount.root === '/' ? '' : mount.root;
	if (path !== root && !path.startsWith(`${root}/`) && root !== '') return undefined;
	const rest = path.slice(root.length);
	return mount.mountPoint === '/' ? rest || '/' : `${mount.mountPoint}${rest === '/' ? '' : rest}`;
}

/** The first cgroup2 mount that shows `path`. */
export function findMount(mounts: readonly Cgroup2Mount[], path: string): { mount: Cgroup2Mount; dir: string } | undefined {
	for (const mount of mounts) {
		const dir = dirIn(mount, path);
		if (dir !== undefined) return { mount, dir };
	}
	return undefined;
}

function readProc(path: string): string | undefined {
	try {
		return readFileSync(path, 'utf8');
	} catch {
		return undefined;
	}
}

/**
 * The directory of `pid`'s own cgroup on the cgroup2 mount (default: this process).
 * Throws ENOENT, saying which part is missing, when there is no cgroup2 mount or the process
 * has no cgroup2 path (a cgroup v1-only system).
 */
export function cgroupDir(pid: number | 'self' = 'self', sources: { mountinfo?: string; cgroup?: string } = {}): string {
	const mountinfo = sources.mountinfo ?? readProc('/proc/self/mountinfo') ?? '';
	const mounts = parseCgroup2Mounts(mountinfo);
	if (mounts.length === 0) {
		throw new PidfdError('ENOENT', 'containment needs cgroup2: no cgroup2 filesystem is mounted (none in /proc/self/mountinfo)', {
			syscall: 'open',
			path: '/proc/self/mountinfo',
		});
	}
	const procFile = `/proc/${pid}/cgroup`;
	const text = sources.cgroup ?? readProc(procFile);
	if (text === undefined) throw new PidfdError('ESRCH', `cannot read ${procFile}: no such process`, { syscall: 'open', path: procFile });
	const path = parseCgroup2Path(text);
	if (path === undefined) {
		throw new PidfdError('ENOENT', `containment needs cgroup2: ${procFile} has no "0::" line (a cgroup v1-only system)`, { syscall: 'open', path: procFile });
	}
	const found = findMount(mounts, path);
	if (!found) {
		throw new PidfdError(
			'ENOENT',
			`the cgroup2 path ${path} of ${procFile} is not visible under any cgroup2 mount (${mounts.map((m) => m.mountPoint).join(', ')})`,
			{ syscall: 'open', path: procFile },
		);
	}
	return found.dir;
}

/** `dir` as /proc/<pid>/cgroup spells it ('/a/b'), or undefined if it is not on a cgroup2 mount. */
export function hierarchyPath(dir: string, mountinfo = readProc('/proc/self/mountinfo') ?? ''): string | undefined {
	let best: Cgroup2Mount | undefined;
	for (const mount of parseCgroup2Mounts(mountinfo)) {
		const { mountPoint } = mount;
		const inside = dir === mountPoint || dir.startsWith(mountPoint === '/' ? '/' : `${mountPoint}/`);
		if (inside && (best === undefined || mountPoint.length > best.mountPoint.length)) best = mount;
	}
	if (!best) return undefined;
	const rest = best.mountPoint === '/' ? dir : dir.slice(best.mountPoint.length);
	const root = best.root === '/' ? '' : best.root;
	return `${root}${rest}` || '/';
}
