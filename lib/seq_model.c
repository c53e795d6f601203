// SPDX-License-Identifier: GPL-2.0
/*
 * The hgm_seq model: what the kernel must do for each operation, with no
 * kernel in sight.  The rules come from what the battery already asserts
 * (selftests/uffd_minor.c, hgm_paths.c, refcount.c) and from the HGM
 * series (kernel-patches/0006, 0008, 0011):
 *
 *   one reference, one mapcount and the page's size of HugetlbPages per
 *       (VMA, page) with anything present, whether one huge entry or N
 *       pieces; smaps counts 4 kB a piece, Shared when the mapcount is > 1
 *   MADV_SPLIT: 0 on a shared hugetlb VMA with HGM, else EINVAL; it maps
 *       and unmaps nothing
 *   4 KiB CONTINUE: ENOENT unregistered, EINVAL not split (or no HGM),
 *       EEXIST huge-mapped or piece present, EFAULT not cached
 *   a fault: no page cached -> a new zeroed page, mapped huge; cached and
 *       nothing mapped -> huge; under an HGM table -> that piece; in a
 *       MINOR-registered VMA on a cached page -> a message to the uffd
 *       (the op does not apply: nobody would answer it)
 *   fork copies no entries of a shared VMA and drops the registration
 *   mmap read-write beyond EOF extends the file (hugetlbfs_file_mmap)
 *   DONTNEED, punch, truncate unmap (the HGM table goes with them)
 *   MADV_COLLAPSE: an HGM VMA's pieces become one huge entry; EINVAL on a
 *       VMA that is not split
 *   move_pages() (mm/migrate.c add_page_for_migration()): ENODEV for a
 *       node without memory; ENOENT where nothing is present; the node
 *       if the page is there already; EACCES if it is mapped by more
 *       than one (VMA, page) pair without MPOL_MF_MOVE_ALL, and before
 *       6.12 for any address but the page's first 4 KiB; else the page
 *       moves with every mapping as it was, pieces included (0009, 0010)
 *       and the pool's free count is the same (the old page is freed, or
 *       the new one was a temporary surplus page that takes its place)
 *   gigantic pages (struct seq_machine): a new page comes from the
 *       preferred node if it has a free page, else from the other; a
 *       move needs a free page on the target node (no surplus to lend):
 *       drawn only where there is one
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "seq.h"

void seq_rng_seed(struct seq_rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t seq_rng_next(struct seq_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

unsigned int seq_rng_below(struct seq_rng *r, unsigned int n)
{
	return n ? (unsigned int)(seq_rng_next(r) % n) : 0;
}

void seq_model_init(struct seq_model *m, int npages, int nslots, bool hgm,
		    unsigned long free0)
{
	memset(m, 0, sizeof(*m));
	m->npages = npages;
	m->nslots = nslots;
	m->hgm = hgm;
	m->size = npages;
	m->free0 = free0;
	m->mc.psize = SEQRT_PSIZE_2M;
	m->mc.nodes = 1;
	m->last_w = m->last_p = -1;
	for (int p = 0; p < SEQRT_MAX_P; p++)
		m->node[p] = -1;
}

bool seq_gigantic(unsigned long psize)
{
	return psize > SEQRT_PSIZE_2M;
}

void seq_model_machine(struct seq_model *m, const struct seq_machine *mc)
{
	m->mc = *mc;
	if (!m->mc.psize)
		m->mc.psize = SEQRT_PSIZE_2M;
}

/* Free pages on node @n: gigantic pages only, where every node is known. */
static unsigned long node_free(const struct seq_model *m, int n)
{
	unsigned long used = 0;

	for (int p = 0; p < m->npages; p++)
		used += m->cached[p] && m->node[p] == n;
	return m->mc.node_free[n] - used;
}

/* Page @p enters the page cache (zeroed: val is already 0). */
static void cache(struct seq_model *m, int p)
{
	m->cached[p] = true;
	if (!seq_gigantic(m->mc.psize))
		return;
	m->node[p] = -1;
	for (int i = 0; i < m->mc.nodes && m->node[p] < 0; i++) {
		int n = (m->mc.prefer + i) % m->mc.nodes;

		if (node_free(m, n))
			m->node[p] = n;
	}
}

