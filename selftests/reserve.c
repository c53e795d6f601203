// SPDX-License-Identifier: GPL-2.0
/*
 * Topic: hugetlb reservations, surplus pages and overcommit.  Every step
 * that can move HugePages_Total/Free/Rsvd/Surp is followed by a check of
 * the whole pool against a model (struct ht_pool_model) whose deltas are
 * written from mm/hugetlb.c (6.12), cited at each step:
 *
 *   shared file   hugetlb_reserve_pages(): region_chg() on the inode's
 *                 resv_map, Rsvd += pages not yet in it; a fault consumes
 *                 one (Free--, Rsvd--); munmap keeps it (the reservation
 *                 is the file's); truncate returns it through
 *                 hugetlb_unreserve_pages() (chg - freed).
 *   private       a resv_map per VMA, HPAGE_RESV_OWNER; hugetlb_vm_op_close
 *                 returns (pages - region_count()) reserves; a child of
 *                 fork owns none; the owner's COW that finds no page
 *                 unmaps the child's (unmap_ref_private).
 *   NORESERVE     no reservation; a fault needs Free - Rsvd > 0 or a
 *                 surplus page, else SIGBUS.
 *   surplus       gather_surplus_pages() at reservation time,
 *                 return_unused_surplus_pages() when it is dropped,
 *                 free_huge_folio() lets surplus pages leave the pool.
 *   subpools      hugetlbfs size= (max) and min_size= (its own reserve).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "ht_harness.h"

#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif
#ifndef SHM_NORESERVE
#define SHM_NORESERVE 010000
#endif
#ifndef SHM_HUGE_SHIFT
#define SHM_HUGE_SHIFT 26
#endif

#define SEED 0x7e5e0001

/* Pages a new reservation can take without surplus: Free - Rsvd. */
static unsigned long avail(const struct ht_pool_model *m)
{
	return m->want.free - m->want.resv;
}

static void *map_anon(unsigned long psize, unsigned long n, int flags)
{
	return mmap(NULL, n * psize, PROT_READ | PROT_WRITE,
		    flags | MAP_ANONYMOUS | MAP_HUGETLB |
			    (ht_size_shift(psize) << MAP_HUGE_SHIFT),
		    -1, 0);
}

/* st_blocks counts 512-byte units: i_blocks += blocks_per_huge_page. */
static long file_pages(int fd, unsigned long psize)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	return (long)(st.st_blocks * 512 / (long)psize);
}

/* si_code of a one-byte access (0: none). */
static int access_code(void *p, bool write)
{
	struct ht_sigbus sb;

	ht_access(p, write, 0x5a, &sb);
	return sb.hit ? (sb.signo == SIGBUS ? sb.code : -sb.signo) : 0;
}

/*
 * Reserves every page a new reservation could take (Free - Rsvd) with a
 * shared mapping of a second file, so the next allocation that needs an
 * unreserved page finds none.
 */
struct hog {
	int fd;
	void *p;
	unsigned long n;
};

static void hog_start(struct __test_metadata *_metadata,
		      struct ht_pool_model *m, struct hog *h)
{
	h->n = avail(m);
	h->fd = -1;
	h->p = NULL;
	if (!h->n)
		return;
	h->fd = ht_memfd_hugetlb("ht-hog", m->psize);
	ASSERT_LE(0, h->fd);
	ASSERT_EQ(0, ftruncate(h->fd, h->n * m->psize));
	h->p = mmap(NULL, h->n * m->psize, PROT_READ, MAP_SHARED, h->fd, 0);
	ASSERT_NE(MAP_FAILED, h->p);
	ht_pool_model_move(m, 0, 0, h->n,
			   0); /* hugetlb_reserve_pages: region_chg == n */
	HT_POOL_CHECK(m, "reserving every available page");
}

static void hog_stop(struct __test_metadata *_metadata, struct ht_pool_model *m,
		     struct hog *h)
{
	if (!h->n)
		return;
	munmap(h->p, h->n * m->psize);
	close(h->fd);
	/* Last reference: evict -> hugetlb_unreserve_pages(chg n, freed 0). */
	ht_pool_model_move(m, 0, 0, -(long)h->n, 0);
	HT_POOL_CHECK(m, "releasing the reserving file");
}

/*
 * Shared file scenarios, mapped huge or at 4 KiB (HGM): the pool must
 * move exactly the same way.
 */
FIXTURE(resv_shared)
{
	struct ht_env env;
	struct ht_pool_model m;
};

FIXTURE_VARIANT(resv_shared)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS(resv_shared);

FIXTURE_SETUP(resv_shared)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};

	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_pool_model_init(&self->m, HT_PSIZE(variant), -1));
}

FIXTURE_TEARDOWN_PARENT(resv_shared)
{
	HT_TEARDOWN(&self->env);
}

static void unmap_populated(void *p, size_t len, int uffd)
{
	munmap(p, len);
	if (uffd >= 0)
		close(uffd);
}

