// SPDX-License-Identifier: MIT
/*
 * pidfd-sidecar: makes the pidfd syscalls on behalf of a JavaScript host.
 *
 * One process per host, one thread, one epoll loop. Requests arrive on
 * stdin, replies and events leave on stdout, framed as PROTOCOL.md says.
 * Every child is held by a pidfd from clone3(CLONE_PIDFD), so neither a
 * signal nor a wait can ever reach a recycled pid.
 *
 * This file has the loop, the handle table and the requests on handles.
 * SPAWN is in spawn.c (and stdio.c), OPEN and what follows it in opened.c;
 * setup.c is what runs before the loop, sys.c the way out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "namespaces.h"
#include "sidecar.h"
#include "sys.h"

#define MAX_EVENTS	256

/* epoll data.u64 is (handle << 32) | slot; handle 0 marks these sentinels. */
#define EV_STDIN	0
#define EV_SIGNAL	1
#define EV_HOST		2
#define EV_TIMER	3	/* opened.c's grace timer */
/* EV_ONCE (4), once.c's timer and cgroup.events: in sidecar.h */

/* Both ends of a pipe, held until the host has opened its own copy. */
struct staged_pipe {
	int fd[2];		/* the host's end, the child's end */
	uint32_t child_fd;
	int next;
};

/*
 * The receive buffer is page-aligned and page-sized so it can be kept out
 * of every child (MADV_DONTFORK): children only ever touch the arena.
 */
#define RBUF_SIZE	(WIRE_MAX_FRAME + 4096)
static uint8_t rbuf[RBUF_SIZE] __attribute__((aligned(4096)));
static size_t rlen;
uint8_t obuf[OBUF_SIZE] __attribute__((aligned(4096)));
size_t olen;

/*
 * PIDFD_TRACE=1 in our environment: a TRACE event after each SPAWN reply and
 * each EXIT, with the times of their stages (CLOCK_MONOTONIC, ns, as the
 * host's clock). The time a batch is written is known only when it is: the
 * batch keeps where those fields are and out_flush() fills them in.
 */
#define TRACE_FIX_MAX	64
bool trace_on;
uint64_t trace_clone_ns;
static uint64_t trace_read_ns, trace_wake_ns;
static size_t trace_fix[TRACE_FIX_MAX];
static unsigned int ntrace_fix;

uint64_t trace_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* TRACE: u32 kind · u32 key · u64 × 4 times; the last one is the batch's write. */
static void trace_event(uint32_t kind, uint32_t key, uint64_t t0, uint64_t t1, uint64_t t2)
{
	uint8_t *p = out_frame(MSG_TRACE, 0, 40);
	uint64_t t[3] = { t0, t1, t2 };
	int i;

	p = wire_put_u32(p, kind);
	p = wire_put_u32(p, key);
	for (i = 0; i < 3; i++) {
		p = wire_put_u32(p, (uint32_t)t[i]);
		p = wire_put_u32(p, (uint32_t)(t[i] >> 32));
	}
	memset(p, 0, 8);
	if (ntrace_fix < TRACE_FIX_MAX)
		trace_fix[ntrace_fix++] = (size_t)(p - obuf);
}

struct slot slots[MAX_HANDLES];
uint32_t nslots;
uint32_t next_handle = 1;
unsigned int npending;
static struct staged_pipe staged[MAX_STAGED];
static int staged_free;
int nstaged_free;

static _Noreturn void host_gone(int status);

/* ---- output: one batch per wake-up ---- */

/*
 * Writes the whole batch. The host reads stdout as fast as it can; if it
 * made the pipe non-blocking we wait for room rather than drop a reply.
 */
void out_flush(void)
{
	size_t off = 0;
	ssize_t w;

	if (ntrace_fix) {
		uint64_t now = trace_now();
		unsigned int i;

		for (i = 0; i < ntrace_fix; i++) {
			wire_put_u32(obuf + trace_fix[i], (uint32_t)now);
			wire_put_u32(obuf + trace_fix[i] + 4, (uint32_t)(now >> 32));
		}
		ntrace_fix = 0;
	}
	while (off < olen) {
		w = sys_write(out_fd, obuf + off, olen - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = out_fd, .events = POLLOUT };

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
uint8_t *out_frame(uint16_t type, uint32_t id, size_t body_len)
{
	uint8_t *p;

	if (OBUF_SIZE - olen < WIRE_HDR_SIZE + body_len)
		out_flush();
	p = wire_put_hdr(obuf + olen, type, id, body_len);
	olen += WIRE_HDR_SIZE + body_len;
	return p;
}

int reply_error(uint32_t id, int err, uint32_t syscall_id, const char *detail)
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

int reply_ok(uint32_t id)
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

struct slot *slot_alloc(void)
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
		s->report_fd = -1;
		s->status_fd = -1;
		s->req_id = 0;
		nslots++;
		return s;
	}
}

