// SPDX-License-Identifier: GPL-2.0
/*
 * What the pool sees outside mmap and page faults.
 *
 * fork of a private hugetlb mapping (6.12 copy_hugetlb_page_range()): an
 * anonymous page that may be DMA-pinned (here: an io_uring fixed buffer,
 * a FOLL_LONGTERM pin) cannot be shared copy-on-write with the child,
 * since the device would keep using the page the parent's next write
 * moves away from; fork copies it into a new page for the child at once
 * (hugetlb_install_folio()), with no reservation behind it (the child is
 * not the mapping's reservation owner), so it needs a free page that is
 * not reserved, and fork fails with ENOMEM without one.  An unpinned
 * page is shared: both map it (kpagecount 2), no page is taken.
 *
 * The first write to the shared page copies it (hugetlb_wp()): the
 * writer, parent or child, gets a new page from the free pool, the other
 * keeps the old one and its contents.  The parent owns the mapping's
 * reservations; when no free page is left for its copy, the kernel unmaps
 * the page from the child instead (unmap_ref_private()), the parent keeps
 * writing to it, and the child's next access is a SIGBUS.
 *
 * (show_mem's per-node lines: pool_sysfs, pool_sysctl.huge_2M.show_mem_node_lines.)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht_harness.h"

#define SEED 0x9e3779b9u

FIXTURE(fork_private)
{
	struct ht_env env;
	struct ht_pool_model pool;
	char *map;
	int ring;
};

FIXTURE_VARIANT(fork_private)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(fork_private, huge);

FIXTURE_SETUP(fork_private)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
	};

	self->map = MAP_FAILED;
	self->ring = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_pool_model_init(&self->pool, HT_PSIZE(variant), -1));
}

FIXTURE_TEARDOWN_PARENT(fork_private)
{
	HT_TEARDOWN(&self->env);
}

/* One written page of a private anonymous hugetlb mapping. */
static void map_written(struct __test_metadata *_metadata,
			FIXTURE_DATA(fork_private) * self, unsigned long psize)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
		    (ht_size_shift(psize) << MAP_HUGE_SHIFT);

	self->map = mmap(NULL, psize, PROT_READ | PROT_WRITE, flags, -1, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	/* hugetlb_reserve_pages(): a private mapping reserves its pages. */
	self->pool.want.resv += 1;
	HT_POOL_CHECK(&self->pool, "mmap(MAP_PRIVATE) of one page");
	ht_pattern_fill(self->map, psize, 0, SEED);
	/* The fault consumes the reservation. */
	self->pool.want.free -= 1;
	self->pool.want.resv -= 1;
	HT_POOL_CHECK(&self->pool, "writing the page");
}

/* @n free pages in use by a shared mapping that lives as long as the case. */
static void take_free_pages(struct __test_metadata *_metadata,
			    FIXTURE_DATA(fork_private) * self,
			    unsigned long psize, unsigned long n)
{
	int flags = MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB |
		    (ht_size_shift(psize) << MAP_HUGE_SHIFT);
	char *p;

	if (!n)
		return;
	p = mmap(NULL, n * psize, PROT_READ | PROT_WRITE, flags, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (unsigned long i = 0; i < n; i++)
		p[i * psize] = 1;
	/* reserved at mmap, the reservations consumed by the faults */
	ht_pool_model_move(&self->pool, 0, -(long)n, 0, 0);
	HT_POOL_CHECK(&self->pool, "faulting in the pages of a filler mapping");
}

/* A FOLL_LONGTERM pin of the page: an io_uring fixed buffer. */
static int pin(FIXTURE_DATA(fork_private) * self, unsigned long psize)
{
	struct io_uring_params p = { 0 };
	struct iovec iov = { .iov_base = self->map, .iov_len = psize };
	int fd, err;

	fd = syscall(__NR_io_uring_setup, 1, &p);
	if (fd < 0)
		return -errno;
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_BUFFERS, &iov,
		    1) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	self->ring = fd;
	return 0;
}

