// SPDX-License-Identifier: GPL-2.0
/*
 * Topic 3: a memory error in one 4 KiB piece of a huge page.  The HGM
 * review's objection (iv): memory_failure() must unmap the WHOLE huge
 * page from every mapping of every process, whatever the granularity it
 * is mapped at, and each mapper must get the right SIGBUS.
 *
 * Destructive: poisoned memory is lost until reboot, so these cases run
 * only with HT_ALLOW_DESTRUCTIVE=1 (the VM).  Each case poisons a fresh
 * page.  A 1 GiB poisoning eats one of the VM's two boot-time gigantic
 * pages, so only one shared and one anonymous case use 1 GiB.
 *
 * The model (6.12 mm/memory-failure.c, mm/hugetlb.c, fs/hugetlbfs):
 *   MADV_HWPOISON at a 4 KiB address X of a shared huge page:
 *     madvise returns 0; the caller gets SIGBUS BUS_MCEERR_AR during the
 *     call, si_addr = X, si_addr_lsb = log2(huge page size)
 *     early-kill mappers (PR_MCE_KILL_EARLY) get BUS_MCEERR_AO at once,
 *     at their own address of X; the others get nothing until they touch
 *     the page, then BUS_MCEERR_AR
 *     every mapping in every process is replaced by a hwpoison entry:
 *     pagemap not present, no 4 KiB piece present, HugetlbPages 0
 *     HardwareCorrupted +4 kB; kpageflags HWPOISON on the raw page
 *     the page stays in the file: a new mapping's touch gets SIGBUS
 *   MADV_SOFT_OFFLINE: the page is migrated, no signal, every mapper sees
 *     the new PFN with the old contents; the old page is dissolved.
 *   MAP_PRIVATE anonymous: the poisoned page is dissolved (Total -1).
 * Where the kernels differ from this, the case names the version.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kernel-page-flags.h>
#include <linux/userfaultfd.h>
#include <numa.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ht_harness.h"

#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif
#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#define BUS_MCEERR_AO 5
#endif

#define SEED 0x48500001
/* The poisoned piece: not the first, so si_addr must name it exactly. */
#define POISON_OFF (3 * HT_BASE_PAGE)
#define SOFT_OFFLINE_SYSCTL "/proc/sys/vm/enable_soft_offline"

static unsigned long hw_corrupted_kb(struct __test_metadata *_metadata)
{
	unsigned long kb = ~0UL;

	EXPECT_EQ(0, ht_meminfo_read("HardwareCorrupted", &kb));
	return kb;
}

static uint64_t kpf(struct __test_metadata *_metadata, uint64_t pfn)
{
	uint64_t f = 0;

	EXPECT_EQ(0, ht_kpageflags_read(pfn, &f));
	return f;
}

/*
 * A poisoned page is never given back: the state teardown restores must
 * include what is lost.  Per node, the pool to restore is the snapshot,
 * but not more than is left (a dissolved page is gone) and not less than
 * the pages that stay in use for ever (a leaked poisoned page).  Called
 * when the case holds no huge page any more.  @env is in the shared
 * fixture data, so the parent's teardown sees this.
 */
static void keep_lost_pages(struct ht_env *env, unsigned long psize)
{
	struct ht_pool_snapshot *s = &env->pools;

	for (int i = 0; i < s->nsizes; i++) {
		if (s->size[i] != psize)
			continue;
		for (int j = 0; j < s->nnodes; j++) {
			unsigned long t = s->node_nr[i][j];
			struct ht_pool p;

			if (ht_pool_read(psize, s->node[j], &p))
				continue;
			if (t > p.nr)
				t = p.nr;
			if (t < p.nr - p.free)
				t = p.nr - p.free;
			s->nr[i] = s->nr[i] - s->node_nr[i][j] + t;
			s->node_nr[i][j] = t;
		}
	}
}

static void expect_sigbus(struct __test_metadata *_metadata, const char *who,
			  const struct ht_sigbus *sb, int code,
			  unsigned long addr, int lsb)
{
	EXPECT_EQ(code, sb->code) TH_LOG("%s: si_code", who);
	EXPECT_EQ(addr, sb->addr) TH_LOG("%s: si_addr", who);
	EXPECT_EQ(lsb, sb->addr_lsb) TH_LOG("%s: si_addr_lsb", who);
}

/*
 * A VMA whose huge page was poisoned: nothing of it is mapped.  smaps
 * still counts the hwpoison entry (smaps_hugetlb_range looks through the
 * swap-type entry to the page), measured:
 *   6.12: a non-present entry is "maybe shared": Shared_Hugetlb = size
 *   6.1:  classified by the page's mapcount (0): Private_Hugetlb = size
 */
static void expect_gone(struct __test_metadata *_metadata, const char *who,
			pid_t pid, unsigned long addr, unsigned long psize)
{
	bool v612 = !ht_kernel_before(6, 12);
	unsigned long shared_kb = v612 ? psize / HT_KB : 0;
	unsigned long private_kb = v612 ? 0 : psize / HT_KB;
	struct ht_obs o;
	int ret;

	ret = ht_observe(pid, addr, psize, &o);
	ASSERT_EQ(0, ret) TH_LOG("%s: /proc views: %s", who, strerror(-ret));
	EXPECT_EQ(0, o.pm & HT_PM_PRESENT)
	TH_LOG("%s: pagemap %#llx", who, (unsigned long long)o.pm);
	EXPECT_EQ(0, o.present) TH_LOG("%s: 4 KiB pieces still present", who);
	EXPECT_EQ(0, o.hugetlb_kb) TH_LOG("%s: HugetlbPages", who);
	EXPECT_EQ(shared_kb, o.vma.val[HT_SMAPS_SHARED_HUGETLB])
	TH_LOG("%s: Shared_Hugetlb", who);
	EXPECT_EQ(private_kb, o.vma.val[HT_SMAPS_PRIVATE_HUGETLB])
	TH_LOG("%s: Private_Hugetlb", who);
}

