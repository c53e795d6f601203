// SPDX-License-Identifier: GPL-2.0
/*
 * continue_rate: what a 4 KiB UFFDIO_CONTINUE costs on a 2 MiB hugetlb
 * page split by MADV_SPLIT (HGM), against the same on shmem's 4 KiB
 * pages, in one run, so that both figures come from the same machine
 * state.  One 2 MiB CONTINUE per huge page (no split) is the reference.
 *
 * Every round maps the already filled files afresh, registers MINOR,
 * times only the CONTINUE loop, then checks what the loop produced: every
 * 4 KiB piece present and holding the pattern written, and for hugetlb
 * kpagecount 1 (one mapcount per (VMA, folio): the suite's HGM design).
 * A wrong byte or count fails the run; speed is reported, never judged.
 *
 * Exit: 0 pass (hgm may be skipped), 1 fail, 2 bad usage, 4 skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ht.h"
#include "skel.h"

#define PSIZE ht_pmd_size()
#define MAX_PAGES 1024
#define MAX_ROUNDS 1000
#define SEED 0xc0de0001

enum kind { K_HGM, K_HUGE, K_SHMEM, K_N };

struct meas {
	const char *name, *what;
	char skip[HT_WHY_LEN]; /* "" when it runs */
	int fd;
	bool hugetlb, split; /* split: MADV_SPLIT before registering */
	uint64_t feature; /* UFFD_FEATURE_MINOR_* */
	size_t step; /* bytes per CONTINUE */
	long ops; /* CONTINUEs per round */
	int rounds; /* rounds done and verified */
	double ns[MAX_ROUNDS]; /* ns per CONTINUE, each round */
	double median, min;
	bool failed;
};

static struct {
	long pages;
	long rounds;
	const char *json;
} o;

static const struct sk_opt opts[] = { { .name = "pages",
					.short_opt = 'n',
					.kind = SK_COUNT,
					.arg = "N",
					.def = "32",
					.show_max = true,
					.min = 1,
					.max = MAX_PAGES,
					.help = "2 MiB pages, and as much shmem",
					.target = &o.pages },
				      { .name = "rounds",
					.short_opt = 'r',
					.kind = SK_COUNT,
					.arg = "R",
					.def = "5",
					.show_max = true,
					.min = 1,
					.max = MAX_ROUNDS,
					.help = "rounds of each measurement",
					.target = &o.rounds },
				      { .name = "json",
					.short_opt = 'j',
					.kind = SK_FILE,
					.arg = "FILE",
					.help = "the report as JSON",
					.target = &o.json },
				      { 0 } };

static const struct sk_prog prog = {
	.name = "continue_rate",
	.about =
		"Time 4 KiB UFFDIO_CONTINUE on 2 MiB hugetlb pages split by MADV_SPLIT (HGM)\n"
		"against 4 KiB CONTINUE on shmem and 2 MiB CONTINUE on unsplit hugetlb.\n",
	.exits =
		"Exit: 0 pass (hgm lines skip without HGM), 1 fail (missing piece, wrong byte,\n"
		"kpagecount != 1, kernel complaint, pool not restored), 2 bad usage, 4 skip\n"
		"(not root, no 2 MiB hugetlb pages).\n",
	.opts = opts,
};

static struct meas m[K_N] = {
	[K_HGM] = { .name = "hgm",
		    .what = "4 KiB CONTINUE, 2M hugetlb split (HGM)",
		    .hugetlb = true,
		    .split = true,
		    .feature = UFFD_FEATURE_MINOR_HUGETLBFS },
	[K_HUGE] = { .name = "huge",
		     .what = "2 MiB CONTINUE, 2M hugetlb (reference)",
		     .hugetlb = true,
		     .feature = UFFD_FEATURE_MINOR_HUGETLBFS },
	[K_SHMEM] = { .name = "shmem",
		      .what = "4 KiB CONTINUE, shmem 4 KiB pages",
		      .feature = UFFD_FEATURE_MINOR_SHMEM },
};

static struct sk_report rep;

