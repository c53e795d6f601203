// SPDX-License-Identifier: GPL-2.0
/*
 * Topic 4: userfaultfd minor faults on hugetlb, and the HGM API on top.
 *
 * The stock model (6.12 and 6.18: fs/userfaultfd.c userfaultfd_register,
 * mm/userfaultfd.c mfill_atomic_hugetlb, mm/hugetlb.c
 * hugetlb_mfill_atomic_pte):
 *   register MODE_MINOR on a shared hugetlb VMA -> ioctls: the "basic"
 *       hugetlb set without WRITEPROTECT (not asked for): WAKE, COPY,
 *       CONTINUE, and POISON since 6.6
 *   touch of a cached page in a MINOR range     -> a pagefault message,
 *       flags MINOR (read), address rounded down to the huge page
 *   CONTINUE of the whole huge page             -> maps it, wakes
 *   CONTINUE: start or len not huge-aligned -> EINVAL; entry present ->
 *       EEXIST; no page cache page -> EFAULT; no registered VMA -> ENOENT
 * The HGM model (posted series v2, our design sketch): MADV_SPLIT on a
 * shared hugetlb VMA, huge-aligned range, else EINVAL; afterwards CONTINUE
 * and minor faults work at PAGE_SIZE; MADV_COLLAPSE maps it huge again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ht_harness.h"

#define SEED 0x5a5a0004

#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08) /* uapi since 6.6; Debian 12 headers are 6.1 */
#endif

#define BIT64(n) ((uint64_t)1 << (n))

/* A thread that reads one word of a registered page and then checks a piece. */
struct toucher {
	pthread_t tid;
	const char *addr; /* word to read first */
	const char *check; /* piece to check after the read */
	size_t check_len, check_off; /* its length and file offset */
	volatile int done;
	long bad;
};

static void *toucher_fn(void *arg)
{
	struct toucher *t = arg;

	(void)*(volatile const uint32_t *)t->addr;
	t->bad = ht_pattern_check(t->check, t->check_len, t->check_off, SEED);
	t->done = 1;
	return NULL;
}

static void *map_shared(struct __test_metadata *_metadata, int fd, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, fd, 0);

	EXPECT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	return p;
}

static int open_minor_uffd(struct __test_metadata *_metadata, void *p,
			   size_t len)
{
	int uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS), ret;

	EXPECT_LE(0, uffd) TH_LOG("uffd open: %s", strerror(-uffd));
	if (uffd < 0)
		return uffd;
	ret = ht_uffd_register(uffd, p, len, UFFDIO_REGISTER_MODE_MINOR);
	EXPECT_EQ(0, ret) TH_LOG("register MINOR: %s", strerror(-ret));
	return uffd;
}

/*
 * Stock semantics: huge variants only.  After MADV_SPLIT a minor fault
 * reports a 4 KiB address, so an hgm twin would not observe the same
 * thing; the HGM side is the hgm_api fixture below.
 */
FIXTURE(minor)
{
	struct ht_env env;
	struct ht_file file; /* two huge pages; only the first is cached */
	unsigned long free0; /* free pages with page 0 cached */
};

FIXTURE_VARIANT(minor)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(minor, huge);

FIXTURE_SETUP(minor)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
		.uffd_minor = true,
	};

	self->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_file_create(&self->file, HT_PSIZE(variant),
				    2 * HT_PSIZE(variant)));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, HT_PSIZE(variant), SEED));
	self->free0 = ht_free_pages(_metadata, HT_PSIZE(variant), -1);
}

