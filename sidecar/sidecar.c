// SPDX-License-Identifier: MIT
/*
 * pidfd-sidecar: makes the pidfd syscalls on behalf of a JavaScript host.
 *
 * One process per host, one thread, one epoll loop. Requests arrive on
 * stdin, replies and events leave on stdout, framed as PROTOCOL.md says.
 * Every child is held by a pidfd from clone3(CLONE_PIDFD), so neither a
 * signal nor a wait can ever reach a recycled pid.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/close_range.h>

#include "wire.h"

#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1U << 2)
#endif
#ifndef PIDFS_IOCTL_MAGIC
#define PIDFS_IOCTL_MAGIC 0xFF
#endif
#ifndef PIDFD_GET_INFO
#define PIDFD_GET_INFO _IOWR(PIDFS_IOCTL_MAGIC, 11, struct wire_pidfd_info)
#endif

/* Kernel struct clone_args; libc headers disagree on whether they have it. */
struct clone3_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};
#define CLONE_ARGS_SIZE_VER0	64
#define CLONE_ARGS_SIZE_VER2	88
_Static_assert(sizeof(struct clone3_args) == CLONE_ARGS_SIZE_VER2, "CLONE_ARGS_SIZE_VER2");

static inline long sys_clone3(struct clone3_args *args, size_t size) { return syscall(__NR_clone3, args, size); }
static inline int sys_pidfd_open(pid_t pid, unsigned int flags) { return (int)syscall(__NR_pidfd_open, pid, flags); }
static inline int sys_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags) { return (int)syscall(__NR_pidfd_send_signal, pidfd, sig, info, flags); }
static inline int sys_pidfd_getfd(int pidfd, int fd, unsigned int flags) { return (int)syscall(__NR_pidfd_getfd, pidfd, fd, flags); }
static inline int sys_waitid(int which, int id, void *info, int options, struct kernel_rusage *ru) { return (int)syscall(__NR_waitid, which, id, info, options, ru); }
static inline int sys_close_range(unsigned int first, unsigned int last, unsigned int flags) { return (int)syscall(__NR_close_range, first, last, flags); }

#define MAX_HANDLES	16384		/* power of two: slot = handle & (N - 1) */
#define MAX_STAGED	8192		/* pipes spawned but not yet RELEASEd */
#define OBUF_SIZE	(64u << 10)
#define DETAIL_MAX	1024		/* ERROR detail is truncated to this */
#define MAX_EVENTS	256
#define DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"
#define REAP_GRACE_NS	100000000ll	/* how long an OPENed zombie may wait for its parent */

/* epoll data.u64 is (handle << 32) | slot; handle 0 marks these sentinels. */
#define EV_STDIN	0
#define EV_SIGNAL	1
#define EV_HOST		2
#define EV_TIMER	3

enum {
	SLOT_CHILD	= 1 << 0,	/* spawned by us: we reap it */
	SLOT_OPENED	= 1 << 1,	/* from OPEN: someone else reaps it */
	SLOT_DETACHED	= 1 << 2,	/* survives the host */
	SLOT_CLOSED	= 1 << 3,	/* host sent CLOSE: no events, handle dead */
	SLOT_EXITED	= 1 << 4,	/* reaped; kept only for unreleased pipes */
	SLOT_PARKED	= 1 << 5,	/* OPENed zombie waiting for its parent to reap it */
};

struct slot {
	uint32_t handle;	/* 0: free */
	int32_t pid;
	int pidfd;		/* -1 once reaped */
	uint32_t flags;
	int staged;		/* first staged pipe, -1: none */
};

/* Both ends of a pipe, held until the host has opened its own copy. */
struct staged_pipe {
	int fd[2];
	int next;
};

/*
 * The receive buffer is page-aligned and page-sized so it can be kept out
 * of every child (MADV_DONTFORK): children only ever touch the arena.
 */
#define RBUF_SIZE	(WIRE_MAX_FRAME + 4096)
static uint8_t rbuf[RBUF_SIZE] __attribute__((aligned(4096)));
static size_t rlen;
static uint8_t obuf[OBUF_SIZE] __attribute__((aligned(4096)));
static size_t olen;

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
static int spawn_src[WIRE_MAX_STDIO];	/* fd the child gets as fd i */
static int spawn_keep[WIRE_MAX_STDIO];	/* the host's end of a pipe, or -1 */
static int spawn_cgroup_dir = -1;	/* O_PATH fd for CLONE_INTO_CGROUP, or -1 */
static int spawn_cgroup_procs = -1;	/* cgroup.procs the child joins itself by, or -1 */

/*
 * How a child that fails before execve tells us why: it fills this slot
 * and _exit(127)s. Every clone is CLONE_VFORK, so once it returns the
 * child has exec'd (slot untouched) or exited. Cheaper than the CLOEXEC
 * error pipe (a pipe2, two closes and a read per spawn). main() points it
 * at a MAP_SHARED page so the fork paths (no CLONE_VM) see it too.
 */
static struct wire_child_error report_static;
static volatile struct wire_child_error *report = &report_static;

/* Stack of the CLONE_VM child: one thread, so one spawn at a time. */
#define CHILD_STACK_SIZE	(64u << 10)
static uint8_t child_stack[CHILD_STACK_SIZE] __attribute__((aligned(16)));

static struct slot slots[MAX_HANDLES];
static uint32_t nslots;
static uint32_t next_handle = 1;
static struct staged_pipe staged[MAX_STAGED];
static int staged_free;
static int nstaged_free;

/* OPENed zombies in the order they were parked; deadlines only grow. */
struct parked {
	uint32_t handle;
	int64_t deadline;
};
static struct parked parked[MAX_HANDLES];
static uint32_t parked_head, parked_len;

static int epfd = -1;
static int tfd = -1;
static int devnull = -1;
static int host_pidfd = -1;
static pid_t host_pid;
static pid_t self_pid;
static uint32_t features;
static struct rlimit nofile_orig;
static bool nofile_raised;

/* Dispositions the sidecar changes; children get them back as SIG_DFL. */
static const int ignored_sigs[] = { SIGPIPE, SIGINT, SIGQUIT, SIGHUP };

