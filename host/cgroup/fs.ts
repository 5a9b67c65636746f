import { readFileSync, writeFileSync } from 'node:fs';
import { PidfdError } from '../../schemas/errors.js';

/**
 * Reading and writing cgroupfs files. Every failure becomes a PidfdError that names the
 * file, so "what is missing" is in the message, not only in a code.
 */

/** A Node fs error as a PidfdError: same code and syscall, positive errno, the path, and why we needed it. */
export function fsError(error: unknown, why: string): PidfdError {
	const e = error as NodeJS.ErrnoException;
	const code = e.code ?? 'EIO';
	const syscall = e.syscall ?? 'open';
	const path = e.path ?? '';
	return new PidfdError(code, `${syscall} ${code} ${path}: ${why}`, { syscall, path, cause: error });
}

/** The file's text, or undefined if it does not exist (a controller file of a controller not enabled). */
export function readOptional(path: string): string | undefined {
	try {
		return readFileSync(path, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
		throw fsError(error, 'cannot read a cgroup file');
	}
}

/** A "flat keyed" cgroup file (`key value` per line: cpu.stat, cgroup.events, memory.events). */
export function parseKeyed(text: string): Map<string, number> {
	const result = new Map<string, number>();
	for (const line of text.split('\n')) {
		const space = line.indexOf(' ');
		if (space > 0) result.set(line.slice(0, space), Number(line.slice(space + 1)));
	}
	return result;
}

export function readKeyed(path: string): Map<string, number> | undefined {
	const text = readOptional(path);
	return text === undefined ? undefined : parseKeyed(text);
}

/** A single-number file (memory.current, pids.current); undefined if absent. */
export function readNumber(path: string): number | undefined {
	const text = readOptional(path)?.trim();
	if (text === undefined || text === '' || text === 'max') return undefined;
	return Number(text);
}

/** A space-separated list file (cgroup.controllers, cgroup.subtree_control). */
export function readList(path: string): string[] {
	const text = readOptional(path);
	return text === undefined ? [] : text.split(/\s+/).filter(Boolean);
}

/** The pids of cgroup.procs. An already removed cgroup has none. */
export function readPids(dir: string): number[] {
	return (readOptional(`${dir}/cgroup.procs`) ?? '').split('\n').filter(Boolean).map(Number);
}

/** One write(2) of `text`: cgroupfs takes each write as one command. */
export function writeControl(path: string, text: string, why: string): void {
	try {
		writeFileSync(path, text);
	} catch (error) {
		throw fsError(error, why);
	}
}
