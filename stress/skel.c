// SPDX-License-Identifier: GPL-2.0
/*
 * The stress programs' skeleton (skel.h): options from one table, the
 * failure list and verdict, the signal and restore path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skel.h"

#define MAX_OPTS 32
/* --help's option column: "  -p, --processes N" padded to this width. */
#define HELP_COL 27
#define HELP_WIDTH 80
#define OPT_HELP 1000
#define OPT_MARKDOWN 1001

static const char *prog_name = "stress";
volatile sig_atomic_t sk_got_signal;
volatile int *sk_stop;

void sk_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(EXIT_USAGE);
}

/* ---- --help and --help-markdown ---- */

/* The options the skeleton adds to every table. */
static const struct sk_opt builtin[] = {
	{ .name = "help", .short_opt = 'h', .help = "this text" },
	{ .name = "help-markdown",
	  .help = "this option list as stress/README.md shows it" },
	{ 0 }
};

static void print_default(const struct sk_opt *op, char *buf, size_t len)
{
	buf[0] = '\0';
	if (op->def_help)
		snprintf(buf, len, " (default: %s)", op->def_help);
	else if (op->def && op->show_max)
		snprintf(buf, len, " (default %s, max %ld)", op->def, op->max);
	else if (op->def)
		snprintf(buf, len, " (default %s)", op->def);
}

/* One option's lines: the names, its help lines, then its default. */
static void print_opt(const struct sk_opt *op)
{
	char left[64], dflt[96];
	const char *h = op->help, *nl;
	int n, col;

	n = snprintf(left, sizeof(left), "  %c%c%s--%s",
		     op->short_opt ? '-' : ' ',
		     op->short_opt ? op->short_opt : ' ',
		     op->short_opt ? ", " : "  ", op->name);
	if (op->arg)
		snprintf(left + n, sizeof(left) - n,
			 op->optional ? "[=%s]" : " %s", op->arg);
	print_default(op, dflt, sizeof(dflt));
	col = printf("%-*s", HELP_COL - 1, left);
	for (;;) {
		nl = strchr(h, '\n');
		n = nl ? (int)(nl - h) : (int)strlen(h);
		printf(" %.*s", n, h);
		if (!nl)
			break;
		h = nl + 1;
		printf("\n%*s", HELP_COL - 1, "");
		col = HELP_COL - 1;
	}
	/* The default goes on a line of its own when the last one is full. */
	if (dflt[0] && col + 1 + n + (int)strlen(dflt) > HELP_WIDTH)
		printf("\n%*s%s", HELP_COL, "", dflt + 1);
	else
		printf("%s", dflt);
	printf("\n");
}

static void print_opts(const struct sk_prog *p)
{
	for (const struct sk_opt *op = p->opts; op->name; op++)
		print_opt(op);
	for (const struct sk_opt *op = builtin; op->name; op++)
		print_opt(op);
}

static void help(const struct sk_prog *p)
{
	printf("Usage: %s [OPTIONS]\n%s\n", p->name, p->about);
	print_opts(p);
	printf("\n%s", p->exits);
}

/* The block stress/README.md shows; tests/stress_readme.sh compares. */
static void help_markdown(const struct sk_prog *p)
{
	printf("```\nbuild/stress/%s [OPTIONS]\n", p->name);
	print_opts(p);
	printf("```\n");
}

/* ---- parsing ---- */

static long parse_count(const struct sk_opt *op, const char *s)
{
	unsigned long v;

	if (ht_parse_ulong(s, &v) || v < (unsigned long)op->min ||
	    v > (unsigned long)op->max)
		sk_usage_error("--%s: '%s' is not a number in %ld..%ld",
			       op->name, s, op->min, op->max);
	return (long)v;
}

static unsigned long parse_size(const struct sk_opt *op, const char *s)
{
	char num[32];
	size_t n = strlen(s);
	unsigned long v, mult = 1;

	if (n == 0 || n >= sizeof(num))
		sk_usage_error("--%s: '%s' is not a size", op->name, s);
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'k':
	case 'K':
		mult = HT_KB;
		break;
	case 'm':
	case 'M':
		mult = HT_MB;
		break;
	case 'g':
	case 'G':
		mult = HT_GB;
		break;
	}
	if (mult != 1)
		num[n - 1] = '\0';
	if (ht_parse_ulong(num, &v) || !v || v > (64UL << 30) / mult)
		sk_usage_error("--%s: '%s' is not a size", op->name, s);
	v *= mult;
	if (ht_size_shift(v) < 0)
		sk_usage_error("--%s: %s is not a power of two", op->name, s);
	return v;
}

