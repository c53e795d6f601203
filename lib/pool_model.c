// SPDX-License-Identifier: GPL-2.0
/*
 * The pool model: what HugePages_Total/Free/Rsvd/Surp (per size, and
 * per node where the kernel has per-node counters) must read after each
 * step of a case.  A case starts from the kernel's own numbers, applies
 * every change its model predicts, and compares after every step, so a
 * reservation that leaks or a surplus page that never returns is seen at
 * the step that caused it.  The invariants hold in any state the kernel
 * can show between system calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ht.h"

int ht_pool_model_init(struct ht_pool_model *m, unsigned long psize, int node)
{
	memset(m, 0, sizeof(*m));
	m->psize = psize;
	m->node = node;
	return ht_pool_read(psize, node, &m->want);
}

/* Appends "name want W got G" when they differ; returns 1 then. */
static int field(char *why, size_t len, const char *name, unsigned long want,
		 unsigned long got)
{
	size_t used = strlen(why);

	if (want == got)
		return 0;
	snprintf(why + used, len - used, "%s%s want %lu got %lu",
		 used ? ", " : "", name, want, got);
	return 1;
}

int ht_pool_invariants(const struct ht_pool *p, bool global, char *why,
		       size_t len)
{
	size_t used = strlen(why);

	/*
	 * resv: pages promised to mappings that have not faulted yet; they
	 * must still be free.  surplus pages are part of nr.  Not checked:
	 * surplus <= overcommit.  libhugetlbfs' counters test assumes it,
	 * but the kernel breaks it on purpose: shrinking nr_hugepages below
	 * the pages in use turns them into surplus whatever the overcommit
	 * limit (set_max_huge_pages(); pool_sysfs:pool_size.*.shrink_below_in_use
	 * reads surplus > overcommit = 0), and lowering the limit keeps the
	 * surplus already allocated.
	 */
	if (p->free > p->nr || p->surplus > p->nr ||
	    (global && p->resv > p->free)) {
		snprintf(
			why + used, len - used,
			"%sinvariant broken: nr %lu free %lu resv %lu surplus %lu",
			used ? ", " : "", p->nr, p->free, p->resv, p->surplus);
		return 1;
	}
	return 0;
}

void ht_pool_model_move(struct ht_pool_model *m, long nr, long free, long resv,
			long surp)
{
	m->want.nr += nr;
	m->want.free += free;
	m->want.resv += resv;
	m->want.surplus += surp;
}

int ht_pool_model_check(const struct ht_pool_model *m, char *why, size_t len)
{
	char name[HT_SIZE_NAME_LEN];
	struct ht_pool got;
	bool global = m->node < 0;
	int bad = 0, ret;

	why[0] = '\0';
	ret = ht_pool_read(m->psize, m->node, &got);
	if (ret) {
		snprintf(why, len, "cannot read the %s pool: %s",
			 ht_size_name_r(m->psize, name, sizeof(name)),
			 strerror(-ret));
		return -1;
	}
	bad |= field(why, len, "nr", m->want.nr, got.nr);
	bad |= field(why, len, "free", m->want.free, got.free);
	bad |= field(why, len, "surplus", m->want.surplus, got.surplus);
	if (global) {
		bad |= field(why, len, "resv", m->want.resv, got.resv);
		bad |= field(why, len, "overcommit", m->want.overcommit,
			     got.overcommit);
	}
	bad |= ht_pool_invariants(&got, global, why, len);
	return bad ? -1 : 0;
}

/* One meminfo counter against the model; @node < 0: /proc/meminfo. */
static int meminfo_field(char *why, size_t len, int node, const char *key,
			 unsigned long want)
{
	unsigned long got = ~0UL;
	int ret = node < 0 ? ht_meminfo_read(key, &got) :
			     ht_node_meminfo_read(node, key, &got);
	size_t used = strlen(why);

	if (ret) {
		snprintf(why + used, len - used, "%sno %s: %s",
			 used ? ", " : "", key, strerror(-ret));
		return 1;
	}
	return field(why, len, key, want, got);
}

int ht_pool_model_check_meminfo(const struct ht_pool_model *m, char *why,
				size_t len)
{
	int bad = 0;

	why[0] = '\0';
	if (m->psize != ht_default_page_size())
		return 0;
	bad |= meminfo_field(why, len, m->node, "HugePages_Total", m->want.nr);
	bad |= meminfo_field(why, len, m->node, "HugePages_Free", m->want.free);
	bad |= meminfo_field(why, len, m->node, "HugePages_Surp",
			     m->want.surplus);
	if (m->node < 0)
		bad |= meminfo_field(why, len, m->node, "HugePages_Rsvd",
				     m->want.resv);
	return bad ? -1 : 0;
}
