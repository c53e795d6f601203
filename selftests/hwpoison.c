// SPDX-License-Identifier: GPL-2.0
/*
 * Topic 3: a memory error in one 4 KiB piece of a huge page.  The HGM
 * review's objection (iv): memory_failure() must unmap the poisoned memory
 * from every mapping of every process, whatever the granularity it is
 * mapped at, and each mapper must get the right SIGBUS.  A huge mapping
 * loses the whole page; an HGM mapping (PTE table) loses only the
 * poisoned 4 KiB, which is what HGM is for: a 4 KiB error should not cost
 * a VM 1 GiB of its memory.
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
 *   HGM mappings (our series, patch "memory-failure: unmap only the
 *   poisoned base page of an HGM mapping"): the same, except that
 *     every signal to a process whose VMA maps the page through a PTE
 *     table says si_addr_lsb = 12
 *     only the poisoned piece gets a hwpoison entry; every other piece
 *     stays present, with its contents, readable and writable;
 *     HugetlbPages, smaps and the page's counts stay as they were
 *     touching the poisoned piece: BUS_MCEERR_AR, lsb 12; UFFDIO_CONTINUE
 *     of it: EIO; of a healthy piece in a new HGM mapping: mapped
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
#include <sys/uio.h>
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
 * A VMA whose huge page was poisoned: nothing of it is mapped, smaps
 * counts the hwpoison entry (the page model's poisoned view).
 */
static void expect_gone(struct __test_metadata *_metadata, const char *who,
			pid_t pid, unsigned long addr, unsigned long psize)
{
	struct ht_page_model pm;

	ht_model_init(&pm, psize, -1);
	ht_model_map(&pm, pid, 1);
	ht_model_poison(&pm);
	ht_model_check(_metadata, who, &pm, pid, addr);
}

/*
 * Every piece of @pid's mapping at @addr but the poisoned one reads the
 * file's data (through GUP: process_vm_readv, for another process too).
 */
static void expect_healthy(struct __test_metadata *_metadata, const char *who,
			   pid_t pid, unsigned long addr, unsigned long psize)
{
	size_t after = POISON_OFF + HT_BASE_PAGE, tail = psize - after;
	char *buf = malloc(psize);
	struct iovec local[2] = { { buf, POISON_OFF }, { buf + after, tail } };
	struct iovec remote[2] = { { (void *)addr, POISON_OFF },
				   { (void *)(addr + after), tail } };
	ssize_t n;

	ASSERT_NE(NULL, buf);
	n = process_vm_readv(pid ? pid : getpid(), local, 2, remote, 2, 0);
	EXPECT_EQ((ssize_t)(psize - HT_BASE_PAGE), n)
	TH_LOG("%s: process_vm_readv of the healthy pieces: %s", who,
	       n < 0 ? strerror(errno) : "short");
	EXPECT_EQ(-1, ht_pattern_check(buf, POISON_OFF, 0, SEED))
	TH_LOG("%s: a piece before the poisoned one", who);
	EXPECT_EQ(-1, ht_pattern_check(buf + after, tail, after, SEED))
	TH_LOG("%s: a piece after the poisoned one", who);
	free(buf);
}

/*
 * An HGM mapping after the poisoning: only the piece at POISON_OFF is
 * gone.  Everything /proc said about the mapping before (@b) holds, but
 * for one piece fewer present, and the other pieces keep their data.
 * smaps counts the piece's hwpoison entry as Shared_Hugetlb, as 6.12
 * counts a huge one (the page model): in a mapping that was private, its
 * 4 kB move from Private_Hugetlb to Shared_Hugetlb.
 */
static void expect_piece_gone(struct __test_metadata *_metadata,
			      const char *who, pid_t pid, unsigned long addr,
			      unsigned long psize, const struct ht_obs *b)
{
	unsigned long moved =
		b->vma.val[HT_SMAPS_PRIVATE_HUGETLB] ? HT_BASE_PAGE / HT_KB : 0;
	struct ht_obs o;
	int ret;

	ret = ht_observe(pid, addr, psize, &o);
	ASSERT_EQ(0, ret) TH_LOG("%s: /proc views: %s", who, strerror(-ret));
	EXPECT_EQ(b->present - 1, o.present)
	TH_LOG("%s: 4 KiB pieces present", who);
	EXPECT_EQ(0, ht_pagemap_count_present(pid, addr + POISON_OFF,
					      HT_BASE_PAGE))
	TH_LOG("%s: the poisoned piece is still present", who);
	EXPECT_EQ(b->pm, o.pm) TH_LOG("%s: pagemap of the first piece", who);
	EXPECT_EQ(b->count_head, o.count_head) TH_LOG("%s: kpagecount", who);
	EXPECT_EQ(b->hugetlb_kb, o.hugetlb_kb) TH_LOG("%s: HugetlbPages", who);
	EXPECT_EQ(b->vma.val[HT_SMAPS_SHARED_HUGETLB] + moved,
		  o.vma.val[HT_SMAPS_SHARED_HUGETLB])
	TH_LOG("%s: Shared_Hugetlb", who);
	EXPECT_EQ(b->vma.val[HT_SMAPS_PRIVATE_HUGETLB] - moved,
		  o.vma.val[HT_SMAPS_PRIVATE_HUGETLB])
	TH_LOG("%s: Private_Hugetlb", who);
	expect_healthy(_metadata, who, pid, addr, psize);
}

/* An observation of a fully mapped page, for expect_piece_gone(). */
static void observe_mapped(struct __test_metadata *_metadata, const char *who,
			   pid_t pid, unsigned long addr, unsigned long psize,
			   struct ht_obs *o)
{
	int ret = ht_observe(pid, addr, psize, o);

	ASSERT_EQ(0, ret) TH_LOG("%s: /proc views: %s", who, strerror(-ret));
	ASSERT_EQ((long)(psize / HT_BASE_PAGE), o->present)
	TH_LOG("%s: 4 KiB pieces present before the poisoning", who);
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
	/* HGM: only the poisoned piece goes; signals say mlsb */
	bool piece;
	int mlsb;
	struct ht_obs ob[2], ob_hold[MAX_HOLDERS];
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
	for (int i = 0; s->piece && i < t->vmas; i++)
		observe_mapped(_metadata, "caller", 0, (unsigned long)s->p[i],
			       s->psize, &s->ob[i]);
	for (int i = 0; s->piece && i < s->nh; i++)
		observe_mapped(_metadata, "holder", s->c[i].pid, s->haddr[i],
			       s->psize, &s->ob_hold[i]);
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
			      (unsigned long)s->p[0] + POISON_OFF, s->mlsb);
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
		EXPECT_EQ(early ? s->mlsb : 0, r)
		TH_LOG("holder %d si_addr_lsb", i);
	}
}

/*
 * Every mapping of every process is gone (HGM: its poisoned piece); the
 * page is marked poisoned.
 */
static void ps_expect_unmapped(struct __test_metadata *_metadata,
			       struct ps_run *s)
{
	uint64_t raw = s->pfn + POISON_OFF / HT_BASE_PAGE;

