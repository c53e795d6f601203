// SPDX-License-Identifier: GPL-2.0
/*
 * The huge page pool's controls and reports: the sysfs files of every
 * size (global and per node), the vm.nr_hugepages* sysctls, demotion, the
 * vmemmap optimisation (HVO) knob, and what /proc/meminfo, the node
 * meminfo files and show_mem() report about the pool.
 *
 * The model (6.12 mm/hugetlb.c, set_max_huge_pages()): a write of @count
 * first turns surplus pages back into persistent ones, then allocates
 * fresh pages while count > persistent (nr - surplus); when shrinking it
 * frees free pages down to max(count, resv + in use), and marks the rest
 * surplus (adjust_pool_surplus(): only where surplus < nr), so an in-use
 * page leaves the pool when it is freed.  A per-node write adds the other
 * nodes' persistent pages to @count and only touches that node.
 * model_set_max() below is that rule; every step's expectation comes
 * from it or from the comment next to the step.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "ht_harness.h"

#define SEED 0x9001cafe
#define HVO_SYSCTL "/proc/sys/vm/hugetlb_optimize_vmemmap"
/* More digits than an unsigned long holds: kstrtoul() says -ERANGE. */
#define TOO_BIG "99999999999999999999999"

/* ---- paths ---- */

struct path {
	char s[160];
};

/* By value: a case keeps several paths while helpers make others. */
static struct path pool_path(unsigned long psize, int node, const char *file)
{
	struct path p;

	if (node < 0)
		snprintf(p.s, sizeof(p.s),
			 "/sys/kernel/mm/hugepages/hugepages-%lukB/%s",
			 psize / HT_KB, file);
	else
		snprintf(
			p.s, sizeof(p.s),
			"/sys/devices/system/node/node%d/hugepages/hugepages-%lukB/%s",
			node, psize / HT_KB, file);
	return p;
}

#define pool_file(psize, node, file) (pool_path((psize), (node), (file)).s)

/* write(2) of @s to @path must fail with @err (0: must succeed). */
#define WRITE_EXPECT(path, s, err)                                        \
	do {                                                              \
		int __r = ht_write_str((path), (s));                      \
		EXPECT_EQ(-(err), __r)                                    \
		TH_LOG("write \"%s\" to %s: want %s got %s", (s), (path), \
		       (err) ? strerror(err) : "success",                 \
		       __r ? strerror(-__r) : "success");                 \
	} while (0)

static int write_nr(const char *path, unsigned long nr)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lu", nr);
	return ht_write_str(path, buf);
}

/* ---- the model ---- */

/*
 * set_max_huge_pages(@count) on global counters @g; @n is the node the
 * write names (NULL: a global write), whose counters bound which pages
 * can be converted, freed or marked.  Growth is assumed to succeed: the
 * cases ask for what fits.  @count is already the global count.
 */
static void model_set_max(struct ht_pool *g, struct ht_pool *n,
			  unsigned long count)
{
	struct ht_pool *l = n ? n : g;
	unsigned long p = g->nr - g->surplus, min_count;

#define D(f, d)                      \
	do {                         \
		g->f += (d);         \
		if (n && n != g)     \
			n->f += (d); \
	} while (0)
	while (g->surplus && l->surplus && count > p) {
		D(surplus, -1);
		p++;
	}
	while (count > p) {
		D(nr, 1);
		D(free, 1);
		p++;
	}
	min_count = g->resv + g->nr - g->free;
	if (count > min_count)
		min_count = count;
	while (min_count < p && l->free) {
		D(nr, -1);
		D(free, -1);
		p--;
	}
	while (count < p && l->surplus < l->nr) {
		D(surplus, 1);
		p--;
	}
#undef D
}

/* The global count a write of @count to node @n's nr_hugepages means. */
static unsigned long node_count(const struct ht_pool *g,
				const struct ht_pool *n, unsigned long count)
{
	unsigned long c = count + (g->nr - g->surplus) - (n->nr - n->surplus);

	/* set_max_huge_pages(): an overflow means "as many as possible". */
	return c < count ? ~0UL : c;
}

/*
 * free_huge_folio() of @k in-use pages: a page whose node has surplus
 * leaves the pool, any other goes back to the free list.
 */
static void model_free_pages(struct ht_pool *g, struct ht_pool *n,
			     unsigned long k)
{
	struct ht_pool *l = n ? n : g;

	while (k--) {
		if (l->surplus) {
			g->nr--, g->surplus--;
			if (n)
				n->nr--, n->surplus--;
		} else {
			g->free++;
			if (n)
				n->free++;
		}
	}
}

/* ---- what /proc/meminfo and the node meminfo files report ---- */

static void check_node_meminfo(struct __test_metadata *_metadata, int node,
			       unsigned long dflt, const char *step)
{
	struct ht_pool p;
	unsigned long v[3] = { ~0UL, ~0UL, ~0UL };

	ASSERT_EQ(0, ht_pool_read(dflt, node, &p));
	/* hugetlb_report_node_meminfo(): the default size's node counters */
	EXPECT_EQ(0, ht_node_meminfo_read(node, "HugePages_Total", &v[0]));
	EXPECT_EQ(0, ht_node_meminfo_read(node, "HugePages_Free", &v[1]));
	EXPECT_EQ(0, ht_node_meminfo_read(node, "HugePages_Surp", &v[2]));
	EXPECT_EQ(p.nr, v[0])
	TH_LOG("node %d HugePages_Total after %s", node, step);
	EXPECT_EQ(p.free, v[1])
	TH_LOG("node %d HugePages_Free after %s", node, step);
	EXPECT_EQ(p.surplus, v[2])
	TH_LOG("node %d HugePages_Surp after %s", node, step);
}

static unsigned long kv(struct __test_metadata *_metadata, const char *text,
			const char *key)
{
	unsigned long v = ~0UL;

	EXPECT_EQ(0, ht_kv_parse(text, key, &v)) TH_LOG("no %s line", key);
	return v;
}

/*
 * hugetlb_report_meminfo(): the default size's counters, and Hugetlb:
 * the sum over sizes of nr * size.  hugetlb_total_pages() shows in
 * CommitLimit (vm_commit_limit(): (MemTotal - hugetlb) * ratio / 100 +
 * swap) unless vm.overcommit_kbytes replaces the formula.
 */
