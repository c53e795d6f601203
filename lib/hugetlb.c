// SPDX-License-Identifier: GPL-2.0
/* Huge page sizes and memory nodes, as the running kernel lists them. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ht.h"

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

int ht_page_sizes(unsigned long *sizes, int max)
{
	struct dirent *de;
	unsigned long kb;
	int n = 0;
	DIR *d;

	d = opendir("/sys/kernel/mm/hugepages");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "hugepages-%lukB", &kb) != 1)
			continue;
		if (n < max)
			sizes[n++] = kb * HT_KB;
	}
	closedir(d);
	qsort(sizes, n, sizeof(*sizes), cmp_ulong);
	return n;
}

bool ht_page_size_supported(unsigned long size)
{
	unsigned long sizes[HT_MAX_SIZES];
	int i, n = ht_page_sizes(sizes, HT_MAX_SIZES);

	for (i = 0; i < n; i++)
		if (sizes[i] == size)
			return true;
	return false;
}

unsigned long ht_default_page_size(void)
{
	unsigned long kb;
	char *buf = ht_slurp("/proc/meminfo", NULL);

	if (!buf)
		return 0;
	if (ht_kv_parse(buf, "Hugepagesize", &kb))
		kb = 0;
	free(buf);
	return kb * HT_KB;
}

unsigned long ht_level_size(enum ht_level level)
{
	unsigned long base = ht_base_page_size(), size = base;

	for (int i = 0; i < (int)level; i++)
		size *= base / sizeof(uint64_t);
	return size;
}

int ht_size_shift(unsigned long size)
{
	if (!size || (size & (size - 1)))
		return -EINVAL;
	return __builtin_ctzl(size);
}

char *ht_size_name_r(unsigned long size, char *buf, size_t len)
{
	if (size >= HT_GB && !(size % HT_GB))
		snprintf(buf, len, "%luG", size / HT_GB);
	else if (size >= HT_MB && !(size % HT_MB))
		snprintf(buf, len, "%luM", size / HT_MB);
	else
		snprintf(buf, len, "%luK", size / HT_KB);
	return buf;
}

int ht_memfd_hugetlb(const char *name, unsigned long size)
{
	int shift = ht_size_shift(size);
	int fd;

	if (shift < 0)
		return shift;
	fd = memfd_create(name, MFD_CLOEXEC | MFD_HUGETLB |
					(shift << MFD_HUGE_SHIFT));
	return fd < 0 ? -errno : fd;
}

int ht_parse_nodelist(const char *s, int *nodes, int max)
{
	int n = 0;
	char *end;
	long a, b;

	while (*s && *s != '\n') {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		a = strtol(s, &end, 10);
		b = a;
		if (*end == '-') {
			/* strtol would take "-", "+3" or " 3": a range needs digits. */
			if (end[1] < '0' || end[1] > '9')
				return -EINVAL;
			b = strtol(end + 1, &end, 10);
			if (b < a)
				return -EINVAL;
		}
		if (b >= HT_MAX_NODES)
			return -ERANGE;
		for (; a <= b; a++) {
			if (n >= max)
				return -ERANGE;
			nodes[n++] = (int)a;
		}
		if (*end == ',') {
			end++;
			if (*end < '0' || *end > '9')
				return -EINVAL; /* "0," is cut off, not a list */
		} else if (*end && *end != '\n')
			return -EINVAL;
		s = end;
	}
	return n;
}

int ht_memory_nodes(int *nodes, int max)
{
	char buf[256];
	int ret;

	ret = ht_read_file("/sys/devices/system/node/has_memory", buf,
			   sizeof(buf));
	if (ret == -ENOENT) {
		/* !CONFIG_NUMA: one node, id 0. */
		if (max < 1)
			return -ERANGE;
		nodes[0] = 0;
		return 1;
	}
	if (ret)
		return ret;
	return ht_parse_nodelist(buf, nodes, max);
}