/*
 * The slot of a handle the host may still name. After EXIT a handle is dead
 * for KILL and INFO, but RELEASE and CLOSE may still need its pipes. A
 * pending spawn's handle is nobody's yet: the host learns it from SPAWNED.
 */
struct slot *slot_get(uint32_t h, bool exited_ok)
{
	struct slot *s = &slots[h & (MAX_HANDLES - 1)];

	if (!h || s->handle != h || (s->flags & (SLOT_CLOSED | SLOT_PENDING)))
		return NULL;
	if ((s->flags & SLOT_EXITED) && !exited_ok)
		return NULL;
	return s;
}

void staged_init(void)
{
	int i;

	for (i = 0; i < MAX_STAGED; i++)
		staged[i].next = i + 1 < MAX_STAGED ? i + 1 : -1;
	staged_free = 0;
	nstaged_free = MAX_STAGED;
}

/* Callers checked nstaged_free. */
void staged_push(struct slot *s, int host_end, int child_end, uint32_t child_fd)
{
	int i = staged_free;

	staged_free = staged[i].next;
	nstaged_free--;
	staged[i].fd[0] = host_end;
	staged[i].fd[1] = child_end;
	staged[i].child_fd = child_fd;
	staged[i].next = s->staged;
	s->staged = i;
}

void staged_close(struct slot *s)
{
	int i;

	while ((i = s->staged) >= 0) {
		sys_close(staged[i].fd[0]);
		sys_close(staged[i].fd[1]);
		s->staged = staged[i].next;
		staged[i].next = staged_free;
		staged_free = i;
		nstaged_free++;
	}
}

/*
 * Closes an fd that may be in epoll. A deferred child holds copies of our
 * fds until it has let go of them (slots_close_copies()), and a copy keeps
 * the registration alive after our close: remove it first while one may.
 */
void close_watched(int *fd)
{
	if (*fd < 0)
		return;
	if (npending)
		epoll_ctl(epfd, EPOLL_CTL_DEL, *fd, NULL);
	sys_close(*fd);
	*fd = -1;
}

void slot_free(struct slot *s)
{
	staged_close(s);
	close_watched(&s->pidfd);
	close_watched(&s->report_fd);
	if (s->status_fd >= 0)
		sys_close(s->status_fd);
	s->status_fd = -1;
	s->handle = 0;
	nslots--;
}

