// A test that needs what this machine may lack (a kernel feature, a command, a writable
// cgroup2) is probed before it is registered: it runs, or it is a uvu skip (counted in the
// summary's "Skipped"), with its reason printed once. Never an early return that passes.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Callback, Test } from 'uvu';

/** Registers `fn` as a test of `suite` if `condition` holds, else as a skip, saying why. */
export function testIf<T>(suite: Test<T>, condition: unknown, reason: string, name: string, fn: Callback<T>): void {
	if (condition) {
		suite(name, fn);
		return;
	}
	console.log(`  skip: ${name}: ${reason}`);
	suite.skip(name, fn);
}

/** True if `name` is an executable file in a directory of PATH. */
export function commandExists(name: string): boolean {
	return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, name)));
}
