// SPDX-License-Identifier: GPL-2.0
/*
 * refcount_stress: map one huge page from many VMAs in many processes, as
 * the HGM review (linux-mm, Jan 2023) describes the refcount overflow:
 * "~64 processes with 64k VMAs" of a 2 MiB page mapped at 4 KiB reach
 * 2^31 references.  The kernel must either hold the count (kpagecount
 * equals the model at the peak) or refuse cleanly (ENOMEM / SIGBUS)
 * before it wraps, and put everything back afterwards.
 *
 * The supervising process maps nothing: it provides the pool, snapshots
 * and restores sysctls, spawns the mappers, measures at the peak and
 * tears down.  It is a child subreaper, so even grandchildren of a dead
 * mapper come back to it to be reaped.
 *
 * Exit: 0 pass, 1 fail, 2 bad usage, 4 skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <numaif.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht.h"

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_SKIP 4

#define MAX_PROCS 4096
#define MAP_COUNT_SYSCTL "/proc/sys/vm/max_map_count"
/* VMAs a mapper needs besides its mappings: the reserve's remainder, slack. */
#define VMA_SLACK 8
#define MAX_MIGRATE_ROUNDS 100
/* The page's stamps, checked through a mapper after migration. */
#define FILL_SEED 1

enum populate { POP_FAULT, POP_READ, POP_WRITE, POP_CONTINUE };
static const char *const pop_names[] = { "fault", "read", "write", "continue" };

enum cmd { CMD_EXIT = 100, CMD_HWPOISON };

struct opts {
	long procs;
	long vmas; /* 0: as many as vm.max_map_count allows */
	unsigned long psize;
	enum ht_gran gran;
	enum populate pop;
	bool pop_given;
	bool fork_mode;
	bool raise_map_count;
	unsigned long raise_to; /* 0: what --vmas needs */
	unsigned long target; /* references; 0: none */
	double time_limit; /* seconds; 0: none */
	const char *json;
	bool migrate, hwpoison, baseline;
	int migrate_rounds; /* move_pages samples at the peak */
};

/* One mapper's state, in memory shared by every process of the run. */
struct slot {
	volatile int pid;
	volatile int state; /* 0 mapping, 1 holding, -1 gone */
	volatile int status; /* wait status when gone */
	volatile long maps;
	volatile unsigned long first_addr;
	volatile long t_start, t_end; /* ns, CLOCK_MONOTONIC */
	volatile long fork_ns; /* fork mode leader: all forks */
	volatile long hwp_ns;
	volatile int hwp_ret, hwp_code;
};

struct shared {
	volatile int stop;
	long deadline; /* ns; 0: none */
	long target_refs;
	long total_refs; /* atomic */
	int refusal_claimed; /* atomic */
	struct {
		int slot;
		long index; /* this mapper's mapping number, from 0 */
		long total_at; /* references in the run when refused */
		int err, sig;
		char what[48];
	} refusal;
	struct slot s[]; /* MAX slots: procs, then the baseline's */
};

static struct opts o = {
	.procs = 64,
	.gran = HT_GRAN_HUGE,
	.pop = POP_FAULT,
	.baseline = true,
	.migrate_rounds = 1,
};
static struct shared *sh;
static int nslots;
static struct ht_file file;
/*
 * References and mapcount one mapping adds: one per (VMA, folio) at either
 * granularity (our HGM counts a split huge page once, not once per PTE).
 */
static long refs_per_map = 1;
static volatile sig_atomic_t got_signal;

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "refcount_stress: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(EXIT_USAGE);
}

static void help(void)
{
	printf("Usage: refcount_stress [OPTIONS]\n"
	       "Map one huge page from many VMAs in many processes and check that its\n"
	       "reference count holds (kpagecount = model) or is refused before it wraps.\n\n"
	       "  -p, --processes N       mapping processes (default 64)\n"
	       "  -v, --vmas N            VMAs per process (default: as many as vm.max_map_count allows)\n"
	       "      --raise-map-count[=N] raise vm.max_map_count to fit --vmas (or to N); restored at exit\n"
	       "  -s, --page-size SIZE    huge page size: 2M, 1G or bytes (default: the default huge page size)\n"
	       "  -g, --granularity G     huge (one PMD/PUD entry per VMA) or hgm (MADV_SPLIT +\n"
	       "                          4 KiB UFFDIO_CONTINUE per VMA; skips without HGM)\n"
	       "  -m, --populate HOW      fault (read touch), read (MADV_POPULATE_READ),\n"
	       "                          write (MADV_POPULATE_WRITE), continue (uffd MINOR + UFFDIO_CONTINUE);\n"
	       "                          default fault, hgm implies continue\n"
	       "  -f, --fork              one process maps, then forks the others; each populates\n"
	       "                          the inherited VMAs (shared hugetlb page tables are not copied)\n"
	       "  -T, --target N          stop when the page has N references from mappings\n"
	       "  -t, --time SECONDS      stop mapping after SECONDS (the run still measures and tears down)\n"
	       "  -j, --json FILE         write the report as JSON to FILE\n"
	       "      --migrate           time move_pages(MPOL_MF_MOVE_ALL) of the page at the peak\n"
	       "                          and cross-check with numastat/migratepages (needs 2 nodes)\n"
	       "      --migrate-rounds R  R move_pages(MOVE_ALL) of the page, alternating nodes:\n"
	       "                          median and min (implies --migrate; default 1)\n"
	       "      --hwpoison          time MADV_HWPOISON of the page at the peak (needs\n"
	       "                          CONFIG_MEMORY_FAILURE and HT_ALLOW_DESTRUCTIVE=1)\n"
	       "      --no-baseline       skip the single-process baseline\n"
	       "  -h, --help              this text\n\n"
	       "Exit: 0 pass (held, or refused before overflow), 1 fail (wrapped or wrong count,\n"
	       "kernel WARN/BUG, leftovers), 2 bad usage, 4 skip (missing feature, memory, root).\n");
}

static long parse_count(const char *opt, const char *s, long min, long max)
{
	unsigned long v;

	if (ht_parse_ulong(s, &v) || v < (unsigned long)min ||
	    v > (unsigned long)max)
		usage_error("%s: '%s' is not a number in %ld..%ld", opt, s, min,
			    max);
	return (long)v;
}

static unsigned long parse_size(const char *s)
{
	char num[32];
	size_t n = strlen(s);
	unsigned long v, mult = 1;

	if (n == 0 || n >= sizeof(num))
		usage_error("--page-size: '%s' is not a size", s);
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
		usage_error("--page-size: '%s' is not a size", s);
	v *= mult;
	if (ht_size_shift(v) < 0)
		usage_error("--page-size: %s is not a power of two", s);
	return v;
}

