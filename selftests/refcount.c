// SPDX-License-Identifier: GPL-2.0
/*
 * Topic 5: refcount and mapcount of one huge page at moderate scale, and
 * the refcount guard's limit.
 *
 * The model (6.12 include/linux/rmap.h hugetlb_add_file_rmap and
 * hugetlb_remove_rmap; mm/memory.c vma_needs_copy):
 *   kpagecount (head and tail PFN) = number of (VMA, page) mappings
 *   mapping a page-cache page allocates nothing
 *   fork does not copy a shared VMA without anon_vma: the child adds its
 *       N mappings only when it touches them
 *   munmap / exit drop one per VMA; the last fd closed frees the page
 * At HGM granularity each VMA maps only the head and tail 4 KiB of the
 * page, two PTEs, and must still count ONE mapping per (VMA, page)
 * (design sketch: one reference and one mapcount per (VMA, folio)); smaps
 * counts the 8 kB mapped.  fork copies no HGM table and the child's
 * faults map the whole page.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht_harness.h"

#define SEED 0x5a5a0005
#define NVMAS 1000 /* VMAs per process */
#define NPROCS 8 /* processes mapping the page */
#define LIMIT_K 16 /* refcount_limit the knob cases set */

#define REFCOUNT_KNOB "/sys/kernel/debug/hugetlb/refcount_limit"

/* Puts a mapping of the page in place at granularity @g. */
static int map_in(char *p, unsigned long psize, enum ht_gran g, int uffd)
{
	size_t ps = ht_base_page_size();
	int ret;

	if (g == HT_GRAN_HUGE) {
		(void)*(volatile char *)p;
		return 0;
	}
	if (madvise(p, psize, MADV_SPLIT))
		return -errno;
	ret = ht_uffd_register(uffd, p, psize, UFFDIO_REGISTER_MODE_MINOR);
	if (!ret)
		ret = ht_uffd_continue(uffd, p, ps);
	if (!ret)
		ret = ht_uffd_continue(uffd, p + psize - ps, ps);
	return ret;
}

/* ---- a process holding NVMAS mappings of the page ---- */
enum rc_cmd {
	RC_PING = 1,
	RC_TOUCH, /* read head and tail of every mapping; reply si_code or 0 */
	RC_UNMAP_HALF, /* unmap the second half of the mappings; reply 0 */
	RC_FORK, /* reply the pid of a child that serves the socket */
	RC_EXIT,
};

struct rc_holder {
	struct ht_file *file;
	enum ht_gran gran;
	int nmaps;
};

static int64_t rc_touch(char **maps, int n, unsigned long psize)
{
	struct ht_sigbus sb;

	for (int i = 0; i < n; i++) {
		ht_touch(maps[i], false, &sb);
		if (!sb.hit)
			ht_touch(maps[i] + psize - ht_base_page_size(), false,
				 &sb);
		if (sb.hit)
			return sb.code;
	}
	return 0;
}

static int rc_serve(int sock, char **maps, int n, unsigned long psize)
{
	int64_t cmd, val;
	pid_t parent, pid;

	for (;;) {
		if (ht_recv(sock, &cmd, -1))
			return 0;
		switch (cmd) {
		case RC_PING:
			val = 0;
			break;
		case RC_TOUCH:
			val = rc_touch(maps, n, psize);
			break;
		case RC_UNMAP_HALF:
			for (int i = n / 2; i < n; i++)
				munmap(maps[i], psize);
			n /= 2;
			val = 0;
			break;
		case RC_FORK:
			/*
			 * The child serves the same socket while this process
			 * waits for it: one channel, used by one at a time.
			 */
			parent = getpid();
			pid = fork();
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() != parent)
					_exit(125);
				_exit(rc_serve(sock, maps, n, psize));
			}
			if (ht_send(sock, pid < 0 ? -errno : pid))
				return 0;
			if (pid > 0)
				waitpid(pid, NULL, 0);
			continue;
		case RC_EXIT:
			return 0;
		default:
			val = -EINVAL;
		}
		if (ht_send(sock, val))
			return 0;
	}
}

