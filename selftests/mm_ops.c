// SPDX-License-Identifier: GPL-2.0
/*
 * Topic 7: generic mm operations on hugetlb VMAs, and userfaultfd beyond
 * MINOR (uffd_minor.c has MINOR + CONTINUE).  Every step is checked
 * against a model of the pool (HugePages_Free/Rsvd/Surp/Total), the
 * errno, the signal and the /proc views it must leave.
 *
 * The pool rules the models use (6.12 mm/hugetlb.c):
 *   mmap MAP_SHARED of a file range   -> Rsvd += pages without a page
 *       cache page (hugetlb_reserve_pages, region_chg on the inode's map);
 *       they stay reserved until the file goes, munmap returns nothing
 *   mmap MAP_PRIVATE                  -> Rsvd += pages, owned by the VMA
 *   first fault / UFFDIO_COPY / GUP   -> Free -1, Rsvd -1 while the
 *       reservation exists (alloc_hugetlb_folio, vma_needs_reservation)
 *   a private page zapped             -> Free +1, and since 6.8 Rsvd +1
 *       (the reservation is restored: zap_restores_reserve); the next
 *       touch then takes Free -1 and Rsvd -1 again, else Free -1 alone
 *   munmap of a private VMA           -> Rsvd -= reservations never used
 *       (hugetlb_vm_op_close); its pages go back: Free += mapped pages
 *   COW in a fork child               -> Free -1, no reservation (the
 *       child's VMA owns none: hugetlb_dup_vma_private)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <numaif.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht_harness.h"

#define SEED 0x5a5a0007
#define SEED2 0x5a5a1007

/* uapi newer than the Debian 12 (6.1) headers this builds with. */
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_HUGE (1 << 6)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
struct page_region {
	__u64 start, end, categories;
};
struct pm_scan_arg {
	__u64 size, flags, start, end, walk_end, vec, vec_len, max_pages;
	__u64 category_inverted, category_mask, category_anyof_mask;
	__u64 return_mask;
};
#endif

#define BIT64(n) ((uint64_t)1 << (n))

static size_t ps(void)
{
	return ht_base_page_size();
}

/* A piece in the middle of a huge page: neither head nor tail. */
static size_t mid_off(unsigned long psize)
{
	return (psize / ps() / 2 + 1) * ps();
}

static int huge_flags(unsigned long psize)
{
	return MAP_HUGETLB | (ht_size_shift(psize) << MAP_HUGE_SHIFT);
}

/* Anonymous MAP_PRIVATE hugetlb memory (reserves @len / psize pages). */
static char *map_anon(unsigned long psize, size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | huge_flags(psize), -1, 0);
}

/*
 * Stamps of the head, a middle and the tail piece of each huge page in
 * [@p, @p + @len), as file offset @off: 1 GiB pages cost three pieces,
 * not 1 GiB of pattern, and any piece landing elsewhere shows.
 */
static void stamp(char *p, size_t len, unsigned long psize, size_t off,
		  uint32_t seed)
{
	for (size_t h = 0; h < len; h += psize) {
		size_t k[3] = { 0, mid_off(psize), psize - ps() };

		for (int i = 0; i < 3; i++)
			ht_pattern_fill(p + h + k[i], ps(), off + h + k[i],
					seed);
	}
}

/* -1 when the stamps are there, else the first bad offset. */
static long stamp_check(const char *p, size_t len, unsigned long psize,
			size_t off, uint32_t seed)
{
	for (size_t h = 0; h < len; h += psize) {
		size_t k[3] = { 0, mid_off(psize), psize - ps() };

		for (int i = 0; i < 3; i++) {
			long bad = ht_pattern_check(p + h + k[i], ps(),
						    off + h + k[i], seed);

			if (bad >= 0)
				return (long)(h + k[i]) + bad;
		}
	}
	return -1;
}

/* Bytes [0, 64) of each checked piece are zero: a fresh page. */
static bool zero_stamps(const char *p, unsigned long psize)
{
	size_t k[3] = { 0, mid_off(psize), psize - ps() };

	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 64; j++)
			if (p[k[i] + j])
				return false;
	return true;
}

static void expect_signal(struct __test_metadata *_metadata, const char *what,
			  const struct ht_sigbus *sb, int signo, int code,
			  volatile void *addr)
{
	EXPECT_TRUE(sb->hit) TH_LOG("%s: no signal", what);
	if (!sb->hit)
		return;
	EXPECT_EQ(signo, sb->signo) TH_LOG("%s: which signal", what);
	EXPECT_EQ(code, sb->code) TH_LOG("%s: si_code", what);
	EXPECT_EQ((unsigned long)addr, sb->addr) TH_LOG("%s: si_addr", what);
}

static void expect_no_signal(struct __test_metadata *_metadata,
			     const char *what, const struct ht_sigbus *sb)
{
	EXPECT_FALSE(sb->hit)
	TH_LOG("%s: signal %d code %d at %#lx", what, sb->signo, sb->code,
	       sb->addr);
}

/*
 * Zapping a private anonymous page the VMA owns a reservation for puts
 * the reservation back (__unmap_hugepage_range, "mm/hugetlb: restore the
 * reservation if needed", 6.8), when no page is surplus; before, the
 * page just went back to the pool and its reservation stayed consumed.
 */
static bool zap_restores_reserve(void)
{
	return !ht_kernel_before(6, 8);
}

/* The first word of a base page: zero when nothing was written there. */
static bool piece_zero(const char *p)
{
	return !*(const volatile uint64_t *)p;
}

static long present(void *p, size_t len)
{
	return ht_pagemap_count_present(0, (unsigned long)p, len);
}

/* ---- userfaultfd plumbing ---- */

/* One message of any kind; 0, -ETIMEDOUT or -errno. */
static int read_msg(int uffd, int timeout_ms, struct uffd_msg *msg)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	int ret = poll(&pfd, 1, timeout_ms);

	if (ret < 0)
		return -errno;
	if (!ret)
		return -ETIMEDOUT;
	if (read(uffd, msg, sizeof(*msg)) != sizeof(*msg))
		return -errno ?: -EPROTO;
	return 0;
}

/* UFFDIO_COPY; returns the ioctl's -errno or 0, *copied the copy field. */
static int uffd_copy(int uffd, void *dst, const void *src, size_t len,
		     int64_t *copied)
{
	struct uffdio_copy c = { .dst = (unsigned long)dst,
				 .src = (unsigned long)src,
				 .len = len,
				 .copy = 0x5555 };
	int ret = ioctl(uffd, UFFDIO_COPY, &c) ? -errno : 0;

	*copied = c.copy;
	return ret;
}

static int uffd_wp(int uffd, void *p, size_t len, bool on)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (unsigned long)p, .len = len },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &w) ? -errno : 0;
}

/* A thread that reads or writes one byte and records the signal. */
struct toucher {
	pthread_t tid;
	volatile char *addr;
	bool write;
	unsigned char val;
	struct ht_sigbus sb;
	volatile int done;
};

static void *toucher_fn(void *arg)
{
	struct toucher *t = arg;

	ht_access(t->addr, t->write, t->val, &t->sb);
	t->done = 1;
	return NULL;
}

static int touch_async(struct toucher *t, volatile char *addr, bool write,
		       unsigned char val)
{
	*t = (struct toucher){ .addr = addr, .write = write, .val = val };
	return pthread_create(&t->tid, NULL, toucher_fn, t);
}

/* The next message must be a page fault at @addr with exactly @flags. */
static void expect_fault(struct __test_metadata *_metadata, int uffd,
			 unsigned long addr, uint64_t flags)
{
	struct uffd_msg msg;
	int ret = read_msg(uffd, 20000, &msg);

	ASSERT_EQ(0, ret) TH_LOG("no uffd message: %s", strerror(-ret));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);
	EXPECT_EQ(addr, msg.arg.pagefault.address)
	TH_LOG("fault address (rounded down to the huge page)");
	EXPECT_EQ(flags, msg.arg.pagefault.flags) TH_LOG("fault flags");
}

static int open_register(struct __test_metadata *_metadata, uint64_t features,
			 void *p, size_t len, uint64_t mode, uint64_t *ioctls)
{
	uint64_t dummy;
	int uffd = ht_uffd_open(features), ret;

	if (uffd < 0)
		return uffd;
	ret = ht_uffd_register_ioctls(uffd, p, len, mode, ioctls ?: &dummy);
	EXPECT_EQ(0, ret)
	TH_LOG("UFFDIO_REGISTER mode %#llx: %s", (unsigned long long)mode,
	       strerror(-ret));
	if (ret) {
		close(uffd);
		return ret;
	}
	return uffd;
}

/* ======================================================================
 * uffd: MISSING, POISON, EVENT_REMOVE, WP markers.  Huge only: an HGM
 * VMA is registered MINOR by construction.
 */
FIXTURE(ops_uffd)
{
	struct ht_env env;
	struct ht_file file; /* two huge pages, no page cached */
	char *src; /* UFFDIO_COPY source, anonymous base pages */
	struct ht_pool_model m;
};

FIXTURE_VARIANT(ops_uffd)
{
	enum ht_level level;
};

/*
 * 2 MiB only: each case copies or faults several huge pages, and under
 * TCG (the VM runs) a 1 GiB copy or zeroing takes minutes.
 */
HT_ADD_SIZE_VARIANT_2M(ops_uffd, huge);

FIXTURE_SETUP(ops_uffd)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
	};

	self->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_file_create(&self->file, HT_PSIZE(variant),
				    2 * HT_PSIZE(variant)));
	self->src = mmap(NULL, HT_PSIZE(variant), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->src);
	/*
	 * Every source page must stay present (the unstamped ones map the
	 * zero page): a copy under mmap_lock that faults makes
	 * hugetlb_mfill_atomic_pte take a temporary huge page the pool may
	 * not have (ENOMEM for 1 GiB).  An explicit policy keeps NUMA
	 * balancing from unmapping the stamped pages (vma_policy_mof);
	 * THP makes the zero mapping 512 times cheaper under TCG.
	 */
	ASSERT_EQ(0,
		  mbind(self->src, HT_PSIZE(variant), MPOL_LOCAL, NULL, 0, 0))
	TH_LOG("mbind(MPOL_LOCAL): %s", strerror(errno));
	madvise(self->src, HT_PSIZE(variant), MADV_HUGEPAGE);
	stamp(self->src, HT_PSIZE(variant), HT_PSIZE(variant), 0, SEED);
	ASSERT_EQ(0, madvise(self->src, HT_PSIZE(variant), MADV_POPULATE_READ))
	TH_LOG("MADV_POPULATE_READ of the source: %s", strerror(errno));
	ASSERT_EQ(0, ht_pool_model_init(&self->m, HT_PSIZE(variant), -1));
}

FIXTURE_TEARDOWN_PARENT(ops_uffd)
{
	HT_TEARDOWN(&self->env);
}

/* Two huge pages: the file's (shared) or anonymous (private).  Rsvd += 2. */
static char *map_two(struct __test_metadata *_metadata,
		     FIXTURE_DATA(ops_uffd) * self, unsigned long psize,
		     bool shared)
{
	char *p;

	if (shared)
		p = mmap(NULL, 2 * psize, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->file.fd, 0);
	else
		p = map_anon(psize, 2 * psize);
	EXPECT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	if (p != MAP_FAILED) {
		self->m.want.resv += 2;
		HT_POOL_CHECK(&self->m, "mmap of two pages");
	}
	return p;
}

/* The uffd errors of a MISSING range, on @p (page 1 copied, 0 empty). */
static void copy_errors(struct __test_metadata *_metadata,
			FIXTURE_DATA(ops_uffd) * self, int uffd, char *p,
			unsigned long psize)
{
	struct uffdio_zeropage z = {
		.range = { .start = (unsigned long)p, .len = psize },
	};
	int64_t copied;
	int ret;

	/* mfill_atomic_hugetlb: the huge page's alignment, else EINVAL. */
	ret = uffd_copy(uffd, p + ps(), self->src, psize, &copied);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("COPY at an unaligned address");
	EXPECT_EQ(-EINVAL, copied);
	ret = uffd_copy(uffd, p, self->src, ps(), &copied);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("COPY of part of a huge page");
	EXPECT_EQ(-EINVAL, copied);
	/* No huge zero page: UFFDIO_ZEROPAGE is refused for hugetlb. */
	ret = ioctl(uffd, UFFDIO_ZEROPAGE, &z) ? -errno : 0;
	EXPECT_EQ(-EINVAL, ret) TH_LOG("ZEROPAGE on hugetlb");
	EXPECT_EQ(-EINVAL, z.zeropage);
	/* Onto the mapped page: EEXIST, nothing allocated. */
	ret = uffd_copy(uffd, p + psize, self->src, psize, &copied);
	EXPECT_EQ(-EEXIST, ret) TH_LOG("COPY onto a mapped page");
	EXPECT_EQ(-EEXIST, copied);
	EXPECT_EQ(0, present(p, psize)) TH_LOG("a refused ioctl mapped");
	HT_POOL_CHECK(&self->m, "the refused ioctls");

	/*
	 * Both pages: page 0 is filled, page 1 stops it with EEXIST.  The
	 * ioctl reports the part done in .copy and fails with EAGAIN
	 * (userfaultfd_copy).
	 */
	ret = uffd_copy(uffd, p, self->src, 2 * psize, &copied);
	EXPECT_EQ(-EAGAIN, ret) TH_LOG("COPY over [empty, mapped]");
	EXPECT_EQ((int64_t)psize, copied);
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "COPY of page 0 of two");
	EXPECT_EQ(-1, stamp_check(p, psize, psize, 0, SEED));
}

