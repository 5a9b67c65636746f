import { PidfdError } from '../../schemas/errors.js';
import type { PidfdInfo } from '../../schemas/kernel.js';
import { cgroupIdOf, readStatus } from './procfs.js';
import { PidfdInfoMask } from './structs.js';

/**
 * info() on kernels without PIDFD_GET_INFO (before 6.13): the same fields from
 * /proc/<pid>/status and /proc/<pid>/cgroup.
 *
 * /proc names a process by pid only, and the pid may have been reused. So /proc is read
 * first and `alive` asks the sidecar afterwards whether our pidfd's process still holds
 * that pid (signal 0 through the pidfd). If it does, it held it during the read, and what
 * we read was it; if not, we cannot know whom we read and report ESRCH.
 *
 * Done here rather than in the sidecar: the text parsing stays out of the small static
 * binary (and its fuzzing surface), and host and sidecar share a pid namespace and /proc.
 */
export async function infoFromProc(pid: number, alive: () => Promise<boolean>): Promise<PidfdInfo> {
	const status = readStatus(pid);
	const cgroupId = status ? cgroupIdOf(pid) : undefined;
	if (!status || !(await alive())) {
		throw new PidfdError('ESRCH', `open ESRCH: process ${pid} has exited (/proc fallback for PIDFD_GET_INFO)`, {
			syscall: 'open',
			pid,
			path: `/proc/${pid}/status`,
		});
	}
	const [ruid, euid, suid, fsuid] = status.uids;
	const [rgid, egid, sgid, fsgid] = status.gids;
	return {
		mask: PidfdInfoMask.PID | PidfdInfoMask.CREDS | (cgroupId === undefined ? 0 : PidfdInfoMask.CGROUPID),
		cgroupId: cgroupId ?? 0,
		pid: status.pid,
		tgid: status.tgid,
		ppid: status.ppid,
		ruid,
		rgid,
		euid,
		egid,
		suid,
		sgid,
		fsuid,
		fsgid,
	};
}

/** The ioctl's answers that mean "this kernel has no PIDFD_GET_INFO" rather than a failure. */
export function isNoGetInfo(error: unknown): boolean {
	return error instanceof PidfdError && error.syscall === 'ioctl' && (error.code === 'ENOTTY' || error.code === 'EINVAL' || error.code === 'ENOSYS');
}