bool seq_piece_present(const struct seq_map *mp, int k)
{
	if (mp->pte == SEQ_PTE_HUGE)
		return true;
	return mp->pte == SEQ_PTE_PIECES && (mp->bits[k / 64] >> (k % 64)) & 1;
}

unsigned long seq_model_mapcount(const struct seq_model *m, int p)
{
	unsigned long n = 0;

	for (int w = 0; w < m->nslots; w++)
		n += m->alive[w] && m->map[w][p].pte != SEQ_PTE_NONE;
	return n;
}

static void unmap_all(struct seq_model *m, int p)
{
	for (int w = 0; w < SEQRT_MAX_W; w++) {
		m->map[w][p].pte = SEQ_PTE_NONE;
		memset(m->map[w][p].bits, 0, sizeof(m->map[w][p].bits));
	}
}

/* The page leaves the page cache: unmapped everywhere, next one zeroed. */
static void uncache(struct seq_model *m, int p)
{
	unmap_all(m, p);
	m->cached[p] = false;
	m->node[p] = -1;
	memset(m->val[p], 0, sizeof(m->val[p]));
}

static int free_slot(const struct seq_model *m)
{
	for (int w = 0; w < m->nslots; w++)
		if (!m->alive[w])
			return w;
	return -1;
}

static void set_piece(struct seq_map *mp, int k)
{
	mp->pte = SEQ_PTE_PIECES;
	mp->bits[k / 64] |= 1ULL << (k % 64);
}

/*
 * A read or write of piece @k, by the worker or through GUP (GUP_READ,
 * GUP_WRITE by another process; PIN_READ by the worker's vmsplice()),
 * which gets EFAULT where the worker gets a signal; false when it would
 * wait on the uffd.
 */
static bool apply_access(struct seq_model *m, const struct seqrt_op *op,
			 int64_t *ret)
{
	struct seq_map *mp = &m->map[op->w][op->p];
	bool write = op->kind == SEQ_WRITE || op->kind == SEQ_GUP_WRITE;
	bool gup = op->kind == SEQ_GUP_READ || op->kind == SEQ_GUP_WRITE ||
		   op->kind == SEQ_PIN_READ;

	if (!mp->mapped || (write && mp->ro)) {
		*ret = gup ? -EFAULT : SEQRT_SIG(SIGSEGV);
		return true;
	}
	if (!seq_piece_present(mp, op->k)) {
		if (op->p >= m->size) {
			*ret = gup ? -EFAULT : SEQRT_SIG(SIGBUS);
			return true;
		}
		if (m->cached[op->p] && mp->reg)
			return false;
		if (!m->cached[op->p])
			cache(m, op->p);
		if (mp->pte == SEQ_PTE_PIECES)
			set_piece(mp, op->k);
		else
			mp->pte = SEQ_PTE_HUGE;
	}
	if (write)
		m->val[op->p][op->k] = (uint8_t)op->v;
	*ret = write ? 0 : m->val[op->p][op->k];
	return true;
}

static int64_t apply_continue(struct seq_model *m, const struct seqrt_op *op)
{
	struct seq_map *mp = &m->map[op->w][op->p];

	if (!mp->mapped || !mp->reg)
		return -ENOENT;
	if (!m->hgm || !mp->split)
		return -EINVAL;
	if (mp->pte == SEQ_PTE_HUGE)
		return -EEXIST;
	if (!m->cached[op->p])
		return -EFAULT;
	if (seq_piece_present(mp, op->k))
		return -EEXIST;
	set_piece(mp, op->k);
	return 0;
}

/*
 * A 2 MiB CONTINUE in a split VMA continues piece by piece up to the
 * first present one (mm/userfaultfd.c): not modelled, so not applied.
 */
static bool apply_continue_huge(struct seq_model *m, const struct seqrt_op *op,
				int64_t *ret)
{
	struct seq_map *mp = &m->map[op->w][op->p];

	if (!mp->mapped || !mp->reg)
		*ret = -ENOENT;
	else if (m->hgm && mp->split)
		return false;
	else if (mp->pte != SEQ_PTE_NONE)
		*ret = -EEXIST;
	else if (!m->cached[op->p])
		*ret = -EFAULT;
	else
		mp->pte = SEQ_PTE_HUGE;
	return true;
}

