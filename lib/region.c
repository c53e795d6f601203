// SPDX-License-Identifier: GPL-2.0
/*
 * A hugetlb file (memfd) and its mappings at either granularity.  Every
 * scenario in the battery maps through ht_map_populated(), so the `huge`
 * and `hgm` variants differ in exactly one place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ht.h"

int ht_file_create(struct ht_file *f, unsigned long psize, size_t len)
{
	f->fd = ht_memfd_hugetlb("ht-file", psize);
	if (f->fd < 0)
		return f->fd;
	f->psize = psize;
	f->len = len;
	if (ftruncate(f->fd, (off_t)len)) {
		int err = -errno;

		close(f->fd);
		f->fd = -1;
		return err;
	}
	return 0;
}

void ht_file_close(struct ht_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

uint32_t ht_pattern_word(uint32_t seed, size_t off)
{
	uint64_t x = (uint64_t)seed * 0x9e3779b97f4a7c15ULL ^ (off / 4);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 29;
	return (uint32_t)x;
}

/*
 * A stamp of HT_STAMP bytes at the start of every PAGE_SIZE piece, rest
 * untouched: a piece mapped from the wrong place (the failure HGM and
 * migration can produce) shows in its stamp, and a 1 GiB page costs 4 MiB
 * of pattern instead of 1 GiB, which matters under TCG.
 */
#define HT_STAMP 64

void ht_pattern_fill(void *addr, size_t len, size_t file_off, uint32_t seed)
{
	size_t ps = ht_base_page_size();

	for (size_t piece = 0; piece < len; piece += ps) {
		uint32_t *w = (uint32_t *)((char *)addr + piece);

		for (size_t i = 0; i < HT_STAMP / 4; i++)
			w[i] = ht_pattern_word(seed, file_off + piece + i * 4);
	}
}

long ht_pattern_check(const void *addr, size_t len, size_t file_off,
		      uint32_t seed)
{
	size_t ps = ht_base_page_size();

	for (size_t piece = 0; piece < len; piece += ps) {
		const uint32_t *w =
			(const uint32_t *)((const char *)addr + piece);

		for (size_t i = 0; i < HT_STAMP / 4; i++)
			if (w[i] !=
			    ht_pattern_word(seed, file_off + piece + i * 4))
				return (long)(piece + i * 4);
	}
	return -1;
}

int ht_file_fill(struct ht_file *f, size_t off, size_t len, uint32_t seed)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
		 (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	ht_pattern_fill(p, len, off, seed);
	/* Unmapped again so the fill leaves no mapping behind to count. */
	munmap(p, len);
	return 0;
}

void *ht_mmap_aligned(size_t len, size_t align, int prot, int flags, int fd,
		      off_t off)
{
	size_t span = len + align;
	unsigned long base, aligned;
	void *res, *p;

	res = mmap(NULL, span, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	base = (unsigned long)res;
	aligned = (base + align - 1) & ~(align - 1);
	p = mmap((void *)aligned, len, prot, flags | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		int err = errno;

		munmap(res, span);
		errno = err;
		return MAP_FAILED;
	}
	if (aligned > base)
		munmap(res, aligned - base);
	if (base + span > aligned + len)
		munmap((void *)(aligned + len), base + span - (aligned + len));
	return p;
}

const char *ht_gran_name(enum ht_gran g)
{
	return g == HT_GRAN_HGM ? "hgm" : "huge";
}

/* MADV_SPLIT and a MINOR uffd over [p, p + len): 0 or -errno. */
static int hgm_prepare(void *p, size_t len, int *uffd_out)
{
	int uffd, ret;

	if (madvise(p, len, MADV_SPLIT))
		return -errno;
	uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
	if (uffd < 0)
		return uffd;
	ret = ht_uffd_register(uffd, p, len, UFFDIO_REGISTER_MODE_MINOR);
	if (ret) {
		close(uffd);
		return ret;
	}
	*uffd_out = uffd;
	return 0;
}

/*
 * Every 4 KiB piece mapped by UFFDIO_CONTINUE, 2 MiB per call (the kernel
 * steps by PAGE_SIZE in an HGM VMA): a 1 GiB page is 512 calls, not
 * 262144, which under TCG and a debug kernel is minutes.
 */
static int populate_hgm(void *p, size_t len, int *uffd_out)
{
	size_t chunk = ht_pmd_size();
	int uffd = -1, ret;

	ret = hgm_prepare(p, len, &uffd);
	for (size_t off = 0; !ret && off < len; off += chunk)
		ret = ht_uffd_continue(uffd, (char *)p + off,
				       len - off < chunk ? len - off : chunk);
	if (ret) {
		if (uffd >= 0)
			close(uffd);
		return ret;
	}
	*uffd_out = uffd;
	return 0;
}

void *ht_map_populated(struct ht_file *f, size_t off, size_t len,
		       enum ht_gran g, int *uffd_out)
{
	return ht_map_populated_at(f, off, len, g, NULL, uffd_out);
}

void *ht_map_populated_at(struct ht_file *f, size_t off, size_t len,
			  enum ht_gran g, void *at, int *uffd_out)
{
	volatile char *p;
	int ret = 0;

	*uffd_out = -1;
	p = mmap(at, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | (at ? MAP_FIXED : 0), f->fd, (off_t)off);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	if (g == HT_GRAN_HGM) {
		ret = populate_hgm((void *)p, len, uffd_out);
	} else {
		for (size_t o = 0; o < len; o += f->psize)
			(void)p[o];
	}
	if (ret) {
		munmap((void *)p, len);
		errno = -ret;
		return MAP_FAILED;
	}
	return (void *)p;
}

void *ht_map_pieces(struct ht_file *f, size_t len, enum ht_gran g,
		    const size_t *offs, int n, int *uffd_out)
{
	size_t ps = ht_base_page_size();
	volatile char *p;
	int uffd = -1, ret = 0;

	*uffd_out = -1;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	if (g == HT_GRAN_HGM)
		ret = hgm_prepare((void *)p, len, &uffd);
	for (int i = 0; !ret && i < n; i++) {
		if (g == HT_GRAN_HGM)
			ret = ht_uffd_continue(uffd, (char *)p + offs[i], ps);
		else
			(void)p[offs[i]];
	}
	if (ret) {
		if (uffd >= 0)
			close(uffd);
		munmap((void *)p, len);
		errno = -ret;
		return MAP_FAILED;
	}
	*uffd_out = uffd;
	return (void *)p;
}

void ht_pieces_model(unsigned char *want, size_t len, unsigned long psize,
		     enum ht_gran g, const size_t *offs, int n)
{
	size_t ps = ht_base_page_size();

	memset(want, 0, len / ps);
	for (int i = 0; i < n; i++) {
		size_t from = g == HT_GRAN_HGM ? offs[i] :
						 offs[i] & ~(psize - 1);
		size_t to = g == HT_GRAN_HGM ? from + ps : from + psize;

		memset(want + from / ps, 1, (to - from) / ps);
	}
}
