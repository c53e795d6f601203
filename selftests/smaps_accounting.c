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
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};
	void *p;

	self->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_file_create(&self->file, HT_PSIZE(variant),
				    HT_PSIZE(variant)));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, HT_PSIZE(variant), SEED));
	self->free0 = ht_free_pages(_metadata, HT_PSIZE(variant), -1);
	/* The node of the cached page, through a short-lived mapping. */
	p = mmap(NULL, HT_PSIZE(variant), PROT_READ, MAP_SHARED, self->file.fd,
		 0);
	ASSERT_NE(MAP_FAILED, p);
	(void)*(volatile char *)p;
	self->node = ht_page_node(0, p);
	munmap(p, HT_PSIZE(variant));
	ASSERT_GE(self->node, 0);
}

FIXTURE_TEARDOWN_PARENT(smaps_shared)
{
	/* The file lives in the test's process; its exit closed it. */
	HT_TEARDOWN(&self->env);
}

/* After the last mapper is gone: mapcount 0, pool as after the fill. */
static void expect_all_unmapped(struct __test_metadata *_metadata,
				FIXTURE_DATA(smaps_shared) * self,
				const struct ht_page_model *pm, uint64_t pfn)
{
	ht_model_check_count(_metadata, "after every mapper left", pm, pfn);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, pm->psize, -1));
}

TEST_F_TIMEOUT(smaps_shared, one_process, 300)
{
	struct ht_holder h = { .file = &self->file,
			       .len = HT_PSIZE(variant),
			       .gran = variant->gran };
	unsigned long psize = HT_PSIZE(variant), addr;
	struct ht_page_model pm;
	struct ht_child a;
	uint64_t pfn;

	ht_model_init(&pm, psize, self->node);
	ht_start_holder(_metadata, &a, &h, &addr);
	ht_model_map(&pm, a.pid, 1);
	ht_model_check(_metadata, "mapper", &pm, a.pid, addr);
	ht_model_check_rollup(_metadata, "mapper", &pm, a.pid);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1))
	TH_LOG("mapping a cached page must not allocate");
	pfn = ht_pfn_of(_metadata, a.pid, addr);
	/* Before the reap, which forgets the pid. */
	ht_model_unmap(&pm, a.pid);
	ht_stop_holder(_metadata, &a);
	expect_all_unmapped(_metadata, self, &pm, pfn);
}

/* The child inherits the VMA but not its page tables. */
TEST_F_TIMEOUT(smaps_shared, fork_child_untouched_then_touched, 300)
{
	unsigned long psize = HT_PSIZE(variant), addr;
	struct ht_holder h = { .file = &self->file, .len = psize };
	struct ht_page_model pm;
	struct ht_child c;
	int64_t r;
	void *p;
	int uffd;

	ht_model_init(&pm, psize, self->node);
	p = ht_map_populated(&self->file, 0, psize, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	addr = (unsigned long)p;
	ht_model_map(&pm, 0, 1);
	h.inherit = p;
	ht_start_holder(_metadata, &c, &h, &(unsigned long){ 0 });
	ht_model_check(_metadata, "parent", &pm, 0, addr);
	ht_model_check(_metadata, "untouched child", &pm, c.pid, addr);
	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_READ, &r));
	ASSERT_EQ(0, r) TH_LOG("child's touch raised SIGBUS code %ld", (long)r);
	ht_model_map(&pm, c.pid, 1);
	ht_model_check(_metadata, "parent", &pm, 0, addr);
	ht_model_check(_metadata, "touched child", &pm, c.pid, addr);
	ASSERT_EQ(0, ht_holder_check(&c, SEED, &r));
	EXPECT_EQ(-1, r) TH_LOG("child sees wrong contents at %ld", (long)r);
	/* Before the reap, which forgets the pid. */
	ht_model_unmap(&pm, c.pid);
	ht_stop_holder(_metadata, &c);
	ht_model_check(_metadata, "parent after child exit", &pm, 0, addr);
	munmap(p, psize);
	if (uffd >= 0)
		close(uffd);
}

TEST_F_TIMEOUT(smaps_shared, two_processes, 300)
{
	struct ht_holder h = { .file = &self->file,
			       .len = HT_PSIZE(variant),
			       .gran = variant->gran };
	unsigned long psize = HT_PSIZE(variant), addr_a, addr_b;
	struct ht_page_model pm;
	struct ht_child a, b;
	uint64_t pfn;

	ht_model_init(&pm, psize, self->node);
	ht_start_holder(_metadata, &a, &h, &addr_a);
	ht_model_map(&pm, a.pid, 1);
	ht_start_holder(_metadata, &b, &h, &addr_b);
	ht_model_map(&pm, b.pid, 1);
	ht_model_check(_metadata, "A", &pm, a.pid, addr_a);
	ht_model_check(_metadata, "B", &pm, b.pid, addr_b);
	EXPECT_EQ(ht_pfn_of(_metadata, a.pid, addr_a),
		  ht_pfn_of(_metadata, b.pid, addr_b));
	ht_model_check_rollup(_metadata, "B", &pm, b.pid);
	/* Before the reap, which forgets the pid. */
	ht_model_unmap(&pm, b.pid);
	ht_stop_holder(_metadata, &b);
	/* The survivor is the only mapper again: private once more. */
	ht_model_check(_metadata, "A after B exit", &pm, a.pid, addr_a);
	pfn = ht_pfn_of(_metadata, a.pid, addr_a);
	/* Before the reap, which forgets the pid. */
	ht_model_unmap(&pm, a.pid);
	ht_stop_holder(_metadata, &a);
	expect_all_unmapped(_metadata, self, &pm, pfn);
}