	for (int i = 0; i < s->t->vmas; i++) {
		if (s->piece)
			expect_piece_gone(_metadata, "caller", 0,
					  (unsigned long)s->p[i], s->psize,
					  &s->ob[i]);
		else
			expect_gone(_metadata, "caller", 0,
				    (unsigned long)s->p[i], s->psize);
	}
	for (int i = 0; i < s->nh; i++) {
		if (s->piece)
			expect_piece_gone(_metadata, "holder", s->c[i].pid,
					  s->haddr[i], s->psize,
					  &s->ob_hold[i]);
		else
			expect_gone(_metadata, "holder", s->c[i].pid,
				    s->haddr[i], s->psize);
	}
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

/* HT_CMD_SCAN: the first SIGBUS of a read of every piece of holder @c. */
static void holder_scan(struct __test_metadata *_metadata, struct ht_child *c,
			struct ht_sigbus *sb)
{
	int64_t code, addr, lsb;

	ASSERT_EQ(0, ht_send(c->sock, HT_CMD_SCAN));
	ASSERT_EQ(0, ht_recv(c->sock, &code, 60000));
	ASSERT_EQ(0, ht_recv(c->sock, &addr, 60000));
	ASSERT_EQ(0, ht_recv(c->sock, &lsb, 60000));
	*sb = (struct ht_sigbus){ .hit = code != 0,
				  .code = (int)code,
				  .addr = (unsigned long)addr,
				  .addr_lsb = (int)lsb };
}

/* HGM: a healthy piece next to the poisoned one takes a write. */
static void ps_write_healthy(struct __test_metadata *_metadata,
			     struct ps_run *s)
{
	size_t off = POISON_OFF + HT_BASE_PAGE;
	unsigned char *q = (unsigned char *)s->p[0] + off, old, got = 0;
	struct ht_sigbus sb;

	old = *q;
	ht_access(q, true, old ^ 0xff, &sb);
	EXPECT_FALSE(sb.hit) TH_LOG("write: si_code %d", sb.code);
	EXPECT_EQ(1, pread(s->h->file.fd, &got, 1, (off_t)off));
	EXPECT_EQ(old ^ 0xff, got) TH_LOG("the file missed the write");
	ht_access(q, true, old, &sb);
}

/*
 * Touching the page now: SIGBUS AR at the first byte touched (huge), or
 * at the poisoned piece only (HGM).  A read of every piece from the start
 * stops at the page's first piece (huge) or at the poisoned one (HGM).
 */
static void ps_touch(struct __test_metadata *_metadata, struct ps_run *s)
{
	unsigned long first = s->piece ? POISON_OFF : 0;
	unsigned long bad = (unsigned long)s->p[0] + POISON_OFF;
	struct ht_sigbus sb;
	int64_t r;

	for (int i = 0; i < s->nh; i++) {
		ASSERT_EQ(0, ht_holder_cmd(&s->c[i], HT_CMD_READ, &r));
		EXPECT_EQ(s->piece ? 0 : BUS_MCEERR_AR, r)
		TH_LOG("holder %d touch of the first piece", i);
		holder_scan(_metadata, &s->c[i], &sb);
		expect_sigbus(_metadata, "holder scan", &sb, BUS_MCEERR_AR,
			      s->haddr[i] + first, s->mlsb);
	}
	ht_touch(s->p[0], false, &sb);
	if (!s->piece) {
		expect_sigbus(_metadata, "caller touch", &sb, BUS_MCEERR_AR,
			      (unsigned long)s->p[0], s->lsb);
		return;
	}
	EXPECT_FALSE(sb.hit) TH_LOG("healthy piece: si_code %d", sb.code);
	ht_touch((void *)bad, false, &sb);
	expect_sigbus(_metadata, "caller touch", &sb, BUS_MCEERR_AR, bad,
		      s->mlsb);
	ps_write_healthy(_metadata, s);
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

/*
 * A new HGM mapping of the poisoned page, without userfaultfd: its first
 * fault finds no entry under the PMD; a healthy piece is mapped alone
 * (a PTE table, not the whole page), the poisoned one raises SIGBUS for
 * its 4 KiB.
 */
static void ps_new_hgm_fault(struct __test_metadata *_metadata,
			     struct ps_run *s)
{
	unsigned long psize = s->psize, next = POISON_OFF + HT_BASE_PAGE;
	struct ht_sigbus sb;
	char *q;

	q = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, s->h->file.fd,
		 0);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0, madvise(q, psize, MADV_SPLIT));
	ht_touch(q + next, false, &sb);
	EXPECT_FALSE(sb.hit)
	TH_LOG("healthy piece: si_code %d, lsb %d", sb.code, sb.addr_lsb);
	EXPECT_EQ(1, ht_pagemap_count_present(0, (unsigned long)q, psize));
	EXPECT_EQ(-1, ht_pattern_check(q + next, HT_BASE_PAGE, next, SEED));
	ht_touch(q + POISON_OFF, false, &sb);
	expect_sigbus(_metadata, "new HGM mapping", &sb, BUS_MCEERR_AR,
		      (unsigned long)q + POISON_OFF, s->mlsb);
	munmap(q, psize);
}

/*
 * A new HGM mapping of the poisoned page: CONTINUE refuses the poisoned
 * piece with EIO and maps healthy ones, with their data.
 */
static void ps_new_hgm_mapping(struct __test_metadata *_metadata,
			       struct ps_run *s)
{
	unsigned long psize = s->psize, next = POISON_OFF + HT_BASE_PAGE;
	int qfd;
	char *q;

	q = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, s->h->file.fd,
		 0);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0, madvise(q, psize, MADV_SPLIT));
	qfd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
	ASSERT_GE(qfd, 0);
	ASSERT_EQ(0,
		  ht_uffd_register(qfd, q, psize, UFFDIO_REGISTER_MODE_MINOR));
	EXPECT_EQ(-EIO, ht_uffd_continue(qfd, q + POISON_OFF, HT_BASE_PAGE));
	EXPECT_EQ(0, ht_uffd_continue(qfd, q + next, HT_BASE_PAGE));
	EXPECT_EQ(0, ht_uffd_continue(qfd, q, HT_BASE_PAGE));
	EXPECT_EQ(2, ht_pagemap_count_present(0, (unsigned long)q, psize));
	EXPECT_EQ(-1, ht_pattern_check(q, HT_BASE_PAGE, 0, SEED));
	EXPECT_EQ(-1, ht_pattern_check(q + next, HT_BASE_PAGE, next, SEED));
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
		.piece = gran == HT_GRAN_HGM,
		.mlsb = ht_size_shift(gran == HT_GRAN_HGM ? HT_BASE_PAGE :
							    psize),
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
	if (s.piece) {
		ps_new_hgm_mapping(_metadata, &s);
		ps_new_hgm_fault(_metadata, &s);
	}
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

/*
 * A 1 GiB poisoning eats one of the VM's few gigantic pages: settings gives
 * each 1 GiB case a boot of its own (fresh_boot).
 */