static void missing_copy(struct __test_metadata *_metadata,
			 FIXTURE_DATA(ops_uffd) * self, unsigned long psize,
			 bool shared)
{
	size_t off = psize + mid_off(psize) + 40;
	struct toucher t;
	uint64_t pm = 0;
	int64_t copied;
	int uffd, ret;
	char *p;

	p = map_two(_metadata, self, psize, shared);
	ASSERT_NE(MAP_FAILED, p);
	uffd = open_register(_metadata, 0, p, 2 * psize,
			     UFFDIO_REGISTER_MODE_MISSING, NULL);
	ASSERT_LE(0, uffd);

	ASSERT_EQ(0, touch_async(&t, p + off, false, 0));
	expect_fault(_metadata, uffd, (unsigned long)p + psize, 0);
	EXPECT_EQ(0, t.done) TH_LOG("the read went on before the COPY");
	HT_POOL_CHECK(&self->m, "a MISSING fault (nothing allocated)");
	ret = uffd_copy(uffd, p + psize, self->src, psize, &copied);
	ASSERT_EQ(0, ret)
	TH_LOG("COPY of a whole huge page: %s", strerror(-ret));
	EXPECT_EQ((int64_t)psize, copied);
	ASSERT_EQ(0, pthread_join(t.tid, NULL));
	expect_no_signal(_metadata, "the woken read", &t.sb);
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "COPY of one page");
	EXPECT_EQ((long)(psize / ps()), present(p + psize, psize));
	EXPECT_EQ(-1, stamp_check(p + psize, psize, psize, 0, SEED))
	TH_LOG("the copied page's contents");
	EXPECT_TRUE(piece_zero(p + psize + ps())) TH_LOG("an unstamped piece");
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p + psize, &pm));
	/* A shared COPY goes to the page cache, a private one is anon. */
	EXPECT_EQ(shared, !!(pm & HT_PM_FILE))
	TH_LOG("pagemap %#llx", (unsigned long long)pm);

	copy_errors(_metadata, self, uffd, p, psize);

	/*
	 * Zapped again: the shared page is still in the page cache, so a
	 * COPY is EEXIST (hugetlbfs_pagecache_present); the private page
	 * went back to the pool and a COPY fills anew.
	 */
	ASSERT_EQ(0, madvise(p, psize, MADV_DONTNEED));
	if (!shared) {
		self->m.want.free++;
		self->m.want.resv += zap_restores_reserve();
	}
	HT_POOL_CHECK(&self->m, "MADV_DONTNEED of page 0");
	ret = uffd_copy(uffd, p, self->src, psize, &copied);
	EXPECT_EQ(shared ? -EEXIST : 0, ret) TH_LOG("COPY after DONTNEED");
	EXPECT_EQ(shared ? -EEXIST : (int64_t)psize, copied);
	if (!shared) {
		self->m.want.free--;
		self->m.want.resv -= zap_restores_reserve();
	}
	HT_POOL_CHECK(&self->m, "COPY after MADV_DONTNEED");

	close(uffd);
	munmap(p, 2 * psize);
	/* Private: both pages freed, nothing left reserved. */
	if (!shared)
		self->m.want.free += 2;
	HT_POOL_CHECK(&self->m, "munmap");
}

TEST_F_TIMEOUT(ops_uffd, missing_copy_shared, 300)
{
	missing_copy(_metadata, self, HT_PSIZE(variant), true);
	/* The file holds both pages; its close frees them. */
	ht_file_close(&self->file);
	self->m.want.free += 2;
	HT_POOL_CHECK(&self->m, "closing the file");
}

TEST_F_TIMEOUT(ops_uffd, missing_copy_private, 300)
{
	missing_copy(_metadata, self, HT_PSIZE(variant), false);
}

/*
 * A COPY whose source is not mapped yet (a shmem file's pages, in the page
 * cache but not in this mapping): the copy under mmap_lock cannot fault,
 * so hugetlb_mfill_atomic_pte() copies into a temporary huge page outside
 * the lock (alloc_hugetlb_folio_vma(), no reservation: it needs a free
 * unreserved page) and retries; the temporary page goes back to the pool.
 */
TEST_F_TIMEOUT(ops_uffd, copy_from_unmapped_source, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	int64_t copied;
	int uffd, fd, ret;
	char *p, *w, *src;

	/* Two reserved by the mapping, one for the temporary page. */
	ASSERT_EQ(0, ht_pool_ensure_free(psize, -1, 3));
	ASSERT_EQ(0, ht_pool_model_init(&self->m, psize, -1));
	fd = memfd_create("src", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, psize));
	w = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, w);
	stamp(w, psize, psize, 0, SEED);
	munmap(w, psize);
	src = mmap(NULL, psize, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, src);
	ASSERT_EQ(0, present(src, psize)) TH_LOG("the source is mapped");

	p = map_two(_metadata, self, psize, true);
	ASSERT_NE(MAP_FAILED, p);
	uffd = open_register(_metadata, 0, p, 2 * psize,
			     UFFDIO_REGISTER_MODE_MISSING, NULL);
	ASSERT_LE(0, uffd);
	ret = uffd_copy(uffd, p, src, psize, &copied);
	ASSERT_EQ(0, ret)
	TH_LOG("COPY from an unmapped source: %s", strerror(-ret));
	EXPECT_EQ((int64_t)psize, copied);
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "COPY through a temporary page");
	EXPECT_EQ(-1, stamp_check(p, psize, psize, 0, SEED))
	TH_LOG("the copied page's contents");
	close(uffd);
	munmap(p, 2 * psize);
	munmap(src, psize);
	close(fd);
	ht_file_close(&self->file);
	self->m.want.free++;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "closing the file");
}

/* PAGEMAP_SCAN on this process: the ioctl's result, or -errno. */
static int pm_scan_ioctl(struct pm_scan_arg *a)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = ioctl(fd, PAGEMAP_SCAN, a);
	if (ret < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* PAGEMAP_SCAN that write-protects what it reports (async uffd-wp). */
static int scan_wp(void *p, size_t len, uint64_t mask, struct page_region *vec,
		   int nvec)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (unsigned long)p,
		.end = (unsigned long)p + len,
		.vec = (unsigned long)vec,
		.vec_len = nvec,
		.category_mask = mask,
		.return_mask = PAGE_IS_WRITTEN,
	};

	return pm_scan_ioctl(&a);
}

static uint64_t pm_of(void *p)
{
	uint64_t e = 0;

	ht_pagemap_read(0, (unsigned long)p, &e);
	return e;
}

/* PM_PRESENT and PM_UFFD_WP of the pagemap entry at @p. */
static uint64_t wp_bits(void *p)
{
	return pm_of(p) & (HT_PM_PRESENT | HT_PM_UFFD_WP);
}

/*
 * The categories the WP scans report: not PAGE_IS_SOFT_DIRTY (it follows
 * CONFIG_MEM_SOFT_DIRTY and VM_SOFTDIRTY) nor PAGE_IS_WPALLOWED (every
 * page of a registered VMA has it).
 */
#define SCAN_SEEN                                                          \
	(PAGE_IS_WRITTEN | PAGE_IS_FILE | PAGE_IS_PRESENT | PAGE_IS_HUGE | \
	 PAGE_IS_SWAPPED)

/* A PAGEMAP_SCAN with WP_MATCHING: its arguments and its answer. */
struct wp_scan {
	uint64_t mask; /* category_mask */
	uint64_t max_pages; /* 0: no limit */
	int n; /* regions, or -errno */
	uint64_t walk_end;
	struct page_region vec[4];
};

static void wp_scan(struct wp_scan *s, void *p, size_t len)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (unsigned long)p,
		.end = (unsigned long)p + len,
		.vec = (unsigned long)s->vec,
		.vec_len = 4,
		.max_pages = s->max_pages,
		.category_mask = s->mask,
		.return_mask = SCAN_SEEN,
	};

	memset(s->vec, 0, sizeof(s->vec));
	s->n = pm_scan_ioctl(&a);
	s->walk_end = a.walk_end;
}

struct want_region {
	unsigned long start, end;
	uint64_t cats;
};

/* The scan returned exactly the @n regions @w and walk_end @walk_end. */
static void expect_scan(struct __test_metadata *_metadata, const char *step,
			const struct wp_scan *s, unsigned long walk_end, int n,
			const struct want_region *w)
{
	EXPECT_EQ(n, s->n) TH_LOG("%s: regions", step);
	for (int i = 0; i < n && i < s->n; i++) {
		EXPECT_EQ(w[i].start, s->vec[i].start)
		TH_LOG("%s: region %d start", step, i);
		EXPECT_EQ(w[i].end, s->vec[i].end)
		TH_LOG("%s: region %d end", step, i);
		EXPECT_EQ(w[i].cats, s->vec[i].categories)
		TH_LOG("%s: region %d categories", step, i);
	}
	EXPECT_EQ(walk_end, s->walk_end) TH_LOG("%s: walk_end", step);
}

/* EXPECT_SCAN(&s, "step", walk_end, { start, end, cats }, ...) */
#define EXPECT_SCAN(s, step, walk_end, ...)                            \
	do {                                                           \
		const struct want_region __w[] = { __VA_ARGS__ };      \
		expect_scan(_metadata, step, s, walk_end,              \
			    (int)(sizeof(__w) / sizeof(__w[0])), __w); \
	} while (0)

/* An async uffd-wp registration of [@p, @p + @len), or -ENOTSUP. */
static int register_wp_async(struct __test_metadata *_metadata, void *p,
			     size_t len)
{
	int uffd = ht_uffd_open(UFFD_FEATURE_WP_ASYNC |
				UFFD_FEATURE_WP_HUGETLBFS_SHMEM),
	    ret;

	if (uffd < 0)
		return uffd;
	ret = ht_uffd_register(uffd, p, len, UFFDIO_REGISTER_MODE_WP);
	EXPECT_EQ(0, ret) TH_LOG("register WP: %s", strerror(-ret));
	if (ret) {
		close(uffd);
		return ret;
	}
	return uffd;
}

/*
 * Dirty tracking with async uffd-wp (CRIU's use): PAGEMAP_SCAN with
 * PM_SCAN_WP_MATCHING reports the written huge pages and write-protects
 * them in the same walk (make_uffd_wp_huge_pte()), so the next scan reports only
 * what was written since; an async-wp write fault just clears the bit.
 */
