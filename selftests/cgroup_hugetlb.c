// SPDX-License-Identifier: GPL-2.0
/*
 * Topic: the cgroup v2 hugetlb controller (mm/hugetlb_cgroup.c).  Every
 * step is followed by a check of every hugetlb.<size>.* file of every
 * group (current, rsvd.current, events and events.local "max", numa_stat
 * total= and N<node>=) and of the pool, against a model whose changes are
 * written from mm/hugetlb.c and mm/hugetlb_cgroup.c (6.12), cited at each
 * step:
 *
 *   fault       alloc_hugetlb_folio() charges hugetlb.current of the
 *               faulting task's group on the page's node; a page that
 *               consumes no reservation (MAP_NORESERVE, a fork child's
 *               COW) charges rsvd.current there too (deferred_reserve);
 *               the charges go when the page is freed.
 *   reserve     hugetlb_reserve_pages() charges rsvd.current of the
 *               mmapping task's group: a shared file's in its resv_map
 *               regions (gone with region_del: truncate, evict), a
 *               private mapping's in the VMA's resv_map (gone with the
 *               VMA, hugetlb_vm_op_close).
 *   limits      page_counter_try_charge() against max / rsvd.max; a
 *               refusal counts in events.local of the task's group and in
 *               events of it and its ancestors (hugetlb_event()).
 *   rmdir       hugetlb_cgroup_css_offline() moves page charges to the
 *               parent; reservations keep the offline group (css ref).
 *   migration   hugetlb_cgroup_migrate() hands the charge to the new page.
 *   numa_stat   per-node usage follows the page in both
 *               (hugetlb_cgroup_move_usage(), "mm/hugetlb_cgroup: move
 *               per-node usage on cross node migration" and "... on
 *               cgroup reparenting", 6.12.117; kernels without them are
 *               pinned in expected/).
 *
 * The groups: hgmt-<pid> (TOP, +hugetlb for its children) with children
 * "a" and "b" that the case's tasks move into.  A shared file's page
 * mapped at 4 KiB (HGM) must be charged exactly as when it is mapped huge:
 * once, to the group that allocated it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ht_harness.h"

enum { TOP, A, B, NGROUPS, ORIG = -1 };
static const char *const group_name[NGROUPS] = { "top", "a", "b" };

/* What one group's files must read, in huge pages. */
struct cg_want {
	long cur, rsvd; /* current, rsvd.current */
	long ev, ev_local; /* "max" of events and events.local */
	long node[HT_MAX_NODES]; /* numa_stat N<node>= */
};

struct cg_fix {
	struct ht_env env;
	struct ht_pool_model pool;
	unsigned long psize;
	char path[NGROUPS][256]; /* "" once removed */
	struct cg_want want[NGROUPS];
	int in; /* the group the test task is in, ORIG at first */
};

/* Every fixture: the same data, its own needs. */
#define CG_FIXTURE(name)                   \
	FIXTURE(name)                      \
	{                                  \
		struct cg_fix f;           \
	};                                 \
	FIXTURE_VARIANT(name)              \
	{                                  \
		HT_VARIANT_FIELDS;         \
	};                                 \
	FIXTURE_TEARDOWN_PARENT(name)      \
	{                                  \
		HT_TEARDOWN(&self->f.env); \
	}

/* After HT_SETUP_OR_SKIP: the model and the groups "a" and "b". */
static void fix_init(struct __test_metadata *_metadata, struct cg_fix *f,
		     unsigned long psize)
{
	int ret = ht_pool_model_init(&f->pool, psize, -1);

	f->psize = psize;
	f->in = ORIG;
	memset(f->want, 0, sizeof(f->want));
	snprintf(f->path[TOP], sizeof(f->path[TOP]), "%s", f->env.cg.top);
	for (int g = A; !ret && g < NGROUPS; g++)
		ret = ht_cg_mkdir(&f->env.cg, group_name[g], f->path[g],
				  sizeof(f->path[g]));
	if (ret) {
		/* A failed setup gets no teardown: put everything back. */
		ht_teardown(&f->env, NULL, 0);
		ASSERT_EQ(0, ret) TH_LOG("cgroups: %s", strerror(-ret));
	}
}

static void charge_one(struct cg_want *w, long cur, long rsvd, int node)
{
	w->cur += cur;
	w->rsvd += rsvd;
	if (node >= 0)
		w->node[node] += cur;
}

/*
 * A change of group @g's charges (@node: where the pages are, -1 for a
 * reservation): hugetlb_cgroup counters are hierarchical, so TOP moves
 * with its children.  Tasks outside TOP charge nothing we read.
 */
