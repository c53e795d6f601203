// SPDX-License-Identifier: GPL-2.0
/* /proc/<pid>/pagemap, /proc/kpagecount and /proc/kpageflags. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
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

/*
 * Walks the pagemap of [addr, addr + len).  With @want NULL: *out is the
 * number of pieces present.  Else *out is the index of the first piece
 * whose presence differs from @want[i] (0 or 1), or -1 if none does.
 */
static int pagemap_walk(pid_t pid, unsigned long addr, size_t len,
			const unsigned char *want, long *out)
{
	size_t ps = ht_base_page_size(), i, npages = len / ps;
	uint64_t buf[512];
	char path[64];
	long present = 0;
	int fd, ret = 0;
	ssize_t n;

	*out = want ? -1 : 0;
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (i = 0; i < npages; i += n / sizeof(buf[0])) {
		size_t want_n = npages - i < 512 ? npages - i : 512;

		n = pread(fd, buf, want_n * sizeof(buf[0]),
			  (off_t)((addr / ps + i) * sizeof(buf[0])));
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		for (size_t k = 0; k < n / sizeof(buf[0]); k++) {
			bool p = buf[k] & HT_PM_PRESENT;

			present += p;
			if (want && p != want[i + k]) {
				*out = (long)(i + k);
				close(fd);
				return 0;
			}
		}
	}
	close(fd);
	if (!want)
		*out = present;
	return ret;
}

long ht_pagemap_count_present(pid_t pid, unsigned long addr, size_t len)
{
	long present;
	int ret = pagemap_walk(pid, addr, len, NULL, &present);

	return ret ? ret : present;
}

int ht_pagemap_first_diff(pid_t pid, unsigned long addr, size_t len,
			  const unsigned char *want, long *first)
{
	return pagemap_walk(pid, addr, len, want, first);
}

/*
 * mincore(2) of [addr, addr + len): a malloc()ed byte per PAGE_SIZE piece
 * (*n of them), or NULL with -errno in *err.  Bits mincore does not define
 * must read 0: the vector starts filled with 0xfe, so a stale byte shows.
 */
static unsigned char *mincore_vec(void *addr, size_t len, size_t *n, int *err)
{
	size_t ps = ht_base_page_size();
	unsigned char *vec;

	*n = (len + ps - 1) / ps;
	vec = malloc(*n ? *n : 1);
	if (!vec) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(vec, 0xfe, *n);
	if (mincore(addr, len, vec)) {
		*err = -errno;
		free(vec);
		return NULL;
	}
	return vec;
}

int ht_mincore_first_diff(void *addr, size_t len, const unsigned char *want,
			  long *first)
{
	int err = 0;
	size_t n;
	unsigned char *vec = mincore_vec(addr, len, &n, &err);

	*first = -1;
	if (!vec)
		return err;
	for (size_t i = 0; i < n; i++) {
		if (vec[i] != want[i]) {
			*first = (long)i;
			break;
		}
	}
	free(vec);
	return 0;
}

long ht_mincore_resident(void *addr, size_t len)
{
	int err = 0;
	size_t n;
	unsigned char *vec = mincore_vec(addr, len, &n, &err);
	long resident = 0;

	if (!vec)
		return err;
	for (size_t i = 0; i < n && resident >= 0; i++) {
		if (vec[i] > 1)
			resident = -EPROTO;
		else
			resident += vec[i];
	}
	free(vec);
	return resident;
}
