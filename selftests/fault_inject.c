// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failures inside HugeTLB system calls, one at a time.
 *
 * /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION) makes the n-th
 * failslab or fail_page_alloc injection point this thread reaches fail,
 * whatever the probability knobs say (should_fail_ex() checks it first),
 * so no other task is touched.  Each case sweeps n = 1, 2, ... over one
 * system call until the call reaches fewer than n points, and after every
 * call compares the pool (Total/Free/Rsvd/Surp) and the mapping with the
 * model: the call either did all of its work or none of it, with ENOMEM;
 * then the case undoes it and the pool must read exactly what it did
 * before.  That runs the error paths a test can otherwise not reach:
 * restore_reserve_on_error() after a page cache insertion fails,
 * hugetlb_fix_reserve_counts() after region_del() cannot split a region,
 * bulk_vmemmap_restore_error() when HVO cannot restore a vmemmap, the
 * unwinding of hugetlb_reserve_pages() and of a fork that cannot copy a
 * page table.
 *
 * The knobs below only widen which allocations fail-nth may fail
 * (GFP_KERNEL ones, order 0); with probability 0 they fail nothing on
 * their own.  Kernels without fault injection (every stock kernel) skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht_harness.h"

/* Far above what any call here reaches (fork: a few hundred). */
#define FI_MAX_N 5000
#define SEED 0xfa110001u
#define FAIL_NTH "/proc/thread-self/fail-nth"
#define DBG "/sys/kernel/debug/"

static const struct fi_knob {
	const char *path, *want;
} fi_knobs[] = {
	/* Defaults Y and 1: GFP_KERNEL and order-0 allocations never fail. */
	{ DBG "failslab/ignore-gfp-wait", "N" },
	{ DBG "fail_page_alloc/ignore-gfp-wait", "N" },
	{ DBG "fail_page_alloc/ignore-gfp-highmem", "N" },
	{ DBG "fail_page_alloc/min-order", "0" },
	/* A stack dump per injected failure would read as a kernel complaint. */
	{ DBG "failslab/verbose", "0" },
	{ DBG "fail_page_alloc/verbose", "0" },
};
#define FI_NKNOBS (sizeof(fi_knobs) / sizeof(fi_knobs[0]))

/*
 * The stack trace filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER): only
 * the points whose call stack passes through [require-start, require-end)
 * count for fail-nth.  Saved and restored by the case that narrows it.
 */
static const char *const fi_filter_knobs[] = {
	DBG "failslab/require-start",
	DBG "failslab/require-end",
	DBG "fail_page_alloc/require-start",
	DBG "fail_page_alloc/require-end",
};
#define FI_NFILTER (sizeof(fi_filter_knobs) / sizeof(fi_filter_knobs[0]))

/* What one sweep saw; every case checks the counts it can predict. */
struct fi_sweep {
	unsigned int calls; /* n values tried */
	unsigned int failed; /* calls that returned an error */
	unsigned int tolerated; /* injected, and the call still succeeded */
	unsigned int other; /* case-specific outcome (see each case) */
};

struct fi {
	struct ht_env env;
	struct ht_pool_model pool;
	char saved[FI_NKNOBS][16];
	bool knobs_set;
	char filter_saved[FI_NFILTER][24];
	bool filter_set;
	int nth; /* FAIL_NTH, opened once: an open() would consume points */
	int also; /* an errno the case allows besides ENOMEM, or 0 */
	struct fi_sweep sw;
};

/* Why fault injection cannot run here, or NULL. */
static const char *fi_probe(void)
{
	if (access(FAIL_NTH, W_OK))
		return "kernel has no fail-nth fault injection (CONFIG_FAULT_INJECTION)";
	for (size_t i = 0; i < FI_NKNOBS; i++)
		if (access(fi_knobs[i].path, W_OK))
			return "no failslab/fail_page_alloc knobs in debugfs (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS)";
	return NULL;
}