struct child_arg {
	char *map;
	unsigned long psize;
};

/* Sends the PFN it maps and the first bad offset, then waits to exit. */
static int child_report(int sock, void *argp)
{
	struct child_arg *a = argp;
	int64_t go;
	uint64_t e = 0;

	if (ht_pagemap_read(0, (unsigned long)a->map, &e))
		return 1;
	if (ht_send(sock, (int64_t)(e & HT_PM_PFN_MASK)) ||
	    ht_send(sock, ht_pattern_check(a->map, a->psize, 0, SEED)))
		return 1;
	return ht_recv(sock, &go, -1) ? 1 : 0;
}

/*
 * Forks a child that reports what it maps; checks the pool with the child
 * alive (@copied: the child got its own page) and after it exited.
 */
static void fork_and_check(struct __test_metadata *_metadata,
			   FIXTURE_DATA(fork_private) * self,
			   unsigned long psize, bool copied)
{
	struct child_arg a = { .map = self->map, .psize = psize };
	uint64_t mine = ht_pfn_of(_metadata, 0, (unsigned long)self->map);
	uint64_t count = 0;
	int64_t theirs = -1, bad = 0;
	struct ht_child c;

	ASSERT_EQ(0, ht_spawn(&c, child_report, &a));
	ASSERT_EQ(0, ht_recv(c.sock, &theirs, 30000));
	ASSERT_EQ(0, ht_recv(c.sock, &bad, 30000));
	EXPECT_EQ(-1, bad)
	TH_LOG("the child's copy differs at offset %ld", (long)bad);
	EXPECT_EQ(copied, (uint64_t)theirs != mine)
	TH_LOG("parent PFN %#llx, child PFN %#llx", (unsigned long long)mine,
	       (unsigned long long)theirs);
	ASSERT_EQ(0, ht_kpagecount_read(mine, &count));
	EXPECT_EQ(copied ? 1 : 2, count)
	TH_LOG("kpagecount of the parent's page");
	if (copied)
		self->pool.want.free -= 1;
	HT_POOL_CHECK(&self->pool,
		      copied ? "fork (page copied)" : "fork (page shared)");
	ASSERT_EQ(0, ht_send(c.sock, 1));
	EXPECT_EQ(0, ht_reap(&c, 30000));
	if (copied)
		self->pool.want.free += 1;
	HT_POOL_CHECK(&self->pool, "the child's exit");
	EXPECT_EQ(-1, ht_pattern_check(self->map, psize, 0, SEED));
}

/* The kpagecount of @pfn: how many (VMA, page) pairs map it. */
static uint64_t mapcount_of(struct __test_metadata *_metadata, uint64_t pfn)
{
	uint64_t count = 0;

	EXPECT_EQ(0, ht_kpagecount_read(pfn, &count));
	return count;
}

/* A holder child on the inherited private mapping: both map the page. */
struct fork_child {
	struct ht_file file; /* only its page size: the holder maps nothing */
	struct ht_holder h;
	struct ht_child c;
};

static void fork_holder(struct __test_metadata *_metadata,
			FIXTURE_DATA(fork_private) * self, unsigned long psize,
			struct fork_child *f)
{
	uint64_t mine = ht_pfn_of(_metadata, 0, (unsigned long)self->map);
	unsigned long addr = 0;

	f->file = (struct ht_file){ .fd = -1, .psize = psize, .len = psize };
	f->h = (struct ht_holder){ .file = &f->file,
				   .len = psize,
				   .inherit = self->map };
	ASSERT_EQ(0, ht_holder_start(&f->c, &f->h, &addr));
	ASSERT_EQ((unsigned long)self->map, addr);
	EXPECT_EQ(mine,
		  ht_pfn_of(_metadata, f->c.pid, (unsigned long)self->map));
	EXPECT_EQ(2, mapcount_of(_metadata, mine));
	HT_POOL_CHECK(&self->pool, "fork (page shared)");
}