/* ---- MADV_HWPOISON of a MAP_SHARED page ---- */

struct topo {
	int early; /* holders with PR_MCE_KILL_EARLY */
	int late; /* holders with the default (late) kill */
	int vmas; /* the caller's mappings of the page */
};

#define MAX_HOLDERS 4

struct hwp {
	struct ht_env env;
	struct ht_file file;
};

static void hwp_setup(struct __test_metadata *_metadata, struct hwp *h,
		      unsigned long psize, enum ht_gran gran, int pages,
		      const char *sysctl)
{
	struct ht_needs needs = {
		.page_size = psize,
		.pages = pages,
		.caps = { CAP_SYS_ADMIN },
		.memory_failure = true,
		.destructive = true,
		.uffd_minor = true,
		.hgm = gran == HT_GRAN_HGM,
		.sysctls = { sysctl },
	};

	h->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &h->env);
	ASSERT_EQ(0, ht_file_create(&h->file, psize, psize));
	ASSERT_EQ(0, ht_file_fill(&h->file, 0, psize, SEED));
}

/*
 * One poison_shared() run: the holders, the caller's mappings of the
 * page, and what was read before the poisoning.  Each step below checks
 * one part of the model at the top of the file.
 */
struct ps_run {
	struct hwp *h;
	unsigned long psize;
	enum ht_gran gran;
	const struct topo *t;
	int lsb, nh;
	/* each use says what changed at the boundary */
	bool v612, v604;
	struct ht_holder hold[MAX_HOLDERS];
	unsigned long haddr[MAX_HOLDERS];
	struct ht_child c[MAX_HOLDERS];
	char *p[2];
	int uffd[2];
	int node;
	uint64_t pfn;
	unsigned long hc0;
	struct ht_pool p0;
};

/* Start the holders, map the page in the caller, note the state before. */
static void ps_map(struct __test_metadata *_metadata, struct ps_run *s)
{
	const struct topo *t = s->t;
	int ret;

	ASSERT_LE(s->nh, MAX_HOLDERS);
	for (int i = 0; i < s->nh; i++) {
		s->hold[i] = (struct ht_holder){ .file = &s->h->file,
						 .len = s->psize,
						 .gran = s->gran,
						 .early_kill = i < t->early };
		ret = ht_holder_start(&s->c[i], &s->hold[i], &s->haddr[i]);
		ASSERT_EQ(0, ret) TH_LOG("holder %d: %s", i, strerror(-ret));
	}
	for (int i = 0; i < t->vmas; i++) {
		s->p[i] = ht_map_populated(&s->h->file, 0, s->psize, s->gran,
					   &s->uffd[i]);
		ASSERT_NE(MAP_FAILED, s->p[i]);
	}
	s->node = ht_page_node(0, s->p[0]);
	ASSERT_GE(s->node, 0);
	s->pfn = ht_pfn_of(_metadata, 0, (unsigned long)s->p[0]);
	s->hc0 = hw_corrupted_kb(_metadata);
	s->p0 = ht_pool_get(_metadata, s->psize, s->node);
}

/* MADV_HWPOISON through the caller's last mapping, and its own signal. */
static void ps_poison(struct __test_metadata *_metadata, struct ps_run *s)
{
	unsigned long target;
	struct ht_sigbus sb;
	int ret;

	target = (unsigned long)s->p[s->t->vmas - 1] + POISON_OFF;
	ret = ht_madvise_catch((void *)target, HT_BASE_PAGE, MADV_HWPOISON,
			       &sb);
	EXPECT_EQ(0, ret) TH_LOG("MADV_HWPOISON: %s", strerror(-ret));
	if (s->v612) {
		/*
		 * One signal per VMA of the caller is sent (collect_procs_file),
		 * but a second SIGBUS is dropped while the first is pending:
		 * the caller sees the address in its FIRST mapping of the file
		 * (i_mmap order), not necessarily the one it passed to madvise.
		 */
		EXPECT_TRUE(sb.hit)
		TH_LOG("caller got no SIGBUS during madvise");
		expect_sigbus(_metadata, "caller", &sb, BUS_MCEERR_AR,
			      (unsigned long)s->p[0] + POISON_OFF, s->lsb);
	} else {
		/*
		 * Measured on 6.1: no signal during the call.  6.1's
		 * madvise_inject_error() does not pass MF_ACTION_REQUIRED
		 * (6.12 does), so the caller is one more late-kill mapper.
		 */
		EXPECT_FALSE(sb.hit)
		TH_LOG("6.1 caller got si_code %d", sb.code);
	}
}

/* Early-kill holders got BUS_MCEERR_AO at once, late-kill ones nothing. */
static void ps_holder_signals(struct __test_metadata *_metadata,
			      struct ps_run *s)
{
	int64_t r, code, addr;

	for (int i = 0; i < s->nh; i++) {
		bool early = i < s->t->early;

		ASSERT_EQ(0, ht_send(s->c[i].sock, HT_CMD_SIGINFO));
		ASSERT_EQ(0, ht_recv(s->c[i].sock, &code, 10000));
		ASSERT_EQ(0, ht_recv(s->c[i].sock, &addr, 10000));
		ASSERT_EQ(0, ht_recv(s->c[i].sock, &r, 10000));
		EXPECT_EQ(early ? BUS_MCEERR_AO : 0, code)
		TH_LOG("holder %d (%s kill) si_code", i,
		       early ? "early" : "late");
		/*
		 * 6.12 names the poisoned 4 KiB; 6.1 (measured) the start of
		 * the huge page: its collect_procs() gets the head page.
		 */
		EXPECT_EQ(early ? s->haddr[i] + (s->v612 ? POISON_OFF : 0) : 0,
			  (unsigned long)addr)
		TH_LOG("holder %d si_addr", i);
		EXPECT_EQ(early ? s->lsb : 0, r)
		TH_LOG("holder %d si_addr_lsb", i);
	}
}