static void charge(struct cg_fix *f, int g, long cur, long rsvd, int node)
{
	if (g == ORIG)
		return;
	charge_one(&f->want[g], cur, rsvd, node);
	if (g != TOP)
		charge_one(&f->want[TOP], cur, rsvd, node);
}

/* hugetlb_event(): events.local of the task's group, events up to TOP. */
static void event(struct cg_fix *f, int g)
{
	f->want[g].ev_local++;
	f->want[g].ev++;
	if (g != TOP)
		f->want[TOP].ev++;
}

static void move_to(struct __test_metadata *_metadata, struct cg_fix *f, int g)
{
	int ret = ht_cg_move(g == ORIG ? f->env.cg.orig : f->path[g], 0);

	ASSERT_EQ(0, ret)
	TH_LOG("moving to group %s: %s",
	       g == ORIG ? "of origin" : group_name[g], strerror(-ret));
	f->in = g;
}

static void check_key(struct __test_metadata *_metadata, struct cg_fix *f,
		      int g, const char *file, const char *key, long want,
		      const char *step)
{
	unsigned long v = 0;
	char sz[HT_SIZE_NAME_LEN];
	int ret = ht_cg_read_key(f->path[g], f->psize, file, key, &v);

	EXPECT_EQ(0, ret)
	TH_LOG("%s: hugetlb.%s.%s %s: %s", group_name[g],
	       ht_cg_size_name(f->psize, sz, sizeof(sz)), file, key,
	       strerror(-ret));
	EXPECT_EQ(want, (long)v)
	TH_LOG("%s hugetlb.%s.%s %s after %s: read %lu", group_name[g],
	       ht_cg_size_name(f->psize, sz, sizeof(sz)), file, key, step, v);
}

static void check_value(struct __test_metadata *_metadata, struct cg_fix *f,
			int g, const char *file, long want, const char *step)
{
	unsigned long v = 0;
	char sz[HT_SIZE_NAME_LEN];
	int ret = ht_cg_read(f->path[g], f->psize, file, &v);

	EXPECT_EQ(0, ret)
	TH_LOG("%s: hugetlb.%s.%s: %s", group_name[g],
	       ht_cg_size_name(f->psize, sz, sizeof(sz)), file, strerror(-ret));
	EXPECT_EQ(want, (long)v)
	TH_LOG("%s hugetlb.%s.%s after %s: read %lu", group_name[g],
	       ht_cg_size_name(f->psize, sz, sizeof(sz)), file, step, v);
}

/* Every file of every group, and the pool, after @step. */
static void check(struct __test_metadata *_metadata, struct cg_fix *f,
		  const char *step)
{
	long ps = (long)f->psize;
	char key[16];

	HT_POOL_CHECK(&f->pool, step);
	for (int g = 0; g < NGROUPS; g++) {
		const struct cg_want *w = &f->want[g];

		if (!f->path[g][0])
			continue;
		check_value(_metadata, f, g, "current", w->cur * ps, step);
		check_value(_metadata, f, g, "rsvd.current", w->rsvd * ps,
			    step);
		check_key(_metadata, f, g, "events", "max", w->ev, step);
		check_key(_metadata, f, g, "events.local", "max", w->ev_local,
			  step);
		check_key(_metadata, f, g, "numa_stat", "total", w->cur * ps,
			  step);
		for (int i = 0; i < f->env.nnodes; i++) {
			int n = f->env.nodes[i];

			snprintf(key, sizeof(key), "N%d", n);
			check_key(_metadata, f, g, "numa_stat", key,
				  w->node[n] * ps, step);
		}
	}
}

/* si_code of a one-byte write (0: none, -signo for another signal). */
static int write_code(char *p)
{
	struct ht_sigbus sb;

	ht_access(p, true, 0x5a, &sb);
	return sb.hit ? (sb.signo == SIGBUS ? sb.code : -sb.signo) : 0;
}

/*
 * Writes to the page at @p, which must be allocated now, as a task of the
 * current group; @reserved: a reservation covers it (no rsvd charge).
 * Returns the node the page landed on.
 */
static int fault(struct __test_metadata *_metadata, struct cg_fix *f, char *p,
		 bool reserved)
{
	int node, code = write_code(p);

	EXPECT_EQ(0, code) TH_LOG("fault at %p: signal code %d", p, code);
	if (code)
		return -1;
	node = ht_page_node(0, p);
	EXPECT_LE(0, node) TH_LOG("node of %p: %d", p, node);
	if (node < 0 || node >= HT_MAX_NODES)
		return -1;
	charge(f, f->in, 1, reserved ? 0 : 1, node);
	ht_pool_model_move(&f->pool, 0, -1, reserved ? -1 : 0, 0);
	return node;
}

