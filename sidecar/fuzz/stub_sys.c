// SPDX-License-Identifier: MIT
/*
 * Fakes of every sys_* call in ../sys.h, linked into fuzz_dispatch instead
 * of ../sys.c: the real request handlers run, and nothing leaves the
 * process.
 *
 * A fuzzer that can spawn can run any program with any arguments, open any
 * file with O_TRUNC and signal any pid. Here every clone fails, no open
 * reaches the file system, and the calls that make fds (pidfd_open,
 * pidfd_getfd, open, openat) hand out eventfds, so handles come and go and
 * the handle table, the pipes and every error path run for real. Which of
 * them succeed, and what fstat says a file is, depends on the input (the
 * path's length, the fd's number), so both routes of a FILE entry, at once
 * and deferred, are reached.
 *
 * Calls the handlers must never make (they belong to the child side, to
 * startup, or to the loop's reading) trap. Every fd made here is tracked:
 * closing one that was not made here traps, and fuzz_dispatch checks that
 * none is left once every handle is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../sys.h"
#include "stub_sys.h"

static bool owned[STUB_MAX_FD];
unsigned int stub_nowned;

static _Noreturn void unexpected(const char *what)
{
	fprintf(stderr, "fuzz_dispatch: a handler reached sys_%s, which it must not\n", what);
	abort();
}

static int own(int fd)
{
	if (fd >= STUB_MAX_FD)
		abort();
	if (fd >= 0) {
		owned[fd] = true;
		stub_nowned++;
	}
	return fd;
}

/* Pollable and harmless: epoll and fcntl work on it for real. */
static int fake_fd(void)
{
	return own(eventfd(0, EFD_CLOEXEC));
}

static int fail(int err)
{
	errno = err;
	return -1;
}

bool stub_owned(int fd)
{
	return fd >= 0 && fd < STUB_MAX_FD && owned[fd];
}

long sys_clone3(struct clone3_args *args, size_t size)
{
	(void)args;
	(void)size;
	return fail(EAGAIN);
}

/* The startup probe (no argument) finds clone() able, so spawns take that route too. */
/* cppcheck-suppress constParameter */
pid_t sys_clone_fn(int (*fn)(void *), void *stack_top, int flags, void *arg, int *pidfd)
{
	(void)fn;
	(void)stack_top;
	(void)flags;
	if (arg)
		return fail(EAGAIN);
	*pidfd = fake_fd();
	return 1;
}

pid_t sys_clone(unsigned long flags, int *pidfd)
{
	(void)flags;
	(void)pidfd;
	return fail(EAGAIN);
}

int sys_pidfd_open(pid_t pid, unsigned int flags)
{
	(void)pid;
	(void)flags;
	return fake_fd();
}

int sys_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags)
{
	(void)pidfd;
	(void)sig;
	(void)info;
	(void)flags;
	return 0;
}

int sys_pidfd_getfd(int pidfd, int fd, unsigned int flags)
{
	(void)pidfd;
	(void)flags;
	return fd & 1 ? fail(EBADF) : fake_fd();
}

/* No terminals here: /dev/ptmx never opens for real, and its ioctls refuse. */
int sys_ioctl(int fd, unsigned long request, void *arg)
{
	(void)fd;
	(void)request;
	(void)arg;
	return fail(ENOTTY);
}

int sys_pidfd_get_info(int pidfd, struct wire_pidfd_info *info)
{
	(void)pidfd;
	(void)info;
	return fail(ENOTTY);
}

int sys_waitid(int which, int id, void *info, int options, struct kernel_rusage *ru)
{
	(void)which;
	(void)id;
	(void)info;
	(void)options;
	(void)ru;
	return fail(ECHILD);
}

int sys_kill(pid_t pid, int sig)
{
	(void)pid;
	(void)sig;
	unexpected("kill");
}

/*
 * A reopen through /proc/self/fd succeeds but for every third fd (a lease:
 * EWOULDBLOCK); other paths fail or succeed by their length.
 */
int sys_open(const char *path, int flags, mode_t mode)
{
	static const char proc[] = "/proc/self/fd/";

	(void)flags;
	(void)mode;
	if (!strncmp(path, proc, sizeof(proc) - 1))
		return atoi(path + sizeof(proc) - 1) % 3 ? fake_fd() : fail(EWOULDBLOCK);
	switch (strlen(path) % 3) {
	case 0:
		return fail(EACCES);
	case 1:
		return fail(ENOENT);
	}
	return fake_fd();
}

int sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	(void)path;
	(void)flags;
	(void)mode;
	return dirfd & 1 ? fail(EACCES) : fake_fd();
}

/* Regular file, FIFO, /dev/null or a tty, by the fd's number. */
int sys_fstat(int fd, struct stat *st)
{
	static const mode_t modes[] = { S_IFREG, S_IFIFO, S_IFCHR, S_IFCHR };

	memset(st, 0, sizeof(*st));
	st->st_mode = modes[fd & 3] | 0644;
	if (S_ISCHR(st->st_mode))
		st->st_rdev = (fd & 3) == 2 ? makedev(1, 3) : makedev(4, 1);
	return 0;
}

int sys_pipe2(int fd[2], int flags)
{
	if (pipe2(fd, flags) < 0)
		return -1;
	own(fd[0]);
	own(fd[1]);
	return 0;
}

int sys_close(int fd)
{
	if (!stub_owned(fd)) {
		fprintf(stderr, "fuzz_dispatch: close(%d) of an fd no handler opened\n", fd);
		abort();
	}
	owned[fd] = false;
	stub_nowned--;
	return close(fd);
}

int sys_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
	(void)first;
	(void)last;
	(void)flags;
	unexpected("close_range");
}

ssize_t sys_read(int fd, void *buf, size_t n)
{
	(void)fd;
	(void)buf;
	(void)n;
	unexpected("read");
}

/* Replies go nowhere; the harness reads them from obuf before the flush. */
ssize_t sys_write(int fd, const void *buf, size_t n)
{
	(void)buf;
	if (fd != STDOUT_FILENO)
		unexpected("write");
	return (ssize_t)n;
}

int sys_rt_sigaction(int sig, const struct kernel_sigaction *act, struct kernel_sigaction *old)
{
	(void)sig;
	(void)act;
	(void)old;
	unexpected("rt_sigaction");
}

/* The mask around a clone: real, and harmless. */
int sys_rt_sigprocmask(int how, const uint64_t *set, uint64_t *old)
{
	return (int)syscall(SYS_rt_sigprocmask, how, set, old, KERNEL_SIGSET_SIZE);
}

int sys_setgroups(size_t n, const uint32_t *groups)
{
	(void)n;
	(void)groups;
	unexpected("setgroups");
}

int sys_setgid(int32_t gid)
{
	(void)gid;
	unexpected("setgid");
}

int sys_setuid(int32_t uid)
{
	(void)uid;
	unexpected("setuid");
}

int sys_prlimit(int resource, const void *new_limit, void *old_limit)
{
	(void)resource;
	(void)new_limit;
	(void)old_limit;
	unexpected("prlimit");
}

/* The one-shot mode's input, read before any request is handled. */
int sys_memfd_create(const char *name, unsigned int flags)
{
	(void)name;
	(void)flags;
	unexpected("memfd_create");
}

/* Namespaces and paths beneath a root: the child side only, never a handler's. */
int sys_mount(const char *source, const char *target, const char *type, unsigned long flags, const void *data)
{
	(void)source;
	(void)target;
	(void)type;
	(void)flags;
	(void)data;
	unexpected("mount");
}

int sys_setresuid(uint32_t r, uint32_t e, uint32_t s)
{
	(void)r;
	(void)e;
	(void)s;
	unexpected("setresuid");
}

int sys_setresgid(uint32_t r, uint32_t e, uint32_t s)
{
	(void)r;
	(void)e;
	(void)s;
	unexpected("setresgid");
}

int sys_rt_sigtimedwait(const uint64_t *set, void *info, const void *timeout)
{
	(void)set;
	(void)info;
	(void)timeout;
	unexpected("rt_sigtimedwait");
}

int sys_openat2(int dirfd, const char *path, struct open_how_v0 *how, size_t size)
{
	(void)dirfd;
	(void)path;
	(void)how;
	(void)size;
	unexpected("openat2");
}

int sys_fchdir(int fd)
{
	(void)fd;
	unexpected("fchdir");
}
