// SPDX-License-Identifier: GPL-2.0
/*
 * Topic 12: a fixed-seed run of the hgm_seq sequence engine (lib/seq_*.c,
 * stress/hgm_seq.c): a few hundred random operations by several processes
 * on one shared hugetlb file (map, fault, write, read back, uffd
 * MINOR, 2 MiB CONTINUE, fork, exit, mprotect, DONTNEED, hole punch,
 * fallocate, truncate; the hgm twin adds MADV_SPLIT, 4 KiB CONTINUE and
 * MADV_COLLAPSE; fixed_seed_more_ops adds GUP writes and vmsplice pins),
 * every step compared with the model: each worker's pagemap of every
 * piece, smaps Shared/Private_Hugetlb, HugetlbPages, kpagecount of every
 * mapped page, the pool's free count, the results and the bytes read.
 * The 1 GiB variants follow 512 pieces of each page, one in each 2 MiB
 * (seqrt_piece_off()), and every page's node.
 * The seed is fixed, so a failure here reproduces with
 * `build/stress/hgm_seq --replay` of the sequence it prints.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "ht_harness.h"
#include "seq.h"

#define SEED 20260113
#define STEPS 300
#define WORKERS 3
#define PAGES_2M 4
#define PAGES_1G 1 /* and one more: a 6 GiB guest has no third 1 GiB page */

FIXTURE(seq)
{
	struct ht_env env;
	int pages;
};

FIXTURE_VARIANT(seq)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS(seq);

FIXTURE_SETUP(seq)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages =
			(variant->level == HT_LEVEL_PUD ? PAGES_1G : PAGES_2M) +
			1,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
		.uffd_minor = true,
		.hgm = variant->gran == HT_GRAN_HGM,
	};

	HT_SETUP_OR_SKIP(&needs, &self->env);
	self->pages = (int)needs.pages - 1;
}

FIXTURE_TEARDOWN_PARENT(seq)
{
	HT_TEARDOWN(&self->env);
}

static void log_sequence(struct __test_metadata *_metadata,
			 const struct seqrt_op *ops, int n)
{
	char line[96];

	for (int i = 0; i < n; i++) {
		seq_op_format(&ops[i], line, sizeof(line));
		TH_LOG("%4d %s", i, line);
	}
}

/*
 * STEPS operations from @seed (after WORKERS spawns), each checked; on a
 * difference the sequence so far goes to the log in replay format.
 */
static void run_fixed(struct __test_metadata *_metadata,
		      const FIXTURE_VARIANT(seq) * variant, int pages, int seed,
		      bool more_ops)
{
	struct seq_header h = { .seed = seed,
				.npages = pages,
				.nslots = 2 * WORKERS };
	unsigned long psize = HT_PSIZE(variant);
	struct seq_run *run = malloc(sizeof(*run));
	struct seqrt_op ops[STEPS];
	struct seq_rng rng;
	char why[HT_WHY_LEN], line[160];
	int i, ret, gup_writes = 0, pin_reads = 0;

	ASSERT_NE(NULL, run);
	ret = seq_machine_read(&h.mc, psize, pages, NULL, why, sizeof(why));
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	ret = seq_run_start(run, &h,
			    seq_probe_hgm(psize, why, sizeof(why)) == NULL);
	ASSERT_EQ(0, ret) TH_LOG("%s", run->why);
	run->m.huge_only = variant->gran == HT_GRAN_HUGE;
	run->m.more_ops = more_ops;
	seq_rng_seed(&rng, seed);
	for (i = 0, ret = 0; !ret && i < STEPS; i++) {
		if (i < WORKERS)
			ops[i] = (struct seqrt_op){ .kind = SEQ_SPAWN, .w = i };
		else
			seq_gen(&rng, &run->m, &ops[i]);
		ret = seq_run_step(run, &ops[i]);
		gup_writes += ops[i].kind == SEQ_GUP_WRITE;
		pin_reads += ops[i].kind == SEQ_PIN_READ;
	}
	TH_LOG("%ld steps, %ld skipped, %d gup_write, %d pin_read, %ld pieces "
	       "continued, %ld pages moved, model %s HGM",
	       run->steps, run->skipped, gup_writes, pin_reads, run->pieces,
	       run->moved, run->m.hgm ? "with" : "without");
	seq_run_stop(run);
	if (ret) {
		TH_LOG("seed %d step %d: %s", seed, i - 1, run->why);
		TH_LOG("the sequence (hgm_seq replay format, header:)");
		for (int l = 0; l < SEQ_HEADER_LINES; l++) {
			seq_header_line(&h, l, line, sizeof(line));
			TH_LOG("%s", line);
		}
		log_sequence(_metadata, ops, i);
	}
	EXPECT_EQ(0, ret) TH_LOG("model difference or broken run");
	/* the seed must draw what the case is for, or it tests nothing new */
	if (more_ops && !ret) {
		EXPECT_LT(0, gup_writes);
		EXPECT_LT(0, pin_reads);
	}
	if (variant->gran == HT_GRAN_HGM && !ret)
		EXPECT_LT(0, run->pieces);
	free(run);
}

TEST_F_TIMEOUT(seq, fixed_seed, 1500)
{
	run_fixed(_metadata, variant, self->pages, SEED, false);
}

/*
 * The same with --more-ops: GUP writes from another process and reads
 * through vmsplice() pins (GUP-fast) between the other operations.
 */
TEST_F_TIMEOUT(seq, fixed_seed_more_ops, 1500)
{
	run_fixed(_metadata, variant, self->pages, SEED + 1, true);
}

HT_MAIN
