// SPDX-License-Identifier: MIT
/*
 * OPEN: processes the sidecar did not spawn. Their pidfd says when they
 * end; their exit status is someone else's to reap, and the kernel only
 * keeps it (PIDFD_INFO_EXIT) once that parent has. EXITED waits for that up
 * to a second, on a timer: a runtime busy elsewhere (Deno's reaper, on a
 * loaded machine) took over 100 ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "sidecar.h"
#include "sys.h"

#define REAP_GRACE_NS	1000000000ll	/* how long an OPENed zombie may wait for its parent */

/* OPENed zombies in the order they were parked; deadlines only grow. */
struct parked {
	uint32_t handle;
	int64_t deadline;
};
static struct parked parked[MAX_HANDLES];
static uint32_t parked_head, parked_len;

static int tfd = -1;

/* The grace timer, for the loop to watch. Returns it, or -errno. */
int opened_init(void)
{
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	return tfd < 0 ? -errno : tfd;
}

int handle_open(uint32_t id, const uint8_t *b, size_t n)
{
	struct slot *s;
	uint32_t flags;
	int32_t pid;
	int fd, r;
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
	r = slot_watch(s, s->pidfd);
	if (r < 0) {
		slot_free(s);
		return reply_error(id, -r, SC_EPOLL_CTL, NULL);
	}
	p = out_frame(MSG_OPENED, id, 8);
	p = wire_put_u32(p, s->handle);
	wire_put_u32(p, (uint32_t)pid);
	return 0;
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
void on_opened_exit(struct slot *s, uint32_t events)
{
	struct wire_exited ev = { 0 };
	bool zombie;

	ev.handle = s->handle;
	ev.info.mask = PIDFD_INFO_PID | PIDFD_INFO_CREDS | PIDFD_INFO_CGROUPID |
		       PIDFD_INFO_EXIT;
	if (!(features & FEAT_PIDFD_GET_INFO) ||
	    sys_pidfd_get_info(s->pidfd, &ev.info) < 0)
		memset(&ev.info, 0, sizeof(ev.info));
	ev.has_exit = !!(ev.info.mask & PIDFD_INFO_EXIT);
	/* Still there, so not reaped yet: PIDFD_INFO_PID needs a live task. */
	zombie = !ev.has_exit && (ev.info.mask & PIDFD_INFO_PID);
	if (zombie && (features & FEAT_PIDFD_INFO_EXIT) && !(events & EPOLLHUP) &&
	    !(s->flags & SLOT_PARKED) && park(s))
		return;
	memcpy(out_frame(MSG_EXITED, 0, sizeof(ev)), &ev, sizeof(ev));
	slot_free(s);
}

/* Parked zombies whose parent took too long: report them as they are. */
void on_timer(void)
{
	struct parked *p;
	struct slot *s;
	uint64_t ticks;
	int64_t now = now_ns();

	(void)!sys_read(tfd, &ticks, sizeof(ticks));
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