/*
 * shmem: a plain memfd filled like ht_file_fill() fills the hugetlb one,
 * but through a MADV_NOHUGEPAGE mapping: a host with shmem_enabled=always
 * would otherwise give it huge folios, and this side is meant to be 4 KiB.
 */
static int shmem_create(size_t len)
{
	int fd = memfd_create("ht-continue-shmem", MFD_CLOEXEC);
	void *p;
	int err;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len))
		goto fail;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	madvise(p, len, MADV_NOHUGEPAGE);
	ht_pattern_fill(p, len, 0, SEED);
	munmap(p, len);
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

/*
 * Each huge page: head and tail pieces are pieces 0 and 511 of one folio,
 * and kpagecount reads 1 for both (this mapping only; the fill's is gone).
 */
static int check_hugetlb_counts(char *p, size_t len, char *why, size_t wlen)
{
	size_t ps = ht_base_page_size(), per = PSIZE / ps;

	for (size_t off = 0; off < len; off += PSIZE) {
		unsigned long a[2] = { (unsigned long)p + off,
				       (unsigned long)p + off + PSIZE - ps };
		uint64_t pm[2], cnt[2], pfn[2];

		for (int i = 0; i < 2; i++) {
			int ret = ht_pagemap_read(0, a[i], &pm[i]);

			if (!ret) {
				pfn[i] = pm[i] & HT_PM_PFN_MASK;
				ret = ht_kpagecount_read(pfn[i], &cnt[i]);
			}
			if (ret) {
				snprintf(why, wlen,
					 "page %zu: pagemap/kpagecount: %s",
					 off / PSIZE, strerror(-ret));
				return -1;
			}
		}
		if (pfn[0] % per || pfn[1] != pfn[0] + per - 1) {
			snprintf(why, wlen,
				 "page %zu: head pfn %#" PRIx64
				 ", tail pfn %#" PRIx64 ": not one folio",
				 off / PSIZE, pfn[0], pfn[1]);
			return -1;
		}
		if (cnt[0] != 1 || cnt[1] != 1) {
			snprintf(why, wlen,
				 "page %zu: kpagecount head %" PRIu64
				 " tail %" PRIu64
				 ", model 1 (one per VMA and folio)",
				 off / PSIZE, cnt[0], cnt[1]);
			return -1;
		}
	}
	return 0;
}

/*
 * One round: fresh mapping, (split,) register MINOR, CONTINUE every step
 * (timed), then verify.  0 with *ns_op set, or -1 with @why.
 */
static int one_round(struct meas *x, size_t len, double *ns_op, char *why,
		     size_t wlen)
{
	size_t ps = ht_base_page_size();
	long t0, t1, present, bad;
	int uffd = -1, ret = -1, err = 0;
	size_t off = 0;
	char *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, 0);
	if (p == MAP_FAILED) {
		snprintf(why, wlen, "mmap: %s", strerror(errno));
		return -1;
	}
	if (x->split && madvise(p, len, MADV_SPLIT)) {
		snprintf(why, wlen, "madvise(MADV_SPLIT): %s", strerror(errno));
		goto out;
	}
	uffd = ht_uffd_open(x->feature);
	if (uffd < 0) {
		snprintf(why, wlen, "userfaultfd: %s", strerror(-uffd));
		goto out;
	}
	err = ht_uffd_register(uffd, p, len, UFFDIO_REGISTER_MODE_MINOR);
	if (err) {
		snprintf(why, wlen, "UFFDIO_REGISTER MINOR: %s",
			 strerror(-err));
		goto out;
	}

	t0 = ht_now_ns();
	for (; off < len; off += x->step) {
		err = ht_uffd_continue(uffd, p + off, x->step);
		if (err)
			break;
	}
	t1 = ht_now_ns();
	if (err) {
		snprintf(why, wlen, "UFFDIO_CONTINUE at offset %#zx: %s", off,
			 strerror(-err));
		goto out;
	}

	/* Counted before any read: a missing piece would block on the uffd. */
	present = ht_pagemap_count_present(0, (unsigned long)p, len);
	if (present < 0) {
		snprintf(why, wlen, "pagemap: %s", strerror((int)-present));
		goto out;
	}
	if (present != (long)(len / ps)) {
		snprintf(why, wlen, "%ld of %zu pieces present after CONTINUE",
			 present, len / ps);
		goto out;
	}
	if (x->hugetlb && check_hugetlb_counts(p, len, why, wlen))
		goto out;
	/* Unregistered before reading, so a surprise faults, not hangs. */
	close(uffd);
	uffd = -1;
	bad = ht_pattern_check(p, len, 0, SEED);
	if (bad >= 0) {
		snprintf(why, wlen, "wrong data at offset %#lx", bad);
		goto out;
	}
	*ns_op = (double)(t1 - t0) / x->ops;
	ret = 0;
