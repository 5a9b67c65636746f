/** Nearest-rank percentile (p in 0..100), the same rule as bench/floor.c. */
export function percentile(values: readonly number[], p: number): number {
	if (values.length === 0) return Number.NaN;
	const sorted = [...values].sort((a, b) => a - b);
	const rank = Math.ceil((p / 100) * sorted.length) - 1;
	return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/** Median of the finite values; NaN when there are none. */
export function median(values: readonly (number | null | undefined)[]): number {
	const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
	if (finite.length === 0) return Number.NaN;
	const sorted = finite.sort((a, b) => a - b);
	const mid = sorted.length >> 1;
	return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
