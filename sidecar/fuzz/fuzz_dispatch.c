// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the sidecar's request handlers: the real
 * sidecar.c, compiled in with the calls that could reach the outside world
 * replaced by stubs, and driven through dispatch() frame by frame.
 *
 * Why stubs and not the real thing: a fuzzer that can spawn can run any
 * program with any arguments, open any file with O_TRUNC and signal any
 * pid. Here clone3/fork always fail, open() never touches the file system,
 * and pidfd_open() hands out an eventfd, so handles come and go and the
 * handle table, pipes and error paths run for real while nothing leaves
 * the process. A call the stubs do not know about traps: a new syscall in
 * a handler must be stubbed here before it can be fuzzed.
 *
 * Checked for every request: exactly one reply, carrying its id, of a reply
 * type. Every fd the handlers create is tracked: none may outlive the input
 * once every handle is closed, and none but those may ever be closed (an fd
 * closed twice could be someone else's by then).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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
#include <time.h>
#include <unistd.h>

#include <linux/close_range.h>

static _Noreturn void unexpected(const char *what)
{
	fprintf(stderr, "fuzz_dispatch: a handler reached %s, which has no stub\n", what);
	abort();
}

#define MAX_FD 65536
static bool owned[MAX_FD];
static unsigned int nowned;

static int own(int fd)
{
	if (fd >= MAX_FD)
		abort();
	if (fd >= 0) {
		owned[fd] = true;
		nowned++;
	}
	return fd;
}

static int fuzz_pipe2(int fds[2], int flags)
{
	if (pipe2(fds, flags) < 0)
		return -1;
	own(fds[0]);
	own(fds[1]);
	return 0;
}

static int fuzz_close(int fd)
{
	if (fd < 0 || fd >= MAX_FD || !owned[fd]) {
		fprintf(stderr, "fuzz_dispatch: close(%d) of an fd no handler opened\n", fd);
		abort();
	}
	owned[fd] = false;
	nowned--;
	return close(fd);
}

static long fuzz_syscall(long nr, ...)
{
	switch (nr) {
	case SYS_pidfd_open:
		/* Pollable and harmless: the handle table and epoll run for real. */
		return own(eventfd(0, EFD_CLOEXEC));
	case SYS_pidfd_send_signal:
		return 0;
	case SYS_pidfd_getfd:
		errno = EBADF;
		return -1;
	case SYS_clone3:
	case SYS_clone:
		errno = EAGAIN;
		return -1;
	case SYS_waitid:
		errno = ECHILD;
		return -1;
	}
	unexpected("a syscall");
}

/* The CLONE_VM spawn path calls libc clone() itself: it fails like clone3. */
static int fuzz_clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	(void)fn;
	(void)stack;
	(void)flags;
	(void)arg;
	errno = EAGAIN;
	return -1;
}

static int fuzz_open(const char *path, int flags, ...)
{
	(void)path;
	(void)flags;
	errno = EACCES;
	return -1;
}

static int fuzz_openat(int dirfd, const char *path, int flags, ...)
{
	(void)dirfd;
	return fuzz_open(path, flags);
}

static int fuzz_ioctl(int fd, unsigned long req, ...)
{
	(void)fd;
	(void)req;
	errno = ENOTTY;
	return -1;
}

/* Replies go nowhere; the harness reads them from obuf before the flush. */
static ssize_t fuzz_write(int fd, const void *buf, size_t n)
{
	(void)buf;
	if (fd != STDOUT_FILENO)
		unexpected("write");
	return (ssize_t)n;
}

static ssize_t fuzz_read(int fd, void *buf, size_t n)
{
	(void)fd;
	(void)buf;
	(void)n;
	unexpected("read");
}

static int fuzz_kill(pid_t pid, int sig)
{
	(void)pid;
	(void)sig;
	unexpected("kill");
}

static _Noreturn void fuzz_exit(int status)
{
	(void)status;
	unexpected("exit");
}

#define syscall(...)	fuzz_syscall(__VA_ARGS__)
#define clone(...)	fuzz_clone(__VA_ARGS__)
#define open(...)	fuzz_open(__VA_ARGS__)
#define openat(...)	fuzz_openat(__VA_ARGS__)
#define ioctl(...)	fuzz_ioctl(__VA_ARGS__)
#define write(...)	fuzz_write(__VA_ARGS__)
#define read(...)	fuzz_read(__VA_ARGS__)
#define kill(...)	fuzz_kill(__VA_ARGS__)
#define exit(...)	fuzz_exit(__VA_ARGS__)
#define pipe2(...)	fuzz_pipe2(__VA_ARGS__)
#define close(...)	fuzz_close(__VA_ARGS__)
#define main		sidecar_main

#include "../sidecar.c"

#undef syscall
#undef clone
#undef open
#undef openat
#undef ioctl
#undef write
#undef read
#undef kill
#undef exit
#undef pipe2
#undef close
#undef main

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	self_pid = getpid();
	host_pid = getppid();
	staged_init();
	features = FEAT_CLONE3 | FEAT_WAITID_PIDFD | FEAT_GET_INFO | FEAT_INFO_EXIT |
		   FEAT_GETFD | FEAT_INTO_CGROUP | FEAT_THREAD | FEAT_SIGNAL_GROUP;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (epfd < 0 || devnull < 0)
		abort();
	return 0;
}

/* Exactly one reply to request id, and nothing else, in obuf. */
static void check_reply(uint32_t id)
{
	struct wire_hdr h;
	long fl = wire_frame(obuf, olen, &h);

	if (fl <= 0 || (size_t)fl != olen || h.id != id || h.flags ||
	    h.type < MSG_OK || h.type > MSG_UNIMPLEMENTED) {
		fprintf(stderr, "fuzz_dispatch: request %u: %zu bytes of reply, not one reply frame\n",
			id, olen);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_hdr h;
	size_t off = 0;
	uint32_t i;
	long fl;

	/* Requests for handles of earlier inputs: fuzz runs must not depend on order. */
	next_handle = 1;
	while ((fl = wire_frame(data + off, size - off, &h)) > 0) {
		olen = 0;
		dispatch(&h, data + off + WIRE_HDR_SIZE, h.len - (WIRE_HDR_SIZE - 4));
		check_reply(h.id);
		off += (size_t)fl;
	}
	olen = 0;
	for (i = 0; nslots && i < MAX_HANDLES; i++) {
		if (slots[i].handle)
			slot_free(&slots[i]);
	}
	if (nslots || nstaged_free != MAX_STAGED || spawn_cgroup_dir >= 0 ||
	    spawn_cgroup_procs >= 0) {
		fprintf(stderr, "fuzz_dispatch: state left behind: %u slots, %d staged pipes\n",
			nslots, MAX_STAGED - nstaged_free);
		abort();
	}
	for (i = 0; nowned && i < MAX_FD; i++) {
		if (owned[i]) {
			fprintf(stderr, "fuzz_dispatch: fd %u leaked\n", i);
			abort();
		}
	}
	return 0;
}