static _Noreturn void host_gone(int status);

/* A last word on stderr. No stdio: it would double the binary's size. */
static void say(const char *what, int err)
{
	const char *e = err ? strerror(err) : "";

	(void)!write(STDERR_FILENO, "pidfd-sidecar: ", 15);
	(void)!write(STDERR_FILENO, what, strlen(what));
	if (err) {
		(void)!write(STDERR_FILENO, ": ", 2);
		(void)!write(STDERR_FILENO, e, strlen(e));
	}
	(void)!write(STDERR_FILENO, "\n", 1);
}

/* Only before the loop starts. */
static _Noreturn void die(const char *what, int err)
{
	say(what, err);
	exit(1);
}

/* Decimal digits of v at p; returns the end. */
static char *put_uint(char *p, unsigned int v)
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

/* ---- output: one batch per wake-up ---- */

/*
 * Writes the whole batch. The host reads stdout as fast as it can; if it
 * made the pipe non-blocking we wait for room rather than drop a reply.
 */
static void out_flush(void)
{
	size_t off = 0;
	ssize_t w;

	while (off < olen) {
		w = write(STDOUT_FILENO, obuf + off, olen - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };

				poll(&p, 1, -1);
				continue;
			}
			olen = 0;
			host_gone(0);	/* EPIPE: nobody is listening */
		}
		off += (size_t)w;
	}
	olen = 0;
}

/* Reserves a frame in the batch, flushing first if it would not fit. */
static uint8_t *out_frame(uint16_t type, uint32_t id, size_t body_len)
{
	uint8_t *p;

	if (OBUF_SIZE - olen < WIRE_HDR_SIZE + body_len)
		out_flush();
	p = wire_put_hdr(obuf + olen, type, id, body_len);
	olen += WIRE_HDR_SIZE + body_len;
	return p;
}

static int reply_error(uint32_t id, int err, uint32_t syscall_id, const char *detail)
{
	size_t n = detail ? strnlen(detail, DETAIL_MAX) : 0;
	uint8_t *p = out_frame(MSG_ERROR, id, 12 + n);

	p = wire_put_u32(p, (uint32_t)err);
	p = wire_put_u32(p, syscall_id);
	p = wire_put_u32(p, (uint32_t)n);
	if (n)
		memcpy(p, detail, n);
	return 0;
}

static int reply_ok(uint32_t id)
{
	out_frame(MSG_OK, id, 0);
	return 0;
}

/*
 * Broken framing: we cannot find the next frame, so say why and end as if
 * the host had gone, children included.
 */
static _Noreturn void fatal(int err, const char *detail)
{
	size_t n = strlen(detail);
	uint8_t *p = out_frame(MSG_FATAL, 0, 8 + n);

	p = wire_put_u32(p, (uint32_t)err);
	p = wire_put_u32(p, (uint32_t)n);
	memcpy(p, detail, n);
	say(detail, 0);
	host_gone(2);
}

/* ---- handle table ---- */

static struct slot *slot_alloc(void)
{
	struct slot *s;
	uint32_t h;

	/* Callers check nslots < MAX_HANDLES, so a free slot is within reach. */
	for (;;) {
		h = next_handle++;
		if (!h)
			continue;
		s = &slots[h & (MAX_HANDLES - 1)];
		if (s->handle)
			continue;
		s->handle = h;
		s->pid = 0;
		s->pidfd = -1;
		s->flags = 0;
		s->staged = -1;
		nslots++;
		return s;
	}
}

/*
 * The slot of a handle the host may still name. After EXIT a handle is dead
 * for KILL and INFO, but RELEASE and CLOSE may still need its pipes.
 */
static struct slot *slot_get(uint32_t h, bool exited_ok)
{
	struct slot *s = &slots[h & (MAX_HANDLES - 1)];

	if (!h || s->handle != h || (s->flags & SLOT_CLOSED))
		return NULL;
	if ((s->flags & SLOT_EXITED) && !exited_ok)
		return NULL;
	return s;
}

static void staged_init(void)
{
	int i;

	for (i = 0; i < MAX_STAGED; i++)
		staged[i].next = i + 1 < MAX_STAGED ? i + 1 : -1;
	staged_free = 0;
	nstaged_free = MAX_STAGED;
}

static void staged_push(struct slot *s, int host_end, int child_end)
{
	int i = staged_free;

	staged_free = staged[i].next;
	nstaged_free--;
	staged[i].fd[0] = host_end;
	staged[i].fd[1] = child_end;
	staged[i].next = s->staged;
	s->staged = i;
}

static void staged_close(struct slot *s)
{
	int i;

	while ((i = s->staged) >= 0) {
		close(staged[i].fd[0]);
		close(staged[i].fd[1]);
		s->staged = staged[i].next;
		staged[i].next = staged_free;
		staged_free = i;
		nstaged_free++;
	}
}

static void slot_free(struct slot *s)
{
	staged_close(s);
	if (s->pidfd >= 0)
		close(s->pidfd);
	s->pidfd = -1;
	s->handle = 0;
	nslots--;
}

static int slot_watch(struct slot *s)
{
	struct epoll_event ev = {
		.events = EPOLLIN,
		.data.u64 = (uint64_t)s->handle << 32 | (uint64_t)(s - slots),
	};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, s->pidfd, &ev);
}

/* Reaps a child we own; it has exited or is about to. */
static int reap(int pidfd, void *si, struct kernel_rusage *ru)
{
	int r;

	do
		r = sys_waitid(P_PIDFD, pidfd, si, WEXITED, ru);
	while (r < 0 && errno == EINTR);
	return r;
}

/* ---- the child side of SPAWN: async-signal-safe calls only ---- */

