/* SPDX-License-Identifier: MIT */
/*
 * The SPAWN request's state, shared by its two units: stdio.c opens what
 * the child's fds come from, spawn.c makes the child and answers.
 */
#ifndef PIDFD_SPAWN_H
#define PIDFD_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sidecar.h"
#include "wire.h"

/*
 * AddressSanitizer keeps per-thread state (stack bounds, fake stack frames)
 * that a CLONE_VM child would share with us, on a stack ASan does not know:
 * it must not instrument the child side (sanitizer builds only).
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHILD_SIDE	__attribute__((no_sanitize("address")))
#endif
#endif
#if !defined(CHILD_SIDE) && defined(__SANITIZE_ADDRESS__)
#define CHILD_SIDE	__attribute__((no_sanitize_address))
#endif
#ifndef CHILD_SIDE
#define CHILD_SIDE
#endif

/* What a child that fails before execve tells us, before its _exit(127). */
struct child_report {
	int32_t err;		/* 0: nothing to report */
	uint32_t syscall;
	char detail[DETAIL_MAX + 1];
};
#define REPORT_HEAD	offsetof(struct child_report, detail)

/* The SPAWN being answered: everything the child reads, and what failed. */
struct spawn {
	struct spawn_req req;
	int src[WIRE_MAX_STDIO];	/* what the child gets as fd i, -1: closed */
	int keep[WIRE_MAX_STDIO];	/* the host's end of a pipe, or -1 */
	bool defer[WIRE_MAX_STDIO];	/* src is an O_PATH fd the child opens */
	uint32_t nres;			/* entries 0..nres-1 are set up */
	uint32_t npipes;
	bool deferred;			/* some entry is opened by the child */
	bool terminal;			/* entries 0-1(-2) are a new pty's slave */
	int cgroup_dir;			/* O_PATH, for CLONE_INTO_CGROUP, or -1 */
	int cgroup_procs;		/* cgroup.procs the child joins by, or -1 */
	int report[2];			/* deferred: the child's report pipe */
	int status[2];			/* NS_PID: the init passes the program's status on */
	bool map_outside;		/* NS_USER to other ids than ours: we write the maps */
	int go[2];			/* ...and the child waits on go[0] until they are written */
	pid_t pid;
	int pidfd;
	uint32_t sc;			/* on failure: the call, for ERROR */
	const char *detail;		/* on failure: the path or field */
};

/* stdio.c: the step before the clone, and its undoing. Return 0 or -errno. */
int spawn_open(struct spawn *s);
void spawn_undo(struct spawn *s);
bool src_owned(const struct spawn *s, uint32_t i);
void close_fd(int *fd);

/* spawn.c: child side, also used before the clone */
char *put_uint(char *p, unsigned int v);
_Noreturn void child_fail(const struct spawn *s, int err, uint32_t syscall_id, const char *detail);
int reopen(int path_fd, const char *path, int flags);

#endif /* PIDFD_SPAWN_H */