static void check_reports(struct __test_metadata *_metadata, const char *step)
{
	unsigned long sizes[HT_MAX_SIZES], dflt = ht_default_page_size();
	unsigned long total_kb = 0, hpages = 0, ratio, kbytes, pg;
	int nodes[HT_MAX_NODES], nn, ns;
	struct ht_pool p, d;
	char *mi;

	pg = ht_base_page_size() / HT_KB;
	ns = ht_page_sizes(sizes, HT_MAX_SIZES);
	ASSERT_GT(ns, 0);
	for (int i = 0; i < ns; i++) {
		ASSERT_EQ(0, ht_pool_read(sizes[i], -1, &p));
		total_kb += p.nr * (sizes[i] / HT_KB);
		hpages += p.nr * (sizes[i] / ht_base_page_size());
	}
	ASSERT_EQ(0, ht_pool_read(dflt, -1, &d));
	mi = ht_slurp("/proc/meminfo", NULL);
	ASSERT_NE(NULL, mi);
	EXPECT_EQ(d.nr, kv(_metadata, mi, "HugePages_Total"))
	TH_LOG("meminfo after %s", step);
	EXPECT_EQ(d.free, kv(_metadata, mi, "HugePages_Free"))
	TH_LOG("meminfo after %s", step);
	EXPECT_EQ(d.resv, kv(_metadata, mi, "HugePages_Rsvd"))
	TH_LOG("meminfo after %s", step);
	EXPECT_EQ(d.surplus, kv(_metadata, mi, "HugePages_Surp"))
	TH_LOG("meminfo after %s", step);
	EXPECT_EQ(dflt / HT_KB, kv(_metadata, mi, "Hugepagesize"));
	EXPECT_EQ(total_kb, kv(_metadata, mi, "Hugetlb"))
	TH_LOG("meminfo Hugetlb: after %s", step);
	if (!ht_read_ulong("/proc/sys/vm/overcommit_kbytes", &kbytes) &&
	    kbytes == 0 &&
	    !ht_read_ulong("/proc/sys/vm/overcommit_ratio", &ratio)) {
		unsigned long ram = kv(_metadata, mi, "MemTotal") / pg;
		unsigned long swap = kv(_metadata, mi, "SwapTotal") / pg;

		EXPECT_EQ(((ram - hpages) * ratio / 100 + swap) * pg,
			  kv(_metadata, mi, "CommitLimit"))
		TH_LOG("CommitLimit (hugetlb_total_pages %lu) after %s", hpages,
		       step);
	}
	free(mi);
	nn = ht_memory_nodes(nodes, HT_MAX_NODES);
	for (int i = 0; i < nn; i++)
		if (!access(pool_file(dflt, nodes[i], "nr_hugepages"), F_OK))
			check_node_meminfo(_metadata, nodes[i], dflt, step);
}

/* ---- a hugetlb file whose pages a case holds ---- */

struct held {
	int fd;
	void *p;
	size_t len;
};

/*
 * Maps @n pages of a new hugetlb memfd shared: hugetlb_reserve_pages()
 * reserves them at mmap (resv += n); @fault then writes each page, which
 * consumes its reservation (resv -= 1, free -= 1 per page).
 */
static void hold(struct __test_metadata *_metadata, struct held *h,
		 unsigned long psize, unsigned long n, bool fault)
{
	h->len = n * psize;
	h->fd = ht_memfd_hugetlb("pool_sysfs", psize);
	ASSERT_GE(h->fd, 0);
	ASSERT_EQ(0, ftruncate(h->fd, h->len));
	h->p = mmap(NULL, h->len, PROT_READ | PROT_WRITE, MAP_SHARED, h->fd, 0);
	ASSERT_NE(MAP_FAILED, h->p) TH_LOG("mmap: %s", strerror(errno));
	for (unsigned long i = 0; fault && i < n; i++)
		((volatile char *)h->p)[i * psize] = 1;
}

/* munmap and the last close: the inode's pages go back to the pool. */
static void release(struct held *h)
{
	munmap(h->p, h->len);
	close(h->fd);
	h->fd = -1;
}

static void bind_to(struct __test_metadata *_metadata, int node)
{
	unsigned long mask[HT_MAX_NODES / (8 * sizeof(long)) + 1] = { 0 };

	mask[node / (8 * sizeof(long))] |= 1UL << (node % (8 * sizeof(long)));
	ASSERT_EQ(0, set_mempolicy(MPOL_BIND, mask, HT_MAX_NODES + 1))
	TH_LOG("set_mempolicy(MPOL_BIND, node %d): %s", node, strerror(errno));
}

static void unbind(void)
{
	set_mempolicy(MPOL_DEFAULT, NULL, 0);
}

/*
 * The 1 GiB rule: a case never frees a page it did not allocate itself.
 * The VMs boot with 1 GiB pages reserved on the command line, and a
 * kernel that cannot allocate a 1 GiB page at run time (Debian's 6.1,
 * often) could neither grow back nor restore a boot page it freed.  So a
 * 1 GiB case that shrinks first grows by the pages it needs (on the node
 * concerned) and then moves only within [its start, start + grown]; the
 * teardown then only frees run-time pages.  A machine that cannot give
 * them at the start skips the case with RUNTIME_1G: the runner probes the
 * same thing before the first case (environment fact
 * hugepages_1G_runtime), so the skip is expected exactly where the probe
 * failed and red anywhere else.  A page that does not come back later in
 * a case fails it.
 */
#define RUNTIME_1G "cannot allocate a 1 GiB page at run time"

/*
 * @k fresh 1 GiB pages on @node (< 0: anywhere), into @g and @n; false
 * (the case skipped) when the machine has none to give.
 */
static bool grow_runtime(struct __test_metadata *_metadata, int node,
			 unsigned long k, struct ht_pool *g, struct ht_pool *n)
{
	int ret = ht_pool_grow(ht_pud_size(), node, k);

	if (ret)
		SKIP(return false, RUNTIME_1G ": %lu more on node %d: %s", k,
			    node, strerror(-ret));
	/* gigantic pages have no surplus to convert: all are fresh */
	g->nr += k, g->free += k;
	if (n)
		n->nr += k, n->free += k;
	return true;
}

/*
 * After a write that grows @m's pool back within the case's range: a
 * 1 GiB shortfall is the same run-time allocation failing, and the case
 * stops there (the pool is still at or above its start).
 */
static void grew_back(struct __test_metadata *_metadata,
		      const struct ht_pool_model *m, const char *step)
{
	struct ht_pool p;

	if (m->psize != ht_pud_size())
		return;
	ASSERT_EQ(0, ht_pool_read(m->psize, m->node, &p));
	ASSERT_GE(p.nr, m->want.nr)
	TH_LOG(RUNTIME_1G ": %s: nr %lu, want %lu", step, p.nr, m->want.nr);
}

/*
 * The HVO knob, for needs.sysctls when the kernel has it: a case that
 * grows the pool as far as memory goes turns it off.  With it on,
 * set_max_huge_pages() first takes every page it can and only then
 * optimises the batch, and __hugetlb_vmemmap_optimize_folio()'s
 * GFP_KERNEL page for the vmemmap head then calls the OOM killer (seen
 * on the patched 6.12: init killed, the guest gone).
 */
static const char *hvo_sysctl(void)
{
	return access(HVO_SYSCTL, F_OK) ? NULL : "vm/hugetlb_optimize_vmemmap";
}

/* ---- one size, global files ---- */

/*
 * 1 GiB pages go through nr_hugepages_mempolicy with the writer bound to
 * one node: the same set_max_huge_pages(), but a page given back is
 * taken again from the node that gave it.  Unbound, the kernel's
 * round-robin may grow on another node, and a 1 GiB block freed a while
 * ago is often unusable again (seen on 6.1): the pool could not be put
 * back.
 */
FIXTURE(pool_size)
{
	struct ht_env env;
	struct ht_pool_model m, n;
	struct path nr;
	unsigned long k; /* pages a step moves */
	int bind; /* the node 1 GiB steps are bound to, else -1 */
};

FIXTURE_VARIANT(pool_size)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(pool_size, huge);

