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
#include <inttypes.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <numaif.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ht.h"
#include "skel.h"

#define MAX_PROCS 4096
#define MAP_COUNT_SYSCTL "/proc/sys/vm/max_map_count"
/* VMAs a mapper needs besides its mappings: the reserve's remainder, slack. */
#define VMA_SLACK 8
#define MAX_MIGRATE_ROUNDS 100
/* The page's stamps, checked through a mapper after migration. */
#define FILL_SEED 1

enum populate { POP_FAULT, POP_READ, POP_WRITE, POP_CONTINUE };
static const char *const pop_names[] = { "fault", "read", "write", "continue",
					 NULL };
static const char *const
	gran_names[] = { [HT_GRAN_HUGE] = "huge", [HT_GRAN_HGM] = "hgm", NULL };

enum cmd { CMD_EXIT = 100, CMD_HWPOISON };

struct opts {
	long procs;
	long vmas; /* 0: as many as vm.max_map_count allows */
	unsigned long psize; /* 0: the default huge page size */
	int gran; /* enum ht_gran */
	int pop; /* enum populate */
	bool pop_given;
	bool fork_mode;
	bool raise_map_count;
	long raise_to; /* 0: what --vmas needs */
	long target; /* references; 0: none */
	long pieces; /* hgm: base pages per VMA; 0: every one */
	double time_limit; /* seconds; 0: none */
	const char *json;
	bool migrate, hwpoison, baseline;
	long migrate_rounds; /* move_pages samples at the peak */
};

static struct opts o;

/* The options: getopt's table, --help and stress/README.md come from here. */
static const struct sk_opt opts[] = {
	{ .name = "processes",
	  .short_opt = 'p',
	  .kind = SK_COUNT,
	  .arg = "N",
	  .def = "64",
	  .min = 1,
	  .max = MAX_PROCS - 1,
	  .help = "mapping processes",
	  .target = &o.procs },
	{ .name = "vmas",
	  .short_opt = 'v',
	  .kind = SK_COUNT,
	  .arg = "N",
	  .def_help = "what vm.max_map_count leaves",
	  .min = 1,
	  .max = 1L << 30,
	  .help = "VMAs per process",
	  .target = &o.vmas },
	{ .name = "raise-map-count",
	  .kind = SK_COUNT,
	  .arg = "N",
	  .optional = true,
	  .min = 1,
	  .max = INT_MAX,
	  .help = "raise vm.max_map_count to fit --vmas (or to N);\n"
		  "restored at exit",
	  .target = &o.raise_to,
	  .given = &o.raise_map_count },
	{ .name = "page-size",
	  .short_opt = 's',
	  .kind = SK_SIZE,
	  .arg = "SIZE",
	  .def_help = "the default huge page size",
	  .help = "2M, 1G or bytes",
	  .target = &o.psize },
	{ .name = "granularity",
	  .short_opt = 'g',
	  .kind = SK_ENUM,
	  .arg = "G",
	  .def = "huge",
	  .choices = gran_names,
	  .target = &o.gran,
	  .help = "huge (one PMD/PUD entry per VMA) | hgm (MADV_SPLIT\n"
		  "+ 4 KiB UFFDIO_CONTINUE per VMA; skips without HGM)" },
	{ .name = "populate",
	  .short_opt = 'm',
	  .kind = SK_ENUM,
	  .arg = "HOW",
	  .def = "fault",
	  .choices = pop_names,
	  .target = &o.pop,
	  .given = &o.pop_given,
	  .help = "fault (read touch) | read (MADV_POPULATE_READ)\n"
		  "| write (MADV_POPULATE_WRITE) | continue (uffd\n"
		  "MINOR + UFFDIO_CONTINUE); hgm implies continue" },
	{ .name = "pieces",
	  .kind = SK_COUNT,
	  .arg = "N",
	  .min = 1,
	  .max = LONG_MAX,
	  .def_help = "every piece",
	  .target = &o.pieces,
	  .help = "hgm: CONTINUE N 4 KiB pieces per VMA, spread\n"
		  "evenly over the huge page (a 1 GiB page at every\n"
		  "piece costs 513 page tables per VMA)" },
	{ .name = "fork",
	  .short_opt = 'f',
	  .kind = SK_FLAG,
	  .flag_value = true,
	  .target = &o.fork_mode,
	  .help = "process 0 maps, then forks the others, which\n"
		  "populate the inherited VMAs (fork copies no page\n"
		  "tables of shared hugetlb VMAs)" },
	{ .name = "target",
	  .short_opt = 'T',
	  .kind = SK_COUNT,
	  .arg = "N",
	  .min = 1,
	  .max = LONG_MAX,
	  .target = &o.target,
	  .help = "stop when the page has N references from mappings" },
	{ .name = "time",
	  .short_opt = 't',
	  .kind = SK_SECONDS,
	  .arg = "SECONDS",
	  .target = &o.time_limit,
	  .help = "stop mapping after SECONDS (still measures and\n"
		  "tears down)" },
	{ .name = "json",
	  .short_opt = 'j',
	  .kind = SK_FILE,
	  .arg = "FILE",
	  .help = "the report as JSON",
	  .target = &o.json },
	{ .name = "migrate",
	  .kind = SK_FLAG,
	  .flag_value = true,
	  .target = &o.migrate,
	  .help = "time move_pages(MPOL_MF_MOVE_ALL) of the page at\n"
		  "the peak, check with `numastat -p`, time\n"
		  "`migratepages` back (needs 2 nodes)" },
	{ .name = "migrate-rounds",
	  .kind = SK_COUNT,
	  .arg = "R",
	  .def = "1",
	  .show_max = true,
	  .min = 1,
	  .max = MAX_MIGRATE_ROUNDS,
	  .target = &o.migrate_rounds,
	  .given = &o.migrate,
	  .help = "R move_pages(MOVE_ALL) of the page (alternating\n"
		  "nodes; the first is --migrate's): median and min;\n"
		  "implies --migrate" },
	{ .name = "hwpoison",
	  .kind = SK_FLAG,
	  .flag_value = true,
	  .target = &o.hwpoison,
	  .help = "time MADV_HWPOISON of the page at the peak (needs\n"
		  "CONFIG_MEMORY_FAILURE and HT_ALLOW_DESTRUCTIVE=1)" },
	{ .name = "no-baseline",
	  .kind = SK_FLAG,
	  .flag_value = false,
	  .target = &o.baseline,
	  .help = "skip the single-process baseline" },
	{ 0 }
};