static void parse_args(int argc, char **argv)
{
	enum { O_RAISE = 256, O_MIGRATE, O_ROUNDS, O_HWPOISON, O_NOBASE };
	static const struct option lo[] = {
		{ "processes", required_argument, NULL, 'p' },
		{ "vmas", required_argument, NULL, 'v' },
		{ "raise-map-count", optional_argument, NULL, O_RAISE },
		{ "page-size", required_argument, NULL, 's' },
		{ "granularity", required_argument, NULL, 'g' },
		{ "populate", required_argument, NULL, 'm' },
		{ "fork", no_argument, NULL, 'f' },
		{ "target", required_argument, NULL, 'T' },
		{ "time", required_argument, NULL, 't' },
		{ "json", required_argument, NULL, 'j' },
		{ "migrate", no_argument, NULL, O_MIGRATE },
		{ "migrate-rounds", required_argument, NULL, O_ROUNDS },
		{ "hwpoison", no_argument, NULL, O_HWPOISON },
		{ "no-baseline", no_argument, NULL, O_NOBASE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char *end;
	int c, i;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:v:s:g:m:fT:t:j:h", lo, NULL)) !=
	       -1) {
		switch (c) {
		case 'p':
			o.procs = parse_count("--processes", optarg, 1,
					      MAX_PROCS - 1);
			break;
		case 'v':
			o.vmas = parse_count("--vmas", optarg, 1, 1L << 30);
			break;
		case O_RAISE:
			o.raise_map_count = true;
			if (optarg)
				o.raise_to = parse_count("--raise-map-count",
							 optarg, 1, INT_MAX);
			break;
		case 's':
			o.psize = parse_size(optarg);
			break;
		case 'g':
			if (!strcmp(optarg, "huge"))
				o.gran = HT_GRAN_HUGE;
			else if (!strcmp(optarg, "hgm"))
				o.gran = HT_GRAN_HGM;
			else
				usage_error(
					"--granularity: '%s' is not huge or hgm",
					optarg);
			break;
		case 'm':
			for (i = 0; i < 4; i++)
				if (!strcmp(optarg, pop_names[i]))
					break;
			if (i == 4)
				usage_error(
					"--populate: '%s' is not fault, read, write or continue",
					optarg);
			o.pop = i;
			o.pop_given = true;
			break;
		case 'f':
			o.fork_mode = true;
			break;
		case 'T':
			o.target = parse_count("--target", optarg, 1, LONG_MAX);
			break;
		case 't':
			errno = 0;
			o.time_limit = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(o.time_limit > 0) || o.time_limit > 1e6)
				usage_error(
					"--time: '%s' is not a number of seconds",
					optarg);
			break;
		case 'j':
			if (!*optarg)
				usage_error("--json: empty file name");
			o.json = optarg;
			break;
		case O_MIGRATE:
			o.migrate = true;
			break;
		case O_ROUNDS:
			o.migrate_rounds = (int)parse_count("--migrate-rounds",
							    optarg, 1,
							    MAX_MIGRATE_ROUNDS);
			o.migrate = true;
			break;
		case O_HWPOISON:
			o.hwpoison = true;
			break;
		case O_NOBASE:
			o.baseline = false;
			break;
		case 'h':
			help();
			exit(0);
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
	if (o.gran == HT_GRAN_HGM && o.pop_given && o.pop != POP_CONTINUE)
		usage_error("--granularity hgm populates with continue, not %s",
			    pop_names[o.pop]);
	if (o.gran == HT_GRAN_HGM)
		o.pop = POP_CONTINUE;
}

/* ---- mapper side ---- */

static sigjmp_buf touch_jmp;
static volatile sig_atomic_t touch_armed;
static volatile int touch_code;

/*
 * Installed once per mapper: ht_touch() installs and removes its handler
 * on every call, two extra syscalls per mapping that would be a good part
 * of what this program measures.
 */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!touch_armed) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	touch_armed = 0;
	touch_code = si->si_code;
	siglongjmp(touch_jmp, 1);
}

static void mapper_signals(void)
{
	struct sigaction sa;

	/* The supervisor handles SIGINT/SIGTERM for the whole run. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
}

static void refuse(int slot, long index, const char *what, int err, int sig)
{
	int zero = 0;

	if (!__atomic_compare_exchange_n(&sh->refusal_claimed, &zero, 1, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	sh->refusal.slot = slot;
	sh->refusal.index = index;
	sh->refusal.total_at =
		__atomic_load_n(&sh->total_refs, __ATOMIC_SEQ_CST);
	sh->refusal.err = err;
	sh->refusal.sig = sig;
	snprintf(sh->refusal.what, sizeof(sh->refusal.what), "%s", what);
}

/* 0, or the refusal recorded (what/err/sig) and -1. */
static int populate_one(char *a, int uffd, int slot, long i)
{
	size_t ps = ht_base_page_size();
	int ret;

	switch (o.pop) {
	case POP_FAULT:
		if (sigsetjmp(touch_jmp, 0)) {
			refuse(slot, i, "fault", 0, SIGBUS);
			return -1;
		}
		touch_armed = 1;
		(void)*(volatile char *)a;
		touch_armed = 0;
		return 0;
	case POP_READ:
	case POP_WRITE:
		if (madvise(a, o.psize,
			    o.pop == POP_READ ? MADV_POPULATE_READ :
						MADV_POPULATE_WRITE)) {
			refuse(slot, i,
			       o.pop == POP_READ ? "MADV_POPULATE_READ" :
						   "MADV_POPULATE_WRITE",
			       errno, 0);
			return -1;
		}
		return 0;
	case POP_CONTINUE:
		if (o.gran == HT_GRAN_HGM && madvise(a, o.psize, MADV_SPLIT)) {
			refuse(slot, i, "MADV_SPLIT", errno, 0);
			return -1;
		}
		ret = ht_uffd_register(uffd, a, o.psize,
				       UFFDIO_REGISTER_MODE_MINOR);
		if (ret) {
			refuse(slot, i, "UFFDIO_REGISTER", -ret, 0);
			return -1;
		}
		if (o.gran == HT_GRAN_HUGE) {
			ret = ht_uffd_continue(uffd, a, o.psize);
		} else {
			for (size_t off = 0; !ret && off < o.psize; off += ps)
				ret = ht_uffd_continue(uffd, a + off, ps);
		}
		if (ret) {
			refuse(slot, i, "UFFDIO_CONTINUE", -ret, 0);
			return -1;
		}
		return 0;
	}
	return 0;
}

/*
 * The loop the baseline and every mapper run: map (unless the VMAs are
 * inherited), populate, count.  Stops at the first refusal, the target,
 * the time limit or the supervisor's stop.
 */
static void map_loop(int slot, char *base, long nmaps, bool do_mmap)
{
	struct slot *s = &sh->s[slot];
	int uffd = -1;
	long i;

	if (o.pop == POP_CONTINUE) {
		uffd = ht_uffd_open(UFFD_FEATURE_MINOR_HUGETLBFS);
		if (uffd < 0) {
			refuse(slot, 0, "userfaultfd", -uffd, 0);
			nmaps = 0;
		}
	}
	s->first_addr = (unsigned long)base;
	s->t_start = ht_now_ns();
	for (i = 0; i < nmaps; i++) {
		char *a = base + i * o.psize;

		if (sh->stop)
			break;
		if (sh->deadline && !(i & 63) && ht_now_ns() > sh->deadline)
			break;
		if (sh->target_refs &&
		    __atomic_load_n(&sh->total_refs, __ATOMIC_RELAXED) >=
			    sh->target_refs)
			break;
		if (do_mmap &&
		    mmap(a, o.psize, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, file.fd, 0) == MAP_FAILED) {
			refuse(slot, i, "mmap", errno, 0);
			break;
		}
		if (populate_one(a, uffd, slot, i)) {
			/* Keep the model exact: the refused VMA maps nothing. */
			if (do_mmap)
				munmap(a, o.psize);
			break;
		}
		s->maps = i + 1;
		__atomic_add_fetch(&sh->total_refs, refs_per_map,
				   __ATOMIC_RELAXED);
	}
	s->t_end = ht_now_ns();
	/* The uffd stays open: closing it would unregister nothing mapped. */
}

static char *reserve(long nmaps)
{
	size_t align = o.psize > HT_GB ? o.psize : HT_GB;

	/* One PROT_NONE area: the mappings land next to each other. */
	return ht_mmap_aligned((size_t)nmaps * o.psize, align, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
}

static int serve(int sock, int slot)
{
	struct slot *s = &sh->s[slot];
	struct ht_sigbus sb;
	int64_t cmd;
	long t0;

	for (;;) {
		if (ht_recv(sock, &cmd, -1))
			return 0;
		switch (cmd) {
		case CMD_HWPOISON:
			t0 = ht_now_ns();
			s->hwp_ret = ht_madvise_catch((void *)s->first_addr,
						      ht_base_page_size(),
						      MADV_HWPOISON, &sb);
			s->hwp_ns = ht_now_ns() - t0;
			s->hwp_code = sb.hit ? sb.code : 0;
			ht_send(sock, 0);
			break;
		case CMD_EXIT:
		default:
			return 0;
		}
	}
}

struct mapper_arg {
	int slot;
	long nmaps;
};

static int mapper_fn(int sock, void *argp)
{
	struct mapper_arg *arg = argp;
	struct slot *s = &sh->s[arg->slot];
	char *base;

	mapper_signals();
	s->pid = getpid();
	base = reserve(arg->nmaps);
	if (base == MAP_FAILED) {
		refuse(arg->slot, 0, "mmap reserve", errno, 0);
		s->state = 1;
		return serve(sock, arg->slot);
	}
	map_loop(arg->slot, base, arg->nmaps, true);
	s->state = 1;
	return serve(sock, arg->slot);
}

/* Fork mode: slot 0 maps, then forks slots 1..procs-1 which populate. */
static int leader_fn(int sock, void *argp)
{
	struct mapper_arg *arg = argp;
	struct slot *s = &sh->s[0];
	pid_t me = getpid(), pid;
	long t0, forks = 0, pending;
	char *base;
	int k, st;

	mapper_signals();
	s->pid = me;
	base = reserve(arg->nmaps);
	if (base == MAP_FAILED) {
		refuse(0, 0, "mmap reserve", errno, 0);
		base = NULL;
	} else {
		map_loop(0, base, arg->nmaps, true);
	}
	for (k = 1; base && k < o.procs && !sh->stop; k++) {
		t0 = ht_now_ns();
		pid = fork();
		if (pid < 0) {
			refuse(k, 0, "fork", errno, 0);
			break;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != me)
				_exit(125);
			sh->s[k].pid = getpid();
			map_loop(k, base, s->maps, false);
			sh->s[k].state = 1;
			for (;;)
				pause();
		}
		forks += ht_now_ns() - t0;
		sh->s[k].pid = pid;
	}
	s->fork_ns = forks;
	/* Holding: the supervisor waits for every slot; reap the dead. */
	do {
		pending = 0;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (int j = 1; j < o.procs; j++)
				if (sh->s[j].pid == pid) {
					sh->s[j].status = st;
					sh->s[j].state = -1;
				}
		for (int j = 1; j < k; j++)
			pending += sh->s[j].state == 0;
		if (pending)
			usleep(10000);
	} while (pending);
	for (int j = k; j < o.procs; j++)
		sh->s[j].state = -1; /* never forked */
	s->state = 1;
	serve(sock, 0);
	for (int j = 1; j < k; j++)
		if (sh->s[j].state != -1 && sh->s[j].pid > 0)
			kill(sh->s[j].pid, SIGKILL);
	while (waitpid(-1, &st, 0) > 0)
		;
	return 0;
}

/* ---- supervisor side ---- */

static void on_signal(int sig)
{
	got_signal = sig;
	if (sh)
		sh->stop = 1;
}

struct meminfo_snap {
	unsigned long pagetables, slab, sunreclaim, avail;
};

static void meminfo_snap(struct meminfo_snap *m)
{
	memset(m, 0, sizeof(*m));
	ht_meminfo_read("PageTables", &m->pagetables);
	ht_meminfo_read("Slab", &m->slab);
	ht_meminfo_read("SUnreclaim", &m->sunreclaim);
	ht_meminfo_read("MemAvailable", &m->avail);
}

/* Puts the pools and vm.max_map_count back if the supervisor is killed. */
static struct ht_guard guard = { .fd = -1 };

static struct ht_child kids[MAX_PROCS];
static int nkids;

/* Reaps whatever has exited (subreaper: grandchildren too). */
static void reap_some(void)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < nkids; i++)
			if (kids[i].pid == pid) {
				kids[i].pid = 0;
				close(kids[i].sock);
				kids[i].sock = -1;
			}
		for (int i = 0; i < nslots; i++)
			if (sh->s[i].pid == pid && sh->s[i].state != -1) {
				sh->s[i].status = st;
				sh->s[i].state = -1;
			}
		/* A dead fork-mode leader takes its children with it. */
		if (o.fork_mode && sh->s[0].pid == pid)
			for (int i = 1; i < o.procs; i++)
				if (sh->s[i].state == 0 && sh->s[i].pid == 0)
					sh->s[i].state = -1;
	}
}

