// Signal names and numbers, shared by the library, the schemas and the browser client: a
// static table (no `node:os`), the numbering of x86, Arm and RISC-V Linux.

const NAMES = [
	'',
	'SIGHUP',
	'SIGINT',
	'SIGQUIT',
	'SIGILL',
	'SIGTRAP',
	'SIGABRT',
	'SIGBUS',
	'SIGFPE',
	'SIGKILL',
	'SIGUSR1',
	'SIGSEGV',
	'SIGUSR2',
	'SIGPIPE',
	'SIGALRM',
	'SIGTERM',
	'SIGSTKFLT',
	'SIGCHLD',
	'SIGCONT',
	'SIGSTOP',
	'SIGTSTP',
	'SIGTTIN',
	'SIGTTOU',
	'SIGURG',
	'SIGXCPU',
	'SIGXFSZ',
	'SIGVTALRM',
	'SIGPROF',
	'SIGWINCH',
	'SIGIO',
	'SIGPWR',
	'SIGSYS',
] as const;

const byName = new Map<string, number>();
NAMES.forEach((name, number) => {
	if (name) byName.set(name, number);
});
// Second names of the same numbers; NAMES keeps the conventional one for signalName().
byName.set('SIGIOT', 6);
byName.set('SIGPOLL', 29);
byName.set('SIGCLD', 17);

/** Linux signal numbers run 1..64 (32..64 are the real-time ones, unnamed here). */
export const SIGNAL_MAX = 64;

/** The number of a signal given by name ('SIGTERM', 'TERM', 'sigterm') or number; undefined if not a signal. */
export function signalNumber(signal: string | number): number | undefined {
	if (typeof signal === 'number') return Number.isInteger(signal) && signal >= 1 && signal <= SIGNAL_MAX ? signal : undefined;
	if (typeof signal !== 'string') return undefined;
	const upper = signal.toUpperCase();
	// Real-time signals have no fixed name: 'SIG34' is what signalName() gives for them.
	const realtime = /^SIG(3[2-9]|[45]\d|6[0-4])$/.exec(upper);
	if (realtime) return Number(realtime[1]);
	return byName.get(upper.startsWith('SIG') ? upper : `SIG${upper}`);
}

/** 'SIGKILL' for 9; 'SIG<n>' for real-time signals, which have no fixed name. */
export function signalName(signal: number): string {
	return NAMES[signal] || `SIG${signal}`;
}