TEST_F_TIMEOUT(resv_shared, reserve_fault_unmap_truncate, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	struct ht_file f;
	char *p, *q;
	int uffd;

	ASSERT_EQ(0, ht_file_create(&f, ps, 2 * ps));
	HT_POOL_CHECK(m, "ftruncate of a new file (reserves nothing)");
	p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ht_pool_model_move(m, 0, 0, 2,
			   0); /* region_chg(inode map, 0, 2) == 2 */
	HT_POOL_CHECK(m, "mmap MAP_SHARED of 2 pages");

	/* The fill's own mmap finds [0,1) reserved (chg 0); its fault eats it. */
	ASSERT_EQ(0, ht_file_fill(&f, 0, ps, SEED));
	ht_pool_model_move(m, 0, -1, -1, 0);
	HT_POOL_CHECK(m, "first write fault");
	EXPECT_EQ(1, file_pages(f.fd, ps));

	q = ht_map_populated(&f, 0, ps, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, q);
	HT_POOL_CHECK(m, "mapping the cached page (no allocation)");
	EXPECT_EQ(-1, ht_pattern_check(q, ps, 0, SEED));
	EXPECT_EQ(-1, ht_pattern_check(p, ps, 0, SEED));
	unmap_populated(q, ps, uffd);
	munmap(p, 2 * ps);
	/* hugetlb_vm_op_close: no HPAGE_RESV_OWNER, the file keeps page 1's. */
	HT_POOL_CHECK(m, "munmap of both mappings");

	p = mmap(NULL, 2 * ps, PROT_READ, MAP_SHARED, f.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	HT_POOL_CHECK(m, "mmap again (region_chg finds both in the map)");
	munmap(p, 2 * ps);

	/* hugetlb_unreserve_pages: region_del 1, freed 0 -> Rsvd - 1. */
	ASSERT_EQ(0, ftruncate(f.fd, ps));
	ht_pool_model_move(m, 0, 0, -1, 0);
	HT_POOL_CHECK(m, "ftruncate to 1 page");
	/* The cached page is freed; region_del 1 - freed 1 = 0. */
	ASSERT_EQ(0, ftruncate(f.fd, 0));
	ht_pool_model_move(m, 0, 1, 0, 0);
	HT_POOL_CHECK(m, "ftruncate to 0");
	EXPECT_EQ(0, file_pages(f.fd, ps));
	ht_file_close(&f);
	HT_POOL_CHECK(m, "close");
}

/* Truncating a page while it is mapped (huge or in 4 KiB pieces). */
TEST_F_TIMEOUT(resv_shared, truncate_mapped_page, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	struct ht_file f;
	char *q;
	int uffd;

	ASSERT_EQ(0, ht_file_create(&f, ps, ps));
	ASSERT_EQ(0, ht_file_fill(&f, 0, ps, SEED));
	/* The fill's mmap reserved 1 and its fault consumed it. */
	ht_pool_model_move(m, 0, -1, 0, 0);
	HT_POOL_CHECK(m, "filling one page");
	q = ht_map_populated(&f, 0, ps, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, q);
	HT_POOL_CHECK(m, "mapping it");
	EXPECT_EQ(0, access_code(q + ps - 1, false));

	/* hugetlb_vmtruncate unmaps every piece, the page goes back. */
	ASSERT_EQ(0, ftruncate(f.fd, 0));
	ht_pool_model_move(m, 0, 1, 0, 0);
	HT_POOL_CHECK(m, "ftruncate of the mapped page");
	EXPECT_EQ(0, file_pages(f.fd, ps));
	/* hugetlb_no_page: index beyond i_size -> VM_FAULT_SIGBUS. */
	EXPECT_EQ(BUS_ADRERR, access_code(q, false));
	EXPECT_EQ(BUS_ADRERR, access_code(q + ps - 1, true));
	HT_POOL_CHECK(m, "faults beyond EOF");
	unmap_populated(q, ps, uffd);
	ht_file_close(&f);
	HT_POOL_CHECK(m, "close");
}

/* One plain fixture shape for the huge-only families below. */
#define RESV_FIXTURE(name, npages)                                           \
	FIXTURE(name)                                                        \
	{                                                                    \
		struct ht_env env;                                           \
		struct ht_pool_model m;                                      \
		int shmid;                                                   \
		char dir[64];                                                \
	};                                                                   \
	FIXTURE_VARIANT(name)                                                \
	{                                                                    \
		enum ht_level level;                                         \
	};                                                                   \
	FIXTURE_SETUP(name)                                                  \
	{                                                                    \
		struct ht_needs needs = { .page_size = HT_PSIZE(variant),    \
					  .pages = (npages) };               \
                                                                             \
		self->shmid = -1;                                            \
		self->dir[0] = '\0';                                         \
		HT_SETUP_OR_SKIP(&needs, &self->env);                        \
		ASSERT_EQ(0, ht_pool_model_init(&self->m, HT_PSIZE(variant), \
						-1));                        \
	}                                                                    \
	FIXTURE_TEARDOWN_PARENT(name)                                        \
	{                                                                    \
		resv_cleanup(_metadata, &self->shmid, self->dir);            \
		HT_TEARDOWN(&self->env);                                     \
	}

/*
 * What a case made beyond the pools, undone in the harness parent even
 * when the case died: a SysV segment, a hugetlbfs mount (its min_size
 * reserve holds Rsvd up, so it goes before the pool restore).
 */
static void resv_cleanup(struct __test_metadata *_metadata, int *shmid,
			 char *dir)
{
	if (*shmid >= 0 && shmctl(*shmid, IPC_RMID, NULL)) {
		TH_LOG("IPC_RMID %d: %s", *shmid, strerror(errno));
		_metadata->exit_code = KSFT_FAIL;
	}
	*shmid = -1;
	if (!dir[0])
		return;
	/* The case's processes may still be dying with files open. */
	for (int i = 0; i < 100 && umount(dir) && errno == EBUSY; i++)
		usleep(50 * 1000);
	umount2(dir, MNT_DETACH);
	if (rmdir(dir)) {
		TH_LOG("rmdir %s: %s", dir, strerror(errno));
		_metadata->exit_code = KSFT_FAIL;
	}
	dir[0] = '\0';
}

/* ---- files: NORESERVE, what cannot be reserved, private COW ---- */
RESV_FIXTURE(resv_file, 2)
HT_ADD_SIZE_VARIANTS(resv_file, huge);

TEST_F_TIMEOUT(resv_file, noreserve_fault_needs_unreserved_page, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	struct hog hog;
	struct ht_file f;
	char *p;

	ASSERT_EQ(0, ht_file_create(&f, ps, ps));
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		 f.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	HT_POOL_CHECK(m, "mmap MAP_NORESERVE (no reservation)");
	hog_start(_metadata, m, &hog);
	/*
	 * dequeue_hugetlb_folio_vma: no reserve and available_huge_pages()
	 * == 0; no overcommit for a surplus page -> -ENOSPC -> SIGBUS.
	 */
	EXPECT_EQ(BUS_ADRERR, access_code(p, true));
	HT_POOL_CHECK(m, "NORESERVE fault with every free page reserved");
	EXPECT_EQ(0, file_pages(f.fd, ps));
	hog_stop(_metadata, m, &hog);
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, 0, 0); /* a free page, Rsvd untouched */
	HT_POOL_CHECK(m, "NORESERVE fault with a free page");
	EXPECT_EQ(1, file_pages(f.fd, ps));
	munmap(p, ps);
	HT_POOL_CHECK(m, "munmap (the page stays in the file)");
	/* region_del 1 (the fault's region_add) - freed 1: no Rsvd change. */
	ht_file_close(&f);
	ht_pool_model_move(m, 0, 1, 0, 0);
	HT_POOL_CHECK(m, "close");
}

TEST_F_TIMEOUT(resv_file, mmap_beyond_available_enomem, 300)
{
	unsigned long ps = HT_PSIZE(variant), n = avail(&self->m);
	struct ht_pool_model *m = &self->m;
	struct ht_file f;
	char *p;

	ASSERT_EQ(0, m->want.overcommit) TH_LOG("the model assumes none");
	ASSERT_EQ(0, ht_file_create(&f, ps, (n + 1) * ps));
	/* gather_surplus_pages: 1 page short, no overcommit -> region_abort. */
	p = mmap(NULL, (n + 1) * ps, PROT_READ, MAP_SHARED, f.fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENOMEM, errno);
	HT_POOL_CHECK(m, "shared mmap of Free - Rsvd + 1 pages");
	p = map_anon(ps, n + 1, MAP_PRIVATE);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENOMEM, errno);
	HT_POOL_CHECK(m, "private mmap of Free - Rsvd + 1 pages");
	p = map_anon(ps, n + 1, MAP_PRIVATE | MAP_NORESERVE);
	ASSERT_NE(MAP_FAILED, p);
	HT_POOL_CHECK(m, "the same with MAP_NORESERVE");
	munmap(p, (n + 1) * ps);

	/* Exactly what is available fits; the file keeps it past munmap. */
	p = mmap(NULL, n * ps, PROT_READ, MAP_SHARED, f.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ht_pool_model_move(m, 0, 0, n, 0);
	HT_POOL_CHECK(m, "shared mmap of Free - Rsvd pages");
	munmap(p, n * ps);
	HT_POOL_CHECK(m, "munmap");
	ht_file_close(&f);
	ht_pool_model_move(m, 0, 0, -(long)n, 0);
	HT_POOL_CHECK(m, "close");
}

