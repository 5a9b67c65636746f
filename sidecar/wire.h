/* SPDX-License-Identifier: MIT */
/*
 * Wire protocol between the host and the sidecar: constants, fixed layouts
 * and the pure parsing/encoding helpers. Nothing in here makes a syscall,
 * so a fuzzer can drive wire.c alone. PROTOCOL.md is the reference.
 *
 * Bump PROTOCOL_VERSION if any number or layout in this file changes.
 */
#ifndef PIDFD_WIRE_H
#define PIDFD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire carries raw kernel structs: little-endian hosts only"
#endif

#define PROTOCOL_VERSION	1
#define WIRE_MAX_FRAME		(16u << 20)	/* bytes after the len field */
#define WIRE_HDR_SIZE		12		/* len + type + flags + id */

/* Caps that keep every table fixed-size (E2BIG / EINVAL beyond them). */
#define WIRE_MAX_STRINGS	131072		/* argc + envc */
#define WIRE_MAX_STDIO		256
#define WIRE_MAX_GROUPS		65536		/* kernel NGROUPS_MAX */

/* Message types. HELLO and VERSION_MISMATCH are frozen forever. */
enum {
	MSG_HELLO		= 1,
	MSG_VERSION_MISMATCH	= 2,	/* reserved, never sent by version 1 */
	MSG_SPAWN		= 100,
	MSG_KILL		= 101,
	MSG_OPEN		= 102,
	MSG_CLOSE		= 103,
	MSG_INFO		= 104,
	MSG_RELEASE		= 105,
	MSG_ALIVE		= 106,
	MSG_WRITE		= 107,	/* relay: bytes for a child's input */
	MSG_SHUT		= 108,	/* relay: end one relayed stream */
	MSG_CREDIT		= 109,	/* relay: id 0, never answered */
	MSG_RESIZE		= 110,	/* a terminal's window size */
	MSG_RAW			= 111,	/* a terminal's raw mode on or off */
	MSG_LISTEN		= 112,	/* outlet: listen for the host's own connection */
	MSG_OK			= 200,
	MSG_ERROR		= 201,
	MSG_SPAWNED		= 202,
	MSG_OPENED		= 203,
	MSG_INFO_REPLY		= 204,
	MSG_UNIMPLEMENTED	= 205,
	MSG_WRITTEN		= 206,
	MSG_LISTENING		= 207,	/* outlet: the name to connect to */
	MSG_EXIT		= 300,
	MSG_EXITED		= 301,
	MSG_FATAL		= 302,
	MSG_DATA		= 303,	/* relay: bytes out of a child */
	MSG_EOF			= 304,	/* relay: a stream ended */
	MSG_WRITABLE		= 305,	/* relay: room again after a short WRITE */
	MSG_TRACE		= 306,	/* PIDFD_TRACE: timestamps of one spawn or exit */
	MSG_MOVED		= 307,	/* outlet: the last frame on stdout */
};

/* HELLO feature bits */
#define FEAT_CLONE3		(1u << 0)
#define FEAT_WAITID_PIDFD	(1u << 1)
#define FEAT_PIDFD_GET_INFO		(1u << 2)
#define FEAT_PIDFD_INFO_EXIT		(1u << 3)
#define FEAT_PIDFD_GETFD		(1u << 4)
#define FEAT_CLONE_INTO_CGROUP	(1u << 5)
#define FEAT_PIDFD_THREAD		(1u << 6)
#define FEAT_SIGNAL_PROCESS_GROUP	(1u << 7)
/* Not a kernel probe: PIDFD_TRACE=1 in our environment, TRACE events follow. */
#define FEAT_TRACE		(1u << 8)

/* SPAWN flags */
#define SPAWN_DETACHED		(1u << 0)
#define SPAWN_SETSID		(1u << 1)
#define SPAWN_SETPGID		(1u << 2)
#define SPAWN_SETGROUPS		(1u << 3)
#define SPAWN_CGROUP		(1u << 4)	/* body ends with str cgroup */
#define SPAWN_NAMESPACES	(1u << 5)	/* then the namespaces block */
#define SPAWN_CWD_BENEATH	(1u << 6)	/* then str root: cwd is resolved beneath it */
#define SPAWN_ALL_FLAGS		0x7fu

