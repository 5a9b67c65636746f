// Waiting in tests: on an event with a deadline (`within`), or on a condition polled with a
// deadline (`eventually`). Never on a fixed delay: a sleep that decides an order passes on a
// quiet machine and fails on a busy one.

/**
 * uvu has no per-test timeout: every await on a real process goes through this, so a hang
 * fails the test with a message instead of stalling the suite. The deadline is a hang
 * guard, never a measurement: make it generous.
 */
export function within<T>(ms: number, promise: Promise<T>, what = 'operation'): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `check` every `interval` ms until it returns true; fails after `ms`. For conditions
 * that have no event to wait on: a process gone from /proc, a file created by a child.
 */
export async function eventually(ms: number, check: () => boolean | Promise<boolean>, what: string, interval = 10): Promise<void> {
	const end = Date.now() + ms;
	while (!(await check())) {
		if (Date.now() > end) throw new Error(`${what}: not true within ${ms} ms`);
		await sleep(interval);
	}
}

/**
 * A pause, for pacing only (a slow reader, a sampling period): never to let something
 * happen first. Wait for that with `within` or `eventually`.
 */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One turn of the event loop: every microtask and `process.nextTick` callback queued before
 * the call has run when it resolves. No delay and no guess: the host corks the sidecar pipe
 * until the next tick, so a request made before `await nextTurn()` has been written to the
 * pipe (a pipe with room takes it in the write call itself).
 */
export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
