// SPDX-License-Identifier: GPL-2.0
/*
 * hgm_seq: seeded random sequences of HugeTLB/HGM operations on one
 * shared hugetlb file, mapped by several worker processes, every step
 * checked against a model (lib/seq_model.c) through every view the
 * kernel offers (lib/seq_rt.c).  A difference prints the seed, the step
 * and the sequence, is shrunk to a minimal failing sequence (delta
 * debugging) and written out as a replay file and a standalone C
 * reproducer.
 *
 * Exit: 0 pass, 1 a difference (or interrupted), 2 bad usage, 4 skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ht.h"
#include "seq.h"
#include "skel.h"

#define MAX_STEPS 1000000
#define SHRINK_TRIES 150

static struct {
	long seed, seconds, steps, workers, pages;
	unsigned long psize;
	const char *json, *replay, *out;
	bool seed_given, pages_given, no_shrink, inject_bug, more_ops;
} o;

static const struct sk_opt opts[] = {
	{ .name = "seed",
	  .kind = SK_COUNT,
	  .arg = "N",
	  .def_help = "from the clock; printed",
	  .min = 0,
	  .max = LONG_MAX,
	  .help = "first sequence's seed; sequence i uses seed N+i",
	  .target = &o.seed,
	  .given = &o.seed_given },
	{ .name = "seconds",
	  .kind = SK_COUNT,
	  .arg = "S",
	  .def = "10",
	  .min = 0,
	  .max = 86400,
	  .help = "time budget: new sequences until S seconds;\n"
		  "0: one sequence",
	  .target = &o.seconds },
	{ .name = "steps",
	  .kind = SK_COUNT,
	  .arg = "N",
	  .def = "200",
	  .show_max = true,
	  .min = 1,
	  .max = MAX_STEPS,
	  .help = "operations per sequence",
	  .target = &o.steps },
	{ .name = "workers",
	  .kind = SK_COUNT,
	  .arg = "N",
	  .def = "3",
	  .show_max = true,
	  .min = 1,
	  .max = 4,
	  .help = "worker processes at the start (forks up to 2N)",
	  .target = &o.workers },
	{ .name = "pages",
	  .kind = SK_COUNT,
	  .arg = "N",
	  .def_help = "4, or 1 of 1 GiB",
	  .min = 1,
	  .max = SEQRT_MAX_P,
	  .help = "huge pages in the file, max 8 (1 GiB: the pool\n"
		  "needs one more, and a guest may have only the one\n"
		  "a node gets at boot)",
	  .target = &o.pages,
	  .given = &o.pages_given },
	{ .name = "page-size",
	  .short_opt = 's',
	  .kind = SK_SIZE,
	  .arg = "SIZE",
	  .def = "2M",
	  .help = "2M or 1G (a 1 GiB page: 512 of its 4 KiB pieces\n"
		  "followed, one in each 2 MiB)",
	  .target = &o.psize },
	{ .name = "json",
	  .kind = SK_FILE,
	  .arg = "FILE",
	  .help = "summary: sequences, steps, ops/s, count per kind,\n"
		  "failures",
	  .target = &o.json },
	{ .name = "replay",
	  .kind = SK_FILE,
	  .arg = "FILE",
	  .help = "run the sequence in FILE (a written .seq) once",
	  .target = &o.replay },
	{ .name = "out",
	  .kind = SK_FILE,
	  .arg = "DIR",
	  .def = ".",
	  .help = "where a failure's .seq and .c reproducer go",
	  .target = &o.out },
	{ .name = "no-shrink",
	  .kind = SK_FLAG,
	  .flag_value = true,
	  .help = "report a failure without shrinking it",
	  .target = &o.no_shrink },
	{ .name = "more-ops",
	  .kind = SK_FLAG,
	  .flag_value = true,
	  .help = "also draw gup_write (process_vm_writev) and pin_read\n"
		  "(a vmsplice() pin: GUP-fast); off by default so that\n"
		  "a seed draws the sequences it always drew",
	  .target = &o.more_ops },
	{ .name = "inject-model-bug",
	  .kind = SK_FLAG,
	  .flag_value = true,
	  .help = "the model wrongly copies entries at fork:\n"
		  "exercises the failure path (report, shrink, .seq, .c)",
	  .target = &o.inject_bug },
	{ 0 }
};

static const struct sk_prog prog = {
	.name = "hgm_seq",
	.about =
		"Seeded random sequences of HugeTLB/HGM operations (map, MADV_SPLIT, uffd MINOR,\n"
		"4 KiB CONTINUE, faults, writes, fork, exit, mprotect, DONTNEED, COLLAPSE, punch,\n"
		"truncate, move_pages, GUP reads) by several processes on one hugetlb file of\n"
		"2 MiB or 1 GiB pages, every step checked against a model: pagemap, kpagecount,\n"
		"smaps, HugetlbPages, the pool, nodes, contents.\n",
	.exits =
		"Exit: 0 pass, 1 difference (or interrupted, kernel complaint, pool not\n"
		"restored), 2 bad usage, 4 skip (not root, no pages of the size, no\n"
		"userfaultfd MINOR on hugetlb, no free pages, a replay's machine differs).\n",
	.opts = opts,
};

static bool hgm;
static struct seq_run run;
static struct sk_report rep;

/* What the JSON summary reports. */
static struct {
	long sequences, steps, skipped, counts[SEQ_NKINDS], pieces, moved;
	double seconds;
	int failed_step, minimal;
	uint64_t failed_seed;
	char why[4096], repro[512];
} sum = { .failed_step = -1 };

