import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BodyReader, type Frame, FrameDecoder, FrameWriter, ProtocolError } from '../host/sidecar/framing.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function collect(chunks: Buffer[]): { type: number; id: number; body: string }[] {
	const out: { type: number; id: number; body: string }[] = [];
	const decoder = new FrameDecoder();
	for (const c of chunks) decoder.push(c, (f: Frame) => out.push({ type: f.type, id: f.id, body: f.body.toString('hex') }));
	return out;
}

// Two frames: OK(200) to request 7 with an empty body; ERROR(201) to request 8: errno 3, syscall 5, "".
const TWO = hex('08000000 c800 0000 07000000   14000000 c900 0000 08000000 03000000 05000000 00000000');

const decoder = suite('FrameDecoder');

decoder('whole frames in one chunk', () => {
	assert.equal(collect([TWO]), [
		{ type: 200, id: 7, body: '' },
		{ type: 201, id: 8, body: '030000000500000000000000' },
	]);
});

decoder('the same bytes split at every possible point', () => {
	const whole = collect([TWO]);
	for (let i = 1; i < TWO.length; i++) assert.equal(collect([TWO.subarray(0, i), TWO.subarray(i)]), whole, `split at ${i}`);
});

decoder('one byte at a time', () => {
	assert.equal(collect([...TWO].map((b) => Buffer.from([b]))), collect([TWO]));
});

decoder('a length below the header or above the maximum is a ProtocolError', () => {
	assert.throws(
		() => collect([hex('04000000 c800 0000')]),
		(e: unknown) => e instanceof ProtocolError,
	);
	assert.throws(
		() => collect([hex('ffffffff c800 0000 00000000')]),
		(e: unknown) => e instanceof ProtocolError,
	);
});

/** Frames with DATA (303) streamed: every other frame whole, DATA bytes joined per stream. */
function collectStreamed(
	chunks: Buffer[],
	reused = false,
): { frames: { type: number; id: number; body: string }[]; data: Map<string, string>; pieces: number } {
	const frames: { type: number; id: number; body: string }[] = [];
	const data = new Map<string, string>();
	let pieces = 0;
	const decoder = new FrameDecoder(undefined, {
		type: 303,
		onData: (handle, fd, bytes) => {
			pieces++;
			data.set(`${handle}/${fd}`, (data.get(`${handle}/${fd}`) ?? '') + bytes.toString('hex'));
		},
	});
	// `reused`: as a reader with one buffer of its own (the outlet's `onread`): every chunk is
	// read into the same buffer, which is scribbled over once the push returns.
	const buffer = Buffer.alloc(Math.max(0, ...chunks.map((c) => c.length)));
	for (const c of chunks) {
		const chunk = reused ? buffer.subarray(0, c.copy(buffer)) : c;
		decoder.push(chunk, (f: Frame) => frames.push({ type: f.type, id: f.id, body: f.body.toString('hex') }), reused);
		if (reused) buffer.fill(0xee);
	}
	return { frames, data, pieces };
}

function dataFrame(handle: number, fd: number, bytes: Buffer): Buffer {
	const w = new FrameWriter();
	return w.u32(handle).u32(fd).bytes(bytes).finish(303, 0);
}

decoder('streamed DATA: pieces as they come, whatever the split, other frames whole and in order', () => {
	const payload = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
	const stream = Buffer.concat([TWO, dataFrame(5, 1, payload), TWO, dataFrame(5, 2, payload.subarray(0, 7)), dataFrame(6, 1, Buffer.alloc(0)), TWO]);
	const whole = collectStreamed([stream]);
	assert.is(whole.data.get('5/1'), payload.toString('hex'));
	assert.is(whole.data.get('5/2'), payload.subarray(0, 7).toString('hex'));
	assert.is(whole.frames.length, 6);
	for (let i = 1; i < stream.length; i++) {
		const split = collectStreamed([stream.subarray(0, i), stream.subarray(i)]);
		assert.equal(split.frames, whole.frames, `split at ${i}`);
		assert.equal(split.data, whole.data, `split at ${i}`);
	}
	const bytewise = collectStreamed([...stream].map((b) => Buffer.from([b])));
	assert.equal(bytewise.frames, whole.frames);
	assert.equal(bytewise.data, whole.data);
	// Split in 3: the DATA frame's bytes come in more than one piece, never assembled.
	assert.ok(collectStreamed([stream.subarray(0, 100), stream.subarray(100, 200), stream.subarray(200)]).pieces >= 2);
});

decoder('a reader that reuses its buffer (transient pushes): what waits for the next read is a copy', () => {
	const payload = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff));
	const stream = Buffer.concat([TWO, dataFrame(5, 1, payload), TWO, dataFrame(6, 2, payload.subarray(0, 9)), TWO]);
	const whole = collectStreamed([stream]);
	for (let i = 1; i < stream.length; i++) {
		const split = collectStreamed([stream.subarray(0, i), stream.subarray(i)], true);
		assert.equal(split.frames, whole.frames, `split at ${i}`);
		assert.equal(split.data, whole.data, `split at ${i}`);
	}
	const bytewise = collectStreamed(
		[...stream].map((b) => Buffer.from([b])),
		true,
	);
	assert.equal(bytewise.frames, whole.frames);
	assert.equal(bytewise.data, whole.data);
});

decoder('streamed DATA: a body too short for its head is handed on whole (the codec refuses it)', () => {
	const short = hex('0c000000 2f01 0000 00000000 05000000');
	assert.equal(collectStreamed([short]).frames, [{ type: 303, id: 0, body: '05000000' }]);
});

decoder.run();

// ---

const writer = suite('FrameWriter / BodyReader');

writer('round trip of u32, i32 and strings', () => {
	const w = new FrameWriter();
	const frame = w.u32(0xfffffffe).i32(-1).str('héllo').str('').finish(101, 42);
	assert.is(frame.readUInt32LE(0), frame.length - 4);
	const [f] = collect([frame]);
	assert.is(f!.type, 101);
	assert.is(f!.id, 42);
	const r = new BodyReader(Buffer.from(f!.body, 'hex'));
	assert.is(r.u32(), 0xfffffffe);
	assert.is(r.i32(), -1);
	assert.is(r.str(), 'héllo');
	assert.is(r.str(), '');
	r.end();
});

writer('a writer grows for large frames and resets after finish', () => {
	const w = new FrameWriter();
	const big = 'x'.repeat(100_000);
	const frame = w.str(big).finish(100, 1);
	assert.is(frame.length, 12 + 4 + 100_000);
	assert.is(w.finish(200, 2).length, 12);
});

writer('reading past the body or leaving bytes behind throws', () => {
	assert.throws(
		() => new BodyReader(Buffer.alloc(2)).u32(),
		(e: unknown) => e instanceof ProtocolError,
	);
	assert.throws(
		() => new BodyReader(hex('05000000 6162')).str(),
		(e: unknown) => e instanceof ProtocolError,
	);
	const r = new BodyReader(Buffer.alloc(8));
	r.u32();
	assert.throws(
		() => r.end(),
		(e: unknown) => e instanceof ProtocolError,
	);
});

writer.run();