static bool progress_tty;
static long progress_last;

static long total_maps(int first, int n, bool alive_only)
{
	long t = 0;

	for (int i = first; i < first + n; i++)
		if (!alive_only || sh->s[i].state != -1)
			t += sh->s[i].maps;
	return t;
}

static void progress(const char *phase, int first, int n, long t0, bool force)
{
	long now = ht_now_ns(), maps;
	double el;

	if (!progress_tty || (!force && now - progress_last < 250000000L))
		return;
	progress_last = now;
	maps = total_maps(first, n, false);
	el = (now - t0) / 1e9;
	fprintf(stderr, "\r\033[K%s: %ld mappings, %.0f/s, %.1f s", phase, maps,
		el > 0 ? maps / el : 0.0, el);
	fflush(stderr);
}

static void progress_done(void)
{
	if (progress_tty) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
}

/*
 * Waits until slots [first, first + n) hold or are gone.  Past the time
 * limit plus a grace period, or on a signal, the mappers are told to stop;
 * if they still do not answer they are killed.
 */
static void wait_phase(const char *phase, int first, int n, long t0)
{
	long grace_end = 0;

	for (;;) {
		int busy = 0;

		reap_some();
		for (int i = first; i < first + n; i++)
			busy += sh->s[i].state == 0;
		if (!busy)
			break;
		if (got_signal)
			sh->stop = 1;
		if (sh->stop && !grace_end)
			grace_end = ht_now_ns() + 60000000000L;
		if (sh->deadline && ht_now_ns() > sh->deadline + 60000000000L &&
		    !grace_end)
			grace_end = ht_now_ns();
		if (grace_end && ht_now_ns() > grace_end) {
			for (int i = 0; i < nkids; i++)
				if (kids[i].pid > 0)
					kill(kids[i].pid, SIGKILL);
		}
		progress(phase, first, n, t0, false);
		usleep(20000);
	}
	progress(phase, first, n, t0, true);
	progress_done();
}

/* Tells every mapper to exit, waits, kills stragglers; returns seconds. */
static double teardown_procs(int timeout_s)
{
	long t0 = ht_now_ns(), end = t0 + timeout_s * 1000000000L;
	int alive;

	for (int i = 0; i < nkids; i++)
		if (kids[i].pid > 0)
			ht_send(kids[i].sock, CMD_EXIT);
	do {
		reap_some();
		alive = 0;
		for (int i = 0; i < nkids; i++)
			alive += kids[i].pid > 0;
		if (alive && ht_now_ns() > end)
			for (int i = 0; i < nkids; i++)
				if (kids[i].pid > 0)
					kill(kids[i].pid, SIGKILL);
		if (alive)
			usleep(5000);
	} while (alive);
	return (ht_now_ns() - t0) / 1e9;
}

/*
 * Mappers and their children still alive after teardown.  Orphans of a
 * dead fork-mode leader are ours to reap (subreaper): a zombie is not a
 * leftover, so reap for a while before counting.
 */
static int leftover_procs(void)
{
	int left = 0;

	for (int tries = 0; tries < 200; tries++) {
		reap_some();
		left = 0;
		for (int i = 0; i < nslots; i++)
			if (sh->s[i].pid > 0 && sh->s[i].pid != guard.pid &&
			    kill(sh->s[i].pid, 0) == 0)
				left++;
		if (!left)
			break;
		usleep(25000);
	}
	return left;
}

struct peak {
	bool done;
	long maps, model_mapcount, model_refs;
	int pid;
	unsigned long addr;
	uint64_t pfn, kpc_head, kpc_tail;
	int kpc_err;
	struct ht_smaps_vma rollup;
	int rollup_err;
	long rollup_maps;
	struct meminfo_snap mem;
};