/* SPAWN namespaces: new ones for the child, made by clone3 */
#define NS_USER			(1u << 0)
#define NS_PID			(1u << 1)
#define NS_MOUNT		(1u << 2)
#define NS_IPC			(1u << 3)
#define NS_NET			(1u << 4)
#define NS_ALL			0x1fu

/* KILL flags */
#define KILL_GROUP		(1u << 0)

/* OPEN flags */
#define OPEN_THREAD		(1u << 0)	/* pidfd_open(PIDFD_THREAD): pid is a tid */

/* Stdio kinds */
enum {
	STDIO_INHERIT		= 0,
	STDIO_NULL		= 1,
	STDIO_PIPE_TO_CHILD	= 2,
	STDIO_PIPE_FROM_CHILD	= 3,
	STDIO_FILE		= 4,
	STDIO_HOST_FD		= 5,
	STDIO_CLOSED		= 6,
	STDIO_FROM_PIDFD	= 7,	/* entry carries one more field: u32 handle */
	STDIO_RELAY_TO_CHILD	= 8,	/* a pipe the sidecar writes WRITE bytes into */
	STDIO_RELAY_FROM_CHILD	= 9,	/* a pipe the sidecar reads into DATA events */
	STDIO_TERMINAL		= 10,	/* the slave of a new pty; fds 0 and 1 at least */
	STDIO_HOST_PIPE		= 11,	/* the host's end of a child's pipe, made blocking */
	STDIO_RELAYED		= 12,	/* the sidecar's end of a relayed stream; carries a handle */
	STDIO_HOST_TERMINAL	= 13,	/* entry 0: a pty whose master the host opened; carries its fd */
};

/* RELAY_FROM_CHILD arg bit: the stream is not read before the host's first CREDIT */
#define RELAY_LAZY		(1u << 31)

/* Syscall ids in ERROR replies */
enum {
	SC_NONE = 0, SC_CLONE3, SC_EXECVE, SC_CHDIR, SC_PIDFD_OPEN,
	SC_PIDFD_SEND_SIGNAL, SC_WAITID, SC_IOCTL, SC_PIDFD_GETFD, SC_OPEN,
	SC_PIPE2, SC_DUP2, SC_SETSID, SC_SETPGID, SC_SETUID, SC_SETGID,
	SC_SETGROUPS, SC_PRCTL, SC_FORK, SC_EPOLL_CTL, SC_UMASK, SC_FCNTL,
	SC_WRITE, SC_MOUNT, SC_OPENAT2, SC_BIND,
};

/*
 * Kernel layouts carried verbatim. They are the kernel's ABI, not libc's:
 * musl's struct rusage has 128 bytes of padding the kernel never writes.
 */
struct kernel_timeval {
	int64_t sec;
	int64_t usec;
};

struct kernel_rusage {
	struct kernel_timeval utime;
	struct kernel_timeval stime;
	int64_t maxrss, ixrss, idrss, isrss, minflt, majflt, nswap;
	int64_t inblock, oublock, msgsnd, msgrcv, nsignals, nvcsw, nivcsw;
};
_Static_assert(sizeof(struct kernel_rusage) == 144, "kernel rusage size");
_Static_assert(offsetof(struct kernel_rusage, maxrss) == 32, "ru_maxrss");
_Static_assert(offsetof(struct kernel_rusage, nivcsw) == 136, "ru_nivcsw");

#define KERNEL_SIGINFO_SIZE	128

/* struct pidfd_info, PIDFD_INFO_SIZE_VER0 (Linux 6.13) */
struct wire_pidfd_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid;
	uint32_t ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
_Static_assert(sizeof(struct wire_pidfd_info) == 64, "pidfd_info size");
_Static_assert(offsetof(struct wire_pidfd_info, pid) == 16, "pidfd_info pid");
_Static_assert(offsetof(struct wire_pidfd_info, fsgid) == 56, "pidfd_info fsgid");
_Static_assert(offsetof(struct wire_pidfd_info, exit_code) == 60, "exit_code");

#define PIDFD_INFO_PID		(1ull << 0)
#define PIDFD_INFO_CREDS	(1ull << 1)
#define PIDFD_INFO_CGROUPID	(1ull << 2)
#define PIDFD_INFO_EXIT		(1ull << 3)

