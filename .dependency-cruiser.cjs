// The layering rule of the design (docs/architecture.md), checked by `npm run lint:deps`
// in CI. Inside host/ dependencies point one way:
//
//   api → cgroup → process → sidecar → kernel → schemas
//
// bridge/ and cli/ stand on the public API (host/index.ts); client/ (browser-safe) uses only
// the shared code of schemas/; nothing imports client/ but ui/.
const HOST_LAYERS = ['api', 'cgroup', 'process', 'sidecar', 'kernel'];

/** Each host layer may not import a layer above it, nor bridge/ or cli/. */
const layerRules = HOST_LAYERS.map((layer, i) => ({
	name: `layer-${layer}`,
	comment: `host/${layer} may depend only on the layers below it (${HOST_LAYERS.slice(i + 1).join(', ') || 'none'}) and schemas/`,
	severity: 'error',
	from: { path: `^host/${layer}/` },
	to: { path: `^host/(${[...HOST_LAYERS.slice(0, i), 'bridge', 'cli', 'pty'].join('|')})/|^host/index\\.ts$` },
}));

/** bridge/, cli/ and pty/ stand on the public API (host/index.ts), not on the internals. */
const publicApiRules = [
	['bridge', 'the WebSocket bridge'],
	['cli', 'the CLI (it may also load the bridge)'],
	['pty', 'the node-pty shim'],
].map(([folder, what]) => ({
	name: `${folder}-uses-public-api`,
	comment: `host/${folder} (${what}) uses host/index.ts and schemas/, not the internals.`,
	severity: 'error',
	from: { path: `^host/${folder}/` },
	to: { path: `^host/(${[...HOST_LAYERS, 'bridge', 'cli', 'pty'].filter((f) => f !== folder && !(folder === 'cli' && f === 'bridge')).join('|')})/` },
}));

module.exports = {
	forbidden: [
		{
			name: 'no-circular',
			comment: 'An import cycle is one top-level use away from a TDZ crash in ESM.',
			severity: 'error',
			from: {},
			to: { circular: true },
		},
		...layerRules,
		...publicApiRules,
		{
			name: 'schemas-import-nothing-of-ours',
			comment: 'schemas/ is the bottom layer: it imports neither host/, client/ nor ui/.',
			severity: 'error',
			from: { path: '^schemas/' },
			to: { path: '^(host|client|ui|assembly)/' },
		},
		{
			name: 'schemas-are-browser-safe',
			comment: 'schemas/ is shared with the browser client: no Node built-ins.',
			severity: 'error',
			from: { path: '^schemas/' },
			to: { dependencyTypes: ['core'] },
		},
		{
			name: 'client-no-host',
			comment: 'client/ uses only the browser-safe shared code of schemas/.',
			severity: 'error',
			from: { path: '^client/' },
			to: { path: '^(host|ui|assembly)/' },
		},
		{
			name: 'client-no-core',
			severity: 'error',
			from: { path: '^client/' },
			to: { dependencyTypes: ['core'] },
		},
		{
			name: 'client-carries-no-zod',
			comment: 'The schemas that import zod reach the client as types only: its bundle carries no schema library.',
			severity: 'error',
			from: { path: '^client/' },
			to: { path: '^schemas/(bridge|spawn|cgroup|exit|kernel)\\.ts$', dependencyTypesNot: ['type-only', 'type-import'] },
		},
		{
			name: 'only-ui-imports-client',
			severity: 'error',
			from: { pathNot: '^(client|ui)/' },
			to: { path: '^client/' },
		},
		{
			name: 'assembly-stands-alone',
			comment: 'The AssemblyScript decoder imports nothing of the TypeScript side.',
			severity: 'error',
			from: { path: '^assembly/' },
			to: { pathNot: '^assembly/' },
		},
	],
	options: {
		doNotFollow: { path: 'node_modules' },
		exclude: { path: '^(dist|node_modules|host/kernel/generated)/' },
		tsPreCompilationDeps: true,
		tsConfig: { fileName: 'tsconfig.json' },
		enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
	},
};