/*
 * AddressSanitizer keeps per-thread state (stack bounds, fake stack frames)
 * that a CLONE_VM child would share with us, on a stack ASan does not know:
 * it must not instrument the child side (sanitizer builds only).
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHILD_SIDE	__attribute__((no_sanitize("address")))
#endif
#endif
#if !defined(CHILD_SIDE) && defined(__SANITIZE_ADDRESS__)
#define CHILD_SIDE	__attribute__((no_sanitize_address))
#endif
#ifndef CHILD_SIDE
#define CHILD_SIDE
#endif

CHILD_SIDE static _Noreturn void child_fail(int err, uint32_t syscall_id)
{
	report->syscall = syscall_id;
	report->err = err ? err : EIO;
	_exit(127);
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
 * Runs between clone and execve, possibly in our own memory (CLONE_VM):
 * it writes nothing of ours but the report slot, so the fd table it
 * rearranges is a copy on its stack. It starts with every signal blocked
 * and unblocks only after resetting the dispositions we changed.
 */
CHILD_SIDE static _Noreturn void child_run(const struct spawn_req *req)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	int n = (int)req->nstdio;
	int src[WIRE_MAX_STDIO];
	sigset_t none;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(ignored_sigs) / sizeof(ignored_sigs[0]); i++)
		sigaction(ignored_sigs[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/*
	 * No CLONE_INTO_CGROUP: join the cgroup before anything else runs,
	 * while we still have the sidecar's credentials. "0" names the writer.
	 */
	if (spawn_cgroup_procs >= 0 && write(spawn_cgroup_procs, "0", 1) != 1)
		child_fail(errno, SC_WRITE);

	if ((req->flags & SPAWN_SETSID) && setsid() < 0)
		child_fail(errno, SC_SETSID);
	if ((req->flags & SPAWN_SETPGID) && setpgid(0, 0) < 0)
		child_fail(errno, SC_SETPGID);
	if (req->pdeathsig) {
		if (prctl(PR_SET_PDEATHSIG, req->pdeathsig) < 0)
			child_fail(errno, SC_PRCTL);
		/* The sidecar may have died before the prctl: nobody would signal us. */
		if (getppid() != self_pid)
			_exit(127);
	}
	/* Raw syscalls: libc set*id() may try to sync threads we don't have. */
	if ((req->flags & SPAWN_SETGROUPS) &&
	    syscall(SYS_setgroups, req->ngroups, req->groups) < 0)
		child_fail(errno, SC_SETGROUPS);
	if (req->gid != -1 && syscall(SYS_setgid, req->gid) < 0)
		child_fail(errno, SC_SETGID);
	if (req->uid != -1 && syscall(SYS_setuid, req->uid) < 0)
		child_fail(errno, SC_SETUID);
	if (req->umask != 0xffffffffu)
		umask((mode_t)req->umask);

	/*
	 * Lift every source out of the target range first so no dup2() can
	 * clobber a source another entry still needs.
	 */
	for (i = 0; i < (size_t)n; i++) {
		src[i] = spawn_src[i];
		if (src[i] >= 0 && src[i] < n) {
			fd = fcntl(src[i], F_DUPFD_CLOEXEC, n);
			if (fd < 0)
				child_fail(errno, SC_FCNTL);
			src[i] = fd;
		}
	}
	/* Everything we hold is CLOEXEC: only these copies survive execve. */
	for (i = 0; i < (size_t)n; i++) {
		if (src[i] < 0)
			close((int)i);
		else if (dup2(src[i], (int)i) < 0)
			child_fail(errno, SC_DUP2);
	}

	if (req->cwd && chdir(req->cwd) < 0)
		child_fail(errno, SC_CHDIR);
	if (nofile_raised)
		syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &nofile_orig, NULL);
	child_fail(child_exec(req), SC_EXECVE);
}

/* clone() entry of the CLONE_VM child, on child_stack. */
CHILD_SIDE static int child_entry(void *req)
{
	child_run(req);
}

/*
 * A child with a pidfd. clone3 hands the pidfd over atomically; without it
 * a plain fork plus pidfd_open is still race-free, since the pid cannot be
 * recycled before we reap it. cgroup_fd >= 0 starts the child in that
 * cgroup (CLONE_INTO_CGROUP): callers pass it only when clone3 has it.
 * Returns twice, like fork, but CLONE_VFORK: the parent resumes once the
 * child has exec'd or exited (see the report slot).
 */
static pid_t clone_child(int *pidfd, int cgroup_fd, uint32_t *syscall_id)
{
	struct clone3_args args = {
		.flags = CLONE_PIDFD | CLONE_VFORK,
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
	};
	size_t size = CLONE_ARGS_SIZE_VER0;
	siginfo_t si;
	pid_t pid;
	int err;

	if (features & FEAT_CLONE3) {
		/* VER0 unless the cgroup is needed: the size every clone3 knows. */
		if (cgroup_fd >= 0) {
			args.flags |= CLONE_INTO_CGROUP;
			args.cgroup = (uint64_t)cgroup_fd;
			size = CLONE_ARGS_SIZE_VER2;
		}
		*syscall_id = SC_CLONE3;
		return (pid_t)sys_clone3(&args, size);
	}
	*syscall_id = SC_FORK;
	/* Raw: libc fork() runs atfork handlers we have no use for. */
	pid = (pid_t)syscall(SYS_clone, CLONE_VFORK | SIGCHLD, 0, 0, 0, 0);
	if (pid <= 0)
		return pid;
	*pidfd = sys_pidfd_open(pid, 0);
	if (*pidfd < 0) {
		err = errno;
		kill(pid, SIGKILL);
		while (waitid(P_PID, (id_t)pid, &si, WEXITED) < 0 && errno == EINTR)
			;
		errno = err;
		*syscall_id = SC_PIDFD_OPEN;
		return -1;
	}
	return pid;
}

/*
 * The common case, as musl's posix_spawn does it: CLONE_VM|CLONE_VFORK
 * lends the child our memory instead of copying our page tables (it
 * halved our CPU per spawn in the bench), and we sleep until the child has
 * exec'd or exited. It runs child_run() on child_stack. clone() with CLONE_PIDFD
 * needs 5.2, hence only where clone3 (5.3) was found; not for
 * CLONE_INTO_CGROUP, which only clone3 takes (and clone3 cannot start a
 * function on a new stack without assembly). Failure is reported as clone3.
 */
static pid_t clone_vm_child(const struct spawn_req *req, int *pidfd)
{
	return (pid_t)clone(child_entry, child_stack + sizeof(child_stack),
			    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
			    (void *)req, pidfd, NULL, NULL);
}