/* A write the group's limit refuses: SIGBUS, an event, nothing charged. */
static void fault_refused(struct __test_metadata *_metadata, struct cg_fix *f,
			  char *p)
{
	EXPECT_EQ(BUS_ADRERR, write_code(p)) TH_LOG("fault beyond the limit");
	event(f, f->in);
}

static void *map_anon(unsigned long psize, unsigned long n, int flags)
{
	return mmap(NULL, n * psize, PROT_READ | PROT_WRITE,
		    flags | MAP_ANONYMOUS | MAP_HUGETLB |
			    (ht_size_shift(psize) << MAP_HUGE_SHIFT),
		    -1, 0);
}

static void unmap_populated(void *p, size_t len, int uffd)
{
	munmap(p, len);
	if (uffd >= 0)
		close(uffd);
}

/* ---- a shared file, mapped huge or at 4 KiB (HGM) ---- */
CG_FIXTURE(cg_shared)
HT_ADD_VARIANTS(cg_shared);

FIXTURE_SETUP(cg_shared)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
		.cgroup = true,
	};

	HT_SETUP_OR_SKIP(&needs, &self->f.env);
	fix_init(_metadata, &self->f, HT_PSIZE(variant));
}

/*
 * A file of 2 pages mapped shared: the reservation is charged at mmap,
 * each page at its fault, and a second mapping of a cached page (huge or
 * at 4 KiB) charges nothing.  The file keeps both past munmap; truncate
 * frees the page and deletes the region, and so both charges.
 */
TEST_F_TIMEOUT(cg_shared, file_fault_truncate, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	int n0, n1, uffd;
	struct ht_file file;
	char *p, *q;

	move_to(_metadata, f, A);
	ASSERT_EQ(0, ht_file_create(&file, ps, 2 * ps));
	check(_metadata, f, "ftruncate of a new file (reserves nothing)");
	p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	/* hugetlb_reserve_pages: region_chg 2, charged to A's rsvd. */
	charge(f, A, 0, 2, -1);
	ht_pool_model_move(&f->pool, 0, 0, 2, 0);
	check(_metadata, f, "mmap MAP_SHARED of 2 pages");
	n0 = fault(_metadata, f, p, true);
	check(_metadata, f, "write fault of page 0");
	q = ht_map_populated(&file, 0, ps, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, q) TH_LOG("mapping page 0: %s", strerror(errno));
	EXPECT_EQ(0x5a, q[0]);
	check(_metadata, f,
	      "a second mapping of page 0 (one page, one charge)");
	n1 = fault(_metadata, f, p + ps, true);
	check(_metadata, f, "write fault of page 1");
	unmap_populated(q, ps, uffd);
	munmap(p, 2 * ps);
	check(_metadata, f, "munmap (the file keeps pages and reservation)");

	/* region_del [1, 2): its rsvd charge; the page's charge as it goes. */
	ASSERT_EQ(0, ftruncate(file.fd, ps));
	charge(f, A, -1, -1, n1);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	check(_metadata, f, "ftruncate to 1 page");
	/* The last reference evicts the inode: remove_inode_hugepages. */
	ht_file_close(&file);
	charge(f, A, -1, -1, n0);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	check(_metadata, f, "close (evict)");
}

/*
 * The charge stays with the group that allocated: page 0 is faulted in A;
 * a process in B maps it from the page cache (huge or at 4 KiB) and
 * charges nothing, then the task moves to B and faults page 1 there.
 */
TEST_F_TIMEOUT(cg_shared, charge_stays_with_allocator, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize, addr;
	struct ht_holder h = { .len = ps, .gran = variant->gran };
	struct ht_file file;
	struct ht_child c;
	int n0, n1;
	int64_t r;
	char *p;

	move_to(_metadata, f, A);
	ASSERT_EQ(0, ht_file_create(&file, ps, 2 * ps));
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, A, 0, 1, -1);
	ht_pool_model_move(&f->pool, 0, 0, 1, 0);
	n0 = fault(_metadata, f, p, true);
	munmap(p, ps);
	check(_metadata, f, "mmap + write fault of page 0 in a");

	move_to(_metadata, f, B);
	check(_metadata, f, "moving the task to b (charges stay)");
	h.file = &file;
	ht_start_holder(_metadata, &c, &h, &addr);
	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_READ_ALL, &r));
	EXPECT_EQ(0, r) TH_LOG("b's process reading page 0: code %ld", (long)r);
	/* region_chg finds [0, 1) reserved; the page is in the cache. */
	check(_metadata, f, "a process in b maps and reads page 0");

	p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, B, 0, 1, -1); /* region_chg [1, 2) only */
	ht_pool_model_move(&f->pool, 0, 0, 1, 0);
	check(_metadata, f, "mmap of both pages in b");
	n1 = fault(_metadata, f, p + ps, true);
	check(_metadata, f, "write fault of page 1 in b");
	EXPECT_EQ(0x5a, p[0]) TH_LOG("page 0 seen from b");
	ht_stop_holder(_metadata, &c);
	munmap(p, 2 * ps);
	check(_metadata, f, "munmap in b");

	/* Each region and page uncharges the group that charged it. */
	ASSERT_EQ(0, ftruncate(file.fd, 0));
	charge(f, A, -1, -1, n0);
	charge(f, B, -1, -1, n1);
	ht_pool_model_move(&f->pool, 0, 2, 0, 0);
	check(_metadata, f, "ftruncate to 0");
	ht_file_close(&file);
	check(_metadata, f, "close");
}

