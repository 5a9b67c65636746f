/**
 * pidfd/client: spawn processes on a `pidfd serve` host over a WebSocket, with the same API
 * as local code. Uses only web standards (WebSocket, Web streams, TextEncoder), so it runs
 * unchanged in browsers, Deno (`--allow-net` only), Bun, workers and Node.
 *
 * ```ts
 * import { connect } from 'pidfd/client';
 * const host = await connect('ws://127.0.0.1:8080/', { token });
 * const { stdout, exit } = await host.run('echo', ['hi'], { encoding: 'utf8' });
 * ```
 */
import { type BridgeConnection, type ConnectOptions, type RemoteSpawnOptions, connect as open } from './connection.js';
import type { RemoteChild } from './child.js';
import { type RemoteRunOptions, type RemoteRunResult, runRemote } from './run.js';

export { PidfdError, RunError } from '../schemas/errors.js';
export type { RemoteChild, RemoteKillOptions, RemoteTerminal } from './child.js';
export type { BridgeConnection, ConnectOptions, RemoteSpawnOptions, WebSocketConstructor } from './connection.js';
export type { RemoteRunOptions, RemoteRunResult } from './run.js';
export type { ExitInfo } from '../schemas/exit.js';
export type { Rusage, Siginfo } from '../schemas/kernel.js';
export type { ProcessSummary } from '../schemas/bridge.js';

/** A connected host: spawn, run, list and close. */
export interface RemoteHost {
	/** Starts `file` on the host; resolves once it runs. Policy refusals reject with code EPERM. */
	spawn(file: string, args?: readonly string[], options?: RemoteSpawnOptions): Promise<RemoteChild>;
	/** Runs to the end and collects stdout/stderr, like the local `run()`. */
	run(file: string, args?: readonly string[], options?: RemoteRunOptions & { encoding: 'utf8' }): Promise<RemoteRunResult<string>>;
	run(file: string, args?: readonly string[], options?: RemoteRunOptions & { encoding?: 'buffer' }): Promise<RemoteRunResult<Uint8Array>>;
	/** This connection's processes: running and recently ended, with CPU time and peak RSS. */
	list: BridgeConnection['list'];
	/** What the host allows (maxPayload, maxProcsPerConnection, maxWindow, maxRuntimeMs). */
	readonly limits: BridgeConnection['limits'];
	/** The executables the host allows, as absolute paths; spawn takes the path or its basename. */
	readonly allow: readonly string[];
	/** Whether the host allows terminal sessions (`terminal` in spawn): its policy's allowTerminal. */
	readonly allowTerminal: boolean;
	/** Resolves when the connection ends, for whatever reason. */
	readonly closed: Promise<void>;
	/** Ends the connection; the host kills the children it started (except detached ones). */
	close(): Promise<void>;
}

/** Connects to a `pidfd serve` host and waits for its hello. Refusals reject with ECONNREFUSED. */
export async function connect(url: string | URL, options: ConnectOptions): Promise<RemoteHost> {
	const connection = await open(url, options);
	return {
		spawn: (file, args, spawnOptions) => connection.spawn(file, args, spawnOptions),
		run: ((file: string, args: readonly string[] = [], runOptions: RemoteRunOptions = {}) =>
			runRemote(connection, file, args, runOptions)) as RemoteHost['run'],
		list: () => connection.list(),
		limits: connection.limits,
		allow: connection.allow,
		allowTerminal: connection.allowTerminal,
		closed: connection.closed,
		close: () => connection.close(),
	};
}