/*
 * MAP_PRIVATE of a file whose page is cached: a read maps the cache page;
 * the write's COW (hugetlb_wp, old folio == pagecache folio, so not
 * cow_from_owner) takes the private reservation.
 */
TEST_F_TIMEOUT(resv_file, private_file_cow_from_cache, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	struct ht_file f;
	char *p;

	ASSERT_EQ(0, ht_file_create(&f, ps, ps));
	ASSERT_EQ(0, ht_file_fill(&f, 0, ps, SEED));
	ht_pool_model_move(m, 0, -1, 0, 0);
	HT_POOL_CHECK(m, "filling the file's page");
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ht_pool_model_move(m, 0, 0, 1,
			   0); /* a resv_map of the VMA, HPAGE_RESV_OWNER */
	HT_POOL_CHECK(m, "mmap MAP_PRIVATE");
	EXPECT_EQ(-1, ht_pattern_check(p, ps, 0, SEED));
	HT_POOL_CHECK(m, "read (maps the cached page)");
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, -1, 0);
	HT_POOL_CHECK(m, "write (COW consumes the reservation)");
	EXPECT_EQ(0x5a, p[0]);
	EXPECT_EQ(-1, ht_pattern_check(p + ht_base_page_size(),
				       ps - ht_base_page_size(),
				       ht_base_page_size(), SEED));
	munmap(p, ps);
	ht_pool_model_move(m, 0, 1, 0,
			   0); /* the copy is freed; region_count 1: no resv */
	HT_POOL_CHECK(m, "munmap");
	ht_file_close(&f);
	ht_pool_model_move(m, 0, 1, 0, 0);
	HT_POOL_CHECK(m, "close");
}

/* ---- anonymous MAP_PRIVATE and MAP_SHARED, fork and COW ---- */
RESV_FIXTURE(resv_anon, 2)
HT_ADD_SIZE_VARIANTS(resv_anon, huge);

TEST_F_TIMEOUT(resv_anon, private_reserve_fault_unmap, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	char *p = map_anon(ps, 2, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	ht_pool_model_move(m, 0, 0, 2,
			   0); /* hugetlb_reserve_pages: chg = 2 (private) */
	HT_POOL_CHECK(m, "mmap MAP_PRIVATE of 2 pages");
	EXPECT_EQ(0, access_code(p + ps, false));
	ht_pool_model_move(m, 0, -1, -1, 0);
	HT_POOL_CHECK(m, "read fault of page 1");
	EXPECT_EQ(0, access_code(p + ps, true));
	HT_POOL_CHECK(m, "write to it (exclusive anon: reused, no COW)");
	/* hugetlb_vm_op_close: reserve = 2 - region_count 1 = 1. */
	munmap(p, 2 * ps);
	ht_pool_model_move(m, 0, 1, -1, 0);
	HT_POOL_CHECK(m, "munmap");
}

/*
 * hugetlb_vm_op_split refuses a split inside a huge page; a split at a
 * page boundary gives each part its share of the VMA's reservations.
 */
TEST_F_TIMEOUT(resv_anon, private_partial_munmap, 300)
{
	unsigned long ps = HT_PSIZE(variant), bp = ht_base_page_size();
	struct ht_pool_model *m = &self->m;
	char *p = map_anon(ps, 2, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	ht_pool_model_move(m, 0, 0, 2, 0);
	HT_POOL_CHECK(m, "mmap MAP_PRIVATE of 2 pages");
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, -1, 0);
	HT_POOL_CHECK(m, "write fault of page 0");

	EXPECT_EQ(-1, munmap(p + bp, bp));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, munmap(p, ps + bp));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, mprotect(p + ps - bp, 2 * bp, PROT_READ));
	EXPECT_EQ(EINVAL, errno);
	HT_POOL_CHECK(m, "refused unaligned munmap and mprotect");
	EXPECT_EQ(0x5a, p[0]) TH_LOG("page 0 lost its data");

	/* The untouched page 1: reserve 1 - region_count 0 goes back. */
	ASSERT_EQ(0, munmap(p + ps, ps));
	ht_pool_model_move(m, 0, 0, -1, 0);
	HT_POOL_CHECK(m, "munmap of the untouched page");
	ASSERT_EQ(0, munmap(p, ps));
	ht_pool_model_move(m, 0, 1, 0, 0);
	HT_POOL_CHECK(m, "munmap of the faulted page");
}

/* Maps one private page, writes it, forks a holder inheriting it. */
static char *private_written_fork(struct __test_metadata *_metadata,
				  struct ht_pool_model *m, struct ht_child *c)
{
	static struct ht_file none = { .fd = -1 };
	struct ht_holder h = { .file = &none, .len = m->psize };
	char *p = map_anon(m->psize, 1, MAP_PRIVATE);
	unsigned long addr;
	uint64_t pm;
	int ret;

	if (p == MAP_FAILED)
		return p;
	ht_pattern_fill(p, m->psize, 0, SEED);
	ht_pool_model_move(m, 0, -1, 0,
			   0); /* reserved at mmap, consumed by the write */
	HT_POOL_CHECK(m, "mmap MAP_PRIVATE + write of one page");
	none.psize = m->psize;
	h.inherit = p;
	ret = ht_holder_start(c, &h, &addr);
	if (ret) {
		TH_LOG("fork holder: %s", strerror(-ret));
		munmap(p, m->psize);
		return MAP_FAILED;
	}
	/* copy_hugetlb_page_range shares the page; the child owns nothing. */
	HT_POOL_CHECK(m, "fork");
	pm = 0;
	EXPECT_EQ(0, ht_pagemap_read(c->pid, addr, &pm));
	EXPECT_TRUE(pm & HT_PM_PRESENT)
	TH_LOG("fork did not copy the page table entry: the child does not map the page");
	return p;
}

static void private_end(struct __test_metadata *_metadata,
			struct ht_pool_model *m, struct ht_child *c, char *p,
			long child_frees)
{
	ht_stop_holder(_metadata, c);
	ht_pool_model_move(m, 0, child_frees, 0, 0);
	HT_POOL_CHECK(m, "child exit");
	munmap(p, m->psize);
	ht_pool_model_move(m, 0, 1, 0, 0);
	HT_POOL_CHECK(m, "munmap");
}

