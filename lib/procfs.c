// SPDX-License-Identifier: GPL-2.0
/* Live readers: /proc/<pid>/{smaps,smaps_rollup,status,numa_maps}, meminfo. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ht.h"

static char *proc_slurp(pid_t pid, const char *file)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", file);
	return ht_slurp(path, NULL);
}

int ht_smaps_read(pid_t pid, unsigned long addr, struct ht_smaps_vma *out)
{
	struct ht_smaps_vma *vmas;
	int i, n, ret = -ENOENT;
	char *buf;

	buf = proc_slurp(pid, "smaps");
	if (!buf)
		return -errno;
	/* smaps lines run about 25 per VMA; this bounds the VMA count. */
	n = strlen(buf) / 200 + 2;
	vmas = calloc(n, sizeof(*vmas));
	if (!vmas) {
		free(buf);
		return -ENOMEM;
	}
	n = ht_smaps_parse(buf, vmas, n);
	if (n < 0)
		ret = n;
	for (i = 0; i < n; i++) {
		if (addr >= vmas[i].start && addr < vmas[i].end) {
			*out = vmas[i];
			ret = 0;
			break;
		}
	}
	free(vmas);
	free(buf);
	return ret;
}

int ht_smaps_rollup_read(pid_t pid, struct ht_smaps_vma *out)
{
	char *buf = proc_slurp(pid, "smaps_rollup");
	int ret;

	if (!buf)
		return -errno;
	ret = ht_smaps_rollup_parse(buf, out);
	free(buf);
	return ret;
}

/* @key of a "Key: value" file slurped into @buf (NULL: -errno); frees @buf. */
static int kv_read(char *buf, const char *key, unsigned long *val)
{
	int ret;

	if (!buf)
		return -errno;
	ret = ht_kv_parse(buf, key, val);
	free(buf);
	return ret;
}

int ht_status_read(pid_t pid, const char *key, unsigned long *val)
{
	return kv_read(proc_slurp(pid, "status"), key, val);
}

int ht_meminfo_read(const char *key, unsigned long *val)
{
	return kv_read(ht_slurp("/proc/meminfo", NULL), key, val);
}

int ht_node_meminfo_read(int node, const char *key, unsigned long *val)
{
	char path[80];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo",
		 node);
	return kv_read(ht_slurp(path, NULL), key, val);
}

int ht_numa_maps_read(pid_t pid, unsigned long addr, struct ht_numa_maps *o)
{
	char *buf = proc_slurp(pid, "numa_maps");
	int ret;

	if (!buf)
		return -errno;
	ret = ht_numa_maps_parse(buf, addr, o);
	free(buf);
	return ret;
}

long ht_memmap_pages(void)
{
	char *vs = ht_slurp("/proc/vmstat", NULL), *save = NULL, *l;
	unsigned long v;
	long ret = -1;

	if (!vs)
		return -1;
	for (l = strtok_r(vs, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (sscanf(l, "nr_memmap_pages %lu", &v) == 1 ||
		    sscanf(l, "nr_memmap_boot_pages %lu", &v) == 1)
			ret = (ret < 0 ? 0 : ret) + (long)v;
	free(vs);
	return ret;
}

long ht_hvo_saving(unsigned long psize)
{
	size_t pg = ht_base_page_size();

	/* x86_64: a 64-byte struct page */
	return (long)(psize / pg * 64 / pg) - 1;
}

int ht_kallsyms_range(const char *name, unsigned long *start,
		      unsigned long *end)
{
	char *text = ht_slurp("/proc/kallsyms", NULL);
	int ret;

	if (!text)
		return -errno;
	ret = ht_kallsyms_parse(text, name, start, end);
	free(text);
	return ret;
}
