import * as z from 'zod';

/** Bytes as a number, or a string with a binary suffix: '512M', '2G' (K, M, G, T; powers of 1024). */
export const ByteSize = z.union([
	z.number().int().positive(),
	z.string().regex(/^\d+(\.\d+)?\s*[KMGT]?i?B?$/i, { message: "must be bytes, or a size like '512M' or '2G'" }),
]);
export type ByteSize = z.infer<typeof ByteSize>;

/**
 * Budgets of a contained child tree, written to its cgroup before the child starts. Each one
 * needs its cgroup2 controller (memory, pids, cpu); where the controller is missing, spawn
 * fails naming it instead of running without the budget.
 */
export const Limits = z.strictObject({
	/** memory.max: the tree's memory, in bytes or as '512M'. Past it the kernel reclaims, then OOM-kills inside the tree. */
	memoryMax: ByteSize.optional(),
	/** pids.max: at most this many processes and threads in the tree at once; fork beyond it fails (EAGAIN). */
	pidsMax: z
		.number()
		.int()
		.positive()
		.max(2 ** 31 - 1)
		.optional(),
	/** cpu.max: at most this many CPUs' worth of time (0.5: half of one CPU, 2: two CPUs), over 100 ms periods. */
	cpuMax: z.number().min(0.01).max(4096).optional(),
});
export type Limits = z.infer<typeof Limits>;

/** Where a scope's cgroup goes, and its budgets. */
export const ScopeOptions = z.strictObject({
	/**
	 * The cgroup2 directory pidfd creates scopes under. Default: `pidfd-<host pid>` inside the
	 * host's own cgroup (found from /proc/self/cgroup and /proc/self/mountinfo).
	 */
	root: z
		.string()
		.min(1)
		.refine((s) => !s.includes('\0'), { message: 'must not contain NUL bytes' })
		.optional(),
	/** The scope's directory name under the root. Default: `scope-<host pid>-<n>` (`child-…` for `contain`). */
	name: z
		.string()
		.regex(/^[A-Za-z0-9_.@:-]+$/, { message: 'must be a plain directory name' })
		.refine((s) => s !== '.' && s !== '..')
		.optional(),
	limits: Limits.optional(),
});
export type ScopeOptions = z.input<typeof ScopeOptions>;

/** The `contain` spawn option: true for a fresh scope with the defaults, or its options. */
export const Contain = z.union([z.boolean(), ScopeOptions]);
export type Contain = z.input<typeof Contain>;
