// SPDX-License-Identifier: GPL-2.0
/*
 * Feature probes.  Each returns NULL when the feature is there, or one
 * line saying why not: that line becomes the SKIP reason verbatim.  A
 * reason with details is written into the caller's buffer, so a reason
 * kept for later is not overwritten by the next probe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ht.h"

#define HT_REFCOUNT_KNOB "/sys/kernel/debug/hugetlb/refcount_limit"

const char *ht_probe_hgm_r(unsigned long psize, char *why, size_t len)
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
		snprintf(why, len, "HGM probe: memfd_create(MFD_HUGETLB): %s",
			 strerror(-fd));
		return why;
	}
	if (ftruncate(fd, psize)) {
		err = errno;
		close(fd);
		snprintf(why, len, "HGM probe: ftruncate: %s", strerror(err));
		return why;
	}
	/* MAP_NORESERVE: the probe must not need a free huge page. */
	p = mmap(NULL, psize, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(why, len, "HGM probe: mmap: %s", strerror(errno));
		return why;
	}
	err = madvise(p, psize, MADV_SPLIT) ? errno : 0;
	munmap(p, psize);
	if (!err)
		return NULL;
	snprintf(
		why, len,
		"kernel has no HGM for %lu kB pages: madvise(MADV_SPLIT=%d) on a shared hugetlb mapping: %s",
		psize / HT_KB, MADV_SPLIT, strerror(err));
	return why;
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

const char *ht_probe_uffd_minor_hugetlb_r(char *why, size_t len)
{
	int fd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);

	if (fd >= 0) {
		close(fd);
		return NULL;
	}
	snprintf(why, len,
		 "userfaultfd without UFFD_FEATURE_MINOR_HUGETLBFS: %s",
		 strerror(-fd));
	return why;
}

const char *ht_probe_nodes_r(int need, char *why, size_t len)
{
	int nodes[HT_MAX_NODES];
	int n = ht_memory_nodes(nodes, HT_MAX_NODES);

	if (n < 0) {
		snprintf(why, len, "cannot read memory nodes: %s",
			 strerror(-n));
		return why;
	}
	if (n >= need)
		return NULL;
	snprintf(why, len, "needs %d NUMA nodes with memory, kernel has %d",
		 need, n);
	return why;
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

int ht_drop_cap(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3
	};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[cap / 32].effective &= ~(1U << (cap % 32));
	d[cap / 32].permitted &= ~(1U << (cap % 32));
	d[cap / 32].inheritable &= ~(1U << (cap % 32));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

const char *ht_probe_cap_r(int cap, char *why, size_t len)
{
	static const char *const names[] = {
		[CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
		[CAP_SYS_NICE] = "CAP_SYS_NICE",
		[CAP_SYS_RESOURCE] = "CAP_SYS_RESOURCE",
		[CAP_IPC_LOCK] = "CAP_IPC_LOCK",
		[CAP_SETUID] = "CAP_SETUID",
		[CAP_SETGID] = "CAP_SETGID",
	};

	if (ht_has_cap(cap))
		return NULL;
	snprintf(why, len, "needs %s (run as root)",
		 cap >= 0 && cap < (int)(sizeof(names) / sizeof(names[0])) &&
				 names[cap] ?
			 names[cap] :
			 "a capability");
	return why;
}

const char *ht_probe_page_size_r(unsigned long size, char *why, size_t len)
{
	char name[HT_SIZE_NAME_LEN];

	if (ht_page_size_supported(size))
		return NULL;
	snprintf(why, len, "kernel offers no %s huge pages",
		 ht_size_name_r(size, name, sizeof(name)));
	return why;
}

const char *ht_probe_refcount_knob(void)
{
	if (access(HT_REFCOUNT_KNOB, W_OK))
		return "no hugetlb refcount limit knob (" HT_REFCOUNT_KNOB
		       "): kernel without the suite's refcount guard patch";
	return NULL;
}