FIXTURE_SETUP(pool_size)
{
	bool big = HT_PSIZE(variant) == ht_pud_size();
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = big ? 1 : 2, /* what shrink_below_in_use holds */
		.sysctls = { hvo_sysctl() },
	};
	struct ht_pool p;

	self->k = needs.pages;
	self->bind = -1;
	self->nr = pool_path(HT_PSIZE(variant), -1, "nr_hugepages");
	HT_SETUP_OR_SKIP(&needs, &self->env);
	for (int i = 0; big && i < self->env.nnodes; i++) {
		ASSERT_EQ(0,
			  ht_pool_read(ht_pud_size(), self->env.nodes[i], &p));
		if (p.free >= self->k && self->bind < 0)
			self->bind = self->env.nodes[i];
	}
	if (self->bind >= 0 &&
	    !access(pool_file(ht_pud_size(), -1, "nr_hugepages_mempolicy"),
		    F_OK)) {
		self->nr =
			pool_path(ht_pud_size(), -1, "nr_hugepages_mempolicy");
		bind_to(_metadata, self->bind);
		ASSERT_EQ(0, ht_pool_model_init(&self->n, ht_pud_size(),
						self->bind));
	} else {
		self->bind = -1;
	}
	ASSERT_EQ(0, ht_pool_model_init(&self->m, HT_PSIZE(variant), -1));
	check_reports(_metadata, "setup");
}

FIXTURE_TEARDOWN_PARENT(pool_size)
{
	HT_TEARDOWN(&self->env);
}

/* The bound node's model, or NULL: every change happens there. */
static struct ht_pool *bound(FIXTURE_DATA(pool_size) * self)
{
	return self->bind >= 0 ? &self->n.want : NULL;
}

static void size_check(struct __test_metadata *_metadata,
		       FIXTURE_DATA(pool_size) * self, const char *step)
{
	HT_POOL_CHECK(&self->m, step);
	if (self->bind >= 0)
		HT_POOL_CHECK(&self->n, step);
	check_reports(_metadata, step);
}

/* nr_hugepages moves the pool both ways; the reports follow. */
TEST_F_TIMEOUT(pool_size, shrink_then_grow, 300)
{
	struct ht_pool *w = &self->m.want;
	unsigned long start, k = self->k;

	if (HT_PSIZE(variant) == ht_pud_size()) {
		/* the 1 GiB rule: shrink only what the case allocated */
		if (!grow_runtime(_metadata, self->bind, k, w, bound(self)))
			return;
		size_check(_metadata, self, "growing at run time");
	}
	start = w->nr;
	/* setup provided k free pages: giving them back must succeed */
	ASSERT_EQ(0, write_nr(self->nr.s, start - k));
	model_set_max(w, bound(self), start - k);
	size_check(_metadata, self, "shrinking");
	/* ... and their memory is there to take again */
	ASSERT_EQ(0, write_nr(self->nr.s, start));
	model_set_max(w, bound(self), start);
	grew_back(_metadata, &self->m, "growing back");
	size_check(_metadata, self, "growing back");
	/* the same count again changes nothing */
	ASSERT_EQ(0, write_nr(self->nr.s, start));
	size_check(_metadata, self, "writing the same count");
}

/*
 * The 1 GiB rule's start for the cases that need pages in use beyond
 * the case's start: k fresh pages on the bound node, then every page of
 * the size held (faulted unbound, so every node's free pages go; the
 * bound node's are counted apart, for freeing them).  Returns how many
 * are held; *on_bound gets the bound node's share.
 */
static unsigned long hold_all_1g(struct __test_metadata *_metadata,
				 FIXTURE_DATA(pool_size) * self, struct held *h,
				 unsigned long *on_bound)
{
	struct ht_pool *w = &self->m.want, *n = bound(self);
	unsigned long all;

	if (!grow_runtime(_metadata, self->bind, self->k, w, n))
		return 0;
	size_check(_metadata, self, "growing at run time");
	ASSERT_EQ(0, w->resv) TH_LOG("someone holds a 1G reservation");
	ASSERT_EQ(w->nr, w->free) TH_LOG("someone else uses 1G pages");
	all = w->free;
	*on_bound = n ? n->free : all;
	unbind();
	hold(_metadata, h, ht_pud_size(), all, true);
	if (self->bind >= 0)
		bind_to(_metadata, self->bind);
	w->free = 0;
	if (n)
		n->free = 0;
	size_check(_metadata, self, "faulting every page");
	return all;
}

/*
 * Releasing @all held pages of which @on_bound were the bound node's:
 * the pages of a node with surplus leave the pool (free_huge_folio()
 * looks at the page's own node), the others go back to the free lists.
 */
static void release_all_1g(struct __test_metadata *_metadata,
			   FIXTURE_DATA(pool_size) * self, struct held *h,
			   unsigned long all, unsigned long on_bound)
{
	struct ht_pool *w = &self->m.want;

	release(h);
	model_free_pages(w, bound(self), on_bound);
	w->free += all - on_bound;
	size_check(_metadata, self, "freeing the pages");
}

/*
 * 1 GiB: a count below what is in use that is not below the case's
 * start needs every page in use, the fresh ones included; the bound
 * write marks one of the bound node's surplus, and it leaves the pool
 * when its user lets go.  There is no free page left to go (as in the
 * 2 MiB variant on a pool that held only its k pages).
 */
static void shrink_below_in_use_1g(struct __test_metadata *_metadata,
				   FIXTURE_DATA(pool_size) * self)
{
	struct ht_pool *w = &self->m.want, *n = bound(self);
	unsigned long all, on_bound, in_use;
	struct held h;

	all = hold_all_1g(_metadata, self, &h, &on_bound);
	if (!all)
		return; /* skipped: no 1 GiB page at run time */
	in_use = w->nr - w->free;
	ASSERT_EQ(all, in_use);
	ASSERT_EQ(0, write_nr(self->nr.s, in_use - 1));
	model_set_max(w, n, in_use - 1);
	EXPECT_EQ(1, w->surplus) TH_LOG("the model: one in-use page surplus");
	size_check(_metadata, self, "nr_hugepages = in use - 1");
	release_all_1g(_metadata, self, &h, all, on_bound);
	/* no surplus left: growing allocates (a page the case gave back) */
	ASSERT_EQ(0, write_nr(self->nr.s, w->nr + 1));
	model_set_max(w, n, w->nr + 1);
	grew_back(_metadata, &self->m, "growing by 1 after the shrink");
	size_check(_metadata, self, "growing by 1 after the shrink");
}

/*
 * The count written back to what the pool holds, surplus included:
 * adjust_pool_surplus(-1) for every surplus page, nothing allocated.
 */
static void surplus_converted(struct __test_metadata *_metadata,
			      FIXTURE_DATA(pool_size) * self)
{
	struct ht_pool *w = &self->m.want;
	unsigned long nr = w->nr;

	ASSERT_EQ(0, write_nr(self->nr.s, nr));
	model_set_max(w, bound(self), nr);
	EXPECT_EQ(0, w->surplus);
	EXPECT_EQ(nr, w->nr);
	size_check(_metadata, self, "nr_hugepages = nr (surplus converted)");
}

/*
 * 1 GiB: every page in use and the count written down to the case's
 * start (not 0, which would free boot pages): the k fresh pages' worth
 * becomes surplus on the bound node, and the whole count converts it.
 */
static void grow_converts_surplus_1g(struct __test_metadata *_metadata,
				     FIXTURE_DATA(pool_size) * self)
{
	struct ht_pool *w = &self->m.want, *n = bound(self);
	unsigned long all, on_bound, k = self->k;
	struct held h;

	all = hold_all_1g(_metadata, self, &h, &on_bound);
	if (!all)
		return; /* skipped: no 1 GiB page at run time */
	ASSERT_EQ(0, write_nr(self->nr.s, w->nr - k));
	model_set_max(w, n, w->nr - k);
	EXPECT_EQ(k, w->surplus) TH_LOG("the model: k in-use pages surplus");
	size_check(_metadata, self, "nr_hugepages = start with pages in use");
	surplus_converted(_metadata, self);
	release_all_1g(_metadata, self, &h, all, on_bound);
}