/* The child's read: 0 or the SIGBUS si_code; its first bad byte or -1. */
static void child_read(struct __test_metadata *_metadata, struct ht_child *c,
		       int64_t *code, int64_t *bad)
{
	*bad = -2;
	ASSERT_EQ(0, ht_holder_cmd(c, HT_CMD_READ, code));
	if (!*code)
		ASSERT_EQ(0, ht_holder_check(c, SEED, bad));
}

/* Ends the child; @copied: the page its copy-on-write took goes back. */
static void end_server(struct __test_metadata *_metadata,
		       FIXTURE_DATA(fork_private) * self, struct ht_child *c,
		       bool copied)
{
	ASSERT_EQ(0, ht_send(c->sock, HT_CMD_EXIT));
	EXPECT_EQ(0, ht_reap(c, 30000));
	if (copied)
		self->pool.want.free += 1;
	HT_POOL_CHECK(&self->pool, "the child's exit");
}

TEST_F(fork_private, unpinned_page_is_shared)
{
	map_written(_metadata, self, HT_PSIZE(variant));
	fork_and_check(_metadata, self, HT_PSIZE(variant), false);
}

TEST_F(fork_private, pinned_page_is_copied)
{
	int ret;

	map_written(_metadata, self, HT_PSIZE(variant));
	ret = pin(self, HT_PSIZE(variant));
	if (ret)
		SKIP(return, "no io_uring fixed buffers: %s", strerror(-ret));
	fork_and_check(_metadata, self, HT_PSIZE(variant), true);
}

TEST_F(fork_private, pinned_page_without_free_page_fails_fork)
{
	struct ht_pool g;
	pid_t pid;
	int ret;

	/*
	 * Exactly one free page, the parent's, and no surplus allowed (the
	 * kernel refuses an overcommit for gigantic pages: it is 0 there).
	 * The other free pages are taken by a mapping, not freed: a 1 GiB
	 * page given back to the buddy allocator may not come back at run
	 * time (6.1 in the VM), and the teardown could not restore the pool.
	 */
	ASSERT_EQ(0, ht_pool_read(HT_PSIZE(variant), -1, &g));
	if (g.overcommit)
		ASSERT_EQ(0, ht_pool_set_overcommit(HT_PSIZE(variant), 0));
	ASSERT_EQ(0, ht_pool_model_init(&self->pool, HT_PSIZE(variant), -1));
	ASSERT_LE(1, g.free - g.resv);
	take_free_pages(_metadata, self, HT_PSIZE(variant),
			g.free - g.resv - 1);
	ASSERT_EQ(1, self->pool.want.free - self->pool.want.resv);
	map_written(_metadata, self, HT_PSIZE(variant));
	ret = pin(self, HT_PSIZE(variant));
	if (ret)
		SKIP(return, "no io_uring fixed buffers: %s", strerror(-ret));
	pid = fork();
	if (pid == 0)
		_exit(0);
	EXPECT_EQ(-1, pid);
	EXPECT_EQ(ENOMEM, errno);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	HT_POOL_CHECK(&self->pool, "the failed fork");
	EXPECT_EQ(-1, ht_pattern_check(self->map, HT_PSIZE(variant), 0, SEED));
}

/*
 * The first write after fork, by the parent (@child_writes false) or the
 * child: the writer gets a new page (the copy needs a free page that is
 * not reserved), the other keeps the old page with the contents it had
 * at fork.
 */
