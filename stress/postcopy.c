// SPDX-License-Identifier: GPL-2.0
/*
 * postcopy: what a vCPU waits for when its memory arrives after it has
 * started, as in post-copy live migration, by the unit the destination can
 * map: 4 KiB pieces of a 2 MiB page split by MADV_SPLIT (HGM), whole 2 MiB
 * or 1 GiB pages, or shmem's 4 KiB pages.
 *
 * A region is "restored" by a userfaultfd MINOR handler thread: for each
 * fault it copies the unit's bytes from a source buffer into the page
 * cache through a second, unregistered mapping of the same file (the pages
 * exist, zeroed, from the start: that is what MINOR faults are about),
 * waits until the unit would have crossed a simulated link (bytes at
 * --link-gbit plus --rtt-us per request, counted from the fault's arrival,
 * so the copy overlaps the transfer as a receive path's would), then
 * CONTINUEs it.  A "vCPU" thread touches the region 4 KiB at a time in a
 * pattern and, for each first touch of a unit, keeps the stall: link time
 * (simulated) and kernel time (fault delivery, the CONTINUE ioctl, the
 * wake-up) separately.
 *
 * Exit: 0 pass (at least one mode ran; the others say why not), 1 fail,
 * 2 bad usage, 4 skip (no mode could run, not root, memory).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ht.h"
#include "skel.h"

#define PIECE HT_BASE_PAGE
#define SEED 0x9057c0b1
/* The last SPIN_NS of a simulated wait are a busy-wait: sleeps overshoot. */
#define SPIN_NS 50000L
#define MAX_TOUCHES (1L << 24)
/* A first touch whose fault the handler never reported (cannot happen). */
#define SERVED_TIMEOUT_NS (10L * 1000000000L)

enum mode_id { M_HGM4K, M_HUGE2M, M_HUGE1G, M_SHMEM4K, M_HGM4K_1G, M_N };
/*
 * Per fault: stall = link + kernel, and kernel = delivery + resolve.
 * continue (the ioctl, as the handler sees it) is part of resolve but
 * not a summand: the vCPU may run again before the ioctl returns.
 */
enum metric {
	X_STALL, /* the access, on the vCPU */
	X_LINK, /* fault read -> transfer done (simulated; the copy overlaps) */
	X_KERNEL, /* stall - link */
	X_DELIVER, /* access -> the handler has read the fault */
	X_RESOLVE, /* transfer done -> the access has completed */
	X_CONT, /* the UFFDIO_CONTINUE ioctl */
	X_COPY, /* the copy into the page cache */
	X_N
};

static const char *const metric_names[X_N] = {
	"stall_us",   "link_us",     "kernel_us", "delivery_us",
	"resolve_us", "continue_us", "copy_us",
};

/* Percentiles of one metric over a mode's faults, in microseconds. */
struct dist {
	double p50, p99, max, mean;
};

struct mode {
	const char *name, *what;
	unsigned long psize; /* 0: shmem */
	unsigned long unit; /* bytes per fault and per CONTINUE */
	bool split; /* MADV_SPLIT before registering */
	char skip[HT_WHY_LEN]; /* "" when it ran */
	bool ran, failed;
	long faults, eexist;
	double first_us, total_ms, link_nominal_us;
	struct dist d[X_N];
};

/* One first touch of a unit: the handler's times, then the vCPU's. */
struct fault {
	size_t off;
	long t_msg, t_copy, t_xfer, t_cont1;
	long t_access, t_done;
};

/* What the two threads of one mode share. */
struct pc {
	struct mode *m;
	char *reg, *alias, *src;
	size_t len;
	int uffd;
	long link_ns;
	struct fault slot; /* the last fault served, published by seq */
	long seq;
	int done; /* the vCPU has finished */
	int broken; /* a CONTINUE failed: the region was unregistered */
	int err;
	size_t err_off;
	long eexist;
	const uint32_t *order;
	long ntouch;
	unsigned char *seen; /* per unit */
	struct fault *rec;
	long nrec;
	long t_start, t_end;
	bool lost;
};

static struct {
	unsigned long size;
	int pattern;
	long touches;
	double link_gbit;
	long rtt_us;
	const char *modes;
	long seed;
	const char *json;
} o;

