import { constants } from 'node:os';

const byName = constants.signals as Record<string, number>;
const byNumber = new Map<number, string>();
for (const [name, value] of Object.entries(byName)) {
	// SIGIOT/SIGABRT and SIGPOLL/SIGIO share numbers: keep the first, conventional name.
	if (!byNumber.has(value)) byNumber.set(value, name);
}

/** Linux signal numbers run 1..64 (32..64 are the real-time ones, unnamed here). */
export const SIGNAL_MAX = 64;

/** The number of a signal given by name ('SIGTERM', 'TERM', 'sigterm') or number; undefined if not a signal. */
export function signalNumber(signal: string | number): number | undefined {
	if (typeof signal === 'number') return Number.isInteger(signal) && signal >= 1 && signal <= SIGNAL_MAX ? signal : undefined;
	const upper = signal.toUpperCase();
	return byName[upper.startsWith('SIG') ? upper : `SIG${upper}`];
}

/** 'SIGKILL' for 9; 'SIG<n>' for real-time signals, which have no fixed name. */
export function signalName(signal: number): string {
	return byNumber.get(signal) ?? `SIG${signal}`;
}