TEST_F_TIMEOUT(resv_anon, fork_child_cow, 300)
{
	struct ht_pool_model *m = &self->m;
	struct ht_child c;
	int64_t r;
	char *p = private_written_fork(_metadata, m, &c);

	ASSERT_NE(MAP_FAILED, p);
	/* Not the owner: vma_needs_reservation 1, an unreserved page. */
	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_WRITE, &r));
	EXPECT_EQ(0, r) TH_LOG("child's COW: SIGBUS code %ld", (long)r);
	ht_pool_model_move(m, 0, -1, 0, 0);
	HT_POOL_CHECK(m, "child's COW");
	EXPECT_EQ(-1, ht_pattern_check(p, m->psize, 0, SEED));
	private_end(_metadata, m, &c, p, 1);
}

TEST_F_TIMEOUT(resv_anon, fork_child_cow_pool_exhausted, 300)
{
	struct ht_pool_model *m = &self->m;
	struct ht_child c;
	struct hog hog;
	int64_t r;
	char *p = private_written_fork(_metadata, m, &c);

	ASSERT_NE(MAP_FAILED, p);
	hog_start(_metadata, m, &hog);
	/* hugetlb_wp, not cow_from_owner: vmf_error(-ENOSPC) = SIGBUS. */
	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_WRITE, &r));
	EXPECT_EQ(BUS_ADRERR, r);
	HT_POOL_CHECK(m, "child's COW without a page");
	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_READ, &r));
	EXPECT_EQ(0, r) TH_LOG("child lost the shared page: code %ld", (long)r);
	EXPECT_EQ(-1, ht_pattern_check(p, m->psize, 0, SEED));
	hog_stop(_metadata, m, &hog);
	/* The child's exit frees nothing: the owner still maps the page. */
	private_end(_metadata, m, &c, p, 0);
}

/*
 * The reservation owner's COW with no page: unmap_ref_private() takes the
 * page from the child (HPAGE_RESV_UNMAPPED), the owner keeps it, the
 * child's next fault is SIGBUS.
 */
TEST_F_TIMEOUT(resv_anon, fork_parent_cow_pool_exhausted, 300)
{
	struct ht_pool_model *m = &self->m;
	struct ht_child c;
	struct hog hog;
	int64_t r;
	char *p = private_written_fork(_metadata, m, &c);

	ASSERT_NE(MAP_FAILED, p);
	hog_start(_metadata, m, &hog);
	EXPECT_EQ(0, access_code(p + 64, true)) TH_LOG("owner's write");
	HT_POOL_CHECK(m, "owner's COW (reuses the page)");
	EXPECT_EQ(0x5a, p[64]);
	EXPECT_EQ(-1, ht_pattern_check(p + ht_base_page_size(),
				       m->psize - ht_base_page_size(),
				       ht_base_page_size(), SEED));
	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_READ, &r));
	EXPECT_EQ(BUS_ADRERR, r) TH_LOG("child's read after losing the page");
	HT_POOL_CHECK(m, "child's fault");
	hog_stop(_metadata, m, &hog);
	private_end(_metadata, m, &c, p, 0);
}

TEST_F_TIMEOUT(resv_anon, fork_parent_cow, 300)
{
	struct ht_pool_model *m = &self->m;
	struct ht_child c;
	int64_t r;
	char *p = private_written_fork(_metadata, m, &c);

	ASSERT_NE(MAP_FAILED, p);
	/* cow_from_owner: the reserve was consumed, an unreserved page. */
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, 0, 0);
	HT_POOL_CHECK(m, "owner's COW");
	ASSERT_EQ(0, ht_holder_check(&c, SEED, &r));
	EXPECT_EQ(-1, r) TH_LOG("child sees wrong contents at %ld", (long)r);
	private_end(_metadata, m, &c, p, 1);
}

/* hugetlb_file_setup(VM_NORESERVE), then the mmap reserves on the inode. */
TEST_F_TIMEOUT(resv_anon, shared_reserve_fault_unmap, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	char *p = map_anon(ps, 2, MAP_SHARED);

	ASSERT_NE(MAP_FAILED, p);
	ht_pool_model_move(m, 0, 0, 2, 0);
	HT_POOL_CHECK(m, "mmap MAP_SHARED|MAP_ANONYMOUS of 2 pages");
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, -1, 0);
	HT_POOL_CHECK(m, "write fault of page 0");
	/* Last reference to the file: evict, chg 2 - freed 1. */
	munmap(p, 2 * ps);
	ht_pool_model_move(m, 0, 1, -1, 0);
	HT_POOL_CHECK(m, "munmap");
	p = map_anon(ps, 1, MAP_SHARED | MAP_NORESERVE);
	ASSERT_NE(MAP_FAILED, p);
	HT_POOL_CHECK(m, "mmap MAP_SHARED|MAP_NORESERVE");
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, 0, 0);
	HT_POOL_CHECK(m, "its fault (a free page)");
	munmap(p, ps);
	ht_pool_model_move(m, 0, 1, 0, 0);
	HT_POOL_CHECK(m, "munmap");
}

/* ---- SysV SHM_HUGETLB: the reservation is made at shmget ---- */
static int shm_huge(unsigned long psize, unsigned long n, int extra)
{
	return shmget(IPC_PRIVATE, n * psize,
		      IPC_CREAT | 0600 | SHM_HUGETLB | extra |
			      (ht_size_shift(psize) << SHM_HUGE_SHIFT));
}

TEST_F_TIMEOUT(resv_anon, sysv_shm, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	char *p;

	self->shmid = shm_huge(ps, 2, 0);
	ASSERT_LE(0, self->shmid) TH_LOG("shmget: %s", strerror(errno));
	/* newseg -> hugetlb_file_setup -> hugetlb_reserve_pages(0, 2). */
	ht_pool_model_move(m, 0, 0, 2, 0);
	HT_POOL_CHECK(m, "shmget SHM_HUGETLB of 2 pages");
	p = shmat(self->shmid, NULL, 0);
	ASSERT_NE((void *)-1, p);
	HT_POOL_CHECK(m, "shmat");
	EXPECT_EQ(0, access_code(p + ps, true));
	ht_pool_model_move(m, 0, -1, -1, 0);
	HT_POOL_CHECK(m, "write fault of page 1");
	ASSERT_EQ(0, shmdt(p));
	HT_POOL_CHECK(m, "shmdt (the segment keeps page and reserve)");
	p = shmat(self->shmid, NULL, SHM_RDONLY);
	ASSERT_NE((void *)-1, p);
	EXPECT_EQ(0x5a, p[ps]);
	HT_POOL_CHECK(m, "shmat again and read");
	ASSERT_EQ(0, shmdt(p));
	ASSERT_EQ(0, shmctl(self->shmid, IPC_RMID, NULL));
	self->shmid = -1;
	ht_pool_model_move(m, 0, 1, -1, 0);
	HT_POOL_CHECK(m, "IPC_RMID");

	self->shmid = shm_huge(ps, 1, SHM_NORESERVE);
	ASSERT_LE(0, self->shmid) TH_LOG("shmget: %s", strerror(errno));
	HT_POOL_CHECK(m, "shmget SHM_NORESERVE");
	p = shmat(self->shmid, NULL, 0);
	ASSERT_NE((void *)-1, p);
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, 0, 0);
	HT_POOL_CHECK(m, "its fault");
	ASSERT_EQ(0, shmdt(p));
	ASSERT_EQ(0, shmctl(self->shmid, IPC_RMID, NULL));
	self->shmid = -1;
	ht_pool_model_move(m, 0, 1, 0, 0);
	HT_POOL_CHECK(m, "IPC_RMID");
}

