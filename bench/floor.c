// SPDX-License-Identifier: MIT
/*
 * floor: the raw C floor for the benchmarks. What the kernel costs when nothing stands
 * between the caller and clone3(CLONE_PIDFD) + execve + waitid(P_PIDFD): no runtime, no
 * sidecar, no frames. Every other peer is measured against it.
 *
 * Usage: floor WORKLOAD [N] [M]; prints one JSON line with the same fields as the JS drivers.
 *   seq N WARMUP       sequential spawn+wait of /bin/true
 *   flight N INFLIGHT  N spawns of /bin/true, INFLIGHT at a time
 *   kill N             SIGKILL a running sleep, until its exit is observed
 *   capture BYTES      read `head -c BYTES /dev/zero` into memory
 *   many N PROBE       N live sleeps; spawn latency next to them; kill and reap them
 *   fanout N BYTES     N children at once, each `head -c BYTES /dev/zero`, all captured
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

static long sys_clone3(struct clone_args *args)
{
	return syscall(SYS_clone3, args, sizeof(*args));
}

static int sys_pidfd_send_signal(int pidfd, int sig)
{
	return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static int sys_waitid(int pidfd)
{
	siginfo_t si;
	struct rusage ru;

	return syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED, &ru);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int devnull = -1;

/*
 * Starts argv with stdio on /dev/null (the 'ignore' every JS peer uses) and returns its
 * pidfd, once it has exec'd: CLONE_VFORK gives the same "spawn returns after exec"
 * contract as child_process, Bun, Deno and pidfd, so the peers do equal work.
 */
static int spawn(char *const argv[], int out_fd)
{
	int pidfd = -1;
	struct clone_args args = {
		.flags = CLONE_PIDFD | CLONE_VFORK,
		.pidfd = (uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	long pid = sys_clone3(&args);

	if (pid < 0) {
		perror("clone3");
		exit(1);
	}
	if (pid == 0) {
		dup2(devnull, 0);
		dup2(out_fd >= 0 ? out_fd : devnull, 1);
		dup2(devnull, 2);
		execve(argv[0], argv, environ);
		_exit(127);
	}
	return pidfd;
}

static void reap(int pidfd)
{
	while (sys_waitid(pidfd) < 0 && errno == EINTR)
		;
	close(pidfd);
}

static char *true_argv[] = { "/bin/true", NULL };
static char *sleep_argv[] = { "/bin/sleep", "600", NULL };

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, the same rule as bench/stats.ts. */
static double pct(double *v, int n, double p)
{
	int i;

	qsort(v, n, sizeof(*v), cmp_double);
	i = (int)(p / 100 * n + 0.999999) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
}

static double rss_mib(void)
{
	char line[256];
	double kib = 0;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lf", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib / 1024;
}

/* p50/p99 of `n` sequential spawn+wait of /bin/true, into lat (µs). */
static double seq_run(int n, double *lat)
{
	double start = now_us();

	for (int i = 0; i < n; i++) {
		double t0 = now_us();

		reap(spawn(true_argv, -1));
		lat[i] = now_us() - t0;
	}
	return now_us() - start;
}

static int run_seq(int n, int warmup)
{
	double *lat = calloc(n > warmup ? n : warmup, sizeof(double));
	double cpu, total;

	seq_run(warmup, lat);
	cpu = cpu_us();
	total = seq_run(n, lat);
	cpu = cpu_us() - cpu;
	printf("{\"opsPerSec\":%.1f,\"p50Us\":%.1f,\"p99Us\":%.1f,\"hostCpuUsPerSpawn\":%.2f}\n",
	       n / (total / 1e6), pct(lat, n, 50), pct(lat, n, 99), cpu / n);
	return 0;
}

/* Keeps `inflight` children running; each exit (pidfd readable in epoll) makes room for one more. */
static int run_flight(int n, int inflight)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), started = 0, done = 0, running = 0;
	struct epoll_event evs[64];
	double start = now_us();

	while (done < n) {
		while (running < inflight && started < n) {
			int fd = spawn(true_argv, -1);
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			started++;
			running++;
		}
		int k = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < k; i++) {
			reap(evs[i].data.fd); /* close() also drops it from the epoll set */
			done++;
			running--;
		}
	}
	printf("{\"opsPerSec\":%.1f}\n", n / ((now_us() - start) / 1e6));
	return 0;
}

static int run_kill(int n)
{
	double *lat = calloc(n, sizeof(double));

	for (int i = 0; i < n; i++) {
		int fd = spawn(sleep_argv, -1);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double t0 = now_us();

		sys_pidfd_send_signal(fd, SIGKILL);
		/* "Observed" the way an event loop observes it: the pidfd polls readable, then waitid. */
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		reap(fd);
		lat[i] = now_us() - t0;
	}
	printf("{\"p50Us\":%.1f,\"p99Us\":%.1f}\n", pct(lat, n, 50), pct(lat, n, 99));
	return 0;
}

