// SPDX-License-Identifier: MIT
/*
 * Frame and body parsing for the sidecar. Pure functions over byte buffers:
 * no syscalls, no globals, so a fuzzer can call them directly.
 */
#include <errno.h>
#include <string.h>

#include "wire.h"

long wire_frame(const uint8_t *p, size_t n, struct wire_hdr *h)
{
	uint32_t len;

	if (n < 4)
		return 0;
	len = wire_get_u32(p);
	if (len < WIRE_HDR_SIZE - 4 || len > WIRE_MAX_FRAME)
		return -1;
	if (n - 4 < len)
		return 0;
	h->len = len;
	h->type = wire_get_u16(p + 4);
	h->flags = wire_get_u16(p + 6);
	h->id = wire_get_u32(p + 8);
	return (long)len + 4;
}

uint8_t *wire_put_hdr(uint8_t *p, uint16_t type, uint32_t id, size_t body_len)
{
	p = wire_put_u32(p, (uint32_t)(body_len + WIRE_HDR_SIZE - 4));
	p = wire_put_u16(p, type);
	p = wire_put_u16(p, 0);
	return wire_put_u32(p, id);
}

uint32_t wire_rd_u32(struct wire_rd *r)
{
	uint32_t v;

	if (r->err || r->left < 4) {
		r->err = EINVAL;
		return 0;
	}
	v = wire_get_u32(r->p);
	r->p += 4;
	r->left -= 4;
	return v;
}

char *wire_rd_str(struct wire_rd *r, char **arena, const char *arena_end)
{
	uint32_t n = wire_rd_u32(r);
	char *s;

	if (r->err)
		return NULL;
	if (n > r->left || memchr(r->p, 0, n)) {
		r->err = EINVAL;
		return NULL;
	}
	/* Each str costs 4 wire bytes for its 1 NUL, so a body-sized arena fits. */
	if ((size_t)(arena_end - *arena) < (size_t)n + 1) {
		r->err = E2BIG;
		return NULL;
	}
	s = *arena;
	memcpy(s, r->p, n);
	s[n] = '\0';
	*arena += n + 1;
	r->p += n;
	r->left -= n;
	return s;
}

/* Reads count strings into vec[0..count-1] and terminates the list. */
static int rd_strv(struct wire_rd *r, char **vec, uint32_t count, char **arena,
		   const char *arena_end)
{
	uint32_t i;

	for (i = 0; i < count; i++) {
		vec[i] = wire_rd_str(r, arena, arena_end);
		if (r->err)
			return r->err;
	}
	vec[count] = NULL;
	return 0;
}

/* An absolute path (the cgroup, the cwd's root): anything relative would name a place that
 * depends on the sidecar's own cwd. */
static int rd_abs_path(struct wire_rd *r, char **out, char **arena, const char *arena_end)
{
	*out = wire_rd_str(r, arena, arena_end);
	if (r->err)
		return r->err;
	return (*out)[0] == '/' ? 0 : EINVAL;
}

