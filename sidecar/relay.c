// SPDX-License-Identifier: MIT
/*
 * The relay transport: child stdio carried over the host connection.
 *
 * For a RELAY_* stdio entry the sidecar keeps its end of the child's pipe,
 * non-blocking, in the epoll set. Out of the child, bytes go to the host as
 * DATA events, never more than the credit the host has granted: at zero
 * credit the pipe leaves the epoll set, fills, and the child blocks in
 * write(2). Into the child, each WRITE request is written as far as the
 * pipe takes it and answered with the count; a short count arms EPOLLOUT
 * and one WRITABLE event follows when there is room. So no byte is ever
 * buffered here: output is read straight into the reply batch, input goes
 * straight from the receive buffer into the pipe. Nothing here blocks.
 *
 * A stream is named by its process's handle and the child's fd number. It
 * lives until EOF (output) or SHUT (input), independently of the process:
 * a child that exited may still have bytes in its pipe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "sidecar.h"
#include "sys.h"

struct relay {
	uint32_t handle;	/* 0: free */
	uint32_t fd;		/* the child's fd number */
	int pipe;		/* our end, O_NONBLOCK */
	bool to_child;
	bool terminal;		/* a pty master (RESIZE and RAW find it) */
	bool armed;		/* in the epoll set (only ever with interest) */
	uint32_t credit;	/* output: bytes we may still send */
	int next_free;
};

static struct relay relays[MAX_RELAYS];
static int relay_free = -1;
static unsigned int nrelays;

void relay_init(void)
{
	int i;

	for (i = MAX_RELAYS - 1; i >= 0; i--) {
		relays[i].pipe = -1;
		relays[i].next_free = relay_free;
		relay_free = i;
	}
}

unsigned int relay_room(void)
{
	return MAX_RELAYS - nrelays;
}

static uint64_t relay_tag(const struct relay *r)
{
	return (uint64_t)r->handle << 32 | EV_RELAY_BIT | (uint64_t)(r - relays);
}

/*
 * Sets what epoll watches the pipe for: input, output or nothing. Nothing
 * means out of the set: epoll reports EPOLLHUP and EPOLLERR whatever the
 * interest, so a pipe kept in with none would wake the loop on every turn
 * once its other end closed (an unread stream of an exited child spun a
 * CPU), and an output stream not yet started would be read before SPAWNED.
 */
static int relay_arm(struct relay *r, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = relay_tag(r) };

	if (!events) {
		if (r->armed && epoll_ctl(epfd, EPOLL_CTL_DEL, r->pipe, NULL) < 0)
			return -errno;
		r->armed = false;
		return 0;
	}
	if (epoll_ctl(epfd, r->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, r->pipe, &ev) < 0)
		return -errno;
	r->armed = true;
	return 0;
}

static void relay_free_one(struct relay *r)
{
	close_watched(&r->pipe);	/* leaves the epoll set with the close */
	r->handle = 0;
	r->next_free = relay_free;
	relay_free = (int)(r - relays);
	nrelays--;
}

/*
 * Takes `pipe` (our end of the child's fd `fd`) into the relay table.
 * Output streams start with `window` bytes of credit. Returns 0 or -errno;
 * the caller still owns `pipe` on failure.
 */
