// SPDX-License-Identifier: MIT
/*
 * SPAWN, both sides of the clone.
 *
 * The parent side answers a request in steps: spawn_open() (stdio.c) opens
 * what the child's fds will come from, spawn_clone() makes the child,
 * spawn_adopt() gives it a handle, and the reply says SPAWNED or ERROR. The
 * child side (child_*) runs between clone and execve and calls
 * async-signal-safe functions only: in the common case it runs in our own
 * memory, on child_stack, while we sleep.
 *
 * Two routes to a child:
 *  - At once, nearly every spawn: clone(CLONE_VM | CLONE_VFORK), as musl's
 *    posix_spawn does: the child borrows our memory instead of a copy of
 *    our page tables (half the CPU per spawn in the bench). The loop sleeps
 *    until the child has exec'd or failed, a matter of microseconds; a
 *    failure is in the report slot.
 *  - Deferred, when a FILE entry's open(2) may wait: a FIFO waits for its
 *    other end, a tty for its carrier, a leased file for the lease to be
 *    broken. Opening it in a vfork child would suspend us just the same, so
 *    the child is cloned without CLONE_VFORK and CLONE_VM, opens the file
 *    itself and execs, while the loop goes on. How it went arrives through
 *    a close-on-exec pipe in epoll: a report means failure, EOF means exec.
 *    Only then does the SPAWN get its reply; replies to later requests may
 *    overtake it, which ids allow (PROTOCOL.md, Ordering).
 *
 * What else in a spawn could make the loop wait (audited):
 *  - Path lookups: the FILE and cgroup paths opened before the clone
 *    (stdio.c), and in the vfork child chdir, the PATH search and execve.
 *    Local file systems answer in microseconds; an automount point or an
 *    unreachable network share stalls the loop as long as the lookup. Not
 *    deferred: that would make every spawn pay for a fork.
 *  - cgroups: opening the directory (O_PATH) and cgroup.procs waits for
 *    nobody; the child's write to cgroup.procs (without CLONE_INTO_CGROUP)
 *    and CLONE_INTO_CGROUP itself take the kernel's cgroup locks: bounded.
 *  - pidfd_getfd waits at most for the target's exec in progress.
 *  - HOST_FD without pidfd_getfd (before Linux 5.6) reopens
 *    /proc/<host>/fd/N with O_RDWR: a FIFO never waits so, a tty could.
 *  - pipe2, F_SETPIPE_SZ, pidfd_open and the pidfd calls never wait.
 *  - Reaping a child that failed before exec waits for its _exit(), which
 *    directly follows its report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "namespaces.h"
#include "sidecar.h"
#include "spawn.h"
#include "sys.h"

#define DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"

static char arena[WIRE_MAX_FRAME];
static char *strvec[WIRE_MAX_STRINGS + 2];
static uint32_t groups[WIRE_MAX_GROUPS];
static struct spawn_stdio stdio_tab[WIRE_MAX_STDIO];
static const struct spawn_mem spawn_mem = {
	.arena = arena,
	.arena_size = sizeof(arena),
	.vec = strvec,
	.groups = groups,
	.stdio = stdio_tab,
};
static struct spawn sp;

/*
 * A child of the at-once route reports here: its clone is CLONE_VFORK, so
 * when we resume it has exec'd (slot untouched) or exited. A MAP_SHARED
 * page (spawn_init), so that clones without CLONE_VM reach it too. Cheaper
 * than a pipe per spawn. Deferred children, several of which may wait at
 * once, have a pipe each instead.
 */
static struct child_report report_static;
static struct child_report *report = &report_static;

/* Stack of the CLONE_VM child: one thread, so one such child at a time. */
#define CHILD_STACK_SIZE	(64u << 10)
static uint8_t child_stack[CHILD_STACK_SIZE] __attribute__((aligned(16)));

/* clone() takes CLONE_PIDFD: the at-once route (spawn_probe_clone). */
static bool clone_fn_pidfd;

/* ---- the child side: async-signal-safe calls only ---- */

/* Decimal digits of v at p; returns the end. */
CHILD_SIDE char *put_uint(char *p, unsigned int v)
{
	char tmp[10];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = tmp[--n];
	return p;
}

/*
 * Reports the failure of syscall_id, with detail naming what it was about:
 * in the report slot (the parent reads it once we are gone) or down the
 * report pipe of a deferred child.
 */
