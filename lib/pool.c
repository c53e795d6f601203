// SPDX-License-Identifier: GPL-2.0
/* Huge page pools, globally and per node, with snapshot and restore. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ht.h"

static void pool_path(char *buf, size_t len, unsigned long size, int node,
		      const char *file)
{
	if (node < 0)
		snprintf(buf, len,
			 "/sys/kernel/mm/hugepages/hugepages-%lukB/%s",
			 size / HT_KB, file);
	else
		snprintf(
			buf, len,
			"/sys/devices/system/node/node%d/hugepages/hugepages-%lukB/%s",
			node, size / HT_KB, file);
}

static bool node_pools_exist(unsigned long size, int node)
{
	char path[160];

	pool_path(path, sizeof(path), size, node, "nr_hugepages");
	return access(path, F_OK) == 0;
}

static int pool_get(unsigned long size, int node, const char *file,
		    unsigned long *val)
{
	char path[160];

	/* Without per-node files (!CONFIG_NUMA) node 0 is the whole pool. */
	if (node == 0 && !node_pools_exist(size, 0))
		node = -1;
	pool_path(path, sizeof(path), size, node, file);
	return ht_read_ulong(path, val);
}

int ht_pool_read(unsigned long size, int node, struct ht_pool *p)
{
	int ret;

	memset(p, 0, sizeof(*p));
	ret = pool_get(size, node, "nr_hugepages", &p->nr);
	if (!ret)
		ret = pool_get(size, node, "free_hugepages", &p->free);
	if (!ret)
		ret = pool_get(size, node, "surplus_hugepages", &p->surplus);
	if (!ret && node < 0)
		ret = pool_get(size, node, "resv_hugepages", &p->resv);
	if (!ret && node < 0)
		ret = pool_get(size, node, "nr_overcommit_hugepages",
			       &p->overcommit);
	return ret;
}

/*
 * The pools at the start of the case (ht_setup()).  A gigantic pool is
 * never written below them: a 1 GiB page given back to the buddy
 * allocator may not come back at run time (seen on 6.1 in the VM), and
 * then no teardown can restore the machine.  Refusing the write on every
 * machine turns such a case red where it is written, not only where the
 * allocation happens to fail.
 */
static struct ht_pool_snapshot pool_floor;

void ht_pool_set_floor(const struct ht_pool_snapshot *s)
{
	if (s)
		pool_floor = *s;
	else
		memset(&pool_floor, 0, sizeof(pool_floor));
}

/* The floor for @size on @node (< 0: global), or 0 without one. */
static unsigned long floor_of(unsigned long size, int node)
{
	const struct ht_pool_snapshot *s = &pool_floor;

	if (size <= HT_MAX_BUDDY_SIZE)
		return 0;
	for (int i = 0; i < s->nsizes; i++) {
		if (s->size[i] != size)
			continue;
		if (node < 0)
			return s->nr[i];
		for (int j = 0; j < s->nnodes; j++)
			if (s->node[j] == node)
				return s->node_nr[i][j];
	}
	return 0;
}

int ht_pool_set_nr(unsigned long size, int node, unsigned long nr)
{
	char path[160];
	unsigned long floor;

	if (node == 0 && !node_pools_exist(size, 0))
		node = -1;
	floor = floor_of(size, node);
	if (nr < floor) {
		fprintf(stderr,
			"# ht_pool_set_nr: refused: %lu kB pool%s to %lu, below the %lu it had when the case began (a freed gigantic page may not come back)\n",
			size / HT_KB, node < 0 ? "" : " of a node", nr, floor);
		return -EPERM;
	}
	pool_path(path, sizeof(path), size, node, "nr_hugepages");
	return ht_write_ulong(path, nr);
}

int ht_pool_set_overcommit(unsigned long size, unsigned long nr)
{
	char path[160];

	pool_path(path, sizeof(path), size, -1, "nr_overcommit_hugepages");
	return ht_write_ulong(path, nr);
}

int ht_pool_ensure_free(unsigned long size, int node, unsigned long count)
{
	struct ht_pool p;
	int ret;

	ret = ht_pool_read(size, node, &p);
	if (ret)
		return ret;
	if (p.free >= count)
		return 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		ret = ht_pool_set_nr(size, node, p.nr + (count - p.free));
		if (ret)
			return ret;
		ret = ht_pool_read(size, node, &p);
		if (ret)
			return ret;
		if (p.free >= count)
			return 0;
		/*
		 * A gigantic page needs 1 GiB of contiguous memory, which a
		 * machine that has run a while rarely has free: compact once
		 * (changes no setting, only where pages are) and try again.
		 */
		if (attempt == 0)
			ht_write_ulong("/proc/sys/vm/compact_memory", 1);
	}
	return -ENOMEM;
}