static int rc_holder_fn(int sock, void *arg)
{
	struct rc_holder *h = arg;
	unsigned long psize = h->file->psize;
	char **maps = calloc(h->nmaps, sizeof(*maps));
	int uffd = -1, ret = 0;

	if (!maps)
		return ht_send(sock, -ENOMEM), 1;
	if (h->gran == HT_GRAN_HGM) {
		uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
		if (uffd < 0)
			return ht_send(sock, uffd), 1;
	}
	for (int i = 0; i < h->nmaps && !ret; i++) {
		maps[i] = mmap(NULL, psize, PROT_READ, MAP_SHARED, h->file->fd,
			       0);
		if (maps[i] == MAP_FAILED)
			ret = -errno;
		else
			ret = map_in(maps[i], psize, h->gran, uffd);
	}
	ht_send(sock, ret ? ret : (int64_t)(unsigned long)maps[0]);
	if (ret)
		return 1;
	return rc_serve(sock, maps, h->nmaps, psize);
}

/* ---- shared checks ---- */
/* kpagecount of the head and the tail PFN: @want (VMA, page) pairs. */
static void expect_pairs(struct __test_metadata *_metadata, const char *when,
			 uint64_t pfn, unsigned long psize, uint64_t want)
{
	uint64_t tail = pfn + psize / ht_base_page_size() - 1, c = ~0ULL;

	ASSERT_EQ(0, ht_kpagecount_read(pfn, &c));
	EXPECT_EQ(want, c) TH_LOG("%s: kpagecount(head)", when);
	ASSERT_EQ(0, ht_kpagecount_read(tail, &c));
	EXPECT_EQ(want, c) TH_LOG("%s: kpagecount(tail)", when);
}

/* The same against the page model's pairs. */
static void expect_count(struct __test_metadata *_metadata, const char *when,
			 const struct ht_page_model *pm, uint64_t pfn)
{
	expect_pairs(_metadata, when, pfn, pm->psize, ht_model_mapcount(pm));
}

static uint64_t pfn_at(struct __test_metadata *_metadata, pid_t pid,
		       unsigned long addr)
{
	uint64_t e = 0;

	EXPECT_EQ(0, ht_pagemap_read(pid, addr, &e));
	EXPECT_TRUE(e & HT_PM_PRESENT) TH_LOG("%#lx not present", addr);
	return e & HT_PM_PFN_MASK;
}

static int64_t cmd(struct __test_metadata *_metadata, struct ht_child *c,
		   int64_t what)
{
	int64_t r = -1;
	int ret = ht_holder_cmd(c, what, &r);

	EXPECT_EQ(0, ret) TH_LOG("command %ld: %s", (long)what, strerror(-ret));
	return r;
}

static void stop(struct __test_metadata *_metadata, struct ht_child *c)
{
	EXPECT_EQ(0, ht_send(c->sock, RC_EXIT));
	EXPECT_EQ(0, ht_reap(c, 30000));
}

/*
 * smaps_rollup and HugetlbPages of @pid: the model's, HGM too (smaps
 * counts what each VMA maps, HugetlbPages the page per VMA).
 */
static void expect_proc_kb(struct __test_metadata *_metadata, const char *who,
			   const struct ht_page_model *pm, pid_t pid)
{
	unsigned long kb = ~0UL;

	ht_model_check_rollup(_metadata, who, pm, pid);
	ASSERT_EQ(0, ht_status_read(pid, "HugetlbPages", &kb));
	EXPECT_EQ(ht_model_view(pm, pid).hugetlb_kb, kb)
	TH_LOG("%s: status HugetlbPages", who);
}

FIXTURE(refcount_scale)
{
	struct ht_env env;
	struct ht_file file;
	unsigned long free_start; /* before the file existed */
	unsigned long free0; /* with the file's page cached */
};

FIXTURE_VARIANT(refcount_scale)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS(refcount_scale);

FIXTURE_SETUP(refcount_scale)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};

	self->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	self->free_start = ht_free_pages(_metadata, HT_PSIZE(variant), -1);
	ASSERT_EQ(0, ht_file_create(&self->file, HT_PSIZE(variant),
				    HT_PSIZE(variant)));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, HT_PSIZE(variant), SEED));
	self->free0 = ht_free_pages(_metadata, HT_PSIZE(variant), -1);
	ASSERT_EQ(self->free_start - 1, self->free0);
}

