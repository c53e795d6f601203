// SPDX-License-Identifier: GPL-2.0
/*
 * hgm_seq: the sequence generator, the replay file format and the
 * shrinker.  Pure functions: the unit tests run them without a kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "seq.h"

/*
 * How often each kind is drawn.  CONTINUE, reads and writes dominate:
 * they are where pieces appear and where contents are checked; the
 * operations that throw state away are rarer so that state builds up.
 * The kinds from SEQ_GUP_WRITE on are drawn only with --more-ops, so
 * that a seed draws the sequence it drew before they existed.
 */
static const unsigned char weight[SEQ_NKINDS] = {
	[SEQ_SPAWN] = 1,     [SEQ_FORK] = 2,	 [SEQ_EXIT] = 1,
	[SEQ_MAP] = 6,	     [SEQ_UNMAP] = 1,	 [SEQ_SPLIT] = 5,
	[SEQ_REG] = 4,	     [SEQ_UNREG] = 1,	 [SEQ_CONT] = 14,
	[SEQ_CONT_HUGE] = 2, [SEQ_READ] = 10,	 [SEQ_WRITE] = 8,
	[SEQ_PROT_RO] = 2,   [SEQ_PROT_RW] = 2,	 [SEQ_DONTNEED] = 2,
	[SEQ_COLLAPSE] = 2,  [SEQ_PUNCH] = 1,	 [SEQ_FALLOC] = 4,
	[SEQ_TRUNC] = 1,     [SEQ_MIGRATE] = 2,	 [SEQ_GUP_READ] = 3,
	[SEQ_GUP_WRITE] = 3, [SEQ_PIN_READ] = 3,
};

/*
 * Pieces drawn half of the time, so that operations meet each other; the
 * first and last entries of a table, where loop bounds go wrong, most.
 */
static const int hot[] = { 0, 0, 0, 1, 2, 255, 256, 510, 511, 511, 511 };

static int pick_kind(struct seq_rng *r, bool more)
{
	int nkinds = more ? SEQ_NKINDS : SEQ_GUP_WRITE;
	unsigned int total = 0, x;
	int k;

	for (k = 0; k < nkinds; k++)
		total += weight[k];
	x = seq_rng_below(r, total);
	for (k = 0; x >= weight[k]; k++)
		x -= weight[k];
	return k;
}

static int pick_worker(struct seq_rng *r, const struct seq_model *m, bool alive)
{
	int cand[SEQRT_MAX_W], n = 0;

	for (int w = 0; w < m->nslots; w++)
		if (m->alive[w] == alive)
			cand[n++] = w;
	return n ? cand[seq_rng_below(r, n)] : 0;
}

/*
 * A present piece of @mp, or -1; half of the time one of the hot pieces
 * if one is present: the first and last entries of a table are where
 * loop bounds go wrong.
 */
static int pick_present(struct seq_rng *r, const struct seq_map *mp)
{
	int start = (int)seq_rng_below(r, SEQRT_PIECES);
	int n = (int)(sizeof(hot) / sizeof(hot[0]));

	if (seq_rng_below(r, 2)) {
		int h = (int)seq_rng_below(r, (unsigned int)n);

		for (int i = 0; i < n; i++)
			if (seq_piece_present(mp, hot[(h + i) % n]))
				return hot[(h + i) % n];
	}

	for (int i = 0; i < SEQRT_PIECES; i++) {
		int k = (start + i) % SEQRT_PIECES;

		if (seq_piece_present(mp, k))
			return k;
	}
	return -1;
}

/*
 * A page @w maps (and for a CONTINUE has split and registered, in the
 * page cache and not mapped huge), or -1: uniform picks would mostly hit
 * unmapped pages and prove only errnos.
 */
static int pick_page(struct seq_rng *r, const struct seq_model *m, int w,
		     bool ready)
{
	int cand[SEQRT_MAX_P], n = 0;

	for (int p = 0; p < m->npages; p++) {
		const struct seq_map *mp = &m->map[w][p];

		if (mp->mapped &&
		    (!ready || (mp->split && mp->reg && m->cached[p] &&
				mp->pte != SEQ_PTE_HUGE)))
			cand[n++] = p;
	}
	return n ? cand[seq_rng_below(r, n)] : -1;
}

/*
 * A CONTINUE where it can map a piece: a (worker, page) pair that is
 * ready (see pick_page) and a piece not present there.  False if none.
 */
static bool pick_continue(struct seq_rng *r, const struct seq_model *m,
			  struct seqrt_op *op)
{
	int cand[SEQRT_MAX_W * SEQRT_MAX_P], n = 0, k;

	for (int w = 0; w < m->nslots; w++) {
		if (!m->alive[w])
			continue;
		for (int p = 0; p < m->npages; p++) {
			const struct seq_map *mp = &m->map[w][p];

			if (mp->mapped && mp->split && mp->reg &&
			    m->cached[p] && mp->pte != SEQ_PTE_HUGE)
				cand[n++] = w * SEQRT_MAX_P + p;
		}
	}
	if (!n)
		return false;
	k = cand[seq_rng_below(r, n)];
	op->w = k / SEQRT_MAX_P;
	op->p = k % SEQRT_MAX_P;
	for (int i = 0;
	     i < 8 && seq_piece_present(&m->map[op->w][op->p], op->k); i++)
		op->k = (int)seq_rng_below(r, SEQRT_PIECES);
	return true;
}