CHILD_SIDE _Noreturn void child_fail(const struct spawn *s, int err,
				     uint32_t syscall_id, const char *detail)
{
	struct child_report msg = { .err = err ? err : EIO, .syscall = syscall_id };
	size_t n = detail ? strnlen(detail, DETAIL_MAX) : 0;

	if (n)
		memcpy(msg.detail, detail, n);
	if (s->report[1] >= 0)
		(void)!sys_write(s->report[1], &msg, REPORT_HEAD + n);
	else
		memcpy(report, &msg, REPORT_HEAD + n + 1);
	_exit(127);
}

/*
 * Opens what path_fd (an O_PATH fd) names: through /proc/self/fd, so it is
 * the file that was looked at, whatever the path names by now; by the path
 * if /proc is not mounted. Returns the fd or -errno. Both sides use it.
 */
CHILD_SIDE int reopen(int path_fd, const char *path, int flags)
{
	char proc[32];
	int fd;

	*put_uint(stpcpy(proc, "/proc/self/fd/"), (unsigned int)path_fd) = '\0';
	fd = sys_open(proc, flags, 0666);
	if (fd < 0 && errno == ENOENT)
		fd = sys_open(path, flags, 0666);
	return fd < 0 ? -errno : fd;
}

/*
 * SIG_IGN and the mask are all of our signal state that survives execve
 * (handlers fall back to SIG_DFL; the sidecar has none anyway). The signals
 * ignored in the sidecar were listed once at start (setup_signals): those
 * go back to SIG_DFL, then the mask is emptied. Raw calls: libc's refuse
 * the signals it keeps for itself.
 */
