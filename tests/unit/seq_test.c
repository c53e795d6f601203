// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of hgm_seq's pure parts: the PRNG, the model, the generator,
 * the replay format, the shrinker and the reproducer writer (whose output
 * must compile with plain cc).  No kernel feature is touched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht_harness.h"
#include "seq.h"

#define OP(kind, w, p, k) ((struct seqrt_op){ (kind), (w), (p), (k), 0 })

/* Applies @op to @m; returns the model's result. */
static int64_t do_op(struct __test_metadata *_metadata, struct seq_model *m,
		     struct seqrt_op op)
{
	int64_t ret = 0;
	int child;

	EXPECT_TRUE(seq_model_apply(m, &op, &ret, &child))
	TH_LOG("%s did not apply", seqrt_kind_name[op.kind]);
	return ret;
}

static int present(const struct seq_model *m, int w, int p)
{
	struct seqrt_obs o;
	int n = 0;

	seq_model_expect(m, &o);
	for (int i = 0; i < SEQRT_WORDS; i++)
		n += __builtin_popcountll(o.pg[w][p].bits[i]);
	return n;
}

TEST(rng_is_reproducible)
{
	struct seq_rng a, b;

	seq_rng_seed(&a, 42);
	seq_rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		ASSERT_EQ(seq_rng_next(&a), seq_rng_next(&b));
	seq_rng_seed(&b, 43);
	EXPECT_NE(seq_rng_next(&a), seq_rng_next(&b));
	for (int i = 0; i < 1000; i++)
		ASSERT_GT(7, seq_rng_below(&a, 7));
}

/*
 * move_pages(): the node is unknown until a migration; without
 * MPOL_MF_MOVE_ALL a page that two processes map stays where it is.
 */
TEST(migrate_move_and_move_all)
{
	struct seqrt_op mv = { SEQ_MIGRATE, 1, 0, 3, 1 }; /* node 1, MOVE */
	struct seq_model m;
	struct seqrt_obs o;
	int64_t ret;
	int child;

	seq_model_init(&m, 1, 4, true, 10);
	m.mc.nodes = 2;
	do_op(_metadata, &m, OP(SEQ_SPAWN, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_SPAWN, 1, 0, 0));
	EXPECT_FALSE(seq_model_apply(&m, &mv, &ret, &child))
	TH_LOG("not mapped: 6.1 and 6.12 disagree, not drawn");
	do_op(_metadata, &m, OP(SEQ_MAP, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_MAP, 1, 0, 0));
	EXPECT_EQ(-ENOENT, do_op(_metadata, &m, mv)) TH_LOG("nothing present");
	do_op(_metadata, &m, OP(SEQ_READ, 0, 0, 3));
	do_op(_metadata, &m, OP(SEQ_READ, 1, 0, 3));
	seq_model_expect(&m, &o);
	EXPECT_EQ(-1, o.node[0]) TH_LOG("a new page's node is not modelled");
	EXPECT_FALSE(seq_model_apply(&m, &mv, &ret, &child))
	TH_LOG("shared, node unknown: EACCES or 1, so not applied");
	mv.v = 1 | 2; /* MPOL_MF_MOVE_ALL */
	EXPECT_EQ(1, do_op(_metadata, &m, mv));
	seq_model_expect(&m, &o);
	EXPECT_EQ(1, o.node[0]);
	mv.v = 0;
	EXPECT_EQ(-EACCES, do_op(_metadata, &m, mv)) TH_LOG("shared, MOVE");
	do_op(_metadata, &m, OP(SEQ_EXIT, 0, 0, 0));
	EXPECT_EQ(0, do_op(_metadata, &m, mv)) TH_LOG("one mapper: moves");
	EXPECT_EQ(0, do_op(_metadata, &m, mv)) TH_LOG("already there");
	m.mc.head_only =
		true; /* 6.1: only the first 4 KiB moves a hugetlb page */
	mv.v = 1;
	EXPECT_EQ(-EACCES, do_op(_metadata, &m, mv));
	mv.k = 0;
	EXPECT_EQ(1, do_op(_metadata, &m, mv));
	m.mc.nodes = 1;
	EXPECT_EQ(-ENODEV, do_op(_metadata, &m, mv));
	do_op(_metadata, &m, OP(SEQ_PUNCH, 1, 0, 0));
	seq_model_expect(&m, &o);
	EXPECT_EQ(-1, o.node[0]) TH_LOG("gone with the page");
}