static void measure_peak(struct peak *p)
{
	uint64_t pm;
	int i, c = -1;

	memset(p, 0, sizeof(*p));
	p->done = true;
	for (i = 0; i < o.procs; i++)
		if (sh->s[i].state == 1) {
			p->maps += sh->s[i].maps;
			if (c < 0 && sh->s[i].maps > 0)
				c = i;
		}
	p->model_mapcount = p->maps * refs_per_map;
	p->model_refs =
		p->model_mapcount + (long)(o.psize / ht_base_page_size());
	meminfo_snap(&p->mem);
	if (c < 0) {
		p->kpc_err = -ENOENT;
		p->rollup_err = -ENOENT;
		return;
	}
	p->pid = sh->s[c].pid;
	p->addr = sh->s[c].first_addr;
	p->rollup_maps = sh->s[c].maps;
	p->kpc_err = ht_pagemap_read(p->pid, p->addr, &pm);
	if (!p->kpc_err && !(pm & HT_PM_PRESENT))
		p->kpc_err = -ENOENT;
	if (!p->kpc_err) {
		p->pfn = pm & HT_PM_PFN_MASK;
		p->kpc_err = ht_kpagecount_read(p->pfn, &p->kpc_head);
		if (!p->kpc_err)
			p->kpc_err = ht_kpagecount_read(
				p->pfn + o.psize / ht_base_page_size() - 1,
				&p->kpc_tail);
	}
	p->rollup_err = ht_smaps_rollup_read(p->pid, &p->rollup);
}

struct migr {
	bool requested;
	const char *skip;
	int pid, from, to, status;
	double move_ms, back_ms;
	int node_after, node_back;
	char numastat_after[128], numastat_back[128];
	int ret;
	uint64_t kpc_after;
	/*
	 * --migrate-rounds: the times of the moves that succeeded (the first
	 * is move_ms), and the checks after them.
	 */
	int nmoves, failed_move, failed_ret, failed_status;
	double moves_ms[MAX_MIGRATE_ROUNDS];
	double median_ms, min_ms;
	int kpc_bad_move; /* 0, or the first move (from 1) with a wrong count */
	uint64_t kpc_bad_head, kpc_bad_tail;
	long present; /* PAGE_SIZE pieces the mapper maps after the moves */
	long bad_offset; /* first wrong stamp byte read through it; -1 */
	int read_err;
};

/* "Huge" row of `numastat -p PID`: MB per node, as one string. */
static void numastat_huge(int pid, char *out, size_t len)
{
	char cmd[64], line[512];
	FILE *f;

	snprintf(out, len, "unavailable");
	snprintf(cmd, sizeof(cmd), "numastat -p %d 2>/dev/null", pid);
	f = popen(cmd, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Huge", 4)) {
			char *p = line + 4;

			while (*p == ' ')
				p++;
			p[strcspn(p, "\n")] = '\0';
			snprintf(out, len, "%.100s", p);
		}
	}
	pclose(f);
}