HT_ADD_VARIANTS(hwp_shared);

FIXTURE_SETUP(hwp_shared)
{
	hwp_setup(_metadata, &self->h, HT_PSIZE(variant), variant->gran, 1,
		  NULL);
}

FIXTURE_TEARDOWN_PARENT(hwp_shared)
{
	HT_TEARDOWN(&self->h.env);
}

TEST_F_TIMEOUT(hwp_shared, one_proc, 300)
{
	struct topo t = { .vmas = 1 };

	poison_shared(_metadata, &self->h, HT_PSIZE(variant), variant->gran,
		      &t);
}

TEST_F_TIMEOUT(hwp_shared, two_procs_early_kill, 300)
{
	struct topo t = { .early = 1, .vmas = 1 };

	poison_shared(_metadata, &self->h, HT_PSIZE(variant), variant->gran,
		      &t);
}

TEST_F_TIMEOUT(hwp_shared, two_procs_late_kill, 300)
{
	struct topo t = { .late = 1, .vmas = 1 };

	poison_shared(_metadata, &self->h, HT_PSIZE(variant), variant->gran,
		      &t);
}

TEST_F_TIMEOUT(hwp_shared, four_procs, 300)
{
	struct topo t = { .early = 2, .late = 1, .vmas = 1 };

	poison_shared(_metadata, &self->h, HT_PSIZE(variant), variant->gran,
		      &t);
}

TEST_F_TIMEOUT(hwp_shared, two_vmas_one_proc, 300)
{
	struct topo t = { .vmas = 2 };

	poison_shared(_metadata, &self->h, HT_PSIZE(variant), variant->gran,
		      &t);
}

/*
 * A page mapped only in part (HT_SPARSE_OFFS: HGM maps two pieces past
 * the first 2 MiB and nothing else; the huge twin maps it whole), the
 * last piece poisoned: memory_failure must find the VMA through rmap
 * whichever of the split PUD's tables hold its pieces.  HGM: only the
 * poisoned piece goes, the other stays mapped with its data; huge: the
 * whole page goes.  Either way the caller's signal is BUS_MCEERR_AR.
 */
static void sparse_poison(struct __test_metadata *_metadata, struct hwp *h,
			  unsigned long psize, enum ht_gran gran)
{
	const size_t offs[HT_SPARSE_PIECES] = HT_SPARSE_OFFS(psize);
	bool hgm = gran == HT_GRAN_HGM;
	int lsb = ht_size_shift(hgm ? HT_BASE_PAGE : psize);
	unsigned char *want = malloc(psize / HT_BASE_PAGE);
	unsigned long hc0, bad;
	struct ht_sigbus sb;
	long first = 0;
	int uffd, ret;
	char *p;

	ASSERT_NE(NULL, want);
	p = ht_map_pieces(&h->file, psize, gran, offs, HT_SPARSE_PIECES, &uffd);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("map: %s", strerror(errno));
	bad = (unsigned long)p + offs[1];
	hc0 = hw_corrupted_kb(_metadata);

	ret = ht_madvise_catch((void *)bad, HT_BASE_PAGE, MADV_HWPOISON, &sb);
	EXPECT_EQ(0, ret) TH_LOG("MADV_HWPOISON: %s", strerror(-ret));
	if (!ht_kernel_before(6, 12)) {
		EXPECT_TRUE(sb.hit)
		TH_LOG("caller got no SIGBUS during madvise");
		expect_sigbus(_metadata, "caller", &sb, BUS_MCEERR_AR, bad,
			      lsb);
	} else {
		/* 6.1: no MF_ACTION_REQUIRED from madvise (ps_poison) */
		EXPECT_FALSE(sb.hit)
		TH_LOG("6.1 caller got si_code %d", sb.code);
	}
	EXPECT_EQ(hc0 + HT_BASE_PAGE / HT_KB, hw_corrupted_kb(_metadata));

	/* HGM: the model's pieces but the poisoned one; huge: none. */
	ht_pieces_model(want, psize, psize, gran, offs, hgm ? 1 : 0);
	ASSERT_EQ(0, ht_pagemap_first_diff(0, (unsigned long)p, psize, want,
					   &first));
	EXPECT_EQ(-1, first)
	TH_LOG("pagemap after the poisoning: piece %ld", first);
	ht_touch(p + offs[0], false, &sb);
	if (hgm) {
		EXPECT_FALSE(sb.hit)
		TH_LOG("healthy piece: si_code %d", sb.code);
		EXPECT_EQ(-1, ht_pattern_check(p + offs[0], HT_BASE_PAGE,
					       offs[0], SEED));
	} else {
		expect_sigbus(_metadata, "touch of the other piece", &sb,
			      BUS_MCEERR_AR, (unsigned long)p + offs[0], lsb);
	}
	ht_touch((void *)bad, false, &sb);
	expect_sigbus(_metadata, "touch of the poisoned piece", &sb,
		      BUS_MCEERR_AR, bad, lsb);

	munmap(p, psize);
	if (uffd >= 0)
		close(uffd);
	free(want);
	ASSERT_EQ(0, ftruncate(h->file.fd, 0));
	ht_file_close(&h->file);
	keep_lost_pages(&h->env, psize);
}