/*
 * Below what is in use: the free pages go, the rest becomes surplus and
 * leaves the pool when its user lets go.
 */
TEST_F_TIMEOUT(pool_size, shrink_below_in_use, 300)
{
	unsigned long psize = HT_PSIZE(variant), k = self->k, in_use;
	struct ht_pool *w = &self->m.want, *n = bound(self);
	char name[HT_SIZE_NAME_LEN];
	struct held h;

	if (psize == ht_pud_size()) {
		shrink_below_in_use_1g(_metadata, self);
		return;
	}
	hold(_metadata, &h, psize, k, false);
	w->resv += k;
	size_check(_metadata, self, "mmap (pages reserved)");
	for (unsigned long i = 0; i < k; i++)
		((volatile char *)h.p)[i * psize] = 1;
	w->resv -= k, w->free -= k;
	if (n)
		n->free -= k;
	size_check(_metadata, self, "faulting the pages");
	in_use = w->nr - w->free;
	ASSERT_EQ(k, in_use)
	TH_LOG("someone else uses %s pages",
	       ht_size_name_r(psize, name, sizeof(name)));
	ASSERT_EQ(0, write_nr(self->nr.s, in_use - 1));
	model_set_max(w, n, in_use - 1);
	size_check(_metadata, self, "nr_hugepages = in use - 1");
	release(&h);
	model_free_pages(w, n, k);
	size_check(_metadata, self, "freeing the pages");
	/* no surplus left: growing allocates */
	ASSERT_EQ(0, write_nr(self->nr.s, w->nr + 1));
	model_set_max(w, n, w->nr + 1);
	size_check(_metadata, self, "growing by 1 after the shrink");
}

/* Growing surplus pages back into the pool converts, not allocates. */
TEST_F_TIMEOUT(pool_size, grow_converts_surplus, 300)
{
	unsigned long psize = HT_PSIZE(variant), k = self->k;
	struct ht_pool *w = &self->m.want, *n = bound(self);
	struct held h;

	if (psize == ht_pud_size()) {
		grow_converts_surplus_1g(_metadata, self);
		return;
	}
	hold(_metadata, &h, psize, k, true);
	w->free -= k;
	if (n)
		n->free -= k;
	size_check(_metadata, self, "faulting the pages");
	ASSERT_EQ(0, write_nr(self->nr.s, 0));
	model_set_max(w, n, 0);
	EXPECT_EQ(k, w->surplus) TH_LOG("the model: the in-use pages surplus");
	size_check(_metadata, self, "nr_hugepages = 0 with pages in use");
	/* back to the whole pool (a global count, other nodes' included) */
	surplus_converted(_metadata, self);
	release(&h);
	model_free_pages(w, n, k);
	size_check(_metadata, self, "freeing the pages");
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	alarms++;
}

/*
 * A write of more pages than there is memory: nr_hugepages reads back
 * what could be had.  set_max_huge_pages() also stops at a signal, so a
 * timer bounds how much of a shared machine the case takes.
 */
static unsigned long bounded_write(struct __test_metadata *_metadata,
				   const char *path, const char *val)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { .tv_usec = 200 * 1000 } };
	unsigned long got = 0;
	int ret;

	if (hvo_sysctl())
		ASSERT_EQ(0, ht_write_str(HVO_SYSCTL, "0"));
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	ret = ht_write_str(path, val);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	EXPECT_EQ(0, ret)
	TH_LOG("write %s to %s: %s", val, path, strerror(-ret));
	EXPECT_EQ(0, ht_read_ulong(path, &got));
	return got;
}

TEST_F_TIMEOUT(pool_size, grow_beyond_memory, 300)
{
	unsigned long psize = HT_PSIZE(variant), ram_kb = 0, want, got;
	struct ht_pool *w = &self->m.want, *n = bound(self);
	unsigned long start = w->nr;
	char buf[32];

	ASSERT_EQ(0, ht_meminfo_read("MemTotal", &ram_kb));
	want = start + ram_kb / (psize / HT_KB) + 1;
	snprintf(buf, sizeof(buf), "%lu", want);
	got = bounded_write(_metadata, self->nr.s, buf);
	EXPECT_LT(got, want);
	EXPECT_GE(got, start);
	/* what was allocated is free; nothing else moved */
	w->free += got - start;
	w->nr = got;
	if (n)
		n->free += got - start, n->nr += got - start;
	size_check(_metadata, self, "asking for more than RAM");
	/* the newest free pages head the free list: they go first */
	ASSERT_EQ(0, write_nr(self->nr.s, start));
	model_set_max(w, n, start);
	size_check(_metadata, self, "shrinking back");
}

/* kstrtoul(): no sign, base 10, nothing after but a newline. */
static void bad_counts(struct __test_metadata *_metadata, const char *path)
{
	WRITE_EXPECT(path, "abc", EINVAL);
	WRITE_EXPECT(path, "-1", EINVAL);
	WRITE_EXPECT(path, "0x1", EINVAL);
	WRITE_EXPECT(path, "1 2", EINVAL);
	WRITE_EXPECT(path, TOO_BIG, ERANGE);
}

TEST_F_TIMEOUT(pool_size, invalid_input, 300)
{
	unsigned long psize = HT_PSIZE(variant), oc = ~0UL;
	int nodes[HT_MAX_NODES];
	int nn = ht_memory_nodes(nodes, HT_MAX_NODES);

	bad_counts(_metadata, pool_file(psize, -1, "nr_hugepages"));
	bad_counts(_metadata, pool_file(psize, -1, "nr_hugepages_mempolicy"));
	for (int i = 0; i < nn; i++)
		if (!access(pool_file(psize, nodes[i], "nr_hugepages"), F_OK))
			bad_counts(_metadata,
				   pool_file(psize, nodes[i], "nr_hugepages"));
	HT_POOL_CHECK(&self->m, "invalid nr_hugepages writes");
	if (psize > ht_pmd_size()) {
		/*
		 * nr_overcommit_hugepages_store(): a gigantic size has no
		 * surplus pages at all, whatever the text.
		 */
		WRITE_EXPECT(pool_file(psize, -1, "nr_overcommit_hugepages"),
			     "1", EINVAL);
		WRITE_EXPECT(pool_file(psize, -1, "nr_overcommit_hugepages"),
			     "abc", EINVAL);
	} else {
		bad_counts(_metadata,
			   pool_file(psize, -1, "nr_overcommit_hugepages"));
	}
	/* read-only reports */
	WRITE_EXPECT(pool_file(psize, -1, "free_hugepages"), "1", EACCES);
	WRITE_EXPECT(pool_file(psize, -1, "resv_hugepages"), "1", EACCES);
	WRITE_EXPECT(pool_file(psize, -1, "surplus_hugepages"), "1", EACCES);
	EXPECT_EQ(0,
		  ht_read_ulong(pool_file(psize, -1, "nr_overcommit_hugepages"),
				&oc));
	EXPECT_EQ(self->m.want.overcommit, oc);
	HT_POOL_CHECK(&self->m, "invalid writes");
}

/* nr_overcommit_hugepages: stored and shown; gigantic sizes refuse it. */
TEST_F_TIMEOUT(pool_size, overcommit_store, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct path path_p = pool_path(psize, -1, "nr_overcommit_hugepages");
	const char *path = path_p.s;
	struct ht_pool *w = &self->m.want;

	if (psize > ht_pmd_size()) {
		WRITE_EXPECT(path, "0", EINVAL);
		HT_POOL_CHECK(&self->m, "overcommit on a gigantic size");
		return;
	}
	ASSERT_EQ(0, write_nr(path, w->overcommit + 3));
	w->overcommit += 3;
	HT_POOL_CHECK(&self->m, "overcommit + 3");
	ASSERT_EQ(0, ht_write_str(path, "0\n"));
	w->overcommit = 0;
	HT_POOL_CHECK(&self->m, "overcommit 0");
}

