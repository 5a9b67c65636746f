// Writes the frame byte vectors (test/vectors/frames/, described in its README.md): complete
// host -> sidecar request streams of every type, built with the same codec as the frame-level
// tests. The C fuzzers start from them (so they mutate their way into the corners from inputs
// the sidecar accepts) and the TypeScript tests replay them. Rerun after a protocol change:
//   node --import tsx scripts/fuzz-seeds.ts
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STDIO, T, Writer, frame, spawnBody } from '../test/helpers/frames.js';

const dir = join(import.meta.dirname, '..', 'test', 'vectors', 'frames');
const u32s = (...v: number[]) => v.reduce((w, x) => w.u32(x), new Writer()).bytes();

const seeds: Record<string, Buffer[]> = {
	'spawn-true': [frame(T.SPAWN, 1, spawnBody({ argv: ['/bin/true'], env: ['PATH=/usr/bin:/bin'] }))],
	'spawn-path-search': [frame(T.SPAWN, 1, spawnBody({ file: 'sh', argv: ['sh', '-c', 'exit 7'], env: ['PATH=/usr/bin:/bin', 'A=b'], cwd: '/tmp' }))],
	'spawn-all-fields': [
		frame(
			T.SPAWN,
			2,
			spawnBody({
				flags: 1 | 2 | 4 | 8 | 16,
				pdeathsig: 9,
				uid: 0,
				gid: 0,
				umask: 0o22,
				groups: [0, 1, 2],
				file: '/bin/cat',
				argv: ['cat', '-'],
				env: ['PATH=/bin', 'LANG=C'],
				cwd: '/',
				stdio: [
					{ kind: STDIO.PIPE_TO_CHILD },
					{ kind: STDIO.PIPE_FROM_CHILD },
					{ kind: STDIO.FILE, arg: 0o1101, path: '/tmp/out' },
					{ kind: STDIO.INHERIT, arg: 2 },
					{ kind: STDIO.NULL },
					{ kind: STDIO.HOST_FD, arg: 7 },
					{ kind: STDIO.CLOSED },
					{ kind: STDIO.FROM_PIDFD, arg: 3, handle: 1 },
				],
				cgroup: '/sys/fs/cgroup/pidfd',
			}),
		),
	],
	'spawn-namespaces': [
		frame(
			T.SPAWN,
			3,
			spawnBody({
				flags: 32 | 64,
				argv: ['/bin/pwd'],
				env: ['PATH=/bin'],
				cwd: 'sub/dir',
				namespaces: [1 | 2 | 4 | 8 | 16, 65534, 65534, -1, -1],
				root: '/tmp',
			}),
		),
	],
	'spawn-files': [
		frame(
			T.SPAWN,
			1,
			spawnBody({
				argv: ['/bin/cat'],
				env: [],
				stdio: [
					{ kind: STDIO.FILE, arg: 0, path: '/tmp/in.fifo' },
					{ kind: STDIO.FILE, arg: 0o1101, path: 'out.txt' },
					{ kind: STDIO.FILE, arg: 0o2101, path: '/dev/null' },
					{ kind: STDIO.FILE, arg: 0, path: '/dev/tty' },
				],
			}),
		),
	],
	'open-kill-info-alive-close': [
		frame(T.OPEN, 1, new Writer().i32(1).u32(0).bytes()),
		frame(T.KILL, 2, u32s(1, 15, 0)),
		frame(T.KILL, 3, u32s(1, 9, 1)),
		frame(T.INFO, 4, u32s(1, 7)),
		frame(T.ALIVE, 5, u32s(1)),
		frame(T.RELEASE, 6, u32s(1)),
		frame(T.CLOSE, 7, u32s(1)),
		frame(T.CLOSE, 8, u32s(1)),
	],
	'open-thread': [frame(T.OPEN, 1, new Writer().i32(1).u32(1).bytes())],
	'open-then-spawn-from-pidfd': [
		frame(T.OPEN, 1, new Writer().i32(1).u32(0).bytes()),
		frame(T.SPAWN, 2, spawnBody({ argv: ['/bin/true'], env: [], stdio: [{ kind: STDIO.FROM_PIDFD, arg: 0, handle: 1 }] })),
	],
	'spawn-relay-write-shut-credit': [
		frame(
			T.SPAWN,
			1,
			spawnBody({ argv: ['/bin/cat'], env: [], stdio: [{ kind: STDIO.RELAY_TO_CHILD }, { kind: STDIO.RELAY_FROM_CHILD, arg: 65536 }, { kind: STDIO.NULL }] }),
		),
		frame(T.WRITE, 2, new Writer().u32(1).u32(0).raw(Buffer.from('hello')).bytes()),
		frame(T.CREDIT, 0, u32s(1, 1, 4096)),
		frame(T.SHUT, 3, u32s(1, 0)),
		frame(T.SHUT, 4, u32s(1, 1)),
	],
	// A kernel pipeline: a lazy relayed stdout handed to the next child (RELAYED), and a host pipe (HOST_PIPE).
	'spawn-pipeline-handover': [
		frame(
			T.SPAWN,
			1,
			spawnBody({ argv: ['/bin/echo', 'x'], env: [], stdio: [{ kind: STDIO.NULL }, { kind: STDIO.RELAY_FROM_CHILD, arg: -0x80000000 }, { kind: STDIO.NULL }] }),
		),
		frame(
			T.SPAWN,
			2,
			spawnBody({ argv: ['/bin/cat'], env: [], stdio: [{ kind: STDIO.RELAYED, arg: 1, handle: 1 }, { kind: STDIO.HOST_PIPE, arg: 9 }, { kind: STDIO.NULL }] }),
		),
		frame(T.SPAWN, 3, spawnBody({ argv: ['/bin/cat'], env: [], stdio: [{ kind: STDIO.RELAYED, arg: 1, handle: 1 }] })),
		frame(T.CREDIT, 0, u32s(1, 1, 4096)),
	],
	'spawn-terminal-resize': [
		frame(
			T.SPAWN,
			1,
			spawnBody({ argv: ['/bin/sh'], env: [], stdio: [{ kind: STDIO.TERMINAL, arg: (24 << 16) | 80 }, { kind: STDIO.TERMINAL }, { kind: STDIO.TERMINAL }] }),
		),
		frame(T.RESIZE, 2, u32s(1, 100, 40)),
		frame(T.RESIZE, 3, u32s(1, 0, 40)),
		frame(T.WRITE, 4, new Writer().u32(1).u32(0).raw(Buffer.from('exit\n')).bytes()),
	],
	'relay-unknown-streams': [frame(T.WRITE, 1, u32s(9, 0)), frame(T.SHUT, 2, u32s(9, 1)), frame(T.CREDIT, 0, u32s(9, 1, 1)), frame(T.CREDIT, 3, u32s(9))],
	'unknown-type': [frame(999, 1, Buffer.from([1, 2, 3]))],
	'header-flags': [frame(T.KILL, 1, u32s(1, 9, 0), 1)],
	'empty-bodies': [T.SPAWN, T.KILL, T.OPEN, T.CLOSE, T.INFO, T.RELEASE, T.ALIVE].map((t, i) => frame(t, i + 1)),
	'partial-frame': [frame(T.KILL, 1, u32s(1, 9, 0)).subarray(0, 10)],
	'len-zero': [Buffer.alloc(12)],
};

mkdirSync(dir, { recursive: true });
for (const name of readdirSync(dir)) if (name !== 'README.md') rmSync(join(dir, name));
for (const [name, frames] of Object.entries(seeds)) writeFileSync(join(dir, name), Buffer.concat(frames));
console.log(`${Object.keys(seeds).length} frame vectors in ${dir}`);
