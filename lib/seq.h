/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hgm_seq: a seeded, reproducible, model-checked random sequence tester
 * for HugeTLB and HGM (stress/hgm_seq.c, selftests/seq.c).
 *
 * Pure parts (seq_model.c, seq_repro.c): the PRNG, the model, the
 * generator, the replay file format, the shrinker and the reproducer
 * writer; the unit tests run them without a kernel.  The kernel part is
 * seq_rt.c (workers, observation) and seq_engine.c (one run).
 */
#ifndef SEQ_H
#define SEQ_H

#include <stdio.h>

#include "seq_rt.h"

/* splitmix64: explicit state, same numbers on every libc. */
struct seq_rng {
	uint64_t s;
};
void seq_rng_seed(struct seq_rng *r, uint64_t seed);
uint64_t seq_rng_next(struct seq_rng *r);
unsigned int seq_rng_below(struct seq_rng *r, unsigned int n);

enum seq_pte {
	SEQ_PTE_NONE, /* nothing mapped */
	SEQ_PTE_HUGE, /* one huge entry: all 512 pieces */
	SEQ_PTE_PIECES, /* an HGM PTE table: the pieces in bits */
};

/* One worker's mapping of one page. */
struct seq_map {
	bool mapped, split, reg, ro;
	enum seq_pte pte;
	uint64_t bits[SEQRT_WORDS];
};

struct seq_model {
	int npages, nslots; /* pages in the file; worker slots in use */
	bool hgm; /* MADV_SPLIT works (probed once) */
	bool huge_only; /* the generator draws no HGM operation */
	bool more_ops; /* the generator draws GUP_WRITE and PIN_READ too */
	/* Self-test of the failure path: fork wrongly copies the entries. */
	bool inject_bug;
	bool alive[SEQRT_MAX_W];
	struct seq_map map[SEQRT_MAX_W][SEQRT_MAX_P];
	int size; /* file size, pages */
	bool cached[SEQRT_MAX_P]; /* in the page cache */
	/*
	 * Node of each cached page, -1 while unknown: where a new page lands
	 * is the allocator's choice, not modelled; after a migration it is
	 * known.  Nodes 0 .. nodes-1 have memory.
	 */
	int node[SEQRT_MAX_P];
	int nodes;
	/*
	 * move_pages() moves a hugetlb page only through its first 4 KiB;
	 * another address keeps -EACCES (before 6.12: add_page_for_migration()
	 * isolated only a head page; see selftests/migration.c).
	 */
	bool head_only;
	/* The worker and page of the last operation applied (-1: none). */
	int last_w, last_p;
	uint8_t val[SEQRT_MAX_P][SEQRT_PIECES]; /* first byte of each piece */
	unsigned long free0; /* free pool pages with the file empty */
};

void seq_model_init(struct seq_model *m, int npages, int nslots, bool hgm,
		    unsigned long free0);
/*
 * Applies @op.  Returns false when it does not apply in this state (a
 * dead worker, an already mapped page, a fault that would wait for a
 * CONTINUE): the engine skips it, so any subsequence still runs.  Else
 * *@ret is the result the kernel must give and *@child the slot SPAWN or
 * FORK fills.
 */
bool seq_model_apply(struct seq_model *m, const struct seqrt_op *op,
		     int64_t *ret, int *child);
bool seq_piece_present(const struct seq_map *mp, int k);
/* Mappings of page @p that hold a reference: kpagecount. */
unsigned long seq_model_mapcount(const struct seq_model *m, int p);
/* What every view must read in state @m. */
void seq_model_expect(const struct seq_model *m, struct seqrt_obs *o);

/* One op that applies in @m (model-guided), from @r. */
void seq_gen(struct seq_rng *r, const struct seq_model *m, struct seqrt_op *op);

/* "write 1 2 17 90": kind w p k v.  Parse: 0 or -EINVAL. */
void seq_op_format(const struct seqrt_op *op, char *buf, size_t len);
int seq_op_parse(const char *line, struct seqrt_op *op, int npages);

struct seq_header {
	uint64_t seed;
	int npages, nslots;
	bool inject_bug; /* see struct seq_model; not in the file */
	bool more_ops; /* see struct seq_model; not in the file */
};
/* The replay file: "# hgm_seq seed=S pages=N slots=M", then one op a line. */
void seq_file_write(FILE *f, const struct seq_header *h,
		    const struct seqrt_op *ops, int n);
/* 0, or -errno / -EINVAL with @why; *@ops is malloc()ed. */
int seq_file_read(const char *path, struct seq_header *h, struct seqrt_op **ops,
		  int *n, char *why, size_t len);

/*
 * Delta debugging: the shortest subsequence of @ops for which @fails
 * still returns true, found with at most @max_tries calls.  @ops is
 * rewritten in place; returns its new length.
 */
typedef bool (*seq_fails_fn)(const struct seqrt_op *ops, int n, void *arg);
int seq_shrink(struct seqrt_op *ops, int n, seq_fails_fn fails, void *arg,
	       int max_tries);

/*
 * A standalone C program that runs @ops with plain syscalls and checks
 * every step against the model's expectations (seq_repro.c).
 */
int seq_repro_write(FILE *f, const struct seq_header *h, bool hgm,
		    const struct seqrt_op *ops, int n);
/* The text of seq_rt.h and seq_rt.c (generated at build time). */
extern const char seq_rt_text[];

/* ---- one run on the kernel (seq_engine.c) ---- */
struct seq_run {
	struct seq_header h;
	struct seqrt rt;
	struct seq_model m;
	long steps, skipped, counts[SEQ_NKINDS];
	long pieces; /* successful 4 KiB CONTINUEs: HGM state was reached */
	long moved; /* migrations that moved a page to another node */
	int seen_node[SEQRT_MAX_P]; /* as the last observation read them */
	char why[4096];
};
/* Is there HGM for 2 MiB pages?  NULL or the probe's reason (in @why). */
const char *seq_probe_hgm(char *why, size_t len);
int seq_run_start(struct seq_run *s, const struct seq_header *h, bool hgm);
/* 0 ok (or skipped), 1 a difference (@s->why), -errno broken. */
int seq_run_step(struct seq_run *s, const struct seqrt_op *op);
void seq_run_stop(struct seq_run *s);
/* A fresh run of @ops: 0 pass, 1 difference at *@fail_step, -errno. */
int seq_run_ops(const struct seq_header *h, bool hgm,
		const struct seqrt_op *ops, int n, int *fail_step, char *why,
		size_t len);

#endif
