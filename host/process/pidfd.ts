import * as z from 'zod';
import type { ExitInfo } from '../../schemas/exit.js';
import { InvalidArgumentError, PidfdError } from '../../schemas/errors.js';
import { ProcessHandle } from './handle.js';
import { decodeExited, decodeOpened, encodeHandle, encodeOpen } from '../sidecar/messages.js';
import { MessageType, OpenFlag } from '../sidecar/protocol.js';
import { Sidecar } from '../sidecar/connection.js';

const Pid = z.number().int().min(1).max(0x3fffffff);

export interface OpenOptions {
	/**
	 * `pid` is a thread id (one of /proc/<pid>/task): the handle refers to that thread alone
	 * (PIDFD_THREAD, Linux 6.9). `wait()` resolves when the thread ends, while the process may
	 * go on; `kill()` signals that thread. Without it, a tid that is not a process rejects ENOENT.
	 */
	thread?: boolean;
}

/**
 * A pidfd on any process, ours or not (pidfd_open). From the moment `open()` resolves, the
 * handle refers to that one process: if it exits and its pid is reused, `kill()` rejects
 * ESRCH instead of reaching the newcomer.
 *
 * Unlike a spawned Child, an open PidFd keeps the host's event loop alive only while a
 * `wait()` is outstanding. `close()` releases it early.
 */
export class PidFd extends ProcessHandle {
	#waited = false;
	#closed = false;

	/** Opens a pidfd for `pid`. Rejects ESRCH if there is no such process, EINVAL for pid ≤ 0. */
	static async open(pid: number, options: OpenOptions = {}): Promise<PidFd> {
		if (!Pid.safeParse(pid).success) throw new InvalidArgumentError(`PidFd.open(): pid must be an integer ≥ 1, got ${String(pid)}`);
		const flags = options.thread ? OpenFlag.THREAD : 0;
		const sidecar = Sidecar.get();
		await sidecar.ready;
		return sidecar.call(
			MessageType.OPEN,
			(w) => encodeOpen(w, pid, flags),
			(reply) => {
				const opened = decodeOpened(reply.body);
				return new PidFd(sidecar, opened.handle, opened.pid);
			},
			{ pid },
		);
	}

	private constructor(sidecar: Sidecar, handle: number, pid: number) {
		super(sidecar, handle, pid);
	}

	/** Stops watching the process and frees the pidfd. A pending `wait()` rejects ECANCELED. */
	async close(): Promise<void> {
		// Lost with its sidecar: the pidfd went with it, there is nothing left to close.
		if (this.#closed || this.settled) return;
		this.#closed = true;
		this.sidecar.unwatch(this.handle);
		this.onLost(new PidfdError('ECANCELED', `close ECANCELED: the PidFd of process ${this.pid} was closed`, { syscall: 'close', pid: this.pid }));
		await this.sidecar
			.call(
				MessageType.CLOSE,
				(w) => encodeHandle(w, this.handle),
				() => undefined,
			)
			.catch((error: unknown) => {
				// ESRCH: the process ended and the sidecar freed the handle already; that is closed too.
				if (!(error instanceof PidfdError && error.code === 'ESRCH')) throw error;
			});
	}

	protected decodeExit(_type: number, body: Buffer): ExitInfo {
		return decodeExited(body, this.pid);
	}

	protected override onWaitStarted(): void {
		this.#waited = true;
		this.sidecar.ref();
	}

	protected override onSettled(): void {
		if (this.#waited) this.sidecar.unref();
	}
}