TEST_F_TIMEOUT(ops_uffd, wp_async_scan, 300)
{
	unsigned long psize = HT_PSIZE(variant), p0;
	struct page_region vec[4];
	uint64_t pm = 0;
	int uffd, n;
	char *p;

	p = map_two(_metadata, self, psize, true);
	ASSERT_NE(MAP_FAILED, p);
	p0 = (unsigned long)p;
	uffd = ht_uffd_open(UFFD_FEATURE_WP_ASYNC |
			    UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	if (uffd == -ENOTSUP)
		SKIP(return, "no async uffd-wp on hugetlbfs (6.7+)");
	ASSERT_LE(0, uffd);
	ASSERT_EQ(0, ht_uffd_register(uffd, p, 2 * psize,
				      UFFDIO_REGISTER_MODE_WP));
	p[0] = 1;
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "writing page 0");

	/*
	 * Every page matches an empty mask: the written one is reported as
	 * such and write-protected, the empty one is not "written" (a
	 * hugetlb hole, pagemap_hugetlb_category()).
	 */
	n = scan_wp(p, 2 * psize, 0, vec, 4);
	ASSERT_EQ(2, n) TH_LOG("the first scan: %d", n);
	EXPECT_EQ(p0, vec[0].start);
	EXPECT_EQ(p0 + psize, vec[0].end);
	EXPECT_EQ(PAGE_IS_WRITTEN, vec[0].categories);
	EXPECT_EQ(p0 + psize, vec[1].start);
	EXPECT_EQ(p0 + 2 * psize, vec[1].end);
	EXPECT_EQ(0, vec[1].categories);
	ASSERT_EQ(0, ht_pagemap_read(0, p0, &pm));
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP,
		  pm & (HT_PM_PRESENT | HT_PM_UFFD_WP))
	TH_LOG("page 0 after the scan: %#llx", (unsigned long long)pm);
	/*
	 * The hole: page 0's fault made the page table that holds its
	 * entry, so the scan met a none entry (->hugetlb_entry), not
	 * written, and protected nothing; a hole without a table gets a
	 * marker (wp_scan_holes_*).  Either way a later write there reads
	 * as written.
	 */
	ASSERT_EQ(0, ht_pagemap_read(0, p0 + psize, &pm));
	EXPECT_EQ(0, pm & HT_PM_PRESENT);

	EXPECT_EQ(0, scan_wp(p, 2 * psize, PAGE_IS_WRITTEN, vec, 4))
	TH_LOG("nothing written since");
	p[1] = 2;
	n = scan_wp(p, 2 * psize, PAGE_IS_WRITTEN, vec, 4);
	ASSERT_EQ(1, n) TH_LOG("after writing page 0 again: %d", n);
	EXPECT_EQ(p0, vec[0].start);
	EXPECT_EQ(p0 + psize, vec[0].end);
	EXPECT_EQ(2, p[1]);
	HT_POOL_CHECK(&self->m, "the scans");
	close(uffd);
	munmap(p, 2 * psize);
}

/*
 * Two pages (the file's or anonymous) at the start of a 1 GiB-aligned
 * PROT_NONE reservation of 1 GiB: nothing else can make the page table
 * that would cover them, so until a fault or a marker makes it a page
 * walk meets a hole there (hugetlb_walk() finds no PUD entry: the walk
 * calls ->pte_hole, not ->hugetlb_entry).  Rsvd += 2.
 */
static char *map_two_alone(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ops_uffd) * self, unsigned long psize,
			   bool shared, char **reserve)
{
	char *r, *p;

	r = ht_mmap_aligned(ht_pud_size(), ht_pud_size(), PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	*reserve = r;
	EXPECT_NE(MAP_FAILED, r) TH_LOG("reserve: %s", strerror(errno));
	if (r == MAP_FAILED)
		return MAP_FAILED;
	if (shared)
		p = mmap(r, 2 * psize, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, self->file.fd, 0);
	else
		p = mmap(r, 2 * psize, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
				 huge_flags(psize),
			 -1, 0);
	EXPECT_EQ(r, p) TH_LOG("mmap: %s", strerror(errno));
	if (p != r)
		return MAP_FAILED;
	self->m.want.resv += 2;
	HT_POOL_CHECK(&self->m, "mmap of two pages");
	return p;
}

/* Reads (@write false) or writes @val at @at; no signal allowed. */
static void touch_ok(struct __test_metadata *_metadata, char *at, bool write,
		     unsigned char val)
{
	struct ht_sigbus sb;

	ht_access(at, write, val, &sb);
	expect_no_signal(_metadata, write ? "write" : "read", &sb);
	if (write)
		EXPECT_EQ(val, *(volatile unsigned char *)at);
}

/*
 * PAGEMAP_SCAN with PM_SCAN_WP_MATCHING over hugetlb holes (6.12.117,
 * fs/proc/task_mmu.c).  A hugetlb hole is never PAGE_IS_WRITTEN
 * (pagemap_hugetlb_category(): no present entry), but an empty
 * category_mask matches it and the scan write-protects what it matched:
 *   no page table (->pte_hole): pagemap_scan_hugetlb_hole_wp() installs
 *       a uffd-wp marker on every huge page the range touches (a range
 *       that covers part of a page: wp_scan_partial_hole);
 *   a none entry in a table (->hugetlb_entry): not written, so nothing
 *       is write-protected and no marker appears;
 *   a marker reads as PAGE_IS_SWAPPED, not written (pte_swp_uffd_wp_any).
 * A read fault keeps a marker as the uffd-wp bit (hugetlb_no_page()): the
 * page is present and not written; without a marker a mere read makes
 * the page PAGE_IS_WRITTEN.  A write to a protected page is resolved
 * without a message (async) and the next scan reports it as written.
 */
static void wp_scan_holes(struct __test_metadata *_metadata,
			  FIXTURE_DATA(ops_uffd) * self, unsigned long psize,
			  bool shared)
{
	const uint64_t mapped = PAGE_IS_PRESENT | PAGE_IS_HUGE |
				(shared ? PAGE_IS_FILE : 0);
	size_t mid = mid_off(psize);
	struct wp_scan s = { 0 };
	unsigned long b;
	char *r, *p;
	int uffd;

	p = map_two_alone(_metadata, self, psize, shared, &r);
	ASSERT_NE(MAP_FAILED, p);
	b = (unsigned long)p;
	uffd = register_wp_async(_metadata, p, 2 * psize);
	if (uffd == -ENOTSUP)
		SKIP(return, "no async uffd-wp on hugetlbfs (6.7+)");
	ASSERT_LE(0, uffd);

	wp_scan(&s, p + psize, psize);
	EXPECT_SCAN(&s, "a hole", b + 2 * psize,
		    { b + psize, b + 2 * psize, 0 });
	EXPECT_EQ(HT_PM_UFFD_WP, wp_bits(p + psize + mid))
	TH_LOG("a marker on the page");
	EXPECT_EQ(0, wp_bits(p)) TH_LOG("page 0 was not in the range");
	HT_POOL_CHECK(&self->m, "the marker (no page)");

	/* The marker's table covers page 0 now: a none entry there. */
	wp_scan(&s, p, 2 * psize);
	EXPECT_SCAN(&s, "a none entry and a marker", b + 2 * psize,
		    { b, b + psize, PAGE_IS_HUGE },
		    { b + psize, b + 2 * psize,
		      PAGE_IS_SWAPPED | PAGE_IS_HUGE });
	EXPECT_EQ(0, wp_bits(p + mid)) TH_LOG("a none entry got a marker");
	EXPECT_EQ(HT_PM_UFFD_WP, wp_bits(p + psize));

	touch_ok(_metadata, p + mid, false, 0);
	touch_ok(_metadata, p + psize + mid, false, 0);
	self->m.want.free -= 2;
	self->m.want.resv -= 2;
	HT_POOL_CHECK(&self->m, "reading both pages");
	EXPECT_EQ(HT_PM_PRESENT, wp_bits(p));
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP, wp_bits(p + psize));
	s.mask = PAGE_IS_WRITTEN;
	wp_scan(&s, p, 2 * psize);
	EXPECT_SCAN(&s, "written after a read", b + 2 * psize,
		    { b, b + psize, mapped | PAGE_IS_WRITTEN });
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP, wp_bits(p));

	touch_ok(_metadata, p + psize + mid + 8, true, 0x6b);
	EXPECT_EQ(HT_PM_PRESENT, wp_bits(p + psize)) TH_LOG("async resolve");
	wp_scan(&s, p, 2 * psize);
	EXPECT_SCAN(&s, "the marked page, written", b + 2 * psize,
		    { b + psize, b + 2 * psize, mapped | PAGE_IS_WRITTEN });
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP, wp_bits(p + psize));
	wp_scan(&s, p, 2 * psize);
	EXPECT_SCAN(&s, "nothing written since", b + 2 * psize);
	EXPECT_EQ(0x6b, p[psize + mid + 8]);
	HT_POOL_CHECK(&self->m, "the scans");
	close(uffd);
	munmap(r, ht_pud_size());
	/* The private pages go back now, the file's with the file. */
	if (shared)
		ht_file_close(&self->file);
	self->m.want.free += 2;
	HT_POOL_CHECK(&self->m, "munmap and close");
}

TEST_F_TIMEOUT(ops_uffd, wp_scan_holes_shared, 300)
{
	wp_scan_holes(_metadata, self, HT_PSIZE(variant), true);
}

TEST_F_TIMEOUT(ops_uffd, wp_scan_holes_private, 300)
{
	wp_scan_holes(_metadata, self, HT_PSIZE(variant), false);
}

/*
 * WP_MATCHING over the first 4 KiB of a hole.  A huge page cannot be
 * protected in part: for a present page pagemap_scan_hugetlb_entry()
 * backs out (no region, walk_end at the page, nothing protected;
 * ops_shared's wp_scan_backout), and the hole must get the same answer.
 * pagemap_scan_hugetlb_hole_wp() (6.12.117's fix of the hole path)
 * instead reports the 4 KiB and puts a marker on the whole page, beyond
 * the range the caller asked to protect.
 */
TEST_F_TIMEOUT(ops_uffd, wp_scan_partial_hole, 300)
{
	size_t mid = mid_off(HT_PSIZE(variant));
	unsigned long psize = HT_PSIZE(variant), b;
	struct wp_scan s = { 0 };
	char *r, *p;
	int uffd;

	p = map_two_alone(_metadata, self, psize, true, &r);
	ASSERT_NE(MAP_FAILED, p);
	b = (unsigned long)p;
	uffd = register_wp_async(_metadata, p, 2 * psize);
	if (uffd == -ENOTSUP)
		SKIP(return, "no async uffd-wp on hugetlbfs (6.7+)");
	ASSERT_LE(0, uffd);

	wp_scan(&s, p + psize, ps());
	EXPECT_EQ(0, wp_bits(p + psize + mid))
	TH_LOG("a marker beyond the scanned range");
	EXPECT_SCAN(&s, "4 KiB of a hole", b + psize);
	HT_POOL_CHECK(&self->m, "the scan");
	close(uffd);
	munmap(r, ht_pud_size());
	ht_file_close(&self->file);
	ht_pool_model_move(&self->m, 0, 0, -2, 0);
	HT_POOL_CHECK(&self->m, "munmap and close");
}

/*
 * Registration ranges of a hugetlb VMA must be huge-page aligned at both
 * ends (userfaultfd_register(), userfaultfd_unregister(): EINVAL), and an
 * unregistered range faults as if no uffd had ever been there.
 */
TEST_F_TIMEOUT(ops_uffd, register_alignment_and_unregister, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct uffdio_range r;
	int uffd, ret;
	char *p;

	p = map_two(_metadata, self, psize, true);
	ASSERT_NE(MAP_FAILED, p);
	uffd = ht_uffd_open(0);
	ASSERT_LE(0, uffd);
	ret = ht_uffd_register(uffd, p + ps(), psize,
			       UFFDIO_REGISTER_MODE_MISSING);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("register at an unaligned start");
	ret = ht_uffd_register(uffd, p, psize + ps(),
			       UFFDIO_REGISTER_MODE_MISSING);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("register to an unaligned end");
	ASSERT_EQ(0, ht_uffd_register(uffd, p, 2 * psize,
				      UFFDIO_REGISTER_MODE_MISSING));
	r = (struct uffdio_range){ .start = (unsigned long)p + ps(),
				   .len = psize };
	ret = ioctl(uffd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
	EXPECT_EQ(-EINVAL, ret) TH_LOG("unregister at an unaligned start");
	r = (struct uffdio_range){ .start = (unsigned long)p, .len = psize };
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_UNREGISTER, &r))
	TH_LOG("unregister page 0: %s", strerror(errno));
	/* Page 0 faults by itself now (page 1 is still registered). */
	p[0] = 1;
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "a write to the unregistered page");
	EXPECT_EQ((long)(psize / ps()), present(p, psize));
	close(uffd);
	munmap(p, 2 * psize);
}

/*
 * UFFDIO_WRITEPROTECT of a hugetlb range must be huge-page aligned at both
 * ends (mwriteprotect_range(): EINVAL) and then changes nothing; an
 * aligned range protects the page (pagemap PM_UFFD_WP).
 */
