import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PidfdError } from '../schemas/errors.js';
import { locateSidecar } from '../host/sidecar/locate.js';

const locate = suite('locateSidecar: PIDFD_SIDECAR, beside the bundle, clear errors');
let dir = '';
const saved = process.env.PIDFD_SIDECAR;

locate.before(() => {
	dir = mkdtempSync(join(tmpdir(), 'pidfd-locate-'));
});

locate.after.each(() => {
	if (saved === undefined) delete process.env.PIDFD_SIDECAR;
	else process.env.PIDFD_SIDECAR = saved;
});

locate.after(() => rmSync(dir, { recursive: true, force: true }));

function failure(): PidfdError {
	try {
		locateSidecar();
	} catch (error) {
		assert.instance(error, PidfdError);
		return error as PidfdError;
	}
	return assert.unreachable('locateSidecar() found a sidecar') as never;
}

locate('without PIDFD_SIDECAR: dist/pidfd-sidecar of the checkout', () => {
	delete process.env.PIDFD_SIDECAR;
	assert.match(locateSidecar(), /\/dist\/pidfd-sidecar$/);
});

locate('PIDFD_SIDECAR wins', () => {
	const path = join(dir, 'my-sidecar');
	copyFileSync('dist/pidfd-sidecar', path);
	chmodSync(path, 0o755);
	process.env.PIDFD_SIDECAR = path;
	assert.is(locateSidecar(), path);
});

locate('missing: ENOENT that says how to build it', () => {
	process.env.PIDFD_SIDECAR = join(dir, 'no-such-sidecar');
	const error = failure();
	assert.is(error.code, 'ENOENT');
	assert.is(error.path, join(dir, 'no-such-sidecar'));
	assert.match(error.message, /not found/);
	assert.match(error.message, /npm run build:sidecar/);
	assert.match(error.message, /PIDFD_SIDECAR/);
});

locate('a directory is not a sidecar', () => {
	mkdirSync(join(dir, 'a-directory'));
	process.env.PIDFD_SIDECAR = join(dir, 'a-directory');
	assert.is(failure().code, 'ENOENT');
});

locate('not executable: EACCES that says chmod +x or rebuild', () => {
	const path = join(dir, 'not-executable');
	copyFileSync('dist/pidfd-sidecar', path);
	chmodSync(path, 0o644);
	process.env.PIDFD_SIDECAR = path;
	const error = failure();
	assert.is(error.code, 'EACCES');
	assert.match(error.message, /not executable/);
	assert.match(error.message, /chmod \+x/);
	assert.match(error.message, /npm run build:sidecar/);
});

locate.run();
