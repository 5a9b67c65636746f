// SPDX-License-Identifier: MIT
/*
 * SPAWN, the step before the clone: what the child's fds will come from,
 * opened by the sidecar with its own credentials and cwd. Each step records
 * the call that failed and what about (s->sc, s->detail) and returns
 * -errno; handle_spawn() turns that into the ERROR reply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "sidecar.h"
#include "spawn.h"
#include "sys.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER	_IO('T', 0x41)	/* Linux 4.13 */
#endif

#define MEM_MAJOR	1	/* /dev/null, /dev/zero, /dev/urandom, ...: open never waits */

/* Sources the parent opened for the child alone: closed once it has them. */
bool src_owned(const struct spawn *s, uint32_t i)
{
	switch (s->req.stdio[i].kind) {
	case STDIO_FILE:
	case STDIO_HOST_FD:
	case STDIO_FROM_PIDFD:
	case STDIO_TERMINAL:
	case STDIO_HOST_TERMINAL:
	case STDIO_HOST_PIPE:
	case STDIO_RELAYED:
		return true;
	}
	return false;
}

void close_fd(int *fd)
{
	if (*fd >= 0)
		sys_close(*fd);
	*fd = -1;
}

/* Closes everything opened for a child that will not run. */
void spawn_undo(struct spawn *s)
{
	uint32_t i;

	for (i = 0; i < s->nres; i++) {
		if (s->keep[i] >= 0) {
			sys_close(s->keep[i]);
			sys_close(s->src[i]);
		} else if (src_owned(s, i)) {
			sys_close(s->src[i]);
		}
	}
	s->nres = 0;
	close_fd(&s->cgroup_dir);
	close_fd(&s->cgroup_procs);
	close_fd(&s->report[0]);
	close_fd(&s->report[1]);
	close_fd(&s->status[0]);
	close_fd(&s->status[1]);
	close_fd(&s->go[0]);
	close_fd(&s->go[1]);
}

/*
 * The cgroup a child is to start in. With clone3 and CLONE_INTO_CGROUP
 * the kernel places it there atomically; otherwise the child writes itself
 * into cgroup.procs before it execs, so it may run a few instructions in
 * the sidecar's cgroup first.
 */
static int open_cgroup(struct spawn *s)
{
	s->sc = SC_OPEN;
	s->detail = s->req.cgroup;
	s->cgroup_dir = sys_open(s->req.cgroup, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	if (s->cgroup_dir < 0)
		return -errno;
	if ((features & FEAT_CLONE3) && (features & FEAT_CLONE_INTO_CGROUP))
		return 0;
	s->cgroup_procs = sys_openat(s->cgroup_dir, "cgroup.procs", O_WRONLY | O_CLOEXEC, 0);
	if (s->cgroup_procs < 0)
		return -errno;
	return 0;
}

/* Types whose open(2) never waits for anyone. */
static bool opens_at_once(const struct stat *st)
{
	return S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) ||
	       (S_ISCHR(st->st_mode) && major(st->st_rdev) == MEM_MAJOR);
}

/*
 * Our open added O_NONBLOCK only so as not to wait: the child gets the
 * status flags it asked for (F_SETFL takes exactly those open(2) can set).
 */