TEST_F_TIMEOUT(ops_uffd, writeprotect_alignment, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	int uffd;
	char *p;

	p = map_two(_metadata, self, psize, false);
	ASSERT_NE(MAP_FAILED, p);
	uffd = ht_uffd_open(UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	if (uffd == -ENOTSUP)
		SKIP(return, "no uffd-wp on hugetlb");
	ASSERT_LE(0, uffd);
	ASSERT_EQ(0, ht_uffd_register(uffd, p, 2 * psize,
				      UFFDIO_REGISTER_MODE_WP));
	p[0] = 1;
	ht_pool_model_move(&self->m, 0, -1, -1, 0);
	HT_POOL_CHECK(&self->m, "a write to page 0");
	EXPECT_EQ(-EINVAL, uffd_wp(uffd, p, ps(), true))
	TH_LOG("WRITEPROTECT of 4 KiB");
	EXPECT_EQ(-EINVAL, uffd_wp(uffd, p + ps(), psize, true))
	TH_LOG("WRITEPROTECT at an unaligned start");
	EXPECT_EQ(HT_PM_PRESENT, wp_bits(p))
	TH_LOG("page 0 after the refused calls");
	EXPECT_EQ(0, uffd_wp(uffd, p, psize, true)) TH_LOG("WRITEPROTECT");
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP, wp_bits(p))
	TH_LOG("page 0 after WRITEPROTECT");
	close(uffd);
	munmap(p, 2 * psize);
	ht_pool_model_move(&self->m, 0, 1, -1, 0);
	HT_POOL_CHECK(&self->m, "munmap");
}

/*
 * UFFDIO_COPY with UFFDIO_COPY_MODE_WP into a MISSING|WP range: the new
 * page is mapped write-protected (hugetlb_mfill_atomic_pte() sets the
 * uffd-wp bit, pagemap PM_UFFD_WP) until UFFDIO_WRITEPROTECT lifts it.
 */
TEST_F_TIMEOUT(ops_uffd, copy_mode_wp, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct uffdio_copy c;
	uint64_t pm = 0;
	int uffd;
	char *p;

	p = map_two(_metadata, self, psize, false);
	ASSERT_NE(MAP_FAILED, p);
	uffd = ht_uffd_open(UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	if (uffd == -ENOTSUP)
		SKIP(return, "no uffd-wp on hugetlb");
	ASSERT_LE(0, uffd);
	ASSERT_EQ(0, ht_uffd_register(uffd, p, 2 * psize,
				      UFFDIO_REGISTER_MODE_MISSING |
					      UFFDIO_REGISTER_MODE_WP));
	c = (struct uffdio_copy){ .dst = (unsigned long)p,
				  .src = (unsigned long)self->src,
				  .len = psize,
				  .mode = UFFDIO_COPY_MODE_WP };
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_COPY, &c))
	TH_LOG("COPY with MODE_WP: %s", strerror(errno));
	EXPECT_EQ((int64_t)psize, c.copy);
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "COPY with MODE_WP");
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p, &pm));
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP,
		  pm & (HT_PM_PRESENT | HT_PM_UFFD_WP))
	TH_LOG("pagemap after COPY with MODE_WP: %#llx",
	       (unsigned long long)pm);
	ASSERT_EQ(0, uffd_wp(uffd, p, psize, false));
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p, &pm));
	EXPECT_EQ(HT_PM_PRESENT, pm & (HT_PM_PRESENT | HT_PM_UFFD_WP))
	TH_LOG("pagemap after WRITEPROTECT off: %#llx", (unsigned long long)pm);
	EXPECT_EQ(-1, stamp_check(p, psize, psize, 0, SEED));
	close(uffd);
	munmap(p, 2 * psize);
	self->m.want.free++;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "munmap");
}

TEST_F_TIMEOUT(ops_uffd, poison_then_sigbus, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct uffdio_poison pz = {
		.range = { .start = 0, .len = psize },
		.updated = 0x5555,
	};
	bool mf = !ht_probe_memory_failure();
	int code = mf ? BUS_MCEERR_AR : BUS_ADRERR;
	uint64_t ioctls = 0, pm = ~0ULL;
	struct ht_sigbus sb;
	int64_t copied;
	int uffd, ret;
	char *p, *at;

	p = map_two(_metadata, self, psize, true);
	ASSERT_NE(MAP_FAILED, p);
	uffd = open_register(_metadata, 0, p, 2 * psize,
			     UFFDIO_REGISTER_MODE_MISSING, &ioctls);
	ASSERT_LE(0, uffd);
	/* fc71884a5f59 "mm: userfaultfd: add new UFFDIO_POISON ioctl" */
	if (!(ioctls & BIT64(_UFFDIO_POISON)))
		SKIP(return, "userfaultfd without UFFDIO_POISON (6.6+)");
	pz.range.start = (unsigned long)p;
	ret = ioctl(uffd, UFFDIO_POISON, &pz) ? -errno : 0;
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_POISON: %s", strerror(-ret));
	EXPECT_EQ((int64_t)psize, pz.updated);
	HT_POOL_CHECK(&self->m, "POISON (a marker, no page)");
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p, &pm));
	EXPECT_EQ(0, pm & HT_PM_PRESENT);

	/* A marker is there: a second POISON must not overwrite it. */
	pz.updated = 0x5555;
	ret = ioctl(uffd, UFFDIO_POISON, &pz) ? -errno : 0;
	EXPECT_EQ(-EEXIST, ret) TH_LOG("POISON of a poisoned entry");
	EXPECT_EQ(-EEXIST, pz.updated);

	/*
	 * hugetlb_fault: VM_FAULT_HWPOISON_LARGE with the huge page's
	 * index; x86 do_sigbus makes it BUS_MCEERR_AR with the page's shift
	 * under CONFIG_MEMORY_FAILURE, else a plain BUS_ADRERR.
	 */
	at = p + mid_off(psize) + 8;
	ht_access(at, false, 0, &sb);
	expect_signal(_metadata, "read of a poisoned entry", &sb, SIGBUS, code,
		      at);
	EXPECT_EQ(mf ? ht_size_shift(psize) : 0, sb.addr_lsb);
	ht_access(at, true, 1, &sb);
	expect_signal(_metadata, "write of a poisoned entry", &sb, SIGBUS, code,
		      at);
	HT_POOL_CHECK(&self->m, "faults on the marker (no allocation)");

	/* The neighbour is not poisoned: a MISSING fault, then COPY. */
	ret = uffd_copy(uffd, p + psize, self->src, psize, &copied);
	EXPECT_EQ(0, ret) TH_LOG("COPY next to the marker: %s", strerror(-ret));
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "COPY of page 1");
	close(uffd);
	/* Unregistered, the marker still stands until the entry is zapped. */
	ht_access(at, false, 0, &sb);
	expect_signal(_metadata, "read after close", &sb, SIGBUS, code, at);
	ASSERT_EQ(0, madvise(p, psize, MADV_DONTNEED));
	ht_access(at, false, 0, &sb);
	expect_no_signal(_metadata, "read after MADV_DONTNEED", &sb);
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "the fault after the marker was zapped");
	munmap(p, 2 * psize);
	ht_file_close(&self->file);
	self->m.want.free += 2;
	HT_POOL_CHECK(&self->m, "closing the file");
}

struct madv_arg {
	pthread_t tid;
	void *p;
	size_t len;
	int advice, ret;
};

static void *madv_fn(void *arg)
{
	struct madv_arg *a = arg;

	a->ret = madvise(a->p, a->len, a->advice) ? errno : 0;
	return NULL;
}

/* madvise in a thread (it waits for the event to be read); one REMOVE. */
static void expect_remove_event(struct __test_metadata *_metadata, int uffd,
				char *p, size_t len, int advice)
{
	struct madv_arg a = { .p = p, .len = len, .advice = advice };
	struct uffd_msg msg;
	int ret;

	ASSERT_EQ(0, pthread_create(&a.tid, NULL, madv_fn, &a));
	ret = read_msg(uffd, 20000, &msg);
	EXPECT_EQ(0, ret) TH_LOG("no REMOVE event: %s", strerror(-ret));
	ASSERT_EQ(0, pthread_join(a.tid, NULL));
	EXPECT_EQ(0, a.ret) TH_LOG("madvise(%d): %s", advice, strerror(a.ret));
	if (ret)
		return;
	EXPECT_EQ(UFFD_EVENT_REMOVE, msg.event);
	EXPECT_EQ((unsigned long)p, msg.arg.remove.start);
	EXPECT_EQ((unsigned long)p + len, msg.arg.remove.end);
	/* Exactly one event per call. */
	EXPECT_EQ(-ETIMEDOUT, read_msg(uffd, 200, &msg));
}

TEST_F_TIMEOUT(ops_uffd, event_remove, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	int64_t copied;
	int uffd, ret;
	char *p;

	p = map_two(_metadata, self, psize, true);
	ASSERT_NE(MAP_FAILED, p);
	uffd = open_register(_metadata, UFFD_FEATURE_EVENT_REMOVE, p, 2 * psize,
			     UFFDIO_REGISTER_MODE_MISSING, NULL);
	ASSERT_LE(0, uffd);
	for (int i = 0; i < 2; i++) {
		ret = uffd_copy(uffd, p + i * psize, self->src, psize, &copied);
		ASSERT_EQ(0, ret) TH_LOG("COPY %d: %s", i, strerror(-ret));
	}
	self->m.want.free -= 2;
	self->m.want.resv -= 2;
	HT_POOL_CHECK(&self->m, "COPY of both pages");

	/* DONTNEED: unmapped, still cached (the pool does not move). */
	expect_remove_event(_metadata, uffd, p, psize, MADV_DONTNEED);
	EXPECT_EQ(0, present(p, psize));
	EXPECT_EQ((long)(psize / ps()), present(p + psize, psize));
	HT_POOL_CHECK(&self->m, "MADV_DONTNEED of page 0");
	ret = uffd_copy(uffd, p, self->src, psize, &copied);
	EXPECT_EQ(-EEXIST, ret) TH_LOG("the page cache still has page 0");

	/*
	 * MADV_REMOVE punches the file: page 1 back to the pool.  Its
	 * reservation was consumed, so hugetlb_unreserve_pages returns
	 * none (chg 1 - freed 1): Rsvd unchanged.
	 */
	expect_remove_event(_metadata, uffd, p + psize, psize, MADV_REMOVE);
	EXPECT_EQ(0, present(p + psize, psize));
	self->m.want.free++;
	HT_POOL_CHECK(&self->m, "MADV_REMOVE of page 1");
	/* The hole is missing again: COPY fills it, without reservation. */
	ret = uffd_copy(uffd, p + psize, self->src, psize, &copied);
	EXPECT_EQ(0, ret) TH_LOG("COPY into the hole: %s", strerror(-ret));
	self->m.want.free--;
	HT_POOL_CHECK(&self->m, "COPY into the punched hole");
	EXPECT_EQ(-1, stamp_check(p + psize, psize, psize, 0, SEED));
	close(uffd);
	munmap(p, 2 * psize);
	ht_file_close(&self->file);
	self->m.want.free += 2;
	HT_POOL_CHECK(&self->m, "closing the file");
}

/*
 * UFFDIO_WRITEPROTECT of an unpopulated shared page installs a uffd-wp
 * marker (hugetlb_change_protection): pagemap says PM_UFFD_WP without
 * PM_PRESENT; the read fault maps the page write-protected.
 */
TEST_F_TIMEOUT(ops_uffd, wp_marker_unpopulated, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	uint64_t pm = 0, ioctls = 0;
	struct ht_sigbus sb;
	struct toucher t;
	int uffd, ret;
	char *p, *at;

	p = map_two(_metadata, self, psize, true);
	ASSERT_NE(MAP_FAILED, p);
	uffd = ht_uffd_open(UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	if (uffd == -ENOTSUP)
		SKIP(return,
			   "userfaultfd without UFFD_FEATURE_WP_HUGETLBFS_SHMEM");
	ASSERT_LE(0, uffd);
	ret = ht_uffd_register_ioctls(uffd, p, 2 * psize,
				      UFFDIO_REGISTER_MODE_WP, &ioctls);
	ASSERT_EQ(0, ret) TH_LOG("register WP: %s", strerror(-ret));
	EXPECT_TRUE(ioctls & BIT64(_UFFDIO_WRITEPROTECT));
	ASSERT_EQ(0, uffd_wp(uffd, p, psize, true));
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p, &pm));
	EXPECT_EQ(HT_PM_UFFD_WP, pm & (HT_PM_UFFD_WP | HT_PM_PRESENT))
	TH_LOG("pagemap of a marker %#llx", (unsigned long long)pm);
	HT_POOL_CHECK(&self->m, "WRITEPROTECT of an empty page");

	/* Read: hugetlb_no_page allocates, keeps the wp bit. */
	at = p + mid_off(psize);
	ht_access(at, false, 0, &sb);
	expect_no_signal(_metadata, "read of the marker", &sb);
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "the read fault on the marker");
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)at, &pm));
	EXPECT_EQ(HT_PM_UFFD_WP | HT_PM_PRESENT,
		  pm & (HT_PM_UFFD_WP | HT_PM_PRESENT));

	ASSERT_EQ(0, touch_async(&t, at, true, 0x77));
	expect_fault(_metadata, uffd, (unsigned long)p,
		     UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE);
	EXPECT_EQ(0, t.done);
	ASSERT_EQ(0, uffd_wp(uffd, p, psize, false));
	ASSERT_EQ(0, pthread_join(t.tid, NULL));
	expect_no_signal(_metadata, "the write after un-protect", &t.sb);
	EXPECT_EQ(0x77, *(volatile unsigned char *)at);
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)at, &pm));
	EXPECT_EQ(HT_PM_PRESENT, pm & (HT_PM_UFFD_WP | HT_PM_PRESENT));
	/* Page 1 was never protected: no marker. */
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p + psize, &pm));
	EXPECT_EQ(0, pm & (HT_PM_UFFD_WP | HT_PM_PRESENT));
	HT_POOL_CHECK(&self->m, "the write");
	close(uffd);
	munmap(p, 2 * psize);
	ht_file_close(&self->file);
	self->m.want.free++;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "closing the file");
}

