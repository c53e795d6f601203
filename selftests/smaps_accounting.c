// SPDX-License-Identifier: GPL-2.0
/*
 * Topic 1: how a huge page is accounted in every /proc view, for each
 * way it can be mapped.  Shared scenarios run at both granularities
 * (huge, and HGM: MADV_SPLIT + 4 KiB UFFDIO_CONTINUE) and must give the
 * same observations: the HGM review's objection (i) was exactly that a
 * page mapped at 4 KiB by one process read as shared.
 *
 * The model, for a MAP_SHARED page (6.12: smaps_hugetlb_range,
 * pagemap_hugetlb_range, gather_hugetlb_stats):
 *   mapped by one mapping       -> Private_Hugetlb, PM_MMAP_EXCLUSIVE,
 *                                  kpagecount 1
 *   mapped by two mappings      -> Shared_Hugetlb in both, no exclusive
 *   (two processes or two VMAs)    bit, kpagecount 2, numa_maps mapmax=2
 *   fork of a shared VMA        -> page tables are not copied (no
 *                                  anon_vma): the child maps nothing
 *                                  until it touches the page.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht_harness.h"

#define SEED 0x5a5a0001

FIXTURE(smaps_shared)
{
	struct ht_env env;
	struct ht_file file;
	unsigned long free0; /* free pages with the file's page cached */
	int node; /* where the page is */
};

FIXTURE_VARIANT(smaps_shared)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS(smaps_shared);

FIXTURE_SETUP(smaps_shared)
{
	struct ht_needs needs = {
		.page_size = variant->psize,
		.pages = 2,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};
	void *p;

	self->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0,
		  ht_file_create(&self->file, variant->psize, variant->psize));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, variant->psize, SEED));
	self->free0 = ht_free_pages(_metadata, variant->psize, -1);
	/* The node of the cached page, through a short-lived mapping. */
	p = mmap(NULL, variant->psize, PROT_READ, MAP_SHARED, self->file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	(void)*(volatile char *)p;
	self->node = ht_page_node(0, p);
	munmap(p, variant->psize);
	ASSERT_GE(self->node, 0);
}

FIXTURE_TEARDOWN_PARENT(smaps_shared)
{
	/* The file lives in the test's process; its exit closed it. */
	HT_TEARDOWN(&self->env);
}

static struct ht_expect shared_expect(unsigned long psize, int node,
				      unsigned long mappers, bool shared,
				      unsigned long vmas_in_proc)
{
	return (struct ht_expect){
		.mapped = true,
		.shared = shared,
		.mapcount = mappers,
		.hugetlb_kb = vmas_in_proc * psize / HT_KB,
		.node = node,
	};
}

static const struct ht_expect unmapped = { .node = -1 };

/* After the last mapper is gone: mapcount 0, pool as after the fill. */
static void expect_all_unmapped(struct __test_metadata *_metadata,
				FIXTURE_DATA(smaps_shared) * self,
				unsigned long psize, uint64_t pfn)
{
	uint64_t count = ~0ULL;

	ASSERT_EQ(0, ht_kpagecount_read(pfn, &count));
	EXPECT_EQ(0, count) TH_LOG("kpagecount after every mapper left");
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1));
}

TEST_F_TIMEOUT(smaps_shared, one_process, 300)
{
	struct ht_holder h = { .file = &self->file,
			       .len = variant->psize,
			       .gran = variant->gran };
	unsigned long psize = variant->psize, addr;
	struct ht_expect e = shared_expect(psize, self->node, 1, false, 1);
	struct ht_smaps_vma roll;
	struct ht_child a;
	uint64_t pfn;

	ht_start_holder(_metadata, &a, &h, &addr);
	ht_expect_page(_metadata, "mapper", a.pid, addr, psize, &e);
	ASSERT_EQ(0, ht_smaps_rollup_read(a.pid, &roll));
	EXPECT_EQ(psize / HT_KB, roll.val[HT_SMAPS_PRIVATE_HUGETLB]);
	EXPECT_EQ(0, roll.val[HT_SMAPS_SHARED_HUGETLB]);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1))
	TH_LOG("mapping a cached page must not allocate");
	pfn = ht_pfn_of(_metadata, a.pid, addr);
	ht_stop_holder(_metadata, &a);
	expect_all_unmapped(_metadata, self, psize, pfn);
}

