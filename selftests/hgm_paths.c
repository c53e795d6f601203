// SPDX-License-Identifier: GPL-2.0
/*
 * Topic 6: kernel paths that meet a mapped huge page without creating the
 * mapping: mprotect, mremap, truncation, hole punch, MADV_DONTNEED,
 * mincore, GUP (process_vm_readv, vmsplice, /proc/self/mem) and fork.
 * HGM teaches each of them about PTE tables under a PMD (kernel-patches/
 * 0007); a mistake there shows nowhere else in the battery.  Every case
 * maps one filled huge page fully at the variant's granularity, does one
 * thing and compares every view with a model that does not know the
 * granularity: the huge twin holds the model to the stock kernel, the hgm
 * twin holds the HGM paths to the same model.  The paths cases map a
 * 2 MiB page; the paths_gup cases (the GUP slow path, below) map a page of
 * each size, since a 1 GiB page is a PUD leaf with a walk of its own.
 *
 * The model (6.12: mm/mprotect.c, mm/mremap.c, fs/hugetlbfs/inode.c,
 * mm/madvise.c, mm/mincore.c, mm/gup.c, kernel/fork.c):
 *   mprotect(PROT_READ)     -> entries stay: 512 present, kpagecount 1;
 *                              a write is SIGSEGV SEGV_ACCERR, no change
 *   mprotect(READ | WRITE)  -> a write lands in the page-cache folio; a
 *                              second mapping reads it (kpagecount 2)
 *   mremap to a new address -> the same folio mapped there (same PFNs);
 *                              no VMA at the old address (SEGV_MAPERR)
 *   ftruncate to 0          -> unmapped, the page back in the pool; an
 *                              access is SIGBUS BUS_ADRERR (beyond EOF)
 *   punch hole              -> unmapped, the page back in the pool; the
 *                              next read allocates a zeroed page, mapped
 *                              whole by that one fault
 *   MADV_DONTNEED           -> unmapped, the page stays cached (pool
 *                              unchanged); one fault maps it whole again
 *   mincore                 -> 1 for every PAGE_SIZE that is mapped
 *   GUP                     -> the bytes of the piece asked for
 *   fork                    -> the child gets no entries (shared VMA);
 *                              its fault maps the whole page: kpagecount 2
 *                              and Shared_Hugetlb in both while it lives
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht_harness.h"

#define SEED 0x5a5a0006

FIXTURE(paths)
{
	struct ht_env env;
	struct ht_file file; /* one huge page, filled */
	char *p; /* the page, mapped at the variant's granularity */
	int uffd; /* the hgm variant's MINOR uffd, else -1 */
	uint64_t pfn; /* head PFN while mapped */
	unsigned long free0; /* free pages with the page cached */
	unsigned long kb0; /* HugetlbPages before the mapping */
	int node; /* where the page is */
	struct ht_page_model pm; /* who maps the page */
};

FIXTURE_VARIANT(paths)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS_2M(paths);

FIXTURE_SETUP(paths)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};
	unsigned long psize = HT_PSIZE(variant);
	struct ht_smaps_vma v;
	void *p;

	self->file.fd = -1;
	self->uffd = -1;
	self->p = MAP_FAILED;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_file_create(&self->file, psize, psize));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, psize, SEED));
	self->free0 = ht_free_pages(_metadata, psize, -1);
	/* The node of the cached page, through a short-lived mapping. */
	p = mmap(NULL, psize, PROT_READ, MAP_SHARED, self->file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	(void)*(volatile char *)p;
	self->node = ht_page_node(0, p);
	munmap(p, psize);
	ASSERT_GE(self->node, 0);
	ASSERT_EQ(0, ht_status_read(0, "HugetlbPages", &self->kb0));

	self->p = ht_map_populated(&self->file, 0, psize, variant->gran,
				   &self->uffd);
	ASSERT_NE(MAP_FAILED, self->p)
	TH_LOG("mapping at %s granularity: %s", ht_gran_name(variant->gran),
	       strerror(errno));
	/* The hgm twin proves something only if its VMA really is split. */
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)self->p, &v));
	ASSERT_EQ(variant->gran == HT_GRAN_HGM, ht_vmflags_has(&v, "hm"))
	TH_LOG("VmFlags: %s", v.vmflags);
	ht_model_init(&self->pm, psize, self->node);
	ht_model_base(&self->pm, 0, self->kb0);
	ht_model_map(&self->pm, 0, 1);
	ht_model_check(_metadata, "after mapping", &self->pm, 0,
		       (unsigned long)self->p);
	self->pfn = ht_pfn_of(_metadata, 0, (unsigned long)self->p);
}

FIXTURE_TEARDOWN_PARENT(paths)
{
	/* Mapping, uffd and file live in the test's process; it exited. */
	HT_TEARDOWN(&self->env);
}

static size_t piece_k(unsigned long psize)
{
	/* A piece in the middle: neither the head nor the tail page. */
	return psize / ht_base_page_size() / 2 + 1;
}

static long npages_of(unsigned long psize)
{
	return (long)(psize / ht_base_page_size());
}

static void close_uffd(FIXTURE_DATA(paths) * self)
{
	if (self->uffd >= 0)
		close(self->uffd);
	self->uffd = -1;
}

struct reader {
	pthread_t tid;
	volatile char *addr;
	struct ht_sigbus sb;
	volatile int done;
};

static void *reader_fn(void *arg)
{
	struct reader *r = arg;

	ht_access(r->addr, false, 0, &r->sb);
	r->done = 1;
	return NULL;
}

/*
 * One read of @addr, a signal captured in *@sb.  The hgm variant's VMA is
 * still registered for minor faults, so a fault that the model says the
 * kernel resolves on its own (a missing page, an address beyond EOF)
 * would, if the kernel got it wrong, wait for a CONTINUE nobody sends.
 * The read runs in a thread while the uffd is watched: a message fails
 * the case, and closing the uffd lets the thread go on.
 */