out:
	if (uffd >= 0)
		close(uffd);
	munmap(p, len);
	return ret;
}

/*
 * Which sides can run here; a side that cannot says why and the others
 * still run.  A reason is copied into each side's own: @why ends here.
 */
static void probe_sides(void)
{
	char why[HT_WHY_LEN];
	const char *r;
	int fd;

	if ((r = ht_probe_uffd_minor_hugetlb_r(why, sizeof(why)))) {
		snprintf(m[K_HUGE].skip, sizeof(m[K_HUGE].skip), "%s", r);
		snprintf(m[K_HGM].skip, sizeof(m[K_HGM].skip), "%s", r);
	} else if ((r = ht_probe_hgm_r(PSIZE, why, sizeof(why)))) {
		snprintf(m[K_HGM].skip, sizeof(m[K_HGM].skip), "%s", r);
	}
	fd = ht_uffd_open(UFFD_FEATURE_MINOR_SHMEM);
	if (fd < 0)
		snprintf(m[K_SHMEM].skip, sizeof(m[K_SHMEM].skip),
			 "userfaultfd without UFFD_FEATURE_MINOR_SHMEM: %s",
			 strerror(-fd));
	else
		close(fd);
}

/* The hugetlb file (hgm and huge share it) and the shmem one, filled. */
static int make_files(struct ht_file *hf, size_t len)
{
	int ret, fd;

	ret = ht_file_create(hf, PSIZE, len);
	if (!ret)
		ret = ht_file_fill(hf, 0, len, SEED);
	if (ret) {
		sk_fail(&rep, "hugetlb file of %ld pages: %s", o.pages,
			strerror(-ret));
		return -1;
	}
	fd = shmem_create(len);
	if (fd < 0) {
		sk_fail(&rep, "shmem file: %s", strerror(-fd));
		return -1;
	}
	m[K_SHMEM].fd = fd;
	m[K_HGM].fd = m[K_HUGE].fd = hf->fd;
	m[K_HGM].step = m[K_SHMEM].step = ht_base_page_size();
	m[K_HUGE].step = PSIZE;
	for (int k = 0; k < K_N; k++)
		m[k].ops = (long)(len / m[k].step);
	return 0;
}

/*
 * Rounds interleaved (hgm, huge, shmem, hgm, ...) so that a change in the
 * machine's load during the run hits every side alike.
 */
static void run_rounds(size_t len)
{
	char why[HT_WHY_LEN];

	for (int i = 0; i < o.rounds && !sk_got_signal; i++) {
		for (int k = 0; k < K_N; k++) {
			struct meas *x = &m[k];

			if (x->skip[0] || x->failed)
				continue;
			if (one_round(x, len, &x->ns[x->rounds], why,
				      sizeof(why))) {
				x->failed = true;
				sk_fail(&rep, "%s round %d: %s", x->name, i + 1,
					why);
				continue;
			}
			x->rounds++;
		}
	}
}

