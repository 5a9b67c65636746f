/* SPDX-License-Identifier: MIT */
/* What fuzz_dispatch asks of the stubbed sys_* calls (stub_sys.c). */
#ifndef PIDFD_STUB_SYS_H
#define PIDFD_STUB_SYS_H

#include <stdbool.h>

#define STUB_MAX_FD	65536

/* fds made by the stubs and not yet closed through them. */
extern unsigned int stub_nowned;
bool stub_owned(int fd);

#endif /* PIDFD_STUB_SYS_H */