/*
 * mincore of hugetlb reads the entry alone (mincore_hugetlb): "present"
 * is !huge_pte_none_mostly() in 6.12, so a uffd-wp marker (sync or async
 * WP) or a poison marker on a never-faulted page is not resident (0 for
 * every piece), while a present page is 1 for every piece.  Page 0 gets
 * the marker, page 1 (not registered) is faulted in by a read.  Debian's
 * 6.1.192 answers 0 for the sync uffd-wp marker too (measured; it has no
 * async WP on hugetlbfs nor UFFDIO_POISON).
 */
enum marker { MARK_WP, MARK_WP_ASYNC, MARK_POISON };

/* The marker of @k on [p, p + psize): the uffd, or a SKIP/failure. */
static int mark_page(struct __test_metadata *_metadata, char *p,
		     unsigned long psize, enum marker k)
{
	struct uffdio_poison pz = { .range = { (unsigned long)p, psize } };
	uint64_t ioctls = 0;
	int uffd;

	if (k == MARK_WP_ASYNC)
		uffd = register_wp_async(_metadata, p, psize);
	else
		uffd = open_register(
			_metadata,
			k == MARK_WP ? UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0, p,
			psize,
			k == MARK_WP ? UFFDIO_REGISTER_MODE_WP :
				       UFFDIO_REGISTER_MODE_MISSING,
			&ioctls);
	if (uffd < 0)
		return uffd;
	if (k != MARK_POISON) {
		int ret = uffd_wp(uffd, p, psize, true);

		if (ret)
			close(uffd);
		return ret ?: uffd;
	}
	/* fc71884a5f59 "mm: userfaultfd: add new UFFDIO_POISON ioctl" */
	if (!(ioctls & BIT64(_UFFDIO_POISON))) {
		close(uffd);
		return -ENOSYS; /* ENOTSUP is EOPNOTSUPP on Linux */
	}
	if (ioctl(uffd, UFFDIO_POISON, &pz)) {
		close(uffd);
		return -errno;
	}
	return uffd;
}

static void mincore_marker(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ops_uffd) * self, unsigned long psize,
			   enum marker k)
{
	long n = (long)(psize / ps());
	struct ht_sigbus sb;
	uint64_t pm = ~0ULL;
	int uffd;
	char *p;

	p = map_two(_metadata, self, psize, true);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, ht_mincore_resident(p, 2 * psize)) TH_LOG("untouched");
	uffd = mark_page(_metadata, p, psize, k);
	if (uffd == -ENOTSUP && k == MARK_WP_ASYNC)
		SKIP(return, "no async uffd-wp on hugetlbfs (6.7+)");
	if (uffd == -ENOTSUP)
		SKIP(return,
			   "userfaultfd without UFFD_FEATURE_WP_HUGETLBFS_SHMEM");
	if (uffd == -ENOSYS)
		SKIP(return, "userfaultfd without UFFDIO_POISON (6.6+)");
	ASSERT_LE(0, uffd) TH_LOG("the marker: %s", strerror(-uffd));
	ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p, &pm));
	EXPECT_EQ(k == MARK_POISON ? 0 : HT_PM_UFFD_WP,
		  pm & (HT_PM_UFFD_WP | HT_PM_PRESENT))
	TH_LOG("pagemap of the marker %#llx", (unsigned long long)pm);
	HT_POOL_CHECK(&self->m, "the marker (no page)");
	EXPECT_EQ(0, ht_mincore_resident(p, psize))
	TH_LOG("mincore of the marker's page");

	ht_access(p + psize + mid_off(psize), false, 0, &sb);
	expect_no_signal(_metadata, "read of page 1", &sb);
	self->m.want.free--;
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "the read fault of page 1");
	EXPECT_EQ(n, ht_mincore_resident(p + psize, psize))
	TH_LOG("mincore of the present page");
	EXPECT_EQ(n, ht_mincore_resident(p, 2 * psize))
	TH_LOG("mincore of both: the present page only");
	if (k != MARK_POISON) {
		/* hugetlb_no_page maps the page, write-protected. */
		ht_access(p + mid_off(psize), false, 0, &sb);
		expect_no_signal(_metadata, "read of the marker", &sb);
		self->m.want.free--;
		self->m.want.resv--;
		HT_POOL_CHECK(&self->m, "the read fault on the marker");
		ASSERT_EQ(0, ht_pagemap_read(0, (unsigned long)p, &pm));
		EXPECT_EQ(HT_PM_UFFD_WP | HT_PM_PRESENT,
			  pm & (HT_PM_UFFD_WP | HT_PM_PRESENT));
		EXPECT_EQ(2 * n, ht_mincore_resident(p, 2 * psize))
		TH_LOG("mincore of both, present");
	}
	close(uffd);
	munmap(p, 2 * psize);
	ht_file_close(&self->file);
	/* evict: the faulted pages go back, the rest of the reservation. */
	self->m.want.free += k == MARK_POISON ? 1 : 2;
	self->m.want.resv -= k == MARK_POISON ? 1 : 0;
	HT_POOL_CHECK(&self->m, "closing the file");
}

TEST_F_TIMEOUT(ops_uffd, mincore_wp_marker, 300)
{
	mincore_marker(_metadata, self, HT_PSIZE(variant), MARK_WP);
}

TEST_F_TIMEOUT(ops_uffd, mincore_wp_async_marker, 300)
{
	mincore_marker(_metadata, self, HT_PSIZE(variant), MARK_WP_ASYNC);
}

TEST_F_TIMEOUT(ops_uffd, mincore_poison_marker, 300)
{
	mincore_marker(_metadata, self, HT_PSIZE(variant), MARK_POISON);
}

/* ======================================================================
 * Shared file mappings: the same model for a VMA mapped huge and one
 * mapped at 4 KiB (HGM).  Two filled pages, both mapped; the pool does
 * not move in any of these cases: nothing is allocated or freed.
 */
FIXTURE(ops_shared)
{
	struct ht_env env;
	struct ht_file file;
	char *p; /* both pages, at the variant's granularity */
	int uffd; /* the hgm variant's MINOR uffd, else -1 */
	uint64_t pfn[2];
	struct ht_pool_model m;
};

FIXTURE_VARIANT(ops_shared)
{
	HT_VARIANT_FIELDS;
};

/* 2 MiB only, as ops_uffd; hgm_1G would skip everywhere anyway. */
HT_ADD_VARIANTS_2M(ops_shared);

FIXTURE_SETUP(ops_shared)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};
	unsigned long psize = HT_PSIZE(variant);
	struct ht_smaps_vma v;

	self->file.fd = -1;
	self->uffd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_file_create(&self->file, psize, 2 * psize));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, 2 * psize, SEED));
	self->p = ht_map_populated(&self->file, 0, 2 * psize, variant->gran,
				   &self->uffd);
	ASSERT_NE(MAP_FAILED, self->p)
	TH_LOG("mapping %s: %s", ht_gran_name(variant->gran), strerror(errno));
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)self->p, &v));
	ASSERT_EQ(variant->gran == HT_GRAN_HGM, ht_vmflags_has(&v, "hm"))
	TH_LOG("VmFlags: %s", v.vmflags);
	for (int i = 0; i < 2; i++)
		self->pfn[i] = ht_pfn_of(_metadata, 0,
					 (unsigned long)self->p + i * psize);
	ASSERT_EQ(0, ht_pool_model_init(&self->m, psize, -1));
}

FIXTURE_TEARDOWN_PARENT(ops_shared)
{
	HT_TEARDOWN(&self->env);
}

static void close_minor(FIXTURE_DATA(ops_shared) * self)
{
	if (self->uffd >= 0)
		close(self->uffd);
	self->uffd = -1;
}

/* Every piece of page @i of the file mapped at @at, from its folio. */
static void expect_page_at(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ops_shared) * self, unsigned long psize,
			   char *at, int i, const char *who)
{
	EXPECT_EQ((long)(psize / ps()), present(at, psize))
	TH_LOG("%s: pieces present", who);
	EXPECT_EQ(self->pfn[i], ht_pfn_of(_metadata, 0, (unsigned long)at))
	TH_LOG("%s: head PFN", who);
	EXPECT_EQ(self->pfn[i] + mid_off(psize) / ps(),
		  ht_pfn_of(_metadata, 0, (unsigned long)at + mid_off(psize)))
	TH_LOG("%s: PFN of a middle piece", who);
	EXPECT_EQ(-1, stamp_check(at, psize, psize, i * psize, SEED))
	TH_LOG("%s: contents", who);
}

/*
 * mremap of hugetlb (mm/mremap.c): lengths are rounded up to the huge
 * page, addresses must be aligned (EINVAL), growing is EINVAL, shrinking
 * unmaps the tail, a move carries the entries (move_hugetlb_page_tables).
 */
TEST_F_TIMEOUT(ops_shared, mremap_rules, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	char *p = self->p, *hole, *q;
	struct ht_smaps_vma v;
	struct ht_sigbus sb;

	q = mremap(p + ps(), psize, psize, 0);
	EXPECT_EQ(MAP_FAILED, q) TH_LOG("unaligned old address");
	EXPECT_EQ(EINVAL, errno);
	q = mremap(p, 2 * psize, 3 * psize, 0);
	EXPECT_EQ(MAP_FAILED, q) TH_LOG("growing in place");
	EXPECT_EQ(EINVAL, errno);
	q = mremap(p, 2 * psize, 3 * psize, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, q) TH_LOG("growing by moving");
	EXPECT_EQ(EINVAL, errno);
	hole = ht_mmap_aligned(psize, psize, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
	ASSERT_NE(MAP_FAILED, hole);
	q = mremap(p, psize, psize, MREMAP_MAYMOVE | MREMAP_FIXED, hole + ps());
	EXPECT_EQ(MAP_FAILED, q) TH_LOG("unaligned new address");
	EXPECT_EQ(EINVAL, errno);
	expect_page_at(_metadata, self, psize, p, 0, "after the refusals");
	expect_page_at(_metadata, self, psize, p + psize, 1,
		       "after the refusals");

	/* Shrinking: the tail leaves, the page stays cached. */
	q = mremap(p, 2 * psize, psize - ps(), 0);
	ASSERT_EQ(p, q) TH_LOG("shrink: %s", strerror(errno));
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	EXPECT_EQ((unsigned long)p + psize, v.end)
	TH_LOG("new length rounds up to whole huge pages");
	ht_access(p + psize, false, 0, &sb);
	expect_signal(_metadata, "read of the cut tail", &sb, SIGSEGV,
		      SEGV_MAPERR, p + psize);
	HT_POOL_CHECK(&self->m, "mremap shrink");

	/* A length one base page short moves the whole huge page. */
	q = mremap(p, psize - ps(), psize - ps(), MREMAP_MAYMOVE | MREMAP_FIXED,
		   hole);
	ASSERT_EQ(hole, q) TH_LOG("move: %s", strerror(errno));
	self->p = q;
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)q, &v));
	EXPECT_EQ((unsigned long)q + psize, v.end);
	EXPECT_EQ(variant->gran == HT_GRAN_HGM, ht_vmflags_has(&v, "hm"));
	EXPECT_EQ(-ENOENT, ht_smaps_read(0, (unsigned long)p, &v))
	TH_LOG("a VMA is left at the old address");
	expect_page_at(_metadata, self, psize, q, 0, "moved");
	HT_POOL_CHECK(&self->m, "mremap move");
}

/*
 * mprotect of one page of two splits the VMA; a split inside a huge page
 * is refused by hugetlb_vm_op_split (EINVAL) before anything changes.
 */