TEST_F_TIMEOUT(hwp_shared, sparse_one_proc, 300)
{
	sparse_poison(_metadata, &self->h, HT_PSIZE(variant), variant->gran);
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
	hwp_setup(_metadata, &self->h, HT_PSIZE(variant), variant->gran, 2,
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
	unsigned long psize = HT_PSIZE(variant), haddr, hc0;
	struct ht_holder hold = { .file = &self->h.file,
				  .len = psize,
				  .gran = variant->gran,
				  .early_kill = true };
	struct ht_page_model pm;
	uint64_t pfn0, pfn1;
	struct ht_pool g0, g1;
	struct ht_sigbus sb;
	struct ht_child c;
	int64_t code, addr, lsb;
	int uffd, ret;
	char *p;

	/* The replacement may come from any node. */
	ht_model_init(&pm, psize, -1);
	ASSERT_EQ(0, ht_holder_start(&c, &hold, &haddr));
	ht_model_map(&pm, c.pid, 1);
	p = ht_map_populated(&self->h.file, 0, psize, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	ht_model_map(&pm, 0, 1);
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
	ht_model_check(_metadata, "caller", &pm, 0, (unsigned long)p);
	ht_model_check(_metadata, "holder", &pm, c.pid, haddr);
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
	enum ht_level level;
};

HT_ADD_SIZE_VARIANT_2M(hwp_soft_disabled, huge);

FIXTURE_SETUP(hwp_soft_disabled)
{
	hwp_setup(_metadata, &self->h, HT_PSIZE(variant), HT_GRAN_HUGE, 1,
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
	unsigned long psize = HT_PSIZE(variant), hc0;
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
	char **anon; /* huge: map[i]'s anonymous page (its PTE table) */
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
	size_t i = t->nmaps;

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
		t->anon[i] = a;
		*(volatile char *)a = 1;
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

/* Undo steps 2-5 of a try that did not arrange the tables. */
static void tb_undo(struct __test_metadata *_metadata, struct tb *t,
		    unsigned long psize, unsigned long nr0)
{
	for (size_t i = 0; i < t->nmaps; i++) {
		munmap(t->map[i], psize);
		if (t->anon[i])
			munmap(t->anon[i], HT_BASE_PAGE);
		t->anon[i] = NULL;
	}
	t->nmaps = 0;
	ht_file_close(&t->file);
	free(t->pfn);
	t->pfn = NULL;
	ASSERT_EQ(0, ht_pool_set_nr(psize, 0, nr0));
}

/*
 * Steps 1-5; returns with X mapped by t->nmaps VMAs.  Each try starts from
 * the same pool: right after boot the first try often finds no table next
 * to a pool page (measured: the second try after a full pool cycle did).
 */
static void tb_arrange(struct __test_metadata *_metadata, struct tb *t,
		       unsigned long psize, enum ht_gran gran)
{
	struct ht_pool p0;
	cpu_set_t one;
	char *seed;
	struct bitmask *cpus = numa_allocate_cpumask();
	int ret, n, want, cpu = 0;

	ASSERT_EQ(0, numa_run_on_node(0));
	numa_set_preferred(0);
	/*
	 * Step 4 frees the tables to its CPU's per-cpu free list and step 5
	 * takes them back from it, last freed first; on another CPU step 5
	 * would allocate elsewhere until the node runs out of memory.  One
	 * CPU of node 0 for all steps.
	 */
	ASSERT_EQ(0, numa_node_to_cpus(0, cpus));
	while (cpu < (int)numa_num_possible_cpus() &&
	       !numa_bitmask_isbitset(cpus, (unsigned int)cpu))
		cpu++;
	numa_free_cpumask(cpus);
	ASSERT_GT((int)numa_num_possible_cpus(), cpu)
	TH_LOG("node 0 has no CPU");
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one));
	ASSERT_EQ(0, ht_pool_read(psize, 0, &p0));
	/*
	 * At most as many mappings (one PTE table and, huge, one anonymous
	 * page each) as step 3 had tables: step 4 gave that memory back.
	 */
	t->map = calloc(TB_SEED_MAX, sizeof(*t->map));
	t->anon = calloc(TB_SEED_MAX, sizeof(*t->anon));
	ASSERT_NE(NULL, t->map);
	ASSERT_NE(NULL, t->anon);
	if (gran == HT_GRAN_HGM) {
		t->uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
		ASSERT_LE(0, t->uffd);
	}
	for (int try = 1;; try++) {
		tb_grow(_metadata, psize);
		tb_fill(_metadata, t, psize);
		seed = tb_seed(_metadata, t, psize);
		if (seed == MAP_FAILED) {
			TH_LOG("try %d: no page table below any of %zu pool pages after %d tables",
			       try, t->npages, TB_SEED_MAX);
			goto again;
		}
		ASSERT_EQ(0, munmap(seed, TB_SEED_MAX * psize));
		/* Page tables are freed after an RCU grace period. */
		usleep(200 * 1000);
		ASSERT_LE(0, tb_tables_below(t->pfn[t->x], t->below));

		want = t->seeded < TB_NEW_BELOW ? t->seeded : TB_NEW_BELOW;
		n = 0;
		ret = 0;
		while (n < want && t->nmaps < TB_SEED_MAX && !ret) {
			ret = tb_map_one(t, gran);
			if (!ret && t->nmaps % 32 == 0)
				n = tb_new_below(_metadata, t);
		}
		/* Every mapping must work: only the allocator's luck may not. */
		ASSERT_EQ(0, ret)
		TH_LOG("mapping %zu: %s", t->nmaps, strerror(-ret));
		if (n < want)
			n = tb_new_below(_metadata, t);
		TH_LOG("try %d: %d new page tables below the folio (step 3 freed %d there) after %zu mappings",
		       try, n, t->seeded, t->nmaps);
		if (n >= want)
			return;
again:
		ASSERT_GT(TB_TRIES, try);
		tb_undo(_metadata, t, psize, p0.nr);
	}
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
	hwp_setup(_metadata, &self->h, HT_PSIZE(variant), variant->gran, 1,
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
	unsigned long psize = HT_PSIZE(variant), hc0, hugetlb_kb = ~0UL;
	/* each VMA maps X through a PTE table (hgm): a 4 KiB loss */
	int ret, lsb = ht_size_shift(
			 variant->gran == HT_GRAN_HGM ? HT_BASE_PAGE : psize);
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

	for (size_t i = 0; i < t->nmaps; i++) {
		munmap(t->map[i], psize);
		if (t->anon[i])
			munmap(t->anon[i], HT_BASE_PAGE);
	}
	if (t->uffd >= 0)
		close(t->uffd);
	ht_file_close(&t->file);
	free(t->map);
	free(t->anon);
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
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(hwp_private, huge);

FIXTURE_SETUP(hwp_private)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
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
	unsigned long psize = HT_PSIZE(variant), hc0;
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
		EXPECT_EQ(psize == ht_pud_size() ? -EBUSY : 0, ret)
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

/* ---- corrupt-pfn and unpoison-pfn: free, poisoned again, unpoisoned ---- */

/*
 * memory_failure() through hwpoison_inject's corrupt-pfn, as a machine
 * check or a scrubber reports an error: MF_SW_SIMULATED only (no
 * MF_ACTION_REQUIRED: nobody is signalled but early-kill mappers), and it
 * reaches pages no mapping does.  The model (6.12 try_memory_failure_
 * hugetlb(), get_huge_page_for_hwpoison(), hugetlb_update_hwpoison(),
 * __page_handle_poison(), unpoison_memory()):
 *   a FREE pool page (MF_HUGETLB_FREED) is dissolved
 *     (dissolve_free_hugetlb_folio(), which first restores an HVO
 *     vmemmap) and its raw page taken off the buddy lists: write 0,
 *     "free huge page: Recovered", Total -1 and Free -1 (size, node,
 *     meminfo), HardwareCorrupted +4 kB, the raw page HWPOISON, not HUGE.
 *     When every free page is reserved (available_huge_pages() == 0) the
 *     dissolve is refused: write EBUSY, "free huge page: Failed", the page
 *     stays in the pool, poisoned, and is counted all the same.
 *   a poisoned huge page again (in use, held by the file or by
 *     memory_failure's reference alone, or free): the same raw page
 *     (MF_HUGETLB_PAGE_PRE_POISONED) EHWPOISON, not counted; another raw
 *     page (MF_HUGETLB_FOLIO_PRE_POISONED) EHWPOISON, added to the
 *     folio's raw_hwp list and counted (+4 kB).  The pool does not move.
 *   unpoison-pfn: PG_hwpoison of a huge page is its head's, so a tail PFN
 *     reads as "already unpoisoned": EBUSY, and so does a page not
 *     poisoned.  The head: EBUSY while the page cache holds it; once only
 *     memory_failure's reference is left (truncated) or the page is
 *     free, 0: folio_free_raw_hwp() uncounts every raw page of the list
 *     and an in-use page's last reference frees it into the pool.  A
 *     dissolved raw page goes back to the buddy allocator: 0, -4 kB.
 * The log lines are 6.11's (b8b9488d50b7, "mm/memory-failure: improve
 * memory failure action_result messages"); before, a poisoned page or
 * huge page only said "already hardware poisoned".  Measured on Debian's
 * 6.1.192: everything else as above (its hugetlb_update_hwpoison() counts
 * a new raw page of a poisoned folio itself).
 */
#define HVO_SYSCTL "/proc/sys/vm/hugetlb_optimize_vmemmap"
/* raw pages poisoned, as 4 KiB indexes into the huge page */
#define RAW_A (POISON_OFF / HT_BASE_PAGE)
#define RAW_B 511 /* the last raw page of a 2 MiB page */

enum mf_msg {
	MF_FREE_OK,
	MF_FREE_FAILED,
	MF_IN_USE_OK,
	MF_PAGE_PRE, /* also a dissolved raw page poisoned again */
	MF_FOLIO_PRE,
};

static const char *mf_text(enum mf_msg m)
{
	bool v611 = !ht_kernel_before(6, 11);

	switch (m) {
	case MF_FREE_OK:
		return "recovery action for free huge page: Recovered";
	case MF_FREE_FAILED:
		return "recovery action for free huge page: Failed";
	case MF_IN_USE_OK:
		return "recovery action for huge page: Recovered";
	case MF_PAGE_PRE:
		return v611 ? "recovery action for already poisoned page: Failed" :
			      "already hardware poisoned";
	case MF_FOLIO_PRE:
		return v611 ? "recovery action for huge page: Failed" :
			      "already hardware poisoned";
	}
	return "?";
}

/* One page's poisonings: what the pools and HardwareCorrupted must read. */
struct inj {
	struct ht_pool_model g, n; /* the size's pool, and its node's */
	int kfd; /* /dev/kmsg, at the end of the log */
	unsigned long hc; /* HardwareCorrupted, kB */
	uint64_t pfn; /* the huge page's head */
	int node;
	bool v612;
};

/*
 * The models start from the kernel's numbers, with no surplus page on
 * @node: earlier cases leave poisoned pages there that the runner's pool
 * restore turned into surplus, and a surplus page freed or dissolved
 * leaves the pool another way (free_huge_folio(), dissolve_free_hugetlb_
 * folio() adjust_surplus).
 */
static void inj_start(struct __test_metadata *_metadata, struct inj *s,
		      unsigned long psize, int node)
{
	s->node = node;
	s->v612 = !ht_kernel_before(6, 12);
	ASSERT_EQ(0, ht_pool_persist_surplus(psize, node));
	ASSERT_EQ(0, ht_pool_model_init(&s->g, psize, -1));
	ASSERT_EQ(0, ht_pool_model_init(&s->n, psize, node));
	s->hc = hw_corrupted_kb(_metadata);
	s->kfd = ht_kmsg_open();
	ASSERT_LE(0, s->kfd) TH_LOG("/dev/kmsg: %s", strerror(-s->kfd));
}

static void inj_pools(struct __test_metadata *_metadata, struct inj *s,
		      const char *step)
{
	char why[256];

	HT_POOL_CHECK(&s->g, step);
	HT_POOL_CHECK(&s->n, step);
	EXPECT_EQ(0, ht_pool_model_check_meminfo(&s->g, why, sizeof(why)))
	TH_LOG("/proc/meminfo after %s: %s", step, why);
	EXPECT_EQ(0, ht_pool_model_check_meminfo(&s->n, why, sizeof(why)))
	TH_LOG("node %d meminfo after %s: %s", s->node, step, why);
}

/* Both models: Total and Free move by @nr and @free. */
static void inj_move(struct inj *s, long nr, long free)
{
	ht_pool_model_move(&s->g, nr, free, 0, 0);
	ht_pool_model_move(&s->n, nr, free, 0, 0);
}

/* The one line memory_failure() logged about @pfn since the last read. */
static void expect_mf_log(struct __test_metadata *_metadata, int kfd,
			  uint64_t pfn, enum mf_msg m)
{
	char needle[40], want[160], got[1024];
	int n;

	snprintf(needle, sizeof(needle), "%#llx: ", (unsigned long long)pfn);
	snprintf(want, sizeof(want), "Memory failure: %s%s", needle,
		 mf_text(m));
	n = ht_kmsg_grep(kfd, needle, got, sizeof(got));
	EXPECT_EQ(1, n) TH_LOG("log lines about pfn %s: %s", needle, got);
	EXPECT_STREQ(want, got);
}

/* corrupt-pfn of raw page @raw: the write's result, log, counter. */
static void inj_poison(struct __test_metadata *_metadata, struct inj *s,
		       unsigned int raw, int want, enum mf_msg m, int counted)
{
	uint64_t pfn = s->pfn + raw;
	int ret = ht_hwpoison_inject_pfn(pfn);

	EXPECT_EQ(want, ret)
	TH_LOG("corrupt-pfn of raw page %u: %s (want %s)", raw, strerror(-ret),
	       strerror(-want));
	expect_mf_log(_metadata, s->kfd, pfn, m);
	s->hc += counted * HT_BASE_PAGE / HT_KB;
	EXPECT_EQ(s->hc, hw_corrupted_kb(_metadata))
	TH_LOG("HardwareCorrupted after corrupt-pfn of raw page %u", raw);
}

/* unpoison-pfn of @pfn: the write's result and the counter. */
static void inj_unpoison(struct __test_metadata *_metadata, struct inj *s,
			 uint64_t pfn, int want, int uncounted)
{
	int ret = ht_hwpoison_unpoison_pfn(pfn);

	EXPECT_EQ(want, ret)
	TH_LOG("unpoison-pfn of %#llx (head %#llx): %s (want %s)",
	       (unsigned long long)pfn, (unsigned long long)s->pfn,
	       strerror(-ret), strerror(-want));
	s->hc -= uncounted * HT_BASE_PAGE / HT_KB;
	EXPECT_EQ(s->hc, hw_corrupted_kb(_metadata))
	TH_LOG("HardwareCorrupted after unpoison-pfn of %#llx",
	       (unsigned long long)pfn);
	/*
	 * unpoison_memory() logs "<pfn>: ..." too, rate-limited (10 in 5 s,
	 * across cases): skipped, so that a later corrupt-pfn of the same
	 * PFN finds its own line only.
	 */
	ht_kmsg_grep(s->kfd, "", NULL, 0);
}

/* KPF_HWPOISON and KPF_HUGE of raw page @raw. */
static void expect_kpf(struct __test_metadata *_metadata, struct inj *s,
		       unsigned int raw, int hwpoison, int huge,
		       const char *step)
{
	uint64_t f = kpf(_metadata, s->pfn + raw);

	EXPECT_EQ(hwpoison, (f >> KPF_HWPOISON) & 1)
	TH_LOG("raw page %u KPF_HWPOISON after %s", raw, step);
	EXPECT_EQ(huge, (f >> KPF_HUGE) & 1)
	TH_LOG("raw page %u KPF_HUGE after %s", raw, step);
}

/*
 * A huge page poisoned and still a huge page: the flag is the folio's,
 * which 6.12 reports on every PFN and 6.1 (measured, see
 * ps_expect_unmapped) on the head only.
 */
static void expect_kpf_poisoned(struct __test_metadata *_metadata,
				struct inj *s, const char *step)
{
	expect_kpf(_metadata, s, 0, 1, 1, step);
	expect_kpf(_metadata, s, RAW_A, s->v612, 1, step);
	expect_kpf(_metadata, s, RAW_B, s->v612, 1, step);
}

/* One page of @f faulted in; its head PFN, its node in *node. */
static uint64_t fault_file_page(struct __test_metadata *_metadata,
				struct ht_file *f, size_t off, int *node)
{
	uint64_t pfn;
	char *p;

	p = mmap(NULL, f->psize, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
		 (off_t)off);
	if (p == MAP_FAILED)
		return 0;
	/* a new page is zeroed at its first fault */
	EXPECT_EQ(0, ((volatile uint32_t *)p)[0]);
	EXPECT_EQ(0, ((volatile uint32_t *)p)[(f->psize - 4) / 4]);
	p[0] = 1;
	pfn = ht_pfn_of(_metadata, 0, (unsigned long)p);
	*node = ht_page_node(0, p);
	munmap(p, f->psize);
	return pfn;
}

/* ---- a free pool page ---- */

FIXTURE(hwp_free)
{
	struct ht_env env;
	struct ht_file file;
};

FIXTURE_VARIANT(hwp_free)
{
	enum ht_level level;
};

/*
 * 2 MiB only: a 1 GiB page dissolved here could not be grown back at run
 * time everywhere (6.1, expected/debian-6.1.txt), and the VM has two.
 */
HT_ADD_SIZE_VARIANT_2M(hwp_free, huge);

static void free_setup(struct __test_metadata *_metadata, struct ht_env *env,
		       struct ht_file *file, unsigned long psize, bool hvo)
{
	struct ht_needs needs = {
		.page_size = psize,
		.pages = 1,
		.caps = { CAP_SYS_ADMIN },
		.memory_failure = true,
		.hwpoison_inject = true,
		.destructive = true,
		/* what dissolving costs is decided at allocation */
		.sysctls = { hvo || !access(HVO_SYSCTL, F_OK) ?
				     "vm/hugetlb_optimize_vmemmap" :
				     NULL },
	};

	file->fd = -1;
	HT_SETUP_OR_SKIP(&needs, env);
}

FIXTURE_SETUP(hwp_free)
{
	free_setup(_metadata, &self->env, &self->file, HT_PSIZE(variant),
		   false);
}

FIXTURE_TEARDOWN_PARENT(hwp_free)
{
	HT_TEARDOWN(&self->env);
}

/* The node's pool grows by one page, which a file fault then takes. */
static void free_grow_one(struct __test_metadata *_metadata,
			  struct ht_file *file, struct inj *s, uint64_t *pfn)
{
	unsigned long psize = s->g.psize;
	int got = -1;

	ASSERT_EQ(0, ht_pool_grow(psize, s->node, 1));
	inj_move(s, 1, 1);
	inj_pools(_metadata, s, "growing the node's pool by one page");
	/* a node's free list is LIFO and the fault prefers the node */
	ASSERT_EQ(0, ftruncate(file->fd, (off_t)psize));
	*pfn = fault_file_page(_metadata, file, 0, &got);
	ASSERT_NE(0, *pfn);
	ASSERT_EQ(s->node, got);
	inj_move(s, 0, -1);
	inj_pools(_metadata, s, "faulting the new page in a file");
	ASSERT_EQ(0, ftruncate(file->fd, 0));
	inj_move(s, 0, 1);
	inj_pools(_metadata, s, "truncating the file");
}

/*
 * A free page of the pool, allocated with HVO @hvo, poisoned: dissolved,
 * gone from the pool; the pool grows back with other memory.
 */
static void free_dissolve(struct __test_metadata *_metadata, struct ht_env *env,
			  struct ht_file *file, unsigned long psize, int hvo)
{
	long saving = hvo ? ht_hvo_saving(psize) : 0, mm;
	struct inj s = { 0 };
	uint64_t raw, q;

	if (!access(HVO_SYSCTL, F_OK))
		ASSERT_EQ(0, ht_write_ulong(HVO_SYSCTL, hvo));
	numa_set_preferred(env->nodes[0]);
	inj_start(_metadata, &s, psize, env->nodes[0]);
	ASSERT_EQ(0, ht_file_create(file, psize, psize));
	mm = ht_memmap_pages();
	free_grow_one(_metadata, file, &s, &s.pfn);
	ht_expect_memmap(_metadata, &mm, -saving, "allocating the page");
	raw = s.pfn + RAW_A;

	inj_poison(_metadata, &s, RAW_A, 0, MF_FREE_OK, 1);
	inj_move(&s, -1, -1);
	inj_pools(_metadata, &s, "poisoning the free page");
	ht_expect_memmap(_metadata, &mm, saving, "dissolving the page");
	expect_kpf(_metadata, &s, RAW_A, 1, 0, "dissolving the page");
	expect_kpf(_metadata, &s, 0, 0, 0, "dissolving the page");
	/* a raw page now, whose own PG_hwpoison is set */
	inj_poison(_metadata, &s, RAW_A, -EHWPOISON, MF_PAGE_PRE, 0);
	inj_pools(_metadata, &s, "poisoning the raw page again");

	/* other memory: no new page may contain the poisoned raw page */
	if (!access(HVO_SYSCTL, F_OK))
		ASSERT_EQ(0, ht_write_ulong(HVO_SYSCTL, 0));
	free_grow_one(_metadata, file, &s, &q);
	EXPECT_FALSE(raw >= q && raw < q + psize / HT_BASE_PAGE)
	TH_LOG("the new page at pfn %#llx holds the poisoned %#llx",
	       (unsigned long long)q, (unsigned long long)raw);
	ht_expect_memmap(_metadata, &mm, 0, "growing the pool back");

	inj_unpoison(_metadata, &s, raw, 0, 1);
	expect_kpf(_metadata, &s, RAW_A, 0, 0, "unpoisoning the raw page");
	inj_unpoison(_metadata, &s, raw, -EBUSY, 0);
	inj_pools(_metadata, &s, "unpoisoning the raw page");
	numa_set_localalloc();
	close(s.kfd);
}

TEST_F_TIMEOUT(hwp_free, dissolved, 300)
{
	free_dissolve(_metadata, &self->env, &self->file, HT_PSIZE(variant), 0);
}

/*
 * Every free page reserved (available_huge_pages() == 0): the dissolve
 * is refused and the poisoned page stays free in the pool, where a
 * second error meets it as MF_HUGETLB_FREED again and unpoison finds it
 * free (get_hwpoison_page() 0: the hugetlb branch without a reference).
 */
static void reserved_poison(struct __test_metadata *_metadata, struct inj *s)
{
	inj_poison(_metadata, s, RAW_A, -EBUSY, MF_FREE_FAILED, 1);
	inj_pools(_metadata, s, "poisoning a reserved free page");
	expect_kpf_poisoned(_metadata, s, "poisoning a reserved free page");
	inj_poison(_metadata, s, RAW_A, -EHWPOISON, MF_PAGE_PRE, 0);
	inj_poison(_metadata, s, RAW_B, -EHWPOISON, MF_FOLIO_PRE, 1);
	inj_pools(_metadata, s, "poisoning it again");
	inj_unpoison(_metadata, s, s->pfn + RAW_A, -EBUSY, 0);
	inj_unpoison(_metadata, s, s->pfn, 0, 2);
	expect_kpf(_metadata, s, 0, 0, 1, "unpoisoning the free page");
	expect_kpf(_metadata, s, RAW_A, 0, 1, "unpoisoning the free page");
	expect_kpf(_metadata, s, RAW_B, 0, 1, "unpoisoning the free page");
	inj_unpoison(_metadata, s, s->pfn, -EBUSY, 0);
	inj_pools(_metadata, s, "unpoisoning it");
}

/* Every reserved page faulted: the unpoisoned page is one of them. */
static void reserved_fault_all(struct __test_metadata *_metadata, struct inj *s,
			       char *m, size_t n)
{
	unsigned long psize = s->g.psize;
	bool found = false;

	for (size_t i = 0; i < n; i++) {
		EXPECT_EQ(0, *(volatile char *)(m + i * psize));
		found |= ht_pfn_of(_metadata, 0,
				   (unsigned long)m + i * psize) == s->pfn;
	}
	EXPECT_TRUE(found)
	TH_LOG("pfn %#llx not among the %zu pages", (unsigned long long)s->pfn,
	       n);
	ht_pool_model_move(&s->g, 0, -(long)n, -(long)n, 0);
	ht_pool_model_move(&s->n, 0, -(long)s->n.want.free, 0, 0);
	inj_pools(_metadata, s, "faulting every reserved page");
}

TEST_F_TIMEOUT(hwp_free, reserved_kept, 300)
{
	unsigned long psize = HT_PSIZE(variant), node_free;
	struct ht_file all = { .fd = -1 };
	struct inj s = { 0 };
	int node = -1;
	size_t avail;
	char *m;

	ASSERT_EQ(0, ht_file_create(&self->file, psize, psize));
	s.pfn = fault_file_page(_metadata, &self->file, 0, &node);
	ASSERT_NE(0, s.pfn);
	ASSERT_LE(0, node);
	inj_start(_metadata, &s, psize, node);
	ASSERT_EQ(0, s.g.want.resv) TH_LOG("someone holds a reservation");
	ASSERT_EQ(0, ftruncate(self->file.fd, 0));
	inj_move(&s, 0, 1);
	inj_pools(_metadata, &s, "truncating the file");
	avail = s.g.want.free;
	node_free = s.n.want.free;
	ASSERT_EQ(0, ht_file_create(&all, psize, avail * psize));
	m = mmap(NULL, avail * psize, PROT_READ | PROT_WRITE, MAP_SHARED,
		 all.fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	ht_pool_model_move(&s.g, 0, 0, (long)avail, 0);
	inj_pools(_metadata, &s, "reserving every free page");

	reserved_poison(_metadata, &s);
	reserved_fault_all(_metadata, &s, m, avail);
	munmap(m, avail * psize);
	ht_file_close(&all);
	ht_pool_model_move(&s.g, 0, (long)avail, 0, 0);
	ht_pool_model_move(&s.n, 0, (long)node_free, 0, 0);
	inj_pools(_metadata, &s, "closing the file");
	close(s.kfd);
}

/*
 * Allocated with HVO on: the dissolve first restores the vmemmap
 * (hugetlb_vmemmap_restore_folio()), then frees the page to the buddy
 * allocator as a pool shrink does.  A fixture of its own: it needs the
 * knob, which a kernel without CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP lacks.
 */
FIXTURE(hwp_free_hvo)
{
	struct ht_env env;
	struct ht_file file;
};

FIXTURE_VARIANT(hwp_free_hvo)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANT_2M(hwp_free_hvo, huge);

FIXTURE_SETUP(hwp_free_hvo)
{
	free_setup(_metadata, &self->env, &self->file, HT_PSIZE(variant), true);
}

FIXTURE_TEARDOWN_PARENT(hwp_free_hvo)
{
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(hwp_free_hvo, dissolved, 300)
{
	free_dissolve(_metadata, &self->env, &self->file, HT_PSIZE(variant), 1);
}

/* ---- a page in use: poisoned again, unpoisoned ---- */

FIXTURE(hwp_inject)
{
	struct hwp h;
};

FIXTURE_VARIANT(hwp_inject)
{
	HT_VARIANT_FIELDS;
};

/* 2 MiB only, as hwp_shared. */
HT_ADD_VARIANTS_2M(hwp_inject);

FIXTURE_SETUP(hwp_inject)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1,
		.caps = { CAP_SYS_ADMIN },
		.memory_failure = true,
		.hwpoison_inject = true,
		.destructive = true,
		.uffd_minor = true,
		.hgm = variant->gran == HT_GRAN_HGM,
	};

	self->h.file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->h.env);
	ASSERT_EQ(0, ht_file_create(&self->h.file, HT_PSIZE(variant),
				    HT_PSIZE(variant)));
	ASSERT_EQ(0, ht_file_fill(&self->h.file, 0, HT_PSIZE(variant), SEED));
}

FIXTURE_TEARDOWN_PARENT(hwp_inject)
{
	HT_TEARDOWN(&self->h.env);
}

/*
 * The file's page mapped at @gran in the caller, then poisoned through
 * its PFN: unmapped everywhere (HGM: the poisoned piece), no signal (late
 * kill, no MF_ACTION_REQUIRED), counted once, the pool unchanged.
 * Returns with the mapping unmapped.
 */
static void inuse_poison(struct __test_metadata *_metadata, struct hwp *h,
			 struct inj *s, enum ht_gran gran)
{
	unsigned long psize = h->file.psize;
	struct ht_sigbus sb = { 0 };
	int uffd = -1, node;
	struct ht_obs ob;
	char *p;

	p = ht_map_populated(&h->file, 0, psize, gran, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	if (gran == HT_GRAN_HGM)
		observe_mapped(_metadata, "caller", 0, (unsigned long)p, psize,
			       &ob);
	s->pfn = ht_pfn_of(_metadata, 0, (unsigned long)p);
	node = ht_page_node(0, p);
	ASSERT_LE(0, node);
	inj_start(_metadata, s, psize, node);
	ht_sigbus_record_async();

	inj_poison(_metadata, s, RAW_A, 0, MF_IN_USE_OK, 1);
	if (gran == HT_GRAN_HGM)
		expect_piece_gone(_metadata, "caller", 0, (unsigned long)p,
				  psize, &ob);
	else
		expect_gone(_metadata, "caller", 0, (unsigned long)p, psize);
	EXPECT_FALSE(ht_sigbus_async_get(&sb))
	TH_LOG("late-kill caller got si_code %d", sb.code);
	inj_pools(_metadata, s, "poisoning the mapped page");
	expect_kpf_poisoned(_metadata, s, "poisoning the mapped page");
	munmap(p, psize);
	if (uffd >= 0)
		close(uffd);
}

TEST_F_TIMEOUT(hwp_inject, repoison, 300)
{
	struct inj s = { 0 };

	inuse_poison(_metadata, &self->h, &s, variant->gran);
	inj_poison(_metadata, &s, RAW_A, -EHWPOISON, MF_PAGE_PRE, 0);
	inj_poison(_metadata, &s, RAW_B, -EHWPOISON, MF_FOLIO_PRE, 1);
	inj_poison(_metadata, &s, RAW_B, -EHWPOISON, MF_PAGE_PRE, 0);
	inj_pools(_metadata, &s, "poisoning it again in the file");
	expect_kpf_poisoned(_metadata, &s, "poisoning it again in the file");

	/* Truncated: memory_failure's reference alone keeps it (leaked). */
	ASSERT_EQ(0, ftruncate(self->h.file.fd, 0));
	inj_pools(_metadata, &s, "truncating the file");
	inj_poison(_metadata, &s, RAW_A, -EHWPOISON, MF_PAGE_PRE, 0);
	inj_poison(_metadata, &s, 0, -EHWPOISON, MF_FOLIO_PRE, 1);
	inj_pools(_metadata, &s, "poisoning it again after the truncation");
	expect_kpf_poisoned(_metadata, &s, "poisoning the truncated page");
	close(s.kfd);
	ht_file_close(&self->h.file);
	keep_lost_pages(&self->h.env, HT_PSIZE(variant));
}

/*
 * A second error, in another piece, while the page is still mapped: a
 * huge mapping went with the first error, and nothing changes; an HGM
 * mapping loses the second piece too (our patch 13), and only it.
 */
static void expect_second_error(struct __test_metadata *_metadata, char *p,
				unsigned long psize, enum ht_gran gran,
				const struct ht_obs *ob)
{
	unsigned long b = (unsigned long)p + RAW_B * HT_BASE_PAGE;
	struct ht_sigbus sb;

	if (gran != HT_GRAN_HGM) {
		expect_gone(_metadata, "caller", 0, (unsigned long)p, psize);
		return;
	}
	EXPECT_EQ(ob->present - 2,
		  ht_pagemap_count_present(0, (unsigned long)p, psize));
	EXPECT_EQ(0, ht_pagemap_count_present(0, b, HT_BASE_PAGE))
	TH_LOG("the second poisoned piece is still mapped");
	ht_touch(p, false, &sb);
	EXPECT_FALSE(sb.hit) TH_LOG("healthy piece: si_code %d", sb.code);
	ht_touch((void *)b, false, &sb);
	expect_sigbus(_metadata, "touch of the second piece", &sb,
		      BUS_MCEERR_AR, b, ht_size_shift(HT_BASE_PAGE));
}

TEST_F_TIMEOUT(hwp_inject, second_error_mapped, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	struct ht_sigbus sb = { 0 };
	struct inj s = { 0 };
	int uffd = -1, node;
	struct ht_obs ob;
	char *p;

	p = ht_map_populated(&self->h.file, 0, psize, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	observe_mapped(_metadata, "caller", 0, (unsigned long)p, psize, &ob);
	s.pfn = ht_pfn_of(_metadata, 0, (unsigned long)p);
	node = ht_page_node(0, p);
	ASSERT_LE(0, node);
	inj_start(_metadata, &s, psize, node);
	ht_sigbus_record_async();
	inj_poison(_metadata, &s, RAW_A, 0, MF_IN_USE_OK, 1);
	inj_poison(_metadata, &s, RAW_B, -EHWPOISON, MF_FOLIO_PRE, 1);
	expect_second_error(_metadata, p, psize, variant->gran, &ob);
	EXPECT_FALSE(ht_sigbus_async_get(&sb))
	TH_LOG("late-kill caller got si_code %d", sb.code);
	inj_pools(_metadata, &s, "a second error while mapped");
	expect_kpf_poisoned(_metadata, &s, "a second error while mapped");
	munmap(p, psize);
	if (uffd >= 0)
		close(uffd);
	close(s.kfd);
	ht_file_close(&self->h.file);
	keep_lost_pages(&self->h.env, psize);
}

/* The unpoisoned page in the pool again: the next fault on its node. */
static void inuse_reuse(struct __test_metadata *_metadata, struct inj *s)
{
	struct ht_file f = { .fd = -1 };
	int node = -1;
	uint64_t pfn;

	numa_set_preferred(s->node);
	ASSERT_EQ(0, ht_file_create(&f, s->g.psize, s->g.psize));
	pfn = fault_file_page(_metadata, &f, 0, &node);
	EXPECT_EQ(s->pfn, pfn) TH_LOG("the fault took another page");
	EXPECT_EQ(s->node, node);
	inj_move(s, 0, -1);
	inj_pools(_metadata, s, "faulting the unpoisoned page");
	ht_file_close(&f);
	inj_move(s, 0, 1);
	inj_pools(_metadata, s, "closing its file");
	numa_set_localalloc();
}

TEST_F_TIMEOUT(hwp_inject, unpoison, 300)
{
	struct inj s = { 0 };

	inuse_poison(_metadata, &self->h, &s, variant->gran);
	inj_poison(_metadata, &s, RAW_B, -EHWPOISON, MF_FOLIO_PRE, 1);
	/* the page cache holds it: "someone grabs the hwpoison page" */
	inj_unpoison(_metadata, &s, s.pfn, -EBUSY, 0);
	inj_unpoison(_metadata, &s, s.pfn + RAW_A, -EBUSY, 0);
	expect_kpf_poisoned(_metadata, &s, "unpoison refused");

	ASSERT_EQ(0, ftruncate(self->h.file.fd, 0));
	inj_pools(_metadata, &s, "truncating the file");
	inj_unpoison(_metadata, &s, s.pfn + RAW_A, -EBUSY, 0);
	inj_unpoison(_metadata, &s, s.pfn, 0, 2);
	/* the last reference frees it into the pool (no surplus here) */
	inj_move(&s, 0, 1);
	inj_pools(_metadata, &s, "unpoisoning the truncated page");
	expect_kpf(_metadata, &s, 0, 0, 1, "unpoisoning it");
	expect_kpf(_metadata, &s, RAW_A, 0, 1, "unpoisoning it");
	expect_kpf(_metadata, &s, RAW_B, 0, 1, "unpoisoning it");
	inj_unpoison(_metadata, &s, s.pfn, -EBUSY, 0);
	inuse_reuse(_metadata, &s);
	close(s.kfd);
}

HT_MAIN