/* Two VMAs of one process count as two mappings: shared (6.12 rmap.h). */
TEST_F_TIMEOUT(smaps_shared, two_vmas_one_process, 300)
{
	struct ht_holder h = { .file = &self->file,
			       .len = HT_PSIZE(variant),
			       .gran = variant->gran,
			       .nmaps = 2 };
	unsigned long psize = HT_PSIZE(variant), addr;
	struct ht_page_model pm;
	unsigned long kb = ~0UL;
	struct ht_child a;
	uint64_t pfn;
	int64_t r;

	ht_model_init(&pm, psize, self->node);
	ht_start_holder(_metadata, &a, &h, &addr);
	ht_model_map(&pm, a.pid, 2);
	ht_model_check(_metadata, "first VMA", &pm, a.pid, addr);
	ht_model_check_rollup(_metadata, "both VMAs", &pm, a.pid);
	pfn = ht_pfn_of(_metadata, a.pid, addr);
	ASSERT_EQ(0, ht_holder_cmd(&a, HT_CMD_UNMAP, &r));
	ht_model_unmap(&pm, a.pid);
	ASSERT_EQ(0, ht_status_read(a.pid, "HugetlbPages", &kb));
	EXPECT_EQ(ht_model_view(&pm, a.pid).hugetlb_kb, kb)
	TH_LOG("HugetlbPages after munmap of both VMAs");
	expect_all_unmapped(_metadata, self, &pm, pfn);
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
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(smaps_private, huge);

FIXTURE_SETUP(smaps_private)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
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
	unsigned long psize = HT_PSIZE(variant), free0;
	int shift = ht_size_shift(psize);
	struct ht_page_model parent, copy; /* the page, the child's copy */
	struct ht_holder h = { .len = psize };
	struct ht_file none = { .fd = -1, .psize = psize };
	uint64_t pfn_parent, pfn_child;
	unsigned long addr;
	struct ht_child c;
	int64_t r;
	char *p;

	ht_model_init(&parent, psize, -1);
	parent.anon = true;
	copy = parent;
	free0 = ht_free_pages(_metadata, psize, -1);
	p = mmap(NULL, psize, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
			 (shift << MAP_HUGE_SHIFT),
		 -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	addr = (unsigned long)p;
	ht_pattern_fill(p, psize, 0, SEED);
	ht_model_map(&parent, 0, 1);
	ht_model_check(_metadata, "written", &parent, 0, addr);
	EXPECT_EQ(free0 - 1, ht_free_pages(_metadata, psize, -1));

	/* fork copies the page tables of a VMA with an anon_vma. */
	h.file = &none;
	h.inherit = p;
	ht_start_holder(_metadata, &c, &h, &(unsigned long){ 0 });
	ht_model_map(&parent, c.pid, 1);
	ht_model_check(_metadata, "parent after fork", &parent, 0, addr);
	ht_model_check(_metadata, "child after fork", &parent, c.pid, addr);

	/* The child's write breaks COW: two private pages. */
	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_WRITE, &r));
	ASSERT_EQ(0, r) TH_LOG("child's COW raised SIGBUS code %ld", (long)r);
	ht_model_unmap(&parent, c.pid);
	ht_model_map(&copy, c.pid, 1);
	ht_model_check(_metadata, "parent after COW", &parent, 0, addr);
	ht_model_check(_metadata, "child after COW", &copy, c.pid, addr);
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

	p = ht_mmap_aligned(ht_pud_size(), ht_pud_size(),
			    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			    f->fd, 0);
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
	enum ht_level level;
};

/* 2 MiB only: PMD tables hold 2 MiB entries (see above). */
HT_ADD_SIZE_VARIANT_2M(pmd_share, huge);

FIXTURE_SETUP(pmd_share)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.caps = { CAP_SYS_ADMIN },
	};

	self->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_file_create(&self->file, HT_PSIZE(variant),
				    ht_pud_size()));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, HT_PSIZE(variant), SEED));
}

FIXTURE_TEARDOWN_PARENT(pmd_share)
{
	/* The file lives in the test's process; its exit closed it. */
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(pmd_share, two_processes, 120)
{
	unsigned long psize = HT_PSIZE(variant);
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
