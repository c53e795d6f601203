// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel memory a mapping run will need, estimated before the run so a
 * stress that cannot fit is refused instead of driving the machine into
 * the OOM killer, and the VMA count of a process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ht.h"

static unsigned long div_up(unsigned long a, unsigned long b)
{
	return (a + b - 1) / b;
}

/*
 * Page table geometry from the base page (x86_64 4-level paging: a PTE
 * table maps 2 MiB, a PMD table 1 GiB, a PUD table 512 GiB).  The @vmas
 * mappings lie next to each other from a PUD-size aligned start (one
 * mapping per huge page), so huge-mapped PMD-size pages need one PMD
 * entry each and share PMD tables; PUD-size pages need one PUD entry
 * each.  HGM maps every base page: one PTE table per PMD span, and
 * PUD-size pages also need their own PMD table.
 */
void ht_kmem_estimate(unsigned long procs, unsigned long vmas,
		      unsigned long psize, enum ht_gran g, unsigned long pieces,
		      struct ht_kmem_est *e)
{
	unsigned long pmd = ht_pmd_size(), pud = ht_pud_size();
	unsigned long span = vmas * psize;
	/* PTE tables per VMA of a PUD-sized page: one per 2 MiB touched. */
	unsigned long touched = psize / pmd;

	if (pieces && pieces < touched)
		touched = pieces;

	memset(e, 0, sizeof(*e));
	e->vmas = procs * vmas;
	e->pud_tables = procs * div_up(span, pud * (pud / pmd));
	if (psize >= pud) {
		if (g == HT_GRAN_HGM) {
			e->pmd_tables = procs * vmas * (psize / pud);
			e->pte_tables = procs * vmas * touched;
		}
	} else {
		e->pmd_tables = procs * div_up(span, pud);
		if (g == HT_GRAN_HGM)
			e->pte_tables = procs * div_up(span, pmd);
	}
	e->vma_bytes = e->vmas * HT_KMEM_VMA_BYTES;
	/* a page table is one base page */
	e->table_bytes = (e->pte_tables + e->pmd_tables + e->pud_tables) *
			 ht_base_page_size();
	e->proc_bytes = procs * HT_KMEM_PROC_BYTES;
	e->total_bytes = e->vma_bytes + e->table_bytes + e->proc_bytes;
}

long ht_vma_count(pid_t pid)
{
	char path[64];
	char *buf, *p;
	long n = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	buf = ht_slurp(path, NULL);
	if (!buf)
		return -errno;
	for (p = buf; *p; p++)
		n += *p == '\n';
	free(buf);
	return n;
}