/* A debugfs knob's value into @buf (one line, without its newline). */
static void knob_save(struct __test_metadata *_metadata, const char *path,
		      char *buf, size_t len)
{
	char *nl;

	ASSERT_EQ(0, ht_read_file(path, buf, len)) TH_LOG("%s", path);
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
}

/* Writes @saved back; a knob left changed fails the case. */
static void knob_restore(struct __test_metadata *_metadata, const char *path,
			 const char *saved)
{
	if (ht_write_str(path, saved)) {
		TH_LOG("could not restore %s to %s", path, saved);
		_metadata->exit_code = KSFT_FAIL;
	}
}

static void fi_setup(struct __test_metadata *_metadata, struct fi *f,
		     const struct ht_needs *needs)
{
	const char *why = fi_probe();

	f->nth = -1;
	if (why)
		SKIP(return, "%s", why);
	HT_SETUP_OR_SKIP(needs, &f->env);
	for (size_t i = 0; i < FI_NKNOBS; i++)
		knob_save(_metadata, fi_knobs[i].path, f->saved[i],
			  sizeof(f->saved[i]));
	f->knobs_set = true;
	for (size_t i = 0; i < FI_NKNOBS; i++) {
		ASSERT_EQ(0, ht_write_str(fi_knobs[i].path, fi_knobs[i].want))
		TH_LOG("%s", fi_knobs[i].path);
	}
	f->nth = open(FAIL_NTH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, f->nth);
	ASSERT_EQ(0, ht_pool_model_init(&f->pool, needs->page_size, -1));
}

static void fi_teardown(struct __test_metadata *_metadata, struct fi *f)
{
	for (size_t i = 0; f->knobs_set && i < FI_NKNOBS; i++)
		knob_restore(_metadata, fi_knobs[i].path, f->saved[i]);
	for (size_t i = 0; f->filter_set && i < FI_NFILTER; i++)
		knob_restore(_metadata, fi_filter_knobs[i], f->filter_saved[i]);
	HT_TEARDOWN(&f->env);
}

/*
 * Narrows fail-nth to the allocations made under the kernel function
 * @fn (slab and page allocator alike); false when the case skipped (no
 * filter).
 */
static bool fi_filter(struct __test_metadata *_metadata, struct fi *f,
		      const char *fn)
{
	unsigned long start, end;
	char v[FI_NFILTER][24];
	int ret;

	for (size_t i = 0; i < FI_NFILTER; i++)
		if (access(fi_filter_knobs[i], W_OK))
			SKIP(return false,
				    "kernel has no fault-injection stack trace filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER)");
	ret = ht_kallsyms_range(fn, &start, &end);
	ASSERT_EQ(0, ret)
	TH_LOG("%s in /proc/kallsyms: %s", fn, strerror(-ret));
	for (size_t i = 0; i < FI_NFILTER; i++) {
		knob_save(_metadata, fi_filter_knobs[i], f->filter_saved[i],
			  sizeof(f->filter_saved[i]));
		snprintf(v[i], sizeof(v[i]), "%#lx", i % 2 ? end : start);
	}
	f->filter_set = true;
	for (size_t i = 0; i < FI_NFILTER; i++) {
		ASSERT_EQ(0, ht_write_str(fi_filter_knobs[i], v[i]))
		TH_LOG("%s", fi_filter_knobs[i]);
	}
	return true;
}

/* The next system call's @n-th injection point fails. */
static void fi_arm(struct __test_metadata *_metadata, struct fi *f,
		   unsigned int n)
{
	char b[16];
	int len = snprintf(b, sizeof(b), "%u", n);

	ASSERT_EQ(len, pwrite(f->nth, b, len, 0));
}