/*
 * ---- SHM_HUGETLB segments of a size not a multiple of the page ----
 * newseg() rounds the file up (hugesize = ALIGN(size, huge_page_size))
 * and hugetlb_file_setup() reserves ceil(size / psize) pages of the size
 * SHM_HUGE_SHIFT names, none of another size; shm_segsz keeps the size
 * asked for, while shmat maps the whole file (do_shmat: i_size), so every
 * huge page of it can be written.
 */
static unsigned long other_size(unsigned long ps)
{
	unsigned long o = ps == ht_pud_size() ? ht_pmd_size() : ht_pud_size();

	return ht_page_size_supported(o) ? o : 0;
}

#define POOLS_CHECK(m, o, step)                 \
	do {                                    \
		HT_POOL_CHECK(m, step);         \
		if ((o)->psize)                 \
			HT_POOL_CHECK(o, step); \
	} while (0)

/*
 * One segment of @size: shmget, IPC_STAT, shmat, a write at the last
 * byte of every huge page when @write; then IPC_RMID before shmdt
 * (@rmid_first) or after it.  @o: the other size's pool, which must not
 * move.
 */
static void shm_unaligned(struct __test_metadata *_metadata,
			  struct ht_pool_model *m, struct ht_pool_model *o,
			  int *shmid, size_t size, bool write, bool rmid_first)
{
	unsigned long ps = m->psize, n = (size + ps - 1) / ps;
	struct shmid_ds ds;
	struct ht_smaps_vma v;
	char step[96];
	char *p;

	*shmid = shmget(IPC_PRIVATE, size,
			IPC_CREAT | 0600 | SHM_HUGETLB |
				(ht_size_shift(ps) << SHM_HUGE_SHIFT));
	ASSERT_LE(0, *shmid) TH_LOG("shmget of %zu: %s", size, strerror(errno));
	ht_pool_model_move(m, 0, 0, (long)n, 0);
	snprintf(step, sizeof(step), "shmget of %zu bytes (%lu pages)", size,
		 n);
	POOLS_CHECK(m, o, step);
	ASSERT_EQ(0, shmctl(*shmid, IPC_STAT, &ds));
	EXPECT_EQ(size, ds.shm_segsz) TH_LOG("IPC_STAT shm_segsz");
	p = shmat(*shmid, NULL, 0);
	ASSERT_NE((void *)-1, p) TH_LOG("shmat: %s", strerror(errno));
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	EXPECT_EQ(n * ps, v.end - v.start) TH_LOG("the attached VMA's size");
	for (unsigned long i = 0; write && i < n; i++) {
		EXPECT_EQ(0, access_code(p + (i + 1) * ps - 1, true))
		TH_LOG("write at the end of page %lu", i);
		ht_pool_model_move(m, 0, -1, -1, 0);
	}
	POOLS_CHECK(m, o, write ? "a write to every page" : "shmat");
	if (rmid_first) {
		ASSERT_EQ(0, shmctl(*shmid, IPC_RMID, NULL));
		*shmid = -1;
		POOLS_CHECK(m, o, "IPC_RMID while attached (nothing yet)");
	}
	ASSERT_EQ(0, shmdt(p));
	if (!rmid_first) {
		POOLS_CHECK(m, o, "shmdt (the segment keeps its pages)");
		ASSERT_EQ(0, shmctl(*shmid, IPC_RMID, NULL));
		*shmid = -1;
	}
	/* The file's last reference: every page and reserve back. */
	ht_pool_model_move(m, 0, write ? (long)n : 0, write ? 0 : -(long)n, 0);
	POOLS_CHECK(m, o, "the segment's end");
}

TEST_F_TIMEOUT(resv_anon, sysv_shm_unaligned, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model o = { .psize = 0 };

	if (other_size(ps))
		ASSERT_EQ(0, ht_pool_model_init(&o, other_size(ps), -1));
	/* 3 MiB of 2 MiB pages: 2 pages, both written, RMID, then shmdt. */
	shm_unaligned(_metadata, &self->m, &o, &self->shmid, ps + ps / 2, true,
		      true);
	/* 1 MiB: 1 page, never faulted, shmdt then RMID. */
	shm_unaligned(_metadata, &self->m, &o, &self->shmid, ps / 2, false,
		      false);
}

/*
 * ---- vm.hugetlb_shm_group ----
 * hugetlb_file_setup() asks can_do_hugetlb_shm() (capable(CAP_IPC_LOCK)
 * or in_group_p(the sysctl's gid): fsgid or a supplementary group) for
 * HUGETLB_SHMFS_INODE only, i.e. shmget(SHM_HUGETLB): EPERM otherwise
 * (after user_shm_lock(), only for its pr_warn_once; RLIMIT_MEMLOCK 0
 * keeps it quiet).  MAP_HUGETLB and memfd are HUGETLB_ANONHUGE_INODE /
 * hugetlbfs files: never checked.  The same code in 6.1.
 */
#define SHM_GROUP 4242 /* the sysctl's group: nobody's group here */
#define OTHER_GID 4244
#define USER_UID 4243

struct shm_cred {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[1];
	bool drop_ipc_lock; /* uid 0, without CAP_IPC_LOCK */
};

/* A child: the credentials, then shmget and mmap; sends their errnos. */
static int shm_cred_fn(int sock, void *arg)
{
	const struct shm_cred *c = arg;
	struct rlimit rl = { 0, 0 };
	int shm_err = 0, map_err = 0, id;
	void *p;

	if (setrlimit(RLIMIT_MEMLOCK, &rl) ||
	    setgroups(c->ngroups, c->groups) ||
	    setresgid(c->gid, c->gid, c->gid) ||
	    setresuid(c->uid, c->uid, c->uid) ||
	    (c->drop_ipc_lock && ht_drop_cap(CAP_IPC_LOCK)))
		return 3;
	id = shmget(IPC_PRIVATE, ht_pmd_size(), IPC_CREAT | 0600 | SHM_HUGETLB);
	if (id < 0)
		shm_err = errno;
	else if (shmctl(id, IPC_RMID, NULL))
		return 4;
	p = map_anon(ht_pmd_size(), 1, MAP_SHARED);
	if (p == MAP_FAILED)
		map_err = errno;
	else
		munmap(p, ht_pmd_size());
	if (ht_send(sock, shm_err) || ht_send(sock, map_err))
		return 5;
	return 0;
}