/*
 * TOP's cgroup.stat nr_dying_descendants once it reads @want, or after
 * @ms: a removed group stays dying until its last reference goes, and
 * css_release() frees it asynchronously, within milliseconds here.
 */
static long dying(struct __test_metadata *_metadata, struct cg_fix *f,
		  long want, int ms)
{
	unsigned long v = 0;
	int ret = 0;

	for (int t = 0; t <= ms; t += 50) {
		ret = ht_cg_read_keyed(f->path[TOP], "cgroup.stat",
				       "nr_dying_descendants", &v);
		if (ret || (long)v == want)
			break;
		usleep(50 * 1000);
	}
	EXPECT_EQ(0, ret) TH_LOG("top's cgroup.stat: %s", strerror(-ret));
	return (long)v;
}

/* The task leaves a, a goes; its page charges stay counted in TOP. */
static void remove_a(struct __test_metadata *_metadata, struct cg_fix *f)
{
	int ret;

	move_to(_metadata, f, ORIG);
	ret = ht_cg_rmdir(f->path[A]);
	ASSERT_EQ(0, ret) TH_LOG("rmdir a: %s", strerror(-ret));
	EXPECT_EQ(-1, access(f->path[A], F_OK)) TH_LOG("a still there");
	f->path[A][0] = '\0';
}

/*
 * rmdir of a group whose page is still in a file and mapped (huge or at
 * 4 KiB): hugetlb_cgroup_css_offline() moves the page's charge to the
 * parent, so TOP reads as before.  @reserved_in_a: a's task made the
 * reservation, whose rsvd charge is never moved: the file region keeps
 * the offline a (a dying descendant of TOP, still counted in TOP's
 * rsvd.current) until truncate; else the reservation is the root's and
 * nothing keeps a.
 */
static void rmdir_with_page(struct __test_metadata *_metadata, struct cg_fix *f,
			    enum ht_gran gran, bool reserved_in_a)
{
	unsigned long ps = f->psize;
	struct ht_file file;
	int n0, uffd;
	char *p, *q;

	move_to(_metadata, f, reserved_in_a ? A : ORIG);
	ASSERT_EQ(0, ht_file_create(&file, ps, ps));
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, f->in, 0, 1, -1);
	ht_pool_model_move(&f->pool, 0, 0, 1, 0);
	move_to(_metadata, f, A);
	n0 = fault(_metadata, f, p, true);
	munmap(p, ps);
	q = ht_map_populated(&file, 0, ps, gran, &uffd);
	ASSERT_NE(MAP_FAILED, q) TH_LOG("mapping page 0: %s", strerror(errno));
	check(_metadata, f, "fault of page 0 in a, mapped again");

	remove_a(_metadata, f);
	/* Kept (2 s of waiting for the release that must not come) or not. */
	EXPECT_EQ(reserved_in_a ? 1 : 0,
		  dying(_metadata, f, 0, reserved_in_a ? 2000 : 10000))
	TH_LOG("top's dying descendants after rmdir a");
	check(_metadata, f, "rmdir a with a charged page");
	EXPECT_EQ(0x5a, q[0]) TH_LOG("page 0 after the rmdir");
	unmap_populated(q, ps, uffd);
	check(_metadata, f, "munmap");

	/* The page is TOP's now, the region's rsvd the offline a's. */
	ASSERT_EQ(0, ftruncate(file.fd, 0));
	charge(f, TOP, -1, reserved_in_a ? -1 : 0, n0);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	ht_file_close(&file);
	EXPECT_EQ(0, dying(_metadata, f, 0, 10000))
	TH_LOG("top's dying descendants after truncate");
	check(_metadata, f, "ftruncate to 0 and close");
}

TEST_F_TIMEOUT(cg_shared, rmdir_reparents, 300)
{
	rmdir_with_page(_metadata, &self->f, variant->gran, true);
}