static void print_sides(void)
{
	for (int k = 0; k < K_N; k++) {
		struct meas *x = &m[k];

		if (x->skip[0]) {
			printf("%-5s skip: %s\n", x->name, x->skip);
			continue;
		}
		if (x->rounds)
			sk_median_min(x->ns, x->rounds, &x->median, &x->min);
		if (!x->rounds) {
			printf("%-5s %s: no round completed\n", x->name,
			       x->what);
			continue;
		}
		printf("%-5s %s: median %.0f ns, min %.0f ns per CONTINUE, %.0f CONTINUE/s (%ld per round, %d rounds)\n",
		       x->name, x->what, x->median, x->min, 1e9 / x->median,
		       x->ops, x->rounds);
	}
	if (m[K_HGM].rounds && m[K_SHMEM].rounds)
		printf("ratio: hgm / shmem %.2f (median time per 4 KiB CONTINUE)\n",
		       m[K_HGM].median / m[K_SHMEM].median);
}

static void json_side(struct ht_json *j, const struct meas *x)
{
	struct ht_json *s = ht_json_obj(j, x->name), *ns;

	if (x->skip[0]) {
		ht_json_string(s, "skipped", x->skip);
		return;
	}
	ht_json_num(s, "continue_size", "%zu", x->step);
	ht_json_num(s, "ops_per_round", "%ld", x->ops);
	ht_json_num(s, "rounds", "%d", x->rounds);
	ht_json_bool(s, "failed", x->failed);
	ns = ht_json_list(s, "ns_per_op");
	for (int i = 0; i < x->rounds; i++)
		ht_json_num(ns, NULL, "%.1f", x->ns[i]);
	if (!x->rounds) {
		ht_json_null(s, "median_ns");
		ht_json_null(s, "min_ns");
		ht_json_null(s, "ops_per_s");
		return;
	}
	ht_json_num(s, "median_ns", "%.1f", x->median);
	ht_json_num(s, "min_ns", "%.1f", x->min);
	ht_json_num(s, "ops_per_s", "%.0f", 1e9 / x->median);
}

static int write_json(const char *release, size_t len)
{
	struct ht_json *j = ht_json_new(), *c;
	int ret;

	sk_json_head(j, "continue_rate", release, &rep);
	c = ht_json_obj(j, "config");
	ht_json_num(c, "pages", "%ld", o.pages);
	ht_json_num(c, "page_size", "%lu", PSIZE);
	ht_json_num(c, "piece_size", "%zu", ht_base_page_size());
	ht_json_num(c, "bytes", "%zu", len);
	ht_json_num(c, "rounds", "%ld", o.rounds);
	for (int k = 0; k < K_N; k++)
		json_side(j, &m[k]);
	sk_json_kmsg(j, &rep);
	ret = sk_json_save(j, o.json);
	ht_json_free(j);
	return ret;
}

int main(int argc, char **argv)
{
	struct ht_needs needs = { .page_size = PSIZE };
	struct ht_file hf = { .fd = -1 };
	struct sk_run run;
	char why[HT_WHY_LEN];
	struct utsname u;
	const char *r;
	int code;
	size_t len;

	sk_parse(&prog, argc, argv);
	for (int k = 0; k < K_N; k++)
		m[k].fd = -1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Only to name the kernel in the report: no version is decided here. */
	uname(&u);
	len = (size_t)o.pages * PSIZE;

	if (!sk_root("hugetlb pool, /proc/kpagecount"))
		return EXIT_SKIP;
	if ((r = ht_probe_page_size_r(PSIZE, why, sizeof(why)))) {
		printf("skip: %s\n", r);
		return EXIT_SKIP;
	}
	probe_sides();
	needs.pages = (unsigned long)o.pages;
	code = sk_setup(&run, &needs, 30);
	if (code)
		return code;

	printf("continue_rate: %ld x 2 MiB hugetlb pages and %zu MiB shmem, %ld rounds, kernel %s\n",
	       o.pages, len / HT_MB, o.rounds, u.release);
	if (!make_files(&hf, len))
		run_rounds(len);
	if (m[K_SHMEM].fd >= 0)
		close(m[K_SHMEM].fd);
	ht_file_close(&hf);
	sk_restore(&run, &rep);
	sk_kmsg_check(&run, &rep);

	print_sides();
	rep.interrupted = sk_got_signal;
	sk_print_verdict(&rep);
	code = sk_exit_code(&rep);
	if (o.json && write_json(u.release, len))
		code = EXIT_FAIL;
	return code;
}
