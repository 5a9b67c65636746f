// SPDX-License-Identifier: MIT
/*
 * A child in new namespaces (SPAWN_NAMESPACES), made by the same clone3 as
 * any child, with CLONE_NEW* flags added.
 *
 * User: the child maps itself. It is the only process in its namespace and
 * holds every capability there until execve, so it may write one line into
 * its own uid_map and gid_map: the sidecar's ids outside, an unprivileged id
 * inside (setgroups is denied first, as the kernel asks of an unprivileged
 * writer). It then takes the inside ids with setresuid/setresgid. An inside
 * uid other than 0 loses every capability at execve. Ids outside other than
 * the sidecar's (a root sidecar mapping nobody, say) only a process of the
 * parent namespace with CAP_SETUID may map: the sidecar writes those maps
 * itself (ns_map) while the child waits, on the deferred route; the child
 * then drops the supplementary groups it inherited.
 *
 * Mount: every mount becomes private, so nothing the child mounts reaches
 * the host. Pid and mount: a new proc is mounted on /proc, so the child sees
 * its own namespace's processes only.
 *
 * Pid: the first process of a pid namespace is its init, and the kernel
 * treats it apart: a signal it has no handler for is dropped, even SIGTERM
 * from the host (only SIGKILL and SIGSTOP from outside are forced), and when
 * it exits every other process of the namespace is killed. So the child the
 * sidecar holds by its pidfd is a small init (this file; sidecar code, no
 * execve) that forks the program, forwards it every signal it can catch,
 * reaps orphans, and when the program ends writes its wait status into a
 * pipe the sidecar reads after reaping the init (ns_exit_status). Then it
 * exits, and the kernel ends whatever the program left behind. A failure of
 * the program before its execve reaches the sidecar as on the deferred route
 * (spawn.c): down the report pipe, which the program holds until execve.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "namespaces.h"
#include "sidecar.h"
#include "sys.h"

/* The program, not the init: its parent is the init, whose death ends it. */
static bool in_program;

/* The wait status the init passes on: si_code and si_status of the program. */
struct ns_status {
	int32_t code;
	int32_t status;
};

/* ---- the parent side ---- */

uint64_t ns_clone_flags(uint32_t ns)
{
	uint64_t flags = 0;

	if (ns & NS_USER)
		flags |= CLONE_NEWUSER;
	if (ns & NS_PID)
		flags |= CLONE_NEWPID;
	if (ns & NS_MOUNT)
		flags |= CLONE_NEWNS;
	if (ns & NS_IPC)
		flags |= CLONE_NEWIPC;
	if (ns & NS_NET)
		flags |= CLONE_NEWNET;
	return flags;
}

/*
 * Before the clone: the ids outside are ours (the child, once in its user
 * namespace, sees them only as the overflow id). An init never execs, so a
 * pid namespace takes the deferred route: the loop goes on, and the report
 * pipe says when the program has exec'd.
 */
void ns_prepare(struct spawn *s)
{
	if (!s->req.ns)
		return;
	if (s->req.ns_uid_out == -1)
		s->req.ns_uid_out = (int32_t)geteuid();
	if (s->req.ns_gid_out == -1)
		s->req.ns_gid_out = (int32_t)getegid();
	if (s->req.ns & NS_PID)
		s->deferred = true;
	if ((s->req.ns & NS_USER) && (s->req.ns_uid_out != (int32_t)geteuid() ||
				      s->req.ns_gid_out != (int32_t)getegid())) {
		s->map_outside = true;
		s->deferred = true;
	}
}