TEST_F_TIMEOUT(ops_shared, mprotect_split, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	char *p = self->p, *w1 = p + psize + mid_off(psize) + 100;
	struct ht_smaps_vma v;
	struct ht_sigbus sb;
	char *q;

	EXPECT_EQ(-1, mprotect(p + ps(), ps(), PROT_READ));
	EXPECT_EQ(EINVAL, errno) TH_LOG("mprotect inside a huge page");
	EXPECT_EQ(-1, mprotect(p, psize + ps(), PROT_READ));
	EXPECT_EQ(EINVAL, errno) TH_LOG("mprotect ending inside a page");
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	EXPECT_EQ((unsigned long)p + 2 * psize, v.end) TH_LOG("VMA split");
	EXPECT_STREQ("rw-s", v.perms);

	ASSERT_EQ(0, mprotect(p + psize, psize, PROT_READ));
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	EXPECT_EQ((unsigned long)p + psize, v.end);
	EXPECT_STREQ("rw-s", v.perms);
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p + psize, &v));
	EXPECT_STREQ("r--s", v.perms);
	EXPECT_EQ(variant->gran == HT_GRAN_HGM, ht_vmflags_has(&v, "hm"));
	ht_access(w1, true, 0xa5, &sb);
	expect_signal(_metadata, "write to the read-only half", &sb, SIGSEGV,
		      SEGV_ACCERR, w1);
	EXPECT_EQ(0, *w1);
	ht_access(p + 100, true, 0x5a, &sb);
	expect_no_signal(_metadata, "write to the writable half", &sb);
	expect_page_at(_metadata, self, psize, p + psize, 1, "read-only half");

	ASSERT_EQ(0, mprotect(p + psize, psize, PROT_READ | PROT_WRITE));
	ht_access(w1, true, 0xa5, &sb);
	expect_no_signal(_metadata, "write after RW again", &sb);
	/* The writes are in the page cache: a new mapping sees both. */
	q = mmap(NULL, 2 * psize, PROT_READ, MAP_SHARED, self->file.fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(0x5a, q[100]);
	EXPECT_EQ((char)0xa5, q[w1 - p]);
	munmap(q, 2 * psize);
	expect_page_at(_metadata, self, psize, p, 0, "first half");
	HT_POOL_CHECK(&self->m, "mprotect");
}

/*
 * MADV_DONTNEED (madvise_dontneed_free_valid_vma): the start must be huge
 * aligned (EINVAL), the end is rounded down, so a short length drops
 * nothing.  MADV_FREE is EINVAL on hugetlb.  A shared page zapped stays
 * in the page cache and refaults as the same folio.
 */
TEST_F_TIMEOUT(ops_shared, dontneed_partial, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	char *p = self->p;
	struct ht_sigbus sb;
	uint64_t c = ~0ULL;

	EXPECT_EQ(-1, madvise(p + ps(), psize, MADV_DONTNEED));
	EXPECT_EQ(EINVAL, errno) TH_LOG("DONTNEED from inside a page");
	EXPECT_EQ(-1, madvise(p, psize, MADV_FREE));
	EXPECT_EQ(EINVAL, errno) TH_LOG("MADV_FREE on hugetlb");
	EXPECT_EQ(0, madvise(p, psize - ps(), MADV_DONTNEED));
	expect_page_at(_metadata, self, psize, p, 0,
		       "after DONTNEED of less than a page");

	EXPECT_EQ(0, madvise(p + psize, psize, MADV_DONTNEED) ? errno : 0);
	EXPECT_EQ(0, present(p + psize, psize));
	expect_page_at(_metadata, self, psize, p, 0, "the neighbour");
	ASSERT_EQ(0, ht_kpagecount_read(self->pfn[1], &c));
	EXPECT_EQ(0, c) TH_LOG("kpagecount of the zapped, cached page");
	HT_POOL_CHECK(&self->m, "DONTNEED of page 1");

	/* In the hgm twin's MINOR range the refault would wait. */
	close_minor(self);
	ht_access(p + psize + mid_off(psize), false, 0, &sb);
	expect_no_signal(_metadata, "refault", &sb);
	expect_page_at(_metadata, self, psize, p + psize, 1, "refaulted");
	HT_POOL_CHECK(&self->m, "the refault");
}

/* Head, middle and tail piece of each of the two pages. */
static void piece_iov(struct iovec *iov, char *base, unsigned long psize)
{
	for (int i = 0; i < 6; i++) {
		size_t k[3] = { 0, mid_off(psize), psize - ps() };

		iov[i].iov_base = base + (i / 3) * psize + k[i % 3];
		iov[i].iov_len = ps();
	}
}

/*
 * GUP of another process (process_vm_readv/writev, /proc/PID/mem) reads
 * and writes the folio the holder maps; nothing is allocated.
 */
TEST_F_TIMEOUT(ops_shared, gup_remote, 300)
{
	unsigned long psize = HT_PSIZE(variant), addr;
	struct ht_holder h = { .file = &self->file,
			       .len = 2 * psize,
			       .gran = variant->gran };
	struct iovec local[6], remote[6];
	char *buf = malloc(6 * ps()), path[64];
	size_t k = psize + mid_off(psize);
	uint64_t c = 0;
	struct ht_child a;
	int64_t bad;
	ssize_t n;
	int fd;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ht_holder_start(&a, &h, &addr));
	for (int i = 0; i < 6; i++)
		local[i] = (struct iovec){ buf + i * ps(), ps() };
	piece_iov(remote, (char *)addr, psize);
	n = process_vm_readv(a.pid, local, 6, remote, 6, 0);
	EXPECT_EQ((ssize_t)(6 * ps()), n)
	TH_LOG("process_vm_readv: %s", strerror(errno));
	for (int i = 0; i < 6; i++) {
		size_t off = (char *)remote[i].iov_base - (char *)addr;

		EXPECT_EQ(-1, ht_pattern_check(buf + i * ps(), ps(), off, SEED))
		TH_LOG("process_vm_readv piece %d", i);
	}

	/* A write into the holder's piece shows in our own mapping. */
	ht_pattern_fill(buf, ps(), k, SEED2);
	local[0].iov_len = ps();
	remote[0] = (struct iovec){ (char *)addr + k, ps() };
	n = process_vm_writev(a.pid, local, 1, remote, 1, 0);
	EXPECT_EQ((ssize_t)ps(), n)
	TH_LOG("process_vm_writev: %s", strerror(errno));
	EXPECT_EQ(-1, ht_pattern_check(self->p + k, ps(), k, SEED2))
	TH_LOG("the written piece, seen through our mapping");

	snprintf(path, sizeof(path), "/proc/%d/mem", a.pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	n = pread(fd, buf, ps(), (off_t)(addr + psize - ps()));
	EXPECT_EQ((ssize_t)ps(), n);
	EXPECT_EQ(-1, ht_pattern_check(buf, ps(), psize - ps(), SEED));
	close(fd);

	ASSERT_EQ(0, ht_holder_check(&a, SEED, &bad));
	EXPECT_EQ((int64_t)k, bad) TH_LOG("the holder sees the new piece");
	EXPECT_EQ(0, ht_kpagecount_read(self->pfn[1], &c));
	EXPECT_EQ(2, c) TH_LOG("two mappings of page 1");
	HT_POOL_CHECK(&self->m, "GUP of the holder");
	ht_stop_holder(_metadata, &a);
	free(buf);
}

/*
 * uffd-wp (hugetlb_change_protection with MM_CP_UFFD_WP): pagemap shows
 * PM_UFFD_WP on every piece of the protected page only; a write faults
 * with WP | WRITE until un-protected.
 */
TEST_F_TIMEOUT(ops_shared, wp_pagemap_bit, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	char *p = self->p, *at = p + mid_off(psize);
	const uint64_t bits = HT_PM_UFFD_WP | HT_PM_PRESENT;
	uint64_t pm[3] = { 0 };
	struct toucher t;
	int uffd, ret;

	/* One uffd per VMA: the hgm twin's MINOR one goes first. */
	close_minor(self);
	uffd = ht_uffd_open(UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	if (uffd == -ENOTSUP)
		SKIP(return,
			   "userfaultfd without UFFD_FEATURE_WP_HUGETLBFS_SHMEM");
	ASSERT_LE(0, uffd);
	ret = ht_uffd_register(uffd, p, 2 * psize, UFFDIO_REGISTER_MODE_WP);
	ASSERT_EQ(0, ret) TH_LOG("register WP: %s", strerror(-ret));
	ret = uffd_wp(uffd, p, psize, true);
	ASSERT_EQ(0, ret) TH_LOG("WRITEPROTECT: %s", strerror(-ret));
	ht_pagemap_read(0, (unsigned long)p, &pm[0]);
	ht_pagemap_read(0, (unsigned long)at, &pm[1]);
	ht_pagemap_read(0, (unsigned long)p + psize + mid_off(psize), &pm[2]);
	EXPECT_EQ(bits, pm[0] & bits) TH_LOG("head of the protected page");
	EXPECT_EQ(bits, pm[1] & bits) TH_LOG("middle of the protected page");
	EXPECT_EQ(HT_PM_PRESENT, pm[2] & bits) TH_LOG("the other page");
	expect_page_at(_metadata, self, psize, p, 0, "protected");

	ASSERT_EQ(0, touch_async(&t, at + 200, true, 0x3c));
	expect_fault(_metadata, uffd, (unsigned long)p,
		     UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE);
	EXPECT_EQ(0, t.done) TH_LOG("the write went through the protection");
	ASSERT_EQ(0, uffd_wp(uffd, p, psize, false));
	ASSERT_EQ(0, pthread_join(t.tid, NULL));
	expect_no_signal(_metadata, "the write after un-protect", &t.sb);
	EXPECT_EQ(0x3c, (unsigned char)at[200]);
	ht_pagemap_read(0, (unsigned long)p, &pm[0]);
	ht_pagemap_read(0, (unsigned long)at, &pm[1]);
	EXPECT_EQ(HT_PM_PRESENT, pm[0] & bits) TH_LOG("head, un-protected");
	EXPECT_EQ(HT_PM_PRESENT, pm[1] & bits) TH_LOG("middle, un-protected");
	expect_page_at(_metadata, self, psize, p, 0, "un-protected");
	HT_POOL_CHECK(&self->m, "uffd-wp");
	close(uffd);
}

/*
 * PAGEMAP_SCAN with PM_SCAN_WP_MATCHING over mapped pages
 * (pagemap_scan_hugetlb_entry()): a huge page is write-protected whole
 * or not at all.  When the range or max_pages cuts a written page, the
 * scan backs out its part of the region (pagemap_scan_backout_range()),
 * leaves the page writable and sets walk_end to the page's start, and the
 * walk goes on: a later whole page is still reported and protected while
 * walk_end stays at the cut page.  A page found when max_pages is already
 * reached ends the walk (ENOSPC) with walk_end at its start.
 */
TEST_F_TIMEOUT(ops_shared, wp_scan_backout, 300)
{
	unsigned long psize = HT_PSIZE(variant), b = (unsigned long)self->p;
	const uint64_t w = PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_FILE |
			   PAGE_IS_HUGE;
	char *p = self->p, *p1 = p + psize;
	struct wp_scan s = { .mask = PAGE_IS_WRITTEN };
	int uffd;

	/* One uffd per VMA: the hgm twin's MINOR one goes first. */
	close_minor(self);
	uffd = register_wp_async(_metadata, p, 2 * psize);
	if (uffd == -ENOTSUP)
		SKIP(return, "no async uffd-wp on hugetlbfs (6.7+)");
	ASSERT_LE(0, uffd);
	/* Both pages were faulted without protection: written. */
	wp_scan(&s, p, psize + ps());
	EXPECT_SCAN(&s, "a range ending 4 KiB into page 1", b + psize,
		    { b, b + psize, w });
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP, wp_bits(p + mid_off(psize)));
	EXPECT_EQ(HT_PM_PRESENT, wp_bits(p1 + mid_off(psize)))
	TH_LOG("the cut page was write-protected");
	wp_scan(&s, p1, ps());
	EXPECT_SCAN(&s, "4 KiB of page 1 alone", b + psize);
	EXPECT_EQ(HT_PM_PRESENT, wp_bits(p1));

	touch_ok(_metadata, p + mid_off(psize) + 200, true, 0x21);
	EXPECT_EQ(HT_PM_PRESENT, wp_bits(p)) TH_LOG("async resolve");
	wp_scan(&s, p + ps(), 2 * psize - ps());
	EXPECT_SCAN(&s, "a range from 4 KiB into page 0", b + ps(),
		    { b + psize, b + 2 * psize, w });
	EXPECT_EQ(HT_PM_PRESENT, wp_bits(p));
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP, wp_bits(p1));

	touch_ok(_metadata, p1 + mid_off(psize) + 200, true, 0x43);
	s.max_pages = psize / ps();
	wp_scan(&s, p, 2 * psize);
	EXPECT_SCAN(&s, "max_pages of one huge page", b + psize,
		    { b, b + psize, w });
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP, wp_bits(p));
	EXPECT_EQ(HT_PM_PRESENT, wp_bits(p1));
	s.max_pages = 1;
	wp_scan(&s, p, 2 * psize);
	EXPECT_SCAN(&s, "max_pages 1", b + psize);
	EXPECT_EQ(HT_PM_PRESENT, wp_bits(p1));
	s.max_pages = 0;
	wp_scan(&s, p, 2 * psize);
	EXPECT_SCAN(&s, "no limit", b + 2 * psize,
		    { b + psize, b + 2 * psize, w });
	EXPECT_EQ(HT_PM_PRESENT | HT_PM_UFFD_WP, wp_bits(p1));
	wp_scan(&s, p, 2 * psize);
	EXPECT_SCAN(&s, "nothing written since", b + 2 * psize);

	EXPECT_EQ(0x21, p[mid_off(psize) + 200]);
	EXPECT_EQ(0x43, p1[mid_off(psize) + 200]);
	expect_page_at(_metadata, self, psize, p, 0, "after the scans");
	expect_page_at(_metadata, self, psize, p1, 1, "after the scans");
	HT_POOL_CHECK(&self->m, "the scans");
	close(uffd);
}

