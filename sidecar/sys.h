/* SPDX-License-Identifier: MIT */
/*
 * The sidecar's way out of its own process: the kernel numbers and layouts
 * libc may lack, and one sys_* function per call that acts on the outside
 * world. sys.c implements them, one line each over the syscall or its libc
 * wrapper; fuzz/stub_sys.c implements the same names as fakes, so the fuzzer
 * links the real request handlers and nothing leaves the process.
 *
 * The rule that makes the stub complete: sidecar.c and spawn.c reach the
 * kernel's outward calls only through these (scripts/lint-c.sh checks it),
 * and a new sys_* without a stub does not link into the fuzzer.
 *
 * sys_* return what the syscall returns: -1 with errno set, as libc does.
 * Every helper built on them returns -errno.
 */
#ifndef PIDFD_SYS_H
#define PIDFD_SYS_H

#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

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

#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#endif

/* Kernel struct open_how (Linux 5.6), the size every openat2 knows. */
struct open_how_v0 {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};

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

/*
 * Kernel struct sigaction for rt_sigaction. libc's sigaction() refuses the
 * signals it keeps for itself (musl 32-34, glibc 32-33), which a host may
 * still have left ignored. Handler first, as on every architecture we build
 * for; we only ever write SIG_DFL there and read the handler back.
 */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};
#define KERNEL_NSIG		64	/* signals 1..64 */
#define KERNEL_SIGSET_SIZE	8

/* Processes */
long sys_clone3(struct clone3_args *args, size_t size);
/* clone() on a stack of its own, running fn(arg) in the child. */
pid_t sys_clone_fn(int (*fn)(void *), void *stack_top, int flags, void *arg, int *pidfd);
/* Raw clone(2) without a new stack: returns twice, like fork(). */
pid_t sys_clone(unsigned long flags, int *pidfd);
int sys_pidfd_open(pid_t pid, unsigned int flags);
int sys_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags);
int sys_pidfd_getfd(int pidfd, int fd, unsigned int flags);
int sys_pidfd_get_info(int pidfd, struct wire_pidfd_info *info);
/* The terminal ioctls: TIOCSPTLCK, TIOCSWINSZ, TIOCGPTPEER, TIOCGPTN, TIOCSCTTY. */
int sys_ioctl(int fd, unsigned long request, void *arg);
int sys_waitid(int which, int id, void *info, int options, struct kernel_rusage *ru);
int sys_kill(pid_t pid, int sig);

/* Files */
int sys_open(const char *path, int flags, mode_t mode);
int sys_openat(int dirfd, const char *path, int flags, mode_t mode);
int sys_fstat(int fd, struct stat *st);
int sys_pipe2(int fd[2], int flags);
int sys_close(int fd);
int sys_close_range(unsigned int first, unsigned int last, unsigned int flags);
ssize_t sys_read(int fd, void *buf, size_t n);
ssize_t sys_write(int fd, const void *buf, size_t n);
/* A memory file: the input of a one-shot run (once.c). */
int sys_memfd_create(const char *name, unsigned int flags);

/* Signals, credentials, limits: raw, so no libc policy or thread sync runs. */
int sys_rt_sigaction(int sig, const struct kernel_sigaction *act, struct kernel_sigaction *old);
int sys_rt_sigprocmask(int how, const uint64_t *set, uint64_t *old);
int sys_setgroups(size_t n, const uint32_t *groups);
int sys_setgid(int32_t gid);
int sys_setuid(int32_t uid);
int sys_prlimit(int resource, const void *new_limit, void *old_limit);

/* Namespaces and paths beneath a root (namespaces.c, beneath.c): the child side only. */
int sys_mount(const char *source, const char *target, const char *type, unsigned long flags, const void *data);
int sys_setresuid(uint32_t r, uint32_t e, uint32_t s);
int sys_setresgid(uint32_t r, uint32_t e, uint32_t s);
int sys_rt_sigtimedwait(const uint64_t *set, void *info, const void *timeout);
int sys_openat2(int dirfd, const char *path, struct open_how_v0 *how, size_t size);
int sys_fchdir(int fd);

#endif /* PIDFD_SYS_H */
