/**
 * The WebSocket bridge: spawn through this host for clients that cannot (browser pages,
 * sandboxed runtimes), under a policy. Protocol: PROTOCOL.md beside this file.
 */
export { createBridge, type Bridge, type BridgeOptions } from './server.js';
export { serve, startServer, SERVE_USAGE, type RunningServer, type ServeIO } from './serve.js';
export { generateToken } from './auth.js';
export type { Policy } from './policy.js';
export type { PolicyFile } from '../../schemas/bridge.js';