FIXTURE_TEARDOWN_PARENT(refcount_scale)
{
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(refcount_scale, vmas_times_processes, 900)
{
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size();
	bool hgm = variant->gran == HT_GRAN_HGM;
	struct rc_holder h = { .file = &self->file,
			       .gran = variant->gran,
			       .nmaps = NVMAS };
	unsigned long addr[NPROCS];
	struct ht_child c[NPROCS], gc;
	struct ht_page_model pm;
	uint64_t pfn;
	int64_t v;

	ht_model_init(&pm, psize, -1);
	for (int i = 0; i < NPROCS; i++) {
		ASSERT_EQ(0, ht_spawn(&c[i], rc_holder_fn, &h));
		ASSERT_EQ(0, ht_recv(c[i].sock, &v, 300000));
		ASSERT_LT(0, v) TH_LOG("holder %d: %s", i, strerror(-v));
		addr[i] = (unsigned long)v;
		/* map_in(): HGM maps the head and the tail piece */
		ht_model_map_pieces(&pm, c[i].pid, NVMAS, hgm ? 2 : 0);
	}
	pfn = pfn_at(_metadata, c[0].pid, addr[0]);
	EXPECT_EQ(0, pfn % (psize / ps))
	TH_LOG("head PFN %#llx", (unsigned long long)pfn);
	EXPECT_EQ(pfn + psize / ps - 1,
		  pfn_at(_metadata, c[0].pid, addr[0] + psize - ps));
	EXPECT_EQ(pfn, pfn_at(_metadata, c[NPROCS - 1].pid, addr[NPROCS - 1]));
	EXPECT_EQ(hgm ? 2 : (long)(psize / ps),
		  ht_pagemap_count_present(c[1].pid, addr[1], psize));
	expect_count(_metadata, "all mapped", &pm, pfn);
	expect_proc_kb(_metadata, "holder 1", &pm, c[1].pid);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1))
	TH_LOG("mapping a cached page must not allocate");

	/* fork: the shared VMAs come along without their page tables. */
	v = cmd(_metadata, &c[0], RC_FORK);
	ASSERT_LT(0, v) TH_LOG("fork in holder 0: %s", strerror(-v));
	gc = (struct ht_child){ .pid = (pid_t)v, .sock = c[0].sock };
	expect_count(_metadata, "after fork", &pm, pfn);
	EXPECT_EQ(0, ht_pagemap_count_present(gc.pid, addr[0], psize));
	expect_proc_kb(_metadata, "untouched fork child", &pm, gc.pid);
	/* fork copies no HGM table: the child's faults map the whole page. */
	EXPECT_EQ(0, cmd(_metadata, &gc, RC_TOUCH)) TH_LOG("SIGBUS code");
	ht_model_map(&pm, gc.pid, NVMAS);
	expect_count(_metadata, "fork child touched", &pm, pfn);
	expect_proc_kb(_metadata, "touched fork child", &pm, gc.pid);
	ASSERT_EQ(0, ht_send(gc.sock, RC_EXIT));
	/* Holder 0 answers again only once it has reaped the child. */
	EXPECT_EQ(0, cmd(_metadata, &c[0], RC_PING));
	ht_model_unmap(&pm, gc.pid);
	expect_count(_metadata, "fork child exited", &pm, pfn);

	/* Holder 1 unmaps half its VMAs. */
	EXPECT_EQ(0, cmd(_metadata, &c[1], RC_UNMAP_HALF));
	ht_model_map(&pm, c[1].pid, -(NVMAS - NVMAS / 2));
	expect_count(_metadata, "half unmapped in holder 1", &pm, pfn);
	expect_proc_kb(_metadata, "holder 1 after munmap", &pm, c[1].pid);
	expect_proc_kb(_metadata, "holder 2", &pm, c[2].pid);

	/* Holder 2 exits. */
	ht_model_unmap(&pm, c[2].pid); /* before ht_reap() forgets the pid */
	stop(_metadata, &c[2]);
	expect_count(_metadata, "holder 2 exited", &pm, pfn);

	for (int i = 0; i < NPROCS; i++) {
		ht_model_unmap(&pm, c[i].pid);
		if (i != 2)
			stop(_metadata, &c[i]);
	}
	expect_count(_metadata, "all exited", &pm, pfn);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1))
	TH_LOG("the page stays cached while the file is open");
	ht_file_close(&self->file);
	EXPECT_EQ(self->free_start, ht_free_pages(_metadata, psize, -1))
	TH_LOG("closing the last fd frees the page");
}