FIXTURE_TEARDOWN_PARENT(minor)
{
	/* The file lives in the test's process; its exit closed it. */
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(minor, register_reports_continue, 60)
{
	/*
	 * 6.18 userfaultfd_register: a hugetlb VMA gets the BASIC set
	 * (no ZEROPAGE, no MOVE); WRITEPROTECT only with MODE_WP; CONTINUE
	 * only with MODE_MINOR.  POISON joined BASIC in 6.6 (fc71884a5f59
	 * "mm: userfaultfd: add new UFFDIO_POISON ioctl").
	 */
	uint64_t want = BIT64(_UFFDIO_WAKE) | BIT64(_UFFDIO_COPY) |
			BIT64(_UFFDIO_CONTINUE) |
			(ht_kernel_before(6, 6) ? 0 : BIT64(_UFFDIO_POISON));
	uint64_t got = 0;
	int uffd, ret;
	void *p;

	p = map_shared(_metadata, self->file.fd, HT_PSIZE(variant));
	ASSERT_NE(MAP_FAILED, p);
	uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
	ASSERT_LE(0, uffd);
	ret = ht_uffd_register_ioctls(uffd, p, HT_PSIZE(variant),
				      UFFDIO_REGISTER_MODE_MINOR, &got);
	ASSERT_EQ(0, ret) TH_LOG("register MINOR: %s", strerror(-ret));
	EXPECT_EQ(want, got)
	TH_LOG("ioctls %#llx, model %#llx", (unsigned long long)got,
	       (unsigned long long)want);
	/* Nothing is mapped by registering. */
	EXPECT_EQ(0, ht_pagemap_count_present(0, (unsigned long)p,
					      HT_PSIZE(variant)));
	close(uffd);
	munmap(p, HT_PSIZE(variant));
}

TEST_F_TIMEOUT(minor, fault_then_continue_wakes, 120)
{
	unsigned long psize = HT_PSIZE(variant), fault_addr = 0;
	size_t touch_off = psize / 2 + 3 * ht_base_page_size() + 8;
	struct toucher t = { 0 };
	uint64_t flags = 0, pm = 0;
	int uffd, ret;
	char *p;

	p = map_shared(_metadata, self->file.fd, psize);
	ASSERT_NE(MAP_FAILED, p);
	uffd = open_minor_uffd(_metadata, p, psize);
	ASSERT_LE(0, uffd);
	t.addr = p + touch_off;
	t.check = p;
	t.check_len = psize;
	ASSERT_EQ(0, pthread_create(&t.tid, NULL, toucher_fn, &t));

	ret = ht_uffd_read_fault(uffd, 10000, &fault_addr, &flags);
	ASSERT_EQ(0, ret) TH_LOG("no minor fault message: %s", strerror(-ret));
	/* No UFFD_FEATURE_EXACT_ADDRESS: rounded to the huge page. */
	EXPECT_EQ((unsigned long)p, fault_addr);
	EXPECT_EQ(UFFD_PAGEFAULT_FLAG_MINOR, flags) TH_LOG("a read fault");
	EXPECT_EQ(0, t.done) TH_LOG("toucher ran before CONTINUE");
	EXPECT_EQ(0, ht_pagemap_count_present(0, (unsigned long)p, psize));

	ret = ht_uffd_continue(uffd, p, psize);
	ASSERT_EQ(0, ret) TH_LOG("CONTINUE: %s", strerror(-ret));
	ASSERT_EQ(0, pthread_join(t.tid, NULL));
	EXPECT_EQ(-1, t.bad) TH_LOG("toucher saw wrong contents at %ld", t.bad);
	EXPECT_EQ((long)(psize / ht_base_page_size()),
		  ht_pagemap_count_present(0, (unsigned long)p, psize));
	/* The page-cache folio, mapped once: no allocation, mapcount 1. */
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p, &pm));
	if (pm & HT_PM_PRESENT) {
		uint64_t count = 0;

		ASSERT_EQ(0, ht_kpagecount_read(pm & HT_PM_PFN_MASK, &count));
		EXPECT_EQ(1, count);
	}
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1));
	close(uffd);
	munmap(p, psize);
}