/* ---- per node ---- */

FIXTURE(pool_node)
{
	struct ht_env env;
	struct ht_pool_model g, n[2];
	int node[2];
	unsigned long k; /* pages a step moves: what a node surely has */
};

FIXTURE_VARIANT(pool_node)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(pool_node, huge);

FIXTURE_SETUP(pool_node)
{
	/* a VM node of 3 GiB holds two 1 GiB pages, not three */
	unsigned long k = HT_PSIZE(variant) == ht_pud_size() ? 1 : 2;
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.nodes = 2,
		.pages_per_node = k,
		.sysctls = { hvo_sysctl() },
	};

	self->k = k;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	for (int i = 0; i < 2; i++) {
		self->node[i] = self->env.nodes[i];
		ASSERT_EQ(0, ht_pool_model_init(&self->n[i], HT_PSIZE(variant),
						self->node[i]));
	}
	ASSERT_EQ(0, ht_pool_model_init(&self->g, HT_PSIZE(variant), -1));
}

FIXTURE_TEARDOWN_PARENT(pool_node)
{
	HT_TEARDOWN(&self->env);
}

#define NODE_CHECK(step)                          \
	do {                                      \
		HT_POOL_CHECK(&self->g, step);    \
		HT_POOL_CHECK(&self->n[0], step); \
		HT_POOL_CHECK(&self->n[1], step); \
		check_reports(_metadata, step);   \
	} while (0)

/* A node's nr_hugepages changes that node only (kobj_to_node_hstate). */
TEST_F_TIMEOUT(pool_node, node_shrink_then_grow, 300)
{
	struct path nr =
		pool_path(HT_PSIZE(variant), self->node[1], "nr_hugepages");
	struct ht_pool *g = &self->g.want, *n1 = &self->n[1].want;
	unsigned long start, k = self->k;

	if (HT_PSIZE(variant) == ht_pud_size()) {
		/* the 1 GiB rule: shrink only what the case allocated */
		if (!grow_runtime(_metadata, self->node[1], k, g, n1))
			return;
		NODE_CHECK("node 1 growing at run time");
	}
	start = n1->nr;
	ASSERT_EQ(0, write_nr(nr.s, start - k));
	model_set_max(g, n1, node_count(g, n1, start - k));
	NODE_CHECK("node 1 shrinking");
	ASSERT_EQ(0, write_nr(nr.s, start));
	model_set_max(g, n1, node_count(g, n1, start));
	grew_back(_metadata, &self->n[1], "node 1 growing back");
	NODE_CHECK("node 1 growing back");
}

TEST_F_TIMEOUT(pool_node, node_shrink_below_in_use, 300)
{
	unsigned long psize = HT_PSIZE(variant), k = self->k;
	struct path nr = pool_path(psize, self->node[1], "nr_hugepages");
	struct ht_pool *g = &self->g.want, *n1 = &self->n[1].want;
	unsigned long held = k, count = 0;
	struct held h;

	if (psize == ht_pud_size()) {
		/*
		 * The 1 GiB rule: k fresh pages on node 1, every node 1
		 * page in use, and the count down to the case's start, not
		 * 0: the k pages' worth becomes surplus all the same.
		 */
		if (!grow_runtime(_metadata, self->node[1], k, g, n1))
			return;
		NODE_CHECK("node 1 growing at run time");
		ASSERT_EQ(n1->nr, n1->free)
		TH_LOG("someone uses node 1's pages");
		held = n1->free;
		count = n1->nr - k;
	}
	/* faults under MPOL_BIND take node 1's free pages */
	bind_to(_metadata, self->node[1]);
	hold(_metadata, &h, psize, held, true);
	unbind();
	g->free -= held, n1->free -= held;
	NODE_CHECK("faulting pages on node 1");
	ASSERT_EQ(0, write_nr(nr.s, count));
	model_set_max(g, n1, node_count(g, n1, count));
	EXPECT_EQ(k, n1->surplus) TH_LOG("the model: node 1's in-use pages");
	NODE_CHECK("node 1 nr_hugepages lowered with pages in use");
	release(&h);
	model_free_pages(g, n1, held);
	NODE_CHECK("freeing the pages");
}

/*
 * A count so large that adding the other nodes' pages overflows: the
 * kernel reads it as "as many as possible" on that node.
 */
TEST_F_TIMEOUT(pool_node, node_count_overflow, 300)
{
	struct path nr =
		pool_path(HT_PSIZE(variant), self->node[1], "nr_hugepages");
	struct ht_pool *g = &self->g.want, *n1 = &self->n[1].want;
	unsigned long start = n1->nr, got;

	/* node 0's persistent pages (setup gave it some) make the sum wrap */
	ASSERT_GT(g->nr - g->surplus, n1->nr - n1->surplus);
	got = bounded_write(_metadata, nr.s, "18446744073709551615");
	EXPECT_GE(got, start);
	EXPECT_LT(got, ~0UL);
	g->nr += got - start, g->free += got - start;
	n1->nr = got, n1->free += got - start;
	NODE_CHECK("node 1 nr_hugepages = ULONG_MAX");
	ASSERT_EQ(0, write_nr(nr.s, start));
	model_set_max(g, n1, node_count(g, n1, start));
	NODE_CHECK("node 1 back to its start");
}

/*
 * nr_hugepages_mempolicy obeys the writer's MPOL_BIND
 * (init_nodemask_of_mempolicy()): shrinking and growing touch the bound
 * node only.  nr_hugepages does not, and frees round-robin over the
 * memory nodes (remove_pool_hugetlb_folio()).  The growth re-takes the
 * memory the shrink gave back: a VM node has room for few 1 GiB pages.
 */
TEST_F_TIMEOUT(pool_node, mempolicy_sysfs, 300)
{
	struct path mp =
		pool_path(HT_PSIZE(variant), -1, "nr_hugepages_mempolicy");
	struct path nr = pool_path(HT_PSIZE(variant), -1, "nr_hugepages");
	struct ht_pool *g = &self->g.want;
	unsigned long start, k = self->k, v = ~0UL;
	int got = -1;

	/*
	 * The 1 GiB rule: k fresh pages on each node, since the unbound
	 * shrink below takes from whichever node is next to free.
	 */
	for (int i = 0; HT_PSIZE(variant) == ht_pud_size() && i < 2; i++) {
		if (!grow_runtime(_metadata, self->node[i], k, g,
				  &self->n[i].want))
			return;
		NODE_CHECK("growing at run time");
	}
	start = g->nr;
	bind_to(_metadata, self->node[1]);
	ASSERT_EQ(0, write_nr(mp.s, start - k));
	model_set_max(g, &self->n[1].want, start - k);
	NODE_CHECK("nr_hugepages_mempolicy down, bound to node 1");
	/* it shows the global count, like nr_hugepages */
	ASSERT_EQ(0, ht_read_ulong(mp.s, &v));
	EXPECT_EQ(g->nr, v);
	ASSERT_EQ(0, write_nr(mp.s, start));
	model_set_max(g, &self->n[1].want, start);
	grew_back(_metadata, &self->n[1], "nr_hugepages_mempolicy up");
	NODE_CHECK("nr_hugepages_mempolicy up, bound to node 1");
	ASSERT_EQ(0, write_nr(nr.s, start - k));
	unbind();
	g->nr -= k, g->free -= k;
	if (k == 2) {
		/* two frees in a row take two different nodes */
		for (int i = 0; i < 2; i++)
			self->n[i].want.nr--, self->n[i].want.free--;
	} else {
		/* one: the hstate's next node to free, whichever that is */
		for (int i = 0; i < 2; i++) {
			struct ht_pool p = ht_pool_get(
				_metadata, HT_PSIZE(variant), self->node[i]);

			if (p.nr + 1 == self->n[i].want.nr)
				got = i;
		}
		ASSERT_GE(got, 0) TH_LOG("no node lost a page");
		self->n[got].want.nr--, self->n[got].want.free--;
	}
	NODE_CHECK("nr_hugepages down (policy ignored)");
}