/* The child inherits the VMA but not its page tables. */
TEST_F_TIMEOUT(smaps_shared, fork_child_untouched_then_touched, 300)
{
	unsigned long psize = variant->psize, addr;
	struct ht_expect one = shared_expect(psize, self->node, 1, false, 1);
	struct ht_expect two = shared_expect(psize, self->node, 2, true, 1);
	struct ht_holder h = { .file = &self->file, .len = psize };
	struct ht_child c;
	int64_t r;
	void *p;
	int uffd;

	p = ht_map_populated(&self->file, 0, psize, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	addr = (unsigned long)p;
	h.inherit = p;
	ht_start_holder(_metadata, &c, &h, &(unsigned long){ 0 });
	ht_expect_page(_metadata, "parent", 0, addr, psize, &one);
	ht_expect_page(_metadata, "untouched child", c.pid, addr, psize,
		       &unmapped);
	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_READ, &r));
	ASSERT_EQ(0, r) TH_LOG("child's touch raised SIGBUS code %ld", (long)r);
	ht_expect_page(_metadata, "parent", 0, addr, psize, &two);
	ht_expect_page(_metadata, "touched child", c.pid, addr, psize, &two);
	ASSERT_EQ(0, ht_holder_check(&c, SEED, &r));
	EXPECT_EQ(-1, r) TH_LOG("child sees wrong contents at %ld", (long)r);
	ht_stop_holder(_metadata, &c);
	ht_expect_page(_metadata, "parent after child exit", 0, addr, psize,
		       &one);
	munmap(p, psize);
	if (uffd >= 0)
		close(uffd);
}

TEST_F_TIMEOUT(smaps_shared, two_processes, 300)
{
	struct ht_holder h = { .file = &self->file,
			       .len = variant->psize,
			       .gran = variant->gran };
	unsigned long psize = variant->psize, addr_a, addr_b;
	struct ht_expect two = shared_expect(psize, self->node, 2, true, 1);
	struct ht_expect one = shared_expect(psize, self->node, 1, false, 1);
	struct ht_smaps_vma roll;
	struct ht_child a, b;
	uint64_t pfn;

	ht_start_holder(_metadata, &a, &h, &addr_a);
	ht_start_holder(_metadata, &b, &h, &addr_b);
	ht_expect_page(_metadata, "A", a.pid, addr_a, psize, &two);
	ht_expect_page(_metadata, "B", b.pid, addr_b, psize, &two);
	EXPECT_EQ(ht_pfn_of(_metadata, a.pid, addr_a),
		  ht_pfn_of(_metadata, b.pid, addr_b));
	ASSERT_EQ(0, ht_smaps_rollup_read(b.pid, &roll));
	EXPECT_EQ(psize / HT_KB, roll.val[HT_SMAPS_SHARED_HUGETLB]);
	EXPECT_EQ(0, roll.val[HT_SMAPS_PRIVATE_HUGETLB]);
	ht_stop_holder(_metadata, &b);
	/* The survivor is the only mapper again: private once more. */
	ht_expect_page(_metadata, "A after B exit", a.pid, addr_a, psize, &one);
	pfn = ht_pfn_of(_metadata, a.pid, addr_a);
	ht_stop_holder(_metadata, &a);
	expect_all_unmapped(_metadata, self, psize, pfn);
}

