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
#include <getopt.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ht.h"

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_SKIP 4

#define PSIZE (2 * HT_MB)
#define MAX_PAGES 1024
#define MAX_ROUNDS 1000
#define SEED 0xc0de0001

enum kind { K_HGM, K_HUGE, K_SHMEM, K_N };

struct meas {
	const char *name, *what;
	char skip[320]; /* "" when it runs */
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
	int rounds;
	const char *json;
} o = { .pages = 32, .rounds = 5 };

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

static char failures[4096];
static volatile sig_atomic_t got_signal;

static void add_failure(const char *fmt, ...)
{
	size_t used = strlen(failures);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(failures + used, sizeof(failures) - used, fmt, ap);
	va_end(ap);
}

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "continue_rate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(EXIT_USAGE);
}

static void help(void)
{
	printf("Usage: continue_rate [OPTIONS]\n"
	       "Time 4 KiB UFFDIO_CONTINUE on 2 MiB hugetlb pages split by MADV_SPLIT (HGM)\n"
	       "against 4 KiB CONTINUE on shmem and 2 MiB CONTINUE on unsplit hugetlb.\n\n"
	       "  -n, --pages N     2 MiB pages (and as much shmem) per round (default 32, max %d)\n"
	       "  -r, --rounds R    rounds of each measurement (default 5, max %d)\n"
	       "  -j, --json FILE   write the report as JSON to FILE\n"
	       "  -h, --help        this text\n\n"
	       "Exit: 0 pass (hgm lines skip without HGM), 1 fail (missing piece, wrong byte,\n"
	       "kpagecount != 1, kernel complaint, pool not restored), 2 bad usage, 4 skip\n"
	       "(not root, no 2 MiB hugetlb pages).\n",
	       MAX_PAGES, MAX_ROUNDS);
}

