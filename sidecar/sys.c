// SPDX-License-Identifier: MIT
/*
 * The real sys_* calls of sys.h, one line each. Nothing else goes here: the
 * fuzzer links fuzz/stub_sys.c instead of this file.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys.h"

long sys_clone3(struct clone3_args *args, size_t size) { return syscall(__NR_clone3, args, size); }
pid_t sys_clone_fn(int (*fn)(void *), void *stack_top, int flags, void *arg, int *pidfd) { return clone(fn, stack_top, flags, arg, pidfd, NULL, NULL); }
/* The pidfd goes where the parent's tid would: the third argument on x86-64, arm64, riscv. */
pid_t sys_clone(unsigned long flags, int *pidfd) { return (pid_t)syscall(SYS_clone, flags, 0, pidfd, 0, 0); }
int sys_pidfd_open(pid_t pid, unsigned int flags) { return (int)syscall(__NR_pidfd_open, pid, flags); }
int sys_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags) { return (int)syscall(__NR_pidfd_send_signal, pidfd, sig, info, flags); }
int sys_pidfd_getfd(int pidfd, int fd, unsigned int flags) { return (int)syscall(__NR_pidfd_getfd, pidfd, fd, flags); }
int sys_pidfd_get_info(int pidfd, struct wire_pidfd_info *info) { return ioctl(pidfd, PIDFD_GET_INFO, info); }
int sys_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
int sys_waitid(int which, int id, void *info, int options, struct kernel_rusage *ru) { return (int)syscall(__NR_waitid, which, id, info, options, ru); }
int sys_kill(pid_t pid, int sig) { return kill(pid, sig); }

/* Raw: musl's open() follows every O_CLOEXEC open with an fcntl(F_SETFD) for kernels before 2.6.23. */
int sys_open(const char *path, int flags, mode_t mode) { return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode); }
int sys_openat(int dirfd, const char *path, int flags, mode_t mode) { return (int)syscall(SYS_openat, dirfd, path, flags, mode); }
int sys_fstat(int fd, struct stat *st) { return fstat(fd, st); }
int sys_pipe2(int fd[2], int flags) { return pipe2(fd, flags); }
int sys_close(int fd) { return close(fd); }
int sys_close_range(unsigned int first, unsigned int last, unsigned int flags) { return (int)syscall(__NR_close_range, first, last, flags); }
ssize_t sys_read(int fd, void *buf, size_t n) { return read(fd, buf, n); }
ssize_t sys_write(int fd, const void *buf, size_t n) { return write(fd, buf, n); }
int sys_memfd_create(const char *name, unsigned int flags) { return (int)syscall(SYS_memfd_create, name, flags); }

int sys_rt_sigaction(int sig, const struct kernel_sigaction *act, struct kernel_sigaction *old) { return (int)syscall(SYS_rt_sigaction, sig, act, old, KERNEL_SIGSET_SIZE); }
int sys_rt_sigprocmask(int how, const uint64_t *set, uint64_t *old) { return (int)syscall(SYS_rt_sigprocmask, how, set, old, KERNEL_SIGSET_SIZE); }
int sys_setgroups(size_t n, const uint32_t *groups) { return (int)syscall(SYS_setgroups, n, groups); }
int sys_setgid(int32_t gid) { return (int)syscall(SYS_setgid, gid); }
int sys_setuid(int32_t uid) { return (int)syscall(SYS_setuid, uid); }
int sys_prlimit(int resource, const void *new_limit, void *old_limit) { return (int)syscall(SYS_prlimit64, 0, resource, new_limit, old_limit); }

int sys_mount(const char *source, const char *target, const char *type, unsigned long flags, const void *data) { return (int)syscall(SYS_mount, source, target, type, flags, data); }
int sys_setresuid(uint32_t r, uint32_t e, uint32_t s) { return (int)syscall(SYS_setresuid, r, e, s); }
int sys_setresgid(uint32_t r, uint32_t e, uint32_t s) { return (int)syscall(SYS_setresgid, r, e, s); }
int sys_rt_sigtimedwait(const uint64_t *set, void *info, const void *timeout) { return (int)syscall(SYS_rt_sigtimedwait, set, info, timeout, KERNEL_SIGSET_SIZE); }
int sys_openat2(int dirfd, const char *path, struct open_how_v0 *how, size_t size) { return (int)syscall(__NR_openat2, dirfd, path, how, size); }
int sys_fchdir(int fd) { return (int)syscall(SYS_fchdir, fd); }
