// Constants and the binary frame codec of the bridge protocol (host/bridge/PROTOCOL.md).
// Shared by the client and the server, and free of imports, so the browser bundle carries
// no schema library: the server validates, the client trusts its server.

/** The subprotocol that names this protocol's version. Both sides must offer/select it. */
export const BRIDGE_PROTOCOL = 'pidfd.v1';
/** Browsers cannot set an Authorization header: they offer `pidfd.token.<base64url>` instead. */
export const TOKEN_PROTOCOL_PREFIX = 'pidfd.token.';

/** Binary frames: `u32 child · u8 fd · u8 flags · u16 reserved (0)`, little-endian, then data. */
export const FRAME_HEADER_SIZE = 8;
/** Flag: the last frame of this stream (stdin: close it; stdout/stderr: EOF). */
export const FRAME_EOF = 1;

export interface FrameHeader {
	child: number;
	fd: number;
	flags: number;
}

/** Header plus data in one new buffer (a WebSocket message is sent whole). */
export function encodeFrame(child: number, fd: number, flags: number, data?: Uint8Array): Uint8Array {
	const frame = new Uint8Array(FRAME_HEADER_SIZE + (data?.byteLength ?? 0));
	const view = new DataView(frame.buffer);
	view.setUint32(0, child, true);
	view.setUint8(4, fd);
	view.setUint8(5, flags);
	if (data) frame.set(data, FRAME_HEADER_SIZE);
	return frame;
}

/** The header of a received frame, or undefined if it is too short or its reserved bytes are set. */
export function decodeFrame(frame: Uint8Array): (FrameHeader & { data: Uint8Array }) | undefined {
	if (frame.byteLength < FRAME_HEADER_SIZE) return undefined;
	const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
	if (view.getUint16(6, true) !== 0) return undefined;
	return { child: view.getUint32(0, true), fd: view.getUint8(4), flags: view.getUint8(5), data: frame.subarray(FRAME_HEADER_SIZE) };
}