/* ---- request handlers ---- */

/* A copy of one of the host's fds; pidfd_getfd needs no /proc. */
static int host_fd(int fd, uint32_t *syscall_id)
{
	char path[64], *p;

	if (host_pidfd >= 0 && (features & FEAT_GETFD)) {
		*syscall_id = SC_PIDFD_GETFD;
		return sys_pidfd_getfd(host_pidfd, fd, 0);
	}
	*syscall_id = SC_OPEN;
	p = put_uint(stpcpy(path, "/proc/"), (unsigned int)host_pid);
	*put_uint(stpcpy(p, "/fd/"), (unsigned int)fd) = '\0';
	return open(path, O_RDWR | O_CLOEXEC);
}

/*
 * Opens the cgroup a child is to start in. With clone3 and
 * CLONE_INTO_CGROUP (5.7) the kernel places it atomically; otherwise the
 * child writes itself into cgroup.procs before it execs, so it may run a
 * few instructions in the sidecar's cgroup first. Returns 0 or -errno.
 */
static int spawn_cgroup_open(const char *path)
{
	spawn_cgroup_dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (spawn_cgroup_dir < 0)
		return -errno;
	if ((features & FEAT_CLONE3) && (features & FEAT_INTO_CGROUP))
		return 0;
	spawn_cgroup_procs = openat(spawn_cgroup_dir, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (spawn_cgroup_procs < 0)
		return -errno;
	return 0;
}

static void spawn_cgroup_close(void)
{
	if (spawn_cgroup_dir >= 0)
		close(spawn_cgroup_dir);
	if (spawn_cgroup_procs >= 0)
		close(spawn_cgroup_procs);
	spawn_cgroup_dir = spawn_cgroup_procs = -1;
}

/* Closes what the parent opened for a child that will not run. */
static void spawn_undo(const struct spawn_req *req, uint32_t nres)
{
	uint32_t i;

	for (i = 0; i < nres; i++) {
		switch (req->stdio[i].kind) {
		case STDIO_PIPE_TO_CHILD:
		case STDIO_PIPE_FROM_CHILD:
			close(spawn_keep[i]);
			close(spawn_src[i]);
			break;
		case STDIO_FILE:
		case STDIO_HOST_FD:
		case STDIO_FROM_PIDFD:
			close(spawn_src[i]);
			break;
		}
	}
	spawn_cgroup_close();
}

/* The detail an ERROR carries for a failure inside the child. */
static const char *child_detail(const struct spawn_req *req, uint32_t syscall_id)
{
	if (syscall_id == SC_EXECVE)
		return req->file;
	if (syscall_id == SC_CHDIR)
		return req->cwd;
	if (syscall_id == SC_WRITE)
		return req->cgroup;
	return NULL;
}

static int handle_spawn(uint32_t id, const uint8_t *body, size_t n)
{
	struct wire_child_error ce;
	struct kernel_rusage ru;
	struct spawn_req req;
	uint8_t si[KERNEL_SIGINFO_SIZE];
	uint32_t i, nres = 0, npipes = 0, syscall_id = SC_NONE;
	const char *why, *detail = NULL;
	int pidfd = -1, cgroup_fd, err;
	sigset_t all, old;
	struct slot *s;
	uint8_t *p;
	pid_t pid;

	err = wire_parse_spawn(body, n, &req, &spawn_mem, &why);
	if (err)
		return reply_error(id, err, SC_NONE, why);
	for (i = 0; i < req.nstdio; i++) {
		if (req.stdio[i].kind == STDIO_PIPE_TO_CHILD ||
		    req.stdio[i].kind == STDIO_PIPE_FROM_CHILD)
			npipes++;
	}
	if (nslots >= MAX_HANDLES)
		return reply_error(id, EAGAIN, SC_NONE, "handle table full");
	if (npipes > (uint32_t)nstaged_free)
		return reply_error(id, EAGAIN, SC_NONE, "too many unreleased pipes");
	if (req.cgroup) {
		err = -spawn_cgroup_open(req.cgroup);
		if (err) {
			spawn_cgroup_close();
			return reply_error(id, err, SC_OPEN, req.cgroup);
		}
	}

	for (i = 0; i < req.nstdio; i++) {
		const struct slot *from;
		const struct spawn_stdio *e = &req.stdio[i];
		int pfd[2];

		spawn_keep[i] = -1;
		switch (e->kind) {
		case STDIO_INHERIT:
			spawn_src[i] = 3 + e->arg;
			break;
		case STDIO_NULL:
			spawn_src[i] = devnull;
			break;
		case STDIO_CLOSED:
			spawn_src[i] = -1;
			break;
		case STDIO_PIPE_TO_CHILD:
		case STDIO_PIPE_FROM_CHILD:
			if (pipe2(pfd, O_CLOEXEC) < 0) {
				err = errno;
				syscall_id = SC_PIPE2;
				goto fail;
			}
			if (e->kind == STDIO_PIPE_TO_CHILD) {
				spawn_src[i] = pfd[0];
				spawn_keep[i] = pfd[1];
			} else {
				spawn_src[i] = pfd[1];
				spawn_keep[i] = pfd[0];
				/*
				 * A bigger pipe for a reader that asks (run()
				 * capturing output): fewer, larger reads. Only an
				 * optimisation: past the per-user pipe limits the
				 * kernel refuses (EPERM), and the default stays.
				 */
				if (e->arg > 0)
					(void)fcntl(pfd[0], F_SETPIPE_SZ, e->arg);
			}
			break;
		case STDIO_FILE:
			/* In the parent: relative paths follow the sidecar's cwd, like Node's. */
			spawn_src[i] = open(e->path, e->arg | O_CLOEXEC, 0666);
			if (spawn_src[i] < 0) {
				err = errno;
				syscall_id = SC_OPEN;
				detail = e->path;
				goto fail;
			}
			break;
		case STDIO_HOST_FD:
			spawn_src[i] = host_fd(e->arg, &syscall_id);
			if (spawn_src[i] < 0) {
				err = errno;
				goto fail;
			}
			break;
		case STDIO_FROM_PIDFD:
			/* Another process's fd, e.g. an old server's listening socket. */
			from = slot_get(e->handle, false);
			if (!from) {
				err = ESRCH;
				syscall_id = SC_NONE;
				detail = "handle";
				goto fail;
			}
			spawn_src[i] = sys_pidfd_getfd(from->pidfd, e->arg, 0);
			if (spawn_src[i] < 0) {
				err = errno;
				syscall_id = SC_PIDFD_GETFD;
				goto fail;
			}
			break;
		}
		nres = i + 1;
	}

	/* Only with CLONE_INTO_CGROUP: otherwise the child joins by itself. */
	cgroup_fd = spawn_cgroup_procs < 0 ? spawn_cgroup_dir : -1;
	/*
	 * The child inherits a mask of every signal and lifts it itself once
	 * its dispositions are reset: a child sharing our memory must never
	 * run in a state of ours (musl's posix_spawn does the same).
	 */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	report->err = 0;
	if ((features & FEAT_CLONE3) && cgroup_fd < 0) {
		syscall_id = SC_CLONE3;
		pid = clone_vm_child(&req, &pidfd);
	} else {
		pid = clone_child(&pidfd, cgroup_fd, &syscall_id);
		if (pid == 0)
			child_run(&req);
	}
	/* Only meaningful on failure: a CLONE_VM child shares our errno. */
	err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		if (req.cgroup)
			detail = req.cgroup;
		goto fail;
	}

	/* CLONE_VFORK: the child has exec'd, or it failed and filled the slot. */
	if (report->err) {
		ce.err = report->err;
		ce.syscall = report->syscall;
		reap(pidfd, si, &ru);
		close(pidfd);
		spawn_undo(&req, nres);
		return reply_error(id, ce.err, ce.syscall, child_detail(&req, ce.syscall));
	}

	s = slot_alloc();
	s->pid = pid;
	s->pidfd = pidfd;
	s->flags = SLOT_CHILD | ((req.flags & SPAWN_DETACHED) ? SLOT_DETACHED : 0);
	if (slot_watch(s) < 0) {
		err = errno;
		sys_pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
		reap(pidfd, si, &ru);
		slot_free(s);
		spawn_undo(&req, nres);
		return reply_error(id, err, SC_EPOLL_CTL, NULL);
	}

	p = out_frame(MSG_SPAWNED, id, 12 + 8 * (size_t)npipes);
	p = wire_put_u32(p, s->handle);
	p = wire_put_u32(p, (uint32_t)pid);
	p = wire_put_u32(p, npipes);
	for (i = 0; i < req.nstdio; i++) {
		switch (req.stdio[i].kind) {
		case STDIO_PIPE_TO_CHILD:
		case STDIO_PIPE_FROM_CHILD:
			/*
			 * Keep the child's end too until RELEASE: the host's
			 * open of /proc/<pid>/fd/N then never blocks on a
			 * pipe without a partner, even if the child is gone.
			 */
			staged_push(s, spawn_keep[i], spawn_src[i]);
			p = wire_put_u32(p, i);
			p = wire_put_u32(p, (uint32_t)spawn_keep[i]);
			break;
		case STDIO_FILE:
		case STDIO_HOST_FD:
		case STDIO_FROM_PIDFD:
			close(spawn_src[i]);
			break;
		}
	}
	spawn_cgroup_close();
	return 0;

fail:
	spawn_undo(&req, nres);
	return reply_error(id, err, syscall_id, detail);
}