/*
 * Soft-dirty of hugetlb (6.12 pagemap_hugetlb_range): PM_SOFT_DIRTY is
 * the VMA's VM_SOFTDIRTY alone.  clear_refs "4" clears the flag on every
 * VMA but its walk has no hugetlb_entry, so the entries stay writable and
 * a later write sets nothing: the bit stays clear.
 */
TEST_F_TIMEOUT(ops_shared, soft_dirty_clear_refs, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	char *p = self->p, *at = p + mid_off(psize);
	struct ht_smaps_vma v;
	struct ht_sigbus sb;
	int fd;

	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	if (!ht_vmflags_has(&v, "sd"))
		SKIP(return,
			   "kernel without CONFIG_MEM_SOFT_DIRTY (no sd in VmFlags)");
	EXPECT_EQ(HT_PM_SOFT_DIRTY, pm_of(p) & HT_PM_SOFT_DIRTY);
	EXPECT_EQ(HT_PM_SOFT_DIRTY, pm_of(at + psize) & HT_PM_SOFT_DIRTY);

	fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, write(fd, "4", 1))
	TH_LOG("clear_refs: %s", strerror(errno));
	close(fd);
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	EXPECT_FALSE(ht_vmflags_has(&v, "sd")) TH_LOG("VmFlags %s", v.vmflags);
	EXPECT_EQ(0, pm_of(p) & HT_PM_SOFT_DIRTY);
	EXPECT_EQ(0, pm_of(at + psize) & HT_PM_SOFT_DIRTY);
	expect_page_at(_metadata, self, psize, p, 0, "after clear_refs");
	expect_page_at(_metadata, self, psize, p + psize, 1,
		       "after clear_refs");

	ht_access(at + 300, true, 0x11, &sb);
	expect_no_signal(_metadata, "write after clear_refs", &sb);
	EXPECT_EQ(0, pm_of(at) & HT_PM_SOFT_DIRTY)
	TH_LOG("hugetlb entries are not write-protected for soft-dirty");
	EXPECT_EQ(0x11, at[300]);
	HT_POOL_CHECK(&self->m, "clear_refs");
}

static int scan(void *p, size_t len, uint64_t mask, struct page_region *vec,
		int nvec, uint64_t *walk_end)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = (unsigned long)p,
		.end = (unsigned long)p + len,
		.vec = (unsigned long)vec,
		.vec_len = nvec,
		.category_mask = mask,
		.return_mask = PAGE_IS_WRITTEN | PAGE_IS_FILE |
			       PAGE_IS_PRESENT | PAGE_IS_HUGE,
	};
	int ret = pm_scan_ioctl(&a);

	*walk_end = a.walk_end;
	return ret;
}

/*
 * PAGEMAP_SCAN (pagemap_scan_hugetlb_entry, pagemap_hugetlb_category): a
 * mapped page is PRESENT | FILE | WRITTEN | HUGE, a zapped one (its
 * entry slot still allocated) HUGE alone; equal neighbours merge.
 */
TEST_F_TIMEOUT(ops_shared, pagemap_scan, 300)
{
	unsigned long psize = HT_PSIZE(variant), p = (unsigned long)self->p;
	const uint64_t all = PAGE_IS_PRESENT | PAGE_IS_FILE | PAGE_IS_WRITTEN |
			     PAGE_IS_HUGE;
	struct page_region vec[8];
	uint64_t end = 0;
	int n;

	n = scan(self->p, 2 * psize, 0, vec, 8, &end);
	if (n == -ENOTTY || n == -EINVAL)
		SKIP(return, "no PAGEMAP_SCAN ioctl (6.7+)");
	ASSERT_EQ(1, n) TH_LOG("regions of two mapped pages: %d", n);
	EXPECT_EQ(p, vec[0].start);
	EXPECT_EQ(p + 2 * psize, vec[0].end);
	EXPECT_EQ(all, vec[0].categories);
	EXPECT_EQ(p + 2 * psize, end) TH_LOG("walk_end");

	ASSERT_EQ(0, madvise(self->p + psize, psize, MADV_DONTNEED));
	memset(vec, 0, sizeof(vec));
	n = scan(self->p, 2 * psize, 0, vec, 8, &end);
	ASSERT_EQ(2, n) TH_LOG("regions after DONTNEED of page 1");
	EXPECT_EQ(p, vec[0].start);
	EXPECT_EQ(p + psize, vec[0].end);
	EXPECT_EQ(all, vec[0].categories);
	EXPECT_EQ(p + psize, vec[1].start);
	EXPECT_EQ(p + 2 * psize, vec[1].end);
	EXPECT_EQ(PAGE_IS_HUGE, vec[1].categories);
	/* Only what has every category of the mask. */
	n = scan(self->p, 2 * psize, PAGE_IS_PRESENT, vec, 8, &end);
	ASSERT_EQ(1, n);
	EXPECT_EQ(p + psize, vec[0].end);
	HT_POOL_CHECK(&self->m, "PAGEMAP_SCAN");
}

/* ======================================================================
 * MAP_PRIVATE anonymous hugetlb: no HGM, one variant per size.
 */
FIXTURE(ops_private)
{
	struct ht_env env;
	struct ht_pool_model m;
};

FIXTURE_VARIANT(ops_private)
{
	enum ht_level level;
};

/* 2 MiB only, as ops_uffd; fork runs at 1 GiB too (ops_fork). */
HT_ADD_SIZE_VARIANT_2M(ops_private, huge);

/* ops_private and ops_fork: two free pages and the pool model. */
static void private_setup(struct __test_metadata *_metadata, struct ht_env *env,
			  struct ht_pool_model *m, unsigned long psize)
{
	struct ht_needs needs = {
		.page_size = psize,
		.pages = 2,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
	};

	HT_SETUP_OR_SKIP(&needs, env);
	ASSERT_EQ(0, ht_pool_model_init(m, psize, -1));
}

FIXTURE_SETUP(ops_private)
{
	private_setup(_metadata, &self->env, &self->m, HT_PSIZE(variant));
}

FIXTURE_TEARDOWN_PARENT(ops_private)
{
	HT_TEARDOWN(&self->env);
}

/* Two private pages, reserved (Rsvd += 2), not faulted. */
static char *map_private_two(struct __test_metadata *_metadata,
			     FIXTURE_DATA(ops_private) * self,
			     unsigned long psize)
{
	char *p = map_anon(psize, 2 * psize);

	EXPECT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	if (p != MAP_FAILED) {
		self->m.want.resv += 2;
		HT_POOL_CHECK(&self->m, "mmap of two private pages");
	}
	return p;
}

/* A fault that consumes the VMA's reservation. */
static void reserved_fault(FIXTURE_DATA(ops_private) * self)
{
	self->m.want.free--;
	self->m.want.resv--;
}

TEST_F_TIMEOUT(ops_private, dontneed_loses_data, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct ht_sigbus sb;
	char *p;

	p = map_private_two(_metadata, self, psize);
	ASSERT_NE(MAP_FAILED, p);
	stamp(p, 2 * psize, psize, 0, SEED);
	reserved_fault(self);
	reserved_fault(self);
	HT_POOL_CHECK(&self->m, "writing both pages");

	EXPECT_EQ(-1, madvise(p + ps(), psize, MADV_DONTNEED));
	EXPECT_EQ(EINVAL, errno) TH_LOG("DONTNEED from inside a page");
	ASSERT_EQ(0, madvise(p + psize, psize, MADV_DONTNEED));
	EXPECT_EQ(0, present(p + psize, psize));
	/* The anonymous page had no other home: freed. */
	self->m.want.free++;
	self->m.want.resv += zap_restores_reserve();
	HT_POOL_CHECK(&self->m, "DONTNEED of page 1");
	ht_access(p + psize + mid_off(psize), false, 0, &sb);
	expect_no_signal(_metadata, "touch after DONTNEED", &sb);
	EXPECT_TRUE(zero_stamps(p + psize, psize)) TH_LOG("the data is gone");
	self->m.want.free--;
	self->m.want.resv -= zap_restores_reserve();
	HT_POOL_CHECK(&self->m, "refault of page 1");
	EXPECT_EQ(-1, stamp_check(p, psize, psize, 0, SEED));
	munmap(p, 2 * psize);
	self->m.want.free += 2;
	HT_POOL_CHECK(&self->m, "munmap");
}

/* MADV_POPULATE_READ/WRITE fault whole huge pages, any base-page range. */
TEST_F_TIMEOUT(ops_private, populate_read_write, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	char *p;

	p = map_private_two(_metadata, self, psize);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p + ps(), ps(), MADV_POPULATE_READ))
	TH_LOG("POPULATE_READ: %s", strerror(errno));
	EXPECT_EQ((long)(psize / ps()), present(p, psize));
	EXPECT_EQ(0, present(p + psize, psize));
	reserved_fault(self);
	HT_POOL_CHECK(&self->m, "POPULATE_READ of one base page");
	ASSERT_EQ(0, madvise(p + psize, psize, MADV_POPULATE_WRITE))
	TH_LOG("POPULATE_WRITE: %s", strerror(errno));
	EXPECT_EQ((long)(psize / ps()), present(p + psize, psize));
	reserved_fault(self);
	HT_POOL_CHECK(&self->m, "POPULATE_WRITE of page 1");
	ASSERT_EQ(0, madvise(p, 2 * psize, MADV_POPULATE_WRITE));
	HT_POOL_CHECK(&self->m, "POPULATE_WRITE of what is there");
	EXPECT_TRUE(zero_stamps(p, psize));
	munmap(p, 2 * psize);
	self->m.want.free += 2;
	HT_POOL_CHECK(&self->m, "munmap");
}

/*
 * mlock of hugetlb (mm/mlock.c mlock_fixup): VM_LOCKED is never set and
 * nothing counts in VmLck, yet do_mlock's __mm_populate faults every
 * page in, with MLOCK_ONFAULT too (the VMA has no VM_LOCKONFAULT).
 */
TEST_F_TIMEOUT(ops_private, mlock_populates_unlocked, 300)
{
	unsigned long psize = HT_PSIZE(variant), kb = ~0UL;
	struct ht_smaps_vma v;
	char *p;

	p = map_private_two(_metadata, self, psize);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, mlock(p, psize)) TH_LOG("mlock: %s", strerror(errno));
	EXPECT_EQ((long)(psize / ps()), present(p, psize));
	EXPECT_EQ(0, present(p + psize, psize));
	reserved_fault(self);
	HT_POOL_CHECK(&self->m, "mlock of page 0");
	ASSERT_EQ(0, ht_status_read(0, "VmLck", &kb));
	EXPECT_EQ(0, kb) TH_LOG("VmLck");
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	EXPECT_FALSE(ht_vmflags_has(&v, "lo")) TH_LOG("VmFlags %s", v.vmflags);
	EXPECT_EQ((unsigned long)p + 2 * psize, v.end)
	TH_LOG("no VMA split for a flag that is not set");

	ASSERT_EQ(0, mlock2(p + psize, psize, MLOCK_ONFAULT))
	TH_LOG("mlock2(MLOCK_ONFAULT): %s", strerror(errno));
	EXPECT_EQ((long)(psize / ps()), present(p + psize, psize));
	reserved_fault(self);
	HT_POOL_CHECK(&self->m, "mlock2(MLOCK_ONFAULT) of page 1");
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p + psize, &v));
	EXPECT_FALSE(ht_vmflags_has(&v, "lf")) TH_LOG("VmFlags %s", v.vmflags);
	ASSERT_EQ(0, munlock(p, 2 * psize));
	EXPECT_EQ((long)(2 * psize / ps()), present(p, 2 * psize));
	HT_POOL_CHECK(&self->m, "munlock");
	munmap(p, 2 * psize);
	self->m.want.free += 2;
	HT_POOL_CHECK(&self->m, "munmap");
}

