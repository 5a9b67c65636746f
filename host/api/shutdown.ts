import { Child } from '../process/child.js';
import { InvalidArgumentError } from '../../schemas/errors.js';
import { Sidecar } from '../sidecar/connection.js';
import { signalNumber } from '../../schemas/signals.js';
import { reportDetached } from '../process/report.js';

export interface ShutdownOptions {
	/** The first signal every running child gets. Default `'SIGTERM'`. */
	signal?: string | number;
	/** Milliseconds the children have to exit after `signal`, before SIGKILL. Default 5000. */
	timeout?: number;
}

const inProgress = new WeakMap<Sidecar, Promise<void>>();

/**
 * Ends everything pidfd started, for a host that is about to exit: every running child
 * (except `detached` ones) gets `signal`; those still running after `timeout` ms get SIGKILL;
 * then the sidecar stops. Resolves once the children have been reaped (their `wait()`s have
 * resolved) and the sidecar has exited. A later call starts a new sidecar.
 *
 * Processes opened with `PidFd.open()` are not ours to end: their handles are lost
 * (`wait()` rejects `ERR_PIDFD_SIDECAR_DIED`), the processes are not touched.
 */
export function shutdown(options: ShutdownOptions = {}): Promise<void> {
	const { signal = 'SIGTERM', timeout = 5000 } = options;
	const number = signalNumber(signal);
	if (number === undefined) return Promise.reject(new InvalidArgumentError(`shutdown(): ${String(signal)} is not a signal name or number in 1..64`));
	if (typeof timeout !== 'number' || !(timeout >= 0) || timeout > 2 ** 31 - 1) {
		return Promise.reject(new InvalidArgumentError(`shutdown(): timeout must be a number of ms in 0..2^31-1, got ${String(timeout)}`));
	}
	const sidecar = Sidecar.peek();
	if (!sidecar) return Promise.resolve();
	let done = inProgress.get(sidecar);
	if (!done) {
		done = stop(sidecar, number, timeout);
		inProgress.set(sidecar, done);
	}
	return done;
}

async function stop(sidecar: Sidecar, signal: number, timeout: number): Promise<void> {
	try {
		await sidecar.ready;
	} catch {
		return; // it never started or died already: nothing of its children is left
	}
	const children = sidecar.handles().filter((h): h is Child => h instanceof Child && !h.detached);
	// wait() rejects only when the sidecar died: its children died with it, which is done too.
	const ended = children.map((c) =>
		c.wait().then(
			() => {},
			() => {},
		),
	);
	for (const c of children) c.kill(signal).catch(reportDetached);
	if (!(await settledWithin(ended, timeout))) {
		for (const c of children) if (!c.exited) c.kill('SIGKILL').catch(reportDetached);
		// SIGKILL cannot be caught; a process stuck in the kernel is still killed (and reaped)
		// by the sidecar on its way out, below.
		await settledWithin(ended, timeout);
	}
	await sidecar.stop();
}

/** True if every promise settled within ms. */
async function settledWithin(promises: Promise<void>[], ms: number): Promise<boolean> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const expired = new Promise<false>((resolve) => {
		timer = setTimeout(() => resolve(false), ms);
	});
	try {
		return await Promise.race([Promise.all(promises).then(() => true as const), expired]);
	} finally {
		clearTimeout(timer);
	}
}
