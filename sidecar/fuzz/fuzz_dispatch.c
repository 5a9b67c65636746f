// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the sidecar's request handlers: the real
 * sidecar.c, spawn.c and setup.c, linked with stub_sys.c in place of
 * sys.c, and driven through dispatch() frame by frame. The handlers reach
 * the outside world only through sys.h, so nothing leaves the process (see
 * stub_sys.c); sidecar.c's main() is renamed at build time, as libFuzzer
 * brings its own.
 *
 * Checked for every request: exactly one reply, carrying its id, of a reply
 * type. Every fd the handlers create is tracked: none may outlive the input
 * once every handle is closed, and none but those may ever be closed (an fd
 * closed twice could be someone else's by then).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../sidecar.h"
#include "../wire.h"
#include "stub_sys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	self_pid = getpid();
	host_pid = getppid();
	staged_init();
	features = FEAT_CLONE3 | FEAT_WAITID_PIDFD | FEAT_PIDFD_GET_INFO | FEAT_PIDFD_INFO_EXIT |
		   FEAT_PIDFD_GETFD | FEAT_CLONE_INTO_CGROUP | FEAT_PIDFD_THREAD | FEAT_SIGNAL_PROCESS_GROUP;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (epfd < 0 || devnull < 0 || spawn_init() < 0 || !spawn_probe_clone() || stub_nowned)
		abort();
	return 0;
}

/*
 * Exactly one reply to request id, and nothing else, in obuf; none at all
 * to a notification (id 0), which is never answered.
 */
static void check_reply(uint16_t type, uint32_t id)
{
	struct wire_hdr h;
	long fl;

	(void)type;
	if (id == 0) {
		if (olen) {
			fprintf(stderr, "fuzz_dispatch: a request with id 0 got %zu bytes of reply\n", olen);
			abort();
		}
		return;
	}
	fl = wire_frame(obuf, olen, &h);
	if (fl <= 0 || (size_t)fl != olen || h.id != id || h.flags ||
	    h.type < MSG_OK || h.type > MSG_LISTENING) {
		fprintf(stderr, "fuzz_dispatch: request %u: %zu bytes of reply, not one reply frame\n",
			id, olen);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_hdr h;
	size_t off = 0;
	uint32_t i;
	long fl;

	/* Requests for handles of earlier inputs: fuzz runs must not depend on order. */
	next_handle = 1;
	while ((fl = wire_frame(data + off, size - off, &h)) > 0) {
		olen = 0;
		dispatch(&h, data + off + WIRE_HDR_SIZE, h.len - (WIRE_HDR_SIZE - 4));
		check_reply(h.type, h.id);
		off += (size_t)fl;
	}
	olen = 0;
	relay_drop_all();
	outlet_reset();
	for (i = 0; nslots && i < MAX_HANDLES; i++) {
		if (slots[i].handle)
			slot_free(&slots[i]);
	}
	if (nslots || nstaged_free != MAX_STAGED) {
		fprintf(stderr, "fuzz_dispatch: state left behind: %u slots, %d staged pipes\n",
			nslots, MAX_STAGED - nstaged_free);
		abort();
	}
	for (i = 0; stub_nowned && i < STUB_MAX_FD; i++) {
		if (stub_owned((int)i)) {
			fprintf(stderr, "fuzz_dispatch: fd %u leaked\n", i);
			abort();
		}
	}
	return 0;
}
