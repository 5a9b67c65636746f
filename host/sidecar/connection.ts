import { type ChildProcess, spawn as spawnProcess } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { ErrorCode, PidfdError } from '../../schemas/errors.js';
import { type Frame, FrameDecoder, FrameWriter, MAX_FRAME, ProtocolError } from './framing.js';
import { locateSidecar } from './locate.js';
import { decodeError, decodeFatal, decodeHello, decodeListening, decodeStreamEvent, eventHandle } from './messages.js';
import { explainDenied } from './permissions.js';
import { type Hello, MessageType, PROTOCOL_VERSION } from './protocol.js';
import { runtime } from './runtime.js';
import { type TraceRecord, traceLog, traceNow } from './trace.js';

/** What a relayed stream (stdio carried through the sidecar) hears about itself. */
export interface StreamSink {
	/**
	 * DATA: bytes from the child, a view into what was read from the sidecar. `transient`: the
	 * connection reads into that buffer again, so the view is valid only during the call
	 * (copy to keep); else nothing reuses it and it may be kept.
	 */
	onData(data: Buffer, transient: boolean): void;
	/** EOF: the child's end closed (errno 0) or reading it failed. */
	onEof(errno: number): void;
	/** WRITABLE: the pipe to the child has room again after a short WRITE. */
	onWritable(): void;
	/** The sidecar died: the stream can go no further. */
	onLost(error: PidfdError): void;
}

/**
 * The outlet (sidecar/outlet.c): a socket the host connects to itself and reads into one
 * buffer of its own (`onread`), where the pipe child_process gives it is read into a fresh
 * 64 KiB Buffer per read. Node only: Bun and Deno have no `onread`.
 */
const outletPossible = runtime === 'node';
/** The outlet's read buffer: a read takes what the socket holds, several DATA frames at once. */
const OUTLET_READ = 256 * 1024;

/** Streams are named by their process's handle and the child's fd. */
const streamKey = (handle: number, fd: number) => handle * 256 + fd;

/** What a process handle hears from the sidecar about its process. */
export interface Watcher {
	/** EXIT or EXITED arrived; the body is only valid during the call. */
	onEvent(type: number, body: Buffer): void;
	/** The sidecar died: the handle can no longer learn anything. */
	onLost(error: PidfdError): void;
}

interface Pending {
	decode: (frame: Frame) => unknown;
	resolve: (value: unknown) => void;
	reject: (error: Error) => void;
	/** What the request was about, for the error's context. */
	pid: number | undefined;
}

/**
 * One running sidecar: launches it, speaks the frame protocol, matches replies to requests
 * and routes events to handles. Shared by every call of one host (see `Sidecar.get()`).
 */
export class Sidecar {
	static #current: Sidecar | undefined;

