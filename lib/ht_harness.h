/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Glue between the kselftest harness (from a kernel source tree, never
 * copied here) and libht: the variant table every scenario runs under,
 * requirement handling, and a main() that can list full case names.
 */
#ifndef HT_HARNESS_H
#define HT_HARNESS_H

#include <linux/kernel-page-flags.h>

#include "kselftest_harness.h"
#include "ht.h"

/*
 * One scenario, two granularities, a huge page size per page table level
 * that can map one: PMD and PUD.  The size is the kernel's, from the base
 * page (ht_level_size()); the names are x86_64's, the tested platform,
 * where they are 2 MiB and 1 GiB.  A size the kernel does not offer in
 * /sys/kernel/mm/hugepages SKIPs with that reason; CI pins which skip.
 */
#define HT_VARIANT_FIELDS    \
	enum ht_level level; \
	enum ht_gran gran

/* The variant's huge page size, in bytes. */
#define HT_PSIZE(v) ht_level_size((v)->level)

#define HT_ADD_VARIANTS_2M(fix)                                    \
	FIXTURE_VARIANT_ADD(fix, huge_2M){ .level = HT_LEVEL_PMD,  \
					   .gran = HT_GRAN_HUGE }; \
	FIXTURE_VARIANT_ADD(fix, hgm_2M)                           \
	{                                                          \
		.level = HT_LEVEL_PMD, .gran = HT_GRAN_HGM         \
	}

#define HT_ADD_VARIANTS_1G(fix)                                    \
	FIXTURE_VARIANT_ADD(fix, huge_1G){ .level = HT_LEVEL_PUD,  \
					   .gran = HT_GRAN_HUGE }; \
	FIXTURE_VARIANT_ADD(fix, hgm_1G)                           \
	{                                                          \
		.level = HT_LEVEL_PUD, .gran = HT_GRAN_HGM         \
	}

#define HT_ADD_VARIANTS(fix)     \
	HT_ADD_VARIANTS_2M(fix); \
	HT_ADD_VARIANTS_1G(fix)

/*
 * Scenarios HGM cannot apply to (MAP_PRIVATE, anonymous) or that only
 * exist at HGM granularity: a variant struct with `enum ht_level level`
 * and one variant per level, named <prefix>_2M and <prefix>_1G (the
 * _2M/_1G forms: that level alone).  Every case name is then
 * FIXTURE.<huge|hgm>_<2M|1G>.TEST, so that "*.huge_2M.*" selects every
 * PMD-size huge case; tests/case_names.sh checks it.
 */
