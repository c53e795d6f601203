// SPDX-License-Identifier: GPL-2.0
/*
 * hgm_seq: one run on the kernel.  Every step goes through the model
 * first (does it apply, what must it return), then through the workers,
 * then every view is read back and compared with the model's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ht.h"
#include "seq.h"

const char *seq_probe_hgm(unsigned long psize, char *why, size_t len)
{
	return ht_probe_hgm_r(psize, why, len);
}

/*
 * Memory nodes 0, 1 (or 0) without a gap: the targets of a migration;
 * *@all: every memory node.
 */
static int memory_nodes(int *all)
{
	int nodes[HT_MAX_NODES], n = ht_memory_nodes(nodes, HT_MAX_NODES), i;

	*all = n;
	for (i = 0; i < n && i < 2 && nodes[i] == i; i++)
		;
	return i ? i : 1;
}

/* Gigantic pages: free pages per node, and the node with the most. */
static int read_node_free(struct seq_machine *mc, int npages, int all,
			  char *why, size_t len)
{
	struct ht_pool pool;
	int ret;

	for (int n = 0; n < mc->nodes; n++) {
		ret = ht_pool_read(mc->psize, n, &pool);
		if (ret) {
			snprintf(why, len, "node %d's %lu kB pool: %s", n,
				 mc->psize / 1024, strerror(-ret));
			return ret;
		}
		mc->node_free[n] = pool.free;
		if (pool.free > mc->node_free[mc->prefer])
			mc->prefer = n;
	}
	/* A new page never falls back to a third node (the model has two). */
	if (all > mc->nodes && mc->node_free[mc->prefer] < npages + 1UL) {
		snprintf(why, len,
			 "%d memory nodes: needs %d free %lu kB pages on "
			 "node %d, which has %lu",
			 all, npages + 1, mc->psize / 1024, mc->prefer,
			 mc->node_free[mc->prefer]);
		return -ENOSPC;
	}
	return 0;
}

int seq_machine_read(struct seq_machine *mc, unsigned long psize, int npages,
		     const struct seq_machine *want, char *why, size_t len)
{
	int all, ret;

	memset(mc, 0, sizeof(*mc));
	mc->psize = psize ? psize : SEQRT_PSIZE_2M;
	mc->nodes = memory_nodes(&all);
	/* The kernel's rule, not the file's: a replay models this kernel. */
	mc->head_only = ht_kernel_before(6, 12);
	if (seq_gigantic(mc->psize)) {
		ret = read_node_free(mc, npages, all, why, len);
		if (ret)
			return ret;
	}
	if (!want)
		return 0;
	if (want->nodes != mc->nodes) {
		snprintf(why, len,
			 "written for %d memory node(s) to move to, this "
			 "machine has %d",
			 want->nodes, mc->nodes);
		return -EXDEV;
	}
	if (seq_gigantic(mc->psize) &&
	    (want->node_free[0] != mc->node_free[0] ||
	     want->node_free[1] != mc->node_free[1])) {
		snprintf(
			why, len,
			"written for %lu,%lu free %lu kB pages on nodes 0,1; "
			"this machine has %lu,%lu (set them per node in sysfs)",
			want->node_free[0], want->node_free[1],
			mc->psize / 1024, mc->node_free[0], mc->node_free[1]);
		return -EXDEV;
	}
	mc->prefer = want->prefer;
	return 0;
}

int seq_run_start(struct seq_run *s, const struct seq_header *h, bool hgm)
{
	struct ht_pool pool;
	int ret;

	memset(s, 0, sizeof(*s));
	s->h = *h;
	for (int p = 0; p < SEQRT_MAX_P; p++)
		s->seen_node[p] = -1;
	ret = seqrt_init(&s->rt, h->npages, h->mc.psize,
			 seq_gigantic(h->mc.psize) ? h->mc.prefer : -1);
	if (!ret)
		ret = ht_pool_read(h->mc.psize, -1, &pool);
	if (ret) {
		snprintf(s->why, sizeof(s->why), "setup: %s", strerror(-ret));
		return ret;
	}
	/* The file is empty: every page it gets later comes from here. */
	seq_model_init(&s->m, h->npages, h->nslots, hgm, pool.free);
	seq_model_machine(&s->m, &h->mc);
	s->m.inject_bug = h->inject_bug;
	s->m.more_ops = h->more_ops;
	return 0;
}

void seq_run_stop(struct seq_run *s)
{
	seqrt_fini(&s->rt);
}

int seq_run_step(struct seq_run *s, const struct seqrt_op *op)
{
	struct seqrt_obs want, got;
	char a[48], b[48], line[96];
	int64_t ret_want, ret_got;
	int child, ret, node = s->seen_node[op->p % SEQRT_MAX_P];

	if (!seq_model_apply(&s->m, op, &ret_want, &child)) {
		s->skipped++;
		return 0;
	}
	s->steps++;
	s->counts[op->kind]++;
	s->pieces += op->kind == SEQ_CONT && ret_want == 0;
	s->moved += op->kind == SEQ_MIGRATE && ret_want >= 0 && node >= 0 &&
		    ret_want != node;
	seq_op_format(op, line, sizeof(line));
	ret = seqrt_exec(&s->rt, op, child, &ret_got, s->why, sizeof(s->why));
	if (ret == -ETIMEDOUT || ret == -EPIPE)
		return 1; /* a worker hung or died where the model says not */
	if (ret)
		return ret;
	if (ret_got != ret_want) {
		seqrt_ret_str(ret_got, a, sizeof(a));
		seqrt_ret_str(ret_want, b, sizeof(b));
		snprintf(s->why, sizeof(s->why), "%s returned %s, model %s",
			 line, a, b);
		return 1;
	}
	ret = seqrt_observe(&s->rt, &got);
	if (ret) {
		snprintf(s->why, sizeof(s->why), "after %s: reading /proc: %s",
			 line, strerror(-ret));
		return ret;
	}
	memcpy(s->seen_node, got.node, sizeof(s->seen_node));
	seq_model_expect(&s->m, &want);
	return seqrt_compare(&want, &got, s->h.npages, s->why, sizeof(s->why));
}

int seq_run_ops(const struct seq_header *h, bool hgm,
		const struct seqrt_op *ops, int n, int *fail_step, char *why,
		size_t len)
{
	struct seq_run *s = malloc(sizeof(*s));
	int ret;

	*fail_step = -1;
	if (!s)
		return -ENOMEM;
	ret = seq_run_start(s, h, hgm);
	for (int i = 0; !ret && i < n; i++) {
		ret = seq_run_step(s, &ops[i]);
		if (ret)
			*fail_step = i;
	}
	if (ret)
		snprintf(why, len, "%s", s->why);
	seq_run_stop(s);
	free(s);
	return ret;
}
