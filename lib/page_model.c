// SPDX-License-Identifier: GPL-2.0
/*
 * The page model: who maps one huge page, and what each of them must see.
 * The rules, as 6.12 has them for a hugetlb folio and as our HGM keeps
 * them (one reference and one mapcount per (VMA, folio) however many
 * pieces are mapped):
 *   kpagecount (head and tail) = (VMA, page) pairs, over all processes;
 *   the page is "shared" (Shared_Hugetlb, no PM_MMAP_EXCLUSIVE) when that
 *   count is over 1, even for two VMAs of one process;
 *   HugetlbPages of a process = page size x its VMAs mapping the page,
 *   plus whatever else it maps;
 *   smaps counts what a VMA maps: the page, or its HGM pieces (4 kB each).
 * A poisoned page (memory_failure(), huge granularity) is mapped nowhere;
 * each VMA keeps a hwpoison entry, which smaps still counts
 * (smaps_hugetlb_range() looks through the swap-type entry to the page),
 * measured:
 *   6.12: a non-present entry is "maybe shared": Shared_Hugetlb = size;
 *   6.1:  classified by the page's mapcount (0): Private_Hugetlb = size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ht.h"

void ht_model_init(struct ht_page_model *pm, unsigned long psize, int node)
{
	memset(pm, 0, sizeof(*pm));
	pm->psize = psize;
	pm->node = node;
}

static struct ht_mapper *find(struct ht_page_model *pm, pid_t pid)
{
	for (int i = 0; i < pm->n; i++)
		if (pm->m[i].pid == pid)
			return &pm->m[i];
	/* A case with more mappers than this is the case's own bug. */
	if (pm->n == HT_MODEL_MAPPERS) {
		fprintf(stderr, "page model: more than %d mappers\n",
			HT_MODEL_MAPPERS);
		abort();
	}
	pm->m[pm->n] = (struct ht_mapper){ .pid = pid };
	return &pm->m[pm->n++];
}

static const struct ht_mapper *lookup(const struct ht_page_model *pm, pid_t pid)
{
	for (int i = 0; i < pm->n; i++)
		if (pm->m[i].pid == pid)
			return &pm->m[i];
	return NULL;
}

void ht_model_map(struct ht_page_model *pm, pid_t pid, int vmas)
{
	struct ht_mapper *m = find(pm, pid);

	m->vmas += vmas;
	if (m->vmas < 0)
		m->vmas = 0;
}

void ht_model_map_pieces(struct ht_page_model *pm, pid_t pid, int vmas,
			 unsigned long pieces)
{
	ht_model_map(pm, pid, vmas);
	find(pm, pid)->pieces = pieces;
}

void ht_model_unmap(struct ht_page_model *pm, pid_t pid)
{
	find(pm, pid)->vmas = 0;
}

void ht_model_poison(struct ht_page_model *pm)
{
	pm->poisoned = true;
}

static bool poison_entry_shared(void)
{
	return !ht_kernel_before(6, 12);
}

void ht_model_base(struct ht_page_model *pm, pid_t pid, unsigned long kb)
{
	find(pm, pid)->base_kb = kb;
}

unsigned long ht_model_mapcount(const struct ht_page_model *pm)
{
	unsigned long n = 0;

	if (pm->poisoned)
		return 0;
	for (int i = 0; i < pm->n; i++)
		n += pm->m[i].vmas;
	return n;
}

struct ht_expect ht_model_view(const struct ht_page_model *pm, pid_t pid)
{
	const struct ht_mapper *m = lookup(pm, pid);
	unsigned long count = ht_model_mapcount(pm);
	int vmas = m ? m->vmas : 0;

	if (pm->poisoned)
		return (struct ht_expect){
			.poisoned = vmas > 0,
			.shared = poison_entry_shared(),
			.hugetlb_kb = m ? m->base_kb : 0,
			.node = -1,
		};
	return (struct ht_expect){
		.mapped = vmas > 0,
		.shared = count > 1,
		.anon = pm->anon,
		.mapcount = count,
		.hugetlb_kb = (m ? m->base_kb : 0) + vmas * (pm->psize / HT_KB),
		.node = vmas > 0 ? pm->node : -1,
		.pieces = m ? m->pieces : 0,
	};
}

void ht_model_smaps_kb(const struct ht_page_model *pm, pid_t pid,
		       unsigned long *shared_kb, unsigned long *private_kb)
{
	const struct ht_mapper *m = lookup(pm, pid);
	unsigned long vma_kb = m && m->pieces ?
				       m->pieces * HT_BASE_PAGE / HT_KB :
				       pm->psize / HT_KB;
	unsigned long kb = (m ? m->vmas : 0) * vma_kb;
	bool shared = pm->poisoned ? poison_entry_shared() :
				     ht_model_mapcount(pm) > 1;

	*shared_kb = shared ? kb : 0;
	*private_kb = shared ? 0 : kb;
}
