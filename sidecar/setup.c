// SPDX-License-Identifier: MIT
/*
 * Before the loop: the state the sidecar starts from and what the kernel
 * can do. Anything that fails here may end the sidecar (die()); nothing in
 * here runs once the loop has started.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/close_range.h>

#include "sidecar.h"
#include "sys.h"

int epfd = -1;
int devnull = -1;
int host_pidfd = -1;
pid_t host_pid;
pid_t self_pid;
uint32_t features;
struct rlimit nofile_orig;
bool nofile_raised;
/* Signals ignored in the sidecar, which every child resets to SIG_DFL. */
int ignored_sigs[KERNEL_NSIG];
unsigned int nignored;

/* A last word on stderr. No stdio: it would double the binary's size. */
void say(const char *what, int err)
{
	const char *e = err ? strerror(err) : "";

	(void)!sys_write(STDERR_FILENO, "pidfd-sidecar: ", 15);
	(void)!sys_write(STDERR_FILENO, what, strlen(what));
	if (err) {
		(void)!sys_write(STDERR_FILENO, ": ", 2);
		(void)!sys_write(STDERR_FILENO, e, strlen(e));
	}
	(void)!sys_write(STDERR_FILENO, "\n", 1);
}

/* Only before the loop starts. */
_Noreturn void die(const char *what, int err)
{
	say(what, err);
	exit(1);
}

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
void setup_fds(void)
{
	int fd, t;

	if (fcntl(STDIN_FILENO, F_GETFD) < 0 || fcntl(STDOUT_FILENO, F_GETFD) < 0)
		die("stdin and stdout must be the protocol pipes", 0);
	for (fd = 2; fd <= 5; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		t = sys_open("/dev/null", O_RDWR | O_CLOEXEC, 0);
		if (t < 0)
			die("open /dev/null", errno);
		if (t != fd) {
			if (dup3(t, fd, O_CLOEXEC) < 0)
				die("dup3", errno);
			sys_close(t);
		}
	}
	if (sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		cloexec_all_slow();
	for (fd = 0; fd <= 2; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	devnull = sys_open("/dev/null", O_RDWR | O_CLOEXEC, 0);
	if (devnull < 0)
		die("open /dev/null", errno);
}

/*
 * Start from a known state whatever the host left us: every disposition
 * SIG_DFL, with the raw call, as libc's sigaction() refuses the signals it
 * keeps for itself (Deno starts us with 32 and 33 ignored). So SIGCHLD is
 * not ignored (children would vanish unreaped); Ctrl-C and hangups are the
 * host's to act on, so we ignore them; SIGTERM arrives through a signalfd.
 *
 * Then the table is read back, and what is ignored is listed: SIG_IGN
 * survives execve, so each child resets exactly these (child_signals()).
 */
int setup_signals(void)
{
	static const int ignore[] = { SIGPIPE, SIGINT, SIGQUIT, SIGHUP };
	struct kernel_sigaction sa = { .handler = SIG_DFL }, old;
	sigset_t set;
	size_t i;
	int sig, sfd;

	for (sig = 1; sig <= KERNEL_NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			sys_rt_sigaction(sig, &sa, NULL);
	}
	sa.handler = SIG_IGN;
	for (i = 0; i < sizeof(ignore) / sizeof(ignore[0]); i++)
		sys_rt_sigaction(ignore[i], &sa, NULL);
	for (sig = 1; sig <= KERNEL_NSIG; sig++) {
		if (sys_rt_sigaction(sig, NULL, &old) == 0 && old.handler == SIG_IGN)
			ignored_sigs[nignored++] = sig;
	}

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
void setup_rlimit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &nofile_orig) < 0)
		return;
	if (nofile_orig.rlim_cur >= nofile_orig.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max = nofile_orig.rlim_max;
	nofile_raised = setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/*
 * PIDFD_INFO_EXIT can only be seen on a reaped process: make one. Needs
 * PIDFD_GET_INFO, probed before.
 */
static bool probe_info_exit(void)
{
	struct wire_pidfd_info info = { .mask = PIDFD_INFO_EXIT };
	uint8_t si[KERNEL_SIGINFO_SIZE];
	int pidfd, r;
	pid_t pid;

	pid = sys_clone(SIGCHLD, NULL);
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return false;
	pidfd = sys_pidfd_open(pid, 0);
	while ((r = sys_waitid(P_PID, pid, si, WEXITED, NULL)) < 0 && errno == EINTR)
		;
	if (pidfd < 0)
		return false;
	if (r == 0)
		r = sys_pidfd_get_info(pidfd, &info);
	sys_close(pidfd);
	return r == 0 && (info.mask & PIDFD_INFO_EXIT);
}

/*
 * CLONE_INTO_CGROUP (Linux 5.7), asked of the kernel, not guessed from its
 * version. Only a kernel that knows the flag looks at the cgroup fd, after
 * every argument check and before the new task could ever run: EBADF means
 * it knows. One that does not refuses the larger struct (E2BIG) or the flag
 * (EINVAL). fd INT_MAX is never open: fs.nr_open stays below it.
 */
static bool probe_into_cgroup(void)
{
	struct clone3_args args = {
		.flags = CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = INT_MAX,
	};
	uint8_t si[KERNEL_SIGINFO_SIZE];
	pid_t pid;

	pid = (pid_t)sys_clone3(&args, CLONE_ARGS_SIZE_VER2);
	if (pid == 0)
		_exit(0);
	if (pid > 0) {
		while (sys_waitid(P_PID, pid, si, WEXITED, NULL) < 0 && errno == EINTR)
			;
		return true;
	}
	return errno == EBADF;
}

/*
 * Every bit of HELLO's features from the kernel's answers, none from its
 * version. ENOSYS (or a seccomp EPERM) means absent; anything else is an
 * answer.
 */
uint32_t probe_features(void)
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
		if (sys_pidfd_get_info(self, &info) == 0)
			f |= FEAT_PIDFD_GET_INFO;
		fd = sys_pidfd_getfd(self, STDIN_FILENO, 0);
		if (fd >= 0) {
			f |= FEAT_PIDFD_GETFD;
			sys_close(fd);
		}
		/*
		 * The flag names the group led by the pidfd's process; we lead
		 * none, so ESRCH is the "supported" answer. Old kernels: EINVAL.
		 */
		if (sys_pidfd_send_signal(self, 0, NULL, PIDFD_SIGNAL_PROCESS_GROUP) == 0 ||
		    errno == ESRCH)
			f |= FEAT_SIGNAL_PROCESS_GROUP;
		sys_close(self);
	}
	fd = sys_pidfd_open(self_pid, PIDFD_THREAD);
	if (fd >= 0) {
		f |= FEAT_PIDFD_THREAD;
		sys_close(fd);
	}
	/* A clone3 flag: without clone3 (or seccomp hiding it) there is none. */
	if ((f & FEAT_CLONE3) && probe_into_cgroup())
		f |= FEAT_CLONE_INTO_CGROUP;
	if ((f & FEAT_PIDFD_GET_INFO) && probe_info_exit())
		f |= FEAT_PIDFD_INFO_EXIT;
	return f;
}