static const char *const pattern_names[] = { "random", "sequential", NULL };

static const struct sk_opt opts[] = {
	{ .name = "size",
	  .short_opt = 's',
	  .kind = SK_SIZE,
	  .arg = "SIZE",
	  .def = "1G",
	  .help = "the region: 2M or more, a power of two",
	  .target = &o.size },
	{ .name = "pattern",
	  .short_opt = 'p',
	  .kind = SK_ENUM,
	  .arg = "P",
	  .def = "random",
	  .choices = pattern_names,
	  .help = "random | sequential order of the 4 KiB touches",
	  .target = &o.pattern },
	{ .name = "touches",
	  .short_opt = 't',
	  .kind = SK_COUNT,
	  .arg = "N",
	  .min = 1,
	  .max = MAX_TOUCHES,
	  .def_help = "every 4 KiB piece once",
	  .help = "4 KiB touches (the first N of the pattern)",
	  .target = &o.touches },
	{ .name = "link-gbit",
	  .short_opt = 'l',
	  .kind = SK_NUMBER,
	  .arg = "G",
	  .def = "10",
	  .help = "the simulated link's rate in Gbit/s",
	  .target = &o.link_gbit },
	{ .name = "rtt-us",
	  .short_opt = 'r',
	  .kind = SK_COUNT,
	  .arg = "US",
	  .def = "50",
	  .min = 0,
	  .max = 1000000,
	  .help = "the simulated latency of each request",
	  .target = &o.rtt_us },
	{ .name = "modes",
	  .short_opt = 'm',
	  .kind = SK_FILE,
	  .arg = "LIST",
	  .def_help = "all",
	  .help = "comma-separated: hgm4k (2 MiB pages split, 4 KiB\n"
		  "CONTINUE), huge2m, huge1g (whole pages), shmem4k,\n"
		  "hgm4k_1g (a 1 GiB page split)",
	  .target = &o.modes },
	{ .name = "seed",
	  .kind = SK_COUNT,
	  .arg = "N",
	  .def = "1",
	  .min = 0,
	  .max = 0xffffffffL,
	  .help = "the random pattern's seed",
	  .target = &o.seed },
	{ .name = "json",
	  .short_opt = 'j',
	  .kind = SK_FILE,
	  .arg = "FILE",
	  .help = "the report as JSON",
	  .target = &o.json },
	{ 0 }
};

static const struct sk_prog prog = {
	.name = "postcopy",
	.about =
		"Post-copy restore of a region through userfaultfd MINOR faults over a\n"
		"simulated link: the stall per fault and the time to first access when the\n"
		"unit is a 4 KiB piece of a split huge page (HGM), a 2 MiB or 1 GiB page,\n"
		"or a shmem page.\n",
	.exits =
		"Exit: 0 pass (modes the kernel lacks are skipped with the reason), 1 fail\n"
		"(wrong byte, wrong granularity, CONTINUE error, kernel complaint, pool not\n"
		"restored), 2 bad usage, 4 skip (no mode could run, not root, memory).\n",
	.opts = opts,
};

static struct mode modes[M_N] = {
	[M_HGM4K] = { .name = "hgm4k",
		      .what = "2 MiB pages split (HGM), 4 KiB CONTINUE",
		      .psize = 2 * HT_MB,
		      .unit = PIECE,
		      .split = true },
	[M_HUGE2M] = { .name = "huge2m",
		       .what = "2 MiB pages, CONTINUE whole",
		       .psize = 2 * HT_MB,
		       .unit = 2 * HT_MB },
	[M_HUGE1G] = { .name = "huge1g",
		       .what = "1 GiB pages, CONTINUE whole",
		       .psize = HT_GB,
		       .unit = HT_GB },
	[M_SHMEM4K] = { .name = "shmem4k",
			.what = "shmem 4 KiB pages, 4 KiB CONTINUE",
			.unit = PIECE },
	[M_HGM4K_1G] = { .name = "hgm4k_1g",
			 .what = "a 1 GiB page split (HGM), 4 KiB CONTINUE",
			 .psize = HT_GB,
			 .unit = PIECE,
			 .split = true },
};

/* 1 GiB first: its page is easiest to get before memory fragments. */
static const enum mode_id run_order[M_N] = { M_HUGE1G, M_HGM4K_1G, M_HGM4K,
					     M_HUGE2M, M_SHMEM4K };