/* ---- the vm.* sysctls (default size) ---- */

FIXTURE(pool_sysctl)
{
	struct ht_env env;
	struct ht_pool_model m;
	unsigned long psize;
};

FIXTURE_VARIANT(pool_sysctl)
{
	enum ht_level level;
};

/*
 * vm.nr_hugepages* are the default size's: 2 MiB on x86_64 and in the VM
 * (default_hugepagesz=2M); a kernel booted with another default SKIPs.
 */
HT_ADD_SIZE_VARIANT_2M(pool_sysctl, huge);

FIXTURE_SETUP(pool_sysctl)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
	};
	char sz[HT_SIZE_NAME_LEN];

	self->psize = HT_PSIZE(variant);
	if (ht_default_page_size() != self->psize)
		SKIP(return, "vm.nr_hugepages* act on the default size, %s",
			   ht_size_name_r(ht_default_page_size(), sz,
					  sizeof(sz)));
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_pool_model_init(&self->m, self->psize, -1));
}

FIXTURE_TEARDOWN_PARENT(pool_sysctl)
{
	HT_TEARDOWN(&self->env);
}

/*
 * vm.nr_hugepages is the default size's pool (hugetlb_sysctl_handler):
 * proc_doulongvec_minmax() parses with base 0, so hex is a count, and
 * every refusal is -EINVAL, an overflow too (proc_get_long()).
 */
TEST_F_TIMEOUT(pool_sysctl, nr_hugepages, 300)
{
	const char *path = "/proc/sys/vm/nr_hugepages";
	struct ht_pool *w = &self->m.want;
	unsigned long start = w->nr, v = ~0UL;
	char buf[32];

	ASSERT_EQ(0, ht_read_ulong(path, &v));
	EXPECT_EQ(w->nr, v);
	ASSERT_EQ(0, write_nr(path, start - 2));
	model_set_max(w, NULL, start - 2);
	HT_POOL_CHECK(&self->m, "vm.nr_hugepages - 2");
	check_reports(_metadata, "vm.nr_hugepages - 2");
	snprintf(buf, sizeof(buf), "%#lx\n", start);
	ASSERT_EQ(0, ht_write_str(path, buf));
	model_set_max(w, NULL, start);
	HT_POOL_CHECK(&self->m, "vm.nr_hugepages + 2 in hex");
	check_reports(_metadata, "vm.nr_hugepages + 2 in hex");
	WRITE_EXPECT(path, "abc", EINVAL);
	WRITE_EXPECT(path, "-1", EINVAL);
	WRITE_EXPECT(path, TOO_BIG, EINVAL);
	WRITE_EXPECT("/proc/sys/vm/nr_hugepages_mempolicy", "-1", EINVAL);
	HT_POOL_CHECK(&self->m, "invalid vm.nr_hugepages writes");
	ASSERT_EQ(0, ht_read_ulong(path, &v));
	EXPECT_EQ(w->nr, v);
}

/* hugetlb_overcommit_handler(): the default size's overcommit. */
TEST_F_TIMEOUT(pool_sysctl, nr_overcommit_hugepages, 300)
{
	const char *path = "/proc/sys/vm/nr_overcommit_hugepages";
	struct ht_pool *w = &self->m.want;
	unsigned long v = ~0UL;

	ASSERT_EQ(0, ht_read_ulong(path, &v));
	EXPECT_EQ(w->overcommit, v);
	ASSERT_EQ(0, write_nr(path, w->overcommit + 5));
	w->overcommit += 5;
	HT_POOL_CHECK(&self->m, "vm.nr_overcommit_hugepages + 5");
	WRITE_EXPECT(path, "abc", EINVAL);
	WRITE_EXPECT(path, "-1", EINVAL);
	WRITE_EXPECT(path, TOO_BIG, EINVAL);
	HT_POOL_CHECK(&self->m, "invalid vm.nr_overcommit_hugepages writes");
	ASSERT_EQ(0, ht_read_ulong(path, &v));
	EXPECT_EQ(w->overcommit, v);
}

/* hugetlb_mempolicy_sysctl_handler(): the pages land on the bound node. */
TEST_F_TIMEOUT(pool_sysctl, nr_hugepages_mempolicy_bind, 300)
{
	const char *path = "/proc/sys/vm/nr_hugepages_mempolicy";
	struct ht_pool_model n[2];
	int nodes[HT_MAX_NODES];
	struct ht_pool *g = &self->m.want;
	unsigned long start = g->nr, v = ~0UL;
	char why[HT_WHY_LEN];
	const char *r = ht_probe_nodes_r(2, why, sizeof(why));

	if (r)
		SKIP(return, "%s", r);
	ASSERT_GE(ht_memory_nodes(nodes, HT_MAX_NODES), 2);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, ht_pool_model_init(&n[i], self->psize, nodes[i]));
	bind_to(_metadata, nodes[1]);
	ASSERT_EQ(0, write_nr(path, start + 2));
	model_set_max(g, &n[1].want, start + 2);
	HT_POOL_CHECK(&self->m, "vm.nr_hugepages_mempolicy + 2");
	HT_POOL_CHECK(&n[0], "vm.nr_hugepages_mempolicy + 2 (node 0)");
	HT_POOL_CHECK(&n[1], "vm.nr_hugepages_mempolicy + 2 (node 1)");
	check_reports(_metadata, "vm.nr_hugepages_mempolicy + 2");
	ASSERT_EQ(0, ht_read_ulong(path, &v));
	EXPECT_EQ(g->nr, v);
	ASSERT_EQ(0, write_nr(path, start));
	model_set_max(g, &n[1].want, start);
	unbind();
	HT_POOL_CHECK(&self->m, "vm.nr_hugepages_mempolicy back");
	HT_POOL_CHECK(&n[0], "vm.nr_hugepages_mempolicy back (node 0)");
	HT_POOL_CHECK(&n[1], "vm.nr_hugepages_mempolicy back (node 1)");
}

/*
 * show_mem() (sysrq m) prints hugetlb_show_meminfo_node() for every
 * online node and size: "Node N hugepages_total=T hugepages_free=F
 * hugepages_surp=S hugepages_size=KkB".
 */