/* One move_pages(MOVE_ALL) of the page to @node: 0 or -errno. */
static int move_timed(struct peak *pk, int node, int *status, double *ms)
{
	void *addr = (void *)pk->addr;
	long t0 = ht_now_ns();
	int ret;

	*status = 0;
	ret = move_pages(pk->pid, 1, &addr, &node, status, MPOL_MF_MOVE_ALL) ?
		      -errno :
		      0;
	*ms = (ht_now_ns() - t0) / 1e6;
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The moves after the first: each one must leave the count of the model
 * at head and tail, whichever granularity restored the mappings.  A move
 * the kernel refuses ends the rounds; it is reported, not judged, like
 * the first move's.
 */
static void migrate_rounds(struct peak *pk, struct migr *m)
{
	size_t pieces = o.psize / ht_base_page_size();
	double sorted[MAX_MIGRATE_ROUNDS], ms;
	int where, to, status, ret;
	uint64_t pm, head, tail;

	if (m->ret || m->status != m->to) {
		m->failed_move = 1;
		return;
	}
	m->moves_ms[m->nmoves++] = m->move_ms;
	where = ht_page_node(pk->pid, (void *)pk->addr);
	for (int i = 1; i < o.migrate_rounds; i++) {
		to = where == m->to ? m->from : m->to;
		ret = move_timed(pk, to, &status, &ms);
		if (ret || status != to) {
			m->failed_move = i + 1;
			m->failed_ret = ret;
			m->failed_status = status;
			break;
		}
		m->moves_ms[m->nmoves++] = ms;
		where = to;
		head = tail = 0;
		if (!ht_pagemap_read(pk->pid, pk->addr, &pm)) {
			ht_kpagecount_read(pm & HT_PM_PFN_MASK, &head);
			ht_kpagecount_read((pm & HT_PM_PFN_MASK) + pieces - 1,
					   &tail);
		}
		if (!m->kpc_bad_move &&
		    (head != (uint64_t)pk->model_mapcount ||
		     tail != (uint64_t)pk->model_mapcount)) {
			m->kpc_bad_move = i + 1;
			m->kpc_bad_head = head;
			m->kpc_bad_tail = tail;
		}
	}
	memcpy(sorted, m->moves_ms, m->nmoves * sizeof(sorted[0]));
	qsort(sorted, m->nmoves, sizeof(sorted[0]), cmp_double);
	m->min_ms = sorted[0];
	m->median_ms =
		m->nmoves % 2 ?
			sorted[m->nmoves / 2] :
			(sorted[m->nmoves / 2 - 1] + sorted[m->nmoves / 2]) / 2;
}

/*
 * After all the moves, the mapper must still map every piece (HGM: the
 * same 4 KiB pieces, restored into the new page) and read the file's
 * bytes through them.  Read only when every piece is present: a missing
 * one would wait on the mapper's userfaultfd, which nobody serves.
 */
static void migrate_verify(struct peak *pk, struct migr *m)
{
	size_t chunk = o.psize < 2 * HT_MB ? o.psize : 2 * HT_MB;
	struct iovec local, remote;
	char *buf;
	long bad;

	m->bad_offset = -1;
	m->present = ht_pagemap_count_present(pk->pid, pk->addr, o.psize);
	if (m->present != (long)(o.psize / ht_base_page_size()))
		return;
	buf = malloc(chunk);
	if (!buf) {
		m->read_err = -ENOMEM;
		return;
	}
	for (size_t off = 0; off < o.psize; off += chunk) {
		local = (struct iovec){ buf, chunk };
		remote = (struct iovec){ (void *)(pk->addr + off), chunk };
		if (process_vm_readv(pk->pid, &local, 1, &remote, 1, 0) !=
		    (ssize_t)chunk) {
			m->read_err = errno ? -errno : -EIO;
			break;
		}
		bad = ht_pattern_check(buf, chunk, off, FILL_SEED);
		if (bad >= 0) {
			m->bad_offset = (long)off + bad;
			break;
		}
	}
	free(buf);
}

static void do_migrate(struct peak *pk, struct migr *m)
{
	int nodes[HT_MAX_NODES], n, status = 0, target;
	void *addr = (void *)pk->addr;
	char cmd[96];
	long t0;
	uint64_t pm;

	m->requested = true;
	if ((m->skip = ht_probe_nodes(2)))
		return;
	if (!pk->pid) {
		m->skip = "no mapping held at the peak";
		return;
	}
	n = ht_memory_nodes(nodes, HT_MAX_NODES);
	m->pid = pk->pid;
	m->from = ht_page_node(pk->pid, addr);
	if (m->from < 0) {
		m->skip = "cannot query the page's node";
		return;
	}
	target = nodes[0] == m->from ? nodes[1] : nodes[0];
	(void)n;
	m->to = target;
	if (ht_pool_ensure_free(o.psize, target, 1) ||
	    ht_pool_ensure_free(o.psize, m->from, 1)) {
		m->skip = "cannot get a free huge page on the other node";
		return;
	}
	m->ret = move_timed(pk, target, &status, &m->move_ms);
	m->status = status;
	m->node_after = ht_page_node(pk->pid, addr);
	numastat_huge(pk->pid, m->numastat_after, sizeof(m->numastat_after));
	if (!ht_pagemap_read(pk->pid, pk->addr, &pm))
		ht_kpagecount_read(pm & HT_PM_PFN_MASK, &m->kpc_after);
	/* Back with migratepages(8): migrate_pages(2), MOVE_ALL as root. */
	snprintf(cmd, sizeof(cmd), "migratepages %d %d %d >/dev/null 2>&1",
		 pk->pid, target, m->from);
	t0 = ht_now_ns();
	if (system(cmd) != 0)
		m->back_ms = -1;
	else
		m->back_ms = (ht_now_ns() - t0) / 1e6;
	m->node_back = ht_page_node(pk->pid, addr);
	numastat_huge(pk->pid, m->numastat_back, sizeof(m->numastat_back));
	migrate_rounds(pk, m);
	migrate_verify(pk, m);
}

struct hwp {
	bool requested;
	const char *skip;
	double ms;
	int ret, code;
	uint64_t kpc_after;
};

static void do_hwpoison(struct peak *pk, struct hwp *h)
{
	const char *e = getenv("HT_ALLOW_DESTRUCTIVE");
	int64_t reply;
	int c;

	h->requested = true;
	if ((h->skip = ht_probe_memory_failure()))
		return;
	if (!e || strcmp(e, "1")) {
		h->skip =
			"destructive (poisons memory): needs HT_ALLOW_DESTRUCTIVE=1 (the VM sets it)";
		return;
	}
	if (!pk->pid) {
		h->skip = "no mapping held at the peak";
		return;
	}
	/* The mapper itself poisons (MADV_HWPOISON acts on the caller's mm). */
	c = o.fork_mode ? 0 : -1;
	for (int i = 0; c < 0 && i < nkids; i++)
		if (kids[i].pid == pk->pid)
			c = i;
	if (c < 0 || ht_send(kids[c].sock, CMD_HWPOISON) ||
	    ht_recv(kids[c].sock, &reply, 600000)) {
		h->skip = "the mapper did not answer";
		return;
	}
	h->ms = sh->s[o.fork_mode ? 0 : c].hwp_ns / 1e6;
	h->ret = sh->s[o.fork_mode ? 0 : c].hwp_ret;
	h->code = sh->s[o.fork_mode ? 0 : c].hwp_code;
	ht_kpagecount_read(pk->pfn, &h->kpc_after);
}

static const char *sig_or_errno(int err, int sig, char *buf, size_t len)
{
	if (sig)
		snprintf(buf, len, "signal %s", strsignal(sig));
	else
		snprintf(buf, len, "errno %d (%s)", err, strerror(err));
	return buf;
}

/* ---- the report ---- */

static struct {
	struct peak *pk;
	struct migr *mg;
	struct hwp *hw;
	struct ht_kmem_est *est;
	struct meminfo_snap *before;
	struct ht_pool *pool_before, *pool_after;
	long base_ns, stress_ns;
	double base_rate, stress_rate, teardown_s;
	char *failures, *kmsg;
	int interrupted, left;
	unsigned long map_count_orig, map_count_after;
} R;

static void add_failure(const char *fmt, ...)
{
	size_t used = strlen(R.failures);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(R.failures + used, 8192 - used, fmt, ap);
	va_end(ap);
}

/* What the moves after the first broke (migrate_rounds, migrate_verify). */
static void migrate_failures(struct peak *pk, struct migr *mg)
{
	long pieces = (long)(o.psize / ht_base_page_size());

	if (!mg->requested || mg->skip)
		return;
	if (mg->kpc_bad_move)
		add_failure("kpagecount after move %d: head %" PRIu64
			    " tail %" PRIu64 " != model %ld; ",
			    mg->kpc_bad_move, mg->kpc_bad_head,
			    mg->kpc_bad_tail, pk->model_mapcount);
	if (mg->present != pieces)
		add_failure("after migration pid %d maps %ld of %ld pieces; ",
			    pk->pid, mg->present, pieces);
	if (mg->read_err)
		add_failure(
			"cannot read the page through pid %d after migration: %s; ",
			pk->pid, strerror(-mg->read_err));
	if (mg->bad_offset >= 0)
		add_failure(
			"after migration pid %d reads a wrong byte at offset %ld; ",
			pk->pid, mg->bad_offset);
}

static void migrate_print_rounds(struct migr *mg)
{
	char stop[96] = "";

	if (mg->failed_move > 1)
		snprintf(stop, sizeof(stop), "; move %d refused: %s, status %d",
			 mg->failed_move,
			 mg->failed_ret ? strerror(-mg->failed_ret) : "ok",
			 mg->failed_status);
	printf("migration rounds: %d of %d moves, median %.3f ms, min %.3f ms%s; after them: %ld pieces mapped, contents %s\n",
	       mg->nmoves, o.migrate_rounds, mg->median_ms, mg->min_ms, stop,
	       mg->present,
	       mg->bad_offset >= 0 ? "WRONG" :
	       mg->read_err	   ? "unread" :
				     "as written");
}

static void migrate_json_rounds(FILE *f, struct migr *mg)
{
	fprintf(f, ", \"rounds\": %d, \"moves_ms\": [", o.migrate_rounds);
	for (int i = 0; i < mg->nmoves; i++)
		fprintf(f, "%s%.3f", i ? ", " : "", mg->moves_ms[i]);
	fprintf(f,
		"], \"move_median_ms\": %.3f, \"move_min_ms\": %.3f, \"failed_move\": %d, \"failed_errno\": %d, \"failed_status\": %d, \"kpagecount_bad_move\": %d, \"present_after\": %ld, \"bad_offset\": %ld, \"read_errno\": %d",
		mg->median_ms, mg->min_ms, mg->failed_move, -mg->failed_ret,
		mg->failed_status, mg->kpc_bad_move, mg->present,
		mg->bad_offset, -mg->read_err);
}

static long kb_delta(unsigned long after, unsigned long before)
{
	return (long)after - (long)before;
}

static int report(void)
{
	struct peak *pk = R.pk;
	struct migr *mg = R.mg;
	struct hwp *hw = R.hw;
	long maps = total_maps(0, (int)o.procs, false);
	long shared_model = 0, shared_kb = -1, private_kb = -1;
	long d_pt = 0, d_slab = 0, d_sunr = 0;
	bool wrapped = false, refused = sh->refusal_claimed;
	char rbuf[96] = "";
	const char *verdict;
	int code;
	FILE *f;

	if (pk->done) {
		int64_t h = (int64_t)pk->kpc_head;

		d_pt = kb_delta(pk->mem.pagetables, R.before->pagetables);
		d_slab = kb_delta(pk->mem.slab, R.before->slab);
		d_sunr = kb_delta(pk->mem.sunreclaim, R.before->sunreclaim);
		if (pk->kpc_err) {
			add_failure("cannot read kpagecount of the page: %s; ",
				    strerror(-pk->kpc_err));
		} else {
			wrapped = h < 0 || h > INT_MAX ||
				  (int64_t)pk->kpc_tail < 0 ||
				  pk->kpc_tail > INT_MAX;
			if (wrapped)
				add_failure("kpagecount %" PRId64
					    " looks wrapped; ",
					    h);
			if (pk->kpc_head != (uint64_t)pk->model_mapcount ||
			    pk->kpc_tail != (uint64_t)pk->model_mapcount)
				add_failure("kpagecount head %" PRIu64
					    " tail %" PRIu64 " != model %ld; ",
					    pk->kpc_head, pk->kpc_tail,
					    pk->model_mapcount);
		}
		if (!pk->rollup_err) {
			shared_kb = pk->rollup.val[HT_SMAPS_SHARED_HUGETLB];
			private_kb = pk->rollup.val[HT_SMAPS_PRIVATE_HUGETLB];
			/* mapcount > 1: every VMA of the page counts as shared. */
			shared_model = pk->model_mapcount > 1 ?
					       pk->rollup_maps *
						       (long)(o.psize / HT_KB) :
					       0;
			if (shared_kb != shared_model ||
			    private_kb != (pk->model_mapcount > 1 ?
						   0 :
						   (long)(pk->rollup_maps *
							  (o.psize / HT_KB))))
				add_failure(
					"smaps_rollup of pid %d: Shared_Hugetlb %ld kB Private_Hugetlb %ld kB, model %ld kB shared; ",
					pk->pid, shared_kb, private_kb,
					shared_model);
		} else if (pk->pid) {
			add_failure("cannot read smaps_rollup of pid %d: %s; ",
				    pk->pid, strerror(-pk->rollup_err));
		}
		if (mg->requested && !mg->skip && !mg->ret &&
		    mg->kpc_after != (uint64_t)pk->model_mapcount)
			add_failure("kpagecount after migration %" PRIu64
				    " != model %ld; ",
				    mg->kpc_after, pk->model_mapcount);
		migrate_failures(pk, mg);
	}
	if (refused)
		sig_or_errno(sh->refusal.err, sh->refusal.sig, rbuf,
			     sizeof(rbuf));

	if (R.interrupted) {
		verdict = "INTERRUPTED";
		code = EXIT_FAIL;
	} else if (R.failures[0]) {
		verdict = "FAIL";
		code = EXIT_FAIL;
	} else {
		verdict = "PASS";
		code = EXIT_PASS;
	}

	printf("stress: %ld mappings (%ld processes) in %.3f s = %.0f mappings/s",
	       maps, o.procs, R.stress_ns / 1e9, R.stress_rate);
	if (R.base_rate > 0)
		printf("; ratio to baseline %.2f (%.3f per process)\n",
		       R.stress_rate / R.base_rate,
		       R.stress_rate / R.base_rate / o.procs);
	else
		printf("; no baseline\n");
	if (o.fork_mode)
		printf("fork: %ld forks of a process with %ld VMAs took %.3f s (%.2f ms each)\n",
		       o.procs - 1, sh->s[0].maps, sh->s[0].fork_ns / 1e9,
		       o.procs > 1 ? sh->s[0].fork_ns / 1e6 / (o.procs - 1) :
				     0.0);
	if (pk->done) {
		printf("peak: kpagecount %" PRIu64 " (tail %" PRIu64
		       "), model mapcount %ld; expected refcount %ld (%lu page cache + %ld mappings x %ld; not visible from user space)\n",
		       pk->kpc_head, pk->kpc_tail, pk->model_mapcount,
		       pk->model_refs, o.psize / ht_base_page_size(), pk->maps,
		       refs_per_map);
		printf("peak: smaps_rollup pid %d (%ld mappings): Shared_Hugetlb %ld kB, Private_Hugetlb %ld kB (model %ld kB shared)\n",
		       pk->pid, pk->rollup_maps, shared_kb, private_kb,
		       shared_model);
		printf("memory: PageTables %+ld kB (estimate %lu kB), Slab %+ld kB, SUnreclaim %+ld kB (estimate VMAs %lu kB); %.0f bytes Slab per mapping; MemAvailable %lu -> %lu MiB\n",
		       d_pt, R.est->table_bytes / 1024, d_slab, d_sunr,
		       R.est->vma_bytes / 1024,
		       pk->maps ? d_slab * 1024.0 / pk->maps : 0.0,
		       R.before->avail / 1024, pk->mem.avail / 1024);
	}
	if (refused)
		printf("refusal: first at mapping %ld of mapper %d (%ld references in the run): %s %s\n",
		       sh->refusal.index, sh->refusal.slot,
		       sh->refusal.total_at, sh->refusal.what, rbuf);
	else
		printf("refusal: none\n");
	if (mg->requested) {
		if (mg->skip)
			printf("migration: skipped: %s\n", mg->skip);
		else
			printf("migration: move_pages(MOVE_ALL) pid %d node %d -> %d: %s, status %d, %.3f ms, page now on node %d, kpagecount %" PRIu64
			       "; numastat -p Huge: %s; migratepages back: %.3f ms, node %d, numastat: %s\n",
			       mg->pid, mg->from, mg->to,
			       mg->ret ? strerror(-mg->ret) : "ok", mg->status,
			       mg->move_ms, mg->node_after, mg->kpc_after,
			       mg->numastat_after, mg->back_ms, mg->node_back,
			       mg->numastat_back);
		if (!mg->skip)
			migrate_print_rounds(mg);
	}
	if (hw->requested) {
		if (hw->skip)
			printf("hwpoison: skipped: %s\n", hw->skip);
		else
			printf("hwpoison: MADV_HWPOISON %s, SIGBUS si_code %d, %.3f ms; kpagecount after %" PRIu64
			       "\n",
			       hw->ret ? strerror(-hw->ret) : "ok", hw->code,
			       hw->ms, hw->kpc_after);
	}
	printf("teardown: %.3f s; %s pool free %lu -> %lu, nr %lu -> %lu; vm.max_map_count %lu -> %lu; processes left %d\n",
	       R.teardown_s, ht_size_name(o.psize), R.pool_before->free,
	       R.pool_after->free, R.pool_before->nr, R.pool_after->nr,
	       R.map_count_orig, R.map_count_after, R.left);
	printf("kmsg: %s", R.kmsg[0] ? R.kmsg : "no complaints\n");
	printf("verdict: %s%s%s\n", verdict, R.failures[0] ? ": " : "",
	       R.failures);

	if (!o.json)
		return code;
	f = fopen(o.json, "w");
	if (!f) {
		fprintf(stderr, "refcount_stress: %s: %s\n", o.json,
			strerror(errno));
		return EXIT_FAIL;
	}
	fprintf(f, "{\n  \"verdict\": ");
	ht_json_str(f, verdict);
	fprintf(f, ",\n  \"failures\": ");
	ht_json_str(f, R.failures);
	fprintf(f,
		",\n  \"config\": {\"processes\": %ld, \"vmas_per_process\": %ld, \"page_size\": %lu, \"granularity\": \"%s\", \"populate\": \"%s\", \"fork\": %s, \"target\": %lu, \"time_limit\": %g, \"max_map_count\": %lu, \"raised_map_count\": %s},\n",
		o.procs, o.vmas, o.psize, ht_gran_name(o.gran),
		pop_names[o.pop], o.fork_mode ? "true" : "false", o.target,
		o.time_limit, R.map_count_orig,
		o.raise_map_count ? "true" : "false");
	fprintf(f,
		"  \"estimate\": {\"vmas\": %lu, \"vma_bytes\": %lu, \"pmd_tables\": %lu, \"pud_tables\": %lu, \"pte_tables\": %lu, \"table_bytes\": %lu, \"total_bytes\": %lu, \"mem_available_kb\": %lu},\n",
		R.est->vmas, R.est->vma_bytes, R.est->pmd_tables,
		R.est->pud_tables, R.est->pte_tables, R.est->table_bytes,
		R.est->total_bytes, R.before->avail);
	fprintf(f,
		"  \"baseline\": {\"mappings\": %ld, \"seconds\": %.6f, \"rate\": %.1f},\n",
		o.baseline ? sh->s[o.procs].maps : 0, R.base_ns / 1e9,
		R.base_rate);
	fprintf(f,
		"  \"stress\": {\"mappings\": %ld, \"seconds\": %.6f, \"rate\": %.1f, \"ratio_to_baseline\": %.4f, \"fork_seconds\": %.6f},\n",
		maps, R.stress_ns / 1e9, R.stress_rate,
		R.base_rate > 0 ? R.stress_rate / R.base_rate : 0.0,
		sh->s[0].fork_ns / 1e9);
	if (pk->done)
		fprintf(f,
			"  \"peak\": {\"mappings\": %ld, \"model_mapcount\": %ld, \"model_refcount\": %ld, \"kpagecount\": %" PRIu64
			", \"kpagecount_tail\": %" PRIu64
			", \"wrapped\": %s, \"pid\": %d, \"pid_mappings\": %ld, \"shared_hugetlb_kb\": %ld, \"private_hugetlb_kb\": %ld, \"shared_hugetlb_model_kb\": %ld, \"pagetables_delta_kb\": %ld, \"slab_delta_kb\": %ld, \"sunreclaim_delta_kb\": %ld, \"mem_available_kb\": %lu},\n",
			pk->maps, pk->model_mapcount, pk->model_refs,
			pk->kpc_head, pk->kpc_tail, wrapped ? "true" : "false",
			pk->pid, pk->rollup_maps, shared_kb, private_kb,
			shared_model, d_pt, d_slab, d_sunr, pk->mem.avail);
	else
		fprintf(f, "  \"peak\": null,\n");
	if (refused) {
		fprintf(f,
			"  \"refusal\": {\"mapper\": %d, \"index\": %ld, \"references\": %ld, \"what\": ",
			sh->refusal.slot, sh->refusal.index,
			sh->refusal.total_at);
		ht_json_str(f, sh->refusal.what);
		fprintf(f, ", \"errno\": %d, \"signal\": %d},\n",
			sh->refusal.err, sh->refusal.sig);
	} else {
		fprintf(f, "  \"refusal\": null,\n");
	}
	fprintf(f, "  \"migration\": ");
	if (!mg->requested) {
		fprintf(f, "null");
	} else if (mg->skip) {
		fprintf(f, "{\"skipped\": ");
		ht_json_str(f, mg->skip);
		fprintf(f, "}");
	} else {
		fprintf(f,
			"{\"from\": %d, \"to\": %d, \"errno\": %d, \"status\": %d, \"move_ms\": %.3f, \"node_after\": %d, \"kpagecount_after\": %" PRIu64
			", \"numastat_after\": ",
			mg->from, mg->to, -mg->ret, mg->status, mg->move_ms,
			mg->node_after, mg->kpc_after);
		ht_json_str(f, mg->numastat_after);
		fprintf(f,
			", \"migratepages_ms\": %.3f, \"node_back\": %d, \"numastat_back\": ",
			mg->back_ms, mg->node_back);
		ht_json_str(f, mg->numastat_back);
		migrate_json_rounds(f, mg);
		fprintf(f, "}");
	}
	fprintf(f, ",\n  \"hwpoison\": ");
	if (!hw->requested) {
		fprintf(f, "null");
	} else if (hw->skip) {
		fprintf(f, "{\"skipped\": ");
		ht_json_str(f, hw->skip);
		fprintf(f, "}");
	} else {
		fprintf(f,
			"{\"errno\": %d, \"si_code\": %d, \"ms\": %.3f, \"kpagecount_after\": %" PRIu64
			"}",
			-hw->ret, hw->code, hw->ms, hw->kpc_after);
	}
	fprintf(f,
		",\n  \"teardown\": {\"seconds\": %.6f, \"pool_free_before\": %lu, \"pool_free_after\": %lu, \"pool_nr_before\": %lu, \"pool_nr_after\": %lu, \"max_map_count_after\": %lu, \"processes_left\": %d},\n",
		R.teardown_s, R.pool_before->free, R.pool_after->free,
		R.pool_before->nr, R.pool_after->nr, R.map_count_after, R.left);
	fprintf(f, "  \"kmsg\": ");
	ht_json_str(f, R.kmsg);
	fprintf(f, "\n}\n");
	fclose(f);
	return code;
}

int main(int argc, char **argv)
{
	struct ht_needs needs = { 0 };
	struct ht_env env;
	struct ht_kmem_est est;
	struct meminfo_snap before;
	struct ht_pool pool_before, pool_after;
	struct peak pk = { 0 };
	struct migr mg = { 0 };
	struct hwp hw = { 0 };
	struct mapper_arg args[MAX_PROCS];
	char failures[8192] = "", kmsg[16384] = "", why[320] = "", buf[96];
	unsigned long map_count_orig = 0, map_count_after = 0, need_count = 0;
	long own_vmas, per_proc_max, t_stress0, base_ns = 0, stress_ns = 0;
	double teardown_s = 0, base_rate = 0, stress_rate = 0;
	int kmsg_fd, ret, left, interrupted = 0, died = 0, nk;
	const char *r;
	struct sigaction sa;
	size_t shsize;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	progress_tty = isatty(STDERR_FILENO);
	if (!o.psize)
		o.psize = ht_default_page_size();
	if ((r = ht_probe_page_size(o.psize))) {
		printf("skip: not supported: %s\n", r);
		return EXIT_SKIP;
	}
	if (o.gran == HT_GRAN_HGM) {
		if ((r = ht_probe_hgm(o.psize))) {
			printf("not supported: %s\n", r);
			return EXIT_SKIP;
		}
	}
	if (o.pop == POP_CONTINUE && (r = ht_probe_uffd_minor_hugetlb())) {
		printf("not supported: %s\n", r);
		return EXIT_SKIP;
	}
	if (!ht_has_cap(21)) {
		printf("skip: needs CAP_SYS_ADMIN (pools, sysctls, /proc/kpagecount): run as root\n");
		return EXIT_SKIP;
	}

	/* VMAs per process: what vm.max_map_count leaves a forked mapper. */
	if (ht_read_ulong(MAP_COUNT_SYSCTL, &map_count_orig)) {
		printf("skip: cannot read vm.max_map_count\n");
		return EXIT_SKIP;
	}
	own_vmas = ht_vma_count(0);
	if (own_vmas < 0)
		own_vmas = 64;
	per_proc_max = (long)map_count_orig - own_vmas - VMA_SLACK;
	if (o.raise_map_count) {
		need_count = o.raise_to ? o.raise_to :
					  (unsigned long)(o.vmas + own_vmas +
							  VMA_SLACK);
		if (need_count <= map_count_orig)
			o.raise_map_count = false; /* nothing to raise */
		else
			per_proc_max = (long)need_count - own_vmas - VMA_SLACK;
	}
	if (!o.vmas)
		o.vmas = per_proc_max;
	if (o.vmas > per_proc_max)
		usage_error(
			"--vmas %ld: vm.max_map_count %lu leaves %ld per process; add --raise-map-count",
			o.vmas, o.raise_map_count ? need_count : map_count_orig,
			per_proc_max);
	if (o.vmas < 1)
		usage_error("vm.max_map_count %lu leaves no VMA per process",
			    map_count_orig);
	sh = NULL;
	nslots = (int)o.procs + 1; /* + the baseline's */
	o.target = o.target ? o.target : 0;

	/* The memory the run needs, refused up front. */
	ht_kmem_estimate(o.procs, o.vmas, o.psize, o.gran, &est);
	meminfo_snap(&before);
	{
		unsigned long pages = 1 + (o.migrate ? 1 : 0);
		unsigned long pool_bytes = 0;

		/* Also the "before" of the leftover check at the end. */
		if (!ht_pool_read(o.psize, -1, &pool_before) &&
		    pool_before.free < pages)
			pool_bytes = (pages - pool_before.free) * o.psize;
		if ((est.total_bytes + pool_bytes) / HT_KB * 5 / 4 >
		    before.avail) {
			printf("refusing: the run needs ~%lu MiB of kernel memory (%lu VMAs x %.2f KiB = %lu MiB, %lu page tables = %lu MiB, %ld processes = %lu MiB) + %lu MiB of huge pages, with 25%% headroom; MemAvailable is %lu MiB\n",
			       est.total_bytes >> 20, est.vmas,
			       HT_KMEM_VMA_BYTES / 1024.0, est.vma_bytes >> 20,
			       est.pte_tables + est.pmd_tables + est.pud_tables,
			       est.table_bytes >> 20, o.procs,
			       est.proc_bytes >> 20, pool_bytes >> 20,
			       before.avail / 1024);
			return EXIT_SKIP;
		}
	}

	kmsg_fd = ht_kmsg_open();
	needs.page_size = o.psize;
	needs.pages = 1;
	if (o.raise_map_count)
		needs.sysctls[0] = "vm.max_map_count";
	r = ht_setup(&needs, &env);
	if (r) {
		printf("%s: %s\n", strncmp(r, "error", 5) ? "skip" : "fail", r);
		return strncmp(r, "error", 5) ? EXIT_SKIP : EXIT_FAIL;
	}

	/* From here every exit path goes through the restore below. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Before the hugetlb file exists, so that the guard holds no page. */
	ht_guard_start(&guard, &env, 100);
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	shsize = sizeof(*sh) + nslots * sizeof(struct slot);
	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		sh = NULL;
		snprintf(failures, sizeof(failures), "mmap shared state: %s; ",
			 strerror(errno));
		goto restore;
	}
	if (o.raise_map_count && ht_write_ulong(MAP_COUNT_SYSCTL, need_count)) {
		snprintf(failures, sizeof(failures),
			 "cannot raise vm.max_map_count to %lu; ", need_count);
		goto restore;
	}
	ret = ht_file_create(&file, o.psize, o.psize);
	if (!ret)
		ret = ht_file_fill(&file, 0, o.psize, FILL_SEED);
	if (ret) {
		snprintf(failures, sizeof(failures),
			 "hugetlb file of one %s page: %s; ",
			 ht_size_name(o.psize), strerror(-ret));
		goto restore;
	}

	printf("refcount_stress: %ld processes x %ld VMAs, %s page, %s, populate=%s%s%s\n",
	       o.procs, o.vmas, ht_size_name(o.psize), ht_gran_name(o.gran),
	       pop_names[o.pop], o.fork_mode ? ", fork mode" : "",
	       o.raise_map_count ? ", vm.max_map_count raised" : "");
	printf("estimate: %lu VMAs x %.2f KiB = %lu MiB; page tables %lu PMD + %lu PUD + %lu PTE = %lu MiB; processes %lu MiB; MemAvailable %lu MiB\n",
	       est.vmas, HT_KMEM_VMA_BYTES / 1024.0, est.vma_bytes >> 20,
	       est.pmd_tables, est.pud_tables, est.pte_tables,
	       est.table_bytes >> 20, est.proc_bytes >> 20,
	       before.avail / 1024);

	/* Baseline: one process, the same loop and count, on its own. */
	if (o.baseline) {
		int bs = (int)o.procs;

		args[bs] = (struct mapper_arg){ .slot = bs, .nmaps = o.vmas };
		nkids = 1;
		if (ht_spawn(&kids[0], mapper_fn, &args[bs]) == 0) {
			sh->s[bs].pid = kids[0].pid;
			wait_phase("baseline", bs, 1, ht_now_ns());
			if (sh->s[bs].state == 1 && sh->s[bs].maps > 0) {
				base_ns = sh->s[bs].t_end - sh->s[bs].t_start;
				base_rate = sh->s[bs].maps / (base_ns / 1e9);
			}
			teardown_procs(300);
		}
		nkids = 0;
		/* The baseline's refusal is its own, not the stress's. */
		if (sh->refusal_claimed && sh->refusal.slot == bs) {
			printf("baseline: refused at mapping %ld: %s %s\n",
			       sh->refusal.index, sh->refusal.what,
			       sig_or_errno(sh->refusal.err, sh->refusal.sig,
					    buf, sizeof(buf)));
			memset(&sh->refusal, 0, sizeof(sh->refusal));
			sh->refusal_claimed = 0;
		}
		sh->total_refs = 0;
		printf("baseline: 1 process, %ld mappings in %.3f s = %.0f mappings/s\n",
		       sh->s[bs].maps, base_ns / 1e9, base_rate);
	}
	if (got_signal) {
		interrupted = 1;
		goto teardown;
	}

	/* The stress. */
	meminfo_snap(&before);
	sh->target_refs = (long)o.target;
	t_stress0 = ht_now_ns();
	if (o.time_limit)
		sh->deadline = t_stress0 + (long)(o.time_limit * 1e9);
	nk = o.fork_mode ? 1 : (int)o.procs;
	for (int i = 0; i < nk; i++) {
		args[i] = (struct mapper_arg){ .slot = i, .nmaps = o.vmas };
		ret = ht_spawn(&kids[i], o.fork_mode ? leader_fn : mapper_fn,
			       &args[i]);
		if (ret) {
			snprintf(failures + strlen(failures),
				 sizeof(failures) - strlen(failures),
				 "fork of mapper %d: %s; ", i, strerror(-ret));
			for (int j = i; j < (int)o.procs; j++)
				sh->s[j].state = -1;
			break;
		}
		sh->s[i].pid = kids[i].pid;
		nkids = i + 1;
		if (got_signal)
			break;
		progress("stress", 0, (int)o.procs, t_stress0, false);
	}
	if (got_signal)
		for (int j = nkids; j < (int)o.procs; j++)
			sh->s[j].state = -1;
	wait_phase("stress", 0, (int)o.procs, t_stress0);
	{
		long s0 = 0, s1 = 0;

		for (int i = 0; i < o.procs; i++) {
			if (!sh->s[i].t_start)
				continue;
			if (!s0 || sh->s[i].t_start < s0)
				s0 = sh->s[i].t_start;
			if (sh->s[i].t_end > s1)
				s1 = sh->s[i].t_end;
		}
		/*
		 * Wall time from the first mapping to the last, as the
		 * baseline's is measured: fork and exec costs are left out.
		 */
		stress_ns = s1 > s0 ? s1 - s0 : 0;
		if (stress_ns)
			stress_rate = total_maps(0, (int)o.procs, false) /
				      (stress_ns / 1e9);
	}
	for (int i = 0; i < o.procs; i++)
		if (sh->s[i].state == -1 && sh->s[i].pid > 0) {
			int st = sh->s[i].status;

			died++;
			snprintf(
				failures + strlen(failures),
				sizeof(failures) - strlen(failures),
				"mapper %d (pid %d) died (%s %d) after %ld mappings; ",
				i, sh->s[i].pid,
				WIFSIGNALED(st) ? "signal" : "exit",
				WIFSIGNALED(st) ? WTERMSIG(st) :
						  WEXITSTATUS(st),
				sh->s[i].maps);
		}
	if (got_signal) {
		interrupted = 1;
		goto teardown;
	}

	measure_peak(&pk);
	if (o.migrate)
		do_migrate(&pk, &mg);
	if (o.hwpoison)
		do_hwpoison(&pk, &hw);

teardown:
	teardown_s = teardown_procs(600);
restore:
	ht_file_close(&file);
	left = sh ? leftover_procs() : 0;
	ret = ht_teardown(&env, why, sizeof(why));
	ht_guard_stop(&guard);
	if (ret)
		snprintf(failures + strlen(failures),
			 sizeof(failures) - strlen(failures),
			 "not restored: %s; ", why);
	ht_read_ulong(MAP_COUNT_SYSCTL, &map_count_after);
	ht_pool_read(o.psize, -1, &pool_after);
	if (map_count_after != map_count_orig)
		snprintf(failures + strlen(failures),
			 sizeof(failures) - strlen(failures),
			 "vm.max_map_count %lu, was %lu; ", map_count_after,
			 map_count_orig);
	if (pool_after.free != pool_before.free ||
	    pool_after.nr != pool_before.nr)
		snprintf(failures + strlen(failures),
			 sizeof(failures) - strlen(failures),
			 "%s pool: free %lu -> %lu, nr %lu -> %lu; ",
			 ht_size_name(o.psize), pool_before.free,
			 pool_after.free, pool_before.nr, pool_after.nr);
	if (left)
		snprintf(failures + strlen(failures),
			 sizeof(failures) - strlen(failures),
			 "%d processes left after teardown; ", left);
	if (kmsg_fd >= 0 && ht_kmsg_complaints(kmsg_fd, kmsg, sizeof(kmsg)) > 0)
		snprintf(failures + strlen(failures),
			 sizeof(failures) - strlen(failures),
			 "kernel log complaints during the run; ");
	if (!sh) {
		printf("verdict: FAIL: %s\n", failures);
		return EXIT_FAIL;
	}
	R.pk = &pk;
	R.mg = &mg;
	R.hw = &hw;
	R.est = &est;
	R.before = &before;
	R.pool_before = &pool_before;
	R.pool_after = &pool_after;
	R.base_ns = base_ns;
	R.base_rate = base_rate;
	R.stress_ns = stress_ns;
	R.stress_rate = stress_rate;
	R.teardown_s = teardown_s;
	R.failures = failures;
	R.kmsg = kmsg;
	R.interrupted = interrupted;
	R.map_count_orig = map_count_orig;
	R.map_count_after = map_count_after;
	R.left = left;
	(void)died;
	return report();
}
