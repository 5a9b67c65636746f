// SPDX-License-Identifier: MIT
/*
 * One-shot mode, for the host's synchronous calls (runSync):
 *
 *   pidfd-sidecar --once [--timeout MS] [--kill-signal N] [--force-kill-after MS] [--contain DIR]
 *
 * The host starts us with child_process.spawnSync(), which every runtime has (Node, Bun,
 * Deno's node:child_process) and which blocks its thread in the kernel, not in a loop. It
 * writes one SPAWN frame to our stdin, then the child's input, and closes it. We answer as
 * the long-lived sidecar does, with the same loop and the same spawn code: HELLO, SPAWNED or
 * ERROR, DATA and EOF of the relayed output, EXIT; and we exit once the child has been
 * reaped and its output has ended. Only what starts the loop and what ends it are here:
 *
 *  - Input: everything after the frame is read at once into a memory file put on our fd 0,
 *    which a FILE entry "/proc/self/fd/0" gives the child from its start. Up front, because
 *    a host may write all of its input before it reads any of our output (Deno's spawnSync
 *    does): a child that answers before it has read everything would fill our stdout while
 *    the host is still filling our stdin.
 *  - Output: relayed, and never credited back, since nobody is there to: a stream that
 *    uses up its window (the host's maxBuffer + 1) gets the child SIGKILLed, as run() does
 *    past maxBuffer.
 *  - Time: the timeout is kept here, as run()'s is by the host: killSignal when it passes,
 *    SIGKILL forceKillAfter ms later; once a timed-out child has ended, its output gets
 *    100 ms more to end (a grandchild may hold it open), then we go with what we have.
 *  - Containment (--contain DIR, the cgroup of a scope the host made for this run): once the
 *    child has ended, everything left in DIR is killed (cgroup.kill) and we wait for DIR to
 *    be empty (cgroup.events, in epoll), so that nothing outlives the call and the host can
 *    remove the directory as soon as we are gone.
 *
 * A malformed frame gets its ERROR (or FATAL for a bad length) like any other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "sidecar.h"
#include "sys.h"

#define OUTPUT_GRACE_MS	100

bool once_mode;

static uint32_t child_handle;
static long timeout_ms = -1;		/* -1: none */
static int kill_signal = SIGTERM;
static long force_kill_ms = -1;		/* -1: never */
static int tfd = -1;
static enum { RUNNING, SIGNALLED, FORCED, GRACE, OVER } stage = RUNNING;
static bool timed_out;
static uint8_t input_buf[64u << 10];
static const char *contain_dir;		/* --contain */
static bool contain_killed;
static bool contain_empty = true;
static int events_fd = -1;		/* DIR/cgroup.events, for EPOLLPRI */

static long number(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		die("--once: bad number", EINVAL);
	return v;
}

/* True for `--once ...`; any other argument list is refused. */
bool once_parse(int argc, char **argv)
{
	int i;

	if (argc < 2 || strcmp(argv[1], "--once"))
		return false;
	for (i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--timeout"))
			timeout_ms = number(argv[i + 1], 0x7fffffff);
		else if (!strcmp(argv[i], "--kill-signal"))
			kill_signal = (int)number(argv[i + 1], 64);
		else if (!strcmp(argv[i], "--force-kill-after"))
			force_kill_ms = number(argv[i + 1], 0x7fffffff);
		else if (!strcmp(argv[i], "--contain") && argv[i + 1][0] == '/')
			contain_dir = argv[i + 1];
		else
			die("--once: unknown option", EINVAL);
	}
	if (i != argc || kill_signal < 1)
		die("--once: options come in pairs: --timeout MS --kill-signal N --force-kill-after MS", EINVAL);
	once_mode = true;
	return true;
}

static void arm(long ms)
{
	struct itimerspec its = {
		.it_value.tv_sec = ms / 1000,
		.it_value.tv_nsec = (ms % 1000) * 1000000 + 1,	/* 0 would disarm */
	};

	timerfd_settime(tfd, 0, &its, NULL);
}

/* The timer, for the loop to watch. */
int once_init(void)
{
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0)
		die("timerfd_create", errno);
	return tfd;
}