TEST_F_TIMEOUT(pool_sysctl, show_mem_node_lines, 300)
{
	unsigned long sizes[HT_MAX_SIZES];
	int ns = ht_page_sizes(sizes, HT_MAX_SIZES), lines = 0, want = 0;
	int nodes[HT_MAX_NODES], nn = ht_memory_nodes(nodes, HT_MAX_NODES);
	int fd = ht_kmsg_open();
	char rec[1024];
	ssize_t len;

	if (access("/proc/sysrq-trigger", W_OK))
		SKIP(return, "no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ)");
	ASSERT_GE(fd, 0) TH_LOG("/dev/kmsg: %s", strerror(-fd));
	ASSERT_EQ(0, ht_write_str("/proc/sysrq-trigger", "m"));
	while ((len = read(fd, rec, sizeof(rec) - 1)) != 0) {
		unsigned long t, f, s, kb;
		struct ht_pool p;
		char *msg;
		int node;

		if (len < 0 && errno == EPIPE)
			continue;
		if (len < 0)
			break;
		rec[len] = '\0';
		msg = strchr(rec, ';');
		if (!msg ||
		    sscanf(msg + 1,
			   "Node %d hugepages_total=%lu hugepages_free=%lu hugepages_surp=%lu hugepages_size=%lukB",
			   &node, &t, &f, &s, &kb) != 5)
			continue;
		lines++;
		ASSERT_EQ(0, ht_pool_read(kb * HT_KB, node, &p))
		TH_LOG("no %lukB pool on node %d", kb, node);
		EXPECT_EQ(p.nr, t) TH_LOG("node %d %lukB total", node, kb);
		EXPECT_EQ(p.free, f) TH_LOG("node %d %lukB free", node, kb);
		EXPECT_EQ(p.surplus, s) TH_LOG("node %d %lukB surp", node, kb);
	}
	close(fd);
	for (int i = 0; i < nn; i++)
		want += ns;
	/* every online node has a line per size; memory nodes at least */
	EXPECT_GE(lines, want);
}

/* ---- demotion: a free 1 GiB page into 512 free 2 MiB pages ---- */

FIXTURE(pool_demote)
{
	struct ht_env env;
	struct ht_pool_model big, small, big_n[2], small_n[2];
	int nnodes, node[2];
};

FIXTURE_VARIANT(pool_demote)
{
	enum ht_level level;
};

/* The page demoted: 1 GiB, the one size with a smaller one below it. */
HT_ADD_SIZE_VARIANT_1G(pool_demote, huge);

FIXTURE_SETUP(pool_demote)
{
	struct ht_needs needs = { .page_size = HT_PSIZE(variant), .pages = 1 };
	char why[HT_WHY_LEN];
	const char *r = ht_probe_page_size_r(ht_pmd_size(), why, sizeof(why));

	if (r)
		SKIP(return, "%s", r);
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, access(pool_file(ht_pud_size(), -1, "demote"), F_OK))
	TH_LOG("1G pool without demote (the kernel has no demote order)");
	ASSERT_EQ(0, ht_pool_model_init(&self->big, ht_pud_size(), -1));
	ASSERT_EQ(0, ht_pool_model_init(&self->small, ht_pmd_size(), -1));
	self->nnodes = self->env.nnodes < 2 ? self->env.nnodes : 2;
	for (int i = 0; i < self->nnodes; i++) {
		self->node[i] = self->env.nodes[i];
		ASSERT_EQ(0, ht_pool_model_init(&self->big_n[i], ht_pud_size(),
						self->node[i]));
		ASSERT_EQ(0, ht_pool_model_init(&self->small_n[i],
						ht_pmd_size(), self->node[i]));
	}
}

FIXTURE_TEARDOWN_PARENT(pool_demote)
{
	/* demote_size: 2M is the only value a write here can leave */
	HT_TEARDOWN(&self->env);
}

static void demote_check(struct __test_metadata *_metadata,
			 FIXTURE_DATA(pool_demote) * self, const char *step)
{
	HT_POOL_CHECK(&self->big, step);
	HT_POOL_CHECK(&self->small, step);
	for (int i = 0; i < self->nnodes; i++) {
		HT_POOL_CHECK(&self->big_n[i], step);
		HT_POOL_CHECK(&self->small_n[i], step);
	}
	check_reports(_metadata, step);
}

/* demote_size_store(): a size with an hstate smaller than 1G, or EINVAL */
TEST_F_TIMEOUT(pool_demote, demote_size, 300)
{
	struct path path_p = pool_path(ht_pud_size(), -1, "demote_size");
	const char *path = path_p.s;
	char buf[64];

	ASSERT_EQ(0, ht_read_file(path, buf, sizeof(buf)));
	EXPECT_STREQ("2048kB\n", buf);
	WRITE_EXPECT(path, "abc", EINVAL); /* memparse() gives 0 */
	WRITE_EXPECT(path, "4K", EINVAL); /* no 4K hstate */
	WRITE_EXPECT(path, "1G", EINVAL); /* not smaller than the page */
	WRITE_EXPECT(path, "2G", EINVAL);
	WRITE_EXPECT(path, "2M", 0);
	WRITE_EXPECT(path, "2048K\n", 0);
	ASSERT_EQ(0, ht_read_file(path, buf, sizeof(buf)));
	EXPECT_STREQ("2048kB\n", buf);
	/* a node's demote_size is the same hstate's */
	ASSERT_EQ(0, ht_read_file(pool_file(ht_pud_size(), self->node[0],
					    "demote_size"),
				  buf, sizeof(buf)));
	EXPECT_STREQ("2048kB\n", buf);
	demote_check(_metadata, self, "demote_size writes");
}

static void model_demote(FIXTURE_DATA(pool_demote) * self, int i)
{
	unsigned long k = ht_pud_size() / (ht_pmd_size());

	self->big.want.nr--, self->big.want.free--;
	self->small.want.nr += k, self->small.want.free += k;
	if (i < 0)
		return;
	self->big_n[i].want.nr--, self->big_n[i].want.free--;
	self->small_n[i].want.nr += k, self->small_n[i].want.free += k;
}

TEST_F_TIMEOUT(pool_demote, demote_one, 300)
{
	struct path path_p = pool_path(ht_pud_size(), -1, "demote");
	const char *path = path_p.s;
	int on = -1;

	/*
	 * The 1 GiB rule: a fresh page on each node, since the demoted one
	 * comes from whichever node is next to free; the teardown then only
	 * frees pages (the 2M ones, and the other node's fresh 1G page).
	 */
	for (int i = 0; i < self->nnodes; i++) {
		if (!grow_runtime(_metadata, self->node[i], 1, &self->big.want,
				  &self->big_n[i].want))
			return;
		demote_check(_metadata, self, "a fresh 1G page on each node");
	}
	WRITE_EXPECT(path, "abc", EINVAL);
	WRITE_EXPECT(path, "-1", EINVAL);
	demote_check(_metadata, self, "invalid demote writes");
	/* "0" is a loop that never starts */
	WRITE_EXPECT(path, "0", 0);
	demote_check(_metadata, self, "demote 0");
	WRITE_EXPECT(path, "1", 0);
	/*
	 * demote_pool_huge_page() starts at the hstate's next node to
	 * free: the page's node is the one whose 1G count fell.
	 */
	for (int i = 0; i < self->nnodes; i++) {
		struct ht_pool p;

		ASSERT_EQ(0, ht_pool_read(ht_pud_size(), self->node[i], &p));
		if (p.nr + 1 == self->big_n[i].want.nr)
			on = i;
	}
	ASSERT_GE(on, 0) TH_LOG("no node lost a 1G page");
	model_demote(self, on);
	demote_check(_metadata, self, "demote 1");
}

/* A node's demote file takes the page from that node. */
TEST_F_TIMEOUT(pool_demote, demote_on_node, 300)
{
	char why[HT_WHY_LEN];
	const char *r = ht_probe_nodes_r(2, why, sizeof(why));

	if (r)
		SKIP(return, "%s", r);
	/* the 1 GiB rule: demote a page the case allocated on node 1 */
	if (!grow_runtime(_metadata, self->node[1], 1, &self->big.want,
			  &self->big_n[1].want))
		return;
	demote_check(_metadata, self, "a fresh 1G page on node 1");
	WRITE_EXPECT(pool_file(ht_pud_size(), self->node[1], "demote"), "1", 0);
	model_demote(self, 1);
	demote_check(_metadata, self, "node 1 demote 1");
}