/*
 * The refcount guard (our patch; design sketch "Refcount guard").  The
 * debugfs knob is the number of references allowed beyond
 * folio_nr_pages: a page that only the page cache holds has 0 extra, each
 * mapping takes one more.  With the knob at K, mappings 1..K succeed and
 * the one that would make K + 1 is refused: a fault with SIGBUS
 * (BUS_ADRERR, from VM_FAULT_SIGBUS), UFFDIO_CONTINUE with ENOMEM, fork
 * (copy_hugetlb_page_range) with ENOMEM.  A refused attempt leaves the
 * counts as they were.
 */
struct knob {
	unsigned long saved;
	bool valid;
};

static void knob_set(struct __test_metadata *_metadata, struct knob *k,
		     unsigned long val)
{
	unsigned long now = ~0UL;

	ASSERT_EQ(0, ht_read_ulong(REFCOUNT_KNOB, &k->saved));
	k->valid = true;
	ASSERT_EQ(0, ht_write_ulong(REFCOUNT_KNOB, val));
	ASSERT_EQ(0, ht_read_ulong(REFCOUNT_KNOB, &now));
	ASSERT_EQ(val, now);
}

/* In the teardown: put the knob back and fail the case if it did not stick. */
static void knob_restore(struct __test_metadata *_metadata, struct knob *k)
{
	unsigned long now = ~0UL;

	if (!k->valid)
		return;
	k->valid = false;
	ht_write_ulong(REFCOUNT_KNOB, k->saved);
	if (ht_read_ulong(REFCOUNT_KNOB, &now) || now != k->saved) {
		TH_LOG("refcount_limit not restored: %lu, was %lu", now,
		       k->saved);
		_metadata->exit_code = KSFT_FAIL;
	}
}

/* Unmaps @n mappings; the page is back to page-cache-only, then freed. */
static void limit_teardown(struct __test_metadata *_metadata, char **maps,
			   int n, unsigned long psize, uint64_t pfn,
			   struct ht_file *f, unsigned long free0,
			   unsigned long free_start)
{
	for (int i = 0; i < n; i++)
		munmap(maps[i], psize);
	expect_pairs(_metadata, "all unmapped", pfn, psize, 0);
	EXPECT_EQ(free0, ht_free_pages(_metadata, psize, -1));
	ht_file_close(f);
	EXPECT_EQ(free_start, ht_free_pages(_metadata, psize, -1));
}

FIXTURE(refcount_limit)
{
	struct ht_env env;
	struct knob knob;
	struct ht_file file; /* two pages; page 0 cached */
	unsigned long free_start, free0;
};

/* Faults and fork of MAP_PRIVATE: not HGM-eligible, huge only. */
FIXTURE_VARIANT(refcount_limit)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(refcount_limit, huge);

FIXTURE_SETUP(refcount_limit)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2, /* page 0 cached, an anonymous copy of page 1 */
		.caps = { CAP_SYS_ADMIN },
		.refcount_knob = true,
	};

	self->file.fd = -1;
	self->knob.valid = false;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	knob_set(_metadata, &self->knob, LIMIT_K);
	self->free_start = ht_free_pages(_metadata, HT_PSIZE(variant), -1);
	ASSERT_EQ(0, ht_file_create(&self->file, HT_PSIZE(variant),
				    2 * HT_PSIZE(variant)));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, HT_PSIZE(variant), SEED));
	self->free0 = ht_free_pages(_metadata, HT_PSIZE(variant), -1);
	ASSERT_EQ(self->free_start - 1, self->free0);
}

