// Running a program or a fixture to its end from a test, and reading what it reports.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { within } from './deadline.js';
import { isAlive } from './proc.js';

export interface Exited {
	code: number;
	stdout: string;
	stderr: string;
}

const REPO = resolve(import.meta.dirname ?? '.', '..', '..');

/** `file args` run in the repository to its exit (or failed after `ms`), with its output. */
export function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, ms = 60_000): Promise<Exited> {
	return within(
		ms,
		new Promise((done) => {
			execFile(file, args, { env, cwd: REPO, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
				done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
			});
		}),
		`${file} ${args.join(' ')}`,
	);
}

/**
 * The last line of a fixture's stdout, parsed: the fixtures print one JSON report. Throws
 * with the fixture's output if there is none, if it reports an `error`, or if it exits non-zero.
 */
export function fixtureReport(r: Exited): Record<string, any> {
	const line = r.stdout.trim().split('\n').pop() ?? '';
	let parsed: Record<string, any>;
	try {
		parsed = JSON.parse(line);
	} catch {
		throw new Error(`fixture printed no report (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
	}
	if (parsed.error) throw new Error(`fixture failed: ${parsed.error}\n${r.stderr}`);
	if (r.code !== 0) throw new Error(`fixture reported, then exited ${r.code}:\n${r.stderr}`);
	return parsed;
}

/** Pids of live processes whose command line contains `marker`. */
export function withMarker(marker: string): number[] {
	const pids: number[] = [];
	for (const name of readdirSync('/proc')) {
		if (!/^\d+$/.test(name)) continue;
		try {
			if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(marker) && isAlive(Number(name))) pids.push(Number(name));
		} catch {}
	}
	return pids;
}