static void read_watched(struct __test_metadata *_metadata,
			 FIXTURE_DATA(paths) * self, volatile char *addr,
			 struct ht_sigbus *sb)
{
	struct reader r = { .addr = addr };
	unsigned long fault_addr = 0;
	uint64_t flags = 0;
	int ret;

	if (self->uffd < 0) {
		ht_access(addr, false, 0, sb);
		return;
	}
	ASSERT_EQ(0, pthread_create(&r.tid, NULL, reader_fn, &r));
	while (!r.done) {
		ret = ht_uffd_read_fault(self->uffd, 100, &fault_addr, &flags);
		if (ret == -ETIMEDOUT || ret == -EAGAIN)
			continue;
		EXPECT_EQ(-ETIMEDOUT, ret)
		TH_LOG("the read at %p reached userfaultfd: %s at %#lx, flags %#llx",
		       (void *)addr, ret ? strerror(-ret) : "fault message",
		       fault_addr, (unsigned long long)flags);
		close_uffd(self);
		break;
	}
	ASSERT_EQ(0, pthread_join(r.tid, NULL));
	*sb = r.sb;
}

static void expect_no_signal(struct __test_metadata *_metadata,
			     const char *what, const struct ht_sigbus *sb)
{
	EXPECT_FALSE(sb->hit)
	TH_LOG("%s: signal %d, code %d at %#lx", what, sb->signo, sb->code,
	       sb->addr);
}

static void expect_signal(struct __test_metadata *_metadata, const char *what,
			  const struct ht_sigbus *sb, int signo, int code,
			  volatile void *addr)
{
	EXPECT_TRUE(sb->hit) TH_LOG("%s: no signal", what);
	if (!sb->hit)
		return;
	EXPECT_EQ(signo, sb->signo) TH_LOG("%s: which signal", what);
	EXPECT_EQ(code, sb->code) TH_LOG("%s: si_code", what);
	EXPECT_EQ((unsigned long)addr, sb->addr) TH_LOG("%s: si_addr", what);
}

TEST_F_TIMEOUT(paths, mprotect_ro_then_rw, 300)
{
	unsigned long psize = HT_PSIZE(variant), addr = (unsigned long)self->p;
	/* Past the piece's stamp: the fill left this byte 0. */
	size_t off = piece_k(psize) * ht_base_page_size() + 100;
	volatile unsigned char *b = (unsigned char *)self->p + off;
	struct ht_smaps_vma v;
	struct ht_sigbus sb;
	unsigned char *q;

	ASSERT_EQ(0, *b);
	ASSERT_EQ(0, mprotect(self->p, psize, PROT_READ))
	TH_LOG("mprotect(PROT_READ): %s", strerror(errno));
	ASSERT_EQ(0, ht_smaps_read(0, addr, &v));
	EXPECT_STREQ("r--s", v.perms);
	ht_model_check(_metadata, "read-only", &self->pm, 0, addr);

	ht_access(b, true, 0xa5, &sb);
	expect_signal(_metadata, "write to the read-only mapping", &sb, SIGSEGV,
		      SEGV_ACCERR, b);
	EXPECT_EQ(0, *b) TH_LOG("the refused write reached the page");
	EXPECT_EQ(-1, ht_pattern_check(self->p, psize, 0, SEED));
	ht_model_check(_metadata, "after the refused write", &self->pm, 0,
		       addr);

	ASSERT_EQ(0, mprotect(self->p, psize, PROT_READ | PROT_WRITE))
	TH_LOG("mprotect(PROT_READ | PROT_WRITE): %s", strerror(errno));
	ht_access(b, true, 0xa5, &sb);
	expect_no_signal(_metadata, "write after PROT_READ | PROT_WRITE", &sb);
	EXPECT_EQ(0xa5, *b);
	ht_model_check(_metadata, "read-write again", &self->pm, 0, addr);

	/* The write went to the page-cache folio: the file shows it. */
	q = mmap(NULL, psize, PROT_READ, MAP_SHARED, self->file.fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(0xa5, ((volatile unsigned char *)q)[off])
	TH_LOG("a second mapping of the file does not see the write");
	EXPECT_EQ(-1, ht_pattern_check(q, psize, 0, SEED));
	ht_model_map(&self->pm, 0, 1);
	ht_model_check(_metadata, "first mapping, second touched", &self->pm, 0,
		       addr);
	ht_model_check(_metadata, "second mapping", &self->pm, 0,
		       (unsigned long)q);
	EXPECT_EQ(self->pfn, ht_pfn_of(_metadata, 0, (unsigned long)q));
	munmap(q, psize);
	ht_model_map(&self->pm, 0, -1);
	ht_model_check(_metadata, "after the second munmap", &self->pm, 0,
		       addr);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1));
}