static bool apply_migrate(struct seq_model *m, const struct seqrt_op *op,
			  int64_t *ret)
{
	const struct seq_map *mp = &m->map[op->w][op->p];
	int node = op->v & 1;

	/*
	 * Not in a hugetlb VMA: the slot's PROT_NONE reservation, where 6.1
	 * says EFAULT (follow_page(FOLL_DUMP) in an anonymous VMA) and 6.12
	 * ENOENT: not drawn.
	 */
	if (!mp->mapped)
		return false;
	if (node >= m->mc.nodes)
		*ret = -ENODEV;
	else if (!seq_piece_present(mp, op->k))
		*ret = -ENOENT;
	else if (m->node[op->p] == node)
		*ret = node;
	else if (m->mc.head_only && op->k && m->node[op->p] >= 0)
		*ret = -EACCES;
	else if (m->mc.head_only && op->k)
		return false; /* EACCES, or the node if it is there: unknown */
	else if (!(op->v & 2) && seq_model_mapcount(m, op->p) > 1 &&
		 m->node[op->p] >= 0)
		*ret = -EACCES;
	else if (!(op->v & 2) && seq_model_mapcount(m, op->p) > 1)
		return false; /* EACCES, or the node if it is there: unknown */
	else if (seq_gigantic(m->mc.psize) && !node_free(m, node))
		return false; /* no page to move to: the failure not modelled */
	else
		*ret = m->node[op->p] = node;
	return true;
}

/* Operations on the file itself: no worker involved. */
static void apply_file(struct seq_model *m, const struct seqrt_op *op)
{
	switch (op->kind) {
	case SEQ_PUNCH:
		if (m->cached[op->p])
			uncache(m, op->p);
		break;
	case SEQ_FALLOC:
		if (!m->cached[op->p])
			cache(m, op->p);
		break;
	case SEQ_TRUNC:
		for (int p = op->p; p < m->npages; p++)
			if (m->cached[p])
				uncache(m, p);
		m->size = op->p;
		break;
	}
}

static bool apply_proc(struct seq_model *m, const struct seqrt_op *op,
		       int64_t *ret, int *child)
{
	int c;

	switch (op->kind) {
	case SEQ_SPAWN:
		if (m->alive[op->w])
			return false;
		memset(m->map[op->w], 0, sizeof(m->map[op->w]));
		m->alive[op->w] = true;
		*child = op->w;
		return true;
	case SEQ_FORK:
		c = free_slot(m);
		if (!m->alive[op->w] || c < 0)
			return false;
		/* Shared VMAs: no entries copied, registration dropped. */
		for (int p = 0; p < m->npages; p++) {
			m->map[c][p] = m->map[op->w][p];
			m->map[c][p].reg = false;
			if (m->inject_bug)
				continue;
			m->map[c][p].pte = SEQ_PTE_NONE;
			memset(m->map[c][p].bits, 0, sizeof(m->map[c][p].bits));
		}
		m->alive[c] = true;
		*child = c;
		return true;
	default: /* SEQ_EXIT */
		if (!m->alive[op->w])
			return false;
		m->alive[op->w] = false;
		memset(m->map[op->w], 0, sizeof(m->map[op->w]));
		return true;
	}
}

/* Operations of a live worker on its slot of page p. */
static bool apply_map(struct seq_model *m, const struct seqrt_op *op,
		      int64_t *ret)
{
	struct seq_map *mp = &m->map[op->w][op->p];

	switch (op->kind) {
	case SEQ_MAP:
		if (mp->mapped)
			return false;
		memset(mp, 0, sizeof(*mp));
		mp->mapped = true;
		if (m->size < op->p + 1) /* read-write: extends the file */
			m->size = op->p + 1;
		return true;
	case SEQ_SPLIT:
		if (!mp->mapped || !m->hgm)
			*ret = -EINVAL;
		else
			mp->split = true;
		return true;
	case SEQ_COLLAPSE:
		if (!mp->mapped)
			return false;
		if (!m->hgm || !mp->split)
			*ret = -EINVAL;
		else if (mp->pte == SEQ_PTE_PIECES)
			mp->pte = SEQ_PTE_HUGE;
		return true;
	}
	if (!mp->mapped)
		return false;
	switch (op->kind) {
	case SEQ_UNMAP:
		memset(mp, 0, sizeof(*mp));
		return true;
	case SEQ_REG:
	case SEQ_UNREG:
		if (mp->reg == (op->kind == SEQ_REG))
			return false;
		mp->reg = op->kind == SEQ_REG;
		return true;
	case SEQ_PROT_RO:
	case SEQ_PROT_RW:
		mp->ro = op->kind == SEQ_PROT_RO;
		return true;
	default: /* SEQ_DONTNEED */
		mp->pte = SEQ_PTE_NONE;
		memset(mp->bits, 0, sizeof(mp->bits));
		return true;
	}
}