/* Two VMAs of one process count as two mappings: shared (6.12 rmap.h). */
TEST_F_TIMEOUT(smaps_shared, two_vmas_one_process, 300)
{
	struct ht_holder h = { .file = &self->file,
			       .len = variant->psize,
			       .gran = variant->gran,
			       .nmaps = 2 };
	unsigned long psize = variant->psize, addr;
	struct ht_expect two = shared_expect(psize, self->node, 2, true, 2);
	struct ht_smaps_vma roll;
	unsigned long kb = ~0UL;
	struct ht_child a;
	uint64_t pfn;
	int64_t r;

	ht_start_holder(_metadata, &a, &h, &addr);
	ht_expect_page(_metadata, "first VMA", a.pid, addr, psize, &two);
	ASSERT_EQ(0, ht_smaps_rollup_read(a.pid, &roll));
	EXPECT_EQ(2 * psize / HT_KB, roll.val[HT_SMAPS_SHARED_HUGETLB]);
	EXPECT_EQ(0, roll.val[HT_SMAPS_PRIVATE_HUGETLB]);
	pfn = ht_pfn_of(_metadata, a.pid, addr);
	ASSERT_EQ(0, ht_holder_cmd(&a, HT_CMD_UNMAP, &r));
	ASSERT_EQ(0, ht_status_read(a.pid, "HugetlbPages", &kb));
	EXPECT_EQ(0, kb) TH_LOG("HugetlbPages after munmap of both VMAs");
	expect_all_unmapped(_metadata, self, psize, pfn);
	ht_stop_holder(_metadata, &a);
}

/*
 * MAP_PRIVATE: the written page is an anonymous copy.  Not HGM-eligible
 * (MADV_SPLIT needs VM_MAYSHARE), so only the huge variants exist.
 */
FIXTURE(smaps_private)
{
	struct ht_env env;
};

FIXTURE_VARIANT(smaps_private)
{
	unsigned long psize;
};

HT_ADD_SIZE_VARIANTS(smaps_private, huge);

FIXTURE_SETUP(smaps_private)
{
	struct ht_needs needs = {
		.page_size = variant->psize,
		.pages = 2, /* the parent's page and the child's COW copy */
		.caps = { CAP_SYS_ADMIN },
	};

	HT_SETUP_OR_SKIP(&needs, &self->env);
}

FIXTURE_TEARDOWN_PARENT(smaps_private)
{
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(smaps_private, written_fork_cow, 300)
{
	unsigned long psize = variant->psize, free0;
	int shift = ht_size_shift(psize);
	struct ht_expect own = { .mapped = true,
				 .anon = true,
				 .mapcount = 1,
				 .hugetlb_kb = psize / HT_KB,
				 .node = -1 };
	struct ht_expect both = own;
	struct ht_holder h = { .len = psize };
	struct ht_file none = { .fd = -1, .psize = psize };
	uint64_t pfn_parent, pfn_child;
	unsigned long addr;
	struct ht_child c;
	int64_t r;
	char *p;

	both.shared = true;
	both.mapcount = 2;
	free0 = ht_free_pages(_metadata, psize, -1);
	p = mmap(NULL, psize, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
			 (shift << MAP_HUGE_SHIFT),
		 -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	addr = (unsigned long)p;
	ht_pattern_fill(p, psize, 0, SEED);
	ht_expect_page(_metadata, "written", 0, addr, psize, &own);
	EXPECT_EQ(free0 - 1, ht_free_pages(_metadata, psize, -1));

	/* fork copies the page tables of a VMA with an anon_vma. */
	h.file = &none;
	h.inherit = p;
	ht_start_holder(_metadata, &c, &h, &(unsigned long){ 0 });
	ht_expect_page(_metadata, "parent after fork", 0, addr, psize, &both);
	ht_expect_page(_metadata, "child after fork", c.pid, addr, psize,
		       &both);

	/* The child's write breaks COW: two private pages. */
	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_WRITE, &r));
	ASSERT_EQ(0, r) TH_LOG("child's COW raised SIGBUS code %ld", (long)r);
	ht_expect_page(_metadata, "parent after COW", 0, addr, psize, &own);
	ht_expect_page(_metadata, "child after COW", c.pid, addr, psize, &own);
	pfn_parent = ht_pfn_of(_metadata, 0, addr);
	pfn_child = ht_pfn_of(_metadata, c.pid, addr);
	EXPECT_NE(pfn_parent, pfn_child);
	EXPECT_EQ(free0 - 2, ht_free_pages(_metadata, psize, -1));
	EXPECT_EQ(-1, ht_pattern_check(p, psize, 0, SEED));
	ht_stop_holder(_metadata, &c);
	/* The child's copy went back to the pool when it exited. */
	EXPECT_EQ(free0 - 1, ht_free_pages(_metadata, psize, -1));
	munmap(p, psize);
	EXPECT_EQ(free0, ht_free_pages(_metadata, psize, -1));
}