/* Another process's read: what the worker's read gives, EFAULT for a signal. */
TEST(gup_read_is_a_read_with_efault)
{
	struct seq_model m;

	seq_model_init(&m, 2, 4, true, 10);
	m.size = 1;
	do_op(_metadata, &m, OP(SEQ_SPAWN, 0, 0, 0));
	EXPECT_EQ(-EFAULT, do_op(_metadata, &m, OP(SEQ_GUP_READ, 0, 0, 9)))
	TH_LOG("not mapped");
	do_op(_metadata, &m, OP(SEQ_MAP, 0, 0, 0));
	do_op(_metadata, &m, (struct seqrt_op){ SEQ_WRITE, 0, 0, 9, 77 });
	EXPECT_EQ(77, do_op(_metadata, &m, OP(SEQ_GUP_READ, 0, 0, 9)));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_GUP_READ, 0, 0, 10)));
	m.map[0][1].mapped = true; /* page 1 mapped beyond EOF */
	EXPECT_EQ(SEQRT_SIG(SIGBUS),
		  do_op(_metadata, &m, OP(SEQ_READ, 0, 1, 0)));
	EXPECT_EQ(-EFAULT, do_op(_metadata, &m, OP(SEQ_GUP_READ, 0, 1, 0)));
}

/*
 * GUP_WRITE (process_vm_writev) and PIN_READ (vmsplice): accesses that
 * fail with EFAULT where the worker's own would get a signal, and wait on
 * the uffd where it would.
 */
TEST(gup_write_and_pin_read)
{
	struct seqrt_op wr = { SEQ_GUP_WRITE, 0, 0, 9, 55 };
	struct seq_model m;
	int64_t ret;
	int child;

	seq_model_init(&m, 2, 4, true, 10);
	m.size = 1;
	do_op(_metadata, &m, OP(SEQ_SPAWN, 0, 0, 0));
	EXPECT_EQ(-EFAULT, do_op(_metadata, &m, wr)) TH_LOG("not mapped");
	EXPECT_EQ(-EFAULT, do_op(_metadata, &m, OP(SEQ_PIN_READ, 0, 0, 9)));
	do_op(_metadata, &m, OP(SEQ_MAP, 0, 0, 0));
	EXPECT_EQ(0, do_op(_metadata, &m, wr));
	EXPECT_EQ(55, do_op(_metadata, &m, OP(SEQ_READ, 0, 0, 9)));
	EXPECT_EQ(55, do_op(_metadata, &m, OP(SEQ_PIN_READ, 0, 0, 9)));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_PIN_READ, 0, 0, 10)));
	do_op(_metadata, &m, OP(SEQ_PROT_RO, 0, 0, 0));
	EXPECT_EQ(-EFAULT, do_op(_metadata, &m, wr)) TH_LOG("read-only VMA");
	EXPECT_EQ(55, do_op(_metadata, &m, OP(SEQ_PIN_READ, 0, 0, 9)));
	m.map[0][1].mapped = true; /* page 1 mapped beyond EOF */
	EXPECT_EQ(-EFAULT, do_op(_metadata, &m, OP(SEQ_PIN_READ, 0, 1, 0)));

	/* A piece that is not mapped in a MINOR range: the pin would wait. */
	do_op(_metadata, &m, OP(SEQ_PROT_RW, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_SPLIT, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_REG, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_DONTNEED, 0, 0, 0));
	EXPECT_EQ(0, present(&m, 0, 0));
	wr.k = 3;
	EXPECT_FALSE(seq_model_apply(&m, &wr, &ret, &child));
}

/*
 * Without --more-ops the generator draws what it drew before GUP_WRITE
 * and PIN_READ existed: the hash of seed 2026's first 2000 operations as
 * the generator of commit 528eb62 drew them.  With it, both are drawn.
 */
