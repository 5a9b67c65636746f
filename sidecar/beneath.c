// SPDX-License-Identifier: MIT
/*
 * A cwd resolved beneath a root (SPAWN_CWD_BENEATH), in the child, by the
 * kernel: the root is opened O_PATH, the cwd looked up from it with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), and the child fchdirs to
 * what was found. A check of the path followed by chdir(path) can be beaten
 * by a rename between the two (a directory swapped for a symlink to /);
 * here the lookup that finds the directory is the one that is used.
 *
 * In the child, not the sidecar: after a new mount namespace the child's
 * root is a copy of the host's mounts, and a cwd on an fd opened before the
 * clone would sit outside it (getcwd: "(unreachable)").
 *
 * Every way out of the root answers EPERM, whether what lies outside
 * exists or not, so a symlink cannot serve as an oracle for the host's
 * files: RESOLVE_BENEATH fails an absolute symlink or a ".." above the root
 * with EXDEV before it looks further, and a magic link with ELOOP. Before
 * Linux 5.6 (no openat2) the path is walked one component at a time with
 * O_PATH | O_NOFOLLOW, and any symlink on the way is refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "namespaces.h"
#include "sys.h"

/* The walk of kernels without openat2: no symlinks, no "..". */
CHILD_SIDE static int walk_beneath(int dir, const char *path)
{
	char name[NAME_MAX + 1];
	const char *end;
	struct stat st;
	size_t n;
	int fd, cur = dir;

	for (; *path; path = *end ? end + 1 : end) {
		end = strchrnul(path, '/');
		n = (size_t)(end - path);
		if (!n || (n == 1 && path[0] == '.'))
			continue;
		if (n > NAME_MAX) {
			fd = -ENAMETOOLONG;
			goto out;
		}
		if (n == 2 && path[0] == '.' && path[1] == '.') {
			fd = -EPERM;
			goto out;
		}
		memcpy(name, path, n);
		name[n] = '\0';
		fd = sys_openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0) {
			fd = -errno;
			goto out;
		}
		if (cur != dir)
			sys_close(cur);
		cur = fd;
		if (sys_fstat(cur, &st) < 0) {
			fd = -errno;
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			fd = -EPERM;
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			fd = -ENOTDIR;
			goto out;
		}
	}
	if (cur != dir)
		return cur;
	fd = sys_openat(dir, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
out:
	if (cur != dir)
		sys_close(cur);
	return fd;
}

/*
 * An O_PATH fd of the directory path names beneath root, or -errno: EPERM
 * for any way out. EAGAIN from openat2 is a rename or a mount that raced a
 * ".." lookup: retried.
 */
CHILD_SIDE int open_beneath(const char *root, const char *path)
{
	struct open_how_v0 how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int dir, fd, tries = 0;

	if (path[0] == '/')
		return -EPERM;
	dir = sys_open(root, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	if (dir < 0)
		return -errno;
	do
		fd = sys_openat2(dir, path[0] ? path : ".", &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN && ++tries < 16);
	if (fd < 0)
		fd = errno == ENOSYS ? walk_beneath(dir, path) : -errno;
	sys_close(dir);
	if (fd == -EXDEV || fd == -ELOOP)
		fd = -EPERM;
	return fd;
}