/*
 * mremap of a private mapping moves its reservations with it (the
 * resv_map goes to the new VMA: clear_vma_resv_huge_pages on the old);
 * shrinking returns the cut part's unused reservation.
 */
TEST_F_TIMEOUT(ops_private, mremap_keeps_reserve, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct ht_sigbus sb;
	char *p, *hole, *q;

	p = map_private_two(_metadata, self, psize);
	ASSERT_NE(MAP_FAILED, p);
	hole = ht_mmap_aligned(2 * psize, psize, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
	ASSERT_NE(MAP_FAILED, hole);
	q = mremap(p, 2 * psize, 2 * psize, MREMAP_MAYMOVE | MREMAP_FIXED,
		   hole);
	ASSERT_EQ(hole, q) TH_LOG("mremap: %s", strerror(errno));
	HT_POOL_CHECK(&self->m, "moving the unfaulted mapping");
	ht_access(p, false, 0, &sb);
	expect_signal(_metadata, "the old address", &sb, SIGSEGV, SEGV_MAPERR,
		      p);

	stamp(q, psize, psize, 0, SEED);
	reserved_fault(self);
	HT_POOL_CHECK(&self->m, "the first write after the move");
	ASSERT_EQ(q, mremap(q, 2 * psize, psize, 0));
	self->m.want.resv--;
	HT_POOL_CHECK(&self->m, "shrinking off the unfaulted page");
	EXPECT_EQ(-1, stamp_check(q, psize, psize, 0, SEED));
	munmap(q, psize);
	self->m.want.free++;
	HT_POOL_CHECK(&self->m, "munmap");
}

static int unfaulted_child(int sock, void *arg)
{
	unsigned long psize = *(unsigned long *)arg;
	char *p = map_anon(psize, 2 * psize);
	int64_t go;

	if (p == MAP_FAILED)
		return ht_send(sock, -errno), 1;
	ht_send(sock, (int64_t)(unsigned long)p);
	/* Then: the first bad SEED2 stamp of page 1, written from outside. */
	ht_recv(sock, &go, -1);
	ht_send(sock, stamp_check(p + psize, psize, psize, psize, SEED2));
	ht_recv(sock, &go, -1);
	return 0;
}

/*
 * GUP of another process's unfaulted private pages faults them in: a
 * read (process_vm_readv) and a write (process_vm_writev) each allocate
 * one page against the child's reservation.
 */
TEST_F_TIMEOUT(ops_private, gup_unfaulted, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct iovec local, remote;
	char *buf = malloc(ps()), path[64];
	int64_t addr, bad;
	struct ht_child c;
	ssize_t n;
	int fd;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ht_spawn(&c, unfaulted_child, &psize));
	ASSERT_EQ(0, ht_recv(c.sock, &addr, 60000));
	ASSERT_GT(addr, 0) TH_LOG("child mmap: %s", strerror(-addr));
	self->m.want.resv += 2;
	HT_POOL_CHECK(&self->m, "the child's mmap");

	memset(buf, 0xee, ps());
	local = (struct iovec){ buf, ps() };
	remote = (struct iovec){ (char *)addr + mid_off(psize), ps() };
	n = process_vm_readv(c.pid, &local, 1, &remote, 1, 0);
	EXPECT_EQ((ssize_t)ps(), n) TH_LOG("readv: %s", strerror(errno));
	EXPECT_EQ(0, buf[0]) TH_LOG("a fresh page reads zero");
	EXPECT_EQ(0, buf[ps() - 1]);
	EXPECT_EQ((long)(psize / ps()),
		  ht_pagemap_count_present(c.pid, addr, psize));
	reserved_fault(self);
	HT_POOL_CHECK(&self->m, "process_vm_readv of an unfaulted page");

	for (int i = 0; i < 3; i++) {
		size_t k[3] = { 0, mid_off(psize), psize - ps() };

		ht_pattern_fill(buf, ps(), psize + k[i], SEED2);
		remote = (struct iovec){ (char *)addr + psize + k[i], ps() };
		n = process_vm_writev(c.pid, &local, 1, &remote, 1, 0);
		EXPECT_EQ((ssize_t)ps(), n)
		TH_LOG("writev: %s", strerror(errno));
	}
	reserved_fault(self);
	HT_POOL_CHECK(&self->m, "process_vm_writev of an unfaulted page");
	ASSERT_EQ(0, ht_send(c.sock, 0));
	ASSERT_EQ(0, ht_recv(c.sock, &bad, 60000));
	EXPECT_EQ(-1, bad) TH_LOG("the child reads what was written");

	snprintf(path, sizeof(path), "/proc/%d/mem", c.pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	n = pread(fd, buf, ps(), (off_t)(addr + psize + mid_off(psize)));
	EXPECT_EQ((ssize_t)ps(), n);
	EXPECT_EQ(-1,
		  ht_pattern_check(buf, ps(), psize + mid_off(psize), SEED2));
	close(fd);
	HT_POOL_CHECK(&self->m, "reading /proc/PID/mem");
	ASSERT_EQ(0, ht_send(c.sock, 0));
	ASSERT_EQ(0, WEXITSTATUS(ht_reap(&c, 10000)));
	self->m.want.free += 2;
	HT_POOL_CHECK(&self->m, "the child's exit");
	free(buf);
}

/* ======================================================================
 * fork of private hugetlb, at both sizes: one fault and one COW each,
 * cheap enough for 1 GiB under TCG.
 */
FIXTURE(ops_fork)
{
	struct ht_env env;
	struct ht_pool_model m;
};

FIXTURE_VARIANT(ops_fork)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(ops_fork, huge);

FIXTURE_SETUP(ops_fork)
{
	private_setup(_metadata, &self->env, &self->m, HT_PSIZE(variant));
}

FIXTURE_TEARDOWN_PARENT(ops_fork)
{
	HT_TEARDOWN(&self->env);
}

struct fork_probe {
	char *p;
	unsigned long psize;
	bool write; /* write SEED2 stamps into the child's copy */
};

/*
 * Child: reads the inherited page, replies: the signal (0: none), the
 * first bad stamp of the parent's data (-1: none), then, after writing
 * SEED2 stamps when asked, the first bad one of those; then holds until
 * told.
 */
static int fork_prober(int sock, void *arg)
{
	struct fork_probe *a = arg;
	long bad = -1, bad2 = -1;
	struct ht_sigbus sb;
	int64_t go;

	ht_access(a->p + mid_off(a->psize), false, 0, &sb);
	if (!sb.hit)
		bad = stamp_check(a->p, a->psize, a->psize, 0, SEED);
	if (!sb.hit && a->write) {
		stamp(a->p, a->psize, a->psize, 0, SEED2);
		bad2 = stamp_check(a->p, a->psize, a->psize, 0, SEED2);
	}
	if (ht_send(sock, sb.hit ? sb.signo * 1000 + sb.code : 0) ||
	    ht_send(sock, bad) || ht_send(sock, bad2))
		return 1;
	ht_recv(sock, &go, -1);
	return 0;
}

static void run_probe(struct __test_metadata *_metadata, struct ht_child *c,
		      struct fork_probe *a, int64_t *sig, int64_t *bad,
		      int64_t *bad2)
{
	ASSERT_EQ(0, ht_spawn(c, fork_prober, a));
	ASSERT_EQ(0, ht_recv(c->sock, sig, 60000));
	ASSERT_EQ(0, ht_recv(c->sock, bad, 60000));
	ASSERT_EQ(0, ht_recv(c->sock, bad2, 60000));
}

static void end_probe(struct __test_metadata *_metadata, struct ht_child *c)
{
	int status;

	ASSERT_EQ(0, ht_send(c->sock, 0));
	status = ht_reap(c, 10000);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
}

/*
 * MADV_WIPEONFORK needs an anonymous VMA without a file: a hugetlb VMA
 * has one (EINVAL).  MADV_DONTFORK keeps the VMA from the child.
 */
TEST_F_TIMEOUT(ops_fork, dontfork_wipeonfork, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct fork_probe a = { .psize = psize };
	struct ht_smaps_vma v;
	int64_t sig, bad, bad2;
	uint64_t c = 0;
	struct ht_child ch;
	char *p;

	p = map_anon(psize, psize);
	ASSERT_NE(MAP_FAILED, p);
	stamp(p, psize, psize, 0, SEED);
	self->m.want.free--;
	HT_POOL_CHECK(&self->m, "a written private page");
	a.p = p;
	EXPECT_EQ(-1, madvise(p, psize, MADV_WIPEONFORK));
	EXPECT_EQ(EINVAL, errno) TH_LOG("MADV_WIPEONFORK on hugetlb");
	ASSERT_EQ(0, madvise(p, psize, MADV_DONTFORK));
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	EXPECT_TRUE(ht_vmflags_has(&v, "dc")) TH_LOG("VmFlags %s", v.vmflags);

	run_probe(_metadata, &ch, &a, &sig, &bad, &bad2);
	EXPECT_EQ(SIGSEGV * 1000 + SEGV_MAPERR, sig)
	TH_LOG("the child has no VMA there");
	end_probe(_metadata, &ch);
	HT_POOL_CHECK(&self->m, "fork with MADV_DONTFORK");

	ASSERT_EQ(0, madvise(p, psize, MADV_DOFORK));
	run_probe(_metadata, &ch, &a, &sig, &bad, &bad2);
	EXPECT_EQ(0, sig);
	EXPECT_EQ(-1, bad) TH_LOG("the child reads the parent's data");
	ASSERT_EQ(0, ht_kpagecount_read(
			     ht_pfn_of(_metadata, 0, (unsigned long)p), &c));
	EXPECT_EQ(2, c) TH_LOG("copy_hugetlb_page_range shares the page");
	end_probe(_metadata, &ch);
	HT_POOL_CHECK(&self->m, "fork without DONTFORK, child read");
	munmap(p, psize);
	self->m.want.free++;
	HT_POOL_CHECK(&self->m, "munmap");
}

/*
 * fork of a populated private mapping (copy_hugetlb_page_range): the
 * child shares the page until it writes; its COW copy (hugetlb_wp)
 * comes from the pool without a reservation.
 */
TEST_F_TIMEOUT(ops_fork, fork_cow, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct fork_probe a = { .psize = psize, .write = true };
	int64_t sig, bad, bad2;
	uint64_t c = 0, pfn;
	struct ht_child ch;
	char *p;

	p = map_anon(psize, psize);
	ASSERT_NE(MAP_FAILED, p);
	stamp(p, psize, psize, 0, SEED);
	self->m.want.free--;
	HT_POOL_CHECK(&self->m, "a written private page");
	pfn = ht_pfn_of(_metadata, 0, (unsigned long)p);
	a.p = p;
	run_probe(_metadata, &ch, &a, &sig, &bad, &bad2);
	EXPECT_EQ(0, sig);
	EXPECT_EQ(-1, bad) TH_LOG("the child reads the parent's data");
	EXPECT_EQ(-1, bad2) TH_LOG("the child's own data after its write");
	self->m.want.free--;
	HT_POOL_CHECK(&self->m, "the child's COW");
	EXPECT_EQ(-1, stamp_check(p, psize, psize, 0, SEED))
	TH_LOG("the parent's data after the child's write");
	EXPECT_EQ(pfn, ht_pfn_of(_metadata, 0, (unsigned long)p));
	EXPECT_NE(pfn, ht_pfn_of(_metadata, ch.pid, (unsigned long)p));
	ASSERT_EQ(0, ht_kpagecount_read(pfn, &c));
	EXPECT_EQ(1, c);
	end_probe(_metadata, &ch);
	self->m.want.free++;
	HT_POOL_CHECK(&self->m, "the child's exit");
	munmap(p, psize);
	self->m.want.free++;
	HT_POOL_CHECK(&self->m, "munmap");
}

HT_MAIN
