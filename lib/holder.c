// SPDX-License-Identifier: GPL-2.0
/*
 * A holder child maps a hugetlb range and keeps it while the parent looks
 * at /proc/<pid>; it touches, checks or unmaps on command.  Every multi-
 * process scenario (smaps, migration, hwpoison, refcount) is built on it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ht.h"

#define HOLDER_MAX_MAPS 64

static int holder_map(struct ht_holder *h, void **maps, int *uffds)
{
	int n = h->nmaps > 0 ? h->nmaps : 1;

	if (h->inherit) {
		maps[0] = h->inherit;
		uffds[0] = -1;
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (h->private_map) {
			maps[i] = mmap(NULL, h->len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE, h->file->fd, (off_t)h->off);
			if (maps[i] != MAP_FAILED)
				for (size_t o = 0; o < h->len;
				     o += h->file->psize)
					(void)*(volatile char
							*)((char *)maps[i] + o);
			uffds[i] = -1;
		} else {
			maps[i] = ht_map_populated(h->file, h->off, h->len,
						   h->gran, &uffds[i]);
		}
		if (maps[i] == MAP_FAILED)
			return -errno;
	}
	return n;
}

/* The first SIGBUS of a read of every PAGE_SIZE piece, or none. */
static void scan(void *map, size_t len, struct ht_sigbus *sb)
{
	size_t step = ht_base_page_size();

	for (size_t o = 0; o < len && !sb->hit; o += step)
		ht_touch((char *)map + o, false, sb);
}

static int64_t touch_all(void *map, size_t len, size_t step, bool write)
{
	struct ht_sigbus sb;

	for (size_t o = 0; o < len; o += step) {
		ht_touch((char *)map + o, write, &sb);
		if (sb.hit)
			return sb.code;
	}
	return 0;
}

/* A write that changes the byte, unlike touch_all()'s (COW without a trace). */
static int64_t flip_all(void *map, size_t len, size_t step)
{
	struct ht_sigbus sb;

	for (size_t o = 0; o < len; o += step) {
		volatile unsigned char *p = (unsigned char *)map + o;

		ht_touch(p, false, &sb); /* a read may SIGBUS: not unguarded */
		if (!sb.hit)
			ht_access(p, true, *p ^ 0xff, &sb);
		if (sb.hit)
			return sb.code;
	}
	return 0;
}

int ht_holder_fn(int sock, void *arg)
{
	struct ht_holder *h = arg;
	void *maps[HOLDER_MAX_MAPS];
	int uffds[HOLDER_MAX_MAPS];
	struct ht_sigbus sb;
	int64_t cmd, val;
	int n;

	if (h->nmaps > HOLDER_MAX_MAPS)
		return 2;
	if (h->early_kill) {
		prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0);
		ht_sigbus_record_async();
	}
	n = holder_map(h, maps, uffds);
	ht_send(sock, n < 0 ? n : (int64_t)(unsigned long)maps[0]);
	if (n < 0)
		return 1;
	for (;;) {
		if (ht_recv(sock, &cmd, -1))
			return 0; /* parent gone */
		switch (cmd) {
		case HT_CMD_PING:
			val = 0;
			break;
		case HT_CMD_READ:
		case HT_CMD_WRITE:
			val = 0;
			for (int i = 0; i < n && !val; i++)
				val = touch_all(maps[i], h->len, h->file->psize,
						cmd == HT_CMD_WRITE);
			break;
		case HT_CMD_FLIP:
			val = 0;
			for (int i = 0; i < n && !val; i++)
				val = flip_all(maps[i], h->len, h->file->psize);
			break;
		case HT_CMD_READ_ALL:
			val = 0;
			for (int i = 0; i < n && !val; i++)
				val = touch_all(maps[i], h->len,
						ht_base_page_size(), false);
			break;
		case HT_CMD_CHECK:
			if (ht_recv(sock, &val, -1))
				return 0;
			val = ht_pattern_check(maps[0], h->len, h->off,
					       (uint32_t)val);
			break;
		case HT_CMD_SCAN:
			sb = (struct ht_sigbus){ 0 };
			for (int i = 0; i < n && !sb.hit; i++)
				scan(maps[i], h->len, &sb);
			ht_send(sock, sb.code);
			ht_send(sock, (int64_t)sb.addr);
			val = sb.addr_lsb;
			break;
		case HT_CMD_SIGINFO:
			if (!ht_sigbus_async_get(&sb))
				sb = (struct ht_sigbus){ 0 };
			ht_send(sock, sb.code);
			ht_send(sock, (int64_t)sb.addr);
			val = sb.addr_lsb;
			break;
		case HT_CMD_UNMAP:
			for (int i = 0; i < n; i++)
				munmap(maps[i], h->len);
			n = 0;
			val = 0;
			break;
		case HT_CMD_EXIT:
			return 0;
		default:
			val = -EINVAL;
		}
		if (ht_send(sock, val))
			return 0;
	}
}

int ht_holder_start(struct ht_child *c, struct ht_holder *h,
		    unsigned long *addr)
{
	int64_t v;
	int ret;

	ret = ht_spawn(c, ht_holder_fn, h);
	if (ret)
		return ret;
	/* A 1 GiB page at 4 KiB is 262144 CONTINUEs: allow a minute. */
	ret = ht_recv(c->sock, &v, 120000);
	if (ret)
		return ret;
	if (v < 0)
		return (int)v;
	*addr = (unsigned long)v;
	return 0;
}

int ht_holder_cmd(struct ht_child *c, int64_t cmd, int64_t *reply)
{
	int ret = ht_send(c->sock, cmd);

	if (ret)
		return ret;
	return ht_recv(c->sock, reply, 120000);
}

int ht_holder_check(struct ht_child *c, uint32_t seed, int64_t *bad_off)
{
	int ret = ht_send(c->sock, HT_CMD_CHECK);

	if (!ret)
		ret = ht_send(c->sock, seed);
	if (!ret)
		ret = ht_recv(c->sock, bad_off, 120000);
	return ret;
}
