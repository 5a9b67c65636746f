/**
 * uvu has no per-test timeout: every await on a real process goes through this, so a hang
 * fails the test with a message instead of stalling the suite.
 */
export function within<T>(ms: number, promise: Promise<T>, what = 'operation'): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or `ms` pass. */
export async function eventually(ms: number, check: () => boolean | Promise<boolean>, what: string): Promise<void> {
	const end = Date.now() + ms;
	while (!(await check())) {
		if (Date.now() > end) throw new Error(`${what}: not true within ${ms} ms`);
		await sleep(10);
	}
}