/* Every mapping of every process is gone; the page is marked poisoned. */
static void ps_expect_unmapped(struct __test_metadata *_metadata,
			       struct ps_run *s)
{
	uint64_t raw = s->pfn + POISON_OFF / HT_BASE_PAGE;

	for (int i = 0; i < s->t->vmas; i++)
		expect_gone(_metadata, "caller", 0, (unsigned long)s->p[i],
			    s->psize);
	for (int i = 0; i < s->nh; i++)
		expect_gone(_metadata, "holder", s->c[i].pid, s->haddr[i],
			    s->psize);
	EXPECT_EQ(s->hc0 + HT_BASE_PAGE / HT_KB, hw_corrupted_kb(_metadata));
	/*
	 * The huge page carries the flag on its head.  6.12 reports the
	 * folio's HWPOISON on every PFN; 6.1 (measured) only the page's own
	 * flag, and the raw tail page has none.
	 */
	EXPECT_EQ(1, (kpf(_metadata, s->pfn) >> KPF_HWPOISON) & 1);
	EXPECT_EQ(s->v612, (kpf(_metadata, raw) >> KPF_HWPOISON) & 1);
	EXPECT_EQ(1, (kpf(_metadata, raw) >> KPF_HUGE) & 1)
	TH_LOG("a file page is not dissolved");
}

/* Touching any address of the huge page now: SIGBUS AR. */
static void ps_touch(struct __test_metadata *_metadata, struct ps_run *s)
{
	struct ht_sigbus sb;
	int64_t r;

	for (int i = 0; i < s->nh; i++) {
		ASSERT_EQ(0, ht_holder_cmd(&s->c[i], HT_CMD_READ, &r));
		EXPECT_EQ(BUS_MCEERR_AR, r) TH_LOG("holder %d touch", i);
	}
	ht_touch(s->p[0], false, &sb);
	expect_sigbus(_metadata, "caller touch", &sb, BUS_MCEERR_AR,
		      (unsigned long)s->p[0], s->lsb);
}

/*
 * read(): 6.12 reads up to the poisoned piece and fails only when the
 * read starts in it (hugetlbfs_read_iter + adjust_range_hwpoison, since
 * 6.4); 6.1 fails any read of a poisoned huge page with EIO.
 */
static void ps_read(struct __test_metadata *_metadata, struct ps_run *s)
{
	char buf[4 * HT_BASE_PAGE];
	int fd = s->h->file.fd;
	int ret;

	errno = 0;
	ret = pread(fd, buf, sizeof(buf), 0);
	if (s->v604) {
		EXPECT_EQ((int)POISON_OFF, ret)
		TH_LOG("pread before: %s", strerror(errno));
		EXPECT_EQ(-1, ht_pattern_check(buf, POISON_OFF, 0, SEED));
	} else {
		EXPECT_EQ(-1, ret);
		EXPECT_EQ(EIO, errno);
	}
	errno = 0;
	EXPECT_EQ(-1, pread(fd, buf, HT_BASE_PAGE, POISON_OFF));
	EXPECT_EQ(EIO, errno);
	errno = 0;
	ret = pread(fd, buf, HT_BASE_PAGE, POISON_OFF + HT_BASE_PAGE);
	if (s->v604) {
		EXPECT_EQ((int)HT_BASE_PAGE, ret)
		TH_LOG("pread after: %s", strerror(errno));
		EXPECT_EQ(-1,
			  ht_pattern_check(buf, HT_BASE_PAGE,
					   POISON_OFF + HT_BASE_PAGE, SEED));
	} else {
		EXPECT_EQ(-1, ret);
		EXPECT_EQ(EIO, errno);
	}
}

/* The page is still the file's: a new mapping faults to SIGBUS. */
static void ps_new_mapping(struct __test_metadata *_metadata, struct ps_run *s)
{
	unsigned long psize = s->psize;
	struct ht_sigbus sb;
	int qfd, ret;
	char *q;

	q = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, s->h->file.fd,
		 0);
	ASSERT_NE(MAP_FAILED, q);
	ht_touch(q + psize - HT_BASE_PAGE, false, &sb);
	expect_sigbus(_metadata, "new mapping", &sb, BUS_MCEERR_AR,
		      (unsigned long)q + psize - HT_BASE_PAGE, s->lsb);
	/*
	 * A second MADV_HWPOISON cannot reach the page: the GUP fault meets
	 * the poisoned page and fails with EFAULT (get_user_pages_fast has
	 * no FOLL_HWPOISON), and no signal is sent.
	 */
	ret = ht_madvise_catch(q + POISON_OFF, HT_BASE_PAGE, MADV_HWPOISON,
			       &sb);
	EXPECT_EQ(-EFAULT, ret)
	TH_LOG("second MADV_HWPOISON: %s", strerror(-ret));
	EXPECT_FALSE(sb.hit)
	TH_LOG("second MADV_HWPOISON raised si_code %d", sb.code);
	munmap(q, psize);

	/* UFFDIO_CONTINUE of the poisoned page: EIO. */
	q = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, s->h->file.fd,
		 0);
	ASSERT_NE(MAP_FAILED, q);
	qfd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
	ASSERT_GE(qfd, 0);
	ASSERT_EQ(0,
		  ht_uffd_register(qfd, q, psize, UFFDIO_REGISTER_MODE_MINOR));
	EXPECT_EQ(-EIO, ht_uffd_continue(qfd, q, psize));
	EXPECT_EQ(0, ht_pagemap_count_present(0, (unsigned long)q, psize));
	close(qfd);
	munmap(q, psize);
}