TEST_F_TIMEOUT(minor, continue_errors, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size();
	int uffd, ret;
	char *p, *other;

	/* Two huge pages, both registered: page 0 cached, page 1 not. */
	p = map_shared(_metadata, self->file.fd, 2 * psize);
	ASSERT_NE(MAP_FAILED, p);
	uffd = open_minor_uffd(_metadata, p, 2 * psize);
	ASSERT_LE(0, uffd);

	/* mfill_atomic_hugetlb: start and len must be huge multiples. */
	EXPECT_EQ(-EINVAL, ht_uffd_continue(uffd, p, ps)) TH_LOG("4 KiB long");
	EXPECT_EQ(-EINVAL, ht_uffd_continue(uffd, p + ps, psize))
	TH_LOG("start not huge-aligned");
	EXPECT_EQ(0, ht_pagemap_count_present(0, (unsigned long)p, psize));

	/*
	 * hugetlb_mfill_atomic_pte: the page-cache lookup fails first, with
	 * -EFAULT (measured: 6.18 returns EFAULT, as the source says).
	 */
	EXPECT_EQ(-EFAULT, ht_uffd_continue(uffd, p + psize, psize))
	TH_LOG("no page cache page");
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1))
	TH_LOG("a failed CONTINUE must not allocate");
	EXPECT_EQ(0,
		  ht_pagemap_count_present(0, (unsigned long)p + psize, psize));

	ret = ht_uffd_continue(uffd, p, psize);
	EXPECT_EQ(0, ret) TH_LOG("first CONTINUE: %s", strerror(-ret));
	EXPECT_EQ(-EEXIST, ht_uffd_continue(uffd, p, psize))
	TH_LOG("already mapped");

	/*
	 * mfill_atomic: a VMA not registered with this uffd, and no VMA at
	 * all, are both -ENOENT (measured on 6.18).
	 */
	other = map_shared(_metadata, self->file.fd, psize);
	ASSERT_NE(MAP_FAILED, other);
	EXPECT_EQ(-ENOENT, ht_uffd_continue(uffd, other, psize))
	TH_LOG("unregistered hugetlb VMA");
	munmap(other, psize);
	EXPECT_EQ(-ENOENT, ht_uffd_continue(uffd, other, psize))
	TH_LOG("no VMA");
	close(uffd);
	munmap(p, 2 * psize);
}

/*
 * The differential twin of hgm_api.continue_4k_maps_one_piece, run on
 * every kernel: with HGM, MADV_SPLIT then a 4 KiB CONTINUE maps that
 * piece; without it both are EINVAL and nothing is mapped.  The
 * expectation follows the hgm probe for the variant's page size (HGM may
 * cover 2 MiB pages only).
 */
TEST_F_TIMEOUT(minor, continue_4k_split_differential, 120)
{
	char why[HT_WHY_LEN];
	bool hgm = !ht_probe_hgm_r(HT_PSIZE(variant), why, sizeof(why));
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size();
	int uffd, ret;
	char *p;

	TH_LOG("model: %s", hgm ? "HGM kernel" : "stock kernel");
	p = map_shared(_metadata, self->file.fd, psize);
	ASSERT_NE(MAP_FAILED, p);
	ret = madvise(p, psize, MADV_SPLIT) ? -errno : 0;
	EXPECT_EQ(hgm ? 0 : -EINVAL, ret) TH_LOG("MADV_SPLIT");
	uffd = open_minor_uffd(_metadata, p, psize);
	ASSERT_LE(0, uffd);
	ret = ht_uffd_continue(uffd, p + ps, ps);
	EXPECT_EQ(hgm ? 0 : -EINVAL, ret) TH_LOG("4 KiB CONTINUE");
	EXPECT_EQ(hgm ? 1 : 0,
		  ht_pagemap_count_present(0, (unsigned long)p, psize));
	close(uffd);
	munmap(p, psize);
}

/*
 * The HGM API.  On a stock kernel MADV_SPLIT is EINVAL for everything,
 * so the refusals prove nothing there: all of these need the hgm probe.
 */
FIXTURE(hgm_api)
{
	struct ht_env env;
	struct ht_file file;
	unsigned long free0;
};

FIXTURE_VARIANT(hgm_api)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(hgm_api, hgm);

FIXTURE_SETUP(hgm_api)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1,
		.caps = { CAP_SYS_ADMIN },
		.hgm = true,
		.uffd_minor = true,
	};

	self->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_file_create(&self->file, HT_PSIZE(variant),
				    HT_PSIZE(variant)));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, HT_PSIZE(variant), SEED));
	self->free0 = ht_free_pages(_metadata, HT_PSIZE(variant), -1);
}

FIXTURE_TEARDOWN_PARENT(hgm_api)
{
	HT_TEARDOWN(&self->env);
}

static int split_errno(void *p, size_t len)
{
	return madvise(p, len, MADV_SPLIT) ? -errno : 0;
}