static int as_asked(int fd, int flags)
{
	if (!(flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, flags);
	return fd;
}

/*
 * A FILE entry, opened by the sidecar unless its open may wait: a FIFO's
 * waits for the other end, a tty's for its carrier, a leased file's for the
 * lease's break, and the loop must not wait with them.
 *
 * Why look first: opening with O_NONBLOCK instead would not wait, but it
 * is another open. A FIFO opened so for reading sees EOF before any writer
 * came, for writing fails (ENXIO) without a reader; a device may act on
 * any open (a serial line raises DTR, which resets some boards). An O_PATH
 * open does none of that and never waits; fstat then says what the path is.
 * Regular files, directories and the memory devices are opened here,
 * through /proc/self/fd so that it is the file we looked at, and still with
 * O_NONBLOCK, which makes a lease refuse (EWOULDBLOCK) instead of wait.
 * Anything else, and a leased file, is opened by the child itself on the
 * deferred route (spawn.c), which costs that spawn a fork: the rare case.
 * A relative path follows the sidecar's cwd.
 */
static int stdio_file(struct spawn *s, uint32_t i)
{
	const struct spawn_stdio *e = &s->req.stdio[i];
	int flags = e->arg | O_CLOEXEC;
	struct stat st;
	int fd, path_fd;

	s->sc = SC_OPEN;
	s->detail = e->path;
	path_fd = sys_open(e->path, O_PATH | O_CLOEXEC | (flags & (O_NOFOLLOW | O_DIRECTORY)), 0);
	if (path_fd < 0 && errno == ENOENT && (flags & O_CREAT)) {
		/* O_CREAT makes a regular file; O_NONBLOCK, should a FIFO appear meanwhile. */
		fd = sys_open(e->path, flags | O_NONBLOCK, 0666);
		if (fd < 0)
			return -errno;
		s->src[i] = as_asked(fd, flags);
		return 0;
	}
	if (path_fd < 0)
		return -errno;
	if (sys_fstat(path_fd, &st) < 0) {
		fd = -errno;
		sys_close(path_fd);
		return fd;
	}
	fd = opens_at_once(&st) ? reopen(path_fd, e->path, flags | O_NONBLOCK) : -EWOULDBLOCK;
	if (fd == -EWOULDBLOCK) {
		s->src[i] = path_fd;
		s->defer[i] = true;
		s->deferred = true;
		return 0;
	}
	sys_close(path_fd);
	if (fd < 0)
		return fd;
	s->src[i] = as_asked(fd, flags);
	return 0;
}

/* A copy of the host's fd: pidfd_getfd, or through /proc before Linux 5.6. */
static int stdio_host_fd(struct spawn *s, int fd)
{
	char path[64], *p;
	int r;

	if (host_pidfd >= 0 && (features & FEAT_PIDFD_GETFD)) {
		s->sc = SC_PIDFD_GETFD;
		r = sys_pidfd_getfd(host_pidfd, fd, 0);
	} else {
		s->sc = SC_OPEN;
		p = put_uint(stpcpy(path, "/proc/"), (unsigned int)host_pid);
		*put_uint(stpcpy(p, "/fd/"), (unsigned int)fd) = '\0';
		r = sys_open(path, O_RDWR | O_CLOEXEC, 0);
	}
	return r < 0 ? -errno : r;
}

/*
 * The host's fd itself, for what a reopen through /proc would get wrong (a
 * pipe's direction, a pty master's pair): pidfd_getfd or ENOSYS.
 */
static int stdio_host_fd_exact(struct spawn *s, int fd)
{
	if (host_pidfd < 0 || !(features & FEAT_PIDFD_GETFD)) {
		s->sc = SC_PIDFD_GETFD;
		return -ENOSYS;
	}
	return stdio_host_fd(s, fd);
}

/*
 * The pty for entry 0. The slave goes to the child (src), which makes it
 * its controlling terminal; `size` packs rows << 16 | cols. The master is
 * either a new one of ours, kept and relayed both ways (relay.c), or the
 * host's (HOST_TERMINAL: the host reads it and writes it itself). Our copy
 * of the host's is kept as a relayed input stream all the same: for
 * RESIZE and RAW, which a host without ioctl() cannot do, and for the
 * keystrokes the master would not take at once, which the host hands over
 * rather than poll the master for room. The host's comes by pidfd_getfd
 * only: reopening /dev/ptmx through /proc would make another pair.
 * TIOCGPTN proves it is a pty master. TIOCGPTPEER (Linux 4.13) opens the
 * slave without a path lookup, so it cannot be another pty's; before it,
 * /dev/pts/N by number.
 */
static int open_terminal(struct spawn *s, const struct spawn_stdio *e)
{
	uint32_t size = (uint32_t)e->arg;
	struct winsize ws = { .ws_row = (unsigned short)(size >> 16), .ws_col = (unsigned short)size };
	char path[32], *p;
	int master, slave, unlock = 0;
	unsigned int n;

	if (e->kind == STDIO_HOST_TERMINAL) {
		s->detail = "the host's pty master";
		master = stdio_host_fd_exact(s, (int)e->handle);
		if (master < 0)
			return master;
		s->sc = SC_IOCTL;
		if (sys_ioctl(master, TIOCGPTN, &n) < 0) {
			sys_close(master);
			return -ENOTTY;
		}
	} else {
		s->sc = SC_OPEN;
		s->detail = "/dev/ptmx";
		master = sys_open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
		if (master < 0)
			return -errno;
	}
	s->sc = SC_IOCTL;
	if (sys_ioctl(master, TIOCSPTLCK, &unlock) < 0 || sys_ioctl(master, TIOCSWINSZ, &ws) < 0)
		goto fail;
	slave = sys_ioctl(master, TIOCGPTPEER, (void *)(long)(O_RDWR | O_NOCTTY | O_CLOEXEC));
	if (slave < 0 && (errno == EINVAL || errno == ENOTTY)) {
		if (sys_ioctl(master, TIOCGPTN, &n) < 0)
			goto fail;
		p = put_uint(stpcpy(path, "/dev/pts/"), n);
		*p = '\0';
		s->sc = SC_OPEN;
		slave = sys_open(path, O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
	}
	if (slave < 0)
		goto fail;
	s->keep[0] = master;
	s->src[0] = slave;
	s->terminal = true;
	s->detail = NULL;
	return 0;
fail:
	n = (unsigned int)errno;
	sys_close(master);
	return -(int)n;
}

/* Sets up what the child gets as fd i. */
static int stdio_open(struct spawn *s, uint32_t i)
{
	const struct spawn_stdio *e = &s->req.stdio[i];
	const struct slot *from;
	int pfd[2], r;

	s->keep[i] = -1;
	s->defer[i] = false;
	s->sc = SC_NONE;
	s->detail = NULL;
	switch (e->kind) {
	case STDIO_INHERIT:
		s->src[i] = 3 + e->arg;
		return 0;
	case STDIO_NULL:
		s->src[i] = devnull;
		return 0;
	case STDIO_CLOSED:
		s->src[i] = -1;
		return 0;
	case STDIO_PIPE_TO_CHILD:
	case STDIO_PIPE_FROM_CHILD:
		s->sc = SC_PIPE2;
		if (sys_pipe2(pfd, O_CLOEXEC) < 0)
			return -errno;
		if (e->kind == STDIO_PIPE_TO_CHILD) {
			s->src[i] = pfd[0];
			s->keep[i] = pfd[1];
			return 0;
		}
		s->src[i] = pfd[1];
		s->keep[i] = pfd[0];
		/*
		 * A bigger pipe for a reader that asks (run() capturing
		 * output): fewer, larger reads. Only an optimisation: past the
		 * per-user pipe limits the kernel refuses (EPERM), and the
		 * default stays.
		 */
		if (e->arg > 0)
			(void)fcntl(pfd[0], F_SETPIPE_SZ, e->arg);
		return 0;
	case STDIO_RELAY_TO_CHILD:
	case STDIO_RELAY_FROM_CHILD:
		/* Our end goes to relay.c once the child has a handle (spawn_adopt). */
		s->sc = SC_PIPE2;
		if (sys_pipe2(pfd, O_CLOEXEC) < 0)
			return -errno;
		s->src[i] = e->kind == STDIO_RELAY_TO_CHILD ? pfd[0] : pfd[1];
		s->keep[i] = e->kind == STDIO_RELAY_TO_CHILD ? pfd[1] : pfd[0];
		return 0;
	case STDIO_HOST_TERMINAL:
		return open_terminal(s, e);
	case STDIO_TERMINAL:
		if (i == 0)
			return open_terminal(s, e);
		/*
		 * 1 and 2: the same slave; on 1, for a pty of ours, also a
		 * second master fd, our reading end (0's master is the
		 * writing one: relay.c names a stream by one fd and one
		 * direction).
		 */
		s->sc = SC_FCNTL;
		s->src[i] = fcntl(s->src[0], F_DUPFD_CLOEXEC, 0);
		if (s->src[i] < 0)
			return -errno;
		if (i == 1 && s->req.stdio[0].kind == STDIO_TERMINAL) {
			s->keep[1] = fcntl(s->keep[0], F_DUPFD_CLOEXEC, 0);
			if (s->keep[1] < 0) {
				r = -errno;
				sys_close(s->src[1]);
				return r;
			}
		}
		return 0;
	case STDIO_FILE:
		return stdio_file(s, i);
	case STDIO_HOST_FD:
		r = stdio_host_fd(s, e->arg);
		if (r < 0)
			return r;
		s->src[i] = r;
		return 0;
	case STDIO_HOST_PIPE:
		/*
		 * Another child's pipe, handed over by the host (a pipeline joined in the
		 * kernel). The host polled its end, non-blocking; the copy shares that
		 * state, and a child's stdio must block. The host closes its end once
		 * the spawn is answered, so clearing it there changes nothing for it.
		 * No /proc fallback: reopening a pipe there cannot keep its direction.
		 */
		r = stdio_host_fd_exact(s, e->arg);
		if (r < 0)
			return r;
		s->src[i] = r;
		r = fcntl(s->src[i], F_GETFL);
		if (r >= 0 && (r & O_NONBLOCK))
			fcntl(s->src[i], F_SETFL, r & ~O_NONBLOCK);
		return 0;
	case STDIO_RELAYED:
		/* Our end of a relayed stream, which leaves the relay for the child. */
		r = relay_take(e->handle, (uint32_t)e->arg);
		if (r < 0) {
			s->detail = "no relayed stream with that handle and fd";
			return r;
		}
		s->src[i] = r;
		return 0;
	case STDIO_FROM_PIDFD:
		/* Another process's fd, e.g. an old server's listening socket. */
		from = slot_get(e->handle, false);
		if (!from) {
			s->detail = "handle";
			return -ESRCH;
		}
		s->sc = SC_PIDFD_GETFD;
		r = sys_pidfd_getfd(from->pidfd, e->arg, 0);
		if (r < 0)
			return -errno;
		s->src[i] = r;
		return 0;
	}
	return -EINVAL;		/* the parser lets no other kind through */
}

int spawn_open(struct spawn *s)
{
	uint32_t i;
	int r;

	if (s->req.cgroup) {
		r = open_cgroup(s);
		if (r < 0)
			return r;
	}
	for (i = 0; i < s->req.nstdio; i++) {
		r = stdio_open(s, i);
		if (r < 0)
			return r;
		s->nres = i + 1;
	}
	s->detail = NULL;
	return 0;
}