static uint64_t draw(bool more, long *gup_write, long *pin_read)
{
	uint64_t h = 1469598103934665603ULL;
	struct seq_model m;
	struct seqrt_op op;
	struct seq_rng r;
	int64_t ret;
	int child;

	seq_rng_seed(&r, 2026);
	seq_model_init(&m, 3, 6, true, 8);
	m.mc.nodes = 2;
	m.more_ops = more;
	*gup_write = *pin_read = 0;
	for (int i = 0; i < 2000; i++) {
		int v[5];

		seq_gen(&r, &m, &op);
		seq_model_apply(&m, &op, &ret, &child);
		*gup_write += op.kind == SEQ_GUP_WRITE;
		*pin_read += op.kind == SEQ_PIN_READ;
		v[0] = op.kind, v[1] = op.w, v[2] = op.p, v[3] = op.k,
		v[4] = op.v;
		for (int j = 0; j < 5; j++) {
			h ^= (uint64_t)v[j];
			h *= 1099511628211ULL;
		}
	}
	return h;
}

TEST(more_ops_only_when_asked)
{
	long gw, pr;

	EXPECT_EQ(0xf3dad2f246be0216ULL, draw(false, &gw, &pr))
	TH_LOG("a seed no longer draws the sequence it drew");
	EXPECT_EQ(0, gw);
	EXPECT_EQ(0, pr);
	draw(true, &gw, &pr);
	EXPECT_LT(20, gw);
	EXPECT_LT(20, pr);
}

TEST(split_then_three_pieces)
{
	struct seqrt_op rd = OP(SEQ_READ, 0, 1, 7);
	struct seq_model m;
	struct seqrt_obs o;
	int64_t ret;
	int child;

	seq_model_init(&m, 2, 4, true, 10);
	do_op(_metadata, &m, OP(SEQ_SPAWN, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_MAP, 0, 1, 0));
	do_op(_metadata, &m, OP(SEQ_FALLOC, 0, 1, 0));
	EXPECT_EQ(-ENOENT, do_op(_metadata, &m, OP(SEQ_CONT, 0, 1, 5)));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_REG, 0, 1, 0)));
	EXPECT_EQ(-EINVAL, do_op(_metadata, &m, OP(SEQ_CONT, 0, 1, 5)))
	TH_LOG("not split");
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_SPLIT, 0, 1, 0)));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_CONT, 0, 1, 5)));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_CONT, 0, 1, 6)));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_CONT, 0, 1, 511)));
	EXPECT_EQ(-EEXIST, do_op(_metadata, &m, OP(SEQ_CONT, 0, 1, 6)));
	EXPECT_EQ(3, present(&m, 0, 1));
	seq_model_expect(&m, &o);
	EXPECT_EQ(12, o.pg[0][1].private_kb);
	EXPECT_EQ(0, o.pg[0][1].shared_kb);
	EXPECT_EQ(2048, o.hugetlb_kb[0]) TH_LOG("one (VMA, page) pair");
	EXPECT_EQ(1, o.mapcount[1]);
	EXPECT_EQ(9, o.free);
	/* A cached page in a MINOR range: the read would wait, not apply. */
	EXPECT_FALSE(seq_model_apply(&m, &rd, &ret, &child));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_COLLAPSE, 0, 1, 0)));
	EXPECT_EQ(512, present(&m, 0, 1));
}

TEST(no_hgm_means_einval)
{
	struct seq_model m;

	seq_model_init(&m, 1, 2, false, 4);
	do_op(_metadata, &m, OP(SEQ_SPAWN, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_MAP, 0, 0, 0));
	EXPECT_EQ(-EINVAL, do_op(_metadata, &m, OP(SEQ_SPLIT, 0, 0, 0)));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_REG, 0, 0, 0)));
	EXPECT_EQ(-EINVAL, do_op(_metadata, &m, OP(SEQ_CONT, 0, 0, 1)));
	EXPECT_EQ(-EINVAL, do_op(_metadata, &m, OP(SEQ_COLLAPSE, 0, 0, 0)));
	EXPECT_EQ(-EFAULT, do_op(_metadata, &m, OP(SEQ_CONT_HUGE, 0, 0, 0)));
	do_op(_metadata, &m, OP(SEQ_FALLOC, 0, 0, 0));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_CONT_HUGE, 0, 0, 0)));
	EXPECT_EQ(512, present(&m, 0, 0));
}

