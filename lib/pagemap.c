// SPDX-License-Identifier: GPL-2.0
/* /proc/<pid>/pagemap, /proc/kpagecount and /proc/kpageflags. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ht.h"

static int pread_u64(const char *path, uint64_t index, uint64_t *val)
{
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, val, sizeof(*val), (off_t)(index * sizeof(*val)));
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	return n == sizeof(*val) ? 0 : -EIO;
}

int ht_pagemap_read(pid_t pid, unsigned long addr, uint64_t *entry)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	return pread_u64(path, addr / ht_base_page_size(), entry);
}

int ht_kpagecount_read(uint64_t pfn, uint64_t *count)
{
	return pread_u64("/proc/kpagecount", pfn, count);
}

int ht_kpageflags_read(uint64_t pfn, uint64_t *flags)
{
	return pread_u64("/proc/kpageflags", pfn, flags);
}

long ht_pagemap_count_present(pid_t pid, unsigned long addr, size_t len)
{
	size_t ps = ht_base_page_size(), i, npages = len / ps;
	uint64_t buf[512];
	char path[64];
	long present = 0;
	ssize_t n;
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (i = 0; i < npages; i += n / sizeof(buf[0])) {
		size_t want = npages - i < 512 ? npages - i : 512;

		n = pread(fd, buf, want * sizeof(buf[0]),
			  (off_t)((addr / ps + i) * sizeof(buf[0])));
		if (n <= 0) {
			present = n < 0 ? -errno : -EIO;
			break;
		}
		for (size_t k = 0; k < n / sizeof(buf[0]); k++)
			present += !!(buf[k] & HT_PM_PRESENT);
	}
	close(fd);
	return present;
}

long ht_mincore_resident(void *addr, size_t len)
{
	size_t ps = ht_base_page_size(), n = (len + ps - 1) / ps;
	unsigned char *vec = calloc(n ? n : 1, 1);
	long resident = 0;

	if (!vec)
		return -ENOMEM;
	/* Bits mincore does not define must read 0: a stale byte shows. */
	memset(vec, 0xfe, n);
	if (mincore(addr, len, vec)) {
		resident = -errno;
		n = 0;
	}
	for (size_t i = 0; i < n && resident >= 0; i++) {
		if (vec[i] > 1)
			resident = -EPROTO;
		else
			resident += vec[i];
	}
	free(vec);
	return resident;
}
