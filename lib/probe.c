// SPDX-License-Identifier: GPL-2.0
/*
 * Feature probes.  Each returns NULL when the feature is there, or one
 * line saying why not: that line becomes the SKIP reason verbatim.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ht.h"

#define HT_REFCOUNT_KNOB "/sys/kernel/debug/hugetlb/refcount_limit"

static char reason[256];

const char *ht_probe_hgm(unsigned long psize)
{
	unsigned long sizes[HT_MAX_SIZES];
	void *p;
	int fd, n, err;

	n = ht_page_sizes(sizes, HT_MAX_SIZES);
	if (n <= 0)
		return "no HugeTLB page sizes (CONFIG_HUGETLBFS off?)";
	/* HGM may exist for some sizes only (2 MiB first): ask per size. */
	if (!psize)
		psize = sizes[0];
	fd = ht_memfd_hugetlb("ht-probe-hgm", psize);
	if (fd < 0) {
		snprintf(reason, sizeof(reason),
			 "HGM probe: memfd_create(MFD_HUGETLB): %s",
			 strerror(-fd));
		return reason;
	}
	if (ftruncate(fd, psize)) {
		err = errno;
		close(fd);
		snprintf(reason, sizeof(reason), "HGM probe: ftruncate: %s",
			 strerror(err));
		return reason;
	}
	/* MAP_NORESERVE: the probe must not need a free huge page. */
	p = mmap(NULL, psize, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(reason, sizeof(reason), "HGM probe: mmap: %s",
			 strerror(errno));
		return reason;
	}
	err = madvise(p, psize, MADV_SPLIT) ? errno : 0;
	munmap(p, psize);
	if (!err)
		return NULL;
	snprintf(
		reason, sizeof(reason),
		"kernel has no HGM for %lu kB pages: madvise(MADV_SPLIT=%d) on a shared hugetlb mapping: %s",
		psize / HT_KB, MADV_SPLIT, strerror(err));
	return reason;
}

const char *ht_probe_memory_failure(void)
{
	if (access("/proc/sys/vm/memory_failure_early_kill", F_OK))
		return "kernel without CONFIG_MEMORY_FAILURE (no vm.memory_failure_early_kill)";
	return NULL;
}

const char *ht_probe_hwpoison_inject(void)
{
	if (access("/sys/kernel/debug/hwpoison/corrupt-pfn", W_OK))
		return "no debugfs hwpoison/corrupt-pfn (hwpoison_inject not loaded or debugfs not mounted)";
	return NULL;
}

const char *ht_probe_uffd_minor_hugetlb(void)
{
	int fd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);

	if (fd >= 0) {
		close(fd);
		return NULL;
	}
	snprintf(reason, sizeof(reason),
		 "userfaultfd without UFFD_FEATURE_MINOR_HUGETLBFS: %s",
		 strerror(-fd));
	return reason;
}

const char *ht_probe_nodes(int need)
{
	int nodes[HT_MAX_NODES];
	int n = ht_memory_nodes(nodes, HT_MAX_NODES);

	if (n < 0) {
		snprintf(reason, sizeof(reason), "cannot read memory nodes: %s",
			 strerror(-n));
		return reason;
	}
	if (n >= need)
		return NULL;
	snprintf(reason, sizeof(reason),
		 "needs %d NUMA nodes with memory, kernel has %d", need, n);
	return reason;
}

bool ht_has_cap(int cap)
{
	unsigned long long eff;
	char *buf, *p;
	bool ret = false;

	buf = ht_slurp("/proc/self/status", NULL);
	if (!buf)
		return false;
	p = strstr(buf, "\nCapEff:");
	if (p && sscanf(p + 8, "%llx", &eff) == 1)
		ret = (eff >> cap) & 1;
	free(buf);
	return ret;
}

const char *ht_probe_cap(int cap)
{
	static const char *const names[] = {
		[CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
		[CAP_SYS_NICE] = "CAP_SYS_NICE",
		[CAP_SYS_RESOURCE] = "CAP_SYS_RESOURCE",
	};

	if (ht_has_cap(cap))
		return NULL;
	snprintf(reason, sizeof(reason), "needs %s (run as root)",
		 cap >= 0 && cap < (int)(sizeof(names) / sizeof(names[0])) &&
				 names[cap] ?
			 names[cap] :
			 "a capability");
	return reason;
}

const char *ht_probe_page_size(unsigned long size)
{
	if (ht_page_size_supported(size))
		return NULL;
	snprintf(reason, sizeof(reason), "kernel offers no %s huge pages",
		 ht_size_name(size));
	return reason;
}

const char *ht_probe_refcount_knob(void)
{
	if (access(HT_REFCOUNT_KNOB, W_OK))
		return "no hugetlb refcount limit knob (" HT_REFCOUNT_KNOB
		       "): kernel without the suite's refcount guard patch";
	return NULL;
}