TEST_F_TIMEOUT(paths, mremap_moves, 300)
{
	unsigned long psize = HT_PSIZE(variant), old = (unsigned long)self->p;
	size_t ps = ht_base_page_size(), k = piece_k(psize);
	struct ht_smaps_vma v;
	struct ht_sigbus sb;
	uint64_t pfn_k;
	void *hole, *q;
	int ret;

	pfn_k = ht_pfn_of(_metadata, 0, old + k * ps);
	/* A huge-aligned hole to move into; MREMAP_FIXED replaces it. */
	hole = ht_mmap_aligned(psize, psize, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
	ASSERT_NE(MAP_FAILED, hole);
	q = mremap(self->p, psize, psize, MREMAP_MAYMOVE | MREMAP_FIXED, hole);
	ASSERT_EQ(hole, q) TH_LOG("mremap: %s", strerror(errno));
	self->p = q;

	/* The old range is gone, like after munmap; nothing allocated yet. */
	ht_access((char *)old + k * ps, false, 0, &sb);
	expect_signal(_metadata, "read at the old address", &sb, SIGSEGV,
		      SEGV_MAPERR, (char *)old + k * ps);
	EXPECT_EQ(0, ht_pagemap_count_present(0, old, psize))
	TH_LOG("entries left at the old address");
	ret = ht_smaps_read(0, old, &v);
	EXPECT_EQ(-ENOENT, ret)
	TH_LOG("a VMA %#lx-%#lx is left at the old address", v.start, v.end);

	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)q, &v));
	EXPECT_EQ((unsigned long)q, v.start);
	EXPECT_EQ((unsigned long)q + psize, v.end);
	/* The split VMA moved as it was; it was not mapped anew. */
	EXPECT_EQ(variant->gran == HT_GRAN_HGM, ht_vmflags_has(&v, "hm"))
	TH_LOG("VmFlags: %s", v.vmflags);
	ht_model_check(_metadata, "moved", &self->pm, 0, (unsigned long)q);
	EXPECT_EQ(self->pfn, ht_pfn_of(_metadata, 0, (unsigned long)q))
	TH_LOG("head PFN changed: the page was not moved as mapped");
	EXPECT_EQ(pfn_k, ht_pfn_of(_metadata, 0, (unsigned long)q + k * ps))
	TH_LOG("PFN of piece %zu", k);
	/* Reading a hole of the hgm twin would fault: check first. */
	ASSERT_EQ(npages_of(psize),
		  ht_pagemap_count_present(0, (unsigned long)q, psize));
	EXPECT_EQ(-1, ht_pattern_check(q, psize, 0, SEED));
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1));
}

TEST_F_TIMEOUT(paths, truncate_unmaps, 300)
{
	unsigned long psize = HT_PSIZE(variant), addr = (unsigned long)self->p;
	char *at = self->p + piece_k(psize) * ht_base_page_size();
	struct ht_sigbus sb;

	ASSERT_EQ(0, ftruncate(self->file.fd, 0))
	TH_LOG("ftruncate: %s", strerror(errno));
	ht_model_unmap(&self->pm, 0);
	ht_model_check(_metadata, "after truncate", &self->pm, 0, addr);
	EXPECT_EQ(self->free0 + 1, ht_free_pages(_metadata, psize, -1))
	TH_LOG("the truncated page must go back to the pool");

	read_watched(_metadata, self, at, &sb);
	expect_signal(_metadata, "read beyond EOF", &sb, SIGBUS, BUS_ADRERR,
		      at);
	ht_model_check(_metadata, "after the read", &self->pm, 0, addr);
	EXPECT_EQ(self->free0 + 1, ht_free_pages(_metadata, psize, -1))
	TH_LOG("a fault beyond EOF must not allocate");
}

TEST_F_TIMEOUT(paths, punch_hole_unmaps, 300)
{
	unsigned long psize = HT_PSIZE(variant), addr = (unsigned long)self->p;
	char *at = self->p + piece_k(psize) * ht_base_page_size();
	const uint64_t *w = (const uint64_t *)self->p;
	struct ht_sigbus sb;
	struct stat st;
	size_t i;

	ASSERT_EQ(0, fallocate(self->file.fd,
			       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			       psize))
	TH_LOG("punch hole: %s", strerror(errno));
	ht_model_unmap(&self->pm, 0);
	ht_model_check(_metadata, "after punch hole", &self->pm, 0, addr);
	EXPECT_EQ(self->free0 + 1, ht_free_pages(_metadata, psize, -1))
	TH_LOG("the punched page must go back to the pool");
	ASSERT_EQ(0, fstat(self->file.fd, &st));
	EXPECT_EQ((off_t)psize, st.st_size) TH_LOG("FALLOC_FL_KEEP_SIZE");

	/* Missing, not minor: the hgm twin's uffd (MINOR only) stays out. */
	read_watched(_metadata, self, at, &sb);
	expect_no_signal(_metadata, "read of the hole", &sb);
	ASSERT_EQ(npages_of(psize), ht_pagemap_count_present(0, addr, psize))
	TH_LOG("one fault must map the whole new page");
	/* A new page: it may come from another node. */
	self->pm.node = -1;
	ht_model_map(&self->pm, 0, 1);
	ht_model_check(_metadata, "after the read", &self->pm, 0, addr);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1))
	TH_LOG("the read must allocate exactly one page");
	for (i = 0; i < psize / sizeof(*w) && !w[i]; i++)
		;
	EXPECT_EQ(psize / sizeof(*w), i)
	TH_LOG("the new page is not zero at offset %zu", i * sizeof(*w));
}

TEST_F_TIMEOUT(paths, dontneed_then_refault, 300)
{
	unsigned long psize = HT_PSIZE(variant), addr = (unsigned long)self->p;
	char *at = self->p + piece_k(psize) * ht_base_page_size();
	struct ht_sigbus sb;

	ASSERT_EQ(0, madvise(self->p, psize, MADV_DONTNEED))
	TH_LOG("MADV_DONTNEED: %s", strerror(errno));
	ht_model_unmap(&self->pm, 0);
	ht_model_check(_metadata, "after MADV_DONTNEED", &self->pm, 0, addr);
	ht_model_check_count(_metadata, "the unmapped, cached page", &self->pm,
			     self->pfn);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1))
	TH_LOG("the page must stay in the page cache");

	/* Cached: in a MINOR range the fault would wait for a CONTINUE. */
	close_uffd(self);
	ht_access(at, false, 0, &sb);
	expect_no_signal(_metadata, "read after MADV_DONTNEED", &sb);
	/* The HGM table went with the entries: one fault maps it whole. */
	ASSERT_EQ(npages_of(psize), ht_pagemap_count_present(0, addr, psize))
	TH_LOG("one fault must map the whole page again");
	ht_model_map(&self->pm, 0, 1);
	ht_model_check(_metadata, "after the read", &self->pm, 0, addr);
	EXPECT_EQ(self->pfn, ht_pfn_of(_metadata, 0, addr))
	TH_LOG("not the cached page");
	EXPECT_EQ(-1, ht_pattern_check(self->p, psize, 0, SEED));
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1));
}