static bool selected[M_N];
static struct sk_report rep;
static volatile int stop;

/* ---- arguments ---- */

static void parse_modes(void)
{
	char buf[256], *tok, *save;
	int k;

	if (!o.modes) {
		for (k = 0; k < M_N; k++)
			selected[k] = true;
		return;
	}
	snprintf(buf, sizeof(buf), "%s", o.modes);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (k = 0; k < M_N && strcmp(tok, modes[k].name); k++)
			;
		if (!strcmp(tok, "all"))
			for (k = 0; k < M_N; k++)
				selected[k] = true;
		else if (k == M_N)
			sk_usage_error(
				"--modes: '%s' is not hgm4k, huge2m, huge1g, shmem4k, hgm4k_1g or all",
				tok);
		else
			selected[k] = true;
	}
}

static void check_args(void)
{
	unsigned long pieces = o.size / PIECE;

	if (o.size < 2 * HT_MB)
		sk_usage_error("--size: %lu bytes is less than 2M", o.size);
	if (o.touches > (long)pieces)
		sk_usage_error(
			"--touches: %ld is more than the region's %lu pieces",
			o.touches, pieces);
	if (!o.touches)
		o.touches = (long)pieces;
	parse_modes();
}

/* The touch order: 4 KiB piece numbers, a seeded permutation or 0, 1, ... */
static uint32_t *make_order(void)
{
	uint32_t n = (uint32_t)(o.size / PIECE), *v;
	uint64_t x = (uint64_t)o.seed * 0x9e3779b97f4a7c15ULL + 1;

	v = malloc(n * sizeof(*v));
	if (!v)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		v[i] = i;
	if (o.pattern == 1)
		return v;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j, t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (uint32_t)(x % (i + 1));
		t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
	return v;
}

/* ---- the handler thread ---- */

static void block_signals(void)
{
	sigset_t s;

	sigfillset(&s);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

/* Until @deadline: an absolute sleep, then a busy-wait for the rest. */
static void wait_until(long deadline)
{
	long sleep_to = deadline - SPIN_NS;
	struct timespec ts;

	if (sleep_to > ht_now_ns()) {
		ts.tv_sec = sleep_to / 1000000000L;
		ts.tv_nsec = sleep_to % 1000000000L;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				       NULL) == EINTR)
			;
	}
	while (ht_now_ns() < deadline)
		__builtin_ia32_pause();
}

/*
 * A CONTINUE that failed leaves the vCPU waiting on the fault: unregister
 * the region, which wakes it, and the vCPU then maps what is there.
 */
static void give_up(struct pc *pc, int err, size_t off)
{
	struct uffdio_range r = { .start = (unsigned long)pc->reg,
				  .len = pc->len };

	pc->err = err;
	pc->err_off = off;
	__atomic_store_n(&pc->broken, 1, __ATOMIC_RELEASE);
	ioctl(pc->uffd, UFFDIO_UNREGISTER, &r);
}

static void serve(struct pc *pc, unsigned long addr)
{
	size_t off = (addr - (unsigned long)pc->reg) & ~(pc->m->unit - 1);
	struct fault *s = &pc->slot;
	long t0 = ht_now_ns();
	int err;

	if (addr < (unsigned long)pc->reg || off >= pc->len)
		return;
	s->off = off;
	s->t_msg = t0;
	memcpy(pc->alias + off, pc->src + off, pc->m->unit);
	s->t_copy = ht_now_ns();
	/* Interrupted: no more waiting, but the vCPU must not hang. */
	if (!stop)
		wait_until(t0 + pc->link_ns);
	s->t_xfer = ht_now_ns();
	err = ht_uffd_continue(pc->uffd, pc->reg + off, pc->m->unit);
	s->t_cont1 = ht_now_ns();
	if (err == -EEXIST)
		pc->eexist++;
	else if (err)
		give_up(pc, err, off);
	__atomic_store_n(&pc->seq, pc->seq + 1, __ATOMIC_RELEASE);
}

