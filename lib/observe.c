// SPDX-License-Identifier: GPL-2.0
/* Everything one process shows about one huge page, read in one place. */
#define _GNU_SOURCE
#include <errno.h>
#include <numaif.h>
#include <string.h>

#include "ht.h"

int ht_observe(pid_t pid, unsigned long addr, unsigned long psize,
	       struct ht_obs *o)
{
	size_t ps = ht_base_page_size();
	unsigned long tail = addr + psize - ps;
	int ret;

	memset(o, 0, sizeof(*o));
	ret = ht_smaps_read(pid, addr, &o->vma);
	if (ret)
		return ret;
	ret = ht_numa_maps_read(pid, o->vma.start, &o->nm);
	if (ret && ret != -ENOENT)
		return ret;
	o->nm_found = ret == 0;
	ret = ht_status_read(pid, "HugetlbPages", &o->hugetlb_kb);
	if (ret)
		return ret;
	ret = ht_pagemap_read(pid, addr, &o->pm);
	if (!ret)
		ret = ht_pagemap_read(pid, tail, &o->pm_tail);
	if (ret)
		return ret;
	o->pfn = o->pm & HT_PM_PFN_MASK;
	o->pfn_tail = o->pm_tail & HT_PM_PFN_MASK;
	if ((o->pm & HT_PM_PRESENT) && o->pfn) {
		ret = ht_kpagecount_read(o->pfn, &o->count_head);
		if (!ret)
			ret = ht_kpageflags_read(o->pfn, &o->flags_head);
		if (ret)
			return ret;
	}
	if ((o->pm_tail & HT_PM_PRESENT) && o->pfn_tail) {
		ret = ht_kpagecount_read(o->pfn_tail, &o->count_tail);
		if (!ret)
			ret = ht_kpageflags_read(o->pfn_tail, &o->flags_tail);
		if (ret)
			return ret;
	}
	o->present = ht_pagemap_count_present(pid, addr, psize);
	return o->present < 0 ? (int)o->present : 0;
}

int ht_page_node(pid_t pid, void *addr)
{
	int status = -1;

	if (move_pages(pid, 1, &addr, NULL, &status, 0))
		return -errno;
	return status;
}