/* Watches fd (the pidfd, or a pending spawn's report pipe) for the slot. */
int slot_watch(struct slot *s, int fd)
{
	struct epoll_event ev = {
		.events = EPOLLIN,
		.data.u64 = (uint64_t)s->handle << 32 | (uint64_t)(s - slots),
	};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Reaps a child we own; it has exited or is about to. Returns 0 or -errno. */
int reap(int pidfd, void *si, struct kernel_rusage *ru)
{
	int r;

	do
		r = sys_waitid(P_PIDFD, pidfd, si, WEXITED, ru);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/*
 * In a deferred child, on a copy of our memory and fds, which may wait long
 * before it execs: let go of the other children's fds at once. A copy of a
 * pipe's end would keep its reader from ever seeing EOF; a copy of a pidfd
 * would keep it in our epoll after we close ours.
 */
void slots_close_copies(void)
{
	uint32_t i;
	int j;

	for (i = 0; i < MAX_HANDLES; i++) {
		if (!slots[i].handle)
			continue;
		if (slots[i].pidfd >= 0)
			sys_close(slots[i].pidfd);
		if (slots[i].report_fd >= 0)
			sys_close(slots[i].report_fd);
		if (slots[i].status_fd >= 0)
			sys_close(slots[i].status_fd);
		for (j = slots[i].staged; j >= 0; j = staged[j].next) {
			sys_close(staged[j].fd[0]);
			sys_close(staged[j].fd[1]);
		}
	}
}

/*
 * SPAWNED for a child that has exec'd: its pipes in fd order, each with the
 * sidecar's fd number of the host's end.
 */
void reply_spawned(uint32_t id, const struct slot *s)
{
	uint32_t npipes = 0;
	uint8_t *p;
	int i;

	for (i = s->staged; i >= 0; i = staged[i].next)
		npipes++;
	p = out_frame(MSG_SPAWNED, id, 12 + 8 * (size_t)npipes);
	p = wire_put_u32(p, s->handle);
	p = wire_put_u32(p, (uint32_t)s->pid);
	p = wire_put_u32(p, npipes);
	for (i = s->staged; i >= 0; i = staged[i].next) {
		p = wire_put_u32(p, staged[i].child_fd);
		p = wire_put_u32(p, (uint32_t)staged[i].fd[0]);
	}
}

/* ---- requests (SPAWN is in spawn.c) ---- */

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
		if (!(features & FEAT_SIGNAL_PROCESS_GROUP))
			return reply_error(id, EOPNOTSUPP, SC_PIDFD_SEND_SIGNAL,
					   "PIDFD_SIGNAL_PROCESS_GROUP");
		kflags = PIDFD_SIGNAL_PROCESS_GROUP;
	}
	if (sys_pidfd_send_signal(s->pidfd, sig, NULL, kflags) < 0)
		return reply_error(id, errno, SC_PIDFD_SEND_SIGNAL, NULL);
	return reply_ok(id);
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
	relay_drop_handle(s->handle);
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
	if (sys_pidfd_get_info(s->pidfd, &rep.info) < 0)
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

void dispatch(const struct wire_hdr *h, const uint8_t *body, size_t n)
{
	int (*fn)(uint32_t, const uint8_t *, size_t);
	uint8_t *p;

	/*
	 * Id 0 marks a notification (CREDIT): never answered, not even with an
	 * error, since a reply with id 0 would read as an event. Anything else
	 * sent with id 0 is dropped.
	 */
	if (!h->id) {
		if (h->type == MSG_CREDIT && !h->flags)
			handle_credit(0, body, n);
		return;
	}
	switch (h->type) {
	case MSG_SPAWN:		fn = handle_spawn; break;
	case MSG_KILL:		fn = handle_kill; break;
	case MSG_OPEN:		fn = handle_open; break;
	case MSG_CLOSE:		fn = handle_close; break;
	case MSG_INFO:		fn = handle_info; break;
	case MSG_RELEASE:	fn = handle_release; break;
	case MSG_ALIVE:		fn = handle_alive; break;
	case MSG_WRITE:		fn = handle_write; break;
	case MSG_SHUT:		fn = handle_shut; break;
	case MSG_CREDIT:	fn = handle_credit; break;
	case MSG_RESIZE:	fn = handle_resize; break;
	case MSG_RAW:		fn = handle_raw; break;
	case MSG_LISTEN:	fn = handle_listen; break;
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
	/* read · clone · returned (the vfork child has exec'd) · written */
	if (trace_on && fn == handle_spawn)
		trace_event(1, h->id, trace_read_ns, trace_clone_ns, trace_now());
}

/* ---- events ---- */

/* Parses every complete frame in the buffer; keeps a partial one. */
static void on_stdin(void)
{
	struct wire_hdr h;
	size_t off = 0;
	ssize_t r;
	long fl;

	r = sys_read(STDIN_FILENO, rbuf + rlen, sizeof(rbuf) - rlen);
	if (r == 0)
		host_gone(0);
	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		host_gone(0);
	}
	rlen += (size_t)r;
	if (trace_on)
		trace_read_ns = trace_now();
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

/*
 * One-shot mode (once.c): the one request, read exactly, so that what follows it in stdin,
 * the child's input, is left for once_take_input().
 */
static void once_request(void)
{
	size_t want = 4;
	struct wire_hdr h;
	ssize_t r;
	long fl;

	for (;;) {
		r = sys_read(STDIN_FILENO, rbuf + rlen, want - rlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			host_gone(r ? 1 : 0);	/* no whole request: nothing to do */
		rlen += (size_t)r;
		if (rlen < want)
			continue;
		fl = wire_frame(rbuf, rlen, &h);
		if (fl < 0)
			fatal(wire_get_u32(rbuf) > WIRE_MAX_FRAME ? EMSGSIZE : EPROTO,
			      "frame length out of bounds");
		if (fl > 0)
			break;
		want = 4 + (size_t)wire_get_u32(rbuf);
	}
	once_take_input();
	if (h.type != MSG_SPAWN) {
		reply_error(h.id, EINVAL, SC_NONE, "one-shot mode takes one SPAWN");
		return;
	}
	once_expect(next_handle);
	dispatch(&h, rbuf + WIRE_HDR_SIZE, h.len - (WIRE_HDR_SIZE - 4));
}

/* A spawned child ended: reap it, report it unless CLOSEd. */
static void on_child_exit(struct slot *s)
{
	struct wire_exit ex = { 0 };

	/* On error the zeroed siginfo tells the host nothing was reaped. */
	reap(s->pidfd, ex.siginfo, &ex.rusage);
	close_watched(&s->pidfd);
	if (s->status_fd >= 0)
		ns_exit_status(s->status_fd, ex.siginfo);
	if (s->flags & SLOT_CLOSED) {
		slot_free(s);
		return;
	}
	ex.handle = s->handle;
	memcpy(out_frame(MSG_EXIT, 0, sizeof(ex)), &ex, sizeof(ex));
	/* epoll woke · reaped · written */
	if (trace_on)
		trace_event(2, s->handle, trace_wake_ns, trace_now(), 0);
	if (s->staged >= 0)
		s->flags |= SLOT_EXITED;
	else
		slot_free(s);
}

/* Children that go with the host: all but DETACHED ones that have exec'd. */
static bool dies_with_host(const struct slot *s)
{
	return s->handle && (s->flags & SLOT_CHILD) && s->pidfd >= 0 &&
	       (!(s->flags & SLOT_DETACHED) || (s->flags & SLOT_PENDING));
}

/*
 * The host is gone (or asked us to go): kill every child that is not
 * DETACHED, and every deferred one still on its way to exec (nobody has
 * heard of it), then reap them all so none is left a zombie. Killing first
 * lets them die in parallel.
 */
static _Noreturn void host_gone(int status)
{
	uint8_t si[KERNEL_SIGINFO_SIZE];
	struct slot *s;
	uint32_t i;

	if (olen) {
		/* Last replies, best effort: never block on a host that stopped reading. */
		fcntl(out_fd, F_SETFL, O_NONBLOCK);
		(void)!sys_write(out_fd, obuf, olen);
		olen = 0;
	}
	for (i = 0; i < MAX_HANDLES; i++) {
		s = &slots[i];
		if (dies_with_host(s))
			sys_pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
	}
	for (i = 0; i < MAX_HANDLES; i++) {
		s = &slots[i];
		if (dies_with_host(s))
			reap(s->pidfd, si, NULL);
	}
	exit(status);
}

static void on_signal(int sfd)
{
	struct signalfd_siginfo ssi;

	while (sys_read(sfd, &ssi, sizeof(ssi)) == (ssize_t)sizeof(ssi)) {
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
		else if (idx == EV_ONCE)
			once_on_event();
		else if (idx == EV_OUTLET)
			outlet_on_connect();
		else
			host_gone(0);
		return;
	}
	if (idx & EV_RELAY_BIT) {
		on_relay(idx & ~EV_RELAY_BIT, h);
		return;
	}
	/* An earlier event in this batch may have freed or refilled the slot. */
	s = &slots[idx];
	if (s->handle != h || s->pidfd < 0)
		return;
	if (s->flags & SLOT_PENDING)
		on_spawn_report(s);
	else if (s->flags & SLOT_OPENED)
		on_opened_exit(s, events);
	else
		on_child_exit(s);
}

static void send_hello(const char *release)
{
	size_t n = strlen(release);
	uint8_t *p = out_frame(MSG_HELLO, 0, 24 + n);

	p = wire_put_u32(p, PROTOCOL_VERSION);
	p = wire_put_u32(p, features | (trace_on ? FEAT_TRACE : 0));
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

	if (argc > 1 && !once_parse(argc, argv))
		die("speaks the pidfd protocol on stdin/stdout; takes no arguments but --once", 0);
	self_pid = getpid();
	host_pid = getppid();
	trace_on = getenv("PIDFD_TRACE") && !strcmp(getenv("PIDFD_TRACE"), "1");
	setup_fds();
	sfd = setup_signals();
	setup_rlimit();
	staged_init();
	/* Children never touch the I/O buffers: don't copy their page tables. */
	madvise(rbuf, sizeof(rbuf), MADV_DONTFORK);
	madvise(obuf, sizeof(obuf), MADV_DONTFORK);
	n = spawn_init();
	if (n < 0)
		die("mmap", -n);
	if (uname(&uts) < 0)
		die("uname", errno);
	features = probe_features();
	spawn_probe_clone();

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1", errno);
	/* One-shot: stdin carries one request and the child's input, read once (once.c). */
	watch_fd(once_mode ? once_init() : STDIN_FILENO, once_mode ? EV_ONCE : EV_STDIN);
	watch_fd(sfd, EV_SIGNAL);
	relay_init();
	n = opened_init();
	if (n < 0)
		die("timerfd_create", -n);
	watch_fd(n, EV_TIMER);
	/* The host's exit ends us even if someone else holds our stdin open. */
	if (host_pid > 1) {
		host_pidfd = sys_pidfd_open(host_pid, 0);
		if (host_pidfd >= 0)
			watch_fd(host_pidfd, EV_HOST);
	}
	send_hello(uts.release);
	if (once_mode)
		once_request();

	/* From now on, we must not die but through host_gone(). */
	for (;;) {
		if (once_mode && once_done()) {
			out_flush();
			exit(0);
		}
		n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			host_gone(1);
		}
		if (trace_on)
			trace_wake_ns = trace_now();
		for (i = 0; i < n; i++)
			on_event(evs[i].data.u64, evs[i].events, sfd);
		out_flush();
	}
}