TEST_F_TIMEOUT(cg_shared, rmdir_reparents_unreserved, 300)
{
	rmdir_with_page(_metadata, &self->f, variant->gran, false);
}

/*
 * move_pages() of a charged page (huge or at 4 KiB) to the other node:
 * hugetlb_cgroup_migrate() gives the new page the old one's charge, so
 * current stays and numa_stat follows the page.
 */
CG_FIXTURE(cg_migrate)
HT_ADD_VARIANTS(cg_migrate);

FIXTURE_SETUP(cg_migrate)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.nodes = 2,
		.pages_per_node = 1,
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
		.cgroup = true,
	};

	HT_SETUP_OR_SKIP(&needs, &self->f.env);
	fix_init(_metadata, &self->f, HT_PSIZE(variant));
}

static void bind_to(struct __test_metadata *_metadata, void *p, size_t len,
		    int node)
{
	unsigned long mask[HT_MAX_NODES / (8 * sizeof(long)) + 1] = { 0 };

	mask[node / (8 * sizeof(long))] = 1UL << (node % (8 * sizeof(long)));
	ASSERT_EQ(0, mbind(p, len, MPOL_BIND, mask, HT_MAX_NODES + 1, 0))
	TH_LOG("mbind to node %d: %s", node, strerror(errno));
}

TEST_F_TIMEOUT(cg_migrate, move_pages_keeps_charge, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	int n0 = f->env.nodes[0], n1 = f->env.nodes[1], status = -1, uffd;
	struct ht_file file;
	void *addr;
	char *p, *q;

	move_to(_metadata, f, A);
	ASSERT_EQ(0, ht_file_create(&file, ps, ps));
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, A, 0, 1, -1);
	ht_pool_model_move(&f->pool, 0, 0, 1, 0);
	bind_to(_metadata, p, ps, n0);
	ASSERT_EQ(n0, fault(_metadata, f, p, true));
	munmap(p, ps);
	q = ht_map_populated(&file, 0, ps, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, q) TH_LOG("mapping page 0: %s", strerror(errno));
	check(_metadata, f, "fault on the first node, mapped again");

	/* One mapping: MPOL_MF_MOVE moves it; the old page goes back free. */
	addr = q;
	ASSERT_EQ(0, move_pages(0, 1, &addr, &n1, &status, MPOL_MF_MOVE))
	TH_LOG("move_pages: %s", strerror(errno));
	ASSERT_EQ(n1, status) TH_LOG("move_pages status");
	charge(f, A, -1, 0, n0);
	charge(f, A, 1, 0, n1);
	check(_metadata, f, "move_pages to the second node");
	EXPECT_EQ(0x5a, q[0]) TH_LOG("the page's data after migration");
	unmap_populated(q, ps, uffd);

	ASSERT_EQ(0, ftruncate(file.fd, 0));
	charge(f, A, -1, -1, n1);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	check(_metadata, f, "ftruncate to 0");
	ht_file_close(&file);
}

/* ---- anonymous mappings: HGM does not apply ---- */
CG_FIXTURE(cg_anon)
HT_ADD_SIZE_VARIANTS(cg_anon, huge);

FIXTURE_SETUP(cg_anon)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.cgroup = true,
	};

	HT_SETUP_OR_SKIP(&needs, &self->f.env);
	fix_init(_metadata, &self->f, HT_PSIZE(variant));
}

/* MAP_SHARED|MAP_ANONYMOUS: the pages go when the mapping goes. */
TEST_F_TIMEOUT(cg_anon, shared_fault_unmap, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	int n0, n1;
	char *p;

	move_to(_metadata, f, A);
	p = map_anon(ps, 2, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, p);
	/* hugetlb_file_setup(VM_NORESERVE); the mmap reserves on the inode. */
	charge(f, A, 0, 2, -1);
	ht_pool_model_move(&f->pool, 0, 0, 2, 0);
	check(_metadata, f, "mmap MAP_SHARED|MAP_ANONYMOUS of 2 pages");
	n0 = fault(_metadata, f, p, true);
	check(_metadata, f, "write fault of page 0");
	n1 = fault(_metadata, f, p + ps, true);
	check(_metadata, f, "write fault of page 1");
	/* The last reference to the file: evict, both pages and regions. */
	munmap(p, 2 * ps);
	charge(f, A, -1, -1, n0);
	charge(f, A, -1, -1, n1);
	ht_pool_model_move(&f->pool, 0, 2, 0, 0);
	check(_metadata, f, "munmap");
}

/*
 * MAP_PRIVATE: the VMA's resv_map carries the whole range's rsvd charge,
 * a fault consumes a reservation (no rsvd charge), and
 * hugetlb_vm_op_close() uncharges the whole range.
 */