static void expect_cred(struct __test_metadata *_metadata,
			struct ht_pool_model *m, const char *who,
			struct shm_cred c, int shm_err)
{
	struct ht_child ch;
	int64_t got_shm = -1, got_map = -1;
	int status;

	ASSERT_EQ(0, ht_spawn(&ch, shm_cred_fn, &c));
	EXPECT_EQ(0, ht_recv(ch.sock, &got_shm, 10000)) TH_LOG("%s", who);
	EXPECT_EQ(0, ht_recv(ch.sock, &got_map, 10000)) TH_LOG("%s", who);
	status = ht_reap(&ch, 10000);
	EXPECT_EQ(0, status) TH_LOG("%s: child's wait status %#x", who, status);
	EXPECT_EQ(shm_err, got_shm)
	TH_LOG("%s: shmget(SHM_HUGETLB) errno %s", who, strerror((int)got_shm));
	EXPECT_EQ(0, got_map)
	TH_LOG("%s: mmap(MAP_HUGETLB|MAP_SHARED) errno %s", who,
	       strerror((int)got_map));
	/* What it reserved went back with its IPC_RMID and munmap. */
	HT_POOL_CHECK(m, who);
}

FIXTURE(resv_shm_group)
{
	struct ht_env env;
	struct ht_pool_model m;
	int shmid;
	char dir[4];
};

FIXTURE_VARIANT(resv_shm_group)
{
	enum ht_level level;
};

/* The check does not depend on the size: 2 MiB, the default one. */
HT_ADD_SIZE_VARIANT_2M(resv_shm_group, huge);

FIXTURE_SETUP(resv_shm_group)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1,
		.caps = { CAP_IPC_LOCK, CAP_SETUID, CAP_SETGID },
		.sysctls = { "vm/hugetlb_shm_group" },
	};

	self->shmid = -1;
	self->dir[0] = '\0';
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_pool_model_init(&self->m, HT_PSIZE(variant), -1));
}

FIXTURE_TEARDOWN_PARENT(resv_shm_group)
{
	resv_cleanup(_metadata, &self->shmid, self->dir);
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(resv_shm_group, group_or_cap_ipc_lock, 300)
{
	struct ht_pool_model *m = &self->m;
	struct shm_cred user = { .uid = USER_UID, .gid = OTHER_GID };
	struct shm_cred root = { .drop_ipc_lock = true };

	ASSERT_EQ(0,
		  ht_write_ulong("/proc/sys/vm/hugetlb_shm_group", SHM_GROUP));
	/* Root, not in the group: CAP_IPC_LOCK is enough. */
	self->shmid = shm_huge(HT_PSIZE(variant), 1, 0);
	ASSERT_LE(0, self->shmid) TH_LOG("shmget as root: %s", strerror(errno));
	ht_pool_model_move(m, 0, 0, 1, 0);
	HT_POOL_CHECK(m, "shmget as root");
	ASSERT_EQ(0, shmctl(self->shmid, IPC_RMID, NULL));
	self->shmid = -1;
	ht_pool_model_move(m, 0, 0, -1, 0);
	HT_POOL_CHECK(m, "IPC_RMID");

	expect_cred(_metadata, m, "uid 0 without CAP_IPC_LOCK", root, EPERM);
	expect_cred(_metadata, m, "a user not in the group", user, EPERM);
	user.gid = SHM_GROUP;
	expect_cred(_metadata, m, "a user whose gid is the group", user, 0);
	user.gid = OTHER_GID;
	user.ngroups = 1;
	user.groups[0] = SHM_GROUP;
	expect_cred(_metadata, m, "a user with the group as supplementary",
		    user, 0);
	/* The default, 0: root's group, which the user is not in. */
	ASSERT_EQ(0, ht_write_ulong("/proc/sys/vm/hugetlb_shm_group", 0));
	expect_cred(_metadata, m, "a user, the sysctl at 0", user, EPERM);
}

/*
 * ---- surplus pages and overcommit ----
 * 2 MiB only: nr_overcommit_hugepages of a gigantic size is EINVAL and
 * alloc_surplus_hugetlb_folio() refuses gigantic pages (6.12); a 1 GiB
 * page freed to shrink the pool may not come back in a 6 GiB VM.
 */
FIXTURE(resv_surplus)
{
	struct ht_env env;
	struct ht_pool_model m;
};

FIXTURE_VARIANT(resv_surplus)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANT_2M(resv_surplus, huge);

FIXTURE_SETUP(resv_surplus)
{
	struct ht_needs needs = { .page_size = HT_PSIZE(variant), .pages = 3 };

	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_pool_model_init(&self->m, HT_PSIZE(variant), -1));
	ASSERT_EQ(0, self->m.want.surplus) TH_LOG("the model starts at 0");
}

FIXTURE_TEARDOWN_PARENT(resv_surplus)
{
	/* The pool snapshot holds nr_overcommit_hugepages too. */
	HT_TEARDOWN(&self->env);
}

static void set_overcommit(struct __test_metadata *_metadata,
			   struct ht_pool_model *m, unsigned long k)
{
	ASSERT_EQ(0, ht_pool_set_overcommit(m->psize, k));
	m->want.overcommit = k;
	HT_POOL_CHECK(m, "setting nr_overcommit_hugepages");
}

TEST_F_TIMEOUT(resv_surplus, overcommit_surplus_at_mmap, 300)
{
	unsigned long ps = HT_PSIZE(variant), n = avail(&self->m);
	struct ht_pool_model *m = &self->m;
	char *p;

	set_overcommit(_metadata, m, 2);
	/* gather_surplus_pages gets 2 of 3, frees them, -ENOMEM. */
	p = map_anon(ps, n + 3, MAP_PRIVATE);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENOMEM, errno);
	HT_POOL_CHECK(m, "mmap of Free - Rsvd + 3 pages with overcommit 2");
	p = map_anon(ps, n + 2, MAP_PRIVATE);
	ASSERT_NE(MAP_FAILED, p);
	ht_pool_model_move(m, 2, 2, n + 2, 2);
	HT_POOL_CHECK(m, "mmap of Free - Rsvd + 2 pages");
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, -1, 0);
	HT_POOL_CHECK(m, "write fault of page 0");
	/*
	 * The page goes back (free_huge_folio drops it from the pool if
	 * its node has surplus), then return_unused_surplus_pages() drops
	 * the rest of the surplus with the n + 1 unused reserves.
	 */
	munmap(p, (n + 2) * ps);
	ht_pool_model_move(m, -2, -1, -(long)(n + 1), -2);
	HT_POOL_CHECK(m, "munmap");
}