static int handle_kill(uint32_t id, const uint8_t *b, size_t n)
{
	uint32_t h, flags, kflags = 0;
	struct slot *s;
	int32_t sig;

	if (n != 12)
		return reply_error(id, EINVAL, SC_NONE, "body size");
	h = wire_get_u32(b);
	sig = (int32_t)wire_get_u32(b + 4);
	flags = wire_get_u32(b + 8);
	if (sig < 1 || sig > 64)
		return reply_error(id, EINVAL, SC_NONE, "signal");
	if (flags & ~KILL_GROUP)
		return reply_error(id, EINVAL, SC_NONE, "flags");
	s = slot_get(h, false);
	if (!s)
		return reply_error(id, ESRCH, SC_NONE, "handle");
	if (flags & KILL_GROUP) {
		if (!(features & FEAT_SIGNAL_GROUP))
			return reply_error(id, EOPNOTSUPP, SC_PIDFD_SEND_SIGNAL,
					   "PIDFD_SIGNAL_PROCESS_GROUP");
		kflags = PIDFD_SIGNAL_PROCESS_GROUP;
	}
	if (sys_pidfd_send_signal(s->pidfd, sig, NULL, kflags) < 0)
		return reply_error(id, errno, SC_PIDFD_SEND_SIGNAL, NULL);
	return reply_ok(id);
}

static int handle_open(uint32_t id, const uint8_t *b, size_t n)
{
	struct slot *s;
	uint32_t flags;
	int32_t pid;
	int fd, err;
	uint8_t *p;

	if (n != 8)
		return reply_error(id, EINVAL, SC_NONE, "body size");
	pid = (int32_t)wire_get_u32(b);
	flags = wire_get_u32(b + 4);
	if (flags & ~OPEN_THREAD)
		return reply_error(id, EINVAL, SC_NONE, "flags");
	if (pid <= 0)
		return reply_error(id, EINVAL, SC_NONE, "pid");
	if (nslots >= MAX_HANDLES)
		return reply_error(id, EAGAIN, SC_NONE, "handle table full");
	fd = sys_pidfd_open(pid, (flags & OPEN_THREAD) ? PIDFD_THREAD : 0);
	if (fd < 0)
		return reply_error(id, errno, SC_PIDFD_OPEN, NULL);
	s = slot_alloc();
	s->pid = pid;
	s->pidfd = fd;
	s->flags = SLOT_OPENED;
	if (slot_watch(s) < 0) {
		err = errno;
		slot_free(s);
		return reply_error(id, err, SC_EPOLL_CTL, NULL);
	}
	p = out_frame(MSG_OPENED, id, 8);
	p = wire_put_u32(p, s->handle);
	wire_put_u32(p, (uint32_t)pid);
	return 0;
}