/*
 * demote_store(): no free page beyond the reserved ones is not an error;
 * the write succeeds and nothing moves.
 */
TEST_F_TIMEOUT(pool_demote, demote_nothing_free, 300)
{
	unsigned long k = self->big.want.free - self->big.want.resv;
	struct held h;

	ASSERT_GT(k, 0);
	hold(_metadata, &h, ht_pud_size(), k, false);
	self->big.want.resv += k;
	demote_check(_metadata, self, "reserving every free 1G page");
	WRITE_EXPECT(pool_file(ht_pud_size(), -1, "demote"), "1", 0);
	demote_check(_metadata, self, "demote with nothing unreserved");
	release(&h);
	self->big.want.resv -= k;
	demote_check(_metadata, self, "dropping the reservation");
}

/* ---- HVO: vm.hugetlb_optimize_vmemmap while the pool moves ---- */

FIXTURE(pool_hvo)
{
	struct ht_env env;
	struct ht_pool_model m;
};

FIXTURE_VARIANT(pool_hvo)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(pool_hvo, huge);

FIXTURE_SETUP(pool_hvo)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1, /* the memory for the one fresh page exists */
		.caps = { CAP_SYS_ADMIN /* PFNs, kpageflags */ },
		.sysctls = { "vm/hugetlb_optimize_vmemmap" },
	};

	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_pool_model_init(&self->m, HT_PSIZE(variant), -1));
}

FIXTURE_TEARDOWN_PARENT(pool_hvo)
{
	HT_TEARDOWN(&self->env);
}

/* KPF_HUGE and head/tail on the first and last 4 KiB of the page. */
static void expect_page_flags(struct __test_metadata *_metadata, void *addr,
			      unsigned long psize, const char *step)
{
	uint64_t pfn = ht_pfn_of(_metadata, 0, (unsigned long)addr), f = 0;
	uint64_t last =
		ht_pfn_of(_metadata, 0,
			  (unsigned long)addr + psize - ht_base_page_size());

	EXPECT_EQ(pfn + psize / ht_base_page_size() - 1, last);
	ASSERT_EQ(0, ht_kpageflags_read(pfn, &f));
	EXPECT_EQ(1, (f >> KPF_HUGE) & 1) TH_LOG("head KPF_HUGE, %s", step);
	EXPECT_EQ(1, (f >> KPF_COMPOUND_HEAD) & 1)
	TH_LOG("KPF_COMPOUND_HEAD, %s", step);
	ASSERT_EQ(0, ht_kpageflags_read(last, &f));
	EXPECT_EQ(1, (f >> KPF_HUGE) & 1) TH_LOG("tail KPF_HUGE, %s", step);
	EXPECT_EQ(1, (f >> KPF_COMPOUND_TAIL) & 1)
	TH_LOG("KPF_COMPOUND_TAIL, %s", step);
}

/*
 * One fresh page allocated with the knob at @on_alloc, used, and freed
 * to the buddy allocator with it at @on_free.  2 MiB: the pool is
 * emptied of free pages first so the page freed at the end is the fresh
 * one.  1 GiB (the rule: no boot page freed): everything happens on one
 * node, through its nr_hugepages and with faults bound there; a node's
 * free list is LIFO (enqueue_hugetlb_folio() adds at the head, the fault
 * and the shrink take the head), so the fresh page is the one mapped and
 * then the one freed.
 */
static void hvo_cycle(struct __test_metadata *_metadata,
		      FIXTURE_DATA(pool_hvo) * self, unsigned long psize,
		      bool on_alloc, bool on_free)
{
	int node = psize == ht_pud_size() ? self->env.nodes[0] : -1;
	struct path nr_p = pool_path(psize, -1, "nr_hugepages");
	const char *nr = nr_p.s;
	long saving = ht_hvo_saving(psize), mm;
	struct ht_pool *w = &self->m.want;
	struct held h;

	ASSERT_EQ(0, w->resv) TH_LOG("someone holds a reservation");
	if (node < 0) {
		ASSERT_EQ(0, write_nr(nr, w->nr - w->free));
		model_set_max(w, NULL, w->nr - w->free);
		HT_POOL_CHECK(&self->m, "freeing every free page");
	} else {
		bind_to(_metadata, node);
	}
	ASSERT_EQ(0, write_nr(HVO_SYSCTL, on_alloc));
	mm = ht_memmap_pages();
	if (node < 0) {
		ASSERT_EQ(0, write_nr(nr, w->nr + 1));
		model_set_max(w, NULL, w->nr + 1);
	} else {
		if (!grow_runtime(_metadata, node, 1, w, NULL))
			return;
	}
	HT_POOL_CHECK(&self->m, "allocating one page");
	ht_expect_memmap(_metadata, &mm, on_alloc ? -saving : 0,
			 "allocating one page");
	hold(_metadata, &h, psize, 1, false);
	/* a fresh page is zeroed at its first fault */
	EXPECT_EQ(0, ((volatile uint32_t *)h.p)[0]);
	EXPECT_EQ(0, ((volatile uint32_t *)h.p)[(psize - 4) / 4]);
	w->free--;
	HT_POOL_CHECK(&self->m, "faulting the page");
	ht_pattern_fill(h.p, psize, 0, SEED);
	EXPECT_EQ(-1, ht_pattern_check(h.p, psize, 0, SEED));
	expect_page_flags(_metadata, h.p, psize, "mapped");
	ASSERT_EQ(0, write_nr(HVO_SYSCTL, on_free));
	/* the knob acts on new pages only: the mapped one is untouched */
	EXPECT_EQ(-1, ht_pattern_check(h.p, psize, 0, SEED));
	expect_page_flags(_metadata, h.p, psize, "after the knob flip");
	ht_expect_memmap(_metadata, &mm, 0, "flipping the knob");
	release(&h);
	w->free++;
	HT_POOL_CHECK(&self->m, "freeing the page into the pool");
	ht_expect_memmap(_metadata, &mm, 0, "freeing the page into the pool");
	if (node < 0) {
		ASSERT_EQ(0, write_nr(nr, w->nr - 1));
	} else {
		/* a node's write frees from that node's free list */
		struct ht_pool p = ht_pool_get(_metadata, psize, node);

		ASSERT_EQ(0, ht_pool_set_nr(psize, node, p.nr - 1));
	}
	model_set_max(w, NULL, w->nr - 1);
	HT_POOL_CHECK(&self->m, "freeing the page to the buddy allocator");
	/* restored if and only if it was optimised, whatever the knob */
	ht_expect_memmap(_metadata, &mm, on_alloc ? saving : 0,
			 "freeing the page to the buddy allocator");
	if (node >= 0)
		unbind();
	check_reports(_metadata, "the HVO cycle");
}

TEST_F_TIMEOUT(pool_hvo, alloc_on_free_off, 300)
{
	hvo_cycle(_metadata, self, HT_PSIZE(variant), true, false);
}

TEST_F_TIMEOUT(pool_hvo, alloc_off_free_on, 300)
{
	hvo_cycle(_metadata, self, HT_PSIZE(variant), false, true);
}

TEST_F_TIMEOUT(pool_hvo, alloc_on_free_on, 300)
{
	hvo_cycle(_metadata, self, HT_PSIZE(variant), true, true);
}

HT_MAIN