/* Fixed bodies, in the order the fields appear on the wire. */
struct wire_exit {
	uint32_t handle;
	uint32_t zero;
	uint8_t siginfo[KERNEL_SIGINFO_SIZE];
	struct kernel_rusage rusage;
};
_Static_assert(sizeof(struct wire_exit) == 280, "EXIT body size");
_Static_assert(offsetof(struct wire_exit, siginfo) == 8, "EXIT siginfo");
_Static_assert(offsetof(struct wire_exit, rusage) == 136, "EXIT rusage");

struct wire_exited {
	uint32_t handle;
	uint32_t has_exit;
	struct wire_pidfd_info info;
};
_Static_assert(sizeof(struct wire_exited) == 72, "EXITED body size");
_Static_assert(offsetof(struct wire_exited, info) == 8, "EXITED info");

struct wire_info_reply {
	uint32_t handle;
	uint32_t size;
	struct wire_pidfd_info info;
};
_Static_assert(sizeof(struct wire_info_reply) == 72, "INFO_REPLY size");

/* Little-endian accessors; unaligned access is fine through memcpy. */
static inline uint32_t wire_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint16_t wire_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint8_t *wire_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	return p + 4;
}

static inline uint8_t *wire_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

struct wire_hdr {
	uint32_t len;	/* bytes after the len field */
	uint16_t type;
	uint16_t flags;
	uint32_t id;
};

/*
 * Look at the start of the input. Returns 0 when more bytes are needed,
 * the total frame size (header included) when a whole frame is there and
 * fills *h, or -1 when the length field is out of bounds (fatal: the
 * stream cannot be resynchronised).
 */
long wire_frame(const uint8_t *p, size_t n, struct wire_hdr *h);

/* Writes a 12-byte header for a body of body_len bytes; returns the body. */
uint8_t *wire_put_hdr(uint8_t *p, uint16_t type, uint32_t id, size_t body_len);

/* Bounded body reader: any overrun sets err and reads zeros from then on. */
struct wire_rd {
	const uint8_t *p;
	size_t left;
	int err;
};

uint32_t wire_rd_u32(struct wire_rd *r);
/* A string copied into the arena with a NUL; NULs inside are EINVAL. */
char *wire_rd_str(struct wire_rd *r, char **arena, const char *arena_end);

/* Entry 0 of a terminal child: the sidecar's own pty, or one the host opened. */
static inline bool is_terminal(uint32_t kind)
{
	return kind == STDIO_TERMINAL || kind == STDIO_HOST_TERMINAL;
}

struct spawn_stdio {
	uint32_t kind;
	int32_t arg;
	char *path;
	uint32_t handle;	/* FROM_PIDFD and RELAYED: a handle; HOST_TERMINAL: the host's master fd */
};

struct spawn_req {
	uint32_t flags;
	int32_t pdeathsig;
	int32_t uid;
	int32_t gid;
	uint32_t umask;
	uint32_t ngroups;
	uint32_t *groups;
	char *file;		/* never empty after parsing: argv[0] if so */
	char **argv;		/* NULL-terminated */
	char **envp;		/* NULL-terminated */
	const char *path_env;	/* value of PATH= in envp, or NULL */
	char *cwd;		/* NULL: unchanged */
	uint32_t nstdio;
	struct spawn_stdio *stdio;
	char *cgroup;		/* NULL unless SPAWN_CGROUP */
	uint32_t ns;		/* NS_* bits; 0 unless SPAWN_NAMESPACES */
	uint32_t ns_uid;	/* NS_USER: the ids inside */
	uint32_t ns_gid;
	int32_t ns_uid_out;	/* NS_USER: the ids outside, -1: the sidecar's */
	int32_t ns_gid_out;
	char *root;		/* NULL unless SPAWN_CWD_BENEATH */
};

/* Caller-provided storage for one parsed SPAWN; sized to the caps above. */
struct spawn_mem {
	char *arena;		/* >= body size bytes */
	size_t arena_size;
	char **vec;		/* WIRE_MAX_STRINGS + 2 pointers */
	uint32_t *groups;	/* WIRE_MAX_GROUPS */
	struct spawn_stdio *stdio;	/* WIRE_MAX_STDIO */
};

/*
 * Parses a SPAWN body. Returns 0, or a positive errno (EINVAL, E2BIG) with
 * *why naming the offending field.
 */
int wire_parse_spawn(const uint8_t *body, size_t n, struct spawn_req *req,
		     const struct spawn_mem *mem, const char **why);

#endif /* PIDFD_WIRE_H */
