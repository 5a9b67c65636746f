import type { ExitInfo } from '../schemas/exit.js';
import type { PidfdInfo } from '../schemas/kernel.js';
import { decodePidfdInfo } from './decoder.js';
import { InvalidArgumentError, PidfdError } from './errors.js';
import { infoFromProc, isNoGetInfo } from './info.js';
import { Feature, KillFlag, MessageType, PIDFD_INFO_SIZE, PidfdInfoMask } from './protocol.js';
import type { Sidecar, Watcher } from './sidecar.js';
import { signalNumber } from './signals.js';

/**
 * Where a handle lives: its sidecar and its id there. Symbol.for, so a spawn() of another
 * copy of this library (another bundle) recognises a handle as a stdio source too.
 */
export const kSidecarHandle = Symbol.for('pidfd.sidecarHandle');

export interface KillOptions {
	/** Signal the process group the child leads (children spawned with `setsid` or `processGroup`). */
	group?: boolean;
}

/**
 * A process held by a pidfd in the sidecar. Signals go through the pidfd, so they reach
 * this process or nobody: never a later process that got the same pid.
 */
export abstract class ProcessHandle implements Watcher {
	/** The pid, for display and logs. Don't signal it directly: use `kill()`. */
	readonly pid: number;
	protected readonly sidecar: Sidecar;
	protected readonly handle: number;
	#exit: ExitInfo | undefined;
	#lost: PidfdError | undefined;
	#waiting: Promise<ExitInfo> | undefined;
	#settle: ((exit: ExitInfo) => void) | undefined;
	#fail: ((error: PidfdError) => void) | undefined;

	protected constructor(sidecar: Sidecar, handle: number, pid: number) {
		this.sidecar = sidecar;
		this.handle = handle;
		this.pid = pid;
		sidecar.watch(handle, this);
	}

	/** Sends a signal (default SIGTERM). Rejects ESRCH once the process has ended. */
	kill(signal: string | number = 'SIGTERM', options: KillOptions = {}): Promise<void> {
		const number = signalNumber(signal);
		if (number === undefined) return Promise.reject(new InvalidArgumentError(`kill(): ${String(signal)} is not a signal name or number in 1..64`));
		if (this.#exit || this.#lost) return Promise.reject(this.#gone('pidfd_send_signal'));
		return this.sidecar.call(
			MessageType.KILL,
			(w) => w.u32(this.handle).i32(number).u32(options.group ? KillFlag.GROUP : 0),
			() => undefined,
			{ pid: this.pid },
		);
	}

	/** Resolves with how the process ended; every call gives the same ExitInfo. */
	wait(): Promise<ExitInfo> {
		if (!this.#waiting) {
			if (this.#exit) this.#waiting = Promise.resolve(this.#exit);
			else if (this.#lost) this.#waiting = Promise.reject(this.#lost);
			else {
				this.#waiting = new Promise<ExitInfo>((resolve, reject) => {
					this.#settle = resolve;
					this.#fail = reject;
				});
				this.onWaitStarted();
			}
		}
		return this.#waiting;
	}

	/** How the process ended, or undefined while it runs. Never blocks. */
	tryWait(): ExitInfo | undefined {
		if (this.#lost && !this.#exit) throw this.#lost;
		return this.#exit;
	}

	/** True once the process has ended (and its ExitInfo is known). */
	get exited(): boolean {
		return this.#exit !== undefined;
	}

	/** Ended, or lost with its sidecar: nothing more will be heard of it. */
	protected get settled(): boolean {
		return this.#exit !== undefined || this.#lost !== undefined;
	}

	/**
	 * pid, ppid, credentials and cgroup of the process, from PIDFD_GET_INFO; on kernels
	 * without it (before 6.13), from /proc, checked against the pidfd afterwards so the
	 * answer cannot describe a later process with the same pid (`mask` then lacks EXIT).
	 */
	async info(): Promise<PidfdInfo> {
		if (this.#exit || this.#lost) throw this.#gone('ioctl');
		const hello = this.sidecar.hello;
		if (hello && !(hello.features & Feature.pidfdGetInfo)) return infoFromProc(this.pid, () => this.alive());
		try {
			return await this.sidecar.call(
				MessageType.INFO,
				(w) => w.u32(this.handle).u32(PidfdInfoMask.PID | PidfdInfoMask.CREDS | PidfdInfoMask.CGROUPID),
				(reply) => decodePidfdInfo(reply.body.subarray(8, 8 + PIDFD_INFO_SIZE)),
				{ pid: this.pid },
			);
		} catch (error) {
			if (isNoGetInfo(error)) return infoFromProc(this.pid, () => this.alive());
			throw error;
		}
	}

	/**
	 * True while the process still holds its pid: running, stopped, or exited but not yet
	 * reaped by its parent. Asked through the pidfd (signal 0), so never about a newcomer.
	 */
	async alive(): Promise<boolean> {
		if (this.#exit) return false;
		if (this.#lost) throw this.#lost;
		try {
			await this.sidecar.call(
				MessageType.ALIVE,
				(w) => w.u32(this.handle),
				() => undefined,
				{ pid: this.pid },
			);
			return true;
		} catch (error) {
			if (error instanceof PidfdError && error.code === 'ESRCH') return false;
			throw error;
		}
	}

	/** @internal For stdio entries that take an fd from this process (FROM_PIDFD). */
	[kSidecarHandle](): { sidecar: Sidecar; handle: number } {
		return { sidecar: this.sidecar, handle: this.handle };
	}

	/** @internal The sidecar reported the end of the process. */
	onEvent(type: number, body: Buffer): void {
		this.settle(this.decodeExit(type, body));
	}

	/** @internal The sidecar died. */
	onLost(error: PidfdError): void {
		if (this.#exit) return;
		this.#lost = error;
		this.#fail?.(error);
		this.onSettled();
	}

	protected settle(exit: ExitInfo): void {
		if (this.#exit) return;
		this.#exit = exit;
		this.#settle?.(exit);
		this.onSettled();
	}

	protected abstract decodeExit(type: number, body: Buffer): ExitInfo;
	protected onWaitStarted(): void {}
	protected onSettled(): void {}

	#gone(syscall: string): PidfdError {
		if (this.#lost) return this.#lost;
		return new PidfdError('ESRCH', 3, syscall, `${syscall} ESRCH: process ${this.pid} has exited`, { pid: this.pid });
	}
}