static int handle_close(uint32_t id, const uint8_t *b, size_t n)
{
	struct slot *s;

	if (n != 4)
		return reply_error(id, EINVAL, SC_NONE, "body size");
	s = slot_get(wire_get_u32(b), true);
	if (!s)
		return reply_error(id, ESRCH, SC_NONE, "handle");
	staged_close(s);
	/* A running child stays ours to reap (and to kill if the host goes). */
	if ((s->flags & SLOT_CHILD) && s->pidfd >= 0)
		s->flags |= SLOT_CLOSED;
	else
		slot_free(s);
	return reply_ok(id);
}

static int handle_info(uint32_t id, const uint8_t *b, size_t n)
{
	struct wire_info_reply rep = { 0 };
	struct slot *s;

	if (n != 8)
		return reply_error(id, EINVAL, SC_NONE, "body size");
	s = slot_get(wire_get_u32(b), false);
	if (!s)
		return reply_error(id, ESRCH, SC_NONE, "handle");
	rep.handle = s->handle;
	rep.size = sizeof(rep.info);
	rep.info.mask = wire_get_u32(b + 4);
	if (ioctl(s->pidfd, PIDFD_GET_INFO, &rep.info) < 0)
		return reply_error(id, errno, SC_IOCTL, NULL);
	memcpy(out_frame(MSG_INFO_REPLY, id, sizeof(rep)), &rep, sizeof(rep));
	return 0;
}

/*
 * Does the handle's process still hold its pid (running, stopped, or a
 * zombie not yet reaped)? Signal 0 through the pidfd answers without
 * touching it. The host reads /proc/<pid> first and asks this after: a
 * yes means the pid named this process all along, so what it read cannot
 * describe a newcomer that got the pid. EPERM also means it exists.
 */
static int handle_alive(uint32_t id, const uint8_t *b, size_t n)
{
	struct slot *s;

	if (n != 4)
		return reply_error(id, EINVAL, SC_NONE, "body size");
	s = slot_get(wire_get_u32(b), false);
	if (!s)
		return reply_error(id, ESRCH, SC_NONE, "handle");
	if (sys_pidfd_send_signal(s->pidfd, 0, NULL, 0) < 0 && errno != EPERM)
		return reply_error(id, errno, SC_PIDFD_SEND_SIGNAL, NULL);
	return reply_ok(id);
}

static int handle_release(uint32_t id, const uint8_t *b, size_t n)
{
	struct slot *s;

	if (n != 4)
		return reply_error(id, EINVAL, SC_NONE, "body size");
	s = slot_get(wire_get_u32(b), true);
	if (!s)
		return reply_error(id, ESRCH, SC_NONE, "handle");
	staged_close(s);
	if (s->flags & SLOT_EXITED)
		slot_free(s);
	return reply_ok(id);
}

static void dispatch(const struct wire_hdr *h, const uint8_t *body, size_t n)
{
	int (*fn)(uint32_t, const uint8_t *, size_t);
	uint8_t *p;

	switch (h->type) {
	case MSG_SPAWN:		fn = handle_spawn; break;
	case MSG_KILL:		fn = handle_kill; break;
	case MSG_OPEN:		fn = handle_open; break;
	case MSG_CLOSE:		fn = handle_close; break;
	case MSG_INFO:		fn = handle_info; break;
	case MSG_RELEASE:	fn = handle_release; break;
	case MSG_ALIVE:		fn = handle_alive; break;
	default:
		p = out_frame(MSG_UNIMPLEMENTED, h->id, 4);
		p = wire_put_u16(p, h->type);
		wire_put_u16(p, 0);
		return;
	}
	if (h->flags)
		reply_error(h->id, EINVAL, SC_NONE, "header flags");
	else
		fn(h->id, body, n);
}

/* ---- events ---- */

/* Parses every complete frame in the buffer; keeps a partial one. */
static void on_stdin(void)
{
	struct wire_hdr h;
	size_t off = 0;
	ssize_t r;
	long fl;

	r = read(STDIN_FILENO, rbuf + rlen, sizeof(rbuf) - rlen);
	if (r == 0)
		host_gone(0);
	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		host_gone(0);
	}
	rlen += (size_t)r;
	while ((fl = wire_frame(rbuf + off, rlen - off, &h)) > 0) {
		dispatch(&h, rbuf + off + WIRE_HDR_SIZE, h.len - (WIRE_HDR_SIZE - 4));
		off += (size_t)fl;
	}
	if (fl < 0)
		fatal(wire_get_u32(rbuf + off) > WIRE_MAX_FRAME ? EMSGSIZE : EPROTO,
		      "frame length out of bounds");
	if (off) {
		memmove(rbuf, rbuf + off, rlen - off);
		rlen -= off;
	}
}

