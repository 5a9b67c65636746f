// The frame byte vectors of test/vectors/frames/ are the C fuzzers' seed corpus too (see the
// README there). Replayed here through the host's own codec: the frame decoder splits them
// the same way however the bytes arrive, and the host's SPAWN encoder produces the SPAWN
// vectors byte for byte, so the fuzzer starts from exactly what a host sends.
import { readdirSync, readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Frame, FrameDecoder, FrameWriter, ProtocolError } from '../host/sidecar/framing.js';
import { encodeSpawn } from '../host/sidecar/messages.js';
import { MessageType, StdioKind, type WireSpawn } from '../host/sidecar/protocol.js';

const DIR = new URL('./vectors/frames/', import.meta.url);
const vectors = readdirSync(DIR)
	.filter((name) => !name.endsWith('.md'))
	.sort();

interface Decoded {
	frames: { type: number; id: number; body: string }[];
	leftover: boolean;
	error?: string;
}

/** Decodes `bytes` delivered in the given chunk sizes (cycled). */
function decode(bytes: Buffer, chunk: number): Decoded {
	const decoder = new FrameDecoder();
	const frames: Decoded['frames'] = [];
	const onFrame = (f: Frame) => frames.push({ type: f.type, id: f.id, body: f.body.toString('hex') });
	try {
		for (let at = 0; at < bytes.length; at += chunk) decoder.push(bytes.subarray(at, at + chunk), onFrame);
	} catch (error) {
		assert.instance(error, ProtocolError);
		return { frames, leftover: false, error: (error as Error).message };
	}
	// A whole stream leaves nothing behind: push a complete extra frame and see it come out alone.
	const probe = new FrameWriter().finish(MessageType.ALIVE, 0xabcdef);
	const before = frames.length;
	decoder.push(probe, onFrame);
	const leftover = frames.length !== before + 1 || frames[frames.length - 1]!.id !== 0xabcdef;
	frames.length = before;
	return { frames, leftover };
}

const replay = suite('frame vectors through the host frame decoder');

replay('the folder holds the vectors the fuzzers seed from', () => {
	for (const name of ['spawn-true', 'spawn-all-fields', 'open-kill-info-alive-close', 'len-zero', 'partial-frame']) {
		assert.ok(vectors.includes(name), name);
	}
});

for (const name of vectors) {
	replay(`${name}: the same frames whether it arrives whole or a byte at a time`, () => {
		const bytes = readFileSync(new URL(name, DIR));
		const whole = decode(bytes, bytes.length || 1);
		for (const chunk of [1, 3, 7, 12, 13]) assert.equal(decode(bytes, chunk), whole, `chunks of ${chunk}`);
		if (name === 'len-zero') assert.match(whole.error ?? '', /frame length 0 out of range/);
		else assert.is(whole.error, undefined);
		assert.is(whole.leftover, name === 'partial-frame', 'only the partial frame leaves bytes waiting');
	});
}

replay.run();

// ---

const golden = suite('SPAWN vectors are what the host encoder writes');

function spawnFrame(id: number, request: Partial<WireSpawn> & Pick<WireSpawn, 'argv'>): Buffer {
	const full: WireSpawn = {
		flags: 0,
		pdeathsig: 0,
		uid: -1,
		gid: -1,
		umask: 0xffffffff,
		groups: [],
		file: '', // the sidecar then runs argv[0]
		env: [],
		cwd: '',
		stdio: [
			{ kind: StdioKind.NULL, arg: 0, path: '' },
			{ kind: StdioKind.NULL, arg: 0, path: '' },
			{ kind: StdioKind.INHERIT, arg: 2, path: '' },
		],
		...request,
	};
	const w = new FrameWriter();
	encodeSpawn(w, full);
	return w.finish(MessageType.SPAWN, id);
}

const expected: Record<string, Buffer> = {
	'spawn-true': spawnFrame(1, { argv: ['/bin/true'], env: ['PATH=/usr/bin:/bin'] }),
	'spawn-path-search': spawnFrame(1, { file: 'sh', argv: ['sh', '-c', 'exit 7'], env: ['PATH=/usr/bin:/bin', 'A=b'], cwd: '/tmp' }),
	'spawn-all-fields': spawnFrame(2, {
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
			{ kind: StdioKind.PIPE_TO_CHILD, arg: 0, path: '' },
			{ kind: StdioKind.PIPE_FROM_CHILD, arg: 0, path: '' },
			{ kind: StdioKind.FILE, arg: 0o1101, path: '/tmp/out' },
			{ kind: StdioKind.INHERIT, arg: 2, path: '' },
			{ kind: StdioKind.NULL, arg: 0, path: '' },
			{ kind: StdioKind.HOST_FD, arg: 7, path: '' },
			{ kind: StdioKind.CLOSED, arg: 0, path: '' },
			{ kind: StdioKind.FROM_PIDFD, arg: 3, path: '', handle: 1 },
		],
		cgroup: '/sys/fs/cgroup/pidfd',
	}),
};

for (const [name, frame] of Object.entries(expected)) {
	golden(name, () => {
		assert.equal(readFileSync(new URL(name, DIR)).toString('hex'), frame.toString('hex'));
	});
}

golden.run();