static void first_write_copies(struct __test_metadata *_metadata,
			       FIXTURE_DATA(fork_private) * self,
			       unsigned long psize, bool child_writes)
{
	const char *writer = child_writes ? "child" : "parent";
	pid_t wpid, opid; /* pagemap pids: the writer's, the other's */
	struct fork_child f;
	int64_t code, bad;
	uint64_t old, now;

	map_written(_metadata, self, psize);
	old = ht_pfn_of(_metadata, 0, (unsigned long)self->map);
	fork_holder(_metadata, self, psize, &f);
	wpid = child_writes ? f.c.pid : 0;
	opid = child_writes ? 0 : f.c.pid;
	if (child_writes) {
		ASSERT_EQ(0, ht_holder_cmd(&f.c, HT_CMD_FLIP, &code));
		EXPECT_EQ(0, code);
	} else {
		self->map[0] ^= 0xff;
	}
	self->pool.want.free -= 1;
	HT_POOL_CHECK(&self->pool, "the first write after fork");
	now = ht_pfn_of(_metadata, wpid, (unsigned long)self->map);
	EXPECT_NE(old, now)
	TH_LOG("the %s still maps the page it shared", writer);
	EXPECT_EQ(old, ht_pfn_of(_metadata, opid, (unsigned long)self->map));
	EXPECT_EQ(1, mapcount_of(_metadata, old));
	EXPECT_EQ(1, mapcount_of(_metadata, now));
	child_read(_metadata, &f.c, &code, &bad);
	EXPECT_EQ(0, code);
	/* the first differing byte: the write's (0) or none (-1) */
	EXPECT_EQ(child_writes ? 0 : -1, bad) TH_LOG("the child's contents");
	EXPECT_EQ(child_writes ? -1 : 0,
		  ht_pattern_check(self->map, psize, 0, SEED))
	TH_LOG("the parent's contents");
	end_server(_metadata, self, &f.c, true);
}

TEST_F(fork_private, parent_write_copies)
{
	first_write_copies(_metadata, self, HT_PSIZE(variant), false);
}

TEST_F(fork_private, child_write_copies)
{
	first_write_copies(_metadata, self, HT_PSIZE(variant), true);
}

/*
 * No free page for the parent's copy: the kernel takes the page from the
 * child (its PTE cleared, the VMA marked HPAGE_RESV_UNMAPPED) and lets
 * the parent write to it in place; the child's next access is a SIGBUS.
 */
TEST_F(fork_private, parent_write_without_free_page_unmaps_child)
{
	unsigned long psize = HT_PSIZE(variant);
	struct fork_child f;
	int64_t code, bad;
	struct ht_pool g;
	uint64_t old, e = 0;

	/* as in pinned_page_without_free_page_fails_fork: one free page */
	ASSERT_EQ(0, ht_pool_read(psize, -1, &g));
	if (g.overcommit)
		ASSERT_EQ(0, ht_pool_set_overcommit(psize, 0));
	ASSERT_EQ(0, ht_pool_model_init(&self->pool, psize, -1));
	ASSERT_LE(1, g.free - g.resv);
	take_free_pages(_metadata, self, psize, g.free - g.resv - 1);
	map_written(_metadata, self, psize);
	ASSERT_EQ(0, self->pool.want.free - self->pool.want.resv);
	old = ht_pfn_of(_metadata, 0, (unsigned long)self->map);
	fork_holder(_metadata, self, psize, &f);
	self->map[0] ^= 0xff;
	HT_POOL_CHECK(&self->pool, "the parent's write with no free page");
	EXPECT_EQ(old, ht_pfn_of(_metadata, 0, (unsigned long)self->map));
	EXPECT_EQ(1, mapcount_of(_metadata, old));
	EXPECT_EQ(0, ht_pagemap_read(f.c.pid, (unsigned long)self->map, &e));
	EXPECT_FALSE(e & HT_PM_PRESENT) TH_LOG("the child still maps the page");
	EXPECT_EQ(0, ht_pattern_check(self->map, psize, 0, SEED));
	child_read(_metadata, &f.c, &code, &bad);
	EXPECT_EQ(BUS_ADRERR, code)
	TH_LOG("the child read its page (first bad byte %ld)", (long)bad);
	end_server(_metadata, self, &f.c, false);
}

HT_MAIN