/* A spawned child ended: reap it, report it unless CLOSEd. */
static void on_child_exit(struct slot *s)
{
	struct wire_exit ex = { 0 };

	/* On error the zeroed siginfo tells the host nothing was reaped. */
	reap(s->pidfd, ex.siginfo, &ex.rusage);
	close(s->pidfd);
	s->pidfd = -1;
	if (s->flags & SLOT_CLOSED) {
		slot_free(s);
		return;
	}
	ex.handle = s->handle;
	memcpy(out_frame(MSG_EXIT, 0, sizeof(ex)), &ex, sizeof(ex));
	if (s->staged >= 0)
		s->flags |= SLOT_EXITED;
	else
		slot_free(s);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void timer_arm(int64_t deadline)
{
	struct itimerspec its = {
		.it_value.tv_sec = deadline / 1000000000,
		.it_value.tv_nsec = deadline % 1000000000,
	};

	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/*
 * The pidfd of an OPENed process turns readable when it becomes a zombie,
 * but the kernel records its exit (PIDFD_INFO_EXIT) only once its parent
 * reaps it, which a live parent does within moments. So a zombie is parked:
 * its pidfd stays in epoll with no events, and EPOLLHUP (reaped) or the
 * grace timer brings it back here.
 */
static bool park(struct slot *s)
{
	struct epoll_event ev = {
		.events = 0,
		.data.u64 = (uint64_t)s->handle << 32 | (uint64_t)(s - slots),
	};
	struct parked *p;

	if (parked_len == MAX_HANDLES || epoll_ctl(epfd, EPOLL_CTL_MOD, s->pidfd, &ev) < 0)
		return false;
	p = &parked[(parked_head + parked_len++) & (MAX_HANDLES - 1)];
	p->handle = s->handle;
	p->deadline = now_ns() + REAP_GRACE_NS;
	if (parked_len == 1)
		timer_arm(p->deadline);
	s->flags |= SLOT_PARKED;
	return true;
}

/*
 * An OPENed process ended. Its parent reaps it, not us; the exit status is
 * only known if the kernel kept it (PIDFD_INFO_EXIT, once reaped).
 */
static void on_opened_exit(struct slot *s, uint32_t events)
{
	struct wire_exited ev = { 0 };
	bool zombie;

	ev.handle = s->handle;
	ev.info.mask = PIDFD_INFO_PID | PIDFD_INFO_CREDS | PIDFD_INFO_CGROUPID |
		       PIDFD_INFO_EXIT;
	if (!(features & FEAT_GET_INFO) ||
	    ioctl(s->pidfd, PIDFD_GET_INFO, &ev.info) < 0)
		memset(&ev.info, 0, sizeof(ev.info));
	ev.has_exit = !!(ev.info.mask & PIDFD_INFO_EXIT);
	/* Still there, so not reaped yet: PIDFD_INFO_PID needs a live task. */
	zombie = !ev.has_exit && (ev.info.mask & PIDFD_INFO_PID);
	if (zombie && (features & FEAT_INFO_EXIT) && !(events & EPOLLHUP) &&
	    !(s->flags & SLOT_PARKED) && park(s))
		return;
	memcpy(out_frame(MSG_EXITED, 0, sizeof(ev)), &ev, sizeof(ev));
	slot_free(s);
}

/* Parked zombies whose parent took too long: report them as they are. */
static void on_timer(void)
{
	struct parked *p;
	struct slot *s;
	uint64_t ticks;
	int64_t now = now_ns();

	(void)!read(tfd, &ticks, sizeof(ticks));
	while (parked_len) {
		p = &parked[parked_head & (MAX_HANDLES - 1)];
		if (p->deadline > now) {
			timer_arm(p->deadline);
			break;
		}
		parked_head++;
		parked_len--;
		s = &slots[p->handle & (MAX_HANDLES - 1)];
		if (s->handle == p->handle && (s->flags & SLOT_PARKED))
			on_opened_exit(s, 0);
	}
}

/*
 * The host is gone (or asked us to go): kill every child that is not
 * DETACHED, then reap them all so none is left a zombie. Killing first
 * lets them die in parallel.
 */
static _Noreturn void host_gone(int status)
{
	uint8_t si[KERNEL_SIGINFO_SIZE];
	struct slot *s;
	uint32_t i;

	if (olen) {
		/* Last replies, best effort: never block on a host that stopped reading. */
		fcntl(STDOUT_FILENO, F_SETFL, O_NONBLOCK);
		(void)!write(STDOUT_FILENO, obuf, olen);
		olen = 0;
	}
	for (i = 0; i < MAX_HANDLES; i++) {
		s = &slots[i];
		if (s->handle && (s->flags & SLOT_CHILD) && s->pidfd >= 0 &&
		    !(s->flags & SLOT_DETACHED))
			sys_pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
	}
	for (i = 0; i < MAX_HANDLES; i++) {
		s = &slots[i];
		if (s->handle && (s->flags & SLOT_CHILD) && s->pidfd >= 0 &&
		    !(s->flags & SLOT_DETACHED))
			reap(s->pidfd, si, NULL);
	}
	exit(status);
}

static void on_signal(int sfd)
{
	struct signalfd_siginfo ssi;

	while (read(sfd, &ssi, sizeof(ssi)) == (ssize_t)sizeof(ssi)) {
		if (ssi.ssi_signo == SIGTERM)
			host_gone(0);
	}
}

static void on_event(uint64_t data, uint32_t events, int sfd)
{
	uint32_t h = (uint32_t)(data >> 32), idx = (uint32_t)data;
	struct slot *s;

	if (!h) {
		if (idx == EV_STDIN)
			on_stdin();
		else if (idx == EV_SIGNAL)
			on_signal(sfd);
		else if (idx == EV_TIMER)
			on_timer();
		else
			host_gone(0);
		return;
	}
	/* An earlier event in this batch may have freed or refilled the slot. */
	s = &slots[idx];
	if (s->handle != h || s->pidfd < 0)
		return;
	if (s->flags & SLOT_OPENED)
		on_opened_exit(s, events);
	else
		on_child_exit(s);
}

/* ---- startup: may die ---- */

/* Slow path for kernels before close_range(CLOSE_RANGE_CLOEXEC), 5.11. */
static void cloexec_all_slow(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int fd;

	if (!d) {
		for (fd = 3; fd < 65536; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		return;
	}
	while ((de = readdir(d))) {
		fd = atoi(de->d_name);
		if (fd >= 3 && fd != dirfd(d))
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(d);
}

/*
 * fds 3-5 are the host's stdio for INHERIT. Missing ones become /dev/null
 * so those numbers can never be taken by an fd of ours and handed out.
 */
static void setup_fds(void)
{
	int fd, t;

	if (fcntl(STDIN_FILENO, F_GETFD) < 0 || fcntl(STDOUT_FILENO, F_GETFD) < 0)
		die("stdin and stdout must be the protocol pipes", 0);
	for (fd = 2; fd <= 5; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		t = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (t < 0)
			die("open /dev/null", errno);
		if (t != fd) {
			if (dup3(t, fd, O_CLOEXEC) < 0)
				die("dup3", errno);
			close(t);
		}
	}
	if (sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		cloexec_all_slow();
	for (fd = 0; fd <= 2; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		die("open /dev/null", errno);
}

/*
 * Start from a known state whatever the host left us: SIGCHLD must not be
 * ignored (children would vanish unreaped), Ctrl-C and hangups are the
 * host's to act on, and SIGTERM arrives through a signalfd.
 */
static int setup_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t set;
	size_t i;
	int sig, sfd;

	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	}
	sa.sa_handler = SIG_IGN;
	for (i = 0; i < sizeof(ignored_sigs) / sizeof(ignored_sigs[0]); i++)
		sigaction(ignored_sigs[i], &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_SETMASK, &set, NULL) < 0)
		die("sigprocmask", errno);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd", errno);
	return sfd;
}

/* One pidfd per child: thousands of children need more than 1024 fds. */
static void setup_rlimit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &nofile_orig) < 0)
		return;
	if (nofile_orig.rlim_cur >= nofile_orig.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max = nofile_orig.rlim_max;
	nofile_raised = setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static bool kernel_at_least(const char *release, int major, int minor)
{
	char *end;
	long ma = strtol(release, &end, 10), mi = 0;

	if (end == release)
		return false;
	if (*end == '.')
		mi = strtol(end + 1, NULL, 10);
	return ma > major || (ma == major && mi >= minor);
}

/*
 * PIDFD_INFO_EXIT can only be seen on a reaped process: make one. Needs
 * waitid(P_PIDFD) and PIDFD_GET_INFO, probed before.
 */
static bool probe_info_exit(void)
{
	struct wire_pidfd_info info = { .mask = PIDFD_INFO_EXIT };
	uint8_t si[KERNEL_SIGINFO_SIZE];
	uint32_t syscall_id;
	int pidfd = -1, r;
	pid_t pid;

	pid = clone_child(&pidfd, -1, &syscall_id);
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return false;
	r = reap(pidfd, si, NULL);
	if (r == 0)
		r = ioctl(pidfd, PIDFD_GET_INFO, &info);
	close(pidfd);
	return r == 0 && (info.mask & PIDFD_INFO_EXIT);
}

/* ENOSYS (or a seccomp EPERM) means absent; anything else is an answer. */
static uint32_t probe_features(const char *release)
{
	struct wire_pidfd_info info = { .mask = PIDFD_INFO_PID };
	uint8_t si[KERNEL_SIGINFO_SIZE];
	uint32_t f = 0;
	int self, fd;

	if (sys_clone3(NULL, 0) < 0 && (errno == EINVAL || errno == EFAULT || errno == E2BIG))
		f |= FEAT_CLONE3;
	self = sys_pidfd_open(self_pid, 0);
	if (self >= 0) {
		if (sys_waitid(P_PIDFD, self, si, WEXITED | WNOHANG, NULL) < 0 && errno == ECHILD)
			f |= FEAT_WAITID_PIDFD;
		if (ioctl(self, PIDFD_GET_INFO, &info) == 0)
			f |= FEAT_GET_INFO;
		fd = sys_pidfd_getfd(self, STDIN_FILENO, 0);
		if (fd >= 0) {
			f |= FEAT_GETFD;
			close(fd);
		}
		/*
		 * The flag names the group led by the pidfd's process; we lead
		 * none, so ESRCH is the "supported" answer. Old kernels: EINVAL.
		 */
		if (sys_pidfd_send_signal(self, 0, NULL, PIDFD_SIGNAL_PROCESS_GROUP) == 0 ||
		    errno == ESRCH)
			f |= FEAT_SIGNAL_GROUP;
		close(self);
	}
	fd = sys_pidfd_open(self_pid, PIDFD_THREAD);
	if (fd >= 0) {
		f |= FEAT_THREAD;
		close(fd);
	}
	/* A clone3 flag: without clone3 (or seccomp hiding it) there is none. */
	if ((f & FEAT_CLONE3) && kernel_at_least(release, 5, 7))
		f |= FEAT_INTO_CGROUP;
	features = f;
	if ((f & FEAT_WAITID_PIDFD) && (f & FEAT_GET_INFO) && probe_info_exit())
		f |= FEAT_INFO_EXIT;
	return f;
}

static void send_hello(const char *release)
{
	size_t n = strlen(release);
	uint8_t *p = out_frame(MSG_HELLO, 0, 24 + n);

	p = wire_put_u32(p, PROTOCOL_VERSION);
	p = wire_put_u32(p, features);
	p = wire_put_u32(p, WIRE_MAX_FRAME);
	p = wire_put_u32(p, (uint32_t)self_pid);
	p = wire_put_u32(p, MAX_HANDLES);
	p = wire_put_u32(p, (uint32_t)n);
	memcpy(p, release, n);
	out_flush();
}

static void watch_fd(int fd, uint32_t sentinel)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = sentinel };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl", errno);
}