TEST_F_TIMEOUT(cg_anon, private_fault_unmap, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	int n1;
	char *p;

	move_to(_metadata, f, A);
	p = map_anon(ps, 2, MAP_PRIVATE);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, A, 0, 2, -1);
	ht_pool_model_move(&f->pool, 0, 0, 2, 0);
	check(_metadata, f, "mmap MAP_PRIVATE of 2 pages");
	n1 = fault(_metadata, f, p + ps, true);
	check(_metadata, f, "write fault of page 1");
	munmap(p, 2 * ps);
	charge(f, A, -1, -2, n1);
	ht_pool_model_move(&f->pool, 0, 1, -1, 0);
	check(_metadata, f, "munmap");
}

/*
 * MAP_PRIVATE of a file page that a's task faulted into the cache: b's
 * task maps it privately (b's rsvd charged for the VMA) and reads the
 * cached page (a's: nothing moves); its write copies the page into one of
 * b's, consuming b's reservation.  HGM does not apply (private).
 */
TEST_F_TIMEOUT(cg_anon, private_file_cow_charges_writer, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	struct ht_file file;
	int n0, n1;
	char *p;

	move_to(_metadata, f, A);
	ASSERT_EQ(0, ht_file_create(&file, ps, ps));
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, A, 0, 1, -1);
	ht_pool_model_move(&f->pool, 0, 0, 1, 0);
	n0 = fault(_metadata, f, p, true);
	munmap(p, ps);
	check(_metadata, f, "a's write fault of the file's page");

	move_to(_metadata, f, B);
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, B, 0, 1, -1); /* the VMA's resv_map, HPAGE_RESV_OWNER */
	ht_pool_model_move(&f->pool, 0, 0, 1, 0);
	check(_metadata, f, "mmap MAP_PRIVATE of the file in b");
	EXPECT_EQ(0x5a, p[0]) TH_LOG("b reads a's page");
	check(_metadata, f, "b's read (maps the cached page)");
	n1 = fault(_metadata, f, p, true);
	check(_metadata, f, "b's write (COW into b's page)");
	munmap(p, ps);
	charge(f, B, -1, -1, n1);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	check(_metadata, f, "munmap in b");
	ht_file_close(&file);
	charge(f, A, -1, -1, n0);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	check(_metadata, f, "close (evict)");
}

/*
 * fork of a written private page, the child moved to b: its COW page is
 * b's, and, the child owning no reservation, b's rsvd is charged with it.
 */
TEST_F_TIMEOUT(cg_anon, fork_cow_charges_child_group, 300)
{
	static struct ht_file none = { .fd = -1 };
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize, addr;
	struct ht_holder h = { .file = &none, .len = ps };
	struct ht_child c;
	int n0, ret;
	int64_t r;
	char *p;

	move_to(_metadata, f, A);
	p = map_anon(ps, 1, MAP_PRIVATE);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, A, 0, 1, -1);
	ht_pool_model_move(&f->pool, 0, 0, 1, 0);
	n0 = fault(_metadata, f, p, true);
	check(_metadata, f, "mmap MAP_PRIVATE + write of one page");
	none.psize = ps;
	h.inherit = p;
	ht_start_holder(_metadata, &c, &h, &addr);
	ret = ht_cg_move(f->path[B], c.pid);
	ASSERT_EQ(0, ret) TH_LOG("moving the child to b: %s", strerror(-ret));
	check(_metadata, f, "fork, the child moved to b");

	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_WRITE, &r));
	EXPECT_EQ(0, r) TH_LOG("child's COW: SIGBUS code %ld", (long)r);
	ret = ht_page_node(c.pid, (void *)addr);
	ASSERT_LE(0, ret) TH_LOG("node of the child's page: %d", ret);
	charge(f, B, 1, 1, ret);
	ht_pool_model_move(&f->pool, 0, -1, 0, 0);
	check(_metadata, f, "the child's COW");

	ht_stop_holder(_metadata, &c);
	charge(f, B, -1, -1, ret);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	check(_metadata, f, "the child's exit");
	munmap(p, ps);
	charge(f, A, -1, -1, n0);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	check(_metadata, f, "munmap");
}

/*
 * numa_stat per node: page 0 faulted in a on the first node, page 1 in b
 * on the second (one node: both on it).  TOP sums its children per node
 * (css_for_each_descendant_pre); the mapping's rsvd charge is a's, who
 * mapped it, though b's fault consumed a reservation.
 */