FIXTURE_TEARDOWN_PARENT(refcount_limit)
{
	knob_restore(_metadata, &self->knob);
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(refcount_limit, fault_past_limit_sigbus, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	char *maps[LIMIT_K + 1];
	struct ht_sigbus sb;
	uint64_t pfn = 0;

	for (int i = 0; i <= LIMIT_K; i++) {
		maps[i] = mmap(NULL, psize, PROT_READ, MAP_SHARED,
			       self->file.fd, 0);
		ASSERT_NE(MAP_FAILED, maps[i]);
	}
	for (int i = 0; i < LIMIT_K; i++) {
		ht_touch(maps[i], false, &sb);
		ASSERT_FALSE(sb.hit)
		TH_LOG("mapping %d of %d: SIGBUS %d", i + 1, LIMIT_K, sb.code);
		if (!i)
			pfn = pfn_at(_metadata, 0, (unsigned long)maps[0]);
		expect_pairs(_metadata, "within the limit", pfn, psize, i + 1);
	}
	ht_touch(maps[LIMIT_K] + 100, false, &sb);
	EXPECT_TRUE(sb.hit) TH_LOG("mapping K + 1 was allowed");
	EXPECT_EQ(BUS_ADRERR, sb.code);
	EXPECT_EQ((unsigned long)maps[LIMIT_K] + 100, sb.addr);
	EXPECT_EQ(0, ht_pagemap_count_present(0, (unsigned long)maps[LIMIT_K],
					      psize));
	expect_pairs(_metadata, "after the refused fault", pfn, psize, LIMIT_K);
	/* A mapping that exists takes no new reference. */
	ht_touch(maps[0] + psize - 1, false, &sb);
	EXPECT_FALSE(sb.hit);
	limit_teardown(_metadata, maps, LIMIT_K + 1, psize, pfn, &self->file,
		       self->free0, self->free_start);
}

TEST_F_TIMEOUT(refcount_limit, fork_private_past_limit_enomem, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	char *maps[LIMIT_K];
	struct ht_sigbus sb;
	int pipefd[2], status;
	uint64_t pfn;
	char *priv;
	pid_t pid;

	/* K - 1 shared mappings: fork does not copy them (no anon_vma). */
	for (int i = 0; i < LIMIT_K - 1; i++) {
		maps[i] = mmap(NULL, psize, PROT_READ, MAP_SHARED,
			       self->file.fd, 0);
		ASSERT_NE(MAP_FAILED, maps[i]);
		(void)*(volatile char *)maps[i];
	}
	/*
	 * One private mapping: page 0 read, so it maps the cached page
	 * (the K-th reference); page 1 written, an anonymous copy, which
	 * gives the VMA an anon_vma so fork copies its page table.
	 */
	priv = mmap(NULL, 2 * psize, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_NORESERVE, self->file.fd, 0);
	ASSERT_NE(MAP_FAILED, priv);
	ht_touch(priv, false, &sb);
	ASSERT_FALSE(sb.hit);
	ht_touch(priv + psize, true, &sb);
	ASSERT_FALSE(sb.hit);
	pfn = pfn_at(_metadata, 0, (unsigned long)maps[0]);
	EXPECT_EQ(pfn, pfn_at(_metadata, 0, (unsigned long)priv));
	expect_pairs(_metadata, "at the limit", pfn, psize, LIMIT_K);
	EXPECT_EQ(self->free0 - 1, ht_free_pages(_metadata, psize, -1));

	/*
	 * Measured on stock 6.18 (knob removed, so this fork succeeds): at
	 * 1 GiB the SECOND fork below sometimes (2 of 5 runs) left the
	 * child without page 0's entry (child pagemap 0, kpagecount K - 1)
	 * when this first child exited at once; never at 2 MiB, never when
	 * it lingered 300 ms.  Not explained yet: if this case flakes at
	 * 1G on the patched kernel, look there first.
	 */
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	EXPECT_EQ(-1, pid) TH_LOG("fork past the limit succeeded");
	EXPECT_EQ(ENOMEM, pid < 0 ? errno : 0);
	expect_pairs(_metadata, "after the refused fork", pfn, psize, LIMIT_K);

	/* One reference below the limit, the same fork fits. */
	munmap(maps[LIMIT_K - 2], psize);
	expect_pairs(_metadata, "one below", pfn, psize, LIMIT_K - 1);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid) TH_LOG("fork below the limit: %s", strerror(errno));
	if (pid == 0) {
		char b;

		close(pipefd[1]);
		_exit(read(pipefd[0], &b, 1) < 0);
	}
	close(pipefd[0]);
	expect_pairs(_metadata, "forked child holds a copy", pfn, psize,
		     LIMIT_K);
	close(pipefd[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	expect_pairs(_metadata, "forked child gone", pfn, psize, LIMIT_K - 1);

	munmap(priv, 2 * psize);
	limit_teardown(_metadata, maps, LIMIT_K - 2, psize, pfn, &self->file,
		       self->free0, self->free_start);
}

/* CONTINUE at the limit: shared, so both granularities. */
FIXTURE(refcount_limit_uffd)
{
	struct ht_env env;
	struct knob knob;
	struct ht_file file;
	unsigned long free_start, free0;
};

FIXTURE_VARIANT(refcount_limit_uffd)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS(refcount_limit_uffd);

FIXTURE_SETUP(refcount_limit_uffd)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1,
		.caps = { CAP_SYS_ADMIN },
		.uffd_minor = true,
		.hgm = variant->gran == HT_GRAN_HGM,
		.refcount_knob = true,
	};

	self->file.fd = -1;
	self->knob.valid = false;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	knob_set(_metadata, &self->knob, LIMIT_K);
	self->free_start = ht_free_pages(_metadata, HT_PSIZE(variant), -1);
	ASSERT_EQ(0, ht_file_create(&self->file, HT_PSIZE(variant),
				    HT_PSIZE(variant)));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, HT_PSIZE(variant), SEED));
	self->free0 = ht_free_pages(_metadata, HT_PSIZE(variant), -1);
}