static long parse_count(const char *opt, const char *s, long max)
{
	unsigned long v;

	if (ht_parse_ulong(s, &v) || v < 1 || v > (unsigned long)max)
		usage_error("%s: '%s' is not a number in 1..%ld", opt, s, max);
	return (long)v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pages", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:r:j:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.pages = parse_count("--pages", optarg, MAX_PAGES);
			break;
		case 'r':
			o.rounds = (int)parse_count("--rounds", optarg,
						    MAX_ROUNDS);
			break;
		case 'j':
			if (!*optarg)
				usage_error("--json: empty file name");
			o.json = optarg;
			break;
		case 'h':
			help();
			exit(EXIT_PASS);
		case ':':
			usage_error("option '%s' needs a value",
				    argv[optind - 1]);
			break;
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

static void on_signal(int sig)
{
	got_signal = sig;
}

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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void stats(struct meas *x)
{
	double s[MAX_ROUNDS];
	int n = x->rounds;

	if (!n)
		return;
	memcpy(s, x->ns, n * sizeof(s[0]));
	qsort(s, n, sizeof(s[0]), cmp_double);
	x->median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	x->min = s[0];
}

static int write_json(const char *verdict, const char *release,
		      const char *kmsg, size_t len)
{
	FILE *f = fopen(o.json, "w");

	if (!f) {
		fprintf(stderr, "continue_rate: %s: %s\n", o.json,
			strerror(errno));
		return -1;
	}
	fprintf(f, "{\n  \"program\": \"continue_rate\",\n  \"verdict\": ");
	ht_json_str(f, verdict);
	fprintf(f, ",\n  \"failures\": ");
	ht_json_str(f, failures);
	fprintf(f, ",\n  \"kernel\": ");
	ht_json_str(f, release);
	fprintf(f,
		",\n  \"config\": {\"pages\": %ld, \"page_size\": %lu, \"piece_size\": %zu, \"bytes\": %zu, \"rounds\": %d}",
		o.pages, PSIZE, ht_base_page_size(), len, o.rounds);
	for (int k = 0; k < K_N; k++) {
		struct meas *x = &m[k];

		fprintf(f, ",\n  \"%s\": ", x->name);
		if (x->skip[0]) {
			fprintf(f, "{\"skipped\": ");
			ht_json_str(f, x->skip);
			fprintf(f, "}");
			continue;
		}
		fprintf(f,
			"{\"continue_size\": %zu, \"ops_per_round\": %ld, \"rounds\": %d, \"failed\": %s, \"ns_per_op\": [",
			x->step, x->ops, x->rounds,
			x->failed ? "true" : "false");
		for (int i = 0; i < x->rounds; i++)
			fprintf(f, "%s%.1f", i ? ", " : "", x->ns[i]);
		if (x->rounds)
			fprintf(f,
				"], \"median_ns\": %.1f, \"min_ns\": %.1f, \"ops_per_s\": %.0f}",
				x->median, x->min, 1e9 / x->median);
		else
			fprintf(f,
				"], \"median_ns\": null, \"min_ns\": null, \"ops_per_s\": null}");
	}
	fprintf(f, ",\n  \"kmsg\": ");
	ht_json_str(f, kmsg);
	fprintf(f, "\n}\n");
	return fclose(f) ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct ht_needs needs = { .page_size = PSIZE };
	struct ht_file hf = { .fd = -1 };
	struct ht_env env;
	struct ht_guard guard;
	struct utsname u;
	struct sigaction sa;
	char kmsg[8192] = "", why[320];
	const char *r, *verdict;
	int kmsg_fd, fd, ret, code;
	size_t len;

	parse_args(argc, argv);
	for (int k = 0; k < K_N; k++)
		m[k].fd = -1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	uname(&u);
	len = (size_t)o.pages * PSIZE;

	if (!ht_has_cap(21)) {
		printf("skip: needs root (CAP_SYS_ADMIN: hugetlb pool, /proc/kpagecount)\n");
		return EXIT_SKIP;
	}
	if ((r = ht_probe_page_size(PSIZE))) {
		printf("skip: %s\n", r);
		return EXIT_SKIP;
	}
	/* The probes share one static reason buffer: copy each at once. */
	if ((r = ht_probe_uffd_minor_hugetlb())) {
		snprintf(m[K_HUGE].skip, sizeof(m[K_HUGE].skip), "%s", r);
		snprintf(m[K_HGM].skip, sizeof(m[K_HGM].skip), "%s", r);
	} else if ((r = ht_probe_hgm(PSIZE))) {
		snprintf(m[K_HGM].skip, sizeof(m[K_HGM].skip), "%s", r);
	}
	fd = ht_uffd_open(UFFD_FEATURE_MINOR_SHMEM);
	if (fd < 0)
		snprintf(m[K_SHMEM].skip, sizeof(m[K_SHMEM].skip),
			 "userfaultfd without UFFD_FEATURE_MINOR_SHMEM: %s",
			 strerror(-fd));
	else
		close(fd);

	kmsg_fd = ht_kmsg_open();
	needs.pages = (unsigned long)o.pages;
	r = ht_setup(&needs, &env);
	if (r) {
		bool err = !strncmp(r, "error", 5);

		printf("%s: %s\n", err ? "fail" : "skip", r);
		return err ? EXIT_FAIL : EXIT_SKIP;
	}

	/* From here every exit goes through ht_teardown() below. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Before the files exist, so that the guard holds no page. */
	ht_guard_start(&guard, &env, 30);

	printf("continue_rate: %ld x 2 MiB hugetlb pages and %zu MiB shmem, %d rounds, kernel %s\n",
	       o.pages, len / HT_MB, o.rounds, u.release);
	ret = ht_file_create(&hf, PSIZE, len);
	if (!ret)
		ret = ht_file_fill(&hf, 0, len, SEED);
	if (ret) {
		add_failure("hugetlb file of %ld pages: %s; ", o.pages,
			    strerror(-ret));
		goto restore;
	}
	fd = shmem_create(len);
	if (fd < 0) {
		add_failure("shmem file: %s; ", strerror(-fd));
		goto restore;
	}
	m[K_SHMEM].fd = fd;
	m[K_HGM].fd = m[K_HUGE].fd = hf.fd;
	m[K_HGM].step = m[K_SHMEM].step = ht_base_page_size();
	m[K_HUGE].step = PSIZE;
	for (int k = 0; k < K_N; k++)
		m[k].ops = (long)(len / m[k].step);

	/*
	 * Rounds interleaved (hgm, huge, shmem, hgm, ...) so that a change
	 * in the machine's load during the run hits every side alike.
	 */
	for (int i = 0; i < o.rounds && !got_signal; i++) {
		for (int k = 0; k < K_N; k++) {
			struct meas *x = &m[k];

			if (x->skip[0] || x->failed)
				continue;
			if (one_round(x, len, &x->ns[x->rounds], why,
				      sizeof(why))) {
				x->failed = true;
				add_failure("%s round %d: %s; ", x->name, i + 1,
					    why);
				continue;
			}
			x->rounds++;
		}
	}

restore:
	if (m[K_SHMEM].fd >= 0)
		close(m[K_SHMEM].fd);
	ht_file_close(&hf);
	if (ht_teardown(&env, why, sizeof(why)))
		add_failure("not restored: %s; ", why);
	ht_guard_stop(&guard);
	if (kmsg_fd >= 0 && ht_kmsg_complaints(kmsg_fd, kmsg, sizeof(kmsg)) > 0)
		add_failure("kernel log complaints during the run; ");

	for (int k = 0; k < K_N; k++) {
		struct meas *x = &m[k];

		if (x->skip[0]) {
			printf("%-5s skip: %s\n", x->name, x->skip);
			continue;
		}
		stats(x);
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
	printf("kmsg: %s", kmsg[0] ? kmsg : "no complaints\n");
	if (got_signal) {
		verdict = "INTERRUPTED";
		code = EXIT_FAIL;
	} else if (failures[0]) {
		verdict = "FAIL";
		code = EXIT_FAIL;
	} else {
		verdict = "PASS";
		code = EXIT_PASS;
	}
	printf("verdict: %s%s%s\n", verdict, failures[0] ? ": " : "", failures);
	if (o.json && write_json(verdict, u.release, kmsg, len))
		code = EXIT_FAIL;
	return code;
}