int main(int argc, char **argv)
{
	struct epoll_event evs[MAX_EVENTS];
	struct utsname uts;
	int sfd, n, i;
	void *page;

	(void)argv;
	if (argc > 1)
		die("speaks the pidfd protocol on stdin/stdout; takes no arguments", 0);
	self_pid = getpid();
	host_pid = getppid();
	setup_fds();
	sfd = setup_signals();
	setup_rlimit();
	staged_init();
	/* Children never touch the I/O buffers: don't copy their page tables. */
	madvise(rbuf, sizeof(rbuf), MADV_DONTFORK);
	madvise(obuf, sizeof(obuf), MADV_DONTFORK);
	/* A forked child (no CLONE_VM) must reach the report slot too. */
	page = mmap(NULL, sizeof(*report), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		die("mmap", errno);
	report = page;
	if (uname(&uts) < 0)
		die("uname", errno);
	features = probe_features(uts.release);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1", errno);
	watch_fd(STDIN_FILENO, EV_STDIN);
	watch_fd(sfd, EV_SIGNAL);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0)
		die("timerfd_create", errno);
	watch_fd(tfd, EV_TIMER);
	/* The host's exit ends us even if someone else holds our stdin open. */
	if (host_pid > 1) {
		host_pidfd = sys_pidfd_open(host_pid, 0);
		if (host_pidfd >= 0)
			watch_fd(host_pidfd, EV_HOST);
	}
	send_hello(uts.release);

	/* From now on, we must not die but through host_gone(). */
	for (;;) {
		n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			host_gone(1);
		}
		for (i = 0; i < n; i++)
			on_event(evs[i].data.u64, evs[i].events, sfd);
		out_flush();
	}
}
