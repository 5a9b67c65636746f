/* SPDX-License-Identifier: MIT */
/*
 * What the sidecar's units share: the handle table and the output batch
 * (sidecar.c), SPAWN (spawn.c), OPEN (opened.c), and the state set up
 * before the loop (setup.c). Every table is sized here, up front: nothing is
 * allocated once the loop runs.
 */
#ifndef PIDFD_SIDECAR_H
#define PIDFD_SIDECAR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "wire.h"

#define MAX_HANDLES	16384		/* power of two: slot = handle & (N - 1) */
#define MAX_STAGED	8192		/* pipes spawned but not yet RELEASEd */
#define OBUF_SIZE	(64u << 10)
#define DETAIL_MAX	1024		/* ERROR detail is truncated to this */
#define MAX_RELAYS	4096		/* relayed streams at once */
#define RELAY_WINDOW	(256u << 10)	/* default credit of an output stream */
#define RELAY_MIN_READ	4096		/* flush the batch rather than read less */

/* epoll data.u64 of once.c's fds (handle 0, after sidecar.c's sentinels 0-3). */
#define EV_ONCE		4
/* epoll data.u64 of outlet.c's listeners */
#define EV_OUTLET	5

/* epoll data.u64 of a relayed stream: (handle << 32) | EV_RELAY_BIT | index. */
#define EV_RELAY_BIT	(1u << 31)

enum {
	SLOT_CHILD	= 1 << 0,	/* spawned by us: we reap it */
	SLOT_OPENED	= 1 << 1,	/* from OPEN: someone else reaps it */
	SLOT_DETACHED	= 1 << 2,	/* survives the host */
	SLOT_CLOSED	= 1 << 3,	/* host sent CLOSE: no events, handle dead */
	SLOT_EXITED	= 1 << 4,	/* reaped; kept only for unreleased pipes */
	SLOT_PARKED	= 1 << 5,	/* OPENed zombie waiting for its parent to reap it */
	SLOT_PENDING	= 1 << 6,	/* deferred spawn: not exec'd yet, no reply sent */
};

struct slot {
	uint32_t handle;	/* 0: free */
	int32_t pid;
	int pidfd;		/* -1 once reaped */
	uint32_t flags;
	int staged;		/* first staged pipe, -1: none */
	int report_fd;		/* SLOT_PENDING: the child's report pipe */
	uint32_t req_id;	/* SLOT_PENDING: the SPAWN to answer */
	int status_fd;		/* NS_PID: the init's report of the program's end, or -1 */
};

extern struct slot slots[MAX_HANDLES];
extern uint32_t nslots;
extern uint32_t next_handle;
extern unsigned int npending;		/* slots with SLOT_PENDING */
extern int nstaged_free;

/* Set up before the loop (setup.c), read everywhere after. */
extern int epfd;
extern int devnull;
extern int host_pidfd;
extern pid_t host_pid;
extern pid_t self_pid;
extern uint32_t features;
extern struct rlimit nofile_orig;
extern bool nofile_raised;
extern int ignored_sigs[];
extern unsigned int nignored;

/* sidecar.c: output, to out_fd (outlet.c: stdout, or the host's own socket) */
extern uint8_t obuf[OBUF_SIZE];
extern int out_fd;
extern size_t olen;
uint8_t *out_frame(uint16_t type, uint32_t id, size_t body_len);
void out_flush(void);
int reply_error(uint32_t id, int err, uint32_t syscall_id, const char *detail);
int reply_ok(uint32_t id);
void dispatch(const struct wire_hdr *h, const uint8_t *body, size_t n);

/* sidecar.c: PIDFD_TRACE (PROTOCOL.md, TRACE): off unless set at start, then a branch each */
extern bool trace_on;
extern uint64_t trace_clone_ns;		/* spawn.c: just before the clone */
uint64_t trace_now(void);

/* sidecar.c: the handle table */
struct slot *slot_alloc(void);
struct slot *slot_get(uint32_t h, bool exited_ok);
void slot_free(struct slot *s);
void close_watched(int *fd);
void slots_close_copies(void);
int slot_watch(struct slot *s, int fd);
void staged_init(void);
void staged_push(struct slot *s, int host_end, int child_end, uint32_t child_fd);
void staged_close(struct slot *s);
int reap(int pidfd, void *si, struct kernel_rusage *ru);
void reply_spawned(uint32_t id, const struct slot *s);

/* opened.c */
int handle_open(uint32_t id, const uint8_t *body, size_t n);
void on_opened_exit(struct slot *s, uint32_t events);
void on_timer(void);
int opened_init(void);

/* spawn.c */
int handle_spawn(uint32_t id, const uint8_t *body, size_t n);
void on_spawn_report(struct slot *s);
int spawn_init(void);
bool spawn_probe_clone(void);

/* relay.c: child stdio carried over the host connection */
void relay_init(void);
unsigned int relay_room(void);
int relay_add(uint32_t handle, uint32_t fd, int pipe, bool to_child, bool terminal, uint32_t window);
void relay_start(uint32_t handle);
void relay_drop_handle(uint32_t handle);
void relay_drop_all(void);
void on_relay(uint32_t idx, uint32_t handle);
int handle_write(uint32_t id, const uint8_t *body, size_t n);
int handle_shut(uint32_t id, const uint8_t *body, size_t n);
int handle_credit(uint32_t id, const uint8_t *body, size_t n);
int handle_resize(uint32_t id, const uint8_t *body, size_t n);
int handle_raw(uint32_t id, const uint8_t *body, size_t n);

/* once.c: the one-shot mode of synchronous runs (--once) */
extern bool once_mode;
bool once_parse(int argc, char **argv);
int once_init(void);
void once_take_input(void);
void once_expect(uint32_t handle);
void once_over_budget(void);
void once_on_event(void);
bool once_done(void);

/* relay.c: a relayed stream's end handed to another child (a kernel pipeline) */
int relay_take(uint32_t handle, uint32_t fd);

/* setup.c: may die */
_Noreturn void die(const char *what, int err);
void say(const char *what, int err);
void setup_fds(void);
int setup_signals(void);
void setup_rlimit(void);
uint32_t probe_features(void);

/* outlet.c: the output moved to a socket the host connects to */
int handle_listen(uint32_t id, const uint8_t *body, size_t n);
void outlet_on_connect(void);
void outlet_reset(void);

#endif /* PIDFD_SIDECAR_H */