/* Bytes of @vec that are not exactly @want(i); reports the first. */
static long mincore_mismatches(struct __test_metadata *_metadata,
			       const char *who, const unsigned char *vec,
			       long n, long only)
{
	long bad = 0;

	for (long i = 0; i < n; i++) {
		unsigned char want = only < 0 || i == only;

		if (vec[i] == want)
			continue;
		if (!bad++)
			TH_LOG("%s: mincore byte %ld is %#x, model %u", who, i,
			       vec[i], want);
	}
	return bad;
}

TEST_F_TIMEOUT(paths, mincore_reports_mapped, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size(), k = piece_k(psize);
	long n = npages_of(psize);
	unsigned char *vec = malloc(n);
	int uffd, ret;
	char *q;

	ASSERT_NE(NULL, vec);
	/* Bits mincore does not define are 0: a stale byte shows. */
	memset(vec, 0xfe, n);
	ASSERT_EQ(0, mincore(self->p, psize, vec))
	TH_LOG("mincore: %s", strerror(errno));
	EXPECT_EQ(0, mincore_mismatches(_metadata, "fully mapped", vec, n, -1));

	/*
	 * Only HGM can map part of a huge page, so the huge twin has no
	 * partial state to compare: this half is the hgm variant's alone.
	 */
	if (variant->gran != HT_GRAN_HGM)
		goto out;
	q = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, self->file.fd,
		 0);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0, madvise(q, psize, MADV_SPLIT))
	TH_LOG("MADV_SPLIT: %s", strerror(errno));
	uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
	ASSERT_LE(0, uffd) TH_LOG("uffd: %s", strerror(-uffd));
	ret = ht_uffd_register(uffd, q, psize, UFFDIO_REGISTER_MODE_MINOR);
	ASSERT_EQ(0, ret) TH_LOG("register MINOR: %s", strerror(-ret));
	ret = ht_uffd_continue(uffd, q + k * ps, ps);
	ASSERT_EQ(0, ret) TH_LOG("4 KiB CONTINUE: %s", strerror(-ret));
	EXPECT_EQ(1, ht_pagemap_count_present(0, (unsigned long)q, psize));
	memset(vec, 0xfe, n);
	ASSERT_EQ(0, mincore(q, psize, vec))
	TH_LOG("mincore: %s", strerror(errno));
	EXPECT_EQ(0, mincore_mismatches(_metadata, "one piece mapped", vec, n,
					(long)k));
	/* The fully mapped VMA is another VMA: still all there. */
	memset(vec, 0xfe, n);
	ASSERT_EQ(0, mincore(self->p, psize, vec));
	EXPECT_EQ(0, mincore_mismatches(_metadata, "fully mapped, again", vec,
					n, -1));
	close(uffd);
	munmap(q, psize);
out:
	free(vec);
}

TEST_F_TIMEOUT(paths, gup_reads_pieces, 300)
{
	unsigned long psize = HT_PSIZE(variant), addr = (unsigned long)self->p;
	size_t ps = ht_base_page_size(), k = piece_k(psize);
	struct iovec local, remote;
	char *buf = malloc(psize);
	int pfd[2], fd;
	ssize_t n;

	ASSERT_NE(NULL, buf);

	/* (a) process_vm_readv: pin_user_pages_remote() on ourselves. */
	memset(buf, 0, psize);
	local = (struct iovec){ .iov_base = buf, .iov_len = psize };
	remote = (struct iovec){ .iov_base = self->p, .iov_len = psize };
	n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	EXPECT_EQ((ssize_t)psize, n)
	TH_LOG("process_vm_readv: %s", n < 0 ? strerror(errno) : "short");
	EXPECT_EQ(-1, ht_pattern_check(buf, psize, 0, SEED))
	TH_LOG("process_vm_readv read wrong bytes");
	EXPECT_EQ(0, memcmp(buf, self->p, psize))
	TH_LOG("process_vm_readv and the mapping disagree");

	/* (b) vmsplice: get_user_pages_fast() of one piece into a pipe. */
	ASSERT_EQ(0, pipe(pfd));
	remote = (struct iovec){ .iov_base = self->p + k * ps, .iov_len = ps };
	n = vmsplice(pfd[1], &remote, 1, 0);
	EXPECT_EQ((ssize_t)ps, n)
	TH_LOG("vmsplice: %s", n < 0 ? strerror(errno) : "short");
	memset(buf, 0, ps);
	n = read(pfd[0], buf, ps);
	EXPECT_EQ((ssize_t)ps, n) TH_LOG("read from the pipe");
	EXPECT_EQ(-1, ht_pattern_check(buf, ps, k * ps, SEED))
	TH_LOG("vmsplice of piece %zu carried wrong bytes", k);
	close(pfd[0]);
	close(pfd[1]);

	/* (c) /proc/self/mem: access_remote_vm(). */
	fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("/proc/self/mem: %s", strerror(errno));
	memset(buf, 0, psize);
	n = pread(fd, buf, psize, (off_t)addr);
	EXPECT_EQ((ssize_t)psize, n)
	TH_LOG("pread /proc/self/mem: %s", n < 0 ? strerror(errno) : "short");
	EXPECT_EQ(-1, ht_pattern_check(buf, psize, 0, SEED))
	TH_LOG("/proc/self/mem read wrong bytes");
	close(fd);

	/* Reading through GUP maps nothing more and unmaps nothing. */
	ht_model_check(_metadata, "after the GUP reads", &self->pm, 0, addr);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1));
	free(buf);
}