TEST_F_TIMEOUT(resv_surplus, noreserve_fault_allocates_surplus, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	struct hog hog;
	char *p;

	hog_start(_metadata, m, &hog);
	p = map_anon(ps, 2, MAP_PRIVATE | MAP_NORESERVE);
	ASSERT_NE(MAP_FAILED, p);
	HT_POOL_CHECK(m, "mmap MAP_NORESERVE of 2 pages");
	EXPECT_EQ(BUS_ADRERR, access_code(p, true));
	HT_POOL_CHECK(m, "fault with no page and no overcommit");
	set_overcommit(_metadata, m, 1);
	/* alloc_buddy_hugetlb_folio_with_mpol: a surplus page, in use. */
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 1, 0, 0, 1);
	HT_POOL_CHECK(m, "fault with overcommit 1");
	EXPECT_EQ(BUS_ADRERR, access_code(p + ps, true));
	HT_POOL_CHECK(m, "second fault (surplus == overcommit)");
	munmap(p, 2 * ps);
	ht_pool_model_move(m, -1, 0, 0, -1);
	HT_POOL_CHECK(m, "munmap (the surplus page leaves the pool)");
	hog_stop(_metadata, m, &hog);
}

/*
 * set_max_huge_pages() below what is in use: free pages beyond the
 * reserves are freed (min_count = Rsvd + in use), the rest turns
 * surplus, and each surplus page leaves the pool when it is freed.
 */
TEST_F_TIMEOUT(resv_surplus, shrink_pool_below_in_use, 300)
{
	unsigned long ps = HT_PSIZE(variant), used, resv;
	struct ht_pool_model *m = &self->m;
	char *p = map_anon(ps, 3, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	ht_pool_model_move(m, 0, 0, 3, 0);
	EXPECT_EQ(0, access_code(p, true));
	EXPECT_EQ(0, access_code(p + ps, true));
	ht_pool_model_move(m, 0, -2, -2, 0);
	HT_POOL_CHECK(m, "mmap MAP_PRIVATE of 3 pages + write of 2");
	used = m->want.nr - m->want.free;
	resv = m->want.resv;
	ASSERT_EQ(0, ht_pool_set_nr(ps, -1, 0));
	m->want.nr = resv + used;
	m->want.free = resv;
	m->want.surplus = resv + used;
	HT_POOL_CHECK(m, "nr_hugepages = 0");
	/*
	 * The 2 written pages leave as they are freed; hugetlb_vm_op_close
	 * returns the third page's reserve and return_unused_surplus_pages
	 * frees the surplus page that backed it.
	 */
	munmap(p, 3 * ps);
	ht_pool_model_move(m, -3, -1, -1, -3);
	HT_POOL_CHECK(m, "munmap");
}

/*
 * Per node: shrinking one node's pool below its use.  With nid set,
 * set_max_huge_pages() aims the global count at the other nodes' pages
 * plus @count, frees that node's free pages and turns its used one
 * surplus; the other node is untouched.
 */
FIXTURE(resv_node)
{
	struct ht_env env;
	struct ht_pool_model m, mn[2];
};

FIXTURE_VARIANT(resv_node)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANT_2M(resv_node, huge);

FIXTURE_SETUP(resv_node)
{
	struct ht_needs needs = { .page_size = HT_PSIZE(variant),
				  .nodes = 2,
				  .pages_per_node = 2 };

	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_pool_model_init(&self->m, HT_PSIZE(variant), -1));
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, ht_pool_model_init(&self->mn[i], HT_PSIZE(variant),
						self->env.nodes[i]));
	ASSERT_EQ(0, self->m.want.surplus) TH_LOG("the model starts at 0");
}

FIXTURE_TEARDOWN_PARENT(resv_node)
{
	HT_TEARDOWN(&self->env);
}

static void check_nodes(struct __test_metadata *_metadata,
			FIXTURE_DATA(resv_node) * self, const char *step)
{
	HT_POOL_CHECK(&self->m, step);
	HT_POOL_CHECK(&self->mn[0], step);
	HT_POOL_CHECK(&self->mn[1], step);
}

TEST_F_TIMEOUT(resv_node, node_shrink_below_in_use, 300)
{
	unsigned long ps = HT_PSIZE(variant), mask;
	int n1 = self->env.nodes[1];
	struct ht_pool_model *m = &self->m, *m1 = &self->mn[1];
	char *p = map_anon(ps, 1, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_LT(n1, 64);
	mask = 1UL << n1;
	ASSERT_EQ(0, mbind(p, ps, MPOL_BIND, &mask, 64, 0));
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, 0,
			   0); /* reserved at mmap, consumed on node 1 */
	ht_pool_model_move(m1, 0, -1, 0, 0);
	EXPECT_EQ(n1, ht_page_node(0, p));
	check_nodes(_metadata, self, "write fault bound to node 1");
	ASSERT_EQ(0, m->want.resv) TH_LOG("min_count assumes no reserves");

	ASSERT_EQ(0, ht_pool_set_nr(ps, n1, 0));
	/* min_count = other nodes' pages: node 1 keeps its used page only. */
	ht_pool_model_move(m, -(long)m1->want.free, -(long)m1->want.free, 0, 1);
	m1->want.nr -= m1->want.free;
	m1->want.free = 0;
	m1->want.surplus = 1;
	check_nodes(_metadata, self, "node 1 nr_hugepages = 0");
	munmap(p, ps);
	ht_pool_model_move(m, -1, 0, 0, -1);
	ht_pool_model_move(m1, -1, 0, 0, -1);
	check_nodes(_metadata, self, "munmap (the surplus page leaves)");
}

/* ---- hugetlbfs mounts: size=, min_size=, nr_inodes= ---- */
RESV_FIXTURE(resv_mount, 2)
HT_ADD_SIZE_VARIANTS(resv_mount, huge);