	/** The host's sidecar, started on first use; a new one after the last one died. */
	static get(): Sidecar {
		if (!Sidecar.#current || Sidecar.#current.#failure || Sidecar.#current.#stopping) Sidecar.#current = new Sidecar();
		return Sidecar.#current;
	}

	/** The current sidecar if one is running, without starting one. */
	static peek(): Sidecar | undefined {
		const current = Sidecar.#current;
		return current && !current.#failure && !current.#stopping ? current : undefined;
	}

	/** HELLO: version, features, pid. Resolves once the sidecar has introduced itself. */
	readonly ready: Promise<Hello>;
	hello: Hello | undefined;

	readonly #proc: ChildProcess;
	readonly #writer = new FrameWriter();
	/** DATA is streamed: its bytes reach the stream as views of each read, never assembled. */
	readonly #decoder = new FrameDecoder(MAX_FRAME, { type: MessageType.DATA, onData: (handle, fd, bytes) => this.#onData(handle, fd, bytes) });
	readonly #pending = new Map<number, Pending>();
	readonly #watchers = new Map<number, Watcher>();
	readonly #streams = new Map<number, StreamSink>();
	#nextId = 1;
	/** Whether what is being decoded is a buffer the next read reuses (see StreamSink.onData). */
	#transient = false;
	/** Where the output goes once MOVED is read (useOutlet()); undefined: stdout. */
	#outlet: Socket | undefined;
	#outletAsked = false;
	/** MOVED was read: the output comes through the outlet only. */
	#moved = false;
	#refs = 0;
	#corked = false;
	/** PIDFD_TRACE: the traced requests of this tick's corked write. */
	#tracedCorked: TraceRecord[] = [];
	#failure: PidfdError | undefined;
	#stopping: Promise<void> | undefined;
	readonly #closed: Promise<void>;
	#resolveHello!: (hello: Hello) => void;
	#rejectHello!: (error: Error) => void;

	private constructor() {
		this.ready = new Promise<Hello>((resolve, reject) => {
			this.#resolveHello = resolve;
			this.#rejectHello = reject;
		});
		this.ready.catch(() => {});
		const path = locateSidecar();
		// fds 3-5 carry the host's own stdio, so children can inherit it.
		const hostFds = [0, 1, 2].map(hostStdioFd);
		try {
			this.#proc = spawnProcess(path, [], {
				stdio: ['pipe', 'pipe', 'inherit', ...hostFds],
			});
		} catch (error) {
			throw explainDenied(error, `starting the sidecar ${path}`);
		}
		const { stdin, stdout } = this.#proc;
		if (!stdin || !stdout) throw new PidfdError(ErrorCode.SIDECAR_DIED, 'pidfd: sidecar started without its pipes', { syscall: 'spawn' });
		this.#proc.on('error', (cause) => {
			// Deno reports a missing --allow-run here, after the call: say which flag to add.
			const denied = explainDenied(cause, `starting the sidecar ${path}`);
			if (denied instanceof PidfdError) this.#failWith(denied);
			else this.#fail(`pidfd: could not start the sidecar ${path}: ${cause.message}`, cause);
		});
		this.#proc.on('close', (code, signal) => {
			const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
			const fail = () => this.#fail(this.#stopping ? 'pidfd: the sidecar was stopped by shutdown()' : `pidfd: the sidecar (pid ${this.#proc.pid}) ${how}`);
			// What it wrote to the outlet before it went is read first, as stdout's is.
			if (this.#moved && this.#outlet && !this.#outlet.destroyed) this.#outlet.once('close', fail);
			else fail();
		});
		// 'error' alone when it could not be started at all.
		this.#closed = new Promise((resolve) => {
			this.#proc.once('close', () => resolve());
			this.#proc.once('error', () => resolve());
		});
		stdin.on('error', () => {}); // EPIPE after a crash: reported through 'close'
		stdout.on('data', (chunk: Buffer) => {
			this.#onOutput(chunk, false);
		});
		// Until HELLO arrives, callers are waiting on `ready`: that must keep the loop alive.
		this.#refs = 1;
	}

	get pid(): number | undefined {
		return this.#proc.pid;
	}

	/** Sends a request; `decode` turns the (non-ERROR) reply into the result, synchronously. */
	call<T>(type: number, encode: (w: FrameWriter) => void, decode: (reply: Frame) => T, context?: { pid?: number; calledAt?: number }): Promise<T> {
		if (this.#failure) return Promise.reject(this.#failure);
		if (this.#stopping) return Promise.reject(new PidfdError(ErrorCode.SIDECAR_DIED, 'pidfd: the sidecar is being stopped by shutdown()', context));
		encode(this.#writer);
		// A frame past the sidecar's limit would be a framing error there, fatal to every child
		// of this host: refuse this one request instead.
		const limit = this.hello?.maxFrame ?? MAX_FRAME;
		if (this.#writer.length - 4 > limit) {
			this.#writer.reset();
			return Promise.reject(
				new PidfdError(
					'E2BIG',
					`pidfd: the request is ${this.#writer.length - 4} bytes, over the sidecar's limit of ${limit} (arguments and environment too large)`,
					{ syscall: 'write', ...context },
				),
			);
		}
		const id = this.#nextId;
		this.#nextId = id === 0xffffffff ? 1 : id + 1;
		const frame = this.#writer.finish(type, id);
		const traced = traceLog && type === MessageType.SPAWN ? traceLog.request(id, context?.calledAt, traceNow()) : undefined;
		const promise = new Promise<T>((resolve, reject) => {
			this.#pending.set(id, { decode, resolve: resolve as (v: unknown) => void, reject, pid: context?.pid });
			this.ref();
			this.#write(frame);
		});
		if (traced) {
			this.#tracedCorked.push(traced);
			promise.then(
				() => traceLog?.settled(traced, traceNow()),
				() => {},
			);
		}
		return promise;
	}

	/**
	 * Sends a request that has no reply (id 0): CREDIT. Nothing to wait for, nothing pending;
	 * a dead sidecar makes it a no-op (the streams learn of the death through onLost).
	 */
	notify(type: number, encode: (w: FrameWriter) => void): void {
		if (this.#failure || this.#stopping) return;
		encode(this.#writer);
		this.#write(this.#writer.finish(type, 0));
	}

	/**
	 * Moves the sidecar's output off stdout to a socket of the host's own (sidecar/outlet.c),
	 * read into one reused buffer instead of a fresh one per read. Asked for by the first
	 * relayed stream: DATA is most of what a sidecar sends, and a spawn-only host keeps the
	 * pipe. Whatever fails on the way (no such request, a connect refused) leaves the output
	 * on stdout, as it was.
	 */
	useOutlet(): void {
		if (this.#outletAsked || !outletPossible) return;
		this.#outletAsked = true;
		this.call(
			MessageType.LISTEN,
			() => {},
			(reply) => decodeListening(reply.body),
		).then(
			(name) => this.#connectOutlet(name),
			() => {},
		);
	}

	#connectOutlet(name: string): void {
		if (this.#failure || this.#stopping) return;
		const buffer = Buffer.allocUnsafe(OUTLET_READ);
		const socket = connect({ path: `\0${name}`, onread: { buffer, callback: (n) => this.#onOutput(buffer.subarray(0, n), true) } });
		// Nothing is read from it before MOVED, the last frame on stdout, has been: no frame
		// overtakes one written before it (#onFrame resumes it).
		socket.pause();
		socket.on('error', () => {
			// Before MOVED: the output stays on stdout. After: 'close' follows.
		});
		socket.on('close', () => {
			if (this.#outlet !== socket) return;
			if (!this.#moved) {
				// Refused (a sidecar whose parent is not this process, behind a wrapper that
				// stays): the output stays on stdout.
				this.#outlet = undefined;
				return;
			}
			// The sidecar closes it only by exiting, and then this kill finds a zombie; a live
			// sidecar whose output is cut off must go, and its 'close' reports it.
			this.#proc.kill('SIGKILL');
		});
		socket.on('end', () => socket.destroy());
		this.#outlet = socket;
		if (this.#refs === 0) socket.unref();
	}

	/** Returns true: `onread` reads on (a false there would pause the socket). */
	#onOutput(chunk: Buffer, transient: boolean): boolean {
		this.#transient = transient;
		try {
			this.#decoder.push(chunk, this.#onFrame, transient);
		} catch (cause) {
			this.#fail(`pidfd: unreadable data from the sidecar: ${(cause as Error).message}`, cause, ErrorCode.PROTOCOL);
			this.#proc.kill('SIGKILL');
		}
		return true;
	}

	/** Routes DATA, EOF and WRITABLE of the child fd `fd` of `handle` to `sink`. */
	watchStream(handle: number, fd: number, sink: StreamSink): void {
		this.#streams.set(streamKey(handle, fd), sink);
	}

	unwatchStream(handle: number, fd: number): void {
		this.#streams.delete(streamKey(handle, fd));
	}

	/** Routes EXIT/EXITED events for `handle` to `watcher` until `unwatch`. */
	watch(handle: number, watcher: Watcher): void {
		this.#watchers.set(handle, watcher);
	}

	unwatch(handle: number): void {
		this.#watchers.delete(handle);
	}

	/** Keeps the host's event loop alive while something is outstanding (like a running child). */
	ref(): void {
		if (this.#refs++ === 0) this.#setRef(true);
	}

	unref(): void {
		if (--this.#refs === 0) this.#setRef(false);
	}

	/** Stops the sidecar: it kills the children it spawned (all but detached ones) and exits. */
	close(): void {
		this.#proc.stdin?.end();
	}

	/** The handles still waiting to hear how their process ended (for `shutdown()`). */
	handles(): Watcher[] {
		return [...this.#watchers.values()];
	}

	/**
	 * `close()`, and resolves once the sidecar has exited. From the call on, new requests go
	 * to a new sidecar; the loop stays alive until this one is gone, so an `await` of it at
	 * the top of a module cannot be cut short by the host exiting first.
	 */
	stop(): Promise<void> {
		if (this.#failure) return this.#closed;
		if (!this.#stopping) {
			this.ref();
			this.#stopping = this.#closed;
			this.close();
		}
		return this.#stopping;
	}

	#setRef(on: boolean): void {
		const method = on ? 'ref' : 'unref';
		try {
			this.#proc[method]();
		} catch {
			// Deno's ChildProcess of a process that never started throws here: nothing to hold.
			return;
		}
		// Socket handles of the pipes: absent in some runtimes' compat layers.
		(this.#proc.stdout as unknown as { [k: string]: (() => void) | undefined })[method]?.();
		(this.#proc.stdin as unknown as { [k: string]: (() => void) | undefined })[method]?.();
		this.#outlet?.[method]();
	}

	/** Writes are corked until the next tick, so requests made in one tick leave in one write. */
	#write(frame: Buffer): void {
		const stdin = this.#proc.stdin!;
		if (!this.#corked) {
			this.#corked = true;
			stdin.cork();
			process.nextTick(() => {
				this.#corked = false;
				// Stamped as the write is issued, not after it returns: on another CPU the
				// sidecar can read the bytes before this thread is back from the syscall.
				if (traceLog && this.#tracedCorked.length) {
					traceLog.written(this.#tracedCorked, traceNow());
					this.#tracedCorked = [];
				}
				stdin.uncork();
			});
		}
		stdin.write(frame);
	}

	readonly #onFrame = (frame: Frame): void => {
		if (frame.id !== 0) {
			const pending = this.#pending.get(frame.id);
			if (!pending) throw new ProtocolError(`reply ${frame.type} to unknown request ${frame.id}`);
			if (traceLog) traceLog.replied(frame.id, frame.type === MessageType.SPAWNED ? eventHandle(frame.body) : 0, traceNow());
			this.#pending.delete(frame.id);
			// Released after the decoding: a SPAWNED reply's Child takes its own reference
			// first, so the count does not touch 0 and the handles are not unref'd and ref'd again.
			try {
				if (frame.type === MessageType.ERROR) pending.reject(decodeError(frame.body, pending.pid));
				else if (frame.type === MessageType.UNIMPLEMENTED)
					pending.reject(new PidfdError('ENOSYS', 'pidfd: the sidecar does not implement this request (a newer host than sidecar?)'));
				else {
					let value: unknown;
					try {
						value = pending.decode(frame);
					} catch (error) {
						pending.reject(error as Error);
						return;
					}
					pending.resolve(value);
				}
			} finally {
				this.unref();
			}
			return;
		}
		switch (frame.type) {
			case MessageType.HELLO:
				return this.#onHello(frame.body);
			case MessageType.MOVED:
				// Only ever after accepting our own connection: the rest comes through it.
				if (!this.#outlet) throw new ProtocolError('MOVED, but the host has no outlet');
				this.#moved = true;
				this.#outlet.resume();
				return;
			case MessageType.EXIT:
			case MessageType.EXITED: {
				const handle = eventHandle(frame.body);
				if (traceLog) traceLog.exitDecoded(handle, traceNow());
				const watcher = this.#watchers.get(handle);
				if (watcher) {
					this.#watchers.delete(handle);
					try {
						watcher.onEvent(frame.type, frame.body);
					} catch (cause) {
						// Out of the table already, this watcher would not hear of the failure that
						// follows: its wait() must not hang.
						watcher.onLost(new PidfdError(ErrorCode.PROTOCOL, `pidfd: an exit could not be decoded: ${(cause as Error).message}`, { cause }));
						throw cause;
					}
				}
				return;
			}
			case MessageType.DATA:
			case MessageType.EOF:
			case MessageType.WRITABLE: {
				const event = decodeStreamEvent(frame.type, frame.body);
				const key = streamKey(event.handle, event.fd);
				// A stream the host has let go of (destroyed) may still have frames in flight.
				const sink = this.#streams.get(key);
				if (!sink) return;
				if (frame.type === MessageType.DATA) sink.onData(event.data, this.#transient);
				else if (frame.type === MessageType.WRITABLE) sink.onWritable();
				else {
					this.#streams.delete(key);
					sink.onEof(event.errno);
				}
				return;
			}
			case MessageType.TRACE:
				if (traceLog) traceLog.sidecar(frame.body.readUInt32LE(0), frame.body.readUInt32LE(4), decodeTraceTimes(frame.body));
				return;
			case MessageType.FATAL: {
				const { errno, detail } = decodeFatal(frame.body);
				throw new ProtocolError(`sidecar reported a fatal protocol error (errno ${errno}): ${detail}`);
			}
			default:
				throw new ProtocolError(`unexpected event type ${frame.type}`);
		}
	};

	/** DATA, or a piece of it: a stream the host has let go of (destroyed) may still have some in flight. */
	#onData(handle: number, fd: number, bytes: Buffer): void {
		if (bytes.length) this.#streams.get(streamKey(handle, fd))?.onData(bytes, this.#transient);
	}

	#onHello(body: Buffer): void {
		const hello = decodeHello(body);
		if (hello.version !== PROTOCOL_VERSION) {
			const error = new PidfdError(
				ErrorCode.PROTOCOL_MISMATCH,
				`pidfd: sidecar speaks protocol ${hello.version}, this host speaks ${PROTOCOL_VERSION}; rebuild the sidecar`,
				{ syscall: 'pidfd' },
			);
			this.#failWith(error);
			this.#proc.kill('SIGKILL');
			return;
		}
		this.hello = hello;
		this.#resolveHello(hello);
		this.unref();
	}

	#fail(message: string, cause?: unknown, code: string = ErrorCode.SIDECAR_DIED): void {
		this.#failWith(new PidfdError(code, message, { cause }));
	}

	/** Everything outstanding settles: pending calls reject, handles learn they are lost. */
	#failWith(error: PidfdError): void {
		if (this.#failure) return;
		this.#failure = error;
		this.#rejectHello(error);
		const pending = [...this.#pending.values()];
		const watchers = [...this.#watchers.values()];
		const streams = [...this.#streams.values()];
		this.#pending.clear();
		this.#watchers.clear();
		this.#streams.clear();
		for (const p of pending) p.reject(error);
		for (const w of watchers) w.onLost(error);
		for (const s of streams) s.onLost(error);
		this.#refs = 0;
		this.#setRef(false);
	}
}

/**
 * Bun and Deno mishandle fds 0-2 given as extra stdio entries: Bun takes 0 for "none" (and
 * leaks its own fd 3 into the child); Deno puts the child's pipes on 0-2 before copying
 * them. There the sidecar gets /dev/null on 3-5, and spawn() asks it to take the host's
 * fd itself (HOST_FD: pidfd_getfd, else /proc/<host>/fd/N). Node passes the fds themselves.
 */
export function hostStdioFd(fd: number): number | 'ignore' {
	return runtime === 'node' && isOpen(fd) ? fd : 'ignore';
}

function isOpen(fd: number): boolean {
	try {
		fstatSync(fd);
		return true;
	} catch {
		return false;
	}
}

/** TRACE: u32 kind · u32 key · u64 × 4 times (ns); as numbers, exact below 2^53 ns (104 days). */
function decodeTraceTimes(body: Buffer): [number, number, number, number] {
	const at = (i: number) => Number(body.readBigUInt64LE(8 + 8 * i));
	return [at(0), at(1), at(2), at(3)];
}