int ht_pool_grow(unsigned long size, int node, unsigned long count)
{
	struct ht_pool p;
	unsigned long want;
	int ret;

	ret = ht_pool_read(size, node, &p);
	if (ret)
		return ret;
	want = p.nr + count;
	for (int attempt = 0; attempt < 2; attempt++) {
		ret = ht_pool_set_nr(size, node, want);
		if (ret)
			return ret;
		ret = ht_pool_read(size, node, &p);
		if (ret)
			return ret;
		if (p.nr >= want)
			return 0;
		/* as in ht_pool_ensure_free(): compact once, then retry */
		if (attempt == 0)
			ht_write_ulong("/proc/sys/vm/compact_memory", 1);
	}
	return -ENOMEM;
}

int ht_pool_snapshot(struct ht_pool_snapshot *s)
{
	struct ht_pool p;
	int i, j, ret;

	memset(s, 0, sizeof(*s));
	ret = ht_page_sizes(s->size, HT_MAX_SIZES);
	if (ret < 0)
		return ret;
	s->nsizes = ret;
	ret = ht_memory_nodes(s->node, HT_MAX_NODES);
	if (ret < 0)
		return ret;
	s->nnodes = ret;
	for (i = 0; i < s->nsizes; i++) {
		ret = ht_pool_read(s->size[i], -1, &p);
		if (ret)
			return ret;
		s->nr[i] = p.nr;
		s->overcommit[i] = p.overcommit;
		for (j = 0; j < s->nnodes; j++) {
			ret = pool_get(s->size[i], s->node[j], "nr_hugepages",
				       &s->node_nr[i][j]);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int ht_pool_restore(const struct ht_pool_snapshot *s)
{
	unsigned long cur;
	int i, j, ret, err = 0;

	for (i = 0; i < s->nsizes; i++) {
		ret = ht_pool_set_overcommit(s->size[i], s->overcommit[i]);
		if (ret)
			err = ret;
		/* Shrink first so growing a node is not refused for memory. */
		for (int pass = 0; pass < 2; pass++) {
			for (j = 0; j < s->nnodes; j++) {
				if (pool_get(s->size[i], s->node[j],
					     "nr_hugepages", &cur))
					continue;
				if ((pass == 0) != (cur > s->node_nr[i][j]))
					continue;
				if (cur == s->node_nr[i][j])
					continue;
				ret = ht_pool_set_nr(s->size[i], s->node[j],
						     s->node_nr[i][j]);
				if (ret)
					err = ret;
			}
		}
	}
	return err;
}

int ht_pool_diff(const struct ht_pool_snapshot *a,
		 const struct ht_pool_snapshot *b, char *why, size_t len)
{
	char name[HT_SIZE_NAME_LEN];
	int i, j;

	if (a->nsizes != b->nsizes || a->nnodes != b->nnodes) {
		snprintf(why, len, "sizes/nodes changed: %d/%d vs %d/%d",
			 a->nsizes, a->nnodes, b->nsizes, b->nnodes);
		return 1;
	}
	for (i = 0; i < a->nsizes; i++) {
		if (a->nr[i] != b->nr[i] ||
		    a->overcommit[i] != b->overcommit[i]) {
			snprintf(
				why, len,
				"%s pool: nr %lu -> %lu, overcommit %lu -> %lu",
				ht_size_name_r(a->size[i], name, sizeof(name)),
				a->nr[i], b->nr[i], a->overcommit[i],
				b->overcommit[i]);
			return 1;
		}
		for (j = 0; j < a->nnodes; j++) {
			if (a->node_nr[i][j] != b->node_nr[i][j]) {
				snprintf(why, len,
					 "%s pool node %d: %lu -> %lu",
					 ht_size_name_r(a->size[i], name,
							sizeof(name)),
					 a->node[j], a->node_nr[i][j],
					 b->node_nr[i][j]);
				return 1;
			}
		}
	}
	return 0;
}

int ht_pool_persist_surplus(unsigned long size, int node)
{
	struct ht_pool p;
	int ret = ht_pool_read(size, node, &p);

	if (ret || !p.surplus)
		return ret;
	/*
	 * set_max_huge_pages(): a count above the persistent pages turns
	 * surplus pages into persistent ones before it allocates any.
	 */
	return ht_pool_set_nr(size, node, p.nr);
}