TEST_F_TIMEOUT(cg_anon, numa_stat_per_node, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	int n0 = f->env.nodes[0];
	int n1 = f->env.nodes[f->env.nnodes > 1 ? 1 : 0];
	char *p;

	/* Provided within env's pool snapshot: teardown shrinks it back. */
	ASSERT_EQ(0, ht_pool_ensure_free(ps, n0, 1));
	ASSERT_EQ(0, ht_pool_ensure_free(ps, n1, n1 == n0 ? 2 : 1));
	ASSERT_EQ(0, ht_pool_model_init(&f->pool, ps, -1));
	move_to(_metadata, f, A);
	p = map_anon(ps, 2, MAP_PRIVATE);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, A, 0, 2, -1);
	ht_pool_model_move(&f->pool, 0, 0, 2, 0);
	bind_to(_metadata, p, ps, n0);
	bind_to(_metadata, p + ps, ps, n1);
	EXPECT_EQ(n0, fault(_metadata, f, p, true));
	check(_metadata, f, "write fault of page 0 in a, first node");
	move_to(_metadata, f, B);
	EXPECT_EQ(n1, fault(_metadata, f, p + ps, true));
	check(_metadata, f, "write fault of page 1 in b, second node");
	munmap(p, 2 * ps);
	charge(f, A, -1, -2, n0);
	charge(f, B, -1, 0, n1);
	ht_pool_model_move(&f->pool, 0, 2, 0, 0);
	check(_metadata, f, "munmap");
}

/* ---- limits: max, rsvd.max, events ---- */
CG_FIXTURE(cg_limit)
HT_ADD_SIZE_VARIANTS(cg_limit, huge);

FIXTURE_SETUP(cg_limit)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.cgroup = true,
	};

	HT_SETUP_OR_SKIP(&needs, &self->f.env);
	fix_init(_metadata, &self->f, HT_PSIZE(variant));
}

static void set_limit(struct __test_metadata *_metadata, struct cg_fix *f,
		      int g, const char *file, unsigned long bytes)
{
	int ret = ht_cg_write(f->path[g], f->psize, file, bytes);

	ASSERT_EQ(0, ret)
	TH_LOG("writing %lu to %s's %s: %s", bytes, group_name[g], file,
	       strerror(-ret));
}

/* A new group has no limit: both files read "max" (cgroup-v2.rst). */
TEST_F(cg_limit, max_default_no_limit)
{
	struct cg_fix *f = &self->f;

	for (int g = TOP; g < NGROUPS; g++) {
		check_value(_metadata, f, g, "max", (long)HT_CG_MAX, "mkdir");
		check_value(_metadata, f, g, "rsvd.max", (long)HT_CG_MAX,
			    "mkdir");
	}
	check(_metadata, f, "mkdir");
}

/*
 * A write is rounded down to whole huge pages (hugetlb_cgroup_write:
 * round_down(nr_pages, pages_per_huge_page)); "max" is no limit.
 */
TEST_F(cg_limit, max_rounds_down_to_pages)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	const char *files[] = { "max", "rsvd.max" };

	for (int i = 0; i < 2; i++) {
		set_limit(_metadata, f, A, files[i], 2 * ps - 1);
		check_value(_metadata, f, A, files[i], ps,
			    "writing 2 pages - 1");
		set_limit(_metadata, f, A, files[i], ps - 1);
		check_value(_metadata, f, A, files[i], 0, "writing 1 page - 1");
		set_limit(_metadata, f, A, files[i], HT_CG_MAX);
		check_value(_metadata, f, A, files[i], (long)HT_CG_MAX,
			    "writing max");
	}
	check(_metadata, f, "writing limits");
}

/*
 * max = N pages allows exactly N faults (MAP_NORESERVE: nothing is
 * reserved, the fault is where the limit bites); the refused one is a
 * SIGBUS and an event.
 */
TEST_F_TIMEOUT(cg_limit, max_refuses_fault, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	int n0, n1;
	char *p;

	move_to(_metadata, f, A);
	set_limit(_metadata, f, A, "max", ps);
	p = map_anon(ps, 3, MAP_PRIVATE | MAP_NORESERVE);
	ASSERT_NE(MAP_FAILED, p);
	check(_metadata, f, "max = 1 page, mmap MAP_NORESERVE of 3 pages");
	n0 = fault(_metadata, f, p, false);
	check(_metadata, f, "fault of page 0 (rsvd charged at the fault)");
	fault_refused(_metadata, f, p + ps);
	check(_metadata, f, "fault of page 1 beyond max");

	set_limit(_metadata, f, A, "max", 2 * ps);
	n1 = fault(_metadata, f, p + ps, false);
	check(_metadata, f, "max = 2 pages, fault of page 1");
	fault_refused(_metadata, f, p + 2 * ps);
	check(_metadata, f, "fault of page 2 beyond max");
	munmap(p, 3 * ps);
	charge(f, A, -1, -1, n0);
	charge(f, A, -1, -1, n1);
	ht_pool_model_move(&f->pool, 0, 2, 0, 0);
	check(_metadata, f, "munmap");
}

