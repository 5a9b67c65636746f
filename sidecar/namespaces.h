/* SPDX-License-Identifier: MIT */
/*
 * A child in namespaces of its own (namespaces.c) and a cwd resolved
 * beneath a root (beneath.c). Everything named child_ or ns_ here but
 * ns_clone_flags, ns_prepare and ns_exit_status runs in the child, between
 * clone and execve.
 */
#ifndef PIDFD_NAMESPACES_H
#define PIDFD_NAMESPACES_H

#include <stdbool.h>
#include <stdint.h>

#include "spawn.h"

/* The parent side. */
uint64_t ns_clone_flags(uint32_t ns);
void ns_prepare(struct spawn *s);
void ns_exit_status(int status_fd, uint8_t *siginfo);
int ns_map(struct spawn *s);

/*
 * The child side. ns_enter() sets up the namespaces and, with NS_PID,
 * becomes their init: it returns only in the program that init forks.
 */
void ns_enter(const struct spawn *s);
bool ns_sidecar_gone(const struct spawn *s);
int open_beneath(const char *root, const char *path);

#endif /* PIDFD_NAMESPACES_H */
