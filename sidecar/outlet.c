// SPDX-License-Identifier: MIT
/*
 * The outlet: the sidecar's output moved off stdout, to a socket the host
 * connects to itself (LISTEN, PROTOCOL.md).
 *
 * Why: a runtime reads a pipe it was handed by its child-process API into a
 * fresh buffer per read (Node: 64 KiB each, garbage a moment later), and
 * relayed output is all DATA through that pipe. A socket the host opens
 * itself it can read into one buffer of its own, reused (Node's `onread`).
 *
 * The socket is a listening one in the abstract namespace, so nothing is
 * created in the filesystem and nothing is left behind. Anyone in our network
 * namespace can see the name (/proc/net/unix) and connect: the peer's
 * credentials decide, and only our parent, the host, is accepted
 * (SO_PEERCRED, the connecting process as the kernel saw it; a pid cannot be
 * reused while the host is alive, and without it we are gone). Everyone else
 * is closed at once. The first accepted connection ends the listening.
 *
 * The switch is ordered on the host's side: MOVED is the last frame on
 * stdout, and the host reads nothing from the socket before it has read MOVED,
 * so no frame can overtake one written before it. out_flush() writes
 * synchronously, so MOVED is out before anything goes to the socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sidecar.h"

#define NAME_MAX_LEN	64

int out_fd = STDOUT_FILENO;

/*
 * The same name bound twice: with its exact length, and zero-padded to the
 * whole sun_path, which is what some runtimes' connect() passes for an
 * abstract name (Node 20's libuv does). Both are one listener to us.
 */
static int listeners[2] = { -1, -1 };

static int bind_abstract(const char *name, bool padded)
{
	struct sockaddr_un sa;
	size_t n = strlen(name);
	socklen_t len = padded ? sizeof(sa) : (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_OUTLET };
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, name, n);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 8) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

static void close_listeners(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (listeners[i] >= 0)
			close(listeners[i]);
		listeners[i] = -1;
	}
}

/*
 * A name nobody can guess before we announce it, so nobody can take it
 * first; the peer check, not the name, is what keeps others out.
 */
static void make_name(char *name)
{
	uint64_t r[2];

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		r[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u;
		r[1] = (uint64_t)ts.tv_sec ^ ((uint64_t)self_pid << 32);
	}
	snprintf(name, NAME_MAX_LEN, "pidfd-%d-%016llx%016llx", (int)self_pid,
		 (unsigned long long)r[0], (unsigned long long)r[1]);
}

/* LISTEN: empty body. Reply LISTENING: u32 len · the name (without its NUL). */
int handle_listen(uint32_t id, const uint8_t *body, size_t n)
{
	char name[NAME_MAX_LEN];
	size_t len;
	uint8_t *p;
	int i, fd;

	(void)body;
	if (n)
		return reply_error(id, EINVAL, SC_NONE, "body size");
	if (out_fd != STDOUT_FILENO || listeners[0] >= 0)
		return reply_error(id, EALREADY, SC_NONE, "the output has an outlet already");
	make_name(name);
	for (i = 0; i < 2; i++) {
		fd = bind_abstract(name, i == 1);
		if (fd < 0) {
			close_listeners();
			return reply_error(id, -fd, SC_BIND, name);
		}
		listeners[i] = fd;
	}
	len = strlen(name);
	p = out_frame(MSG_LISTENING, id, 4 + len);
	p = wire_put_u32(p, (uint32_t)len);
	memcpy(p, name, len);
	return 0;
}

/* Whether the peer of `fd` is the host. */
static bool peer_is_host(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) && len == sizeof(cred) &&
	       cred.pid == host_pid && cred.uid == getuid();
}

/* A connection is waiting on one of the listeners. */
void outlet_on_connect(void)
{
	int i, c;

	for (i = 0; i < 2; i++) {
		while (listeners[i] >= 0) {
			/* Blocking, as stdout is: out_flush() waits for room either way. */
			c = accept4(listeners[i], NULL, NULL, SOCK_CLOEXEC);
			if (c < 0) {
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				if (errno == EAGAIN)
					break;	/* nobody else waiting here */
				/*
				 * EMFILE, ENOBUFS: the connection would wait in
				 * the backlog and wake us at every turn. Give up
				 * the outlet; the host's connection is reset and
				 * the output stays on stdout.
				 */
				close_listeners();
				return;
			}
			if (!peer_is_host(c)) {
				close(c);
				continue;
			}
			/* Everything so far, and MOVED last, on stdout; from now on the socket. */
			out_frame(MSG_MOVED, 0, 0);
			out_flush();
			out_fd = c;
			close_listeners();
			return;
		}
	}
}

/* The fuzzer, between inputs: no listener outlives one. */
void outlet_reset(void)
{
	close_listeners();
}
