// SPDX-License-Identifier: GPL-2.0
/* Children that map and hold, a socketpair per child, and their reaping. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ht.h"

int ht_spawn(struct ht_child *c, ht_child_fn fn, void *arg)
{
	pid_t parent = getpid();
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	c->pid = fork();
	if (c->pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (c->pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The parent may have died before prctl took effect. */
		if (getppid() != parent)
			_exit(125);
		_exit(fn(sv[1], arg));
	}
	close(sv[1]);
	c->sock = sv[0];
	return 0;
}

int ht_send(int sock, int64_t val)
{
	ssize_t n = send(sock, &val, sizeof(val), MSG_NOSIGNAL);

	if (n < 0)
		return errno == EPIPE || errno == ECONNRESET ? -EPIPE : -errno;
	return n == sizeof(val) ? 0 : -EIO;
}

int ht_recv(int sock, int64_t *val, int timeout_ms)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	ssize_t n;
	int ret;

	do {
		ret = poll(&pfd, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	n = recv(sock, val, sizeof(*val), 0);
	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return -errno;
	return n == sizeof(*val) ? 0 : -EIO;
}

int ht_child_sync(int sock, int64_t val)
{
	int64_t go;
	int ret = ht_send(sock, val);

	if (ret)
		return ret;
	return ht_recv(sock, &go, -1);
}

int ht_reap(struct ht_child *c, int timeout_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int status = 0, waited = 0;
	pid_t r;

	if (c->pid <= 0)
		return -ECHILD;
	close(c->sock);
	c->sock = -1;
	for (;;) {
		r = waitpid(c->pid, &status, WNOHANG);
		if (r == c->pid)
			break;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (waited >= timeout_ms) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &status, 0);
			break;
		}
		nanosleep(&ts, NULL);
		waited += 10;
	}
	c->pid = 0;
	return status;
}
