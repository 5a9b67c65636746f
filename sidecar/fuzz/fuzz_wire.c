// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the pure parser in wire.c.
 *
 * The input is what the host could write to the sidecar's stdin: a byte
 * stream cut into frames by wire_frame(), exactly as on_stdin() does it.
 * Every SPAWN body goes through wire_parse_spawn(); every other body is read
 * field by field with the bounded reader. Memory is allocated to the exact
 * size the sidecar's contract promises (an arena of body size, a vector of
 * WIRE_MAX_STRINGS + 2), so ASan catches a single byte written past it.
 *
 * Besides "no crash", the harness checks what the rest of the sidecar takes
 * for granted once the parser said yes: a bad parse that returns 0 would
 * otherwise reach execve() unnoticed. A broken promise is a trap.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../wire.h"

#define check(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fuzz_wire: %s:%d: broken promise: %s\n", \
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

static char **vec;
static uint32_t *groups;
static struct spawn_stdio *stdio_tab;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vec = malloc((WIRE_MAX_STRINGS + 2) * sizeof(*vec));
	groups = malloc(WIRE_MAX_GROUPS * sizeof(*groups));
	stdio_tab = malloc(WIRE_MAX_STDIO * sizeof(*stdio_tab));
	if (!vec || !groups || !stdio_tab)
		abort();
	return 0;
}

/* A string the parser handed out lies in the arena and ends there. */
static void check_str(const char *s, const char *arena, size_t size)
{
	check(s);
	check(s >= arena && s < arena + size);
	check(memchr(s, 0, (size_t)(arena + size - s)));
}

static void check_strv(char **v, const char *arena, size_t size, uint32_t *count)
{
	uint32_t i;

	for (i = 0; v[i]; i++) {
		check(i < WIRE_MAX_STRINGS);
		check_str(v[i], arena, size);
	}
	*count = i;
}

static void fuzz_spawn(const uint8_t *body, size_t n)
{
	/* The sidecar's arena is one frame; the parser promises body size suffices. */
	size_t size = n ? n : 1;
	char *arena = malloc(size);
	struct spawn_mem mem = {
		.arena = arena,
		.arena_size = n,
		.vec = vec,
		.groups = groups,
		.stdio = stdio_tab,
	};
	struct spawn_req req;
	const char *why = NULL;
	uint32_t i, argc, envc;
	int err;

	if (!arena)
		abort();
	err = wire_parse_spawn(body, n, &req, &mem, &why);
	if (err) {
		check(err == EINVAL || err == E2BIG);
		check(why && *why);
		free(arena);
		return;
	}
	check(!why);
	check(!(req.flags & ~SPAWN_ALL_FLAGS));
	check(req.pdeathsig >= 0 && req.pdeathsig <= 64);
	check(req.uid >= -1 && req.gid >= -1);
	check(req.umask == 0xffffffffu || req.umask <= 0777);
	check(req.ngroups <= WIRE_MAX_GROUPS);
	check_str(req.file, arena, n);
	check(req.file[0]);
	check_strv(req.argv, arena, n, &argc);
	check(argc >= 1);
	check(req.envp == req.argv + argc + 1);
	check_strv(req.envp, arena, n, &envc);
	check(argc + envc <= WIRE_MAX_STRINGS);
	if (req.path_env)
		check(req.path_env >= arena && req.path_env < arena + n);
	if (req.cwd) {
		check_str(req.cwd, arena, n);
		check(req.cwd[0]);
	}
	check(req.nstdio <= WIRE_MAX_STDIO);
	for (i = 0; i < req.nstdio; i++) {
		const struct spawn_stdio *s = &req.stdio[i];

		check_str(s->path, arena, n);
		switch (s->kind) {
		case STDIO_INHERIT:
			check(s->arg >= 0 && s->arg <= 2);
			break;
		case STDIO_FILE:
			check(s->path[0]);
			break;
		case STDIO_HOST_FD:
			check(s->arg >= 0);
			break;
		case STDIO_FROM_PIDFD:
			check(s->arg >= 0 && s->handle && !s->path[0]);
			break;
		case STDIO_RELAYED:
			check(s->arg >= 0 && s->handle && !s->path[0]);
			break;
		case STDIO_HOST_PIPE:
			check(s->arg >= 0 && !s->path[0]);
			break;
		case STDIO_HOST_TERMINAL:
			check(i == 0 && s->handle <= INT32_MAX && !s->path[0]);
			break;
		case STDIO_NULL:
		case STDIO_PIPE_TO_CHILD:
		case STDIO_PIPE_FROM_CHILD:
		case STDIO_RELAY_TO_CHILD:
		case STDIO_RELAY_FROM_CHILD:
		case STDIO_TERMINAL:
		case STDIO_CLOSED:
			break;
		default:
			check(!"unknown stdio kind accepted");
		}
	}
	if (req.flags & SPAWN_CGROUP) {
		check_str(req.cgroup, arena, n);
		check(req.cgroup[0] == '/');
	} else {
		check(!req.cgroup);
	}
	if (req.flags & SPAWN_NAMESPACES) {
		check(req.ns && !(req.ns & ~NS_ALL));
		check(req.ns_uid != 0xffffffffu && req.ns_gid != 0xffffffffu);
		check(req.ns_uid_out >= -1 && req.ns_gid_out >= -1);
	} else {
		check(!req.ns);
	}
	if (req.flags & SPAWN_CWD_BENEATH) {
		check_str(req.root, arena, n);
		check(req.root[0] == '/');
	} else {
		check(!req.root);
	}
	free(arena);
}

/* Other bodies: u32s and strs until the body runs out, never past it. */
static void fuzz_fields(const uint8_t *body, size_t n)
{
	struct wire_rd r = { .p = body, .left = n };
	char small[64], *arena = small;
	size_t left;

	while (!r.err && r.left) {
		left = r.left;
		if (r.left & 1) {
			wire_rd_str(&r, &arena, small + sizeof(small));
			if (r.err == E2BIG)
				break;
		} else {
			wire_rd_u32(&r);
		}
		check(r.err || r.left < left);
		check(r.left <= n && r.p == body + (n - r.left));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_hdr h;
	uint8_t hdr[WIRE_HDR_SIZE];
	size_t off = 0, body_len;
	long fl;

	while ((fl = wire_frame(data + off, size - off, &h)) > 0) {
		check((size_t)fl <= size - off);
		check((size_t)fl == (size_t)h.len + 4);
		check(h.len >= WIRE_HDR_SIZE - 4 && h.len <= WIRE_MAX_FRAME);
		/* A frame split anywhere is not yet a frame: reads may come in pieces. */
		check(wire_frame(data + off, (size_t)fl - 1, &(struct wire_hdr){ 0 }) == 0);
		body_len = h.len - (WIRE_HDR_SIZE - 4);
		/* What the sidecar writes, it could also read back. */
		wire_put_hdr(hdr, h.type, h.id, body_len);
		check(wire_get_u32(hdr) == h.len && wire_get_u16(hdr + 4) == h.type &&
		      wire_get_u32(hdr + 8) == h.id);
		if (h.type == MSG_SPAWN)
			fuzz_spawn(data + off + WIRE_HDR_SIZE, body_len);
		else
			fuzz_fields(data + off + WIRE_HDR_SIZE, body_len);
		off += (size_t)fl;
	}
	if (fl < 0) {
		/* Fatal only for a length no frame may have. */
		uint32_t len = wire_get_u32(data + off);

		check(size - off >= 4);
		check(len < WIRE_HDR_SIZE - 4 || len > WIRE_MAX_FRAME);
	}
	return 0;
}