struct fork_arg {
	volatile char *piece;
	size_t off; /* its file offset */
};

/*
 * Waits for the parent's look at the untouched child, reads its piece,
 * replies with the signal (0: none) and the first bad offset (-1: none),
 * and holds the mapping until told to exit.
 */
static int fork_reader(int sock, void *arg)
{
	struct fork_arg *a = arg;
	struct ht_sigbus sb;
	int64_t go;
	long bad = -1;

	if (ht_child_sync(sock, 0))
		return 1;
	ht_access(a->piece, false, 0, &sb);
	if (!sb.hit)
		bad = ht_pattern_check((const void *)a->piece,
				       ht_base_page_size(), a->off, SEED);
	if (ht_send(sock, sb.hit ? sb.signo : 0) || ht_send(sock, bad))
		return 1;
	ht_recv(sock, &go, -1);
	return 0;
}

TEST_F_TIMEOUT(paths, fork_child_refaults, 300)
{
	unsigned long psize = HT_PSIZE(variant), addr = (unsigned long)self->p;
	size_t ps = ht_base_page_size(), k = piece_k(psize);
	struct fork_arg a = { .piece = self->p + k * ps, .off = k * ps };
	int64_t signo = -1, bad = 0;
	struct ht_child c;
	int status;

	ASSERT_EQ(0, ht_spawn(&c, fork_reader, &a));
	ASSERT_EQ(0, ht_recv(c.sock, &(int64_t){ 0 }, 60000));
	/* A copy of this process: the same other mappings. */
	ht_model_base(&self->pm, c.pid, self->kb0);
	/* A shared VMA's entries are not copied: the child maps nothing. */
	ht_model_check(_metadata, "child before its read", &self->pm, c.pid,
		       addr);
	ht_model_check(_metadata, "parent, child untouched", &self->pm, 0,
		       addr);

	ASSERT_EQ(0, ht_send(c.sock, 0));
	ASSERT_EQ(0, ht_recv(c.sock, &signo, 60000))
	TH_LOG("the child's read did not come back");
	ASSERT_EQ(0, ht_recv(c.sock, &bad, 60000));
	EXPECT_EQ(0, signo) TH_LOG("the child's read raised a signal");
	EXPECT_EQ(-1, bad)
	TH_LOG("the child read piece %zu wrong at offset %ld", k, (long)bad);
	/* Its fault found no table: the whole page, one mapping more. */
	ht_model_map(&self->pm, c.pid, 1);
	ht_model_check(_metadata, "child after its read", &self->pm, c.pid,
		       addr);
	ht_model_check(_metadata, "parent, child mapped", &self->pm, 0, addr);
	EXPECT_EQ(self->pfn, ht_pfn_of(_metadata, c.pid, addr))
	TH_LOG("the child maps another page");

	/* Before the reap, which forgets the pid. */
	ht_model_unmap(&self->pm, c.pid);
	ASSERT_EQ(0, ht_send(c.sock, 0));
	status = ht_reap(&c, 10000);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
	TH_LOG("child wait status %#x", status);
	ht_model_check(_metadata, "parent after the child exited", &self->pm, 0,
		       addr);
	EXPECT_EQ(self->free0, ht_free_pages(_metadata, psize, -1));
}

/* ======================================================================
 * The GUP slow path at every huge page size.  process_vm_readv/writev
 * (pin_user_pages_remote) and /proc/PID/mem (access_remote_vm) walk the
 * page tables in follow_page_mask(): a 2 MiB page is a PMD leaf
 * (follow_huge_pmd), a 1 GiB page a PUD leaf (follow_huge_pud), an HGM
 * piece a PTE, and each must hand back the subpage of the address asked
 * for.  Inside a 1 GiB page the offset has bits above the PMD's: a walk
 * that keeps only the offset mod 2 MiB returns the right bytes in the
 * first 2 MiB and wrong ones everywhere else, so the probes reach every
 * 2 MiB slice of the page.  Direct loads and GUP-fast (vmsplice,
 * O_DIRECT) do not take this walk: direct loads are the reference.
 *
 * The page is filled (ht_file_fill: a stamp per base page, zeros after
 * it, the page being new).  The model:
 *   a GUP read of a probe           -> the fill's bytes there
 *   a GUP write of one probe a slice
 *   (its bytes inverted)            -> direct loads and GUP reads see
 *                                      exactly those bytes changed; put
 *                                      back by direct stores, the whole
 *                                      page is the fill again
 *   any of these                    -> nothing allocated or freed (pool)
 */
FIXTURE(paths_gup)
{
	struct ht_env env;
	struct ht_file file; /* one huge page, filled */
	char *p; /* the page, mapped at the variant's granularity */
	int uffd; /* the hgm variant's MINOR uffd, else -1 */
	unsigned char *scratch; /* two base pages for the fill's bytes */
	struct ht_pool_model m;
};

FIXTURE_VARIANT(paths_gup)
{
	HT_VARIANT_FIELDS;
};

/* hgm_1G skips on kernels without 1 GiB HGM and runs where it exists. */
HT_ADD_VARIANTS(paths_gup);

FIXTURE_SETUP(paths_gup)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1,
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};
	unsigned long psize = HT_PSIZE(variant);
	size_t ps = ht_base_page_size();
	struct ht_smaps_vma v;

	self->file.fd = -1;
	self->uffd = -1;
	self->p = MAP_FAILED;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	self->scratch = aligned_alloc(ps, 2 * ps);
	ASSERT_NE(NULL, self->scratch);
	ASSERT_EQ(0, ht_file_create(&self->file, psize, psize));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, psize, SEED));
	self->p = ht_map_populated(&self->file, 0, psize, variant->gran,
				   &self->uffd);
	ASSERT_NE(MAP_FAILED, self->p)
	TH_LOG("mapping at %s granularity: %s", ht_gran_name(variant->gran),
	       strerror(errno));
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)self->p, &v));
	ASSERT_EQ(variant->gran == HT_GRAN_HGM, ht_vmflags_has(&v, "hm"))
	TH_LOG("VmFlags: %s", v.vmflags);
	ASSERT_EQ(0, ht_pool_model_init(&self->m, psize, -1));
}

