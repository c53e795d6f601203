// SPDX-License-Identifier: GPL-2.0
/*
 * The guard: a child that outlives a program killed by SIGKILL and puts
 * its ht_env back (ht_teardown with the program's snapshot), for the
 * stress programs that run outside the runner.  Normally the program
 * restores and then tells the guard to go ('d' on a pipe); EOF without
 * that word means the program died.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht.h"

int ht_guard_start(struct ht_guard *g, struct ht_env *env, int tries)
{
	int p[2], err;
	char c = 0;
	ssize_t n;

	g->pid = 0;
	g->fd = -1;
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	g->pid = fork();
	if (g->pid < 0) {
		err = -errno;
		g->pid = 0;
		close(p[0]);
		close(p[1]);
		return err;
	}
	if (g->pid == 0) {
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1 && c == 'd')
			_exit(0);
		/*
		 * The program's files close as it dies and its children die
		 * by PDEATHSIG; their pages free shortly after.
		 */
		for (int i = 0; i < tries; i++) {
			if (!ht_teardown(env, NULL, 0))
				_exit(0);
			env->active = true;
			sleep(1);
		}
		_exit(1);
	}
	close(p[0]);
	g->fd = p[1];
	return 0;
}

void ht_guard_stop(struct ht_guard *g)
{
	if (g->fd < 0)
		return;
	if (write(g->fd, "d", 1) != 1)
		kill(g->pid, SIGKILL);
	close(g->fd);
	waitpid(g->pid, NULL, 0);
	g->fd = -1;
}