static double parse_seconds(const struct sk_opt *op, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 1e6)
		sk_usage_error("--%s: '%s' is not a %s", op->name, s,
			       op->kind == SK_NUMBER ? "number in (0, 1e6]" :
						       "number of seconds");
	return v;
}

/* "'x' is not a, b or c" */
static int parse_enum(const struct sk_opt *op, const char *s)
{
	char list[160] = "";
	size_t used = 0;
	int i;

	for (i = 0; op->choices[i]; i++)
		if (!strcmp(s, op->choices[i]))
			return i;
	for (i = 0; op->choices[i]; i++)
		used += snprintf(list + used, sizeof(list) - used, "%s%s",
				 !i		    ? "" :
				 op->choices[i + 1] ? ", " :
						      " or ",
				 op->choices[i]);
	sk_usage_error("--%s: '%s' is not %s", op->name, s, list);
}

/* Stores @arg (NULL: a flag, or an optional argument left out). */
static void apply(const struct sk_opt *op, const char *arg)
{
	if (op->given)
		*op->given = true;
	if (!arg && op->kind != SK_FLAG)
		return;
	switch (op->kind) {
	case SK_FLAG:
		*(bool *)op->target = op->flag_value;
		break;
	case SK_COUNT:
		*(long *)op->target = parse_count(op, arg);
		break;
	case SK_SIZE:
		*(unsigned long *)op->target = parse_size(op, arg);
		break;
	case SK_SECONDS:
	case SK_NUMBER:
		*(double *)op->target = parse_seconds(op, arg);
		break;
	case SK_ENUM:
		*(int *)op->target = parse_enum(op, arg);
		break;
	case SK_FILE:
		if (!*arg)
			sk_usage_error("--%s: empty file name", op->name);
		*(const char **)op->target = arg;
		break;
	}
}

/* Defaults, as if given (but without setting .given). */
static void apply_defaults(const struct sk_opt *opts)
{
	for (const struct sk_opt *op = opts; op->name; op++) {
		if (op->kind == SK_FLAG)
			*(bool *)op->target = !op->flag_value;
		if (op->def) {
			struct sk_opt quiet = *op;

			quiet.given = NULL;
			apply(&quiet, op->def);
		}
	}
}

/* getopt_long's tables: option i of the table returns 'short' or 256 + i. */
static int getopt_tables(const struct sk_opt *opts, struct option *lo, char *so)
{
	int n = 0, s = 0;

	so[s++] = ':';
	for (; opts[n].name; n++) {
		const struct sk_opt *op = &opts[n];

		/* A table too long for the arrays is this program's bug. */
		if (n == MAX_OPTS)
			sk_usage_error("more than %d options in the table",
				       MAX_OPTS);

		lo[n] = (struct option){ op->name,
					 op->kind == SK_FLAG ? no_argument :
					 op->optional ? optional_argument :
							required_argument,
					 NULL,
					 op->short_opt ? op->short_opt :
							 256 + n };
		if (op->short_opt) {
			so[s++] = (char)op->short_opt;
			if (op->kind != SK_FLAG)
				so[s++] = ':';
		}
	}
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n++] = (struct option){ "help-markdown", no_argument, NULL,
				   OPT_MARKDOWN };
	lo[n] = (struct option){ 0 };
	so[s++] = 'h';
	so[s] = '\0';
	return n;
}

static const struct sk_opt *find_opt(const struct sk_opt *opts, int c)
{
	for (int i = 0; opts[i].name; i++)
		if (c == (opts[i].short_opt ? opts[i].short_opt : 256 + i))
			return &opts[i];
	return NULL;
}