/* Unmap everywhere, then truncate: the page is leaked, not freed. */
static void ps_release(struct __test_metadata *_metadata, struct ps_run *s)
{
	struct ht_pool p1;

	for (int i = 0; i < s->nh; i++)
		ht_stop_holder(_metadata, &s->c[i]);
	for (int i = 0; i < s->t->vmas; i++) {
		munmap(s->p[i], s->psize);
		if (s->uffd[i] >= 0)
			close(s->uffd[i]);
	}
	/* Unmapped everywhere, still in the file: the pool is unchanged. */
	p1 = ht_pool_get(_metadata, s->psize, s->node);
	EXPECT_EQ(s->p0.nr, p1.nr);
	EXPECT_EQ(s->p0.free, p1.free);
	/*
	 * Truncation drops the page from the file, but memory_failure kept
	 * its reference (me_huge_page: "the page is kept in page cache",
	 * extra pin never dropped): the page is leaked, neither freed nor
	 * dissolved.  HugePages_Total does NOT drop (03 notes predicted -1)
	 * and the page never comes back to the free pool.
	 */
	ASSERT_EQ(0, ftruncate(s->h->file.fd, 0));
	p1 = ht_pool_get(_metadata, s->psize, s->node);
	EXPECT_EQ(s->p0.nr, p1.nr) TH_LOG("HugePages_Total after truncate");
	EXPECT_EQ(s->p0.free, p1.free)
	TH_LOG("HugePages_Free after truncate");
	ht_file_close(&s->h->file);
	keep_lost_pages(&s->h->env, s->psize);
}

static void poison_shared(struct __test_metadata *_metadata, struct hwp *h,
			  unsigned long psize, enum ht_gran gran,
			  const struct topo *t)
{
	struct ps_run s = {
		.h = h,
		.psize = psize,
		.gran = gran,
		.t = t,
		.lsb = ht_size_shift(psize),
		.nh = t->early + t->late,
		.v612 = !ht_kernel_before(6, 12),
		.v604 = !ht_kernel_before(6, 4),
		.uffd = { -1, -1 },
	};

	ps_map(_metadata, &s);
	ps_poison(_metadata, &s);
	ps_holder_signals(_metadata, &s);
	ps_expect_unmapped(_metadata, &s);
	ps_touch(_metadata, &s);
	ps_read(_metadata, &s);
	ps_new_mapping(_metadata, &s);
	ps_release(_metadata, &s);
}

FIXTURE(hwp_shared)
{
	struct hwp h;
};

FIXTURE_VARIANT(hwp_shared)
{
	HT_VARIANT_FIELDS;
};

/* 2 MiB only: see hwp_shared_gigantic. */
HT_ADD_VARIANTS_2M(hwp_shared);

FIXTURE_SETUP(hwp_shared)
{
	hwp_setup(_metadata, &self->h, variant->psize, variant->gran, 1, NULL);
}

FIXTURE_TEARDOWN_PARENT(hwp_shared)
{
	HT_TEARDOWN(&self->h.env);
}

TEST_F_TIMEOUT(hwp_shared, one_proc, 300)
{
	struct topo t = { .vmas = 1 };

	poison_shared(_metadata, &self->h, variant->psize, variant->gran, &t);
}

TEST_F_TIMEOUT(hwp_shared, two_procs_early_kill, 300)
{
	struct topo t = { .early = 1, .vmas = 1 };

	poison_shared(_metadata, &self->h, variant->psize, variant->gran, &t);
}

TEST_F_TIMEOUT(hwp_shared, two_procs_late_kill, 300)
{
	struct topo t = { .late = 1, .vmas = 1 };

	poison_shared(_metadata, &self->h, variant->psize, variant->gran, &t);
}

TEST_F_TIMEOUT(hwp_shared, four_procs, 300)
{
	struct topo t = { .early = 2, .late = 1, .vmas = 1 };

	poison_shared(_metadata, &self->h, variant->psize, variant->gran, &t);
}

TEST_F_TIMEOUT(hwp_shared, two_vmas_one_proc, 300)
{
	struct topo t = { .vmas = 2 };

	poison_shared(_metadata, &self->h, variant->psize, variant->gran, &t);
}

/* One 1 GiB poisoning: it eats one of the VM's two gigantic pages. */
FIXTURE(hwp_shared_gigantic)
{
	struct hwp h;
};

FIXTURE_VARIANT(hwp_shared_gigantic)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS_1G(hwp_shared_gigantic);

FIXTURE_SETUP(hwp_shared_gigantic)
{
	hwp_setup(_metadata, &self->h, variant->psize, variant->gran, 1, NULL);
}

FIXTURE_TEARDOWN_PARENT(hwp_shared_gigantic)
{
	HT_TEARDOWN(&self->h.env);
}

TEST_F_TIMEOUT(hwp_shared_gigantic, four_procs, 300)
{
	struct topo t = { .early = 2, .late = 1, .vmas = 1 };

	poison_shared(_metadata, &self->h, variant->psize, variant->gran, &t);
}

/* ---- MADV_SOFT_OFFLINE: migrate away, no signal ---- */

FIXTURE(hwp_soft)
{
	struct hwp h;
};

FIXTURE_VARIANT(hwp_soft)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS_2M(hwp_soft);

FIXTURE_SETUP(hwp_soft)
{
	/*
	 * vm.enable_soft_offline exists since 6.11; where it does not (6.1)
	 * soft offline is always on and nothing needs saving.
	 */
	const char *sysctl = access(SOFT_OFFLINE_SYSCTL, F_OK) ?
				     NULL :
				     "vm.enable_soft_offline";

	/* The page, and the page it migrates to. */
	hwp_setup(_metadata, &self->h, variant->psize, variant->gran, 2,
		  sysctl);
	if (_metadata->exit_code) /* skipped */
		return;
	if (sysctl)
		ASSERT_EQ(0, ht_write_ulong(SOFT_OFFLINE_SYSCTL, 1));
}