/* Disarms; true when the armed point was reached (the failure injected). */
static bool fi_disarm(struct __test_metadata *_metadata, struct fi *f)
{
	char b[16] = "";
	ssize_t r = pread(f->nth, b, sizeof(b) - 1, 0);

	EXPECT_LT(0, r) TH_LOG("read %s: %s", FAIL_NTH, strerror(errno));
	EXPECT_EQ(1, pwrite(f->nth, "0", 1, 0));
	return r > 0 && atoi(b) == 0;
}

/*
 * Bookkeeping after call @n returned @ret (0 or -errno): a failure must be
 * injected, and ENOMEM (or the case's f->also).  Returns true while the
 * sweep should go on.
 */
static bool fi_next(struct __test_metadata *_metadata, struct fi *f,
		    unsigned int n, int ret, bool injected)
{
	f->sw.calls++;
	if (ret) {
		f->sw.failed++;
		EXPECT_TRUE(ret == -ENOMEM || (f->also && ret == -f->also))
		TH_LOG("call %u failed with %s", n, strerror(-ret));
		EXPECT_TRUE(injected)
		TH_LOG("call %u failed with nothing injected", n);
	} else if (injected) {
		f->sw.tolerated++;
	}
	EXPECT_GT(FI_MAX_N, n) TH_LOG("no end to the injection points");
	return injected && n < FI_MAX_N && !_metadata->exit_code;
}

static int sys_ret(long r)
{
	return r < 0 ? -errno : 0;
}

/* ---- the pool: growth, shrinking, files, reservations ---- */

FIXTURE(fi_pool)
{
	struct fi f;
};

FIXTURE_VARIANT(fi_pool)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANT_2M(fi_pool, huge);

FIXTURE_SETUP(fi_pool)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 6,
		.caps = { CAP_SYS_ADMIN },
		/* HVO on: growing and shrinking allocate vmemmap pages. */
		.sysctls = { "vm/hugetlb_optimize_vmemmap" },
	};

	fi_setup(_metadata, &self->f, &needs);
	if (self->f.nth >= 0)
		ASSERT_EQ(0,
			  ht_write_ulong(
				  "/proc/sys/vm/hugetlb_optimize_vmemmap", 1));
}

FIXTURE_TEARDOWN_PARENT(fi_pool)
{
	fi_teardown(_metadata, &self->f);
}

/* nr_hugepages of @psize, opened before the sweep arms anything. */
static int pool_nr_fd(unsigned long psize)
{
	char path[96];

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages",
		 psize / HT_KB);
	return open(path, O_WRONLY | O_CLOEXEC);
}

static int write_nr(int fd, unsigned long nr)
{
	char b[24];
	int len = snprintf(b, sizeof(b), "%lu", nr);

	return sys_ret(pwrite(fd, b, len, 0));
}

/*
 * alloc_pool_huge_folio() (every node in turn) and HVO's vmemmap split:
 * an allocation that fails leaves the pool without the new page (counted
 * in .other) or fails the write; never a page counted but not there.
 */
TEST_F(fi_pool, pool_grow)
{
	struct fi *f = &self->f;
	struct ht_pool_model *m = &f->pool;
	int fd = pool_nr_fd(HT_PSIZE(variant)), ret;
	unsigned long nr0 = m->want.nr;
	bool inj;

	ASSERT_LE(0, fd);
	for (unsigned int n = 1;; n++) {
		fi_arm(_metadata, f, n);
		ret = write_nr(fd, nr0 + 1);
		inj = fi_disarm(_metadata, f);
		if (!ret &&
		    ht_pool_get(_metadata, HT_PSIZE(variant), -1).nr > nr0) {
			ht_pool_model_move(m, 1, 1, 0, 0);
		} else if (!ret) {
			EXPECT_TRUE(inj)
			TH_LOG("call %u: no page, no failure", n);
			f->sw.other++;
		}
		HT_POOL_CHECK(m, "growing the pool by one");
		if (m->want.nr > nr0) {
			ASSERT_EQ(0, write_nr(fd, nr0));
			ht_pool_model_move(m, -1, -1, 0, 0);
		}
		HT_POOL_CHECK(m, "shrinking it back");
		if (!fi_next(_metadata, f, n, ret, inj))
			break;
	}
	EXPECT_LT(1, f->sw.calls) TH_LOG("growing reached no injection point");
	close(fd);
}