int relay_add(uint32_t handle, uint32_t fd, int pipe, bool to_child, bool terminal, uint32_t window)
{
	struct relay *r;
	int flags;

	if (relay_free < 0)
		return -EAGAIN;
	flags = fcntl(pipe, F_GETFL);
	if (flags < 0 || fcntl(pipe, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	r = &relays[relay_free];
	r->handle = handle;
	r->fd = fd;
	r->pipe = pipe;
	r->to_child = to_child;
	r->terminal = terminal;
	/* RELAY_LAZY: no credit until the host's first CREDIT, i.e. until it first reads. */
	r->credit = to_child || (window & RELAY_LAZY) ? 0 : (window ? window : RELAY_WINDOW);
	/*
	 * Out of the epoll set yet: output starts with relay_start(), once
	 * SPAWNED is out; input waits for a short WRITE.
	 */
	r->armed = false;
	relay_free = r->next_free;
	nrelays++;
	return 0;
}

/* EOF: u32 handle · u32 fd · i32 errno (0: the child closed its end). */
static void send_eof(const struct relay *r, int err)
{
	uint8_t *p = out_frame(MSG_EOF, 0, 12);

	p = wire_put_u32(p, r->handle);
	p = wire_put_u32(p, r->fd);
	wire_put_u32(p, (uint32_t)err);
}

/* The child's output streams start flowing: the host knows them now. */
void relay_start(uint32_t handle)
{
	unsigned int i;

	for (i = 0; i < MAX_RELAYS && nrelays; i++) {
		struct relay *r = &relays[i];

		if (r->handle == handle && !r->to_child && r->credit && !r->armed && relay_arm(r, EPOLLIN) < 0) {
			send_eof(r, EIO);
			relay_free_one(r);
		}
	}
}

static struct relay *relay_find(uint32_t handle, uint32_t fd)
{
	unsigned int i, seen = 0;

	for (i = 0; i < MAX_RELAYS && seen < nrelays; i++) {
		if (!relays[i].handle)
			continue;
		seen++;
		if (relays[i].handle == handle && relays[i].fd == fd)
			return &relays[i];
	}
	return NULL;
}

/*
 * Takes our end of a relayed stream out of the relay, for another child (a pipeline joined
 * in the kernel: the consumer reads the producer's pipe itself). No DATA, EOF or WRITABLE
 * follows for it; it is blocking again, as a child expects its stdio. Returns the fd (ours
 * to close) or -EBADF when there is no such stream.
 */
int relay_take(uint32_t handle, uint32_t fd)
{
	struct relay *r = relay_find(handle, fd);
	int pipe, flags;

	if (!r)
		return -EBADF;
	pipe = r->pipe;
	if (r->armed && epoll_ctl(epfd, EPOLL_CTL_DEL, pipe, NULL) < 0)
		return -errno;
	r->pipe = -1;
	relay_free_one(r);
	flags = fcntl(pipe, F_GETFL);
	if (flags >= 0)
		fcntl(pipe, F_SETFL, flags & ~O_NONBLOCK);
	return pipe;
}

/* Every stream, silently (the fuzzer, between inputs). */
void relay_drop_all(void)
{
	unsigned int i;

	for (i = 0; i < MAX_RELAYS && nrelays; i++)
		if (relays[i].handle)
			relay_free_one(&relays[i]);
}

/* The host let go of a process (CLOSE): its streams go too, silently. */
void relay_drop_handle(uint32_t handle)
{
	unsigned int i;

	for (i = 0; i < MAX_RELAYS && nrelays; i++)
		if (relays[i].handle == handle)
			relay_free_one(&relays[i]);
}

/*
 * Output: one read per wake-up, straight into the batch as a DATA body, so
 * one busy stream cannot starve the others of the loop.
 */
static void relay_read(struct relay *r)
{
	size_t room, want;
	ssize_t n;
	uint8_t *body;

	if (OBUF_SIZE - olen < WIRE_HDR_SIZE + 8 + RELAY_MIN_READ)
		out_flush();
	room = OBUF_SIZE - olen - WIRE_HDR_SIZE - 8;
	want = r->credit < room ? r->credit : room;
	body = obuf + olen + WIRE_HDR_SIZE;
	do
		n = sys_read(r->pipe, body + 8, want);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		/* EIO is how a pty master says its last slave closed: the end, too. */
		send_eof(r, n < 0 && errno != EIO ? errno : 0);
		relay_free_one(r);
		return;
	}
	wire_put_hdr(obuf + olen, MSG_DATA, 0, 8 + (size_t)n);
	wire_put_u32(body, r->handle);
	wire_put_u32(body + 4, r->fd);
	olen += WIRE_HDR_SIZE + 8 + (size_t)n;
	r->credit -= (uint32_t)n;
	/* One-shot mode: no credit ever comes back, so the window was the budget. */
	if (!r->credit && once_mode) {
		once_over_budget();
		send_eof(r, ENOBUFS);
		relay_free_one(r);
		return;
	}
	/* Out of credit: stop reading, and the full pipe stops the child. */
	if (!r->credit && relay_arm(r, 0) < 0) {
		send_eof(r, EIO);
		relay_free_one(r);
	}
}

/* Input: the pipe has room again (or its reader is gone: the next WRITE says EPIPE). */
static void relay_writable(struct relay *r)
{
	uint8_t *p;

	if (relay_arm(r, 0) < 0)
		return;
	p = out_frame(MSG_WRITABLE, 0, 8);
	p = wire_put_u32(p, r->handle);
	wire_put_u32(p, r->fd);
}

void on_relay(uint32_t idx, uint32_t handle)
{
	struct relay *r;

	if (idx >= MAX_RELAYS)
		return;
	r = &relays[idx];
	/* An earlier event in this batch may have freed or refilled the entry. */
	if (r->handle != handle || r->pipe < 0)
		return;
	if (r->to_child)
		relay_writable(r);
	else if (r->credit)
		relay_read(r);
}

/* WRITE: u32 handle · u32 fd · bytes. Answered WRITTEN with the count taken. */
int handle_write(uint32_t id, const uint8_t *b, size_t n)
{
	struct relay *r;
	ssize_t w;
	uint8_t *p;
	int err;

	if (n < 8)
		return reply_error(id, EINVAL, SC_NONE, "WRITE body");
	r = relay_find(wire_get_u32(b), wire_get_u32(b + 4));
	if (!r || !r->to_child)
		return reply_error(id, EBADF, SC_WRITE, "no relayed stdin stream with that handle and fd");
	do
		w = sys_write(r->pipe, b + 8, n - 8);
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno != EAGAIN) {
		err = errno;
		relay_free_one(r);
		return reply_error(id, err, SC_WRITE, NULL);
	}
	if (w < 0)
		w = 0;
	if ((size_t)w < n - 8 && !r->armed && (err = relay_arm(r, EPOLLOUT)) < 0) {
		relay_free_one(r);
		return reply_error(id, -err, SC_EPOLL_CTL, NULL);
	}
	p = out_frame(MSG_WRITTEN, id, 12);
	p = wire_put_u32(p, r->handle);
	p = wire_put_u32(p, r->fd);
	wire_put_u32(p, (uint32_t)w);
	return 0;
}

