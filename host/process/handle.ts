import type { ExitInfo } from '../../schemas/exit.js';
import type { PidfdInfo } from '../../schemas/kernel.js';
import { InvalidArgumentError, PidfdError } from '../../schemas/errors.js';
import { infoFromProc, isNoGetInfo } from '../kernel/proc-info.js';
import { PidfdInfoMask } from '../kernel/structs.js';
import { decodeInfoReply, encodeHandle, encodeInfo, encodeKill } from '../sidecar/messages.js';
import { Feature, KillFlag, MessageType } from '../sidecar/protocol.js';
import type { Sidecar, Watcher } from '../sidecar/connection.js';
import { traceLog, traceNow } from '../sidecar/trace.js';
import { signalNumber } from '../../schemas/signals.js';

/**
 * Where a handle lives: its sidecar and its id there. Symbol.for, so a spawn() of another
 * copy of this library (another bundle) recognises a handle as a stdio source too.
 */
export const kSidecarHandle = Symbol.for('pidfd.sidecarHandle');

export interface KillOptions {
	/** Signal the process group the child leads (children spawned with `setsid` or `processGroup`). */
	group?: boolean;
}

/** The sidecar and handle id of a Child or PidFd (a stdio source for another spawn). */
export function sidecarHandle(process: object): { sidecar: Sidecar; handle: number } {
	return (process as { [kSidecarHandle](): { sidecar: Sidecar; handle: number } })[kSidecarHandle]();
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

	/**
	 * Sends a signal (default SIGTERM) through the pidfd. Resolves `true` when it was
	 * delivered and `false` when the process had already ended (as Node's `subprocess.kill()`
	 * returns false): a late kill is no error. Other failures reject (EPERM, a dead sidecar).
	 */
	kill(signal: string | number = 'SIGTERM', options: KillOptions = {}): Promise<boolean> {
		const number = signalNumber(signal);
		if (number === undefined) return Promise.reject(new InvalidArgumentError(`kill(): ${String(signal)} is not a signal name or number in 1..64`));
		if (this.#exit) return Promise.resolve(false);
		if (this.#lost) return Promise.reject(this.#lost);
		return this.sidecar
			.call(
				MessageType.KILL,
				(w) => encodeKill(w, this.handle, number, options.group ? KillFlag.GROUP : 0),
				() => true,
				{ pid: this.pid },
			)
			.catch((error: unknown) => {
				// ESRCH: it ended (and was reaped) between our last event and the signal. For a
				// group signal ESRCH may also mean "no such group": that stays an error.
				if (!options.group && error instanceof PidfdError && error.code === 'ESRCH') return false;
				throw error;
			});
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
			if (traceLog) {
				const handle = this.handle;
				this.#waiting.then(
					() => traceLog?.exitSettled(handle, traceNow()),
					() => {},
				);
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
				(w) => encodeInfo(w, this.handle, PidfdInfoMask.PID | PidfdInfoMask.CREDS | PidfdInfoMask.CGROUPID),
				(reply) => decodeInfoReply(reply.body),
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
				(w) => encodeHandle(w, this.handle),
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
		return new PidfdError('ESRCH', `${syscall} ESRCH: process ${this.pid} has exited`, { syscall, pid: this.pid });
	}
}