static void mount_fs(struct __test_metadata *_metadata, char *dir,
		     unsigned long psize, const char *opts)
{
	char data[160];

	strcpy(dir, "/tmp/ht-reserve.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(data, sizeof(data), "pagesize=%lu%s", psize, opts);
	if (mount("none", dir, "hugetlbfs", 0, data)) {
		int err = errno;

		rmdir(dir);
		dir[0] = '\0';
		ASSERT_EQ(0, err)
		TH_LOG("mount -o %s: %s", data, strerror(err));
	}
}

static int fs_file(const char *dir, const char *name, unsigned long len)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -errno;
	if (len && ftruncate(fd, (off_t)len)) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int truncate_path(const char *dir, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return truncate(path, 0) ? -errno : 0;
}

/* statfs: f_blocks = max_hpages, f_bfree = max - used, inode counts. */
static void expect_statfs(struct __test_metadata *_metadata, const char *dir,
			  long blocks, long bfree, long files, long ffree)
{
	struct statfs s;

	ASSERT_EQ(0, statfs(dir, &s));
	EXPECT_EQ(blocks, (long)s.f_blocks);
	EXPECT_EQ(bfree, (long)s.f_bfree);
	EXPECT_EQ(bfree, (long)s.f_bavail);
	EXPECT_EQ(files, (long)s.f_files);
	EXPECT_EQ(ffree, (long)s.f_ffree);
}

TEST_F_TIMEOUT(resv_mount, size_limit, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	char opts[64], *p;
	int fd;

	snprintf(opts, sizeof(opts), ",size=%lu,nr_inodes=4", 2 * ps);
	mount_fs(_metadata, self->dir, ps, opts);
	HT_POOL_CHECK(m, "mount size=2 pages (no min_size: no reserve)");
	fd = fs_file(self->dir, "f", 3 * ps);
	ASSERT_LE(0, fd);
	expect_statfs(_metadata, self->dir, 2, 2, 4, 2);
	/* hugepage_subpool_get_pages: used 0 + 3 > max 2 -> -ENOMEM. */
	p = mmap(NULL, 3 * ps, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENOMEM, errno);
	HT_POOL_CHECK(m, "mmap of 3 pages");
	p = mmap(NULL, 2 * ps, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ht_pool_model_move(m, 0, 0, 2, 0);
	HT_POOL_CHECK(m, "mmap of 2 pages");
	expect_statfs(_metadata, self->dir, 2, 0, 4, 2);
	munmap(p, 2 * ps);
	ASSERT_EQ(0, ftruncate(fd, 0));
	ht_pool_model_move(m, 0, 0, -2, 0);
	HT_POOL_CHECK(m, "munmap + ftruncate 0");
	expect_statfs(_metadata, self->dir, 2, 2, 4, 2);

	/* NORESERVE: each fault takes a subpool page; the third finds none. */
	ASSERT_EQ(0, ftruncate(fd, 3 * ps));
	p = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	HT_POOL_CHECK(m, "mmap MAP_NORESERVE of 3 pages");
	EXPECT_EQ(0, access_code(p, true));
	EXPECT_EQ(0, access_code(p + ps, true));
	ht_pool_model_move(m, 0, -2, 0, 0);
	HT_POOL_CHECK(m, "faults of pages 0 and 1");
	EXPECT_EQ(BUS_ADRERR, access_code(p + 2 * ps, true));
	HT_POOL_CHECK(m, "fault of page 2 beyond size=");
	expect_statfs(_metadata, self->dir, 2, 0, 4, 2);
	EXPECT_EQ(2, file_pages(fd, ps));
	munmap(p, 3 * ps);
	/*
	 * The file stays (linked) with its pages until truncated: each
	 * freed page puts 1 to the subpool; region_del 2 - freed 2 = 0.
	 */
	close(fd);
	HT_POOL_CHECK(m, "munmap + close (a linked file keeps its pages)");
	expect_statfs(_metadata, self->dir, 2, 0, 4, 2);
	ASSERT_EQ(0, truncate_path(self->dir, "f"));
	ht_pool_model_move(m, 0, 2, 0, 0);
	HT_POOL_CHECK(m, "truncate to 0");
	expect_statfs(_metadata, self->dir, 2, 2, 4, 2);
}

/*
 * min_size: the subpool reserves min pages at mount; a file's reservation
 * is taken from those first (get_pages returns fewer), and pages that go
 * back refill them (put_pages returns fewer) until umount drops them.
 */
TEST_F_TIMEOUT(resv_mount, min_size_reserve, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	char opts[64], *p, *q;
	int fd;

	snprintf(opts, sizeof(opts), ",min_size=%lu", ps);
	mount_fs(_metadata, self->dir, ps, opts);
	ht_pool_model_move(m, 0, 0, 1,
			   0); /* hugepage_new_subpool: acct(min = 1) */
	HT_POOL_CHECK(m, "mount min_size=1 page");
	fd = fs_file(self->dir, "f", 2 * ps);
	ASSERT_LE(0, fd);
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	HT_POOL_CHECK(m, "mmap of page 0 (rsv_hpages 1 -> 0, returns 0)");
	q = mmap(NULL, 2 * ps, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	ht_pool_model_move(m, 0, 0, 1, 0);
	HT_POOL_CHECK(m, "mmap of pages 0-1 (chg 1, rsv_hpages 0)");
	EXPECT_EQ(0, access_code(p, true));
	ht_pool_model_move(m, 0, -1, -1, 0);
	HT_POOL_CHECK(m, "write fault of page 0");
	munmap(p, ps);
	munmap(q, 2 * ps);
	HT_POOL_CHECK(m, "munmap");
	/*
	 * The page: put_pages(1) -> 0, so free_huge_folio restores its
	 * reserve (Rsvd + 1, rsv_hpages 1); hugetlb_unreserve_pages: chg 2 -
	 * freed 1 = 1, put_pages(1) -> 1 beyond min: Rsvd - 1.
	 */
	ASSERT_EQ(0, ftruncate(fd, 0));
	ht_pool_model_move(m, 0, 1, 0, 0);
	HT_POOL_CHECK(m, "ftruncate 0");
	close(fd);
	HT_POOL_CHECK(m, "close");
	ASSERT_EQ(0, umount(self->dir));
	rmdir(self->dir);
	self->dir[0] = '\0';
	ht_pool_model_move(m, 0, 0, -1, 0);
	HT_POOL_CHECK(m, "umount (the subpool's min reserve goes)");
}

TEST_F_TIMEOUT(resv_mount, nr_inodes_limit, 300)
{
	unsigned long ps = HT_PSIZE(variant);
	struct ht_pool_model *m = &self->m;
	char opts[64], path[128];
	int a, b, c;

	/* hugetlbfs_alloc_inode counts every inode, the root's too. */
	snprintf(opts, sizeof(opts), ",size=%lu,nr_inodes=3", ps);
	mount_fs(_metadata, self->dir, ps, opts);
	expect_statfs(_metadata, self->dir, 1, 1, 3, 2);
	a = fs_file(self->dir, "a", ps);
	ASSERT_LE(0, a);
	b = fs_file(self->dir, "b", 0);
	ASSERT_LE(0, b);
	expect_statfs(_metadata, self->dir, 1, 1, 3, 0);
	/* hugetlbfs_get_inode: hugetlbfs_dec_free_inodes fails -> ENOSPC. */
	EXPECT_EQ(-ENOSPC, fs_file(self->dir, "c", 0));
	snprintf(path, sizeof(path), "%s/d", self->dir);
	EXPECT_EQ(-1, mkdir(path, 0700));
	EXPECT_EQ(ENOSPC, errno);
	HT_POOL_CHECK(m, "creating 2 files, refused third");
	snprintf(path, sizeof(path), "%s/a", self->dir);
	ASSERT_EQ(0, unlink(path));
	expect_statfs(_metadata, self->dir, 1, 1, 3, 0);
	close(a); /* the inode goes with its last reference */
	expect_statfs(_metadata, self->dir, 1, 1, 3, 1);
	c = fs_file(self->dir, "c", 0);
	EXPECT_LE(0, c);
	expect_statfs(_metadata, self->dir, 1, 1, 3, 0);
	close(b);
	close(c);
	HT_POOL_CHECK(m, "files closed");
}

HT_MAIN