/*
 * SHUT: u32 handle · u32 fd. Input: close our end, the child reads EOF.
 * Output: the host stopped reading; close our end, the child gets EPIPE.
 */
int handle_shut(uint32_t id, const uint8_t *b, size_t n)
{
	struct relay *r;

	if (n != 8)
		return reply_error(id, EINVAL, SC_NONE, "SHUT body");
	r = relay_find(wire_get_u32(b), wire_get_u32(b + 4));
	if (!r)
		return reply_error(id, EBADF, SC_NONE, "no relayed stream with that handle and fd");
	relay_free_one(r);
	return reply_ok(id);
}

/*
 * CREDIT: u32 handle · u32 fd · u32 bytes. Sent with id 0 and never
 * answered (one per read would double the frames). A stream that ended
 * meanwhile is no error: its credit simply has nowhere to go.
 */
int handle_credit(uint32_t id, const uint8_t *b, size_t n)
{
	struct relay *r;
	uint32_t more;

	if (n != 12)
		return id ? reply_error(id, EINVAL, SC_NONE, "CREDIT body") : 0;
	r = relay_find(wire_get_u32(b), wire_get_u32(b + 4));
	if (!r || r->to_child)
		return id ? reply_error(id, EBADF, SC_NONE, "no relayed output stream with that handle and fd") : 0;
	more = wire_get_u32(b + 8);
	r->credit = more > UINT32_MAX - r->credit ? UINT32_MAX : r->credit + more;
	if (r->credit && !r->armed && relay_arm(r, EPOLLIN) < 0) {
		send_eof(r, EIO);
		relay_free_one(r);
	}
	return id ? reply_ok(id) : 0;
}