/*
 * PMD sharing: MAP_SHARED 2 MiB pages in 1 GiB-aligned ranges of two
 * processes share the PMD table.  The second process maps through the
 * first one's table, so mapcount stays 1, yet smaps and pagemap must
 * call it shared in both (6.12 hugetlb_pmd_shared()), and only the
 * process that installed the entry counts it in HugetlbPages.
 */
static int pmd_share_child(int sock, void *arg)
{
	struct ht_file *f = arg;
	char *p;
	int64_t v;

	p = ht_mmap_aligned(HT_GB, HT_GB, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_NORESERVE, f->fd, 0);
	if (p == MAP_FAILED)
		return ht_send(sock, -errno), 1;
	(void)*(volatile char *)p;
	ht_send(sock, (int64_t)(unsigned long)p);
	ht_recv(sock, &v, -1);
	return 0;
}

FIXTURE(pmd_share)
{
	struct ht_env env;
	struct ht_file file;
};

FIXTURE_VARIANT(pmd_share)
{
	unsigned long psize;
};

/* 2 MiB only: PMD tables hold 2 MiB entries (see above). */
HT_ADD_SIZE_VARIANT_2M(pmd_share, huge);

FIXTURE_SETUP(pmd_share)
{
	struct ht_needs needs = {
		.page_size = variant->psize,
		.pages = 2,
		.caps = { CAP_SYS_ADMIN },
	};

	self->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_file_create(&self->file, variant->psize, HT_GB));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, variant->psize, SEED));
}

FIXTURE_TEARDOWN_PARENT(pmd_share)
{
	/* The file lives in the test's process; its exit closed it. */
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(pmd_share, two_processes, 120)
{
	unsigned long psize = variant->psize;
	struct ht_expect shared_installer = {
		.mapped = true,
		.shared = true,
		.mapcount = 1,
		.hugetlb_kb = psize / HT_KB,
		.node = -1,
	};
	struct ht_expect shared_sharer = shared_installer;
	struct ht_child a, b;
	int64_t addr_a, addr_b;

	shared_sharer.hugetlb_kb = 0;
	/*
	 * Before 6.12 (measured: Debian 6.1) pagemap_hugetlb_range sets
	 * PM_MMAP_EXCLUSIVE from page_mapcount() == 1 alone, so both PMD
	 * sharers read exclusive; 6.12 also asks hugetlb_pmd_shared().
	 * smaps asks hugetlb_pmd_shared() on both.
	 */
	if (ht_kernel_before(6, 12))
		shared_installer.pm_exclusive = shared_sharer.pm_exclusive = 1;
	ASSERT_EQ(0, ht_spawn(&a, pmd_share_child, &self->file));
	ASSERT_EQ(0, ht_recv(a.sock, &addr_a, 60000));
	ASSERT_GT(addr_a, 0);
	ASSERT_EQ(0, ht_spawn(&b, pmd_share_child, &self->file));
	ASSERT_EQ(0, ht_recv(b.sock, &addr_b, 60000));
	ASSERT_GT(addr_b, 0);
	ht_expect_page(_metadata, "installer", a.pid, addr_a, psize,
		       &shared_installer);
	ht_expect_page(_metadata, "sharer", b.pid, addr_b, psize,
		       &shared_sharer);
	ht_send(a.sock, 0);
	ht_send(b.sock, 0);
	EXPECT_EQ(0, ht_reap(&a, 10000));
	EXPECT_EQ(0, ht_reap(&b, 10000));
}

HT_MAIN