/*
 * Two HVO pages freed in one write: hugetlb_vmemmap_restore_folios()
 * fails once, bulk_vmemmap_restore_error() frees what it can and the
 * retry frees the rest (a page it cannot restore would stay as surplus,
 * which one failure never causes).  Both pages leave, or the write fails
 * before touching the pool.
 */
TEST_F(fi_pool, pool_shrink_hvo)
{
	struct fi *f = &self->f;
	struct ht_pool_model *m = &f->pool;
	int fd = pool_nr_fd(HT_PSIZE(variant)), ret;
	unsigned long nr0 = m->want.nr;
	bool inj;

	ASSERT_LE(0, fd);
	for (unsigned int n = 1;; n++) {
		/* Fresh pages: allocated with HVO on, so optimized. */
		ASSERT_EQ(0, write_nr(fd, nr0 + 2));
		ht_pool_model_move(m, 2, 2, 0, 0);
		HT_POOL_CHECK(m, "growing the pool by two");
		fi_arm(_metadata, f, n);
		ret = write_nr(fd, nr0);
		inj = fi_disarm(_metadata, f);
		if (!ret) {
			ht_pool_model_move(m, -2, -2, 0, 0);
		}
		HT_POOL_CHECK(m, "shrinking it by two");
		if (ret) {
			ASSERT_EQ(0, write_nr(fd, nr0));
			ht_pool_model_move(m, -2, -2, 0, 0);
			HT_POOL_CHECK(m, "shrinking it by two again");
		}
		if (!fi_next(_metadata, f, n, ret, inj))
			break;
	}
	EXPECT_LT(1, f->sw.calls) TH_LOG("freeing HVO pages allocated nothing");
	close(fd);
}

/* A memfd of @pages pages with the first @filled allocated. */
static int file_with(struct __test_metadata *_metadata, struct fi *f,
		     unsigned long psize, int pages, int filled)
{
	int fd = ht_memfd_hugetlb("fi", psize);

	EXPECT_LE(0, fd);
	if (fd < 0)
		return fd;
	EXPECT_EQ(0, ftruncate(fd, (off_t)pages * psize));
	if (filled) {
		EXPECT_EQ(0, fallocate(fd, 0, 0, (off_t)filled * psize));
		ht_pool_model_move(&f->pool, 0, -filled, 0, 0);
	}
	return fd;
}

/* Closing a sweep's file: its pages go back to Free, resv with them. */
static void close_file(struct __test_metadata *_metadata, struct fi *f, int fd,
		       long free, long resv)
{
	close(fd);
	ht_pool_model_move(&f->pool, 0, free, resv, 0);
	HT_POOL_CHECK(&f->pool, "closing the file");
}

/* fallocate() of one page: in the file and out of Free, or neither. */
TEST_F(fi_pool, fallocate)
{
	struct fi *f = &self->f;
	unsigned long psize = HT_PSIZE(variant);
	int fd, ret;
	bool inj;

	for (unsigned int n = 1;; n++) {
		fd = file_with(_metadata, f, psize, 1, 0);
		ASSERT_LE(0, fd);
		fi_arm(_metadata, f, n);
		ret = sys_ret(fallocate(fd, 0, 0, (off_t)psize));
		inj = fi_disarm(_metadata, f);
		if (!ret)
			ht_pool_model_move(&f->pool, 0, -1, 0, 0);
		HT_POOL_CHECK(&f->pool, "fallocate of one page");
		close_file(_metadata, f, fd, !ret, 0);
		if (!fi_next(_metadata, f, n, ret, inj))
			break;
	}
	EXPECT_LT(1, f->sw.calls)
	TH_LOG("fallocate reached no injection point");
}

