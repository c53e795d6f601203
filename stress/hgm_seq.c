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
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ht.h"
#include "seq.h"

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_SKIP 4
#define MAX_STEPS 1000000
#define SHRINK_TRIES 150

static struct {
	uint64_t seed;
	long seconds, steps;
	int workers, pages;
	const char *json, *replay, *out;
	bool seed_given, no_shrink, inject_bug;
} o = { .seconds = 10, .steps = 200, .workers = 3, .pages = 4, .out = "." };

static volatile sig_atomic_t got_signal;
static bool hgm;
static struct seq_run run;

/* What the JSON summary reports. */
static struct {
	long sequences, steps, skipped, counts[SEQ_NKINDS], pieces, moved;
	double seconds;
	int failed_step, minimal;
	uint64_t failed_seed;
	char why[4096], repro[512];
} sum = { .failed_step = -1 };

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hgm_seq: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(EXIT_USAGE);
}

static void help(void)
{
	printf("Usage: hgm_seq [OPTIONS]\n"
	       "Seeded random sequences of HugeTLB/HGM operations (map, MADV_SPLIT, uffd MINOR,\n"
	       "4 KiB CONTINUE, faults, writes, fork, exit, mprotect, DONTNEED, COLLAPSE, punch,\n"
	       "truncate) by several processes on one 2 MiB hugetlb file, every step checked\n"
	       "against a model: pagemap, kpagecount, smaps, HugetlbPages, the pool, contents.\n\n"
	       "  --seed N        first sequence's seed (default: from the clock; printed);\n"
	       "                  sequence i uses seed N+i\n"
	       "  --seconds S     time budget: new sequences until S seconds (default 10;\n"
	       "                  0: one sequence)\n"
	       "  --steps N       operations per sequence (default 200)\n"
	       "  --workers N     worker processes at the start, 1..4 (default 3; forks up to 2N)\n"
	       "  --pages N       2 MiB pages in the file, 1..%d (default 4)\n"
	       "  --json FILE     summary: sequences, steps, ops/s, count per kind, failures\n"
	       "  --replay FILE   run the sequence in FILE (a written .seq) once\n"
	       "  --out DIR       where a failure's .seq and .c reproducer go (default .)\n"
	       "  --no-shrink     report a failure without shrinking it\n"
	       "  --inject-model-bug  the model wrongly copies entries at fork: exercises\n"
	       "                  the failure path (report, shrink, .seq, .c)\n"
	       "  -h, --help      this text\n\n"
	       "Exit: 0 pass, 1 difference (or interrupted), 2 bad usage, 4 skip (not root,\n"
	       "no 2 MiB pages, no userfaultfd MINOR on hugetlb, no free pages).\n",
	       SEQRT_MAX_P);
}

static long parse_num(const char *opt, const char *s, long min, long max)
{
	unsigned long v;

	if (ht_parse_ulong(s, &v) || (long)v < min || v > (unsigned long)max)
		usage_error("%s: '%s' is not a number in %ld..%ld", opt, s, min,
			    max);
	return (long)v;
}