static bool still_fails(const struct seqrt_op *ops, int n, void *arg)
{
	char why[4096];
	int step;

	if (sk_got_signal)
		return false;
	return seq_run_ops(arg, hgm, ops, n, &step, why, sizeof(why)) == 1;
}

/* Writes @ops as DIR/hgm_seq-SEED@tag.seq (@path); false if it cannot. */
static bool write_seq(const struct seq_header *h, const struct seqrt_op *ops,
		      int n, const char *tag, char *path, size_t len)
{
	FILE *f;

	mkdir(o.out, 0755);
	snprintf(path, len, "%s/hgm_seq-%llu%s.seq", o.out,
		 (unsigned long long)h->seed, tag);
	f = fopen(path, "w");
	if (!f)
		return false;
	seq_file_write(f, h, ops, n);
	fclose(f);
	return true;
}

/* Writes @ops as DIR/hgm_seq-SEED.seq and the reproducer DIR/...c. */
static void write_outputs(const struct seq_header *h,
			  const struct seqrt_op *ops, int n)
{
	char path[512];
	FILE *f;

	if (write_seq(h, ops, n, "", path, sizeof(path)))
		fprintf(stderr, "hgm_seq: replay: hgm_seq --replay %s\n", path);
	snprintf(sum.repro, sizeof(sum.repro), "%s/hgm_seq-%llu.c", o.out,
		 (unsigned long long)h->seed);
	f = fopen(sum.repro, "w");
	if (!f || seq_repro_write(f, h, hgm, ops, n))
		fprintf(stderr, "hgm_seq: cannot write %s: %s\n", sum.repro,
			strerror(errno));
	else
		fprintf(stderr, "hgm_seq: reproducer: cc -o r %s && ./r\n",
			sum.repro);
	if (f)
		fclose(f);
}

static void report_failure(const struct seq_header *h, struct seqrt_op *ops,
			   int fail_step, const char *why)
{
	int n = fail_step + 1, step = -1;
	char again[4096] = "", whole[512];

	sum.failed_seed = h->seed;
	sum.failed_step = fail_step;
	snprintf(sum.why, sizeof(sum.why), "%s", why);
	fprintf(stderr, "hgm_seq: FAIL seed %llu step %d: %s\n",
		(unsigned long long)h->seed, fail_step, why);
	fprintf(stderr, "hgm_seq: the sequence up to that step:\n");
	seq_file_write(stderr, h, ops, n);
	/* As it failed: the shrunk one may fail for another reason. */
	write_seq(h, ops, n, "-whole", whole, sizeof(whole));
	if (!o.no_shrink) {
		n = seq_shrink(ops, n, still_fails, (void *)h, SHRINK_TRIES);
		if (seq_run_ops(h, hgm, ops, n, &step, again, sizeof(again)) !=
		    1) {
			fprintf(stderr,
				"hgm_seq: the shrunk sequence no longer "
				"fails (nondeterministic?); keeping it\n");
		}
		fprintf(stderr,
			"hgm_seq: minimal failing sequence, %d ops "
			"(fails at %d: %s):\n",
			n, step, again);
		seq_file_write(stderr, h, ops, n);
	}
	sum.minimal = n;
	write_outputs(h, ops, n);
}