CHILD_SIDE static void child_signals(bool unmask)
{
	const struct kernel_sigaction dfl = { .handler = SIG_DFL };
	const uint64_t none = 0;
	unsigned int i;

	for (i = 0; i < nignored; i++)
		sys_rt_sigaction(ignored_sigs[i], &dfl, NULL);
	if (unmask)
		sys_rt_sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * The deferred route: open the entries that may wait, as the sidecar does
 * on the other route (its credentials, its cwd, before setsid so a tty does
 * not become our controlling terminal). Nobody knows of this child until it
 * execs: should the sidecar die while we wait, so do we.
 */
CHILD_SIDE static void child_open(const struct spawn *s, int *src)
{
	const struct spawn_stdio *e;
	uint32_t i;
	int fd;

	/* The reading end is the sidecar's alone: its death must show (ns_sidecar_gone). */
	sys_close(s->report[0]);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(s, errno, SC_PRCTL, NULL);
	if (ns_sidecar_gone(s))
		_exit(127);
	slots_close_copies();
	for (i = 0; i < s->req.nstdio; i++) {
		if (!s->defer[i])
			continue;
		e = &s->req.stdio[i];
		fd = reopen(src[i], e->path, e->arg | O_CLOEXEC);
		if (fd < 0)
			child_fail(s, -fd, SC_OPEN, e->path);
		src[i] = fd;
	}
}

/*
 * execvpe() is not async-signal-safe in every libc, and must search the
 * child's PATH, not ours. Like execvp: EACCES is remembered and the search
 * goes on; a missing directory or file just moves to the next entry.
 */
CHILD_SIDE static int child_exec(const struct spawn_req *req)
{
	char path[PATH_MAX];	/* on the child's stack: no static of ours */
	const char *dir = req->path_env ? req->path_env : DEFAULT_PATH;
	const char *end;
	size_t dlen, flen = strlen(req->file);
	bool eacces = false;
	int err = ENOENT;

	if (strchr(req->file, '/')) {
		execve(req->file, req->argv, req->envp);
		return errno;
	}
	for (;; dir = end + 1) {
		end = strchrnul(dir, ':');
		dlen = (size_t)(end - dir);
		if (dlen + 1 + flen < sizeof(path)) {
			/* An empty entry means the current directory. */
			if (dlen) {
				memcpy(path, dir, dlen);
				path[dlen++] = '/';
			}
			memcpy(path + dlen, req->file, flen + 1);
			execve(path, req->argv, req->envp);
			err = errno;
			if (err == EACCES)
				eacces = true;
			else if (err != ENOENT && err != ENOTDIR && err != ESTALE &&
				 err != ENODEV && err != ETIMEDOUT)
				return err;
		}
		if (!*end)
			break;
	}
	return eacces ? EACCES : err;
}

/*
 * Closes every fd from n up but keep (the report pipe, or -1), rather than
 * trusting close-on-exec alone: all of ours are O_CLOEXEC, but whatever
 * opens a file in the child without it reaches the program, at the lowest
 * free number. A sanitizer runtime does (its log, on the warning a clone on
 * our own stack provokes): a child given two stdio entries then ran with
 * the log as its fd 2. One syscall; before Linux 5.9 (no close_range) it
 * fails and close-on-exec is all there is.
 */
CHILD_SIDE static void child_close_rest(int n, int keep)
{
	unsigned int first = (unsigned int)n;

	if (keep >= n) {
		if (keep > n)
			(void)sys_close_range(first, (unsigned int)keep - 1, 0);
		first = (unsigned int)keep + 1;
	}
	(void)sys_close_range(first, ~0u, 0);
}

/*
 * Runs between clone and execve, possibly in our own memory (CLONE_VM): it
 * writes nothing of ours but the report slot, so the fd table it arranges
 * is a copy on its stack. It starts with every signal blocked.
 */
CHILD_SIDE static _Noreturn void child_run(const struct spawn *s)
{
	const struct spawn_req *req = &s->req;
	int n = (int)req->nstdio;
	int src[WIRE_MAX_STDIO];
	int i, fd;

	/* The init of a pid namespace takes its signals blocked (namespaces.c). */
	child_signals(!(req->ns & NS_PID));

	/*
	 * No CLONE_INTO_CGROUP: join the cgroup before anything else runs,
	 * while we still have the sidecar's credentials. "0" names the writer.
	 */
	if (s->cgroup_procs >= 0 && sys_write(s->cgroup_procs, "0", 1) != 1)
		child_fail(s, errno, SC_WRITE, req->cgroup);

	for (i = 0; i < n; i++)
		src[i] = s->src[i];
	if (s->deferred)
		child_open(s, src);
	/* With NS_PID, what follows runs in the program the namespace's init forks. */
	if (req->ns)
		ns_enter(s);

	/* A terminal's child leads a session of its own: the pty becomes its terminal. */
	if (((req->flags & SPAWN_SETSID) || s->terminal) && setsid() < 0)
		child_fail(s, errno, SC_SETSID, NULL);
	if ((req->flags & SPAWN_SETPGID) && setpgid(0, 0) < 0)
		child_fail(s, errno, SC_SETPGID, NULL);
	if ((req->flags & SPAWN_SETGROUPS) && sys_setgroups(req->ngroups, req->groups) < 0)
		child_fail(s, errno, SC_SETGROUPS, NULL);
	if (req->gid != -1 && sys_setgid(req->gid) < 0)
		child_fail(s, errno, SC_SETGID, NULL);
	if (req->uid != -1 && sys_setuid(req->uid) < 0)
		child_fail(s, errno, SC_SETUID, NULL);
	/*
	 * After the credentials, whose change clears the death signal. The
	 * sidecar may have died before the prctl: nobody would signal us then.
	 */
	if (req->pdeathsig || s->deferred) {
		if (prctl(PR_SET_PDEATHSIG, req->pdeathsig) < 0)
			child_fail(s, errno, SC_PRCTL, NULL);
		if (req->pdeathsig && ns_sidecar_gone(s))
			_exit(127);
	}
	if (req->umask != 0xffffffffu)
		umask((mode_t)req->umask);

	/*
	 * Lift every source out of the target range first so no dup2() can
	 * clobber a source another entry still needs.
	 */
	for (i = 0; i < n; i++) {
		if (src[i] >= 0 && src[i] < n) {
			fd = fcntl(src[i], F_DUPFD_CLOEXEC, n);
			if (fd < 0)
				child_fail(s, errno, SC_FCNTL, NULL);
			src[i] = fd;
		}
	}
	/* Everything we hold is CLOEXEC: only these copies survive execve. */
	for (i = 0; i < n; i++) {
		if (src[i] < 0)
			sys_close(i);
		else if (dup2(src[i], i) < 0)
			child_fail(s, errno, SC_DUP2, NULL);
	}

	if (s->terminal && sys_ioctl(0, TIOCSCTTY, NULL) < 0)
		child_fail(s, errno, SC_IOCTL, NULL);
	if (req->root) {
		fd = open_beneath(req->root, req->cwd ? req->cwd : "");
		if (fd < 0)
			child_fail(s, -fd, SC_OPENAT2, req->cwd ? req->cwd : ".");
		if (sys_fchdir(fd) < 0)
			child_fail(s, errno, SC_CHDIR, req->cwd);
	} else if (req->cwd && chdir(req->cwd) < 0) {
		child_fail(s, errno, SC_CHDIR, req->cwd);
	}
	if (nofile_raised)
		sys_prlimit(RLIMIT_NOFILE, &nofile_orig, NULL);
	child_close_rest(n, s->report[1]);
	child_fail(s, child_exec(req), SC_EXECVE, req->file);
}

/* clone() entry of the CLONE_VM child, on child_stack. */
CHILD_SIDE static int child_entry(void *s)
{
	child_run(s);
}

/* ---- the parent side ---- */

/* Parses the request and checks there is room for one more child. */
static bool is_relay(uint32_t kind)
{
	return kind == STDIO_RELAY_TO_CHILD || kind == STDIO_RELAY_FROM_CHILD;
}

static int spawn_parse(struct spawn *s, const uint8_t *body, size_t n)
{
	uint32_t i, nrelay = 0;
	int err;

	s->nres = s->npipes = 0;
	s->deferred = false;
	s->terminal = false;
	s->cgroup_dir = s->cgroup_procs = -1;
	s->report[0] = s->report[1] = -1;
	s->status[0] = s->status[1] = -1;
	s->go[0] = s->go[1] = -1;
	s->map_outside = false;
	s->pid = 0;
	s->pidfd = -1;
	s->sc = SC_NONE;
	err = wire_parse_spawn(body, n, &s->req, &spawn_mem, &s->detail);
	if (err)
		return -err;
	ns_prepare(s);
	for (i = 0; i < s->req.nstdio; i++) {
		if (s->req.stdio[i].kind == STDIO_PIPE_TO_CHILD ||
		    s->req.stdio[i].kind == STDIO_PIPE_FROM_CHILD)
			s->npipes++;
		else if (is_relay(s->req.stdio[i].kind) || s->req.stdio[i].kind == STDIO_HOST_TERMINAL ||
			 (i < 2 && s->req.stdio[0].kind == STDIO_TERMINAL && s->req.stdio[i].kind == STDIO_TERMINAL))
			nrelay++;
	}
	if (nrelay > relay_room()) {
		s->detail = "too many relayed streams";
		return -EAGAIN;
	}
	if (nslots >= MAX_HANDLES) {
		s->detail = "handle table full";
		return -EAGAIN;
	}
	if (s->npipes > (uint32_t)nstaged_free) {
		s->detail = "too many unreleased pipes";
		return -EAGAIN;
	}
	return 0;
}

/*
 * A child on a copy of our memory, held by a pidfd: clone3, else clone()
 * with CLONE_PIDFD, else a plain clone and pidfd_open (race-free too: the
 * pid cannot be recycled before we reap it). CLONE_VFORK unless deferred.
 * cgroup_fd >= 0 starts the child in that cgroup: only clone3 can, and
 * open_cgroup() asked for it only then. Returns the pid, 0 in the child,
 * or -errno.
 */
static pid_t clone_child(struct spawn *s, int cgroup_fd)
{
	uint64_t vfork = s->deferred ? 0 : CLONE_VFORK;
	uint64_t ns = ns_clone_flags(s->req.ns);
	struct clone3_args args = {
		.flags = CLONE_PIDFD | vfork | ns,
		.pidfd = (uint64_t)(uintptr_t)&s->pidfd,
		.exit_signal = SIGCHLD,
	};
	size_t size = CLONE_ARGS_SIZE_VER0;
	uint8_t si[KERNEL_SIGINFO_SIZE];
	pid_t pid;
	int err;

	if (features & FEAT_CLONE3) {
		/* VER0 unless the cgroup is needed: the size every clone3 knows. */
		if (cgroup_fd >= 0) {
			args.flags |= CLONE_INTO_CGROUP;
			args.cgroup = (uint64_t)cgroup_fd;
			size = CLONE_ARGS_SIZE_VER2;
		}
		s->sc = SC_CLONE3;
		pid = (pid_t)sys_clone3(&args, size);
		return pid < 0 ? -errno : pid;
	}
	s->sc = SC_FORK;
	if (clone_fn_pidfd) {
		s->sc = SC_CLONE3;	/* "clone3 (or clone)": a clone with a pidfd */
		pid = sys_clone(CLONE_PIDFD | vfork | ns | SIGCHLD, &s->pidfd);
		return pid < 0 ? -errno : pid;
	}
	pid = sys_clone(vfork | ns | SIGCHLD, NULL);
	if (pid <= 0)
		return pid < 0 ? -errno : 0;
	s->pidfd = sys_pidfd_open(pid, 0);
	if (s->pidfd < 0) {
		err = errno;
		sys_kill(pid, SIGKILL);
		while (sys_waitid(P_PID, pid, si, WEXITED, NULL) < 0 && errno == EINTR)
			;
		s->sc = SC_PIDFD_OPEN;
		return -err;
	}
	return pid;
}

/*
 * Makes the child: s->pid and s->pidfd, or -errno. At once, the child has
 * exec'd when this returns (a failure is reaped and returned as ours);
 * deferred, it is on its way and s->report[0] will tell.
 *
 * The child inherits a mask of every signal and lifts it once its
 * dispositions are reset: a child sharing our memory must never run in a
 * state of ours (musl's posix_spawn does the same).
 */
static int spawn_clone(struct spawn *s)
{
	const uint64_t all = ~0ull;
	uint8_t si[KERNEL_SIGINFO_SIZE];
	struct kernel_rusage ru;
	/* Only with CLONE_INTO_CGROUP: otherwise the child joins by itself. */
	int cgroup_fd = s->cgroup_procs < 0 ? s->cgroup_dir : -1;
	uint64_t old;
	pid_t pid;

	if (s->deferred) {
		s->sc = SC_PIPE2;
		if (sys_pipe2(s->report, O_CLOEXEC | O_NONBLOCK) < 0)
			return -errno;
	}
	if ((s->req.ns & NS_PID) && sys_pipe2(s->status, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	if (s->map_outside && sys_pipe2(s->go, O_CLOEXEC) < 0)
		return -errno;
	report->err = 0;
	if (trace_on)
		trace_clone_ns = trace_now();
	sys_rt_sigprocmask(SIG_BLOCK, &all, &old);
	if (!s->deferred && cgroup_fd < 0 && clone_fn_pidfd && !s->req.ns) {
		s->sc = SC_CLONE3;
		pid = sys_clone_fn(child_entry, child_stack + sizeof(child_stack),
				   CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, s, &s->pidfd);
		/* Only on failure, when no child shared our errno. */
		if (pid < 0)
			pid = -errno;
	} else {
		pid = clone_child(s, cgroup_fd);
		if (pid == 0)
			child_run(s);
	}
	sys_rt_sigprocmask(SIG_SETMASK, &old, NULL);
	close_fd(&s->report[1]);
	close_fd(&s->status[1]);
	if (pid < 0) {
		s->detail = s->req.ns ? "namespaces" : s->req.cgroup;
		return pid;
	}
	s->pid = pid;
	if (s->map_outside)
		return ns_map(s);	/* deferred: 0, or -errno with the child reaped */
	if (s->deferred || !report->err)
		return 0;
	/* CLONE_VFORK: the child is gone already, or about to be. */
	reap(s->pidfd, si, &ru);
	close_fd(&s->pidfd);
	s->sc = report->syscall;
	s->detail = report->detail[0] ? report->detail : NULL;
	return -report->err;
}

/*
 * The child has its own copies now: a slot holds it, the pipes are staged
 * until RELEASE, the rest of what we opened for it is closed.
 */
static struct slot *spawn_adopt(struct spawn *s)
{
	struct slot *slot = slot_alloc();
	uint32_t i;

	slot->pid = s->pid;
	slot->pidfd = s->pidfd;
	slot->flags = SLOT_CHILD | ((s->req.flags & SPAWN_DETACHED) ? SLOT_DETACHED : 0);
	slot->status_fd = s->status[0];
	s->status[0] = -1;
	/* Last entry first: the staged list then reads in fd order. */
	for (i = s->nres; i-- > 0;) {
		const struct spawn_stdio *e = &s->req.stdio[i];

		if (s->keep[i] >= 0 && (is_relay(e->kind) || is_terminal(e->kind))) {
			/*
			 * Room was checked in spawn_parse, so this cannot fail
			 * but for epoll_ctl; then the stream is closed and the
			 * child sees EOF/EPIPE on it, as on any closed pipe.
			 */
			bool to_child = e->kind == STDIO_RELAY_TO_CHILD || (is_terminal(e->kind) && i == 0);
			/* arg: the window, with bit 31 for one that waits for the first CREDIT */
			uint32_t window = e->kind == STDIO_RELAY_FROM_CHILD ? (uint32_t)e->arg : 0;

			if (relay_add(slot->handle, i, s->keep[i], to_child, is_terminal(e->kind), window) < 0)
				sys_close(s->keep[i]);
			sys_close(s->src[i]);	/* the child has its own copy */
		} else if (s->keep[i] >= 0) {
			staged_push(slot, s->keep[i], s->src[i], i);
		} else if (src_owned(s, i)) {
			sys_close(s->src[i]);
		}
	}
	s->nres = 0;
	close_fd(&s->cgroup_dir);
	close_fd(&s->cgroup_procs);
	return slot;
}

/* A child nobody may learn of: it must not run on unseen. */
static void spawn_kill(struct slot *s)
{
	uint8_t si[KERNEL_SIGINFO_SIZE];
	struct kernel_rusage ru;

	sys_pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
	reap(s->pidfd, si, &ru);
	relay_drop_handle(s->handle);
	slot_free(s);
}

/* The child has exec'd: watch for its end, and answer. */
static int spawn_confirm(struct slot *s, uint32_t id)
{
	int r = slot_watch(s, s->pidfd);

	if (r < 0) {
		spawn_kill(s);
		return reply_error(id, -r, SC_EPOLL_CTL, NULL);
	}
	reply_spawned(id, s);
	/* Only now: the host must hear SPAWNED before the first DATA of the child. */
	relay_start(s->handle);
	return 0;
}

int handle_spawn(uint32_t id, const uint8_t *body, size_t n)
{
	struct spawn *s = &sp;
	struct slot *slot;
	int r;

	r = spawn_parse(s, body, n);
	if (r == 0)
		r = spawn_open(s);
	if (r == 0)
		r = spawn_clone(s);
	if (r < 0) {
		spawn_undo(s);
		return reply_error(id, -r, s->sc, s->detail);
	}
	slot = spawn_adopt(s);
	if (!s->deferred)
		return spawn_confirm(slot, id);

	/* The reply waits for the child's report (on_spawn_report). */
	slot->report_fd = s->report[0];
	s->report[0] = -1;
	r = slot_watch(slot, slot->report_fd);
	if (r < 0) {
		spawn_kill(slot);
		return reply_error(id, -r, SC_EPOLL_CTL, NULL);
	}
	slot->flags |= SLOT_PENDING;
	slot->req_id = id;
	npending++;
	return 0;
}

/*
 * A deferred child's report pipe is readable. A report means it failed and
 * is exiting: it is reaped silently once its pidfd says so. EOF means it
 * exec'd; a child killed before it could exec reads the same, and its EXIT
 * then tells what killed it.
 */
void on_spawn_report(struct slot *s)
{
	struct child_report rep;
	ssize_t n;
	int r;

	n = sys_read(s->report_fd, &rep, sizeof(rep) - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	close_watched(&s->report_fd);
	s->flags &= ~SLOT_PENDING;
	npending--;
	if (n <= 0) {
		spawn_confirm(s, s->req_id);
		return;
	}
	if ((size_t)n < REPORT_HEAD) {
		rep.err = EIO;
		rep.syscall = SC_NONE;
		n = REPORT_HEAD;
	}
	rep.detail[n - REPORT_HEAD] = '\0';
	reply_error(s->req_id, rep.err, rep.syscall, rep.detail[0] ? rep.detail : NULL);
	staged_close(s);
	relay_drop_handle(s->handle);
	s->flags |= SLOT_CLOSED;
	r = slot_watch(s, s->pidfd);
	if (r < 0)
		spawn_kill(s);
}

/* ---- startup ---- */

/* The report slot, shared with every clone. Returns 0 or -errno. */
int spawn_init(void)
{
	void *page = mmap(NULL, sizeof(*report), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (page == MAP_FAILED)
		return -errno;
	report = page;
	return 0;
}

CHILD_SIDE static int probe_entry(void *arg)
{
	(void)arg;
	_exit(0);
}

/*
 * Does clone() take CLONE_PIDFD, for the at-once route? clone3 is no proof
 * either way: seccomp filters (Docker's default among them) refuse clone3
 * and let clone through. A kernel before 5.2 ignores the flag: no pidfd.
 */
bool spawn_probe_clone(void)
{
	uint8_t si[KERNEL_SIGINFO_SIZE];
	int pidfd = -1;
	pid_t pid;

	pid = sys_clone_fn(probe_entry, child_stack + sizeof(child_stack),
			   CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, NULL, &pidfd);
	if (pid < 0)
		return false;
	while (sys_waitid(P_PID, pid, si, WEXITED, NULL) < 0 && errno == EINTR)
		;
	if (pidfd < 0)
		return false;
	sys_close(pidfd);
	clone_fn_pidfd = true;
	return true;
}