/*
 * A terminal child's pty master: the reading end of one we relay (stream
 * 1), or the writing end (stream 0), which is all we keep of a master the
 * host reads itself (HOST_TERMINAL). -1: none (or no longer: SHUT).
 */
static int terminal_master(uint32_t handle)
{
	struct relay *r = relay_find(handle, 1);

	if (r && r->terminal)
		return r->pipe;
	r = relay_find(handle, 0);
	return r && r->terminal ? r->pipe : -1;
}

/*
 * RESIZE: u32 handle · u32 cols · u32 rows. The window size of a terminal
 * child's pty, set on the master: the kernel sends SIGWINCH to the
 * terminal's foreground process group.
 */
int handle_resize(uint32_t id, const uint8_t *b, size_t n)
{
	struct winsize ws = { 0 };
	uint32_t cols, rows;
	int master;

	if (n != 12)
		return reply_error(id, EINVAL, SC_NONE, "RESIZE body");
	cols = wire_get_u32(b + 4);
	rows = wire_get_u32(b + 8);
	if (!cols || !rows || cols > 0xffff || rows > 0xffff)
		return reply_error(id, EINVAL, SC_NONE, "size");
	master = terminal_master(wire_get_u32(b));
	if (master < 0)
		return reply_error(id, EBADF, SC_IOCTL, "no terminal with that handle");
	ws.ws_col = (unsigned short)cols;
	ws.ws_row = (unsigned short)rows;
	if (sys_ioctl(master, TIOCSWINSZ, &ws) < 0)
		return reply_error(id, errno, SC_IOCTL, NULL);
	return reply_ok(id);
}

/* What cfmakeraw() clears, per flag word; raw mode off sets them as a new pty has them. */
#define RAW_IFLAG	(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON)
#define RAW_OFLAG	(OPOST)
#define RAW_LFLAG	(ECHO | ECHONL | ICANON | ISIG | IEXTEN)
#define COOKED_IFLAG	(ICRNL | IXON)
#define COOKED_OFLAG	(OPOST)
#define COOKED_LFLAG	(ECHO | ICANON | ISIG | IEXTEN)

/*
 * RAW: u32 handle · u32 on. The terminal's line discipline raw (as
 * cfmakeraw: bytes pass as typed, no echo, no signals from ^C, no CR/NL
 * translation) or back to a new pty's cooked defaults. Termios requests on a
 * pty master act on its slave, whose discipline the child's input crosses.
 */
int handle_raw(uint32_t id, const uint8_t *b, size_t n)
{
	struct termios t;
	uint32_t on;
	int master;

	if (n != 8)
		return reply_error(id, EINVAL, SC_NONE, "RAW body");
	on = wire_get_u32(b + 4);
	if (on > 1)
		return reply_error(id, EINVAL, SC_NONE, "on");
	master = terminal_master(wire_get_u32(b));
	if (master < 0)
		return reply_error(id, EBADF, SC_IOCTL, "no terminal with that handle");
	if (sys_ioctl(master, TCGETS, &t) < 0)
		return reply_error(id, errno, SC_IOCTL, NULL);
	if (on) {
		t.c_iflag &= ~(tcflag_t)RAW_IFLAG;
		t.c_oflag &= ~(tcflag_t)RAW_OFLAG;
		t.c_lflag &= ~(tcflag_t)RAW_LFLAG;
		t.c_cflag = (t.c_cflag & ~(tcflag_t)(CSIZE | PARENB)) | CS8;
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
	} else {
		t.c_iflag |= COOKED_IFLAG;
		t.c_oflag |= COOKED_OFLAG;
		t.c_lflag |= COOKED_LFLAG;
	}
	if (sys_ioctl(master, TCSETS, &t) < 0)
		return reply_error(id, errno, SC_IOCTL, NULL);
	return reply_ok(id);
}