/* One sequence: generated from h->seed, or @given (a replay). */
static int run_sequence(const struct seq_header *h, struct seqrt_op *ops,
			long nsteps, bool given)
{
	struct seq_rng rng;
	long i;
	int ret;

	seq_rng_seed(&rng, h->seed);
	ret = seq_run_start(&run, h, hgm);
	for (i = 0; !ret && i < nsteps && !sk_got_signal; i++) {
		if (!given && i < o.workers)
			ops[i] = (struct seqrt_op){ .kind = SEQ_SPAWN,
						    .w = (int)i };
		else if (!given)
			seq_gen(&rng, &run.m, &ops[i]);
		ret = seq_run_step(&run, &ops[i]);
	}
	sum.sequences++;
	sum.steps += run.steps;
	sum.skipped += run.skipped;
	sum.pieces += run.pieces;
	sum.moved += run.moved;
	for (int k = 0; k < SEQ_NKINDS; k++)
		sum.counts[k] += run.counts[k];
	seq_run_stop(&run);
	if (ret < 0) {
		fprintf(stderr, "hgm_seq: broken: %s\n", run.why);
		sk_fail(&rep, "broken: %s", run.why);
	}
	if (ret == 1) {
		sk_fail(&rep, "a difference from the model");
		report_failure(h, ops, (int)i - 1, run.why);
	}
	return ret;
}

/* The JSON summary; keys as the runner's fuzz.json has always had them. */
static int write_json(const char *kernel)
{
	struct ht_json *j = ht_json_new(), *c, *l;
	int ret;

	if (!j)
		return EXIT_FAIL;
	sk_json_head(j, "hgm_seq", kernel, &rep);
	ht_json_num(j, "seed", "%ld", o.seed);
	ht_json_bool(j, "hgm", hgm);
	ht_json_bool(j, "more_ops", o.more_ops);
	ht_json_num(j, "workers", "%ld", o.workers);
	ht_json_num(j, "pages", "%ld", o.pages);
	ht_json_num(j, "page_size_kb", "%lu", o.psize / 1024);
	ht_json_num(j, "steps_per_sequence", "%ld", o.steps);
	ht_json_num(j, "sequences", "%ld", sum.sequences);
	ht_json_num(j, "steps", "%ld", sum.steps);
	ht_json_num(j, "skipped", "%ld", sum.skipped);
	ht_json_num(j, "seconds", "%.3f", sum.seconds);
	ht_json_num(j, "ops_per_sec", "%.1f",
		    sum.seconds > 0 ? sum.steps / sum.seconds : 0.0);
	ht_json_num(j, "pieces_continued", "%ld", sum.pieces);
	ht_json_num(j, "pages_migrated", "%ld", sum.moved);
	c = ht_json_obj(j, "counts");
	for (int k = 0; k < SEQ_NKINDS; k++)
		ht_json_num(c, seqrt_kind_name[k], "%ld", sum.counts[k]);
	l = ht_json_list(j, "failures");
	if (sum.failed_step >= 0) {
		c = ht_json_obj(l, NULL);
		ht_json_num(c, "seed", "%llu",
			    (unsigned long long)sum.failed_seed);
		ht_json_num(c, "step", "%d", sum.failed_step);
		ht_json_num(c, "minimal_ops", "%d", sum.minimal);
		ht_json_string(c, "reproducer", sum.repro);
		ht_json_string(c, "why", sum.why);
	}
	sk_json_kmsg(j, &rep);
	ret = sk_json_save(j, o.json);
	ht_json_free(j);
	return ret;
}

/* @h: the replay file's header and @ops its @nops operations, or fresh. */
static int run_all(struct seq_header *h, struct seqrt_op *ops, long nops)
{
	long start = ht_now_ns();
	int ret = 0;

	if (o.replay)
		ret = run_sequence(h, ops, nops, true);
	for (long i = 0; !o.replay && !ret && !sk_got_signal; i++) {
		h->seed = o.seed + (uint64_t)i;
		ret = run_sequence(h, ops, o.steps, false);
		if ((ht_now_ns() - start) / 1000000000L >= o.seconds)
			break;
	}
	sum.seconds = (ht_now_ns() - start) / 1e9;
	return ret;
}

/*
 * The one line the runner keeps (the output's last): figures, verdict,
 * and where it failed.
 */
