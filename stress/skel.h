/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The stress programs' skeleton: one options table per program, from which
 * getopt_long's table, --help, --help-markdown (stress/README.md's option
 * list) and the parsing come; the failure list and verdict; the signal and
 * restore path around ht_setup()/ht_teardown().  The report itself is an
 * ht_json tree (lib/json.c).
 */
#ifndef SKEL_H
#define SKEL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "ht.h"

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_SKIP 4

enum sk_kind {
	SK_FLAG, /* bool *target = .flag_value */
	SK_COUNT, /* long *target, in .min .. .max */
	SK_SIZE, /* unsigned long *target: bytes, K/M/G suffix, power of 2 */
	SK_SECONDS, /* double *target, > 0 and <= 1e6 */
	SK_NUMBER, /* double *target, > 0 and <= 1e6 (a rate, a factor) */
	SK_ENUM, /* int *target: the index in .choices */
	SK_FILE, /* const char **target, not empty */
};

struct sk_opt {
	const char *name;
	int short_opt; /* 0: long only */
	enum sk_kind kind;
	const char *arg; /* the argument's name in --help */
	bool optional; /* --name[=ARG]: the argument may be left out */
	const char *def; /* the default, parsed as if given; NULL: 0 */
	const char *def_help; /* a default computed at run time, in words */
	bool show_max; /* --help says the maximum */
	const char *help; /* '\n' separates --help's lines */
	void *target;
	long min, max; /* SK_COUNT */
	const char *const *choices; /* SK_ENUM, NULL-terminated */
	bool flag_value; /* SK_FLAG: what giving the option stores */
	bool *given; /* set when the option is given */
};

struct sk_prog {
	const char *name;
	const char *about; /* --help's lines between usage and options */
	const char *exits; /* --help's last paragraph */
	const struct sk_opt *opts; /* ends with { 0 } */
};

/* Parses argv per @p's table; --help, --help-markdown and errors exit. */
void sk_parse(const struct sk_prog *p, int argc, char **argv);
/* "PROG: <message> (try --help)" on stderr, exit 2. */
void sk_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* ---- failures, kernel log, verdict ---- */
struct sk_report {
	char failures[8192]; /* "what; what; " as the JSON has always had it */
	char kmsg[16384];
	bool interrupted;
};
/* Appends "<message>; " to the failure list. */
void sk_fail(struct sk_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *sk_verdict(const struct sk_report *r);
int sk_exit_code(const struct sk_report *r);
/* The text report's last lines: "kmsg: ..." and "verdict: ...". */
void sk_print_verdict(const struct sk_report *r);
/* "verdict", "failures" and "kmsg" of @r into @j. */
void sk_json_verdict(struct ht_json *j, const struct sk_report *r);
/* "program", then sk_json_verdict(), then "kernel": a report's first keys. */
void sk_json_head(struct ht_json *j, const char *program, const char *kernel,
		  const struct sk_report *r);
void sk_json_kmsg(struct ht_json *j, const struct sk_report *r);
/* Writes @j to @path; 0, or EXIT_FAIL with the reason on stderr. */
int sk_json_save(const struct ht_json *j, const char *path);
/* "errno N (text)" or "signal NAME" */
const char *sk_sig_or_errno(int err, int sig, char *buf, size_t len);
/*
 * true as root (CAP_SYS_ADMIN); else prints the program's skip line,
 * "skip: needs root (CAP_SYS_ADMIN: @uses)", and the caller exits with
 * EXIT_SKIP.
 */
bool sk_root(const char *uses);

/* ---- the signal and restore path ---- */
/* SIGINT/SIGTERM/SIGHUP seen during the run (0: none). */
extern volatile sig_atomic_t sk_got_signal;
/* Also set to 1 by the handler when not NULL (mappers poll it). */
extern volatile int *sk_stop;

struct sk_run {
	struct ht_env env;
	struct ht_guard guard;
	int kmsg_fd;
};
/*
 * Opens the kernel log, provides @n (ht_setup), then catches the signals
 * and starts the guard.  0 when the run may go on, else what main()
 * returns: the skip or fail line has been printed.  Call before making
 * hugetlb files: the guard keeps what is open at fork.
 */
int sk_setup(struct sk_run *run, const struct ht_needs *n, int guard_tries);
/* ht_teardown() and the guard's end; "not restored: ..." fails @r. */
void sk_restore(struct sk_run *run, struct sk_report *r);
/* Kernel log complaints since sk_setup() into @r (and a failure). */
void sk_kmsg_check(struct sk_run *run, struct sk_report *r);

/* Sorts @n values (n >= 1) and gives their median and minimum. */
void sk_median_min(const double *v, int n, double *median, double *min);

#endif
