// schemas/bridge-wire.ts: the bridge's binary frame, `u32 child · u8 fd · u8 flags · u16
// reserved (0)` little-endian, then the data (host/bridge/PROTOCOL.md). Bytes written out in
// hex here, not computed with the codec under test.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BRIDGE_PROTOCOL, decodeFrame, encodeFrame, FRAME_EOF, FRAME_HEADER_SIZE, TOKEN_PROTOCOL_PREFIX } from '../schemas/bridge-wire.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

// ---

const constants = suite('bridge wire: the published constants');

constants('subprotocol names and header size never change', () => {
	assert.is(BRIDGE_PROTOCOL, 'pidfd.v1');
	assert.is(TOKEN_PROTOCOL_PREFIX, 'pidfd.token.');
	assert.is(FRAME_HEADER_SIZE, 8);
	assert.is(FRAME_EOF, 1);
});

constants.run();

// ---

const encode = suite('encodeFrame');

encode('header little-endian, then the data', () => {
	assert.is(toHex(encodeFrame(0x04030201, 1, 0, hex('68 69'))), '0102030401000000' + '6869');
	assert.is(toHex(encodeFrame(7, 2, FRAME_EOF, hex('ff'))), '0700000002010000' + 'ff');
});

encode('no data, or empty data: the header alone', () => {
	assert.is(toHex(encodeFrame(7, 0, FRAME_EOF)), '0700000000010000');
	assert.is(toHex(encodeFrame(7, 0, FRAME_EOF, new Uint8Array(0))), '0700000000010000');
});

encode('the largest child id, fd and flags fit', () => {
	assert.is(toHex(encodeFrame(0xffff_ffff, 255, 255)), 'ffffffffffff0000');
});

encode('a new buffer: changing the data afterwards does not change the frame', () => {
	const data = hex('01 02 03');
	const frame = encodeFrame(1, 1, 0, data);
	data.fill(0);
	assert.is(toHex(frame), '0100000001000000' + '010203');
	assert.is(frame.byteOffset, 0);
	assert.is(frame.buffer.byteLength, 11);
});

encode('data at an offset of a larger buffer is copied from that offset only', () => {
	const big = hex('aa bb cc dd ee');
	assert.is(toHex(encodeFrame(2, 1, 0, big.subarray(1, 4))), '0200000001000000' + 'bbccdd');
});

encode.run();

// ---

const decode = suite('decodeFrame');

decode('reads the header and gives the data', () => {
	const f = decodeFrame(hex('04030201 02 01 0000 6869'));
	assert.ok(f);
	assert.is(f!.child, 0x01020304);
	assert.is(f!.fd, 2);
	assert.is(f!.flags, FRAME_EOF);
	assert.is(toHex(f!.data), '6869');
});

decode('the header alone: empty data', () => {
	const f = decodeFrame(hex('07000000 00 01 0000'));
	assert.equal({ child: f!.child, fd: f!.fd, flags: f!.flags, data: f!.data.byteLength }, { child: 7, fd: 0, flags: 1, data: 0 });
});

decode('shorter than a header: undefined', () => {
	for (let n = 0; n < FRAME_HEADER_SIZE; n++) assert.is(decodeFrame(new Uint8Array(n)), undefined, `${n} bytes`);
});

decode('reserved bytes set: undefined', () => {
	assert.is(decodeFrame(hex('07000000 01 00 0100 41')), undefined);
	assert.is(decodeFrame(hex('07000000 01 00 0001 41')), undefined);
	assert.is(decodeFrame(hex('07000000 01 00 ffff')), undefined);
});

decode('a frame at an offset of a larger buffer (a pooled Buffer) is read from its own bytes', () => {
	const pool = hex('ffffffff ffffffff' + '09000000 01 00 0000 616263' + 'eeee');
	const f = decodeFrame(pool.subarray(8, 8 + 11));
	assert.ok(f);
	assert.equal({ child: f!.child, fd: f!.fd, flags: f!.flags }, { child: 9, fd: 1, flags: 0 });
	assert.is(toHex(f!.data), '616263');
	// Node's own Buffer, as ws hands it over, works the same.
	const fromNode = decodeFrame(Buffer.from('0900000001000000616263', 'hex'));
	assert.is(toHex(fromNode!.data), '616263');
});

decode('the data is a view of the frame, not a copy', () => {
	const frame = hex('01000000 01 00 0000 00');
	const f = decodeFrame(frame);
	frame[8] = 0x7a;
	assert.is(f!.data[0], 0x7a);
});

decode.run();

// ---

const roundTrip = suite('encodeFrame → decodeFrame');

roundTrip('every field and the data come back', () => {
	for (const [child, fd, flags, size] of [
		[0, 0, 0, 0],
		[1, 1, FRAME_EOF, 1],
		[0xffff_ffff, 255, 255, 70_000],
		[123_456, 2, 0, 65_536],
	] as const) {
		const data = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
		const f = decodeFrame(encodeFrame(child, fd, flags, data));
		assert.ok(f, `${child}/${fd}/${flags}/${size}`);
		assert.equal({ child: f!.child, fd: f!.fd, flags: f!.flags }, { child, fd, flags });
		assert.ok(Buffer.from(f!.data).equals(Buffer.from(data)), `data of ${size} bytes`);
	}
});

roundTrip.run();
