import { type FSWatcher, watch } from 'node:fs';
import { readKeyed } from './fs.js';

/**
 * Waiting on cgroup.events (`populated`, `frozen`). The kernel sends an inotify modify
 * event on that file when a value changes, so fs.watch wakes us at once; a slow poll backs it
 * up (a watcher that cannot be set up, or a change that raced its setup).
 */

const POLL_MS = 50;

/** The value of `key` in cgroup.events; a cgroup that is gone reads as empty and thawed. */
export function eventValue(dir: string, key: 'populated' | 'frozen'): number {
	return readKeyed(`${dir}/cgroup.events`)?.get(key) ?? 0;
}

/** Resolves true once cgroup.events has `key value`, false if `timeoutMs` passes first. */
export function waitForEvent(dir: string, key: 'populated' | 'frozen', value: 0 | 1, timeoutMs: number): Promise<boolean> {
	if (eventValue(dir, key) === value) return Promise.resolve(true);
	return new Promise<boolean>((resolve) => {
		let watcher: FSWatcher | undefined;
		const finish = (result: boolean) => {
			clearTimeout(timer);
			clearInterval(poll);
			watcher?.close();
			resolve(result);
		};
		const check = () => {
			try {
				if (eventValue(dir, key) === value) finish(true);
			} catch {
				// unreadable for a moment: the next event or poll tells
			}
		};
		const timer = setTimeout(() => finish(eventValue(dir, key) === value), timeoutMs);
		const poll = setInterval(check, POLL_MS);
		try {
			watcher = watch(`${dir}/cgroup.events`, { persistent: false }, check);
			watcher.on('error', () => {});
		} catch {
			// no inotify here: the poll does it
		}
		check(); // a change between the first read and the watch
	});
}