#define HT_ADD_SIZE_VARIANT_2M(fix, prefix)   \
	FIXTURE_VARIANT_ADD(fix, prefix##_2M) \
	{                                     \
		.level = HT_LEVEL_PMD         \
	}

#define HT_ADD_SIZE_VARIANT_1G(fix, prefix)   \
	FIXTURE_VARIANT_ADD(fix, prefix##_1G) \
	{                                     \
		.level = HT_LEVEL_PUD         \
	}

#define HT_ADD_SIZE_VARIANTS(fix, prefix)    \
	HT_ADD_SIZE_VARIANT_2M(fix, prefix); \
	HT_ADD_SIZE_VARIANT_1G(fix, prefix)

/*
 * In FIXTURE_SETUP: provide @needs or SKIP with the reason; fail when
 * the reason is a broken environment, not a missing feature.
 */
#define HT_SETUP_OR_SKIP(needs, env)                            \
	do {                                                    \
		const char *__r = ht_setup((needs), (env));     \
		if (ht_setup_error(__r))                        \
			ASSERT_EQ(NULL, __r) TH_LOG("%s", __r); \
		if (__r)                                        \
			SKIP(return, "%s", __r);                \
	} while (0)

/* In FIXTURE_TEARDOWN_PARENT: restore, and fail the case if we could not. */
#define HT_TEARDOWN(env)                                               \
	do {                                                           \
		char __why[256] = "";                                  \
		if (ht_teardown((env), __why, sizeof(__why))) {        \
			TH_LOG("teardown did not restore: %s", __why); \
			_metadata->exit_code = KSFT_FAIL;              \
		}                                                      \
	} while (0)

static inline void ht_expect_page(struct __test_metadata *_metadata,
				  const char *who, pid_t pid,
				  unsigned long addr, unsigned long psize,
				  const struct ht_expect *e)
{
	unsigned long kb = psize / HT_KB, npages = psize / ht_base_page_size();
	unsigned long mapped = e->pieces ? e->pieces : npages;
	unsigned long smaps_kb = e->mapped || e->poisoned ?
					 mapped * ht_base_page_size() / HT_KB :
					 0;
	struct ht_obs o;
	int ret;

	ret = ht_observe(pid, addr, psize, &o);
	ASSERT_EQ(0, ret)
	TH_LOG("%s: reading /proc views: %s", who, strerror(-ret));
	EXPECT_EQ(kb, o.vma.val[HT_SMAPS_KERNELPAGESIZE])
	TH_LOG("%s: KernelPageSize", who);
	EXPECT_EQ(0, o.vma.val[HT_SMAPS_RSS])
	TH_LOG("%s: Rss must exclude hugetlb", who);
	EXPECT_EQ(0, o.vma.val[HT_SMAPS_PSS])
	TH_LOG("%s: Pss must exclude hugetlb", who);
	EXPECT_EQ(e->shared ? smaps_kb : 0, o.vma.val[HT_SMAPS_SHARED_HUGETLB])
	TH_LOG("%s: smaps Shared_Hugetlb", who);
	EXPECT_EQ(e->shared ? 0 : smaps_kb, o.vma.val[HT_SMAPS_PRIVATE_HUGETLB])
	TH_LOG("%s: smaps Private_Hugetlb", who);
	EXPECT_EQ(e->hugetlb_kb, o.hugetlb_kb)
	TH_LOG("%s: status HugetlbPages", who);
	EXPECT_EQ(e->mapped, !!(o.pm & HT_PM_PRESENT))
	TH_LOG("%s: pagemap present (entry %#llx)", who,
	       (unsigned long long)o.pm);
	EXPECT_EQ(e->mapped ? (long)mapped : 0, o.present)
	TH_LOG("%s: PAGE_SIZE pieces present", who);
	ASSERT_TRUE(o.nm_found)
	TH_LOG("%s: no numa_maps line for the VMA", who);
	EXPECT_TRUE(o.nm.huge) TH_LOG("%s: numa_maps lacks 'huge'", who);
	if (!e->mapped)
		return;
	EXPECT_EQ(!e->anon, !!(o.pm & HT_PM_FILE))
	TH_LOG("%s: pagemap PM_FILE", who);
	EXPECT_EQ(e->pm_exclusive ? e->pm_exclusive > 0 : !e->shared,
		  !!(o.pm & HT_PM_MMAP_EXCLUSIVE))
	TH_LOG("%s: pagemap PM_MMAP_EXCLUSIVE", who);
	EXPECT_EQ(0, o.pfn % npages)
	TH_LOG("%s: head PFN %#llx not aligned", who,
	       (unsigned long long)o.pfn);
	EXPECT_EQ(o.pfn + npages - 1, o.pfn_tail) TH_LOG("%s: tail PFN", who);
	EXPECT_EQ(e->mapcount, o.count_head)
	TH_LOG("%s: kpagecount(head)", who);
	EXPECT_EQ(e->mapcount, o.count_tail)
	TH_LOG("%s: kpagecount(tail)", who);
	EXPECT_EQ(1, (o.flags_head >> KPF_HUGE) & 1)
	TH_LOG("%s: KPF_HUGE head", who);
	EXPECT_EQ(1, (o.flags_tail >> KPF_HUGE) & 1)
	TH_LOG("%s: KPF_HUGE tail", who);
	EXPECT_EQ(1, (o.flags_head >> KPF_COMPOUND_HEAD) & 1)
	TH_LOG("%s: KPF_COMPOUND_HEAD", who);
	EXPECT_EQ(1, (o.flags_tail >> KPF_COMPOUND_TAIL) & 1)
	TH_LOG("%s: KPF_COMPOUND_TAIL", who);
	EXPECT_EQ(e->anon, (o.flags_head >> KPF_ANON) & 1)
	TH_LOG("%s: KPF_ANON", who);
	EXPECT_EQ(0, (o.flags_head >> KPF_HWPOISON) & 1)
	TH_LOG("%s: KPF_HWPOISON", who);
	EXPECT_EQ(e->anon ? 1 : 0, o.nm.anon)
	TH_LOG("%s: numa_maps anon=", who);
	EXPECT_EQ(1, o.nm.dirty) TH_LOG("%s: numa_maps dirty=", who);
	EXPECT_EQ(e->mapcount > 1 ? e->mapcount : 0, o.nm.mapmax)
	TH_LOG("%s: numa_maps mapmax=", who);
	if (e->node >= 0)
		EXPECT_EQ(1, o.nm.node_pages[e->node])
	TH_LOG("%s: numa_maps N%d=", who, e->node);
}

/*
 * What lib's page model says @pid (0: this process) must see of the page
 * at @addr, compared with every view: the one oracle the programs share.
 */
static inline void ht_model_check(struct __test_metadata *_metadata,
				  const char *who,
				  const struct ht_page_model *pm, pid_t pid,
				  unsigned long addr)
{
	struct ht_expect e = ht_model_view(pm, pid);

	ht_expect_page(_metadata, who, pid, addr, pm->psize, &e);
}

/* kpagecount of @pfn (the page's head) is the model's mapcount. */
static inline void ht_model_check_count(struct __test_metadata *_metadata,
					const char *who,
					const struct ht_page_model *pm,
					uint64_t pfn)
{
	uint64_t count = ~0ULL;

	ASSERT_EQ(0, ht_kpagecount_read(pfn, &count));
	EXPECT_EQ(ht_model_mapcount(pm), count) TH_LOG("%s: kpagecount", who);
}

/* smaps_rollup of @pid: the model's Shared/Private_Hugetlb. */
static inline void ht_model_check_rollup(struct __test_metadata *_metadata,
					 const char *who,
					 const struct ht_page_model *pm,
					 pid_t pid)
{
	unsigned long shared_kb, private_kb;
	struct ht_smaps_vma roll;

	ht_model_smaps_kb(pm, pid, &shared_kb, &private_kb);
	ASSERT_EQ(0, ht_smaps_rollup_read(pid, &roll));
	EXPECT_EQ(shared_kb, roll.val[HT_SMAPS_SHARED_HUGETLB])
	TH_LOG("%s: smaps_rollup Shared_Hugetlb", who);
	EXPECT_EQ(private_kb, roll.val[HT_SMAPS_PRIVATE_HUGETLB])
	TH_LOG("%s: smaps_rollup Private_Hugetlb", who);
}

/* Free huge pages of @psize, globally; fails the test if unreadable. */
static inline unsigned long ht_free_pages(struct __test_metadata *_metadata,
					  unsigned long psize, int node)
{
	struct ht_pool p;

	ASSERT_EQ(0, ht_pool_read(psize, node, &p));
	return p.free;
}

/* The PFN @addr maps in @pid; the page must be present. */
static inline uint64_t ht_pfn_of(struct __test_metadata *_metadata, pid_t pid,
				 unsigned long addr)
{
	uint64_t e = 0;

	EXPECT_EQ(0, ht_pagemap_read(pid, addr, &e));
	EXPECT_TRUE(e & HT_PM_PRESENT)
	TH_LOG("pid %d %#lx not present", pid, addr);
	return e & HT_PM_PFN_MASK;
}

/* ht_holder_start(); the test fails, saying why, if the holder cannot map. */
static inline void ht_start_holder(struct __test_metadata *_metadata,
				   struct ht_child *c, struct ht_holder *h,
				   unsigned long *addr)
{
	int ret = ht_holder_start(c, h, addr);

	ASSERT_EQ(0, ret) TH_LOG("holder could not map: %s", strerror(-ret));
}

/* Tell a holder to exit and reap it; the test fails if it does not. */
static inline void ht_stop_holder(struct __test_metadata *_metadata,
				  struct ht_child *c)
{
	ASSERT_EQ(0, ht_send(c->sock, HT_CMD_EXIT));
	ASSERT_EQ(0, ht_reap(c, 10000));
}

/* Pool counters of @psize (@node < 0: global); fails the test if unreadable. */
static inline struct ht_pool ht_pool_get(struct __test_metadata *_metadata,
					 unsigned long psize, int node)
{
	struct ht_pool p;

	EXPECT_EQ(0, ht_pool_read(psize, node, &p));
	return p;
}

/*
 * The pages backing struct pages moved by @delta since *@prev (then
 * *@prev is now); nothing to check where the kernel does not count them.
 */
static inline void ht_expect_memmap(struct __test_metadata *_metadata,
				    long *prev, long delta, const char *step)
{
	long now = ht_memmap_pages();

	if (*prev < 0 || now < 0)
		return;
	EXPECT_EQ(delta, now - *prev) TH_LOG("vmemmap pages after %s", step);
	*prev = now;
}

/*
 * The pool must read what @m says after @step (a short description of
 * what the case just did); every differing counter is in the log.
 */
#define HT_POOL_CHECK(m, step)                                                 \
	do {                                                                   \
		char __why[256], __sz[HT_SIZE_NAME_LEN];                       \
		EXPECT_EQ(0, ht_pool_model_check((m), __why, sizeof(__why)))   \
		TH_LOG("%s pool after %s: %s",                                 \
		       ht_size_name_r((m)->psize, __sz, sizeof(__sz)), (step), \
		       __why);                                                 \
	} while (0)

static inline int ht_list_cases(void)
{
	struct __fixture_variant_metadata none = { .name = "" }, *v;
	bool tmo = getenv("HT_LIST_TIMEOUTS") != NULL;
	struct __fixture_metadata *f;
	struct __test_metadata *t;

	for (f = __fixture_list; f; f = f->next)
		for (v = f->variant ?: &none; v; v = v->next)
			for (t = f->tests; t; t = t->next) {
				printf("%s%s%s.%s", f->name,
				       v->name[0] ? "." : "", v->name, t->name);
				if (tmo)
					printf(" %u", (unsigned int)t->timeout);
				printf("\n");
			}
	return 0;
}

/*
 * --list-cases prints the names that -r accepts, one per line; with
 * HT_LIST_TIMEOUTS in the environment, each followed by the seconds its
 * TEST_F_TIMEOUT() allows (the runner's limit for it, when longer).
 */
#define HT_MAIN                                                    \
	int main(int argc, char **argv)                            \
	{                                                          \
		if (argc == 2 && !strcmp(argv[1], "--list-cases")) \
			return ht_list_cases();                    \
		return test_harness_run(argc, argv);               \
	}

#endif