TEST(fork_copies_vmas_not_entries)
{
	struct seqrt_op wr = { SEQ_WRITE, 0, 0, 9, 0x5a };
	struct seq_model m;
	struct seqrt_obs o;
	int64_t ret;
	int child;

	seq_model_init(&m, 1, 4, true, 4);
	do_op(_metadata, &m, OP(SEQ_SPAWN, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_MAP, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_SPLIT, 0, 0, 0));
	ASSERT_TRUE(seq_model_apply(&m, &wr, &ret, &child));
	EXPECT_EQ(512, present(&m, 0, 0)) TH_LOG("no table: faulted huge");
	ASSERT_TRUE(seq_model_apply(&m, &OP(SEQ_FORK, 0, 0, 0), &ret, &child));
	EXPECT_EQ(1, child);
	EXPECT_TRUE(m.map[1][0].mapped && m.map[1][0].split);
	EXPECT_EQ(0, present(&m, 1, 0));
	/* The child's fault maps it whole; both now share it. */
	EXPECT_EQ(0x5a, do_op(_metadata, &m, OP(SEQ_READ, 1, 0, 9)));
	seq_model_expect(&m, &o);
	EXPECT_EQ(2, o.mapcount[0]);
	EXPECT_EQ(2048, o.pg[0][0].shared_kb);
	EXPECT_EQ(2048, o.pg[1][0].shared_kb);
	do_op(_metadata, &m, OP(SEQ_EXIT, 1, 0, 0));
	seq_model_expect(&m, &o);
	EXPECT_EQ(1, o.mapcount[0]);
	EXPECT_EQ(2048, o.pg[0][0].private_kb);
}

TEST(punch_hole_removes)
{
	struct seqrt_op wr = { SEQ_WRITE, 0, 0, 3, 7 };
	struct seq_model m;
	struct seqrt_obs o;
	int64_t ret;
	int child;

	seq_model_init(&m, 2, 2, true, 8);
	do_op(_metadata, &m, OP(SEQ_SPAWN, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_MAP, 0, 0, 0));
	ASSERT_TRUE(seq_model_apply(&m, &wr, &ret, &child));
	seq_model_expect(&m, &o);
	EXPECT_EQ(7, o.free);
	do_op(_metadata, &m, OP(SEQ_PUNCH, 0, 0, 0));
	seq_model_expect(&m, &o);
	EXPECT_EQ(8, o.free);
	EXPECT_EQ(0, present(&m, 0, 0));
	EXPECT_EQ(0, o.hugetlb_kb[0]);
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_READ, 0, 0, 3)))
	TH_LOG("a new, zeroed page");
	/* Truncate to 0, then beyond EOF: SIGBUS. */
	do_op(_metadata, &m, OP(SEQ_TRUNC, 0, 0, 0));
	EXPECT_EQ(SEQRT_SIG(SIGBUS),
		  do_op(_metadata, &m, OP(SEQ_READ, 0, 0, 3)));
	EXPECT_EQ(SEQRT_SIG(SIGSEGV),
		  do_op(_metadata, &m, OP(SEQ_READ, 0, 1, 3)))
	TH_LOG("not mapped");
}

/* The shrinker's fake kernel: fails iff both marked ops are there. */
static bool fails_with_x_and_y(const struct seqrt_op *ops, int n, void *arg)
{
	bool x = false, y = false;

	(*(int *)arg)++;
	for (int i = 0; i < n; i++) {
		x |= ops[i].kind == SEQ_PUNCH && ops[i].v == 1;
		y |= ops[i].kind == SEQ_TRUNC && ops[i].v == 2;
	}
	return x && y;
}

