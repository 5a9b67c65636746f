/**
 * Which JavaScript runtime hosts us. Used only where Bun's or Deno's node: compatibility
 * layer differs from Node in a way that cannot be detected by trying (it fails silently).
 */
export const runtime: 'node' | 'bun' | 'deno' = (() => {
	const versions = process.versions as Record<string, string | undefined>;
	return versions.bun !== undefined ? 'bun' : versions.deno !== undefined ? 'deno' : 'node';
})();