/*
 * A hole punched in the middle of a region of the file's reserve map
 * splits it: region_del() needs a new file_region, and after the map's
 * one cached entry went to an earlier split it must kmalloc() one.  When
 * that fails hugetlb_unreserve_pages() fails, and remove_inode_single_
 * folio() calls hugetlb_fix_reserve_counts(): the page is gone but its
 * reservation stays (Rsvd + 1, counted in .other) until the file goes.
 */
TEST_F(fi_pool, punch_keeps_reservation)
{
	struct fi *f = &self->f;
	unsigned long psize = HT_PSIZE(variant);
	int fd, ret;
	bool inj, kept;

	for (unsigned int n = 1;; n++) {
		fd = file_with(_metadata, f, psize, 5, 5);
		ASSERT_LE(0, fd);
		/* Uses the map's cached file_region. */
		ASSERT_EQ(0,
			  fallocate(fd,
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    (off_t)psize, (off_t)psize));
		ht_pool_model_move(&f->pool, 0, 1, 0, 0);
		HT_POOL_CHECK(&f->pool, "a first hole, page 1");
		fi_arm(_metadata, f, n);
		ret = sys_ret(fallocate(
			fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			3 * (off_t)psize, (off_t)psize));
		inj = fi_disarm(_metadata, f);
		kept = false;
		if (!ret)
			ht_pool_model_move(&f->pool, 0, 1, 0, 0);
		if (!ret && ht_pool_get(_metadata, psize, -1).resv ==
				    f->pool.want.resv + 1) {
			EXPECT_TRUE(inj) TH_LOG("call %u: reservation kept", n);
			ht_pool_model_move(&f->pool, 0, 0, 1, 0);
			f->sw.other++;
			kept = true;
		}
		HT_POOL_CHECK(&f->pool, "a second hole, page 3");
		close(fd);
		/* The inode's end returns the kept reservation too. */
		ht_pool_model_move(&f->pool, 0, ret ? 4 : 3, 0, 0);
		if (kept)
			ht_pool_model_move(&f->pool, 0, 0, -1, 0);
		HT_POOL_CHECK(&f->pool, "closing the file");
		if (!fi_next(_metadata, f, n, ret, inj))
			break;
	}
	/* 6.12's region_del(): the kmalloc() is reached, the fixup runs. */
	EXPECT_LT(0, f->sw.other) TH_LOG("no sweep call kept a reservation");
}

/*
 * mmap() of an anonymous hugetlb mapping: hugetlb_file_setup() makes an
 * inode and file, hugetlb_reserve_pages() a reserve map and its regions.
 * Two pages reserved, or the call fails and nothing is.
 */
static void sweep_mmap_reserve(struct __test_metadata *_metadata, struct fi *f,
			       unsigned long psize, int type)
{
	int flags = type | MAP_ANONYMOUS | MAP_HUGETLB |
		    (ht_size_shift(psize) << MAP_HUGE_SHIFT);
	size_t len = 2 * psize;
	bool inj;
	void *p;
	int ret;

	/*
	 * hugetlb_file_setup() reports an inode it could not allocate
	 * (hugetlbfs_get_inode() NULL) as ENOSPC, as for a full mount.
	 */
	f->also = ENOSPC;
	for (unsigned int n = 1;; n++) {
		fi_arm(_metadata, f, n);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
		ret = p == MAP_FAILED ? -errno : 0;
		inj = fi_disarm(_metadata, f);
		if (!ret)
			ht_pool_model_move(&f->pool, 0, 0, 2, 0);
		HT_POOL_CHECK(&f->pool, "mmap of two pages");
		if (!ret) {
			ASSERT_EQ(0, munmap(p, len));
			ht_pool_model_move(&f->pool, 0, 0, -2, 0);
		}
		HT_POOL_CHECK(&f->pool, "munmap");
		if (!fi_next(_metadata, f, n, ret, inj))
			break;
	}
	EXPECT_LT(1, f->sw.calls) TH_LOG("mmap reached no injection point");
}