void sk_parse(const struct sk_prog *p, int argc, char **argv)
{
	struct option lo[MAX_OPTS + 3];
	char so[2 * MAX_OPTS + 3];
	const struct sk_opt *op;
	int c;

	prog_name = p->name;
	getopt_tables(p->opts, lo, so);
	apply_defaults(p->opts);
	opterr = 0;
	while ((c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		if (c == 'h') {
			help(p);
			exit(EXIT_PASS);
		}
		if (c == OPT_MARKDOWN) {
			help_markdown(p);
			exit(EXIT_PASS);
		}
		if (c == ':')
			sk_usage_error("option '%s' needs a value",
				       argv[optind - 1]);
		op = find_opt(p->opts, c);
		if (!op)
			sk_usage_error("unknown option '%s'", argv[optind - 1]);
		apply(op, optarg);
	}
	if (optind < argc)
		sk_usage_error("unexpected argument '%s'", argv[optind]);
}

/* ---- failures and verdict ---- */

void sk_fail(struct sk_report *r, const char *fmt, ...)
{
	size_t used = strlen(r->failures);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->failures + used, sizeof(r->failures) - used, fmt, ap);
	va_end(ap);
	used = strlen(r->failures);
	snprintf(r->failures + used, sizeof(r->failures) - used, "; ");
}

const char *sk_verdict(const struct sk_report *r)
{
	if (r->interrupted)
		return "INTERRUPTED";
	return r->failures[0] ? "FAIL" : "PASS";
}

int sk_exit_code(const struct sk_report *r)
{
	return r->interrupted || r->failures[0] ? EXIT_FAIL : EXIT_PASS;
}

void sk_print_verdict(const struct sk_report *r)
{
	printf("kmsg: %s", r->kmsg[0] ? r->kmsg : "no complaints\n");
	printf("verdict: %s%s%s\n", sk_verdict(r), r->failures[0] ? ": " : "",
	       r->failures);
}

void sk_json_verdict(struct ht_json *j, const struct sk_report *r)
{
	ht_json_string(j, "verdict", sk_verdict(r));
	ht_json_string(j, "failures", r->failures);
}

void sk_json_head(struct ht_json *j, const char *program, const char *kernel,
		  const struct sk_report *r)
{
	ht_json_string(j, "program", program);
	sk_json_verdict(j, r);
	ht_json_string(j, "kernel", kernel);
}

void sk_json_kmsg(struct ht_json *j, const struct sk_report *r)
{
	ht_json_string(j, "kmsg", r->kmsg);
}

int sk_json_save(const struct ht_json *j, const char *path)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, path,
			strerror(errno));
		return EXIT_FAIL;
	}
	ret = ht_json_write(j, f);
	if (fclose(f) && !ret)
		ret = -errno;
	if (ret) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, path,
			strerror(-ret));
		return EXIT_FAIL;
	}
	return 0;
}

bool sk_root(const char *uses)
{
	if (ht_has_cap(CAP_SYS_ADMIN))
		return true;
	printf("skip: needs root (CAP_SYS_ADMIN: %s)\n", uses);
	return false;
}

const char *sk_sig_or_errno(int err, int sig, char *buf, size_t len)
{
	if (sig)
		snprintf(buf, len, "signal %s", strsignal(sig));
	else
		snprintf(buf, len, "errno %d (%s)", err, strerror(err));
	return buf;
}

/* ---- the signal and restore path ---- */

static void on_signal(int sig)
{
	sk_got_signal = sig;
	if (sk_stop)
		*sk_stop = 1;
}

int sk_setup(struct sk_run *run, const struct ht_needs *n, int guard_tries)
{
	struct sigaction sa;
	const char *r;
	bool err;

	run->guard = (struct ht_guard){ .fd = -1 };
	run->kmsg_fd = ht_kmsg_open();
	r = ht_setup(n, &run->env);
	if (r) {
		err = ht_setup_error(r);
		printf("%s: %s\n", err ? "fail" : "skip", r);
		return err ? EXIT_FAIL : EXIT_SKIP;
	}
	/* From here every exit goes through sk_restore(). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	ht_guard_start(&run->guard, &run->env, guard_tries);
	return 0;
}

void sk_restore(struct sk_run *run, struct sk_report *r)
{
	char why[HT_WHY_LEN];
	int ret = ht_teardown(&run->env, why, sizeof(why));

	ht_guard_stop(&run->guard);
	if (ret)
		sk_fail(r, "not restored: %s", why);
}

void sk_kmsg_check(struct sk_run *run, struct sk_report *r)
{
	if (run->kmsg_fd >= 0 &&
	    ht_kmsg_complaints(run->kmsg_fd, r->kmsg, sizeof(r->kmsg)) > 0)
		sk_fail(r, "kernel log complaints during the run");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void sk_median_min(const double *v, int n, double *median, double *min)
{
	double *s = malloc(n * sizeof(*s));

	if (!s) {
		*median = *min = 0;
		return;
	}
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	*min = s[0];
	*median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
}