static void *handler_main(void *arg)
{
	struct pc *pc = arg;
	struct pollfd pfd = { .fd = pc->uffd, .events = POLLIN };
	struct uffd_msg msg;

	block_signals();
	/* The default 50 us of timer slack would be part of every wait. */
	prctl(PR_SET_TIMERSLACK, 1UL);
	while (!__atomic_load_n(&pc->done, __ATOMIC_ACQUIRE)) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(pc->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event == UFFD_EVENT_PAGEFAULT &&
		    !__atomic_load_n(&pc->broken, __ATOMIC_ACQUIRE))
			serve(pc, msg.arg.pagefault.address);
	}
	return NULL;
}

/* ---- the vCPU thread ---- */

/* The handler publishes a fault after its CONTINUE returned. */
static int wait_served(struct pc *pc, long before)
{
	long t0 = ht_now_ns();

	while (__atomic_load_n(&pc->seq, __ATOMIC_ACQUIRE) == before) {
		if (ht_now_ns() - t0 > SERVED_TIMEOUT_NS)
			return -1;
		__builtin_ia32_pause();
	}
	return 0;
}

static int touch(struct pc *pc, size_t off)
{
	size_t u = off / pc->m->unit;
	long before = __atomic_load_n(&pc->seq, __ATOMIC_ACQUIRE);
	long t0, t1;
	struct fault *r;

	t0 = ht_now_ns();
	(void)*(volatile uint64_t *)(pc->reg + off);
	t1 = ht_now_ns();
	if (pc->seen[u])
		return 0;
	pc->seen[u] = 1;
	if (__atomic_load_n(&pc->broken, __ATOMIC_ACQUIRE))
		return -1;
	if (wait_served(pc, before) || pc->slot.off != u * pc->m->unit) {
		pc->lost = true;
		return -1;
	}
	r = &pc->rec[pc->nrec++];
	*r = pc->slot;
	r->t_access = t0;
	r->t_done = t1;
	return 0;
}