FIXTURE_TEARDOWN_PARENT(paths_gup)
{
	HT_TEARDOWN(&self->env);
}

/*
 * PROBE_LEN bytes at three places in each of NSLICES slices of the page
 * (2 MiB each of a 1 GiB page, a base page each of a 2 MiB one):
 *   0  the slice's first bytes (k * 2 MiB in a 1 GiB page)
 *   1  inside: base page 37k mod (base pages a slice), 1 + k mod 59 bytes
 *      in, unaligned, over the end of its stamp into the zeros
 *   2  across the slice's start, from 24 bytes before it (slice 0: the
 *      page's last bytes)
 * Slice k also has one write: its probe of kind k mod 3, through
 * process_vm_writev (k even) or /proc/PID/mem (k odd); no two overlap.
 */
#define NSLICES 512
#define KINDS 3
#define NPROBES (NSLICES * KINDS)
#define PROBE_LEN 64

static size_t probe_off(unsigned long psize, size_t k, int kind)
{
	size_t ps = ht_base_page_size(), slice = psize / NSLICES;
	size_t base = k * slice;

	if (kind == 0)
		return base;
	if (kind == 1)
		return base + k * 37 % (slice / ps) * ps + 1 + k % 59;
	return k ? base - 24 : psize - PROBE_LEN;
}

static size_t write_off(unsigned long psize, size_t k)
{
	return probe_off(psize, k, k % KINDS);
}

/*
 * Into @out, what [@off, @off + @len) must hold (@len at most a base
 * page): the fill, inverted where @written and a slice's write covers
 * it.  A write starts in its own slice or, kind 2, in the one before.
 */
static void model_bytes(FIXTURE_DATA(paths_gup) * self, unsigned long psize,
			size_t off, size_t len, bool written,
			unsigned char *out)
{
	size_t ps = ht_base_page_size(), at = off - off % ps;
	size_t slice = psize / NSLICES;

	memset(self->scratch, 0, 2 * ps);
	ht_pattern_fill(self->scratch, 2 * ps, at, SEED);
	memcpy(out, self->scratch + (off - at), len);
	for (size_t i = 0; written && i < len; i++) {
		size_t o = off + i, k = o / slice;

		for (size_t w = k; w <= k + 1 && w < NSLICES; w++) {
			size_t wo = write_off(psize, w);

			if (o >= wo && o < wo + PROBE_LEN)
				out[i] = ~out[i];
		}
	}
}

/* Index of the first byte where @a and @b differ, or -1. */
static int first_diff(const unsigned char *a, const unsigned char *b,
		      size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (a[i] != b[i])
			return (int)i;
	return -1;
}

enum gup_via { VIA_PROCESS_VM, VIA_PROC_MEM, NR_VIA };

static const char *const via_name[NR_VIA] = {
	"process_vm_readv/writev",
	"/proc/PID/mem",
};

/* Whose page GUP goes through: our own mapping or a holder's. */
struct gup_target {
	pid_t pid;
	unsigned long base; /* the page in @pid */
	int mem; /* /proc/<pid>/mem, read-write */
};

static ssize_t gup_io(const struct gup_target *t, enum gup_via via, bool write,
		      size_t off, unsigned char *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(t->base + off), len };
	off_t at = (off_t)(t->base + off);

	if (via == VIA_PROCESS_VM)
		return write ? process_vm_writev(t->pid, &l, 1, &r, 1, 0) :
			       process_vm_readv(t->pid, &l, 1, &r, 1, 0);
	return write ? pwrite(t->mem, buf, len, at) :
		       pread(t->mem, buf, len, at);
}

static void open_target(struct __test_metadata *_metadata, struct gup_target *t,
			pid_t pid, unsigned long base)
{
	char path[64];

	t->pid = pid;
	t->base = base;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	t->mem = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, t->mem) TH_LOG("%s: %s", path, strerror(errno));
}

/*
 * Every probe read through @via, each into bytes that differ from the
 * model everywhere, so that a short or skipped copy shows.  The first
 * wrong probe is logged; returns how many were wrong.
 */
static int read_probes(struct __test_metadata *_metadata,
		       FIXTURE_DATA(paths_gup) * self, unsigned long psize,
		       const struct gup_target *t, enum gup_via via,
		       bool written)
{
	unsigned char got[PROBE_LEN], want[PROBE_LEN];
	int bad = 0, d;

	for (int i = 0; i < NPROBES; i++) {
		size_t off = probe_off(psize, i / KINDS, i % KINDS);
		ssize_t n;

		model_bytes(self, psize, off, PROBE_LEN, written, want);
		for (int b = 0; b < PROBE_LEN; b++)
			got[b] = ~want[b];
		n = gup_io(t, via, false, off, got, PROBE_LEN);
		d = first_diff(got, want, PROBE_LEN);
		if (n == PROBE_LEN && d < 0)
			continue;
		if (bad++)
			continue;
		if (n != PROBE_LEN)
			TH_LOG("%s read of %d bytes at page offset %#zx: %zd (%s)",
			       via_name[via], PROBE_LEN, off, n,
			       n < 0 ? strerror(errno) : "short");
		else
			TH_LOG("%s read at page offset %#zx: byte %#zx is %#x, model %#x",
			       via_name[via], off, off + d, got[d], want[d]);
	}
	return bad;
}

