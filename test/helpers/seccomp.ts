// A sidecar on a simulated kernel: test/fixtures/seccomp-exec.c, built with gcc, wrapped in a
// script that PIDFD_SIDECAR can name. Tests that need it are skips where gcc is missing.
import { chmodSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as assert from 'uvu/assert';
import { exec } from './exec.js';
import { commandExists } from './skip.js';

/** Why such a test cannot run here, or '' when it can. */
export const seccompMissing = commandExists('gcc') ? '' : 'gcc is not installed to build the seccomp helper';

const REPO = resolve(import.meta.dirname ?? '.', '..', '..');

/**
 * Builds the helper into `dir` and writes `dir/name`: the sidecar under test (PIDFD_SIDECAR,
 * else the built one) exec'd behind a filter with `rules` (see seccomp-exec.c). Returns its path.
 */
export async function seccompSidecar(dir: string, name: string, rules: string[]): Promise<string> {
	const helper = join(dir, 'seccomp-exec');
	const built = await exec('gcc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', helper, 'test/fixtures/seccomp-exec.c']);
	assert.is(built.code, 0, built.stderr);
	const wrapper = join(dir, name);
	writeFileSync(wrapper, `#!/bin/sh\nexec '${helper}' ${rules.join(' ')} -- '${process.env.PIDFD_SIDECAR ?? join(REPO, 'dist', 'pidfd-sidecar')}'\n`);
	chmodSync(wrapper, 0o755);
	return wrapper;
}