FIXTURE_TEARDOWN_PARENT(hwp_soft)
{
	HT_TEARDOWN(&self->h.env);
}

TEST_F_TIMEOUT(hwp_soft, two_procs_early_kill, 300)
{
	unsigned long psize = variant->psize, haddr, hc0;
	struct ht_holder hold = { .file = &self->h.file,
				  .len = psize,
				  .gran = variant->gran,
				  .early_kill = true };
	struct ht_expect e = { .mapped = true,
			       .shared = true,
			       .mapcount = 2,
			       .hugetlb_kb = psize / HT_KB,
			       .node = -1 };
	uint64_t pfn0, pfn1;
	struct ht_pool g0, g1;
	struct ht_sigbus sb;
	struct ht_child c;
	int64_t code, addr, lsb;
	int uffd, ret;
	char *p;

	ASSERT_EQ(0, ht_holder_start(&c, &hold, &haddr));
	p = ht_map_populated(&self->h.file, 0, psize, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	pfn0 = ht_pfn_of(_metadata, 0, (unsigned long)p);
	hc0 = hw_corrupted_kb(_metadata);
	g0 = ht_pool_get(_metadata, psize, -1);

	ret = ht_madvise_catch(p + POISON_OFF, HT_BASE_PAGE, MADV_SOFT_OFFLINE,
			       &sb);
	EXPECT_EQ(0, ret) TH_LOG("MADV_SOFT_OFFLINE: %s", strerror(-ret));
	EXPECT_FALSE(sb.hit) TH_LOG("caller got si_code %d", sb.code);
	ASSERT_EQ(0, ht_send(c.sock, HT_CMD_SIGINFO));
	ASSERT_EQ(0, ht_recv(c.sock, &code, 10000));
	ASSERT_EQ(0, ht_recv(c.sock, &addr, 10000));
	ASSERT_EQ(0, ht_recv(c.sock, &lsb, 10000));
	EXPECT_EQ(0, code) TH_LOG("early-kill holder got a signal");

	pfn1 = ht_pfn_of(_metadata, 0, (unsigned long)p);
	EXPECT_NE(pfn0, pfn1);
	EXPECT_EQ(pfn1, ht_pfn_of(_metadata, c.pid, haddr))
	TH_LOG("holder's PFN");
	ht_expect_page(_metadata, "caller", 0, (unsigned long)p, psize, &e);
	ht_expect_page(_metadata, "holder", c.pid, haddr, psize, &e);
	EXPECT_EQ(-1, ht_pattern_check(p, psize, 0, SEED));
	ASSERT_EQ(0, ht_holder_check(&c, SEED, &code));
	EXPECT_EQ(-1, code) TH_LOG("holder's contents at %ld", (long)code);
	/* The old page: dissolved, its raw piece poisoned. */
	EXPECT_EQ(1, (kpf(_metadata, pfn0 + POISON_OFF / HT_BASE_PAGE) >>
		      KPF_HWPOISON) &
			     1);
	EXPECT_EQ(0, (kpf(_metadata, pfn0 + POISON_OFF / HT_BASE_PAGE) >>
		      KPF_HUGE) &
			     1);
	EXPECT_EQ(hc0 + HT_BASE_PAGE / HT_KB, hw_corrupted_kb(_metadata));
	/* The new page came from the free pool, the old one left the pool. */
	g1 = ht_pool_get(_metadata, psize, -1);
	EXPECT_EQ(g0.nr - 1, g1.nr) TH_LOG("HugePages_Total");
	EXPECT_EQ(g0.free - 1, g1.free) TH_LOG("HugePages_Free");

	ht_stop_holder(_metadata, &c);
	munmap(p, psize);
	if (uffd >= 0)
		close(uffd);
	ht_file_close(&self->h.file);
	keep_lost_pages(&self->h.env, psize);
}

/* vm.enable_soft_offline=0 refuses (6.11+; the sysctl is the feature). */
FIXTURE(hwp_soft_disabled)
{
	struct hwp h;
};

FIXTURE_VARIANT(hwp_soft_disabled)
{
	unsigned long psize;
};

HT_ADD_SIZE_VARIANT_2M(hwp_soft_disabled, huge);

FIXTURE_SETUP(hwp_soft_disabled)
{
	hwp_setup(_metadata, &self->h, variant->psize, HT_GRAN_HUGE, 1,
		  "vm.enable_soft_offline");
	if (_metadata->exit_code) /* skipped */
		return;
	ASSERT_EQ(0, ht_write_ulong(SOFT_OFFLINE_SYSCTL, 0));
}

FIXTURE_TEARDOWN_PARENT(hwp_soft_disabled)
{
	HT_TEARDOWN(&self->h.env);
}

TEST_F_TIMEOUT(hwp_soft_disabled, eopnotsupp, 120)
{
	unsigned long psize = variant->psize, hc0;
	struct ht_pool g0, g1;
	struct ht_sigbus sb;
	uint64_t pfn0;
	int uffd, ret;
	char *p;

	p = ht_map_populated(&self->h.file, 0, psize, HT_GRAN_HUGE, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	pfn0 = ht_pfn_of(_metadata, 0, (unsigned long)p);
	hc0 = hw_corrupted_kb(_metadata);
	g0 = ht_pool_get(_metadata, psize, -1);
	ret = ht_madvise_catch(p + POISON_OFF, HT_BASE_PAGE, MADV_SOFT_OFFLINE,
			       &sb);
	EXPECT_EQ(-EOPNOTSUPP, ret);
	EXPECT_FALSE(sb.hit);
	EXPECT_EQ(pfn0, ht_pfn_of(_metadata, 0, (unsigned long)p));
	EXPECT_EQ(hc0, hw_corrupted_kb(_metadata));
	g1 = ht_pool_get(_metadata, psize, -1);
	EXPECT_EQ(g0.nr, g1.nr);
	EXPECT_EQ(g0.free, g1.free);
	EXPECT_EQ(-1, ht_pattern_check(p, psize, 0, SEED));
	munmap(p, psize);
}

/* ---- a page table in the 2 MiB below the poisoned folio ---- */

/*
 * The HGM phase-2 review's finding 1: page_vma_mapped_walk() once treated
 * an HGM PMD (a pointer to a PTE table) as a huge entry, so the table's
 * pfn "mapped" the folio whenever the table sat in the 2 MiB of physical
 * memory just below it; try_to_unmap_one() then hit VM_BUG_ON_PAGE or
 * freed a folio still mapped by PTEs.  Where a page table lands is up to
 * the page allocator, so this case arranges it:
 *   1. on node 0, grow the pool as far as it goes and give TB_HEADROOM
 *      pages back: they are the node's only free pageblocks, each between
 *      pool pages;
 *   2. put the pool's free pages in one file and read their pfns;
 *   3. make PTE tables of our own (one anonymous 4 KiB page in each of as
 *      many 2 MiB ranges) until one sits in the 2 MiB below a file page:
 *      once the small free blocks are used, they fill the pageblocks of
 *      step 1; X is the file page with the most tables below it (B);
 *   4. free those tables: B now has free unmovable pages, which the next
 *      page table allocations reuse;
 *   5. map X in one new VMA after another (hgm: one 4 KiB piece each, so
 *      one PTE table each; huge: X huge, plus one anonymous 4 KiB page in
 *      a fresh 2 MiB, so one PTE table each too) until kpageflags shows
 *      as many pages of B that were not page tables after step 4 as step
 *      3 freed there (at most TB_NEW_BELOW): step 3 stops at the first
 *      table below a file page, so B may have had only one.
 * Then poison a piece of X: every mapping of it must go, as always.
 */
#define TB_SEED_MAX 12288
#define TB_SEED_STEP 512
#define TB_TRIES 4
#define TB_NEW_BELOW 4
#define TB_HEADROOM 64 /* pool pages given back in step 1 */

struct tb {
	struct ht_file file;
	size_t npages;
	uint64_t *pfn; /* pfn of file page i */
	size_t x; /* file index of the folio to poison */
	int seeded; /* step 3's page tables in B */
	uint64_t below[512 / 64]; /* KPF_PGTABLE of B after step 4 */
	char **map; /* the VMAs mapping X */
	int uffd; /* hgm: every VMA is registered with it */
	size_t nmaps;
};

/*
 * KPF_PGTABLE of the 512 pfns below @x into @bits, in one read: the scans
 * below look at hundreds of thousands of pfns.
 */
static int tb_tables_below(uint64_t x, uint64_t bits[512 / 64])
{
	uint64_t f[512];
	int fd = open("/proc/kpageflags", O_RDONLY), n = 0;
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = pread(fd, f, sizeof(f), (off_t)((x - 512) * sizeof(f[0])));
	close(fd);
	if (r != (ssize_t)sizeof(f))
		return -EIO;
	memset(bits, 0, 512 / 8);
	for (int i = 0; i < 512; i++) {
		if (!(f[i] >> KPF_PGTABLE & 1))
			continue;
		bits[i / 64] |= 1ULL << (i % 64);
		n++;
	}
	return n;
}

static int tb_count_below(struct __test_metadata *_metadata, uint64_t x)
{
	uint64_t bits[512 / 64];
	int n = tb_tables_below(x, bits);

	EXPECT_LE(0, n) TH_LOG("/proc/kpageflags: %s", strerror(-n));
	return n < 0 ? 0 : n;
}

/* The file page with the most page tables below it; 0 tables: none. */
static int tb_best(struct __test_metadata *_metadata, struct tb *t)
{
	int best = 0, n;

	for (size_t i = 0; i < t->npages; i++) {
		n = tb_count_below(_metadata, t->pfn[i]);
		if (n > best) {
			best = n;
			t->x = i;
		}
	}
	t->seeded = best;
	return best;
}

/* Step 1. */
static void tb_grow(struct __test_metadata *_metadata, unsigned long psize)
{
	struct ht_pool p = { 0 };

	/* One failed allocation stops a pool write: write until it stays. */
	for (unsigned long before = ~0UL; before != p.nr;) {
		ASSERT_EQ(0, ht_pool_read(psize, 0, &p));
		before = p.nr;
		ASSERT_EQ(0, ht_pool_set_nr(psize, 0, 1UL << 20));
		ASSERT_EQ(0, ht_pool_read(psize, 0, &p));
	}
	ASSERT_LT(TB_HEADROOM, p.free) TH_LOG("node 0 pool: %lu free", p.free);
	ASSERT_EQ(0, ht_pool_set_nr(psize, 0, p.nr - TB_HEADROOM));
}

/* Step 2: every free pool page into the file, and their pfns. */
static void tb_fill(struct __test_metadata *_metadata, struct tb *t,
		    unsigned long psize)
{
	struct ht_pool p;
	size_t len;
	char *m;

	ASSERT_EQ(0, ht_pool_read(psize, 0, &p));
	t->npages = p.free;
	len = t->npages * psize;
	ASSERT_EQ(0, ht_file_create(&t->file, psize, len));
	ASSERT_EQ(0, fallocate(t->file.fd, 0, 0, (off_t)len))
	TH_LOG("fallocate %zu pages: %s", t->npages, strerror(errno));
	t->pfn = calloc(t->npages, sizeof(*t->pfn));
	ASSERT_NE(NULL, t->pfn);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, t->file.fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	for (size_t i = 0; i < t->npages; i++) {
		(void)*(volatile char *)(m + i * psize);
		t->pfn[i] =
			ht_pfn_of(_metadata, 0, (unsigned long)m + i * psize);
	}
	munmap(m, len);
}

/*
 * Step 3: one anonymous 4 KiB page per 2 MiB, so a PTE table each (never
 * a THP), TB_SEED_STEP at a time until a table sits below a file page.
 * Returns the region to munmap in step 4.
 */
static char *tb_seed(struct __test_metadata *_metadata, struct tb *t,
		     unsigned long psize)
{
	size_t len = TB_SEED_MAX * psize, i = 0;
	char *r = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (r == MAP_FAILED)
		return r;
	if (madvise(r, len, MADV_NOHUGEPAGE)) {
		munmap(r, len);
		return MAP_FAILED;
	}
	while (i < TB_SEED_MAX) {
		for (size_t end = i + TB_SEED_STEP; i < end; i++)
			r[i * psize + psize / 2] = 1;
		if (tb_best(_metadata, t))
			return r;
	}
	munmap(r, len);
	return MAP_FAILED;
}

/* One more VMA mapping X, which costs one PTE table. */
static int tb_map_one(struct tb *t, enum ht_gran gran)
{
	unsigned long psize = t->file.psize;
	char *p, *a;

	p = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, t->file.fd,
		 (off_t)(t->x * psize));
	if (p == MAP_FAILED)
		return -errno;
	t->map[t->nmaps++] = p;
	if (gran == HT_GRAN_HUGE) {
		(void)*(volatile char *)p;
		/* Too small for a THP: its first touch needs a PTE table. */
		a = ht_mmap_aligned(HT_BASE_PAGE, psize, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (a == MAP_FAILED)
			return -errno;
		*(volatile char *)a = 1; /* unmapped at exit */
		return 0;
	}
	if (madvise(p, psize, MADV_SPLIT))
		return -errno;
	if (ht_uffd_register(t->uffd, p, psize, UFFDIO_REGISTER_MODE_MINOR))
		return -EINVAL;
	return ht_uffd_continue(t->uffd, p + POISON_OFF, HT_BASE_PAGE);
}

/* Pages of B that are page tables now and were not after step 4. */
static int tb_new_below(struct __test_metadata *_metadata, const struct tb *t)
{
	uint64_t now[512 / 64];
	int n = 0;

	EXPECT_LE(0, tb_tables_below(t->pfn[t->x], now));
	for (int i = 0; i < 512 / 64; i++)
		n += __builtin_popcountll(now[i] & ~t->below[i]);
	return n;
}

/* Steps 1-5; returns with X mapped by t->nmaps VMAs. */
static void tb_arrange(struct __test_metadata *_metadata, struct tb *t,
		       unsigned long psize, enum ht_gran gran)
{
	size_t max = 2 * TB_SEED_MAX;
	struct ht_pool p0;
	char *seed;
	int ret = 0, n = 0, want;

	ASSERT_EQ(0, numa_run_on_node(0));
	numa_set_preferred(0);
	ASSERT_EQ(0, ht_pool_read(psize, 0, &p0));
	/*
	 * Right after boot the first try often finds no table next to a
	 * pool page (measured: the second try after a full pool cycle
	 * did, every time).  Each try starts from the same pool.
	 */
	for (int try = 1;; try++) {
		tb_grow(_metadata, psize);
		tb_fill(_metadata, t, psize);
		seed = tb_seed(_metadata, t, psize);
		if (seed != MAP_FAILED)
			break;
		ASSERT_GT(TB_TRIES, try)
		TH_LOG("no page table below any of %zu pool pages after %d tables, %d tries",
		       t->npages, TB_SEED_MAX, try);
		ht_file_close(&t->file);
		free(t->pfn);
		t->pfn = NULL;
		ASSERT_EQ(0, ht_pool_set_nr(psize, 0, p0.nr));
	}
	ASSERT_EQ(0, munmap(seed, TB_SEED_MAX * psize));
	/* Page tables are freed after an RCU grace period. */
	usleep(200 * 1000);
	ASSERT_LE(0, tb_tables_below(t->pfn[t->x], t->below));

	t->map = calloc(max, sizeof(*t->map));
	ASSERT_NE(NULL, t->map);
	if (gran == HT_GRAN_HGM) {
		t->uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
		ASSERT_LE(0, t->uffd);
	}
	want = t->seeded < TB_NEW_BELOW ? t->seeded : TB_NEW_BELOW;
	while (n < want && t->nmaps < max && !ret) {
		ret = tb_map_one(t, gran);
		if (!ret && t->nmaps % 32 == 0)
			n = tb_new_below(_metadata, t);
	}
	ASSERT_LE(want, n)
	TH_LOG("%d new page tables below the folio (step 3 freed %d there) after %zu mappings (%s)",
	       n, t->seeded, t->nmaps, strerror(-ret));
}

FIXTURE(hwp_table_below)
{
	struct hwp h;
	struct tb t;
};

FIXTURE_VARIANT(hwp_table_below)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS_2M(hwp_table_below);

FIXTURE_SETUP(hwp_table_below)
{
	/*
	 * A steal of a movable pageblock raises node 0's watermarks (the
	 * boost), and page tables then go to node 1 instead.
	 */
	hwp_setup(_metadata, &self->h, variant->psize, variant->gran, 1,
		  "vm.watermark_boost_factor");
	self->t.uffd = -1;
	if (_metadata->exit_code) /* skipped */
		return;
	ASSERT_EQ(0, ht_write_ulong("/proc/sys/vm/watermark_boost_factor", 0));
}

FIXTURE_TEARDOWN_PARENT(hwp_table_below)
{
	HT_TEARDOWN(&self->h.env);
}

TEST_F_TIMEOUT(hwp_table_below, poison_unmaps_every_vma, 600)
{
	struct tb *t = &self->t;
	unsigned long psize = variant->psize, hc0, hugetlb_kb = ~0UL;
	int ret, lsb = ht_size_shift(psize);
	struct ht_sigbus sb;
	uint64_t e;

	/* The fixture's own file is not needed here. */
	ht_file_close(&self->h.file);
	tb_arrange(_metadata, t, psize, variant->gran);

	hc0 = hw_corrupted_kb(_metadata);
	ret = ht_madvise_catch(t->map[0] + POISON_OFF, HT_BASE_PAGE,
			       MADV_HWPOISON, &sb);
	EXPECT_EQ(0, ret) TH_LOG("MADV_HWPOISON: %s", strerror(-ret));
	if (!ht_kernel_before(6, 12)) {
		EXPECT_TRUE(sb.hit) TH_LOG("no SIGBUS during madvise");
		expect_sigbus(_metadata, "caller", &sb, BUS_MCEERR_AR,
			      (unsigned long)t->map[0] + POISON_OFF, lsb);
	} else {
		/* 6.1: no MF_ACTION_REQUIRED from madvise (poison_shared). */
		EXPECT_FALSE(sb.hit)
		TH_LOG("6.1 caller got si_code %d", sb.code);
	}
	EXPECT_EQ(hc0 + HT_BASE_PAGE / HT_KB, hw_corrupted_kb(_metadata));

	/* Nothing of X stays mapped in any of the VMAs. */
	for (size_t i = 0; i < t->nmaps; i++) {
		unsigned long a = (unsigned long)t->map[i] + POISON_OFF;

		ASSERT_EQ(0, ht_pagemap_read(0, a, &e));
		EXPECT_EQ(0, e & HT_PM_PRESENT)
		TH_LOG("VMA %zu of %zu still maps the folio", i, t->nmaps);
		if (e & HT_PM_PRESENT)
			break;
	}
	ASSERT_EQ(0, ht_status_read(0, "HugetlbPages", &hugetlb_kb));
	EXPECT_EQ(0, hugetlb_kb);

	for (size_t i = 0; i < t->nmaps; i++)
		munmap(t->map[i], psize);
	if (t->uffd >= 0)
		close(t->uffd);
	ht_file_close(&t->file);
	free(t->map);
	free(t->pfn);
	keep_lost_pages(&self->h.env, psize);
}

/* ---- MAP_PRIVATE anonymous: the poisoned page is dissolved ---- */

FIXTURE(hwp_private)
{
	struct ht_env env;
};

FIXTURE_VARIANT(hwp_private)
{
	unsigned long psize;
};

HT_ADD_SIZE_VARIANTS(hwp_private, huge);

FIXTURE_SETUP(hwp_private)
{
	struct ht_needs needs = {
		.page_size = variant->psize,
		.pages = 1,
		.caps = { CAP_SYS_ADMIN },
		.memory_failure = true,
		.destructive = true,
	};

	HT_SETUP_OR_SKIP(&needs, &self->env);
}

FIXTURE_TEARDOWN_PARENT(hwp_private)
{
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(hwp_private, anon_dissolved, 300)
{
	unsigned long psize = variant->psize, hc0;
	int lsb = ht_size_shift(psize), node, ret;
	struct ht_pool p0, p1, p2;
	struct ht_sigbus sb;
	uint64_t pfn;
	char *p;

	p = mmap(NULL, psize, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
			 (lsb << MAP_HUGE_SHIFT),
		 -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	node = ht_page_node(0, p);
	ASSERT_GE(node, 0);
	pfn = ht_pfn_of(_metadata, 0, (unsigned long)p);
	p0 = ht_pool_get(_metadata, psize, node);
	hc0 = hw_corrupted_kb(_metadata);

	ret = ht_madvise_catch(p + POISON_OFF, HT_BASE_PAGE, MADV_HWPOISON,
			       &sb);
	if (!ht_kernel_before(6, 12)) {
		EXPECT_EQ(0, ret) TH_LOG("MADV_HWPOISON: %s", strerror(-ret));
		expect_sigbus(_metadata, "caller", &sb, BUS_MCEERR_AR,
			      (unsigned long)p + POISON_OFF, lsb);
	} else {
		/*
		 * 6.1 (measured): no signal during the call (no
		 * MF_ACTION_REQUIRED, see poison_shared), and a gigantic
		 * page reports EBUSY although it is unmapped and dissolved
		 * all the same (checked below).
		 */
		EXPECT_EQ(psize == HT_GB ? -EBUSY : 0, ret)
		TH_LOG("MADV_HWPOISON: %s", strerror(-ret));
		EXPECT_FALSE(sb.hit);
	}
	expect_gone(_metadata, "caller", 0, (unsigned long)p, psize);
	EXPECT_EQ(hc0 + HT_BASE_PAGE / HT_KB, hw_corrupted_kb(_metadata));
	/* Dissolved: the raw page is poisoned and no longer part of a huge page. */
	EXPECT_EQ(1, (kpf(_metadata, pfn + POISON_OFF / HT_BASE_PAGE) >>
		      KPF_HWPOISON) &
			     1);
	EXPECT_EQ(0, (kpf(_metadata, pfn + POISON_OFF / HT_BASE_PAGE) >>
		      KPF_HUGE) &
			     1);
	p1 = ht_pool_get(_metadata, psize, node);
	EXPECT_EQ(p0.nr - 1, p1.nr) TH_LOG("HugePages_Total");
	EXPECT_EQ(p0.free, p1.free) TH_LOG("HugePages_Free");
	ht_touch(p, false, &sb);
	expect_sigbus(_metadata, "touch", &sb, BUS_MCEERR_AR, (unsigned long)p,
		      lsb);
	munmap(p, psize);
	p2 = ht_pool_get(_metadata, psize, node);
	EXPECT_EQ(p1.nr, p2.nr);
	EXPECT_EQ(p1.free, p2.free);
	keep_lost_pages(&self->env, psize);
}

HT_MAIN