static int run_capture(long bytes)
{
	char count[32];
	char *argv[] = { "/usr/bin/head", "-c", count, "/dev/zero", NULL };
	/* Untouched until read() fills it: a pre-faulted buffer would make the clone copy its page
	 * tables and every later write fault on a write-protected page. */
	char *buf = malloc(bytes + 1);
	int p[2];
	long got = 0;
	ssize_t r;
	double t0;

	if (access(argv[0], X_OK) != 0)
		argv[0] = "/bin/head";
	snprintf(count, sizeof(count), "%ld", bytes);
	t0 = now_us();
	if (pipe2(p, O_CLOEXEC) < 0)
		return perror("pipe2"), 1;
	int fd = spawn(argv, p[1]);

	close(p[1]);
	while ((r = read(p[0], buf + got, bytes + 1 - got)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			got += r;
	close(p[0]);
	reap(fd);
	if (got != bytes)
		return fprintf(stderr, "floor: captured %ld of %ld bytes\n", got, bytes), 1;
	printf("{\"mibPerSec\":%.1f}\n", bytes / 1048576.0 / ((now_us() - t0) / 1e6));
	return 0;
}

/* N captures at once: one epoll over the N read ends, each drained into its own buffer. */
static int run_fanout(int n, long bytes)
{
	char count[32];
	char *argv[] = { "/usr/bin/head", "-c", count, "/dev/zero", NULL };
	struct capture { int rd, pidfd; long got; char *buf; } *c = calloc(n, sizeof(*c));
	int ep = epoll_create1(EPOLL_CLOEXEC), open_ends = n;
	struct epoll_event evs[64];
	double t0;

	if (access(argv[0], X_OK) != 0)
		argv[0] = "/bin/head";
	snprintf(count, sizeof(count), "%ld", bytes);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		int p[2];
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		if (pipe2(p, O_CLOEXEC) < 0)
			return perror("pipe2"), 1;
		/* Only our end: the flag is per open file, and head must block on a full pipe. */
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		c[i].pidfd = spawn(argv, p[1]);
		close(p[1]);
		c[i].rd = p[0];
		c[i].buf = malloc(bytes + 1);
		epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	}
	while (open_ends) {
		int k = epoll_wait(ep, evs, 64, -1);

		for (int j = 0; j < k; j++) {
			struct capture *e = &c[evs[j].data.u32];
			ssize_t r;

			while ((r = read(e->rd, e->buf + e->got, bytes + 1 - e->got)) > 0)
				e->got += r;
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				close(e->rd); /* drops it from the epoll set */
				reap(e->pidfd);
				open_ends--;
			}
		}
	}
	for (int i = 0; i < n; i++) {
		if (c[i].got != bytes)
			return fprintf(stderr, "floor: child %d: captured %ld of %ld bytes\n", i, c[i].got, bytes), 1;
	}
	printf("{\"wallMs\":%.1f}\n", (now_us() - t0) / 1e3);
	return 0;
}

static double probe_p50(int n)
{
	double *lat = calloc(n, sizeof(double));
	double p50;

	seq_run(n, lat);
	p50 = pct(lat, n, 50);
	free(lat);
	return p50;
}

static int run_many(int n, int probe)
{
	int *fds = calloc(n, sizeof(int));
	double idle, loaded, rss0, rss1, t0, start_ms, kill_ms;

	probe_p50(20); /* warm-up */
	idle = probe_p50(probe);
	rss0 = rss_mib();
	t0 = now_us();
	for (int i = 0; i < n; i++)
		fds[i] = spawn(sleep_argv, -1);
	start_ms = (now_us() - t0) / 1e3;
	rss1 = rss_mib();
	loaded = probe_p50(probe);
	t0 = now_us();
	for (int i = 0; i < n; i++)
		sys_pidfd_send_signal(fds[i], SIGKILL);
	for (int i = 0; i < n; i++)
		reap(fds[i]);
	kill_ms = (now_us() - t0) / 1e3;
	printf("{\"startMs\":%.1f,\"hostRssGrowthMiB\":%.2f,\"idleP50Us\":%.1f,\"loadedP50Us\":%.1f,"
	       "\"loadedRatio\":%.3f,\"killMs\":%.1f}\n",
	       start_ms, rss1 - rss0, idle, loaded, loaded / idle, kill_ms);
	return 0;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	long a = argc > 2 ? atol(argv[2]) : 0, b = argc > 3 ? atol(argv[3]) : 0;

	if (argc < 3) {
		fprintf(stderr, "usage: floor seq|flight|kill|capture|many|fanout N [M]\n");
		return 2;
	}
	/* 1,000 live children means 1,000 pidfds: lift the soft limit the way Node does at start. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (!strcmp(argv[1], "seq"))
		return run_seq(a, b);
	if (!strcmp(argv[1], "flight"))
		return run_flight(a, b);
	if (!strcmp(argv[1], "kill"))
		return run_kill(a);
	if (!strcmp(argv[1], "capture"))
		return run_capture(a);
	if (!strcmp(argv[1], "many"))
		return run_many(a, b);
	if (!strcmp(argv[1], "fanout"))
		return run_fanout(a, b);
	fprintf(stderr, "floor: unknown workload %s\n", argv[1]);
	return 2;
}