static void *vcpu_main(void *arg)
{
	struct pc *pc = arg;

	block_signals();
	pc->t_start = ht_now_ns();
	for (long i = 0; i < pc->ntouch && !stop; i++)
		if (touch(pc, (size_t)pc->order[i] * PIECE))
			break;
	pc->t_end = ht_now_ns();
	__atomic_store_n(&pc->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- one mode ---- */

static long link_ns(unsigned long bytes)
{
	return (long)((double)bytes * 8 / o.link_gbit) + o.rtt_us * 1000;
}

/* The file, its pages (zeroed) mapped by the alias, and the source. */
static int make_file(struct pc *pc, char *why, size_t wlen)
{
	struct mode *m = pc->m;
	int fd;

	fd = m->psize ? ht_memfd_hugetlb("ht-postcopy", m->psize) :
			memfd_create("ht-postcopy-shmem", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(why, wlen, "memfd_create: %s",
			 strerror(m->psize ? -fd : errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)pc->len)) {
		snprintf(why, wlen, "ftruncate: %s", strerror(errno));
		close(fd);
		return -1;
	}
	pc->alias =
		mmap(NULL, pc->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pc->alias == MAP_FAILED) {
		snprintf(why, wlen, "mmap (alias): %s", strerror(errno));
		close(fd);
		return -1;
	}
	/* shmem: 4 KiB pages whatever shmem_enabled says */
	if (!m->psize)
		madvise(pc->alias, pc->len, MADV_NOHUGEPAGE);
	if (madvise(pc->alias, pc->len, MADV_POPULATE_WRITE)) {
		snprintf(why, wlen, "MADV_POPULATE_WRITE (alias): %s",
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The source and the registered mapping (split first for HGM). */
static int map_region(struct pc *pc, int fd, char *why, size_t wlen)
{
	struct mode *m = pc->m;
	uint64_t feat = m->psize ? UFFD_FEATURE_MINOR_HUGETLBFS :
				   UFFD_FEATURE_MINOR_SHMEM;
	int err;

	pc->src = mmap(NULL, pc->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pc->src == MAP_FAILED) {
		snprintf(why, wlen, "mmap (source): %s", strerror(errno));
		return -1;
	}
	ht_pattern_fill(pc->src, pc->len, 0, SEED);
	pc->reg =
		mmap(NULL, pc->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pc->reg == MAP_FAILED) {
		snprintf(why, wlen, "mmap: %s", strerror(errno));
		return -1;
	}
	if (!m->psize)
		madvise(pc->reg, pc->len, MADV_NOHUGEPAGE);
	if (m->split && madvise(pc->reg, pc->len, MADV_SPLIT)) {
		snprintf(why, wlen, "madvise(MADV_SPLIT): %s", strerror(errno));
		return -1;
	}
	pc->uffd = ht_uffd_open(feat);
	if (pc->uffd < 0) {
		snprintf(why, wlen, "userfaultfd: %s", strerror(-pc->uffd));
		return -1;
	}
	err = ht_uffd_register(pc->uffd, pc->reg, pc->len,
			       UFFDIO_REGISTER_MODE_MINOR);
	if (err) {
		snprintf(why, wlen, "UFFDIO_REGISTER MINOR: %s",
			 strerror(-err));
		return -1;
	}
	return 0;
}

static int run_threads(struct pc *pc, char *why, size_t wlen)
{
	pthread_t h, v;
	int err;

	err = pthread_create(&h, NULL, handler_main, pc);
	if (err) {
		snprintf(why, wlen, "pthread_create: %s", strerror(err));
		return -1;
	}
	err = pthread_create(&v, NULL, vcpu_main, pc);
	if (err) {
		__atomic_store_n(&pc->done, 1, __ATOMIC_RELEASE);
		pthread_join(h, NULL);
		snprintf(why, wlen, "pthread_create: %s", strerror(err));
		return -1;
	}
	pthread_join(v, NULL);
	pthread_join(h, NULL);
	if (pc->err) {
		snprintf(why, wlen, "UFFDIO_CONTINUE at offset %#zx: %s",
			 pc->err_off, strerror(-pc->err));
		return -1;
	}
	if (pc->lost) {
		snprintf(why, wlen,
			 "a first touch (fault %ld) without its fault served",
			 pc->nrec + 1);
		return -1;
	}
	return 0;
}

/*
 * What the run left: exactly the touched units present (the granularity
 * the mode claims), and each touched piece holding the source's bytes.
 */
static int check_region(struct pc *pc, char *why, size_t wlen)
{
	long want = pc->nrec * (long)(pc->m->unit / PIECE), present, bad;

	present = ht_pagemap_count_present(0, (unsigned long)pc->reg, pc->len);
	if (present != want) {
		snprintf(
			why, wlen,
			"%ld 4 KiB pieces present after %ld faults of %lu KiB: want %ld",
			present, pc->nrec, pc->m->unit / HT_KB, want);
		return -1;
	}
	/* Unregistered first, so a missing piece faults instead of hanging. */
	close(pc->uffd);
	pc->uffd = -1;
	for (long i = 0; i < pc->ntouch; i++) {
		size_t off = (size_t)pc->order[i] * PIECE;

		bad = ht_pattern_check(pc->reg + off, PIECE, off, SEED);
		if (bad >= 0) {
			snprintf(why, wlen, "wrong data at offset %#lx",
				 (long)off + bad);
			return -1;
		}
	}
	return 0;
}

static double metric(const struct fault *f, enum metric x)
{
	switch (x) {
	case X_STALL:
		return f->t_done - f->t_access;
	case X_LINK:
		return f->t_xfer - f->t_msg;
	case X_KERNEL:
		return (f->t_msg - f->t_access) + (f->t_done - f->t_xfer);
	case X_DELIVER:
		return f->t_msg - f->t_access;
	case X_RESOLVE:
		return f->t_done - f->t_xfer;
	case X_CONT:
		return f->t_cont1 - f->t_xfer;
	default:
		return f->t_copy - f->t_msg;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentiles, in microseconds. */
static void fill_dist(struct dist *d, const struct fault *f, long n,
		      enum metric x, double *v)
{
	double sum = 0;

	for (long i = 0; i < n; i++) {
		v[i] = metric(&f[i], x) / 1e3;
		sum += v[i];
	}
	qsort(v, n, sizeof(*v), cmp_double);
	d->p50 = v[(n + 1) / 2 - 1];
	d->p99 = v[(99 * n + 99) / 100 - 1];
	d->max = v[n - 1];
	d->mean = sum / n;
}

static void mode_stats(struct mode *m, struct pc *pc)
{
	double *v = malloc(pc->nrec * sizeof(*v));

	m->faults = pc->nrec;
	m->eexist = pc->eexist;
	m->total_ms = (pc->t_end - pc->t_start) / 1e6;
	m->link_nominal_us = pc->link_ns / 1e3;
	if (!pc->nrec || !v) {
		free(v);
		return;
	}
	m->first_us = (pc->rec[0].t_done - pc->t_start) / 1e3;
	for (int x = 0; x < X_N; x++)
		fill_dist(&m->d[x], pc->rec, pc->nrec, x, v);
	free(v);
}

static void unmap_all(struct pc *pc)
{
	if (pc->uffd >= 0)
		close(pc->uffd);
	if (pc->reg && pc->reg != MAP_FAILED)
		munmap(pc->reg, pc->len);
	if (pc->src && pc->src != MAP_FAILED)
		munmap(pc->src, pc->len);
	if (pc->alias && pc->alias != MAP_FAILED)
		munmap(pc->alias, pc->len);
	free(pc->seen);
	free(pc->rec);
}

/* Maps, runs the two threads, checks; 0 or -1 with @why. */
static int mode_exec(struct mode *m, const uint32_t *order, char *why,
		     size_t wlen)
{
	long units = (long)(o.size / m->unit);
	struct pc pc = { .m = m,
			 .len = o.size,
			 .uffd = -1,
			 .order = order,
			 .ntouch = o.touches };
	int fd, ret = -1;

	pc.link_ns = link_ns(m->unit);
	pc.seen = calloc(units, 1);
	pc.rec = calloc(units < o.touches ? units : o.touches, sizeof(*pc.rec));
	if (!pc.seen || !pc.rec) {
		snprintf(why, wlen, "out of memory");
		goto out;
	}
	fd = make_file(&pc, why, wlen);
	if (fd < 0)
		goto out;
	ret = map_region(&pc, fd, why, wlen);
	close(fd);
	if (!ret)
		ret = run_threads(&pc, why, wlen);
	m->ran = !ret || pc.nrec;
	if (!ret && !stop)
		ret = check_region(&pc, why, wlen);
	mode_stats(m, &pc);
out:
	unmap_all(&pc);
	return ret;
}

/* Why @m cannot run here, into m->skip; "" when it can. */
static void probe_mode(struct mode *m)
{
	char name[HT_SIZE_NAME_LEN];
	const char *r = NULL;
	char why[HT_WHY_LEN];
	int fd;

	if (!m->psize) {
		fd = ht_uffd_open(UFFD_FEATURE_MINOR_SHMEM);
		if (fd < 0)
			snprintf(
				m->skip, sizeof(m->skip),
				"userfaultfd without UFFD_FEATURE_MINOR_SHMEM: %s",
				strerror(-fd));
		else
			close(fd);
		return;
	}
	r = ht_probe_page_size_r(m->psize, why, sizeof(why));
	if (!r && m->split)
		r = ht_probe_hgm_r(m->psize, why, sizeof(why));
	if (r) {
		snprintf(m->skip, sizeof(m->skip), "%s", r);
		return;
	}
	ht_size_name_r(m->psize, name, sizeof(name));
	if (o.size % m->psize)
		snprintf(
			m->skip, sizeof(m->skip),
			"the region (%lu MiB) is not a multiple of the %s page: --size %s or more",
			o.size / HT_MB, name, name);
}

/* Its pool through needs/setup/teardown, then the run. */
static void run_mode(struct mode *m, const uint32_t *order)
{
	struct ht_needs n = { .page_size = m->psize,
			      .pages = m->psize ? o.size / m->psize : 0,
			      .uffd_minor = m->psize != 0,
			      .hgm = m->split };
	struct ht_env env = { 0 };
	char why[HT_WHY_LEN + 64];
	const char *r;

	probe_mode(m);
	if (m->skip[0])
		return;
	if (m->psize && (r = ht_setup(&n, &env))) {
		if (ht_setup_error(r)) {
			m->failed = true;
			sk_fail(&rep, "%s: %s", m->name, r);
		}
		snprintf(m->skip, sizeof(m->skip), "%s", r);
		return;
	}
	printf("%s: %s ...\n", m->name, m->what);
	if (mode_exec(m, order, why, sizeof(why))) {
		m->failed = true;
		sk_fail(&rep, "%s: %s", m->name, why);
	}
	if (m->psize && ht_teardown(&env, why, sizeof(why))) {
		m->failed = true;
		sk_fail(&rep, "%s: pool not restored: %s", m->name, why);
	}
}

/* ---- the report ---- */

static const struct mode *ran(enum mode_id k)
{
	return selected[k] && modes[k].ran && modes[k].faults ? &modes[k] :
								NULL;
}

static void print_mode(const struct mode *m)
{
	char unit[HT_SIZE_NAME_LEN];

	if (m->skip[0]) {
		printf("%-9s skip: %s\n", m->name, m->skip);
		return;
	}
	if (!m->faults) {
		printf("%-9s no fault completed\n", m->name);
		return;
	}
	ht_size_name_r(m->unit, unit, sizeof(unit));
	printf("%-9s %5s %8ld %9.0f %12.1f %10.1f %10.1f %11.1f %10.1f %10.1f %10.1f %10.1f\n",
	       m->name, unit, m->faults, (double)m->faults * m->unit / HT_MB,
	       m->first_us, m->d[X_STALL].p50, m->d[X_STALL].p99,
	       m->d[X_STALL].max, m->d[X_LINK].p50, m->d[X_KERNEL].p50,
	       m->d[X_KERNEL].p99, m->total_ms);
}

static void print_ratio(enum mode_id a, enum mode_id b)
{
	const struct mode *x = ran(a), *y = ran(b);

	if (!x || !y)
		return;
	printf("ratio %s / %s: p99 stall %.3g, time to first access %.3g\n",
	       x->name, y->name, x->d[X_STALL].p99 / y->d[X_STALL].p99,
	       x->first_us / y->first_us);
}

static void print_report(void)
{
	printf("%-9s %5s %8s %9s %12s %10s %10s %11s %10s %10s %10s %10s\n",
	       "mode", "unit", "faults", "MiB", "first us", "stall p50", "p99",
	       "max", "link p50", "kern p50", "kern p99", "total ms");
	for (int k = 0; k < M_N; k++)
		if (selected[k])
			print_mode(&modes[k]);
	printf("(us per fault; stall = link (simulated) + kernel (delivery + CONTINUE to access done))\n");
	print_ratio(M_HGM4K_1G, M_HUGE1G);
	print_ratio(M_HGM4K, M_HUGE1G);
	print_ratio(M_HGM4K, M_HUGE2M);
}

static void json_dist(struct ht_json *j, const char *key, const struct dist *d)
{
	struct ht_json *s = ht_json_obj(j, key);

	ht_json_num(s, "p50", "%.3f", d->p50);
	ht_json_num(s, "p99", "%.3f", d->p99);
	ht_json_num(s, "max", "%.3f", d->max);
	ht_json_num(s, "mean", "%.3f", d->mean);
}

static void json_mode(struct ht_json *list, const struct mode *m)
{
	struct ht_json *s = ht_json_obj(list, NULL);

	ht_json_string(s, "name", m->name);
	ht_json_string(s, "what", m->what);
	ht_json_num(s, "page_size", "%lu", m->psize ? m->psize : PIECE);
	ht_json_num(s, "unit", "%lu", m->unit);
	if (m->skip[0]) {
		ht_json_string(s, "skipped", m->skip);
		return;
	}
	ht_json_bool(s, "failed", m->failed);
	ht_json_num(s, "faults", "%ld", m->faults);
	ht_json_num(s, "bytes_transferred", "%lu", m->faults * m->unit);
	ht_json_num(s, "eexist", "%ld", m->eexist);
	ht_json_num(s, "link_nominal_us", "%.3f", m->link_nominal_us);
	ht_json_num(s, "total_ms", "%.3f", m->total_ms);
	if (!m->faults) {
		ht_json_null(s, "time_to_first_access_us");
		return;
	}
	ht_json_num(s, "time_to_first_access_us", "%.3f", m->first_us);
	for (int x = 0; x < X_N; x++)
		json_dist(s, metric_names[x], &m->d[x]);
}

static void json_ratio(struct ht_json *j, enum mode_id a, enum mode_id b)
{
	const struct mode *x = ran(a), *y = ran(b);
	char key[64];
	struct ht_json *s;

	snprintf(key, sizeof(key), "%s/%s", modes[a].name, modes[b].name);
	if (!x || !y) {
		ht_json_null(j, key);
		return;
	}
	s = ht_json_obj(j, key);
	ht_json_num(s, "p99_stall", "%.6g",
		    x->d[X_STALL].p99 / y->d[X_STALL].p99);
	ht_json_num(s, "time_to_first_access", "%.6g",
		    x->first_us / y->first_us);
}

static int write_json(const char *release)
{
	struct ht_json *j = ht_json_new(), *c, *l;
	int ret;

	sk_json_head(j, "postcopy", release, &rep);
	c = ht_json_obj(j, "config");
	ht_json_num(c, "bytes", "%lu", o.size);
	ht_json_string(c, "pattern", pattern_names[o.pattern]);
	ht_json_num(c, "touches", "%ld", o.touches);
	ht_json_num(c, "piece_size", "%lu", PIECE);
	ht_json_num(c, "link_gbit", "%g", o.link_gbit);
	ht_json_num(c, "rtt_us", "%ld", o.rtt_us);
	ht_json_num(c, "seed", "%ld", o.seed);
	l = ht_json_list(j, "modes");
	for (int k = 0; k < M_N; k++)
		if (selected[k])
			json_mode(l, &modes[k]);
	c = ht_json_obj(j, "ratios");
	json_ratio(c, M_HGM4K_1G, M_HUGE1G);
	json_ratio(c, M_HGM4K, M_HUGE1G);
	json_ratio(c, M_HGM4K, M_HUGE2M);
	sk_json_kmsg(j, &rep);
	ret = sk_json_save(j, o.json);
	ht_json_free(j);
	return ret;
}

/* Room for the source and one mode's region, with 256 MiB to spare. */
static const char *check_memory(void)
{
	static char why[160];
	unsigned long avail_kb;

	if (ht_meminfo_read("MemAvailable", &avail_kb))
		return NULL;
	if (avail_kb * HT_KB >= 2 * o.size + 256 * HT_MB)
		return NULL;
	snprintf(
		why, sizeof(why),
		"refusing: MemAvailable %lu MiB cannot hold 2 x %lu MiB + 256 MiB",
		avail_kb / 1024, o.size / HT_MB);
	return why;
}

static void run_modes(void)
{
	uint32_t *order = make_order();

	if (!order) {
		sk_fail(&rep, "out of memory for the touch order");
		return;
	}
	for (int i = 0; i < M_N && !sk_got_signal; i++)
		if (selected[run_order[i]])
			run_mode(&modes[run_order[i]], order);
	free(order);
}

int main(int argc, char **argv)
{
	struct ht_needs needs = { .page_size = ht_default_page_size() };
	struct sk_run run;
	struct utsname u;
	const char *r;
	int code, nran = 0;

	sk_parse(&prog, argc, argv);
	check_args();
	setvbuf(stdout, NULL, _IOLBF, 0);
	uname(&u);
	if (!sk_root("hugetlb pools"))
		return EXIT_SKIP;
	if ((r = check_memory())) {
		printf("skip: %s\n", r);
		return EXIT_SKIP;
	}
	/* The pools of every size are snapshot here and put back at exit. */
	code = sk_setup(&run, &needs, 30);
	if (code)
		return code;
	sk_stop = &stop;
	printf("postcopy: %lu MiB, %s, %ld touches of 4 KiB, link %g Gbit/s + %ld us per request, kernel %s\n",
	       o.size / HT_MB, pattern_names[o.pattern], o.touches, o.link_gbit,
	       o.rtt_us, u.release);
	run_modes();
	sk_restore(&run, &rep);
	sk_kmsg_check(&run, &rep);

	print_report();
	rep.interrupted = sk_got_signal;
	for (int k = 0; k < M_N; k++)
		nran += selected[k] && modes[k].ran;
	if (!nran && !rep.failures[0] && !rep.interrupted)
		printf("skip: no mode could run here\n");
	sk_print_verdict(&rep);
	code = sk_exit_code(&rep);
	if (!nran && code == EXIT_PASS)
		code = EXIT_SKIP;
	if (o.json && write_json(u.release))
		code = EXIT_FAIL;
	return code;
}