static void reads_match(struct __test_metadata *_metadata,
			FIXTURE_DATA(paths_gup) * self, unsigned long psize,
			const struct gup_target *t, bool written,
			const char *step)
{
	for (int via = 0; via < NR_VIA; via++) {
		int bad = read_probes(_metadata, self, psize, t, via, written);

		EXPECT_EQ(0, bad)
		TH_LOG("%s: %d of %d GUP reads through %s differ from the model",
		       step, bad, NPROBES, via_name[via]);
	}
}

/* First page offset where direct loads differ from the fill, or -1. */
static long page_differs(FIXTURE_DATA(paths_gup) * self, unsigned long psize)
{
	size_t ps = ht_base_page_size();
	const unsigned char *p = (const unsigned char *)self->p;
	int d;

	for (size_t at = 0; at < psize; at += ps) {
		memset(self->scratch, 0, ps);
		ht_pattern_fill(self->scratch, ps, at, SEED);
		if (!memcmp(p + at, self->scratch, ps))
			continue;
		d = first_diff(p + at, self->scratch, ps);
		return (long)(at + d);
	}
	return -1;
}

/* Each slice's write through GUP; returns how many were refused or short. */
static int write_slices(struct __test_metadata *_metadata,
			FIXTURE_DATA(paths_gup) * self, unsigned long psize,
			const struct gup_target *t)
{
	unsigned char buf[PROBE_LEN];
	int bad = 0;

	for (size_t k = 0; k < NSLICES; k++) {
		enum gup_via via = k % 2 ? VIA_PROC_MEM : VIA_PROCESS_VM;
		size_t off = write_off(psize, k);
		ssize_t n;

		model_bytes(self, psize, off, PROBE_LEN, true, buf);
		n = gup_io(t, via, true, off, buf, PROBE_LEN);
		if (n != PROBE_LEN && !bad++)
			TH_LOG("%s write of %d bytes at page offset %#zx: %zd (%s)",
			       via_name[via], PROBE_LEN, off, n,
			       n < 0 ? strerror(errno) : "short");
	}
	return bad;
}

/*
 * The written bytes by direct loads, then put back by direct stores:
 * returns how many writes did not land where they were aimed.
 */
static int check_and_undo_writes(struct __test_metadata *_metadata,
				 FIXTURE_DATA(paths_gup) * self,
				 unsigned long psize)
{
	unsigned char want[PROBE_LEN];
	unsigned char *p = (unsigned char *)self->p;
	int bad = 0, d;

	for (size_t k = 0; k < NSLICES; k++) {
		size_t off = write_off(psize, k);

		model_bytes(self, psize, off, PROBE_LEN, true, want);
		d = first_diff(p + off, want, PROBE_LEN);
		if (d >= 0 && !bad++)
			TH_LOG("direct load after the %s write at page offset %#zx: byte %#zx is %#x, written %#x",
			       via_name[k % 2], off, off + d, p[off + d],
			       want[d]);
		model_bytes(self, psize, off, PROBE_LEN, false, want);
		memcpy(p + off, want, PROBE_LEN);
	}
	return bad;
}

/*
 * One write a slice through GUP into @t's page, which is ours too (the
 * file's folio): exactly those bytes change, for direct loads and for
 * GUP reads, and nothing else does.
 */
static void writes_land(struct __test_metadata *_metadata,
			FIXTURE_DATA(paths_gup) * self, unsigned long psize,
			const struct gup_target *t)
{
	long off = page_differs(self, psize);
	int bad;

	ASSERT_EQ(-1, off) TH_LOG("the page is not the fill at %#lx", off);
	bad = write_slices(_metadata, self, psize, t);
	EXPECT_EQ(0, bad) TH_LOG("%d of %d GUP writes failed", bad, NSLICES);
	reads_match(_metadata, self, psize, t, true, "after the writes");
	bad = check_and_undo_writes(_metadata, self, psize);
	EXPECT_EQ(0, bad)
	TH_LOG("%d of %d GUP writes are not where they were aimed", bad,
	       NSLICES);
	off = page_differs(self, psize);
	EXPECT_EQ(-1, off)
	TH_LOG("a GUP write changed page offset %#lx (%#lx into its PMD span)",
	       off, off % (long)ht_pmd_size());
}

TEST_F_TIMEOUT(paths_gup, read_self, 300)
{
	struct gup_target t;

	open_target(_metadata, &t, getpid(), (unsigned long)self->p);
	reads_match(_metadata, self, HT_PSIZE(variant), &t, false,
		    "own mapping");
	close(t.mem);
	HT_POOL_CHECK(&self->m, "the GUP reads");
}

/* A holder of the same page at the variant's granularity, as a target. */
static void open_other(struct __test_metadata *_metadata,
		       FIXTURE_DATA(paths_gup) * self, enum ht_gran gran,
		       unsigned long psize, struct ht_child *c,
		       struct gup_target *t)
{
	struct ht_holder h = { .file = &self->file,
			       .len = psize,
			       .gran = gran };
	unsigned long addr;

	ht_start_holder(_metadata, c, &h, &addr);
	open_target(_metadata, t, c->pid, addr);
}

TEST_F_TIMEOUT(paths_gup, read_other, 300)
{
	struct gup_target t;
	struct ht_child c;

	open_other(_metadata, self, variant->gran, HT_PSIZE(variant), &c, &t);
	reads_match(_metadata, self, HT_PSIZE(variant), &t, false,
		    "another process's mapping");
	close(t.mem);
	HT_POOL_CHECK(&self->m, "the GUP reads");
	ht_stop_holder(_metadata, &c);
}

TEST_F_TIMEOUT(paths_gup, write_self, 300)
{
	struct gup_target t;

	open_target(_metadata, &t, getpid(), (unsigned long)self->p);
	writes_land(_metadata, self, HT_PSIZE(variant), &t);
	close(t.mem);
	HT_POOL_CHECK(&self->m, "the GUP writes");
}