TEST_F(fi_pool, mmap_private_reserves)
{
	sweep_mmap_reserve(_metadata, &self->f, HT_PSIZE(variant), MAP_PRIVATE);
}

TEST_F(fi_pool, mmap_shared_reserves)
{
	sweep_mmap_reserve(_metadata, &self->f, HT_PSIZE(variant), MAP_SHARED);
}

/* ---- faults: a page into a mapping, at either granularity ---- */

FIXTURE(fi_map)
{
	struct fi f;
};

FIXTURE_VARIANT(fi_map)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS_2M(fi_map);

FIXTURE_SETUP(fi_map)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.caps = { CAP_SYS_ADMIN },
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};

	fi_setup(_metadata, &self->f, &needs);
}

FIXTURE_TEARDOWN_PARENT(fi_map)
{
	fi_teardown(_metadata, &self->f);
}

/* The one armed call: huge, a fault of the page; hgm, one piece. */
static int fault_one(void *p, size_t psize, enum ht_gran g, int uffd)
{
	if (g == HT_GRAN_HUGE)
		return sys_ret(madvise(p, psize, MADV_POPULATE_WRITE));
	return ht_uffd_continue(uffd, p, ht_base_page_size());
}

/*
 * huge: a write fault of a shared page that is not in the file yet
 * allocates it from the reservation and adds it to the page cache; if the
 * insertion fails, restore_reserve_on_error() must give the reservation
 * back (Rsvd unchanged, the page Free again).  hgm: the page is in the
 * file; CONTINUE of one 4 KiB piece allocates the page tables below the
 * PMD.  Either the piece or page is mapped or nothing is.
 */
TEST_F(fi_map, fault_shared)
{
	struct fi *f = &self->f;
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size();
	bool hgm = variant->gran == HT_GRAN_HGM, inj;
	int fd, uffd = -1, ret;
	char *p;

	/*
	 * hugetlb_no_page() answers a failed page cache insertion with
	 * VM_FAULT_SIGBUS, which MADV_POPULATE_WRITE reports as EFAULT.
	 */
	f->also = hgm ? 0 : EFAULT;
	for (unsigned int n = 1;; n++) {
		fd = file_with(_metadata, f, psize, 1, hgm);
		ASSERT_LE(0, fd);
		p = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 0);
		ASSERT_NE(MAP_FAILED, p);
		ht_pool_model_move(&f->pool, 0, 0, !hgm, 0);
		if (hgm) {
			ASSERT_EQ(0, madvise(p, psize, MADV_SPLIT));
			uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
			ASSERT_LE(0, uffd);
			ASSERT_EQ(0,
				  ht_uffd_register(uffd, p, psize,
						   UFFDIO_REGISTER_MODE_MINOR));
		}
		HT_POOL_CHECK(&f->pool, "mmap(MAP_SHARED)");
		fi_arm(_metadata, f, n);
		ret = fault_one(p, psize, variant->gran, uffd);
		inj = fi_disarm(_metadata, f);
		if (!ret && !hgm) {
			ht_pool_model_move(&f->pool, 0, -1, -1, 0);
		}
		HT_POOL_CHECK(&f->pool,
			      hgm ? "CONTINUE of a piece" : "a fault");
		EXPECT_EQ(ret ? 0 :
			  hgm ? 1 :
				(long)(psize / ps),
			  ht_pagemap_count_present(0, (unsigned long)p, psize))
		TH_LOG("call %u: pieces present after %s", n, strerror(-ret));
		ASSERT_EQ(0, munmap(p, psize));
		if (uffd >= 0)
			close(uffd);
		uffd = -1;
		close_file(_metadata, f, fd, hgm || !ret, -(!hgm && ret));
		if (!fi_next(_metadata, f, n, ret, inj))
			break;
	}
	EXPECT_LT(1, f->sw.calls)
	TH_LOG("the fault reached no injection point");
}