/*
 * A fault the pool cannot serve (no free page, no overcommit) is charged
 * first and then uncharged (alloc_hugetlb_folio(): out_uncharge_cgroup):
 * SIGBUS, no event (no limit was hit), current as before.
 */
TEST_F_TIMEOUT(cg_limit, empty_pool_returns_charge, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize, n = f->pool.want.free;
	struct ht_pool pool;
	int node[16];
	char *p;

	if (n > 16)
		SKIP(return,
			   "%lu free pages in the pool: a fault per page is too many",
			   n);
	/* Gigantic pages have no overcommit (the write is EINVAL). */
	ASSERT_EQ(0, ht_pool_read(ps, -1, &pool));
	if (pool.overcommit)
		ASSERT_EQ(0, ht_pool_set_overcommit(ps, 0));
	move_to(_metadata, f, A);
	p = map_anon(ps, n + 1, MAP_PRIVATE | MAP_NORESERVE);
	ASSERT_NE(MAP_FAILED, p);
	for (unsigned long i = 0; i < n; i++)
		node[i] = fault(_metadata, f, p + i * ps, false);
	check(_metadata, f, "every free page faulted");
	EXPECT_EQ(BUS_ADRERR, write_code(p + n * ps))
	TH_LOG("a fault with the pool empty");
	check(_metadata, f, "the refused fault gave its charge back");
	munmap(p, (n + 1) * ps);
	for (unsigned long i = 0; i < n; i++)
		charge(f, A, -1, -1, node[i]);
	ht_pool_model_move(&f->pool, 0, n, 0, 0);
	check(_metadata, f, "munmap");
}

/*
 * A limit of the parent refuses the child's fault; hugetlb_event() counts
 * it in the events.local of the task's group (a), not of the group whose
 * limit it hit (TOP), and in events of a and TOP.
 */
TEST_F_TIMEOUT(cg_limit, parent_max_event_in_child, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	char *p;
	int n0;

	move_to(_metadata, f, A);
	set_limit(_metadata, f, TOP, "max", ps);
	p = map_anon(ps, 2, MAP_PRIVATE | MAP_NORESERVE);
	ASSERT_NE(MAP_FAILED, p);
	n0 = fault(_metadata, f, p, false);
	check(_metadata, f, "parent's max = 1 page, fault of page 0 in a");
	fault_refused(_metadata, f, p + ps);
	check(_metadata, f, "fault of page 1 beyond the parent's max");
	munmap(p, 2 * ps);
	charge(f, A, -1, -1, n0);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	check(_metadata, f, "munmap");
}

/*
 * rsvd.max = 1 page: a reservation beyond it fails the mmap (ENOMEM),
 * so does a MAP_NORESERVE fault that needs a rsvd charge (SIGBUS); each
 * counts in events like a fault refused by max.
 */
TEST_F_TIMEOUT(cg_limit, rsvd_max_refuses_reservation, 300)
{
	struct cg_fix *f = &self->f;
	unsigned long ps = f->psize;
	char *p, *q;
	int n0;

	move_to(_metadata, f, A);
	set_limit(_metadata, f, A, "rsvd.max", ps);
	EXPECT_EQ(MAP_FAILED, map_anon(ps, 2, MAP_SHARED));
	EXPECT_EQ(ENOMEM, errno);
	event(f, A);
	check(_metadata, f, "mmap MAP_SHARED of 2 pages beyond rsvd.max");
	EXPECT_EQ(MAP_FAILED, map_anon(ps, 2, MAP_PRIVATE));
	EXPECT_EQ(ENOMEM, errno);
	event(f, A);
	check(_metadata, f, "mmap MAP_PRIVATE of 2 pages beyond rsvd.max");

	p = map_anon(ps, 1, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, p);
	charge(f, A, 0, 1, -1);
	ht_pool_model_move(&f->pool, 0, 0, 1, 0);
	check(_metadata, f, "mmap MAP_SHARED of 1 page");
	q = map_anon(ps, 1, MAP_PRIVATE | MAP_NORESERVE);
	ASSERT_NE(MAP_FAILED, q);
	fault_refused(_metadata, f, q);
	check(_metadata, f, "MAP_NORESERVE fault with rsvd.max reached");
	n0 = fault(_metadata, f, p, true);
	check(_metadata, f, "fault of the reserved page");
	munmap(q, ps);
	munmap(p, ps);
	charge(f, A, -1, -1, n0);
	ht_pool_model_move(&f->pool, 0, 1, 0, 0);
	check(_metadata, f, "munmap");
}

HT_MAIN