static void gen_one(struct seq_rng *r, const struct seq_model *m,
		    struct seqrt_op *op)
{
	int k;

	op->kind = pick_kind(r, m->more_ops);
	op->w = pick_worker(r, m, op->kind != SEQ_SPAWN);
	op->p = (int)seq_rng_below(r, m->npages + (op->kind == SEQ_TRUNC));
	op->k = seq_rng_below(r, 2) ?
			hot[seq_rng_below(r, sizeof(hot) / sizeof(hot[0]))] :
			(int)seq_rng_below(r, SEQRT_PIECES);
	op->v = op->kind == SEQ_WRITE || op->kind == SEQ_GUP_WRITE ?
			1 + (int)seq_rng_below(r, 255) :
			0;
	if (op->kind == SEQ_MIGRATE) /* a node; MPOL_MF_MOVE_ALL half of it */
		op->v = (int)seq_rng_below(r, (unsigned int)m->mc.nodes) |
			(int)seq_rng_below(r, 2) << 1;
	if (op->kind == SEQ_CONT && seq_rng_below(r, 4) &&
	    pick_continue(r, m, op))
		return;
	/*
	 * Half of the time the mapping of the last operation again: a
	 * mprotect, then a write of a piece; a CONTINUE, then a migration.
	 */
	if (m->last_w >= 0 && m->alive[m->last_w] && op->kind != SEQ_SPAWN &&
	    op->kind != SEQ_TRUNC && seq_rng_below(r, 2)) {
		op->w = m->last_w;
		op->p = m->last_p;
		goto piece;
	}
	if (op->kind != SEQ_MAP && op->kind != SEQ_TRUNC &&
	    seq_rng_below(r, 4)) {
		k = pick_page(r, m, op->w, op->kind == SEQ_CONT);
		if (k >= 0)
			op->p = k;
	}
piece:
	/* Reads, writes and migrations of present pieces: they do most. */
	if ((op->kind == SEQ_READ || op->kind == SEQ_WRITE ||
	     op->kind == SEQ_GUP_READ || op->kind == SEQ_MIGRATE ||
	     op->kind == SEQ_GUP_WRITE || op->kind == SEQ_PIN_READ) &&
	    seq_rng_below(r, 2)) {
		k = pick_present(r, &m->map[op->w][op->p]);
		if (k >= 0)
			op->k = k;
	}
}

void seq_gen(struct seq_rng *r, const struct seq_model *m, struct seqrt_op *op)
{
	struct seq_model *scratch = malloc(sizeof(*scratch));
	int64_t ret;
	int child;

	/* Draw until something applies; a skipped op would prove nothing. */
	for (int tries = 0; tries < 64; tries++) {
		gen_one(r, m, op);
		if (m->huge_only &&
		    (op->kind == SEQ_SPLIT || op->kind == SEQ_CONT ||
		     op->kind == SEQ_COLLAPSE))
			continue;
		if (!scratch)
			break;
		memcpy(scratch, m, sizeof(*m));
		if (!seq_model_apply(scratch, op, &ret, &child))
			continue;
		/*
		 * A refused CONTINUE or migration proves an errno; three in
		 * four are drawn again, so that pieces and moves happen.
		 */
		if ((op->kind == SEQ_CONT || op->kind == SEQ_MIGRATE) &&
		    ret < 0 && seq_rng_below(r, 4))
			continue;
		break;
	}
	free(scratch);
}

void seq_op_format(const struct seqrt_op *op, char *buf, size_t len)
{
	const char *name = op->kind >= 0 && op->kind < SEQ_NKINDS ?
				   seqrt_kind_name[op->kind] :
				   "?";

	snprintf(buf, len, "%s %d %d %d %d", name, op->w, op->p, op->k, op->v);
}

int seq_op_parse(const char *line, struct seqrt_op *op, int npages)
{
	char name[32], extra;
	int kind;

	if (sscanf(line, "%31s %d %d %d %d %c", name, &op->w, &op->p, &op->k,
		   &op->v, &extra) != 5)
		return -EINVAL;
	for (kind = 0; kind < SEQ_NKINDS; kind++)
		if (!strcmp(name, seqrt_kind_name[kind]))
			break;
	op->kind = kind;
	if (kind == SEQ_NKINDS || op->w < 0 || op->w >= SEQRT_MAX_W ||
	    op->p < 0 || op->p > npages || op->k < 0 || op->k >= SEQRT_PIECES ||
	    op->v < 0 || op->v > 255)
		return -EINVAL;
	return 0;
}

