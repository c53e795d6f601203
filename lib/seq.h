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
	SEQ_PTE_HUGE, /* one huge entry: the whole page */
	SEQ_PTE_PIECES, /* an HGM PTE table: the pieces in bits */
};

/* One worker's mapping of one page. */
struct seq_map {
	bool mapped, split, reg, ro;
	enum seq_pte pte;
	uint64_t bits[SEQRT_WORDS];
};

/*
 * What a sequence's results depend on besides its operations: the page
 * size, the nodes and the kernel; written in the replay file, so that a
 * replay or a reproducer models what the run modelled.
 */
struct seq_machine {
	unsigned long psize; /* huge page size, bytes (0 in a header: 2 MiB) */
	int nodes; /* nodes a migration can target: 0 .. nodes-1 (1 or 2) */
	bool head_only; /* see struct seq_model */
	/*
	 * Gigantic pages only (psize above 2 MiB): the pool has no surplus
	 * page to lend a migration (alloc_migrate_hugetlb_folio() refuses
	 * gigantic pages), so a move needs a free page on the target node,
	 * and the model follows every page's node: new pages come from node
	 * @prefer first (MPOL_PREFERRED), then from the other one.
	 */
	int prefer;
	unsigned long node_free[2]; /* free pages per node, file empty */
};

/* psize above 2 MiB: see struct seq_machine. */
bool seq_gigantic(unsigned long psize);

struct seq_model {
	int npages, nslots; /* pages in the file; worker slots in use */
	struct seq_machine mc; /* nodes, head_only: see below */
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
	 * Node of each cached page, -1 while unknown: where a new 2 MiB page
	 * lands is the allocator's choice, not modelled; after a migration
	 * it is known.  Gigantic pages: always known (struct seq_machine).
	 * mc.nodes: nodes 0 .. nodes-1 have memory.
	 * mc.head_only: move_pages() moves a hugetlb page only through its
	 * first 4 KiB; another address keeps -EACCES (before 6.12:
	 * add_page_for_migration() isolated only a head page; see
	 * selftests/migration.c).
	 */
	int node[SEQRT_MAX_P];
	/* The worker and page of the last operation applied (-1: none). */
	int last_w, last_p;
	uint8_t val[SEQRT_MAX_P][SEQRT_PIECES]; /* first byte of each piece */
	unsigned long free0; /* free pool pages with the file empty */
};

/* 2 MiB pages, one node, 6.12 or later until seq_model_machine(). */
void seq_model_init(struct seq_model *m, int npages, int nslots, bool hgm,
		    unsigned long free0);
void seq_model_machine(struct seq_model *m, const struct seq_machine *mc);
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
	struct seq_machine mc;
	bool has_mc; /* read from a file that has the '# machine' line */
	bool inject_bug; /* see struct seq_model; not in the file */
	bool more_ops; /* see struct seq_model; not in the file */
};
/*
 * The replay file: "# hgm_seq seed=S pages=N slots=M", "# machine
 * psize_kb=K nodes=N head_only=B prefer=P node_free=A,B" (a file without
 * it: 2 MiB pages, this machine's nodes), then one op a line.
 */
#define SEQ_HEADER_LINES 2
/* Line @i (0 .. SEQ_HEADER_LINES - 1) of the file's header, no newline. */
void seq_header_line(const struct seq_header *h, int i, char *buf, size_t len);
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
/* Is there HGM for @psize pages?  NULL or the probe's reason (in @why). */
const char *seq_probe_hgm(unsigned long psize, char *why, size_t len);
/*
 * This machine's facts for a file of @npages pages of @psize (@mc), or
 * -errno with @why.  With @want (a replay file's), they must agree.
 */
int seq_machine_read(struct seq_machine *mc, unsigned long psize, int npages,
		     const struct seq_machine *want, char *why, size_t len);
int seq_run_start(struct seq_run *s, const struct seq_header *h, bool hgm);
/* 0 ok (or skipped), 1 a difference (@s->why), -errno broken. */
int seq_run_step(struct seq_run *s, const struct seqrt_op *op);
void seq_run_stop(struct seq_run *s);
/* A fresh run of @ops: 0 pass, 1 difference at *@fail_step, -errno. */
int seq_run_ops(const struct seq_header *h, bool hgm,
		const struct seqrt_op *ops, int n, int *fail_step, char *why,
		size_t len);

#endif