int wire_parse_spawn(const uint8_t *body, size_t n, struct spawn_req *req,
		     const struct spawn_mem *mem, const char **why)
{
	struct wire_rd r = { .p = body, .left = n };
	char *arena = mem->arena, *arena_end = mem->arena + mem->arena_size;
	uint32_t i, argc, envc;
	int err;

	memset(req, 0, sizeof(*req));
	req->flags = wire_rd_u32(&r);
	req->pdeathsig = (int32_t)wire_rd_u32(&r);
	req->uid = (int32_t)wire_rd_u32(&r);
	req->gid = (int32_t)wire_rd_u32(&r);
	req->umask = wire_rd_u32(&r);
	req->ngroups = wire_rd_u32(&r);
	*why = "body size";
	if (r.err)
		return r.err;
	*why = "flags";
	if (req->flags & ~SPAWN_ALL_FLAGS)
		return EINVAL;
	*why = "pdeathsig";
	if (req->pdeathsig < 0 || req->pdeathsig > 64)
		return EINVAL;
	*why = "uid";
	if (req->uid < -1)
		return EINVAL;
	*why = "gid";
	if (req->gid < -1)
		return EINVAL;
	*why = "umask";
	if (req->umask != 0xffffffffu && req->umask > 0777)
		return EINVAL;
	*why = "ngroups";
	if (req->ngroups > WIRE_MAX_GROUPS || req->ngroups > r.left / 4)
		return EINVAL;
	req->groups = mem->groups;
	for (i = 0; i < req->ngroups; i++)
		req->groups[i] = wire_rd_u32(&r);

	*why = "file";
	req->file = wire_rd_str(&r, &arena, arena_end);
	if (r.err)
		return r.err;

	*why = "argc";
	argc = wire_rd_u32(&r);
	if (r.err || argc < 1)
		return EINVAL;
	/* Every str takes at least 4 body bytes: reject counts the body can't hold. */
	if (argc > r.left / 4)
		return EINVAL;
	if (argc > WIRE_MAX_STRINGS)
		return E2BIG;
	*why = "argv";
	req->argv = mem->vec;
	if (rd_strv(&r, req->argv, argc, &arena, arena_end))
		return r.err;

	*why = "envc";
	envc = wire_rd_u32(&r);
	if (r.err || envc > r.left / 4)
		return EINVAL;
	if (envc > WIRE_MAX_STRINGS - argc)
		return E2BIG;
	*why = "env";
	req->envp = mem->vec + argc + 1;
	if (rd_strv(&r, req->envp, envc, &arena, arena_end))
		return r.err;
	for (i = 0; i < envc; i++) {
		if (!strncmp(req->envp[i], "PATH=", 5))
			req->path_env = req->envp[i] + 5;
	}

	*why = "cwd";
	req->cwd = wire_rd_str(&r, &arena, arena_end);
	if (r.err)
		return r.err;
	if (!req->cwd[0])
		req->cwd = NULL;

	*why = "nstdio";
	req->nstdio = wire_rd_u32(&r);
	if (r.err || req->nstdio > WIRE_MAX_STDIO)
		return EINVAL;
	req->stdio = mem->stdio;
	*why = "stdio";
	for (i = 0; i < req->nstdio; i++) {
		struct spawn_stdio *s = &req->stdio[i];

		s->kind = wire_rd_u32(&r);
		s->arg = (int32_t)wire_rd_u32(&r);
		s->path = wire_rd_str(&r, &arena, arena_end);
		if (r.err)
			return r.err;
		switch (s->kind) {
		case STDIO_INHERIT:
			if (s->arg < 0 || s->arg > 2)
				return EINVAL;
			break;
		case STDIO_FILE:
			if (!s->path[0])
				return EINVAL;
			break;
		case STDIO_HOST_FD:
			if (s->arg < 0)
				return EINVAL;
			break;
		case STDIO_FROM_PIDFD:
		case STDIO_RELAYED:
			/*
			 * arg: the fd of process `handle` to take, or for
			 * RELAYED the child fd naming its relayed stream.
			 */
			s->handle = wire_rd_u32(&r);
			if (r.err)
				return r.err;
			if (s->arg < 0 || !s->handle || s->path[0])
				return EINVAL;
			break;
		case STDIO_HOST_PIPE:
			if (s->arg < 0 || s->path[0])
				return EINVAL;
			break;
		case STDIO_NULL:
		case STDIO_PIPE_TO_CHILD:
		case STDIO_PIPE_FROM_CHILD:
		case STDIO_RELAY_TO_CHILD:
		case STDIO_RELAY_FROM_CHILD:
		case STDIO_CLOSED:
			break;
		case STDIO_TERMINAL:
			/* One pty on 0, 1 (and 2): its size rides on entry 0. */
			if (i > 2 || (i == 1 && !is_terminal(req->stdio[0].kind)) ||
			    (i == 2 && req->stdio[1].kind != STDIO_TERMINAL))
				return EINVAL;
			break;
		case STDIO_HOST_TERMINAL:
			/* The same on entry 0, with the host's master fd after `path`. */
			s->handle = wire_rd_u32(&r);
			if (r.err)
				return r.err;
			if (i != 0 || s->handle > INT32_MAX || s->path[0])
				return EINVAL;
			break;
		default:
			return EINVAL;
		}
	}

	if (req->flags & SPAWN_CGROUP) {
		*why = "cgroup";
		err = rd_abs_path(&r, &req->cgroup, &arena, arena_end);
		if (err)
			return err;
	}

	if (req->flags & SPAWN_NAMESPACES) {
		*why = "namespaces";
		req->ns = wire_rd_u32(&r);
		req->ns_uid = wire_rd_u32(&r);
		req->ns_gid = wire_rd_u32(&r);
		req->ns_uid_out = (int32_t)wire_rd_u32(&r);
		req->ns_gid_out = (int32_t)wire_rd_u32(&r);
		if (r.err)
			return r.err;
		if (!req->ns || (req->ns & ~NS_ALL))
			return EINVAL;
		*why = "namespace ids";
		if (req->ns_uid == 0xffffffffu || req->ns_gid == 0xffffffffu ||
		    req->ns_uid_out < -1 || req->ns_gid_out < -1)
			return EINVAL;
	}

	if (req->flags & SPAWN_CWD_BENEATH) {
		*why = "root";
		err = rd_abs_path(&r, &req->root, &arena, arena_end);
		if (err)
			return err;
	}

	*why = "stdio";
	if (req->nstdio && is_terminal(req->stdio[0].kind) &&
	    (req->nstdio < 2 || req->stdio[1].kind != STDIO_TERMINAL))
		return EINVAL;

	*why = "body size";
	if (r.left)
		return EINVAL;
	if (!req->file[0])
		req->file = req->argv[0];
	*why = "file";
	if (!req->file[0])
		return EINVAL;
	*why = NULL;
	return 0;
}