/*
 * mmap() of a shared file succeeds when the VMA's hugetlb vma lock cannot
 * be allocated (the kernel only warns, once: the lock serves PMD sharing
 * and fault/truncate exclusion).  Such a VMA must not become an HGM VMA:
 * the vma lock is what keeps HGM page tables from being freed under
 * faults and walks (patch 6).  The stack trace filter narrows fail-nth to
 * the allocations under hugetlb_reserve_pages(), whose first is the vma
 * lock's: fail-nth 1 fails exactly it, whatever else mmap() allocates.
 * hgm: MADV_SPLIT is EINVAL for that VMA, 0 for a second mapping of the
 * file (it has its lock).  Both: the page faults in whole from the
 * reservation the first mmap() took.
 */
TEST_F_TIMEOUT(fi_map, mmap_without_vma_lock, 300)
{
	struct fi *f = &self->f;
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size();
	bool hgm = variant->gran == HT_GRAN_HGM, inj;
	int fd;
	char *p, *q;

	if (!fi_filter(_metadata, f, "hugetlb_reserve_pages"))
		return;
	fd = file_with(_metadata, f, psize, 1, 0);
	ASSERT_LE(0, fd);
	fi_arm(_metadata, f, 1);
	p = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	inj = fi_disarm(_metadata, f);
	ASSERT_NE(MAP_FAILED, p)
	TH_LOG("mmap() without its vma lock: %s", strerror(errno));
	ASSERT_TRUE(inj)
	TH_LOG("mmap() allocated nothing under hugetlb_reserve_pages()");
	ht_pool_model_move(&f->pool, 0, 0, 1, 0);
	HT_POOL_CHECK(&f->pool, "mmap() without a vma lock");
	q = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	HT_POOL_CHECK(&f->pool, "a second mapping of the reserved range");
	if (hgm) {
		EXPECT_EQ(-EINVAL, sys_ret(madvise(p, psize, MADV_SPLIT)))
		TH_LOG("MADV_SPLIT of a VMA without its vma lock");
		EXPECT_EQ(0, sys_ret(madvise(q, psize, MADV_SPLIT)))
		TH_LOG("MADV_SPLIT of a VMA with its vma lock");
	}
	EXPECT_EQ(0, sys_ret(madvise(p, psize, MADV_POPULATE_WRITE)));
	ht_pool_model_move(&f->pool, 0, -1, -1, 0);
	HT_POOL_CHECK(&f->pool, "a fault through the VMA without a vma lock");
	EXPECT_EQ((long)(psize / ps),
		  ht_pagemap_count_present(0, (unsigned long)p, psize));
	ASSERT_EQ(0, munmap(q, psize));
	ASSERT_EQ(0, munmap(p, psize));
	close_file(_metadata, f, fd, 1, 0);
}

/* ---- a private page: its fault, and fork ---- */

FIXTURE(fi_private)
{
	struct fi f;
};

FIXTURE_VARIANT(fi_private)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANT_2M(fi_private, huge);

FIXTURE_SETUP(fi_private)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.caps = { CAP_SYS_ADMIN }, /* PFNs in pagemap */
	};

	fi_setup(_metadata, &self->f, &needs);
}

FIXTURE_TEARDOWN_PARENT(fi_private)
{
	fi_teardown(_metadata, &self->f);
}

static char *map_private(unsigned long psize)
{
	return mmap(NULL, psize, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
			    (ht_size_shift(psize) << MAP_HUGE_SHIFT),
		    -1, 0);
}

/*
 * The first write to a private page: it comes out of the mapping's
 * reservation, or, when a page table cannot be allocated, the
 * reservation is still there for the next try.
 */