static bool valid(const struct seq_model *m, const struct seqrt_op *op)
{
	if (op->kind < 0 || op->kind >= SEQ_NKINDS || op->w < 0 ||
	    op->w >= m->nslots || op->k < 0 || op->k >= SEQRT_PIECES ||
	    op->v < 0 || op->v > 255 || op->p < 0)
		return false;
	if (op->kind == SEQ_MIGRATE && op->v > 3)
		return false;
	return op->kind == SEQ_TRUNC ? op->p <= m->npages : op->p < m->npages;
}

static bool apply(struct seq_model *m, const struct seqrt_op *op, int64_t *ret,
		  int *child);

bool seq_model_apply(struct seq_model *m, const struct seqrt_op *op,
		     int64_t *ret, int *child)
{
	*ret = 0;
	*child = -1;
	if (!valid(m, op) || !apply(m, op, ret, child))
		return false;
	m->last_w = *child >= 0 ? *child : op->w;
	m->last_p = op->p < m->npages ? op->p : 0;
	return true;
}

static bool apply(struct seq_model *m, const struct seqrt_op *op, int64_t *ret,
		  int *child)
{
	switch (op->kind) {
	case SEQ_FALLOC:
		/* Mode 0 beyond EOF would extend the file: kept simple. */
		if (op->p >= m->size)
			return false;
		/* fall through */
	case SEQ_PUNCH:
	case SEQ_TRUNC:
		apply_file(m, op);
		return true;
	case SEQ_SPAWN:
	case SEQ_FORK:
	case SEQ_EXIT:
		return apply_proc(m, op, ret, child);
	}
	if (!m->alive[op->w])
		return false;
	switch (op->kind) {
	case SEQ_READ:
	case SEQ_WRITE:
	case SEQ_GUP_READ:
	case SEQ_GUP_WRITE:
	case SEQ_PIN_READ:
		return apply_access(m, op, ret);
	case SEQ_CONT:
		*ret = apply_continue(m, op);
		return true;
	case SEQ_CONT_HUGE:
		return apply_continue_huge(m, op, ret);
	case SEQ_MIGRATE:
		return apply_migrate(m, op, ret);
	default:
		return apply_map(m, op, ret);
	}
}

void seq_model_expect(const struct seq_model *m, struct seqrt_obs *o)
{
	unsigned long cached = 0;

	memset(o, 0, sizeof(*o));
	for (int p = 0; p < m->npages; p++) {
		o->mapcount[p] = seq_model_mapcount(m, p);
		cached += m->cached[p];
	}
	o->free = m->free0 - cached;
	for (int p = 0; p < SEQRT_MAX_P; p++)
		o->node[p] = -1;
	for (int w = 0; w < m->nslots; w++) {
		o->alive[w] = m->alive[w];
		for (int p = 0; o->alive[w] && p < m->npages; p++) {
			const struct seq_map *mp = &m->map[w][p];
			struct seqrt_page_obs *po = &o->pg[w][p];
			unsigned long kb = 0;

			int n = 0;

			po->huge_vma = mp->mapped;
			if (mp->pte == SEQ_PTE_HUGE)
				memset(po->bits, 0xff, sizeof(po->bits));
			else if (mp->pte == SEQ_PTE_PIECES)
				memcpy(po->bits, mp->bits, sizeof(po->bits));
			for (int i = 0; i < SEQRT_WORDS; i++)
				n += __builtin_popcountll(po->bits[i]);
			kb = mp->pte == SEQ_PTE_HUGE ? m->mc.psize / 1024 :
						       4UL * n;
			/*
			 * smaps and pagemap call a hugetlb folio shared when
			 * its mapcount, one per (VMA, folio), is above one.
			 */
			if (o->mapcount[p] > 1) {
				po->shared_kb = kb;
			} else {
				po->private_kb = kb;
				po->excl = n;
			}
			o->hugetlb_kb[w] += kb ? m->mc.psize / 1024 : 0;
			/* read_node() asks a worker with a piece present. */
			if (kb)
				o->node[p] = m->node[p];
		}
	}
}