/*
 * The child's input: the rest of stdin, read to its end into a memory file that becomes our
 * fd 0. The host has to close stdin for this to end, as it does after writing the input.
 */
void once_take_input(void)
{
	ssize_t n, w, off;
	int mfd = sys_memfd_create("pidfd-input", MFD_CLOEXEC);

	if (mfd < 0)
		die("memfd_create", errno);
	for (;;) {
		n = sys_read(STDIN_FILENO, input_buf, sizeof(input_buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read", errno);
		if (n == 0)
			break;
		for (off = 0; off < n; off += w) {
			w = sys_write(mfd, input_buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				w = 0;
			else if (w < 0)
				die("write", errno);
		}
	}
	if (dup3(mfd, STDIN_FILENO, O_CLOEXEC) < 0)
		die("dup3", errno);
	sys_close(mfd);
}

/* The SPAWN about to be handled makes the handle the loop then waits for. */
void once_expect(uint32_t handle)
{
	child_handle = handle;
	if (timeout_ms >= 0)
		arm(timeout_ms);
}

static struct slot *child_slot(void)
{
	struct slot *s = &slots[child_handle & (MAX_HANDLES - 1)];

	return child_handle && s->handle == child_handle && s->pidfd >= 0 ? s : NULL;
}

static void signal_child(int sig)
{
	struct slot *s = child_slot();

	if (s)
		sys_pidfd_send_signal(s->pidfd, sig, NULL, 0);
}

/* An output stream used up its window: past the host's maxBuffer. */
void once_over_budget(void)
{
	signal_child(SIGKILL);
}

/* "populated 1" in DIR/cgroup.events: some process is still in the cgroup (or below). */
static bool populated(void)
{
	char path[PATH_MAX], text[256], *at;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.events", contain_dir);
	fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return false;	/* gone: nothing is left in it */
	n = sys_read(fd, text, sizeof(text) - 1);
	sys_close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	at = strstr(text, "populated ");
	return at && at[10] == '1';
}

/* The child has ended: whatever it left in the cgroup goes too. */
static void contain_kill(void)
{
	struct epoll_event ev = { .events = EPOLLPRI, .data.u64 = EV_ONCE };
	char path[PATH_MAX];
	int fd;

	contain_killed = true;
	snprintf(path, sizeof(path), "%s/cgroup.events", contain_dir);
	events_fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (events_fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_ADD, events_fd, &ev);
	snprintf(path, sizeof(path), "%s/cgroup.kill", contain_dir);
	fd = sys_open(path, O_WRONLY | O_CLOEXEC, 0);
	if (fd >= 0) {
		(void)!sys_write(fd, "1", 1);
		sys_close(fd);
	}
	contain_empty = !populated();
}

/* The timer fired, or cgroup.events changed. */
void once_on_event(void)
{
	uint64_t ticks;

	if (contain_killed && !contain_empty)
		contain_empty = !populated();
	if (sys_read(tfd, &ticks, sizeof(ticks)) != (ssize_t)sizeof(ticks))
		return;
	switch (stage) {
	case RUNNING:
		timed_out = true;
		stage = SIGNALLED;
		signal_child(kill_signal);
		if (force_kill_ms >= 0)
			arm(force_kill_ms);
		break;
	case SIGNALLED:
		stage = FORCED;
		signal_child(SIGKILL);
		break;
	case GRACE:
		stage = OVER;
		break;
	default:
		break;
	}
}

/*
 * Done once the child has been reaped (or never was: the SPAWN failed) and every relayed
 * stream has ended; after a timeout, at most OUTPUT_GRACE_MS after the child ended.
 */
bool once_done(void)
{
	if (child_slot() || npending)
		return false;
	if (contain_dir && !contain_killed)
		contain_kill();
	if (!contain_empty)
		return false;
	if (relay_room() == MAX_RELAYS || stage == OVER)
		return true;
	if (timed_out && stage != GRACE) {
		stage = GRACE;
		arm(OUTPUT_GRACE_MS);
	}
	return false;
}