static void print_summary(int ret)
{
	printf("hgm_seq: %ld sequences, %ld steps (%ld skipped) in %.1f s, "
	       "%.0f steps/s, %ld pieces continued, %ld pages migrated: %s",
	       sum.sequences, sum.steps, sum.skipped, sum.seconds,
	       sum.seconds > 0 ? sum.steps / sum.seconds : 0.0, sum.pieces,
	       sum.moved, rep.interrupted ? "interrupted" : sk_verdict(&rep));
	if (sum.failed_step >= 0)
		printf(" at seed %llu step %d, minimal %d ops: %s",
		       (unsigned long long)sum.failed_seed, sum.failed_step,
		       sum.minimal, sum.why);
	else if (rep.failures[0])
		printf(": %s", rep.failures);
	printf("\n");
}

/*
 * The sequence's header and room for its operations: the replay file's
 * (read here, so that its page size and pages are what gets set up), or
 * from the options.  0 or EXIT_USAGE.
 */
static int prepare(struct seq_header *h, struct seqrt_op **ops, long *nops)
{
	char why[512];
	int n;

	if (!o.pages_given)
		o.pages = seq_gigantic(o.psize) ? 1 : 4;
	*h = (struct seq_header){ .npages = o.pages,
				  .nslots = 2 * o.workers,
				  .mc.psize = o.psize,
				  .inject_bug = o.inject_bug,
				  .more_ops = o.more_ops };
	*nops = o.steps;
	*ops = NULL;
	if (o.replay && seq_file_read(o.replay, h, ops, &n, why, sizeof(why))) {
		fprintf(stderr, "hgm_seq: %s\n", why);
		return EXIT_USAGE;
	}
	if (o.replay) {
		*nops = n;
		h->mc.psize = h->has_mc ? h->mc.psize : SEQRT_PSIZE_2M;
		return 0;
	}
	if (o.psize != SEQRT_PSIZE_2M && !seq_gigantic(o.psize))
		sk_usage_error("--page-size: 2M or a larger size, not %lu",
			       o.psize);
	*ops = malloc(o.steps * sizeof(**ops));
	return *ops ? 0 : EXIT_FAIL;
}

/* This machine's facts (struct seq_machine) into @h; 0 or EXIT_SKIP. */
static int read_machine(struct seq_header *h)
{
	struct seq_machine mc;
	char why[256];

	if (seq_machine_read(&mc, h->mc.psize, h->npages,
			     h->has_mc ? &h->mc : NULL, why, sizeof(why))) {
		printf("hgm_seq: skip: %s\n", why);
		return EXIT_SKIP;
	}
	h->mc = mc;
	return 0;
}

int main(int argc, char **argv)
{
	struct ht_needs needs = { .caps = { CAP_SYS_ADMIN /* pagemap PFNs */ },
				  .uffd_minor = true };
	char why[HT_WHY_LEN] = "";
	struct seq_header h;
	struct seqrt_op *ops;
	struct sk_run srun;
	struct utsname u;
	const char *r;
	long nops;
	int ret;

	sk_parse(&prog, argc, argv);
	uname(&u);
	if (!o.seed_given)
		o.seed = ht_now_ns() % 1000000007L;
	ret = prepare(&h, &ops, &nops);
	if (ret)
		return ret;
	/* A replay's, for the summary. */
	o.psize = h.mc.psize;
	o.pages = h.npages;
	/* Every page of the file, and one for a fault after a punch. */
	needs.page_size = h.mc.psize;
	needs.pages = h.npages + 1;
	ret = sk_setup(&srun, &needs, 30);
	if (!ret && (ret = read_machine(&h)))
		sk_restore(&srun, &rep);
	if (ret)
		return ret;
	r = seq_probe_hgm(h.mc.psize, why, sizeof(why));
	hgm = !r;
	if (o.replay)
		printf("hgm_seq: replay of %s; %s\n", o.replay,
		       hgm ? "HGM: yes" : r);
	else
		printf("hgm_seq: seed %ld, %ld workers, %ld pages of %lu kB, %ld "
		       "steps a sequence; %s\n",
		       o.seed, o.workers, o.pages, h.mc.psize / 1024, o.steps,
		       hgm ? "HGM: yes" : r);
	ret = run_all(&h, ops, nops);
	free(ops);
	sk_restore(&srun, &rep);
	sk_kmsg_check(&srun, &rep);
	rep.interrupted = sk_got_signal;
	if (rep.kmsg[0])
		printf("kmsg: %s", rep.kmsg);
	if (o.json && write_json(u.release))
		ret = ret ? ret : 1;
	print_summary(ret);
	return sk_exit_code(&rep);
}