TEST_F_TIMEOUT(hgm_api, split_refused_private, 60)
{
	unsigned long psize = HT_PSIZE(variant);
	void *p = mmap(NULL, psize, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_NORESERVE, self->file.fd, 0);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EINVAL, split_errno(p, psize)) TH_LOG("no VM_MAYSHARE");
	munmap(p, psize);
}

TEST_F_TIMEOUT(hgm_api, split_refused_anon, 60)
{
	unsigned long psize = HT_PSIZE(variant);
	void *p = ht_mmap_aligned(psize, psize, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				  -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EINVAL, split_errno(p, psize)) TH_LOG("not hugetlb");
	munmap(p, psize);
}

TEST_F_TIMEOUT(hgm_api, split_refused_shmem, 60)
{
	unsigned long psize = HT_PSIZE(variant);
	int fd = memfd_create("ht-shmem", MFD_CLOEXEC);
	void *p;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, psize));
	/* Shared and huge-aligned: only the hugetlb-ness differs. */
	p = ht_mmap_aligned(psize, psize, PROT_READ | PROT_WRITE, MAP_SHARED,
			    fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EINVAL, split_errno(p, psize)) TH_LOG("shmem, not hugetlb");
	munmap(p, psize);
}

TEST_F_TIMEOUT(hgm_api, split_refused_unaligned, 60)
{
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size();
	char *p = map_shared(_metadata, self->file.fd, psize);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EINVAL, split_errno(p + ps, psize - ps))
	TH_LOG("start not huge-aligned");
	EXPECT_EQ(-EINVAL, split_errno(p, psize - ps))
	TH_LOG("length not huge-aligned");
	/* The same VMA, aligned: accepted, so the refusals were about alignment. */
	EXPECT_EQ(0, split_errno(p, psize));
	munmap(p, psize);
}

/* Split, register, CONTINUE piece @k: returns the uffd. */
static int split_and_continue(struct __test_metadata *_metadata, char *p,
			      unsigned long psize, size_t k)
{
	size_t ps = ht_base_page_size();
	int uffd, ret;

	ret = split_errno(p, psize);
	EXPECT_EQ(0, ret) TH_LOG("MADV_SPLIT: %s", strerror(-ret));
	uffd = open_minor_uffd(_metadata, p, psize);
	if (uffd < 0)
		return uffd;
	ret = ht_uffd_continue(uffd, p + k * ps, ps);
	EXPECT_EQ(0, ret) TH_LOG("4 KiB CONTINUE: %s", strerror(-ret));
	return uffd;
}

/* Piece @k is present, is the k-th 4 KiB of the folio, mapcount @count. */
static void expect_piece(struct __test_metadata *_metadata, char *p,
			 unsigned long psize, size_t k, uint64_t count)
{
	size_t ps = ht_base_page_size(), npages = psize / ps;
	uint64_t pm = 0, c = ~0ULL;

	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p + k * ps, &pm));
	ASSERT_TRUE(pm & HT_PM_PRESENT) TH_LOG("piece %zu not present", k);
	EXPECT_EQ(k, (pm & HT_PM_PFN_MASK) % npages) TH_LOG("which piece");
	ASSERT_EQ(0, ht_kpagecount_read(pm & HT_PM_PFN_MASK, &c));
	EXPECT_EQ(count, c) TH_LOG("one mapping per (VMA, folio)");
	EXPECT_EQ(count == 1, !!(pm & HT_PM_MMAP_EXCLUSIVE))
	TH_LOG("PM_MMAP_EXCLUSIVE for a folio mapped once");
	EXPECT_EQ(-1, ht_pattern_check(p + k * ps, ps, k * ps, SEED));
}