/* "inside outside 1\n" into /proc/<pid>/<file>. Returns 0 or -errno. */
static int map_child(pid_t pid, const char *file, uint32_t inside, uint32_t outside)
{
	char path[48], line[32], *p;
	ssize_t w;
	int fd;

	p = put_uint(stpcpy(path, "/proc/"), (unsigned int)pid);
	*p++ = '/';
	strcpy(p, file);
	p = put_uint(line, inside);
	*p++ = ' ';
	p = put_uint(p, outside);
	memcpy(p, " 1\n", 3);
	fd = sys_open(path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	w = sys_write(fd, line, (size_t)(p + 3 - line));
	if (w < 0)
		w = -errno;
	sys_close(fd);
	return w < 0 ? (int)w : 0;
}

/*
 * The child is cloned and waits on go[0]: write its maps, then let it go.
 * If the kernel refuses, the child is killed and reaped, and the spawn fails
 * naming the map. Returns 0 or -errno.
 */
int ns_map(struct spawn *s)
{
	uint8_t si[KERNEL_SIGINFO_SIZE];
	int r;

	close_fd(&s->go[0]);
	s->sc = SC_WRITE;
	s->detail = "gid_map";
	r = map_child(s->pid, "gid_map", s->req.ns_gid, (uint32_t)s->req.ns_gid_out);
	if (!r) {
		s->detail = "uid_map";
		r = map_child(s->pid, "uid_map", s->req.ns_uid, (uint32_t)s->req.ns_uid_out);
	}
	if (!r && sys_write(s->go[1], "", 1) != 1)
		r = -errno;
	close_fd(&s->go[1]);
	if (!r) {
		s->detail = NULL;
		return 0;
	}
	sys_pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
	reap(s->pidfd, si, NULL);
	close_fd(&s->pidfd);
	return r;
}

/*
 * The init has been reaped: if it passed the program's status on, that is
 * the status the host hears (si_code and si_status of the siginfo; the
 * rusage of the init already includes the children it reaped). An init
 * killed before (SIGKILL from the host) passes nothing: its own status
 * stands, and the kernel has ended the namespace.
 */
void ns_exit_status(int status_fd, uint8_t *siginfo)
{
	struct ns_status st;
	int32_t code, status;

	memcpy(&code, siginfo + 8, 4);
	memcpy(&status, siginfo + 24, 4);
	if (code != CLD_EXITED || status != 0)
		return;
	if (sys_read(status_fd, &st, sizeof(st)) != (ssize_t)sizeof(st))
		return;
	memcpy(siginfo + 8, &st.code, 4);
	memcpy(siginfo + 24, &st.status, 4);
}

/* ---- the child side: async-signal-safe calls only ---- */

/* Writes buf into a /proc/self file. Returns 0 or -errno. */
CHILD_SIDE static int write_file(const char *path, const char *buf, size_t n)
{
	int fd = sys_open(path, O_WRONLY | O_CLOEXEC, 0);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = sys_write(fd, buf, n);
	if (w < 0)
		w = -errno;
	sys_close(fd);
	return w < 0 ? (int)w : 0;
}

/* "inside outside 1\n" into a map file. */
CHILD_SIDE static int write_map(const char *path, uint32_t inside, uint32_t outside)
{
	char line[32], *p;

	p = put_uint(line, inside);
	*p++ = ' ';
	p = put_uint(p, outside);
	memcpy(p, " 1\n", 3);
	return write_file(path, line, (size_t)(p + 3 - line));
}

CHILD_SIDE static void ns_user(const struct spawn *s)
{
	const struct spawn_req *req = &s->req;
	char go;
	int r;

	if (s->map_outside) {
		/* The sidecar writes our maps (ns_map); EOF means it gave up on us. */
		sys_close(s->go[1]);
		if (sys_read(s->go[0], &go, 1) != 1)
			_exit(127);
		sys_close(s->go[0]);
		if (sys_setgroups(0, NULL) < 0)
			child_fail(s, errno, SC_SETGROUPS, NULL);
		return;
	}
	/* Missing before Linux 3.19, where an unprivileged gid_map needs no deny. */
	r = write_file("/proc/self/setgroups", "deny", 4);
	if (r < 0 && r != -ENOENT)
		child_fail(s, -r, SC_WRITE, "/proc/self/setgroups");
	r = write_map("/proc/self/gid_map", req->ns_gid, (uint32_t)req->ns_gid_out);
	if (r < 0)
		child_fail(s, -r, SC_WRITE, "/proc/self/gid_map");
	r = write_map("/proc/self/uid_map", req->ns_uid, (uint32_t)req->ns_uid_out);
	if (r < 0)
		child_fail(s, -r, SC_WRITE, "/proc/self/uid_map");
}

CHILD_SIDE static void ns_mounts(const struct spawn *s)
{
	if (sys_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(s, errno, SC_MOUNT, "/");
	if ((s->req.ns & NS_PID) &&
	    sys_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(s, errno, SC_MOUNT, "/proc");
}

/* Closes every fd but a and b: the init holds nothing of the sidecar's. */
CHILD_SIDE static void close_except(int a, int b)
{
	unsigned int lo = (unsigned int)(a < b ? a : b), hi = (unsigned int)(a < b ? b : a);
	int fd;

	if ((lo == 0 || sys_close_range(0, lo - 1, 0) == 0) &&
	    (hi == lo + 1 || sys_close_range(lo + 1, hi - 1, 0) == 0) &&
	    sys_close_range(hi + 1, ~0u, 0) == 0)
		return;
	/* Before Linux 5.9: one by one, as far as the sidecar's fds can reach. */
	for (fd = 0; fd < (1 << 16); fd++) {
		if (fd != a && fd != b)
			sys_close(fd);
	}
}

/*
 * The init's life once the program runs: every signal stays blocked and is
 * taken here. SIGCHLD reaps (orphans too); anything else goes to the program,
 * or to its process group if it leads one (setsid, processGroup, a terminal).
 * The program's end is passed on, then the init exits and the kernel ends the
 * rest of the namespace.
 */
CHILD_SIDE static _Noreturn void ns_init_loop(const struct spawn *s, pid_t prog)
{
	const uint64_t all = ~0ull;
	uint8_t si[KERNEL_SIGINFO_SIZE];
	struct ns_status st;
	pid_t target = prog;
	int32_t pid;
	int sig;

	if ((s->req.flags & (SPAWN_SETSID | SPAWN_SETPGID)) || s->terminal)
		target = -prog;
	for (;;) {
		sig = sys_rt_sigtimedwait(&all, si, NULL);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			sys_kill(target, sig);
			continue;
		}
		for (;;) {
			memset(si, 0, sizeof(si));
			if (sys_waitid(P_ALL, 0, si, WEXITED | WNOHANG, NULL) < 0)
				break;
			memcpy(&pid, si + 16, 4);
			if (!pid)
				break;
			if (pid != prog)
				continue;
			memcpy(&st.code, si + 8, 4);
			memcpy(&st.status, si + 24, 4);
			(void)!sys_write(s->status[1], &st, sizeof(st));
			_exit(0);
		}
	}
}

/*
 * Has the sidecar died before our PR_SET_PDEATHSIG could take? Outside a
 * new pid namespace our parent's pid says so. Inside one getppid() is 0
 * whoever our parent is: the report pipe, whose reading end only the
 * sidecar holds, says it instead. The program's parent is the init, whose
 * death ends the namespace.
 */
CHILD_SIDE bool ns_sidecar_gone(const struct spawn *s)
{
	struct pollfd p = { .fd = s->report[1], .events = 0 };

	if (in_program)
		return false;
	if (!(s->req.ns & NS_PID))
		return getppid() != self_pid;
	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

/*
 * In the child, after the cgroup and the deferred opens, before setsid and
 * the fds: the namespaces, then with NS_PID the init and its program.
 */
CHILD_SIDE void ns_enter(const struct spawn *s)
{
	const struct spawn_req *req = &s->req;
	const uint64_t none = 0;
	pid_t prog;

	if (req->ns & NS_USER)
		ns_user(s);
	if (req->ns & NS_MOUNT)
		ns_mounts(s);
	if (req->ns & NS_USER) {
		if (sys_setresgid(req->ns_gid, req->ns_gid, req->ns_gid) < 0)
			child_fail(s, errno, SC_SETGID, NULL);
		if (sys_setresuid(req->ns_uid, req->ns_uid, req->ns_uid) < 0)
			child_fail(s, errno, SC_SETUID, NULL);
	}
	if (!(req->ns & NS_PID))
		return;

	/* The credentials cleared the death signal (child_open set it). */
	if (prctl(PR_SET_PDEATHSIG, req->pdeathsig) < 0)
		child_fail(s, errno, SC_PRCTL, NULL);
	if (req->pdeathsig && ns_sidecar_gone(s))
		_exit(127);

	/* Like vfork: we go on once the program has exec'd or failed. */
	prog = sys_clone(CLONE_VFORK | SIGCHLD, NULL);
	if (prog < 0)
		child_fail(s, errno, SC_FORK, NULL);
	if (prog == 0) {
		in_program = true;
		sys_rt_sigprocmask(SIG_SETMASK, &none, NULL);
		return;
	}
	/* The report pipe last: its EOF tells the sidecar we hold no fd of its. */
	close_except(s->status[1], s->report[1]);
	sys_close(s->report[1]);
	ns_init_loop(s, prog);
}