TEST(shrink_to_x_and_y)
{
	struct seqrt_op ops[40];
	int calls = 0, n;

	for (int i = 0; i < 40; i++)
		ops[i] = OP(SEQ_READ, 0, 0, i);
	ops[7] = (struct seqrt_op){ SEQ_PUNCH, 0, 0, 0, 1 };
	ops[31] = (struct seqrt_op){ SEQ_TRUNC, 0, 0, 0, 2 };
	n = seq_shrink(ops, 40, fails_with_x_and_y, &calls, 1000);
	ASSERT_EQ(2, n);
	EXPECT_EQ(SEQ_PUNCH, ops[0].kind);
	EXPECT_EQ(SEQ_TRUNC, ops[1].kind);
	EXPECT_LT(calls, 200) TH_LOG("%d predicate calls", calls);
}

/* The followed pieces: all of a 2 MiB page; one in each 2 MiB of 1 GiB. */
TEST(piece_offsets)
{
	const unsigned long mb2 = 2UL << 20, gb = 1UL << 30;

	for (int k = 0; k < SEQRT_PIECES; k++) {
		ASSERT_EQ(k * 4096UL, seqrt_piece_off(mb2, k));
		/* 2 MiB range k, 4 KiB piece k in it: a table each */
		ASSERT_EQ(k * mb2 + k * 4096UL, seqrt_piece_off(gb, k));
	}
	/* the last is the page's last 4 KiB */
	EXPECT_EQ(gb - 4096, seqrt_piece_off(gb, SEQRT_PIECES - 1));
}

/*
 * Gigantic pages: a new page comes from the preferred node while it has
 * a free page, then from the other; a move is drawn only where the
 * target node has a free page; the views count the whole page huge.
 */
TEST(gigantic_nodes)
{
	struct seq_machine mc = { .psize = 1UL << 30,
				  .nodes = 2,
				  .prefer = 0,
				  .node_free = { 1, 1 } };
	struct seqrt_op mv = { SEQ_MIGRATE, 0, 0, 5, 1 | 2 }; /* MOVE_ALL */
	struct seq_model m;
	struct seqrt_obs o;
	int64_t ret;
	int child;

	seq_model_init(&m, 2, 2, true, 2);
	seq_model_machine(&m, &mc);
	do_op(_metadata, &m, OP(SEQ_SPAWN, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_MAP, 0, 0, 0));
	do_op(_metadata, &m, OP(SEQ_MAP, 0, 1, 0));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_READ, 0, 0, 5)));
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_READ, 0, 1, 5)));
	seq_model_expect(&m, &o);
	EXPECT_EQ(0, o.node[0]);
	EXPECT_EQ(1, o.node[1]); /* node 0 had one free page */
	EXPECT_EQ(0, o.free);
	EXPECT_EQ(1048576, o.pg[0][0].private_kb);
	EXPECT_EQ(SEQRT_PIECES, o.pg[0][0].excl);
	EXPECT_EQ(2 * 1048576, o.hugetlb_kb[0]);
	/* node 1 has no free page: the failure is not modelled */
	EXPECT_FALSE(seq_model_apply(&m, &mv, &ret, &child));
	do_op(_metadata, &m, OP(SEQ_PUNCH, 0, 1, 0));
	EXPECT_EQ(1, do_op(_metadata, &m, mv));
	/* the refault goes to the preferred node, free again */
	EXPECT_EQ(0, do_op(_metadata, &m, OP(SEQ_READ, 0, 1, 0)));
	seq_model_expect(&m, &o);
	EXPECT_EQ(1, o.node[0]);
	EXPECT_EQ(0, o.node[1]);
}