static const char *nonempty(const char *opt, const char *s)
{
	if (!*s)
		usage_error("%s: empty file name", opt);
	return s;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "steps", required_argument, NULL, 'n' },
		{ "workers", required_argument, NULL, 'w' },
		{ "pages", required_argument, NULL, 'p' },
		{ "json", required_argument, NULL, 'j' },
		{ "replay", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ "no-shrink", no_argument, NULL, 'S' },
		{ "inject-model-bug", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned long v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (ht_parse_ulong(optarg, &v))
				usage_error("--seed: '%s' is not a number",
					    optarg);
			o.seed = v;
			o.seed_given = true;
			break;
		case 't':
			o.seconds = parse_num("--seconds", optarg, 0, 86400);
			break;
		case 'n':
			o.steps = parse_num("--steps", optarg, 1, MAX_STEPS);
			break;
		case 'w':
			o.workers = (int)parse_num("--workers", optarg, 1, 4);
			break;
		case 'p':
			o.pages = (int)parse_num("--pages", optarg, 1,
						 SEQRT_MAX_P);
			break;
		case 'j':
			o.json = nonempty("--json", optarg);
			break;
		case 'r':
			o.replay = nonempty("--replay", optarg);
			break;
		case 'o':
			o.out = nonempty("--out", optarg);
			break;
		case 'S':
			o.no_shrink = true;
			break;
		case 'I':
			o.inject_bug = true;
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

static bool still_fails(const struct seqrt_op *ops, int n, void *arg)
{
	char why[4096];
	int step;

	if (got_signal)
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
	for (i = 0; !ret && i < nsteps && !got_signal; i++) {
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
	if (ret < 0)
		fprintf(stderr, "hgm_seq: broken: %s\n", run.why);
	if (ret == 1)
		report_failure(h, ops, (int)i - 1, run.why);
	return ret;
}

static void write_json(void)
{
	FILE *f = fopen(o.json, "w");

	if (!f) {
		fprintf(stderr, "hgm_seq: %s: %s\n", o.json, strerror(errno));
		return;
	}
	fprintf(f,
		"{\"seed\": %llu, \"hgm\": %s, \"workers\": %d, "
		"\"pages\": %d, \"steps_per_sequence\": %ld,\n",
		(unsigned long long)o.seed, hgm ? "true" : "false", o.workers,
		o.pages, o.steps);
	fprintf(f,
		" \"sequences\": %ld, \"steps\": %ld, \"skipped\": %ld, "
		"\"seconds\": %.3f, \"ops_per_sec\": %.1f, "
		"\"pieces_continued\": %ld, \"pages_migrated\": %ld,\n"
		" \"counts\": {",
		sum.sequences, sum.steps, sum.skipped, sum.seconds,
		sum.seconds > 0 ? sum.steps / sum.seconds : 0.0, sum.pieces,
		sum.moved);
	for (int k = 0; k < SEQ_NKINDS; k++)
		fprintf(f, "%s\"%s\": %ld", k ? ", " : "", seqrt_kind_name[k],
			sum.counts[k]);
	fprintf(f, "},\n \"failures\": [");
	if (sum.failed_step >= 0) {
		fprintf(f,
			"{\"seed\": %llu, \"step\": %d, \"minimal_ops\": %d, "
			"\"reproducer\": ",
			(unsigned long long)sum.failed_seed, sum.failed_step,
			sum.minimal);
		ht_json_str(f, sum.repro);
		fprintf(f, ", \"why\": ");
		ht_json_str(f, sum.why);
		fprintf(f, "}");
	}
	fprintf(f, "]}\n");
	fclose(f);
}

static int run_all(struct seqrt_op *ops, long nops)
{
	struct seq_header h = { .npages = o.pages,
				.nslots = 2 * o.workers,
				.inject_bug = o.inject_bug };
	long start = ht_now_ns();
	int ret = 0;

	if (o.replay) {
		char why[512];

		if (seq_file_read(o.replay, &h, &ops, (int *)&nops, why,
				  sizeof(why))) {
			fprintf(stderr, "hgm_seq: %s\n", why);
			return -EINVAL;
		}
		ret = run_sequence(&h, ops, nops, true);
		free(ops);
	}
	for (long i = 0; !o.replay && !ret && !got_signal; i++) {
		h.seed = o.seed + (uint64_t)i;
		ret = run_sequence(&h, ops, o.steps, false);
		if ((ht_now_ns() - start) / 1000000000L >= o.seconds)
			break;
	}
	sum.seconds = (ht_now_ns() - start) / 1e9;
	return ret;
}

int main(int argc, char **argv)
{
	struct ht_needs needs = { .page_size = 2 * HT_MB,
				  .caps = { CAP_SYS_ADMIN /* pagemap PFNs */ },
				  .uffd_minor = true };
	struct seqrt_op *ops;
	struct ht_guard guard;
	struct ht_env env;
	const char *r;
	char why[HT_WHY_LEN] = "";
	int ret;

	parse_args(argc, argv);
	if (!o.seed_given)
		o.seed = (uint64_t)ht_now_ns() % 1000000007ULL;
	ops = malloc(o.steps * sizeof(*ops));
	if (!ops)
		return EXIT_FAIL;
	/* Every page of the file, and one for a fault after a punch. */
	needs.pages = (o.replay ? SEQRT_MAX_P : o.pages) + 1;
	r = ht_setup(&needs, &env);
	if (r) {
		fprintf(stderr, "hgm_seq: %s%s\n",
			ht_setup_error(r) ? "" : "skip: ", r);
		return ht_setup_error(r) ? EXIT_FAIL : EXIT_SKIP;
	}
	ht_guard_start(&guard, &env, 30);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	r = seq_probe_hgm(why, sizeof(why));
	hgm = !r;
	if (o.replay)
		printf("hgm_seq: replay of %s; %s\n", o.replay,
		       hgm ? "HGM: yes" : r);
	else
		printf("hgm_seq: seed %llu, %d workers, %d pages, %ld steps a "
		       "sequence; %s\n",
		       (unsigned long long)o.seed, o.workers, o.pages, o.steps,
		       hgm ? "HGM: yes" : r);
	ret = run_all(ops, o.steps);
	if (ht_teardown(&env, why, sizeof(why))) {
		fprintf(stderr, "hgm_seq: pools not restored: %s\n", why);
		ret = ret ? ret : 1;
	}
	ht_guard_stop(&guard);
	printf("hgm_seq: %ld sequences, %ld steps (%ld skipped) in %.1f s, "
	       "%.0f steps/s, %ld pieces continued, %ld pages migrated: %s",
	       sum.sequences, sum.steps, sum.skipped, sum.seconds,
	       sum.seconds > 0 ? sum.steps / sum.seconds : 0.0, sum.pieces,
	       sum.moved,
	       got_signal ? "interrupted" :
	       ret	  ? "FAIL" :
			    "PASS");
	/* The runner keeps only this line: it must say where it failed. */
	if (sum.failed_step >= 0)
		printf(" at seed %llu step %d, minimal %d ops: %s",
		       (unsigned long long)sum.failed_seed, sum.failed_step,
		       sum.minimal, sum.why);
	printf("\n");
	if (o.json)
		write_json();
	if (ret == -EINVAL)
		return EXIT_USAGE;
	return ret || got_signal ? EXIT_FAIL : EXIT_PASS;
}