TEST_F(fi_private, fault_private)
{
	struct fi *f = &self->f;
	unsigned long psize = HT_PSIZE(variant);
	bool inj;
	char *p;
	int ret;

	for (unsigned int n = 1;; n++) {
		p = map_private(psize);
		ASSERT_NE(MAP_FAILED, p);
		ht_pool_model_move(&f->pool, 0, 0, 1, 0);
		fi_arm(_metadata, f, n);
		ret = sys_ret(madvise(p, psize, MADV_POPULATE_WRITE));
		inj = fi_disarm(_metadata, f);
		if (!ret) {
			ht_pool_model_move(&f->pool, 0, -1, -1, 0);
		}
		HT_POOL_CHECK(&f->pool, "a write fault");
		ASSERT_EQ(0, munmap(p, psize));
		ht_pool_model_move(&f->pool, 0, !ret, -!!ret, 0);
		HT_POOL_CHECK(&f->pool, "munmap");
		if (!fi_next(_metadata, f, n, ret, inj))
			break;
	}
	EXPECT_LT(1, f->sw.calls)
	TH_LOG("the fault reached no injection point");
}

/* After fork returned: the parent's page is its own again. */
static void check_exclusive(struct __test_metadata *_metadata, struct fi *f,
			    char *p, unsigned long psize, unsigned int n)
{
	uint64_t pfn = ht_pfn_of(_metadata, 0, (unsigned long)p), count = 0;

	EXPECT_EQ(0, ht_kpagecount_read(pfn, &count));
	EXPECT_EQ(1, count) TH_LOG("call %u: kpagecount after fork", n);
	/* A reference a failed copy left behind would make this a COW. */
	p[0] ^= 1;
	p[0] ^= 1;
	HT_POOL_CHECK(&f->pool, "writing after fork");
	EXPECT_EQ(pfn, ht_pfn_of(_metadata, 0, (unsigned long)p))
	TH_LOG("call %u: the write moved the page", n);
	EXPECT_EQ(-1, ht_pattern_check(p, psize, 0, SEED));
}

/*
 * fork() of a written private page: copy_hugetlb_page_range() allocates
 * the child's page table and shares the page (kpagecount 2, write-
 * protected in both).  A fork that fails part way must undo that: the
 * parent's page mapped once, and its next write reusing it (no COW, no
 * page taken from the pool).
 *
 * fail-nth counts only the allocations under kernel_clone() (the stack
 * trace filter): an n beyond fork's own allocations would otherwise stay
 * armed into the return to user space, where the rseq update writes the
 * parent's TLS, write-protected by this very fork; the COW allocation
 * fails, rseq_handle_notify_resume() gets -EFAULT and sends SIGSEGV
 * (seen once on patched-debug: "terminated unexpectedly by signal 11").
 */
TEST_F_TIMEOUT(fi_private, fork_private, 300)
{
	struct fi *f = &self->f;
	unsigned long psize = HT_PSIZE(variant);
	int ret, status;
	pid_t pid;
	bool inj;
	char *p;

	if (!fi_filter(_metadata, f, "kernel_clone"))
		return;
	p = map_private(psize);
	ASSERT_NE(MAP_FAILED, p);
	ht_pattern_fill(p, psize, 0, SEED);
	ht_pool_model_move(&f->pool, 0, -1, 0, 0);
	HT_POOL_CHECK(&f->pool, "writing the page");
	for (unsigned int n = 1;; n++) {
		fi_arm(_metadata, f, n);
		pid = fork();
		if (pid == 0)
			_exit(0);
		ret = pid < 0 ? -errno : 0;
		inj = fi_disarm(_metadata, f);
		if (pid > 0) {
			ASSERT_EQ(pid, waitpid(pid, &status, 0));
			EXPECT_EQ(0, status);
		}
		check_exclusive(_metadata, f, p, psize, n);
		if (!fi_next(_metadata, f, n, ret, inj))
			break;
	}
	EXPECT_LT(1, f->sw.calls) TH_LOG("fork reached no injection point");
	ASSERT_EQ(0, munmap(p, psize));
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	HT_POOL_CHECK(&f->pool, "munmap");
}

HT_MAIN
