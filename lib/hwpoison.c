// SPDX-License-Identifier: GPL-2.0
/*
 * The hwpoison_inject module's debugfs files: memory_failure() and
 * unpoison_memory() of a PFN the caller names, as a machine check or a
 * scrubber would, so that pages no mapping reaches (free pool pages, a
 * page only a file holds) can be poisoned too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "ht.h"

#define HWPOISON_DIR "/sys/kernel/debug/hwpoison/"

static int write_pfn(const char *path, uint64_t pfn)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%#" PRIx64 "\n", pfn);
	return ht_write_str(path, buf);
}

int ht_hwpoison_inject_pfn(uint64_t pfn)
{
	return write_pfn(HWPOISON_DIR "corrupt-pfn", pfn);
}

int ht_hwpoison_unpoison_pfn(uint64_t pfn)
{
	return write_pfn(HWPOISON_DIR "unpoison-pfn", pfn);
}