/* A file of 1 GiB pages; an old file without the machine line; a bad one. */
TEST(replay_machine_line)
{
	struct seq_header h = { .seed = 1, .npages = 2, .nslots = 2 }, h2;
	struct seqrt_op op = OP(SEQ_SPAWN, 0, 0, 0), *back;
	char path[] = "/tmp/seq_test_XXXXXX", why[256];
	int fd, n;
	FILE *f;

	h.mc = (struct seq_machine){ .psize = 1UL << 30,
				     .nodes = 2,
				     .head_only = true,
				     .prefer = 1,
				     .node_free = { 3, 4 } };
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	seq_file_write(f, &h, &op, 1);
	fclose(f);
	ASSERT_EQ(0, seq_file_read(path, &h2, &back, &n, why, sizeof(why)))
	TH_LOG("%s", why);
	free(back);
	EXPECT_TRUE(h2.has_mc);
	EXPECT_EQ(0, memcmp(&h.mc, &h2.mc, sizeof(h.mc)));
	f = fopen(path, "w");
	fprintf(f, "# hgm_seq seed=1 pages=2 slots=2\nspawn 0 0 0 0\n");
	fclose(f);
	ASSERT_EQ(0, seq_file_read(path, &h2, &back, &n, why, sizeof(why)));
	free(back);
	EXPECT_FALSE(h2.has_mc);
	EXPECT_EQ(1, n);
	f = fopen(path, "w");
	fprintf(f, "# hgm_seq seed=1 pages=2 slots=2\n"
		   "# machine psize_kb=3000 nodes=2 head_only=0 prefer=0 "
		   "node_free=1,1\n");
	fclose(f);
	EXPECT_EQ(-EINVAL,
		  seq_file_read(path, &h2, &back, &n, why, sizeof(why)));
	free(back);
	EXPECT_NE(NULL, strstr(why, ":2: not '# machine")) TH_LOG("%s", why);
	unlink(path);
}

TEST(replay_format_round_trip)
{
	struct seq_header h = { .seed = 99, .npages = 3, .nslots = 6 }, h2;
	struct seqrt_op ops[50], *back;
	char path[] = "/tmp/seq_test_XXXXXX", why[256];
	struct seq_model m;
	struct seq_rng r;
	int64_t ret;
	int fd, n, child;
	FILE *f;

	seq_rng_seed(&r, 7);
	seq_model_init(&m, 3, 6, true, 8);
	for (int i = 0; i < 50; i++) {
		seq_gen(&r, &m, &ops[i]);
		EXPECT_TRUE(seq_model_apply(&m, &ops[i], &ret, &child))
		TH_LOG("generated op %d does not apply", i);
	}
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	seq_file_write(f, &h, ops, 50);
	fclose(f);
	ASSERT_EQ(0, seq_file_read(path, &h2, &back, &n, why, sizeof(why)))
	TH_LOG("%s", why);
	EXPECT_EQ(50, n);
	EXPECT_EQ(99, h2.seed);
	EXPECT_EQ(3, h2.npages);
	EXPECT_EQ(0, memcmp(ops, back, sizeof(ops)));
	free(back);
	unlink(path);
}

static void repro_compiles(struct __test_metadata *_metadata,
			   const struct seq_header *h)
{
	char src[] = "/tmp/seq_repro_XXXXXX.c", cmd[256];
	struct seqrt_op ops[30];
	struct seq_model m;
	struct seq_rng r;
	int64_t ret;
	int fd, child;
	FILE *f;

	seq_rng_seed(&r, 11);
	seq_model_init(&m, h->npages, h->nslots, true, 8);
	seq_model_machine(&m, &h->mc);
	for (int i = 0; i < 30; i++) {
		seq_gen(&r, &m, &ops[i]);
		seq_model_apply(&m, &ops[i], &ret, &child);
	}
	fd = mkstemps(src, 2);
	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	ASSERT_EQ(0, seq_repro_write(f, h, true, ops, 30));
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cc -Wall -o %.*s %s", (int)strlen(src) - 2,
		 src, src);
	EXPECT_EQ(0, system(cmd)) TH_LOG("%s", cmd);
	unlink(src);
	src[strlen(src) - 2] = 0;
	unlink(src);
}

TEST(reproducer_compiles)
{
	struct seq_header h = { .seed = 5, .npages = 2, .nslots = 4 };

	repro_compiles(_metadata, &h);
}

TEST(reproducer_compiles_1G)
{
	struct seq_header h = {
		.seed = 5,
		.npages = 2,
		.nslots = 4,
		.mc = { .psize = 1UL << 30, .nodes = 2, .node_free = { 2, 1 } },
	};

	repro_compiles(_metadata, &h);
}

HT_MAIN