static const struct sk_prog prog = {
	.name = "refcount_stress",
	.about =
		"Map one huge page from many VMAs in many processes and check that its\n"
		"reference count holds (kpagecount = model) or is refused before it wraps.\n",
	.exits =
		"Exit: 0 pass (held, or refused before overflow), 1 fail (wrapped or wrong\n"
		"count, kernel WARN/BUG, leftovers), 2 bad usage, 4 skip (missing feature,\n"
		"memory, root).\n",
	.opts = opts,
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

static struct shared *sh;
static int nslots;
static struct ht_file file;
/*
 * References and mapcount one mapping adds: one per (VMA, folio) at either
 * granularity (our HGM counts a split huge page once, not once per PTE).
 */
static long refs_per_map = 1;

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

/* 4 KiB pieces each VMA maps: --pieces at hgm, else the whole page. */
static unsigned long mapped_pieces(void)
{
	unsigned long n = o.psize / ht_base_page_size();

	return o.pieces && (unsigned long)o.pieces < n ?
		       (unsigned long)o.pieces :
		       n;
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
			size_t n = mapped_pieces(), step = o.psize / ps / n;

			for (size_t k = 0; !ret && k < n; k++)
				ret = ht_uffd_continue(uffd, a + k * step * ps,
						       ps);
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

/* The pools and vm.max_map_count, restored also if the supervisor is killed. */
static struct sk_run run;

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
		if (sk_got_signal)
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
			if (sh->s[i].pid > 0 && sh->s[i].pid != run.guard.pid &&
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
	const char *skip; /* a literal or @why: reported after the run */
	char why[HT_WHY_LEN];
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

/*
 * The moves after the first: each one must leave the count of the model
 * at head and tail, whichever granularity restored the mappings.  A move
 * the kernel refuses ends the rounds; it is reported, not judged, like
 * the first move's.
 */
static void migrate_rounds(struct peak *pk, struct migr *m)
{
	size_t pieces = o.psize / ht_base_page_size();
	double ms;
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
	sk_median_min(m->moves_ms, m->nmoves, &m->median_ms, &m->min_ms);
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
	if ((m->skip = ht_probe_nodes_r(2, m->why, sizeof(m->why))))
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

/* ---- the run's figures, checks and report ---- */

/* What the run measured, for the checks and the report. */
static struct {
	struct peak pk;
	struct migr mg;
	struct hwp hw;
	struct ht_kmem_est est;
	struct meminfo_snap before;
	struct ht_pool pool_before, pool_after;
	long base_ns, stress_ns;
	double base_rate, stress_rate, teardown_s;
	bool poison_kept; /* the poisoned page stays in use, out of Free */
	unsigned long map_count_orig, map_count_after, need_count;
	int left;
	/* from the peak, by check_peak() */
	long shared_model, shared_kb, private_kb, d_pt, d_slab, d_sunr;
	bool wrapped;
} R = { .shared_kb = -1, .private_kb = -1 };

static struct sk_report rep;

static long kb_delta(unsigned long after, unsigned long before)
{
	return (long)after - (long)before;
}

/* kpagecount at the peak: the model's, not wrapped. */
static void check_kpagecount(struct peak *pk)
{
	int64_t h = (int64_t)pk->kpc_head;

	if (pk->kpc_err) {
		sk_fail(&rep, "cannot read kpagecount of the page: %s",
			strerror(-pk->kpc_err));
		return;
	}
	R.wrapped = h < 0 || h > INT_MAX || (int64_t)pk->kpc_tail < 0 ||
		    pk->kpc_tail > INT_MAX;
	if (R.wrapped)
		sk_fail(&rep, "kpagecount %" PRId64 " looks wrapped", h);
	if (pk->kpc_head != (uint64_t)pk->model_mapcount ||
	    pk->kpc_tail != (uint64_t)pk->model_mapcount)
		sk_fail(&rep,
			"kpagecount head %" PRIu64 " tail %" PRIu64
			" != model %ld",
			pk->kpc_head, pk->kpc_tail, pk->model_mapcount);
}

/* smaps_rollup of one mapper: mapcount > 1 makes every VMA shared. */
static void check_rollup(struct peak *pk)
{
	/*
	 * The page model: pid's VMAs and everyone else's pairs; smaps counts
	 * what each VMA maps (--pieces of 4 KiB at HGM).
	 */
	unsigned long n = o.psize / ht_base_page_size(), shared_kb, private_kb;
	struct ht_page_model pm;

	ht_model_init(&pm, o.psize, -1);
	ht_model_map_pieces(&pm, pk->pid, (int)pk->rollup_maps,
			    mapped_pieces() < n ? mapped_pieces() : 0);
	ht_model_map(&pm, -1, (int)(pk->model_mapcount - pk->rollup_maps));
	ht_model_smaps_kb(&pm, pk->pid, &shared_kb, &private_kb);
	if (pk->rollup_err) {
		if (pk->pid)
			sk_fail(&rep, "cannot read smaps_rollup of pid %d: %s",
				pk->pid, strerror(-pk->rollup_err));
		return;
	}
	R.shared_kb = pk->rollup.val[HT_SMAPS_SHARED_HUGETLB];
	R.private_kb = pk->rollup.val[HT_SMAPS_PRIVATE_HUGETLB];
	R.shared_model = (long)shared_kb;
	if (R.shared_kb != (long)shared_kb || R.private_kb != (long)private_kb)
		sk_fail(&rep,
			"smaps_rollup of pid %d: Shared_Hugetlb %ld kB Private_Hugetlb %ld kB, model %ld kB shared",
			pk->pid, R.shared_kb, R.private_kb, R.shared_model);
}

/* What the moves after the first broke (migrate_rounds, migrate_verify). */
static void migrate_failures(struct peak *pk, struct migr *mg)
{
	long pieces = (long)(o.psize / ht_base_page_size());

	if (!mg->requested || mg->skip)
		return;
	if (mg->kpc_bad_move)
		sk_fail(&rep,
			"kpagecount after move %d: head %" PRIu64
			" tail %" PRIu64 " != model %ld",
			mg->kpc_bad_move, mg->kpc_bad_head, mg->kpc_bad_tail,
			pk->model_mapcount);
	if (mg->present != pieces)
		sk_fail(&rep, "after migration pid %d maps %ld of %ld pieces",
			pk->pid, mg->present, pieces);
	if (mg->read_err)
		sk_fail(&rep,
			"cannot read the page through pid %d after migration: %s",
			pk->pid, strerror(-mg->read_err));
	if (mg->bad_offset >= 0)
		sk_fail(&rep,
			"after migration pid %d reads a wrong byte at offset %ld",
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
	printf("migration rounds: %d of %ld moves, median %.3f ms, min %.3f ms%s; after them: %ld pieces mapped, contents %s\n",
	       mg->nmoves, o.migrate_rounds, mg->median_ms, mg->min_ms, stop,
	       mg->present,
	       mg->bad_offset >= 0 ? "WRONG" :
	       mg->read_err	   ? "unread" :
				     "as written");
}

/*
 * MADV_HWPOISON of the first 4 KiB: a huge mapping loses the page, every
 * VMA's reference with it; an HGM VMA loses only that piece and keeps its
 * one reference while another piece of the page is mapped in it.
 */
static void check_hwpoison(const struct peak *pk, const struct hwp *h)
{
	uint64_t want = 0;

	if (!h->requested || h->skip || h->ret)
		return;
	if (o.gran == HT_GRAN_HGM && mapped_pieces() > 1)
		want = (uint64_t)pk->model_mapcount;
	if (h->kpc_after != want)
		sk_fail(&rep,
			"kpagecount after hwpoison %" PRIu64
			" != model %" PRIu64,
			h->kpc_after, want);
}

static void check_peak(void)
{
	struct peak *pk = &R.pk;
	struct migr *mg = &R.mg;

	if (!pk->done)
		return;
	R.d_pt = kb_delta(pk->mem.pagetables, R.before.pagetables);
	R.d_slab = kb_delta(pk->mem.slab, R.before.slab);
	R.d_sunr = kb_delta(pk->mem.sunreclaim, R.before.sunreclaim);
	check_kpagecount(pk);
	check_rollup(pk);
	if (mg->requested && !mg->skip && !mg->ret &&
	    mg->kpc_after != (uint64_t)pk->model_mapcount)
		sk_fail(&rep,
			"kpagecount after migration %" PRIu64 " != model %ld",
			mg->kpc_after, pk->model_mapcount);
	migrate_failures(pk, mg);
	check_hwpoison(pk, &R.hw);
}

static void print_rates(void)
{
	long maps = total_maps(0, (int)o.procs, false);

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
}

static void print_peak(void)
{
	struct peak *pk = &R.pk;

	if (!pk->done)
		return;
	printf("peak: kpagecount %" PRIu64 " (tail %" PRIu64
	       "), model mapcount %ld; expected refcount %ld (%lu page cache + %ld mappings x %ld; not visible from user space)\n",
	       pk->kpc_head, pk->kpc_tail, pk->model_mapcount, pk->model_refs,
	       o.psize / ht_base_page_size(), pk->maps, refs_per_map);
	printf("peak: smaps_rollup pid %d (%ld mappings): Shared_Hugetlb %ld kB, Private_Hugetlb %ld kB (model %ld kB shared)\n",
	       pk->pid, pk->rollup_maps, R.shared_kb, R.private_kb,
	       R.shared_model);
	printf("memory: PageTables %+ld kB (estimate %lu kB), Slab %+ld kB, SUnreclaim %+ld kB (estimate VMAs %lu kB); %.0f bytes Slab per mapping; MemAvailable %lu -> %lu MiB\n",
	       R.d_pt, R.est.table_bytes / 1024, R.d_slab, R.d_sunr,
	       R.est.vma_bytes / 1024,
	       pk->maps ? R.d_slab * 1024.0 / pk->maps : 0.0,
	       R.before.avail / 1024, pk->mem.avail / 1024);
}

static void print_refusal(void)
{
	char buf[96];

	if (!sh->refusal_claimed) {
		printf("refusal: none\n");
		return;
	}
	printf("refusal: first at mapping %ld of mapper %d (%ld references in the run): %s %s\n",
	       sh->refusal.index, sh->refusal.slot, sh->refusal.total_at,
	       sh->refusal.what,
	       sk_sig_or_errno(sh->refusal.err, sh->refusal.sig, buf,
			       sizeof(buf)));
}

static void print_migration(void)
{
	struct migr *mg = &R.mg;

	if (!mg->requested)
		return;
	if (mg->skip) {
		printf("migration: skipped: %s\n", mg->skip);
		return;
	}
	printf("migration: move_pages(MOVE_ALL) pid %d node %d -> %d: %s, status %d, %.3f ms, page now on node %d, kpagecount %" PRIu64
	       "; numastat -p Huge: %s; migratepages back: %.3f ms, node %d, numastat: %s\n",
	       mg->pid, mg->from, mg->to, mg->ret ? strerror(-mg->ret) : "ok",
	       mg->status, mg->move_ms, mg->node_after, mg->kpc_after,
	       mg->numastat_after, mg->back_ms, mg->node_back,
	       mg->numastat_back);
	migrate_print_rounds(mg);
}

static void print_hwpoison_teardown(void)
{
	struct hwp *hw = &R.hw;
	char name[HT_SIZE_NAME_LEN];

	if (hw->requested && hw->skip)
		printf("hwpoison: skipped: %s\n", hw->skip);
	else if (hw->requested)
		printf("hwpoison: MADV_HWPOISON %s, SIGBUS si_code %d, %.3f ms; kpagecount after %" PRIu64
		       "\n",
		       hw->ret ? strerror(-hw->ret) : "ok", hw->code, hw->ms,
		       hw->kpc_after);
	printf("teardown: %.3f s; %s pool free %lu -> %lu, nr %lu -> %lu%s; vm.max_map_count %lu -> %lu; processes left %d\n",
	       R.teardown_s, ht_size_name_r(o.psize, name, sizeof(name)),
	       R.pool_before.free, R.pool_after.free, R.pool_before.nr,
	       R.pool_after.nr,
	       R.poison_kept ? " (the poisoned page stays in use)" : "",
	       R.map_count_orig, R.map_count_after, R.left);
}

/* ---- the JSON report: one function per member ---- */

static void json_config(struct ht_json *j)
{
	struct ht_json *c = ht_json_obj(j, "config"), *e;

	ht_json_num(c, "processes", "%ld", o.procs);
	ht_json_num(c, "vmas_per_process", "%ld", o.vmas);
	ht_json_num(c, "page_size", "%lu", o.psize);
	ht_json_string(c, "granularity", ht_gran_name(o.gran));
	ht_json_string(c, "populate", pop_names[o.pop]);
	ht_json_bool(c, "fork", o.fork_mode);
	ht_json_num(c, "target", "%ld", o.target);
	ht_json_num(c, "pieces", "%ld", o.pieces);
	ht_json_num(c, "time_limit", "%g", o.time_limit);
	ht_json_num(c, "max_map_count", "%lu", R.map_count_orig);
	ht_json_bool(c, "raised_map_count", o.raise_map_count);
	e = ht_json_obj(j, "estimate");
	ht_json_num(e, "vmas", "%lu", R.est.vmas);
	ht_json_num(e, "vma_bytes", "%lu", R.est.vma_bytes);
	ht_json_num(e, "pmd_tables", "%lu", R.est.pmd_tables);
	ht_json_num(e, "pud_tables", "%lu", R.est.pud_tables);
	ht_json_num(e, "pte_tables", "%lu", R.est.pte_tables);
	ht_json_num(e, "table_bytes", "%lu", R.est.table_bytes);
	ht_json_num(e, "total_bytes", "%lu", R.est.total_bytes);
	ht_json_num(e, "mem_available_kb", "%lu", R.before.avail);
}

static void json_rates(struct ht_json *j)
{
	struct ht_json *b = ht_json_obj(j, "baseline"), *s;

	ht_json_num(b, "mappings", "%ld", o.baseline ? sh->s[o.procs].maps : 0);
	ht_json_num(b, "seconds", "%.6f", R.base_ns / 1e9);
	ht_json_num(b, "rate", "%.1f", R.base_rate);
	s = ht_json_obj(j, "stress");
	ht_json_num(s, "mappings", "%ld", total_maps(0, (int)o.procs, false));
	ht_json_num(s, "seconds", "%.6f", R.stress_ns / 1e9);
	ht_json_num(s, "rate", "%.1f", R.stress_rate);
	ht_json_num(s, "ratio_to_baseline", "%.4f",
		    R.base_rate > 0 ? R.stress_rate / R.base_rate : 0.0);
	ht_json_num(s, "fork_seconds", "%.6f", sh->s[0].fork_ns / 1e9);
}

static void json_peak(struct ht_json *j)
{
	struct peak *pk = &R.pk;
	struct ht_json *p;

	if (!pk->done) {
		ht_json_null(j, "peak");
		return;
	}
	p = ht_json_obj(j, "peak");
	ht_json_num(p, "mappings", "%ld", pk->maps);
	ht_json_num(p, "model_mapcount", "%ld", pk->model_mapcount);
	ht_json_num(p, "model_refcount", "%ld", pk->model_refs);
	ht_json_num(p, "kpagecount", "%" PRIu64, pk->kpc_head);
	ht_json_num(p, "kpagecount_tail", "%" PRIu64, pk->kpc_tail);
	ht_json_bool(p, "wrapped", R.wrapped);
	ht_json_num(p, "pid", "%d", pk->pid);
	ht_json_num(p, "pid_mappings", "%ld", pk->rollup_maps);
	ht_json_num(p, "shared_hugetlb_kb", "%ld", R.shared_kb);
	ht_json_num(p, "private_hugetlb_kb", "%ld", R.private_kb);
	ht_json_num(p, "shared_hugetlb_model_kb", "%ld", R.shared_model);
	ht_json_num(p, "pagetables_delta_kb", "%ld", R.d_pt);
	ht_json_num(p, "slab_delta_kb", "%ld", R.d_slab);
	ht_json_num(p, "sunreclaim_delta_kb", "%ld", R.d_sunr);
	ht_json_num(p, "mem_available_kb", "%lu", pk->mem.avail);
}

static void json_refusal(struct ht_json *j)
{
	struct ht_json *r;

	if (!sh->refusal_claimed) {
		ht_json_null(j, "refusal");
		return;
	}
	r = ht_json_obj(j, "refusal");
	ht_json_num(r, "mapper", "%d", sh->refusal.slot);
	ht_json_num(r, "index", "%ld", sh->refusal.index);
	ht_json_num(r, "references", "%ld", sh->refusal.total_at);
	ht_json_string(r, "what", sh->refusal.what);
	ht_json_num(r, "errno", "%d", sh->refusal.err);
	ht_json_num(r, "signal", "%d", sh->refusal.sig);
}

static void json_migration_rounds(struct ht_json *m, const struct migr *mg)
{
	struct ht_json *l;

	ht_json_num(m, "rounds", "%ld", o.migrate_rounds);
	l = ht_json_list(m, "moves_ms");
	for (int i = 0; i < mg->nmoves; i++)
		ht_json_num(l, NULL, "%.3f", mg->moves_ms[i]);
	ht_json_num(m, "move_median_ms", "%.3f", mg->median_ms);
	ht_json_num(m, "move_min_ms", "%.3f", mg->min_ms);
	ht_json_num(m, "failed_move", "%d", mg->failed_move);
	ht_json_num(m, "failed_errno", "%d", -mg->failed_ret);
	ht_json_num(m, "failed_status", "%d", mg->failed_status);
	ht_json_num(m, "kpagecount_bad_move", "%d", mg->kpc_bad_move);
	ht_json_num(m, "present_after", "%ld", mg->present);
	ht_json_num(m, "bad_offset", "%ld", mg->bad_offset);
	ht_json_num(m, "read_errno", "%d", -mg->read_err);
}

static void json_migration(struct ht_json *j)
{
	const struct migr *mg = &R.mg;
	struct ht_json *m;

	if (!mg->requested) {
		ht_json_null(j, "migration");
		return;
	}
	m = ht_json_obj(j, "migration");
	if (mg->skip) {
		ht_json_string(m, "skipped", mg->skip);
		return;
	}
	ht_json_num(m, "from", "%d", mg->from);
	ht_json_num(m, "to", "%d", mg->to);
	ht_json_num(m, "errno", "%d", -mg->ret);
	ht_json_num(m, "status", "%d", mg->status);
	ht_json_num(m, "move_ms", "%.3f", mg->move_ms);
	ht_json_num(m, "node_after", "%d", mg->node_after);
	ht_json_num(m, "kpagecount_after", "%" PRIu64, mg->kpc_after);
	ht_json_string(m, "numastat_after", mg->numastat_after);
	ht_json_num(m, "migratepages_ms", "%.3f", mg->back_ms);
	ht_json_num(m, "node_back", "%d", mg->node_back);
	ht_json_string(m, "numastat_back", mg->numastat_back);
	json_migration_rounds(m, mg);
}

static void json_hwpoison_teardown(struct ht_json *j)
{
	const struct hwp *hw = &R.hw;
	struct ht_json *h, *t;

	if (!hw->requested) {
		ht_json_null(j, "hwpoison");
	} else if (hw->skip) {
		h = ht_json_obj(j, "hwpoison");
		ht_json_string(h, "skipped", hw->skip);
	} else {
		h = ht_json_obj(j, "hwpoison");
		ht_json_num(h, "errno", "%d", -hw->ret);
		ht_json_num(h, "si_code", "%d", hw->code);
		ht_json_num(h, "ms", "%.3f", hw->ms);
		ht_json_num(h, "kpagecount_after", "%" PRIu64, hw->kpc_after);
	}
	t = ht_json_obj(j, "teardown");
	ht_json_num(t, "seconds", "%.6f", R.teardown_s);
	ht_json_num(t, "pool_free_before", "%lu", R.pool_before.free);
	ht_json_num(t, "pool_free_after", "%lu", R.pool_after.free);
	ht_json_num(t, "pool_nr_before", "%lu", R.pool_before.nr);
	ht_json_num(t, "pool_nr_after", "%lu", R.pool_after.nr);
	ht_json_num(t, "max_map_count_after", "%lu", R.map_count_after);
	ht_json_num(t, "processes_left", "%d", R.left);
}

static int write_json(void)
{
	struct ht_json *j = ht_json_new();
	int ret;

	sk_json_verdict(j, &rep);
	json_config(j);
	json_rates(j);
	json_peak(j);
	json_refusal(j);
	json_migration(j);
	json_hwpoison_teardown(j);
	sk_json_kmsg(j, &rep);
	ret = sk_json_save(j, o.json);
	ht_json_free(j);
	return ret;
}

/* The checks at the peak, the text report, the JSON; the exit code. */
static int report(void)
{
	int code;

	check_peak();
	print_rates();
	print_peak();
	print_refusal();
	print_migration();
	print_hwpoison_teardown();
	sk_print_verdict(&rep);
	code = sk_exit_code(&rep);
	if (o.json && write_json())
		return EXIT_FAIL;
	return code;
}

/* ---- the phases of a run ---- */

static void check_hgm_populate(void)
{
	if (o.gran == HT_GRAN_HGM && o.pop_given && o.pop != POP_CONTINUE)
		sk_usage_error(
			"--granularity hgm populates with continue, not %s",
			pop_names[o.pop]);
	if (o.gran == HT_GRAN_HGM)
		o.pop = POP_CONTINUE;
	if (o.pieces && o.gran != HT_GRAN_HGM)
		sk_usage_error("--pieces needs --granularity hgm");
}

/* Page size, HGM, uffd and root: the skip line, or 0. */
static int probe(void)
{
	char why[HT_WHY_LEN];
	const char *r;

	if (!o.psize)
		o.psize = ht_default_page_size();
	if ((r = ht_probe_page_size_r(o.psize, why, sizeof(why)))) {
		printf("skip: not supported: %s\n", r);
		return EXIT_SKIP;
	}
	if (o.gran == HT_GRAN_HGM &&
	    (r = ht_probe_hgm_r(o.psize, why, sizeof(why)))) {
		printf("not supported: %s\n", r);
		return EXIT_SKIP;
	}
	if (o.pop == POP_CONTINUE &&
	    (r = ht_probe_uffd_minor_hugetlb_r(why, sizeof(why)))) {
		printf("not supported: %s\n", r);
		return EXIT_SKIP;
	}
	if (!sk_root("pools, sysctls, /proc/kpagecount"))
		return EXIT_SKIP;
	return 0;
}

/* VMAs per process: what vm.max_map_count leaves a forked mapper. */
static int size_vmas(void)
{
	long own_vmas, per_proc_max;

	if (ht_read_ulong(MAP_COUNT_SYSCTL, &R.map_count_orig)) {
		printf("skip: cannot read vm.max_map_count\n");
		return EXIT_SKIP;
	}
	own_vmas = ht_vma_count(0);
	if (own_vmas < 0)
		own_vmas = 64;
	per_proc_max = (long)R.map_count_orig - own_vmas - VMA_SLACK;
	if (o.raise_map_count) {
		R.need_count = o.raise_to ? (unsigned long)o.raise_to :
					    (unsigned long)(o.vmas + own_vmas +
							    VMA_SLACK);
		if (R.need_count <= R.map_count_orig)
			o.raise_map_count = false; /* nothing to raise */
		else
			per_proc_max =
				(long)R.need_count - own_vmas - VMA_SLACK;
	}
	if (!o.vmas)
		o.vmas = per_proc_max;
	if (o.vmas > per_proc_max)
		sk_usage_error(
			"--vmas %ld: vm.max_map_count %lu leaves %ld per process; add --raise-map-count",
			o.vmas,
			o.raise_map_count ? R.need_count : R.map_count_orig,
			per_proc_max);
	if (o.vmas < 1)
		sk_usage_error("vm.max_map_count %lu leaves no VMA per process",
			       R.map_count_orig);
	nslots = (int)o.procs + 1; /* + the baseline's */
	return 0;
}

/* The memory the run needs, refused up front. */
static int check_memory(void)
{
	unsigned long pages = 1 + (o.migrate ? 1 : 0), pool_bytes = 0;
	struct ht_kmem_est *est = &R.est;

	ht_kmem_estimate(o.procs, o.vmas, o.psize, o.gran,
			 (unsigned long)o.pieces, est);
	meminfo_snap(&R.before);
	/* Also the "before" of the leftover check at the end. */
	if (!ht_pool_read(o.psize, -1, &R.pool_before) &&
	    R.pool_before.free < pages)
		pool_bytes = (pages - R.pool_before.free) * o.psize;
	if ((est->total_bytes + pool_bytes) / HT_KB * 5 / 4 <= R.before.avail)
		return 0;
	printf("refusing: the run needs ~%lu MiB of kernel memory (%lu VMAs x %.2f KiB = %lu MiB, %lu page tables = %lu MiB, %ld processes = %lu MiB) + %lu MiB of huge pages, with 25%% headroom; MemAvailable is %lu MiB\n",
	       est->total_bytes >> 20, est->vmas, HT_KMEM_VMA_BYTES / 1024.0,
	       est->vma_bytes >> 20,
	       est->pte_tables + est->pmd_tables + est->pud_tables,
	       est->table_bytes >> 20, o.procs, est->proc_bytes >> 20,
	       pool_bytes >> 20, R.before.avail / 1024);
	return EXIT_SKIP;
}

/* Shared state, vm.max_map_count, the hugetlb file: 0 or -1 (failed). */
static int prepare(void)
{
	size_t shsize = sizeof(*sh) + nslots * sizeof(struct slot);
	char name[HT_SIZE_NAME_LEN];
	int ret;

	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		sh = NULL;
		sk_fail(&rep, "mmap shared state: %s", strerror(errno));
		return -1;
	}
	sk_stop = &sh->stop;
	if (o.raise_map_count &&
	    ht_write_ulong(MAP_COUNT_SYSCTL, R.need_count)) {
		sk_fail(&rep, "cannot raise vm.max_map_count to %lu",
			R.need_count);
		return -1;
	}
	ret = ht_file_create(&file, o.psize, o.psize);
	if (!ret)
		ret = ht_file_fill(&file, 0, o.psize, FILL_SEED);
	if (ret) {
		sk_fail(&rep, "hugetlb file of one %s page: %s",
			ht_size_name_r(o.psize, name, sizeof(name)),
			strerror(-ret));
		return -1;
	}
	return 0;
}

static void print_header(void)
{
	const struct ht_kmem_est *est = &R.est;
	char name[HT_SIZE_NAME_LEN];

	printf("refcount_stress: %ld processes x %ld VMAs, %s page, %s, populate=%s%s%s\n",
	       o.procs, o.vmas, ht_size_name_r(o.psize, name, sizeof(name)),
	       ht_gran_name(o.gran), pop_names[o.pop],
	       o.fork_mode ? ", fork mode" : "",
	       o.raise_map_count ? ", vm.max_map_count raised" : "");
	printf("estimate: %lu VMAs x %.2f KiB = %lu MiB; page tables %lu PMD + %lu PUD + %lu PTE = %lu MiB; processes %lu MiB; MemAvailable %lu MiB\n",
	       est->vmas, HT_KMEM_VMA_BYTES / 1024.0, est->vma_bytes >> 20,
	       est->pmd_tables, est->pud_tables, est->pte_tables,
	       est->table_bytes >> 20, est->proc_bytes >> 20,
	       R.before.avail / 1024);
}

static struct mapper_arg args[MAX_PROCS];

/* Baseline: one process, the same loop and count, on its own. */
static void run_baseline(void)
{
	int bs = (int)o.procs;
	char buf[96];

	args[bs] = (struct mapper_arg){ .slot = bs, .nmaps = o.vmas };
	nkids = 1;
	if (ht_spawn(&kids[0], mapper_fn, &args[bs]) == 0) {
		sh->s[bs].pid = kids[0].pid;
		wait_phase("baseline", bs, 1, ht_now_ns());
		if (sh->s[bs].state == 1 && sh->s[bs].maps > 0) {
			R.base_ns = sh->s[bs].t_end - sh->s[bs].t_start;
			R.base_rate = sh->s[bs].maps / (R.base_ns / 1e9);
		}
		teardown_procs(300);
	}
	nkids = 0;
	/* The baseline's refusal is its own, not the stress's. */
	if (sh->refusal_claimed && sh->refusal.slot == bs) {
		printf("baseline: refused at mapping %ld: %s %s\n",
		       sh->refusal.index, sh->refusal.what,
		       sk_sig_or_errno(sh->refusal.err, sh->refusal.sig, buf,
				       sizeof(buf)));
		memset(&sh->refusal, 0, sizeof(sh->refusal));
		sh->refusal_claimed = 0;
	}
	sh->total_refs = 0;
	printf("baseline: 1 process, %ld mappings in %.3f s = %.0f mappings/s\n",
	       sh->s[bs].maps, R.base_ns / 1e9, R.base_rate);
}

/* Every mapper (fork mode: the leader, which forks the others). */
static void spawn_mappers(long t0)
{
	int nk = o.fork_mode ? 1 : (int)o.procs, ret;

	for (int i = 0; i < nk; i++) {
		args[i] = (struct mapper_arg){ .slot = i, .nmaps = o.vmas };
		ret = ht_spawn(&kids[i], o.fork_mode ? leader_fn : mapper_fn,
			       &args[i]);
		if (ret) {
			sk_fail(&rep, "fork of mapper %d: %s", i,
				strerror(-ret));
			for (int j = i; j < (int)o.procs; j++)
				sh->s[j].state = -1;
			break;
		}
		sh->s[i].pid = kids[i].pid;
		nkids = i + 1;
		if (sk_got_signal)
			break;
		progress("stress", 0, (int)o.procs, t0, false);
	}
	if (sk_got_signal)
		for (int j = nkids; j < (int)o.procs; j++)
			sh->s[j].state = -1;
}

/*
 * Wall time from the first mapping to the last, as the baseline's is
 * measured: fork and exec costs are left out.
 */
static void stress_rate(void)
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
	R.stress_ns = s1 > s0 ? s1 - s0 : 0;
	if (R.stress_ns)
		R.stress_rate = total_maps(0, (int)o.procs, false) /
				(R.stress_ns / 1e9);
}

/* The stress: every mapper maps until it stops; the dead fail the run. */
static void run_stress(void)
{
	long t0;

	meminfo_snap(&R.before);
	sh->target_refs = o.target;
	t0 = ht_now_ns();
	if (o.time_limit)
		sh->deadline = t0 + (long)(o.time_limit * 1e9);
	spawn_mappers(t0);
	wait_phase("stress", 0, (int)o.procs, t0);
	stress_rate();
	for (int i = 0; i < o.procs; i++) {
		int st = sh->s[i].status;

		if (sh->s[i].state != -1 || sh->s[i].pid <= 0)
			continue;
		sk_fail(&rep,
			"mapper %d (pid %d) died (%s %d) after %ld mappings", i,
			sh->s[i].pid, WIFSIGNALED(st) ? "signal" : "exit",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
			sh->s[i].maps);
	}
}

/* Everything back, then checked: pool, vm.max_map_count, processes, log. */
static void restore(void)
{
	char name[HT_SIZE_NAME_LEN];

	ht_file_close(&file);
	R.left = sh ? leftover_procs() : 0;
	sk_restore(&run, &rep);
	ht_read_ulong(MAP_COUNT_SYSCTL, &R.map_count_after);
	ht_pool_read(o.psize, -1, &R.pool_after);
	if (R.map_count_after != R.map_count_orig)
		sk_fail(&rep, "vm.max_map_count %lu, was %lu",
			R.map_count_after, R.map_count_orig);
	/*
	 * A poisoned page never comes back to the pool: dissolved (the
	 * teardown grows the pool again) or, a gigantic page, in use for
	 * ever.
	 */
	R.poison_kept = R.hw.requested && !R.hw.skip && !R.hw.ret &&
			R.pool_after.nr == R.pool_before.nr &&
			R.pool_after.free + 1 == R.pool_before.free;
	if (!R.poison_kept && (R.pool_after.free != R.pool_before.free ||
			       R.pool_after.nr != R.pool_before.nr))
		sk_fail(&rep, "%s pool: free %lu -> %lu, nr %lu -> %lu",
			ht_size_name_r(o.psize, name, sizeof(name)),
			R.pool_before.free, R.pool_after.free, R.pool_before.nr,
			R.pool_after.nr);
	if (R.left)
		sk_fail(&rep, "%d processes left after teardown", R.left);
	sk_kmsg_check(&run, &rep);
}

/* Baseline, stress, the peak's measurements; a signal skips to the end. */
static void run_phases(void)
{
	print_header();
	if (o.baseline)
		run_baseline();
	if (!sk_got_signal)
		run_stress();
	if (sk_got_signal) {
		rep.interrupted = true;
	} else {
		measure_peak(&R.pk);
		if (o.migrate)
			do_migrate(&R.pk, &R.mg);
		if (o.hwpoison)
			do_hwpoison(&R.pk, &R.hw);
	}
	R.teardown_s = teardown_procs(600);
}

int main(int argc, char **argv)
{
	struct ht_needs needs = { .pages = 1 };
	int code;

	sk_parse(&prog, argc, argv);
	check_hgm_populate();
	setvbuf(stdout, NULL, _IOLBF, 0);
	progress_tty = isatty(STDERR_FILENO);
	code = probe();
	if (!code)
		code = size_vmas();
	if (!code)
		code = check_memory();
	if (code)
		return code;
	needs.page_size = o.psize;
	if (o.raise_map_count)
		needs.sysctls[0] = "vm.max_map_count";
	/* Before the hugetlb file exists, so that the guard holds no page. */
	code = sk_setup(&run, &needs, 100);
	if (code)
		return code;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (!prepare())
		run_phases();
	restore();
	if (!sh) {
		printf("verdict: FAIL: %s\n", rep.failures);
		return EXIT_FAIL;
	}
	return report();
}
