// SPDX-License-Identifier: GPL-2.0
/*
 * One machine, one pool.  Two runs that size huge page pools at the same
 * time read each other's pages as leaks, restore each other's snapshots
 * and turn each other red (seen: a stress run beside make check's runner
 * tests lost its pool mid-sequence).  So whatever changes pools holds an
 * exclusive flock on HT_LOCK_FILE from its snapshot until it has
 * restored.  A runner that holds the lock for a whole run hands it down
 * as HT_LOCK_FD: flock() on an inherited descriptor of the same open
 * file succeeds, on a new open of the file it would not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ht.h"

#define LOCK_DIR "/run/lock"

const char *ht_lock_path(void)
{
	const char *p = getenv("HT_LOCK_FILE");

	return p && *p ? p : LOCK_DIR "/hugetlb-hgm-tests.lock";
}

/* The runner's descriptor, when it holds the lock for us. */
/*
 * The lock this process (or the parent it was forked from) took: a nested
 * ht_setup(), such as a benchmark's per-mode pool under the run's own,
 * runs under it instead of finding the file locked by its own holder.
 */
static int held_fd = -1;

static bool held_here(void)
{
	return held_fd >= 0 && flock(held_fd, LOCK_EX | LOCK_NB) == 0;
}

static bool inherited(void)
{
	const char *s = getenv("HT_LOCK_FD");
	unsigned long fd;

	if (!s || ht_parse_ulong(s, &fd) || fd > 1024)
		return false;
	return flock((int)fd, LOCK_EX | LOCK_NB) == 0;
}

int ht_lock_take(struct ht_lock *l, char *why, size_t len)
{
	char holder[32] = "";
	ssize_t n;
	int fd;

	l->fd = -1;
	l->pid = 0;
	if (held_here() || inherited())
		return 0;
	mkdir(LOCK_DIR, 0755);
	fd = open(ht_lock_path(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(why, len, "opening %s: %s", ht_lock_path(),
			 strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		n = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		snprintf(why, len,
			 "another hugetlb test run (pid %s) holds %s: "
			 "pools cannot be shared",
			 holder[0] ? holder : "?", ht_lock_path());
		close(fd);
		return -EBUSY;
	}
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
	l->fd = fd;
	l->pid = getpid();
	held_fd = fd;
	return 0;
}

void ht_lock_release(struct ht_lock *l)
{
	/*
	 * Only the taker closes: in a forked copy (the guard, a harness
	 * parent's teardown) the number may be another file's.
	 */
	if (l->fd >= 0 && l->pid == getpid()) {
		close(l->fd);
		held_fd = -1;
	}
	l->fd = -1;
	l->pid = 0;
}