void seq_header_line(const struct seq_header *h, int i, char *buf, size_t len)
{
	const struct seq_machine *mc = &h->mc;

	if (i == 0)
		snprintf(buf, len, "# hgm_seq seed=%llu pages=%d slots=%d",
			 (unsigned long long)h->seed, h->npages, h->nslots);
	else
		snprintf(buf, len,
			 "# machine psize_kb=%lu nodes=%d head_only=%d "
			 "prefer=%d node_free=%lu,%lu",
			 (mc->psize ? mc->psize : SEQRT_PSIZE_2M) / 1024,
			 mc->nodes > 1 ? 2 : 1, mc->head_only, mc->prefer,
			 mc->node_free[0], mc->node_free[1]);
}

void seq_file_write(FILE *f, const struct seq_header *h,
		    const struct seqrt_op *ops, int n)
{
	char line[96];

	char buf[160];

	for (int i = 0; i < SEQ_HEADER_LINES; i++) {
		seq_header_line(h, i, buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
	}
	fprintf(f, "# kind worker page piece value\n");
	for (int i = 0; i < n; i++) {
		seq_op_format(&ops[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
}

/* The '# machine' line: 1, 0 not that line, -EINVAL. */
static int parse_machine(const char *line, struct seq_header *h)
{
	struct seq_machine *mc = &h->mc;
	unsigned long kb;
	int head_only;

	if (strncmp(line, "# machine ", 10))
		return 0;
	if (sscanf(line,
		   "# machine psize_kb=%lu nodes=%d head_only=%d prefer=%d "
		   "node_free=%lu,%lu",
		   &kb, &mc->nodes, &head_only, &mc->prefer, &mc->node_free[0],
		   &mc->node_free[1]) != 6 ||
	    kb < SEQRT_PIECES * SEQRT_PS / 1024 || (kb & (kb - 1)) ||
	    mc->nodes < 1 || mc->nodes > 2 || mc->prefer < 0 ||
	    mc->prefer >= mc->nodes)
		return -EINVAL;
	mc->psize = kb * 1024;
	mc->head_only = head_only;
	h->has_mc = true;
	return 1;
}

static int parse_header(const char *line, struct seq_header *h)
{
	unsigned long long seed;

	if (sscanf(line, "# hgm_seq seed=%llu pages=%d slots=%d", &seed,
		   &h->npages, &h->nslots) != 3)
		return 0;
	h->seed = seed;
	if (h->npages < 1 || h->npages > SEQRT_MAX_P || h->nslots < 1 ||
	    h->nslots > SEQRT_MAX_W)
		return -EINVAL;
	return 1;
}

int seq_file_read(const char *path, struct seq_header *h, struct seqrt_op **ops,
		  int *n, char *why, size_t len)
{
	FILE *f = fopen(path, "r");
	int cap = 0, lineno = 0, have = 0, ret = 0;
	char line[256];

	*ops = NULL;
	*n = 0;
	h->has_mc = false;
	memset(&h->mc, 0, sizeof(h->mc));
	if (!f) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#') {
			ret = have ? parse_machine(line, h) :
				     parse_header(line, h);
			if (ret > 0)
				have = 1, ret = 0;
			continue;
		}
		if (strspn(line, " \t\r\n") == strlen(line))
			continue;
		if (*n == cap) {
			struct seqrt_op *nb;

			cap = cap ? 2 * cap : 64;
			nb = realloc(*ops, cap * sizeof(**ops));
			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			*ops = nb;
		}
		if (!have || seq_op_parse(line, &(*ops)[*n], h->npages))
			ret = -EINVAL;
		else
			(*n)++;
	}
	fclose(f);
	if (ret && !strncmp(line, "# machine ", 10))
		snprintf(why, len,
			 "%s:%d: not '# machine psize_kb=K nodes=1|2 "
			 "head_only=0|1 prefer=N node_free=A,B'",
			 path, lineno);
	else if (ret)
		snprintf(
			why, len, "%s:%d: %s", path, lineno,
			have ? "not an operation (kind worker page piece value)" :
			       "no valid '# hgm_seq seed=S pages=N slots=M' line first");
	return ret;
}

/*
 * Delta debugging (Zeller's ddmin, complements only): drop one of
 * @gran chunks at a time; keep any drop that still fails and go
 * coarser, else go finer, down to single operations.
 */
int seq_shrink(struct seqrt_op *ops, int n, seq_fails_fn fails, void *arg,
	       int max_tries)
{
	struct seqrt_op *tmp = malloc((n ? n : 1) * sizeof(*ops));
	int gran = 2, tries = 0;

	while (tmp && n >= 2 && tries < max_tries) {
		int chunk = (n + gran - 1) / gran, m = 0;
		bool reduced = false;

		for (int start = 0; start < n && tries < max_tries;
		     start += chunk) {
			int end = start + chunk < n ? start + chunk : n;

			memcpy(tmp, ops, start * sizeof(*ops));
			memcpy(tmp + start, ops + end,
			       (n - end) * sizeof(*ops));
			m = n - (end - start);
			tries++;
			if (fails(tmp, m, arg)) {
				memcpy(ops, tmp, m * sizeof(*ops));
				n = m;
				reduced = true;
				gran = gran > 2 ? gran - 1 : 2;
				break;
			}
		}
		if (reduced)
			continue;
		if (gran >= n)
			break;
		gran = 2 * gran < n ? 2 * gran : n;
	}
	free(tmp);
	return n;
}