TEST_F_TIMEOUT(hgm_api, continue_4k_maps_one_piece, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size(), k = psize / ps / 2 + 1;
	char *p = map_shared(_metadata, self->file.fd, psize);
	struct ht_smaps_vma v;
	uint64_t pfn, c = ~0ULL;
	int uffd;

	ASSERT_NE(MAP_FAILED, p);
	uffd = split_and_continue(_metadata, p, psize, k);
	ASSERT_LE(0, uffd);
	EXPECT_EQ(1, ht_pagemap_count_present(0, (unsigned long)p, psize));
	expect_piece(_metadata, p, psize, k, 1);
	/* Mapped by one process, 4 KiB of it: private, exactly that much. */
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	EXPECT_EQ(ps / HT_KB, v.val[HT_SMAPS_PRIVATE_HUGETLB]);
	EXPECT_EQ(0, v.val[HT_SMAPS_SHARED_HUGETLB]);
	EXPECT_TRUE(ht_vmflags_has(&v, "hm")) TH_LOG("VmFlags: %s", v.vmflags);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1));
	pfn = ht_pfn_of(_metadata, 0, (unsigned long)p + k * ps);
	close(uffd);
	munmap(p, psize);
	/* Unmapped: the page cache's references only, the pool unchanged. */
	ASSERT_EQ(0, ht_kpagecount_read(pfn, &c));
	EXPECT_EQ(0, c);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1));
}

TEST_F_TIMEOUT(hgm_api, neighbour_minor_fault_4k, 120)
{
	unsigned long psize = HT_PSIZE(variant), fault_addr = 0;
	size_t ps = ht_base_page_size(), k = psize / ps / 2 + 1;
	struct toucher t = { 0 };
	char *p = map_shared(_metadata, self->file.fd, psize);
	char *next = p + (k + 1) * ps;
	uint64_t flags = 0;
	int uffd, ret;

	ASSERT_NE(MAP_FAILED, p);
	uffd = split_and_continue(_metadata, p, psize, k);
	ASSERT_LE(0, uffd);
	t.addr = next + 100 * 4;
	t.check = next;
	t.check_len = ps;
	t.check_off = (k + 1) * ps;
	ASSERT_EQ(0, pthread_create(&t.tid, NULL, toucher_fn, &t));
	ret = ht_uffd_read_fault(uffd, 10000, &fault_addr, &flags);
	ASSERT_EQ(0, ret) TH_LOG("no minor fault message: %s", strerror(-ret));
	EXPECT_EQ((unsigned long)next, fault_addr) TH_LOG("rounded to 4 KiB");
	EXPECT_EQ(UFFD_PAGEFAULT_FLAG_MINOR, flags);
	EXPECT_EQ(0, t.done);
	ret = ht_uffd_continue(uffd, next, ps);
	ASSERT_EQ(0, ret)
	TH_LOG("CONTINUE of the neighbour: %s", strerror(-ret));
	ASSERT_EQ(0, pthread_join(t.tid, NULL));
	EXPECT_EQ(-1, t.bad);
	EXPECT_EQ(2, ht_pagemap_count_present(0, (unsigned long)p, psize));
	expect_piece(_metadata, p, psize, k + 1, 1);
	close(uffd);
	munmap(p, psize);
}

TEST_F_TIMEOUT(hgm_api, collapse_maps_huge_again, 300)
{
	unsigned long psize = HT_PSIZE(variant), kb = psize / HT_KB;
	size_t k = psize / ht_base_page_size() / 2 + 1;
	char *p = map_shared(_metadata, self->file.fd, psize);
	struct ht_smaps_vma v;
	int uffd, ret;

	ASSERT_NE(MAP_FAILED, p);
	uffd = split_and_continue(_metadata, p, psize, k);
	ASSERT_LE(0, uffd);
	ret = madvise(p, psize, MADV_COLLAPSE) ? -errno : 0;
	ASSERT_EQ(0, ret) TH_LOG("MADV_COLLAPSE: %s", strerror(-ret));
	/* Reading a hole would block on a minor fault: check first. */
	ASSERT_EQ((long)(psize / ht_base_page_size()),
		  ht_pagemap_count_present(0, (unsigned long)p, psize));
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	EXPECT_EQ(kb, v.val[HT_SMAPS_KERNELPAGESIZE]);
	EXPECT_EQ(kb, v.val[HT_SMAPS_PRIVATE_HUGETLB]);
	EXPECT_EQ(0, v.val[HT_SMAPS_SHARED_HUGETLB]);
	expect_piece(_metadata, p, psize, 0, 1);
	expect_piece(_metadata, p, psize, psize / ht_base_page_size() - 1, 1);
	EXPECT_EQ(-1, ht_pattern_check(p, psize, 0, SEED));
	close(uffd);
	munmap(p, psize);
}

HT_MAIN