FIXTURE_TEARDOWN_PARENT(refcount_limit_uffd)
{
	knob_restore(_metadata, &self->knob);
	HT_TEARDOWN(&self->env);
}

TEST_F_TIMEOUT(refcount_limit_uffd, continue_past_limit_enomem, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size();
	bool hgm = variant->gran == HT_GRAN_HGM;
	char *maps[LIMIT_K + 1];
	uint64_t pfn;
	int uffd, ret;

	uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
	ASSERT_LE(0, uffd);
	for (int i = 0; i <= LIMIT_K; i++) {
		maps[i] = mmap(NULL, psize, PROT_READ, MAP_SHARED,
			       self->file.fd, 0);
		ASSERT_NE(MAP_FAILED, maps[i]);
	}
	/* HGM maps head and tail 4 KiB of each: still one reference each. */
	for (int i = 0; i < LIMIT_K; i++) {
		ret = map_in(maps[i], psize, variant->gran, uffd);
		ASSERT_EQ(0, ret)
		TH_LOG("mapping %d: %s", i + 1, strerror(-ret));
	}
	pfn = pfn_at(_metadata, 0, (unsigned long)maps[0]);
	expect_pairs(_metadata, "at the limit", pfn, psize, LIMIT_K);

	if (hgm)
		ASSERT_EQ(0, madvise(maps[LIMIT_K], psize, MADV_SPLIT));
	ASSERT_EQ(0, ht_uffd_register(uffd, maps[LIMIT_K], psize,
				      UFFDIO_REGISTER_MODE_MINOR));
	EXPECT_EQ(-ENOMEM,
		  ht_uffd_continue(uffd, maps[LIMIT_K], hgm ? ps : psize))
	TH_LOG("CONTINUE of a (K + 1)-th mapping");
	EXPECT_EQ(0, ht_pagemap_count_present(0, (unsigned long)maps[LIMIT_K],
					      psize));
	expect_pairs(_metadata, "after the refused CONTINUE", pfn, psize,
		     LIMIT_K);
	if (hgm) {
		/* A third PTE in a counted (VMA, folio): no new reference. */
		ret = ht_uffd_continue(uffd, maps[0] + ps, ps);
		EXPECT_EQ(0, ret)
		TH_LOG("CONTINUE inside a mapped VMA: %s", strerror(-ret));
		EXPECT_EQ(3, ht_pagemap_count_present(0, (unsigned long)maps[0],
						      psize));
		expect_pairs(_metadata, "third PTE", pfn, psize, LIMIT_K);
	}
	close(uffd);
	limit_teardown(_metadata, maps, LIMIT_K + 1, psize, pfn, &self->file,
		       self->free0, self->free_start);
}

HT_MAIN