TEST_F_TIMEOUT(paths_gup, write_other, 300)
{
	struct gup_target t;
	struct ht_child c;
	int64_t bad = 0;

	open_other(_metadata, self, variant->gran, HT_PSIZE(variant), &c, &t);
	writes_land(_metadata, self, HT_PSIZE(variant), &t);
	close(t.mem);
	/* Put back through our mapping: the holder sees the fill again. */
	ASSERT_EQ(0, ht_holder_check(&c, SEED, &bad));
	EXPECT_EQ(-1, bad)
	TH_LOG("the holder's stamp at %#llx", (long long)bad);
	HT_POOL_CHECK(&self->m, "the GUP writes");
	ht_stop_holder(_metadata, &c);
}

/*
 * ---- a page mapped only in part: pieces past its first 2 MiB ----
 * HGM maps the HT_SPARSE_OFFS pieces and nothing else: at 1 GiB the split
 * PUD's PMD table has PTE tables for the two 2 MiB ranges they lie in and
 * none for the 510 others (the first among them).  The huge twin's first
 * touch maps the whole page.  Either way one (VMA, folio) pair: kpagecount
 * 1, the whole page in HugetlbPages; smaps counts what is mapped (the
 * page, or the two pieces) as Private_Hugetlb (one mapper).  pagemap and
 * mincore must name exactly the pieces the model maps: mincore walks with
 * a pte_hole callback, and a 2 MiB with no table is not a hole of the VMA
 * but unmapped pieces of a mapped page (0, as in a table's none entries).
 */
FIXTURE(sparse)
{
	struct ht_env env;
	struct ht_file file; /* one huge page, filled */
};

FIXTURE_VARIANT(sparse)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS(sparse);

FIXTURE_SETUP(sparse)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 1,
		.caps = { CAP_SYS_ADMIN /* PFNs in pagemap */ },
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};
	unsigned long psize = HT_PSIZE(variant);

	self->file.fd = -1;
	HT_SETUP_OR_SKIP(&needs, &self->env);
	ASSERT_EQ(0, ht_file_create(&self->file, psize, psize));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, psize, SEED));
}

FIXTURE_TEARDOWN_PARENT(sparse)
{
	HT_TEARDOWN(&self->env);
}

/* pagemap and mincore of the page against the model's pieces. */
static void expect_pieces(struct __test_metadata *_metadata, char *p,
			  unsigned long psize, const unsigned char *want)
{
	long first = 0;

	ASSERT_EQ(0, ht_pagemap_first_diff(0, (unsigned long)p, psize, want,
					   &first));
	EXPECT_EQ(-1, first)
	TH_LOG("pagemap: piece %ld present is %d", first,
	       first >= 0 ? !want[first] : -1);
	ASSERT_EQ(0, ht_mincore_first_diff(p, psize, want, &first));
	EXPECT_EQ(-1, first)
	TH_LOG("mincore: piece %ld in core is %d", first,
	       first >= 0 ? !want[first] : -1);
}

TEST_F_TIMEOUT(sparse, views, 300)
{
	unsigned long psize = HT_PSIZE(variant), ps = ht_base_page_size();
	const size_t offs[HT_SPARSE_PIECES] = HT_SPARSE_OFFS(psize);
	unsigned long kb = psize / HT_KB, hkb = ~0UL;
	unsigned char *want = malloc(psize / ps);
	uint64_t pfn[HT_SPARSE_PIECES], head, count = ~0ULL;
	struct ht_smaps_vma v;
	int uffd;
	char *p;

	ASSERT_NE(NULL, want);
	ht_pieces_model(want, psize, psize, variant->gran, offs,
			HT_SPARSE_PIECES);
	p = ht_map_pieces(&self->file, psize, variant->gran, offs,
			  HT_SPARSE_PIECES, &uffd);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("map: %s", strerror(errno));
	expect_pieces(_metadata, p, psize, want);
	for (int i = 0; i < HT_SPARSE_PIECES; i++) {
		pfn[i] = ht_pfn_of(_metadata, 0, (unsigned long)p + offs[i]);
		EXPECT_EQ(-1, ht_pattern_check(p + offs[i], ps, offs[i], SEED))
		TH_LOG("piece at %#zx", offs[i]);
	}
	head = pfn[0] - offs[0] / ps;
	EXPECT_EQ(0, head % (psize / ps)) TH_LOG("head PFN not aligned");
	EXPECT_EQ(head + offs[1] / ps, pfn[1]) TH_LOG("second piece's PFN");
	ASSERT_EQ(0, ht_kpagecount_read(head, &count));
	EXPECT_EQ(1, count) TH_LOG("kpagecount: one (VMA, folio) pair");
	ASSERT_EQ(0, ht_smaps_read(0, (unsigned long)p, &v));
	/*
	 * One mapper: Private_Hugetlb (by the folio's mapcount), of what
	 * the VMA maps: the whole page, or the HGM pieces.
	 */
	EXPECT_EQ(0, v.val[HT_SMAPS_SHARED_HUGETLB]);
	EXPECT_EQ(variant->gran == HT_GRAN_HGM ? HT_SPARSE_PIECES * ps / HT_KB :
						 kb,
		  v.val[HT_SMAPS_PRIVATE_HUGETLB]);
	EXPECT_EQ(0, v.val[HT_SMAPS_RSS]);
	ASSERT_EQ(0, ht_status_read(0, "HugetlbPages", &hkb));
	EXPECT_EQ(kb, hkb);

	munmap(p, psize);
	if (uffd >= 0)
		close(uffd);
	ASSERT_EQ(0, ht_kpagecount_read(head, &count));
	EXPECT_EQ(0, count) TH_LOG("kpagecount after munmap");
	ASSERT_EQ(0, ht_status_read(0, "HugetlbPages", &hkb));
	EXPECT_EQ(0, hkb);
	free(want);
}

HT_MAIN
