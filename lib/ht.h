/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libht: the one helper library of the HugeTLB/HGM test suite.
 *
 * Every test and stress program reads the kernel's state through these
 * helpers, so a parser bug shows up in the unit tests (tests/unit) instead
 * of as a wrong verdict in the battery.  Functions return 0 or a negative
 * errno unless stated otherwise; none of them exits the process.
 */
#ifndef HT_H
#define HT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <signal.h>
#include <setjmp.h>
/* CAP_* for ht_needs.caps and ht_probe_cap() */
#include <linux/capability.h>

#define HT_KB 1024UL
#define HT_MB (1024UL * 1024)
#define HT_GB (1024UL * 1024 * 1024)
/*
 * The largest buddy allocation (x86-64: 4 KiB << MAX_PAGE_ORDER 10): a
 * larger huge page is gigantic, from contiguous ranges or from boot.
 */
#define HT_MAX_BUDDY_SIZE (4 * HT_MB)

/*
 * The base page as a constant, for arrays of a few base pages and for
 * offsets a case fixes at compile time.  The suite targets x86_64, where
 * it is 4 KiB; whatever is sized at run time uses ht_base_page_size().
 */
#define HT_BASE_PAGE 4096UL

#define HT_MAX_SIZES 8
#define HT_MAX_NODES 64

#ifndef MADV_SPLIT
/* The posted HGM series' value (x86_64); unused upstream through 6.18. */
#define MADV_SPLIT 26
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

/* ---- sysfs/procfs scalar files (util.c) ---- */
int ht_read_file(const char *path, char *buf, size_t len);
int ht_read_ulong(const char *path, unsigned long *val);
int ht_write_ulong(const char *path, unsigned long val);
int ht_parse_ulong(const char *s, unsigned long *val);
/* Writes @s in one write(2): 0, -errno, or -EIO when it was cut short. */
int ht_write_str(const char *path, const char *s);
/* Loose allocation of a whole /proc file; caller frees.  NULL + errno. */
char *ht_slurp(const char *path, size_t *len);
size_t ht_base_page_size(void);
/*
 * Running kernel older than @major.@minor?  For expectations that name a
 * version boundary; every use says which kernel change moved it.  The
 * suite's one version check: an unreadable release counts as new.
 */
bool ht_kernel_before(int major, int minor);
/* CLOCK_MONOTONIC in ns, for the stress programs' timings. */
long ht_now_ns(void);

/* ---- huge page sizes (hugetlb.c) ---- */
/* Sizes in bytes from /sys/kernel/mm/hugepages, ascending. */
int ht_page_sizes(unsigned long *sizes, int max);
bool ht_page_size_supported(unsigned long size);
unsigned long ht_default_page_size(void);
int ht_size_shift(unsigned long size);
/* "2M", "1G" into @buf (HT_SIZE_NAME_LEN is enough); returns @buf. */
#define HT_SIZE_NAME_LEN 24
char *ht_size_name_r(unsigned long size, char *buf, size_t len);
int ht_memfd_hugetlb(const char *name, unsigned long size);

/*
 * The huge page size that one entry of a page table level maps: the base
 * page times the entries per table (base page / 8 bytes) for each level
 * above the PTE table.  x86_64: PMD 2 MiB, PUD 1 GiB; arm64 64 KiB: PMD
 * 512 MiB.  Whether the kernel offers it is ht_page_size_supported()'s.
 */
enum ht_level { HT_LEVEL_PMD = 1, HT_LEVEL_PUD = 2 };
unsigned long ht_level_size(enum ht_level level);
#define ht_pmd_size() ht_level_size(HT_LEVEL_PMD)
#define ht_pud_size() ht_level_size(HT_LEVEL_PUD)

/* ---- NUMA nodes (hugetlb.c) ---- */
/* Memory nodes (N_MEMORY), sparse ids allowed; returns the count. */
int ht_memory_nodes(int *nodes, int max);
int ht_parse_nodelist(const char *s, int *nodes, int max);

/* ---- pools (pool.c) ---- */
struct ht_pool {
	unsigned long nr, free, resv, surplus, overcommit;
};
/* node < 0: global counters from /sys/kernel/mm/hugepages. */
int ht_pool_read(unsigned long size, int node, struct ht_pool *p);
int ht_pool_set_nr(unsigned long size, int node, unsigned long nr);
int ht_pool_set_overcommit(unsigned long size, unsigned long nr);
/* Raise the pool until @count pages are free (on @node, or anywhere). */
int ht_pool_ensure_free(unsigned long size, int node, unsigned long count);
/*
 * Raise the pool by @count fresh pages (on @node, or anywhere), whatever
 * is free already: -ENOMEM when the kernel could not allocate them all
 * (what it did allocate stays in the pool).
 */
int ht_pool_grow(unsigned long size, int node, unsigned long count);
/*
 * Surplus pages of @size on @node (or anywhere) become persistent: the
 * pool's count written back as it reads.  A freed page then stays in the
 * pool instead of going back to the buddy allocator (free_huge_folio()).
 */
int ht_pool_persist_surplus(unsigned long size, int node);

/*
 * The model of one process's view of one huge page.  ht_expect_page()
 * compares every view the kernel offers with it: smaps of the VMA,
 * numa_maps, status, pagemap, kpagecount and kpageflags.
 */
struct ht_expect {
	bool mapped; /* present in this process */
	bool shared; /* Shared_Hugetlb, else Private_Hugetlb */
	bool anon; /* MAP_PRIVATE copy: KPF_ANON, no PM_FILE, anon= */
	unsigned long mapcount; /* kpagecount, head and tail */
	unsigned long hugetlb_kb; /* status HugetlbPages */
	int node; /* N<node>=1 in numa_maps; -1: not checked */
	/* PM_MMAP_EXCLUSIVE when it is not simply !shared: 1 set, -1 clear */
	int pm_exclusive;
	/* not mapped: a hwpoison entry in its place, which smaps counts */
	bool poisoned;
	/* HGM: PAGE_SIZE pieces mapped (the first and last among them); 0: all */
	unsigned long pieces;
};

/*
 * The page model (page_model.c): one huge page and the processes that map
 * it, each with how many of its VMAs map the page (a VMA counts once
 * however much of the page it maps: one mapcount per (VMA, folio), huge
 * or HGM).  Tests apply each step to it and compare every process's view
 * with ht_model_view() (ht_model_check() in ht_harness.h).
 */
#define HT_MODEL_MAPPERS 16
struct ht_page_model {
	unsigned long psize;
	int node; /* where the page is; -1: not known, not checked */
	bool anon; /* a MAP_PRIVATE copy */
	bool poisoned; /* memory_failure() unmapped it everywhere */
	int n;
	struct ht_mapper {
		pid_t pid; /* 0: the test's own process */
		int vmas; /* VMAs of this process mapping the page */
		unsigned long base_kb; /* HugetlbPages from other mappings */
		/*
		 * HGM: the PAGE_SIZE pieces each of its VMAs maps (the page's
		 * first and last among them), which smaps counts; HugetlbPages
		 * and kpagecount count the (VMA, page) pair whatever it maps.
		 * 0: the whole page.
		 */
		unsigned long pieces;
	} m[HT_MODEL_MAPPERS];
};
void ht_model_init(struct ht_page_model *pm, unsigned long psize, int node);
/* @pid maps the page in @vmas more VMAs (fewer when negative). */
void ht_model_map(struct ht_page_model *pm, pid_t pid, int vmas);
/* The same, each of @pid's VMAs mapping @pieces PAGE_SIZE pieces (HGM). */
void ht_model_map_pieces(struct ht_page_model *pm, pid_t pid, int vmas,
			 unsigned long pieces);
/* @pid unmapped it everywhere, or exited. */
void ht_model_unmap(struct ht_page_model *pm, pid_t pid);
/* The page was poisoned: every mapping holds a hwpoison entry now. */
void ht_model_poison(struct ht_page_model *pm);
/* HugetlbPages @pid has from mappings the model does not hold. */
void ht_model_base(struct ht_page_model *pm, pid_t pid, unsigned long kb);
/* (VMA, page) pairs: kpagecount of head and tail. */
unsigned long ht_model_mapcount(const struct ht_page_model *pm);
struct ht_expect ht_model_view(const struct ht_page_model *pm, pid_t pid);
/* smaps (rollup) Shared_Hugetlb and Private_Hugetlb of @pid, in kB. */
void ht_model_smaps_kb(const struct ht_page_model *pm, pid_t pid,
		       unsigned long *shared_kb, unsigned long *private_kb);

/*
 * The pool model (pool_model.c): @want is what the counters must read;
 * a case starts from the kernel's numbers (init) and updates @want at
 * every step its model predicts a change.  Rsvd and overcommit exist
 * only globally (@node < 0).
 */
struct ht_pool_model {
	unsigned long psize;
	int node;
	struct ht_pool want;
};
int ht_pool_model_init(struct ht_pool_model *m, unsigned long psize, int node);
/* A predicted change: @want's counters move by these deltas. */
void ht_pool_model_move(struct ht_pool_model *m, long nr, long free, long resv,
			long surp);
/* 0, or -1 with every differing counter and broken invariant in @why. */
int ht_pool_model_check(const struct ht_pool_model *m, char *why, size_t len);
/*
 * The same model against /proc/meminfo (@m->node < 0) or the node's
 * meminfo, whose HugePages_Total/Free/Surp (and Rsvd, globally) report
 * the default size only: 0 for any other size, else as above.
 */
int ht_pool_model_check_meminfo(const struct ht_pool_model *m, char *why,
				size_t len);
/* free <= nr, surplus <= nr, and globally resv <= free: 0, or 1 + @why. */
int ht_pool_invariants(const struct ht_pool *p, bool global, char *why,
		       size_t len);

struct ht_pool_snapshot {
	int nsizes, nnodes;
	unsigned long size[HT_MAX_SIZES];
	int node[HT_MAX_NODES];
	unsigned long nr[HT_MAX_SIZES], overcommit[HT_MAX_SIZES];
	unsigned long node_nr[HT_MAX_SIZES][HT_MAX_NODES];
};
int ht_pool_snapshot(struct ht_pool_snapshot *s);
/*
 * ht_pool_set_nr() refuses to take a gigantic pool (pages larger than
 * HT_MAX_BUDDY_SIZE) below @s; NULL removes the floor.  ht_setup() sets it.
 */
void ht_pool_set_floor(const struct ht_pool_snapshot *s);
/* Per-node first (shrinking before growing), then the global overcommit. */
int ht_pool_restore(const struct ht_pool_snapshot *s);
/* 0 when equal, else 1 and a description of the first difference. */
int ht_pool_diff(const struct ht_pool_snapshot *a,
		 const struct ht_pool_snapshot *b, char *why, size_t len);

/* ---- /proc text parsers (parse.c); pure functions over a buffer ---- */
/*
 * smaps fields this suite reads, in kB.  @seen has bit (1 << HT_SMAPS_x)
 * set for every field present, so a missing line is not mistaken for 0.
 */
enum ht_smaps_field {
	HT_SMAPS_SIZE,
	HT_SMAPS_KERNELPAGESIZE,
	HT_SMAPS_RSS,
	HT_SMAPS_PSS,
	HT_SMAPS_SHARED_CLEAN,
	HT_SMAPS_SHARED_DIRTY,
	HT_SMAPS_PRIVATE_CLEAN,
	HT_SMAPS_PRIVATE_DIRTY,
	HT_SMAPS_ANONYMOUS,
	HT_SMAPS_SHARED_HUGETLB,
	HT_SMAPS_PRIVATE_HUGETLB,
	HT_SMAPS_HUGETLB_PUD_MAPPED,
	HT_SMAPS_HUGETLB_PMD_MAPPED,
	HT_SMAPS_HUGETLB_PTE_MAPPED,
	HT_SMAPS_NFIELDS
};

struct ht_smaps_vma {
	unsigned long start, end, pgoff;
	char perms[5];
	char name[256];
	unsigned long val[HT_SMAPS_NFIELDS];
	unsigned int seen;
	char vmflags[160];
};

/* Returns the number of VMAs parsed (at most @max), or -EINVAL. */
int ht_smaps_parse(const char *text, struct ht_smaps_vma *vmas, int max);
/* smaps_rollup: one pseudo-VMA. */
int ht_smaps_rollup_parse(const char *text, struct ht_smaps_vma *out);
bool ht_vmflags_has(const struct ht_smaps_vma *v, const char *flag);
/* "Key:   123 kB" files (status, meminfo, node meminfo). */
int ht_kv_parse(const char *text, const char *key, unsigned long *val);

struct ht_numa_maps {
	unsigned long addr;
	char policy[64];
	bool huge, file;
	unsigned long dirty, anon, mapped, mapmax, kernelpagesize_kb;
	unsigned long node_pages[HT_MAX_NODES]; /* N<n>= */
	unsigned int seen; /* bits: HT_NM_x */
};
enum {
	HT_NM_DIRTY = 1 << 0,
	HT_NM_ANON = 1 << 1,
	HT_NM_MAPPED = 1 << 2,
	HT_NM_MAPMAX = 1 << 3,
	HT_NM_KPS = 1 << 4,
};
/* Finds the line for @addr; -ENOENT when absent. */
int ht_numa_maps_parse(const char *text, unsigned long addr,
		       struct ht_numa_maps *out);

/*
 * One value of a cgroup keyed file: "key value" lines (flat keyed, e.g.
 * hugetlb.2MB.events) or "key=value" words (nested, e.g. numa_stat's
 * "total=0 N0=0").  -ENOENT when @key is absent, -EINVAL for a bad value.
 */
int ht_cg_key_parse(const char *text, const char *key, unsigned long *val);
/*
 * /proc/kallsyms text: the address of the kernel's (not a module's)
 * symbol @name in *start, and in *end the next higher address of any
 * symbol (where @name's code ends).  -ENOENT if absent, -EPERM if the
 * addresses read 0 (kptr_restrict hides them), -EINVAL on a bad line.
 */
int ht_kallsyms_parse(const char *text, const char *name, unsigned long *start,
		      unsigned long *end);

/* ---- live readers (procfs.c) ---- */
int ht_smaps_read(pid_t pid, unsigned long addr, struct ht_smaps_vma *out);
int ht_smaps_rollup_read(pid_t pid, struct ht_smaps_vma *out);
int ht_status_read(pid_t pid, const char *key, unsigned long *val);
int ht_meminfo_read(const char *key, unsigned long *val);
int ht_node_meminfo_read(int node, const char *key, unsigned long *val);
/*
 * Pages backing struct pages (vmstat nr_memmap_pages + the boot ones):
 * -1 when the kernel does not count them (before 6.11, "mm: report
 * per-page metadata information").
 */
long ht_memmap_pages(void);
/*
 * What HVO frees of one @psize page's vmemmap: all of it but the head's
 * page, which it copies into a new page (__hugetlb_vmemmap_optimize_folio());
 * freeing the folio to the buddy allocator allocates those back
 * (hugetlb_vmemmap_restore_folio()).
 */
long ht_hvo_saving(unsigned long psize);
int ht_numa_maps_read(pid_t pid, unsigned long addr, struct ht_numa_maps *o);
/* ht_kallsyms_parse() of /proc/kallsyms. */
int ht_kallsyms_range(const char *name, unsigned long *start,
		      unsigned long *end);

/* ---- pagemap, kpagecount, kpageflags (pagemap.c) ---- */
#define HT_PM_PFN_MASK ((1ULL << 55) - 1)
#define HT_PM_SOFT_DIRTY (1ULL << 55)
#define HT_PM_MMAP_EXCLUSIVE (1ULL << 56)
#define HT_PM_UFFD_WP (1ULL << 57)
#define HT_PM_FILE (1ULL << 61)
#define HT_PM_SWAP (1ULL << 62)
#define HT_PM_PRESENT (1ULL << 63)
int ht_pagemap_read(pid_t pid, unsigned long addr, uint64_t *entry);
int ht_kpagecount_read(uint64_t pfn, uint64_t *count);
int ht_kpageflags_read(uint64_t pfn, uint64_t *flags);
/* Number of PAGE_SIZE pieces present in [addr, addr + len). */
long ht_pagemap_count_present(pid_t pid, unsigned long addr, size_t len);
/*
 * PAGE_SIZE pieces of the caller's [addr, addr + len) that mincore(2)
 * reports resident; -errno of mincore, or -EPROTO for a byte with a bit
 * mincore does not define (anything but 0 or 1).
 */
long ht_mincore_resident(void *addr, size_t len);
/*
 * The first PAGE_SIZE piece of [addr, addr + len) whose pagemap presence
 * (of @pid) or mincore(2) byte (the caller's) is not @want[i], 0 or 1, in
 * *first; -1 when every piece is as wanted.  0, or -errno of the read.
 */
int ht_pagemap_first_diff(pid_t pid, unsigned long addr, size_t len,
			  const unsigned char *want, long *first);
int ht_mincore_first_diff(void *addr, size_t len, const unsigned char *want,
			  long *first);

/* ---- userfaultfd (uffd.c) ---- */
/* Opens a uffd with API handshake; fails with -ENOTSUP if @features lack. */
int ht_uffd_open(uint64_t features);
int ht_uffd_register(int uffd, void *addr, size_t len, uint64_t mode);
/* UFFDIO_CONTINUE: 0 or -errno (the ioctl's errno). */
int ht_uffd_continue(int uffd, void *addr, size_t len);
/* Waits up to @timeout_ms for a pagefault message; 0, -ETIMEDOUT, -errno. */
int ht_uffd_read_fault(int uffd, int timeout_ms, unsigned long *addr,
		       uint64_t *flags);

/* ---- SIGBUS capture (sigbus.c) ---- */
struct ht_sigbus {
	bool hit;
	int code; /* si_code: BUS_MCEERR_AR, BUS_MCEERR_AO, BUS_ADRERR... */
	unsigned long addr;
	int addr_lsb;
	int signo; /* SIGBUS; ht_access() also SIGSEGV */
};
/* Reads (or writes) one byte at @addr; reports a SIGBUS instead of dying. */
int ht_touch(volatile void *addr, bool write, struct ht_sigbus *out);
/*
 * Reads one byte at @addr, or writes @val there, and reports a SIGBUS or
 * a SIGSEGV (@out->signo) instead of dying.  A refused write of a new
 * value shows in the memory afterwards; ht_touch() writes back what it
 * read.
 */
int ht_access(volatile void *addr, bool write, unsigned char val,
	      struct ht_sigbus *out);
/* madvise() with a SIGBUS during the call captured (MADV_HWPOISON). */
int ht_madvise_catch(void *addr, size_t len, int advice, struct ht_sigbus *out);
/*
 * An asynchronous SIGBUS (BUS_MCEERR_AO, early kill) is recorded here by a
 * handler that returns instead of dying.
 */
void ht_sigbus_record_async(void);
bool ht_sigbus_async_get(struct ht_sigbus *out);

/* ---- process groups (proc_group.c) ---- */
/*
 * A child runs @fn and talks to the parent over a socketpair.  Children die
 * with their parent (PR_SET_PDEATHSIG), so a killed test leaves nothing.
 */
struct ht_child {
	pid_t pid;
	int sock;
};
typedef int (*ht_child_fn)(int sock, void *arg);
int ht_spawn(struct ht_child *c, ht_child_fn fn, void *arg);
int ht_send(int sock, int64_t val);
/* -ETIMEDOUT after @timeout_ms, -EPIPE when the peer has gone. */
int ht_recv(int sock, int64_t *val, int timeout_ms);
/* Waits for exit; kills after @timeout_ms.  Returns the wait status. */
int ht_reap(struct ht_child *c, int timeout_ms);
/* The child side of a barrier: send @val, wait for the parent's go. */
int ht_child_sync(int sock, int64_t val);

/*
 * ---- feature probes (probe.c): NULL = present, else why not ----
 * The _r probes write a reason with details into @why (HT_WHY_LEN is
 * enough) and return it; the others return string literals.
 */
#define HT_WHY_LEN 320
/* @psize 0: the smallest huge page size */
const char *ht_probe_hgm_r(unsigned long psize, char *why, size_t len);
const char *ht_probe_memory_failure(void);
const char *ht_probe_hwpoison_inject(void);
const char *ht_probe_uffd_minor_hugetlb_r(char *why, size_t len);
const char *ht_probe_nodes_r(int need, char *why, size_t len);
const char *ht_probe_cap_r(int cap, char *why, size_t len);
const char *ht_probe_page_size_r(unsigned long size, char *why, size_t len);
const char *ht_probe_refcount_knob(void);
bool ht_has_cap(int cap);
/* Drops @cap from the caller's effective, permitted, inheritable sets. */
int ht_drop_cap(int cap);

/*
 * ---- the cgroup v2 hugetlb controller (cgroup.c) ----
 * A case's groups live below HT_CG_PREFIX<pid> at the root of the cgroup2
 * hierarchy, so that what a killed program left is found by its name
 * (scripts/runner/state.sh removes it).  ht_cg_setup() finds the cgroup2
 * mount with the hugetlb controller or mounts one, enables +hugetlb in the
 * root's cgroup.subtree_control if it is not, and makes that group with
 * +hugetlb for its children; ht_cg_teardown() moves every task of the
 * subtree back to @orig and undoes exactly what setup did.  Both usually
 * run inside ht_setup()/ht_teardown() (ht_needs.cgroup).
 */
#define HT_CG_PREFIX "hgmt-"
/* hugetlb.<size>.max and rsvd.max read "max": no limit. */
#define HT_CG_MAX (~0UL)
struct ht_cgroup {
	char mnt[128]; /* the cgroup2 mount point */
	char top[160]; /* mnt/hgmt-<pid>: the case's subtree */
	char orig[256]; /* the caller's cgroup at setup: tasks go back there */
	bool mounted; /* mnt is our mount */
	bool enabled; /* +hugetlb in mnt's cgroup.subtree_control is ours */
};
/* NULL when a cgroup2 hierarchy can have the hugetlb controller. */
const char *ht_probe_cgroup_hugetlb_r(char *why, size_t len);
/* NULL, or why not (starting with HT_ERROR_PREFIX); nothing is left. */
const char *ht_cg_setup(struct ht_cgroup *cg, char *why, size_t len);
int ht_cg_teardown(struct ht_cgroup *cg, char *why, size_t len);
/* Makes top/@name; *@path gets its path. */
int ht_cg_mkdir(const struct ht_cgroup *cg, const char *name, char *path,
		size_t len);
/* rmdir, waiting for exiting tasks to leave. */
int ht_cg_rmdir(const char *group);
/* Moves process @pid (0: the caller) into @group. */
int ht_cg_move(const char *group, pid_t pid);
/* The kernel's name of a size in file names: "2MB", "1GB". */
char *ht_cg_size_name(unsigned long psize, char *buf, size_t len);
/* hugetlb.<size>.<file> of @group: a number or "max" (HT_CG_MAX). */
int ht_cg_read(const char *group, unsigned long psize, const char *file,
	       unsigned long *val);
int ht_cg_write(const char *group, unsigned long psize, const char *file,
		unsigned long val);
/* One key of a keyed file: events ("max 1"), numa_stat ("N0=2097152"). */
int ht_cg_read_key(const char *group, unsigned long psize, const char *file,
		   const char *key, unsigned long *val);
/* The same for any keyed file of @group, e.g. cgroup.stat. */
int ht_cg_read_keyed(const char *group, const char *file, const char *key,
		     unsigned long *val);

/* ---- test requirements and their restore (needs.c) ---- */
enum ht_gran { HT_GRAN_HUGE, HT_GRAN_HGM };

struct ht_needs {
	unsigned long page_size; /* 0: no huge pages needed */
	unsigned long pages; /* free pages of page_size, anywhere */
	unsigned long pages_per_node; /* free pages on each of @nodes nodes */
	int nodes; /* memory nodes needed */
	int caps[4]; /* CAP_* required, 0-terminated (CAP_CHOWN is 0: unused) */
	bool hgm, memory_failure, hwpoison_inject, uffd_minor, refcount_knob;
	bool destructive; /* runs only when HT_ALLOW_DESTRUCTIVE=1 */
	bool cgroup; /* a cgroup2 subtree with the hugetlb controller: env->cg */
	const char *sysctls[4]; /* saved and restored, NULL-terminated */
};

/*
 * The machine's pool lock (machine_lock.c): exclusive, from a pool
 * snapshot until the restore; a runner that holds it passes HT_LOCK_FD.
 */
struct ht_lock {
	int fd; /* -1: not ours (none, or the runner's) */
	pid_t pid; /* the process that took it */
};
const char *ht_lock_path(void);
/* 0, or -errno with @why saying who holds it. */
int ht_lock_take(struct ht_lock *l, char *why, size_t len);
void ht_lock_release(struct ht_lock *l);

struct ht_env {
	struct ht_pool_snapshot pools;
	struct ht_lock lock;
	int nsysctls;
	char sysctl_path[4][128];
	unsigned long sysctl_val[4];
	int nodes[HT_MAX_NODES];
	int nnodes;
	struct ht_cgroup cg; /* with ht_needs.cgroup: the case's cgroups */
	bool active;
	char why[HT_WHY_LEN]; /* ht_setup()'s reason when it has details */
};

/*
 * Checks and provides what @n declares.  Returns NULL when the test may
 * run, or the skip reason (a literal or @env->why).  On a skip nothing
 * is left changed.  A provisioning failure that is not a missing
 * resource starts with HT_ERROR_PREFIX so that the caller fails instead
 * of skipping: ht_setup_error() tells which.
 */
#define HT_ERROR_PREFIX "error: "
const char *ht_setup(const struct ht_needs *n, struct ht_env *env);
/* @why from ht_setup() is a broken environment, not a missing feature. */
bool ht_setup_error(const char *why);
/* Restores; 0 or -1 with @why describing what could not be restored. */
int ht_teardown(struct ht_env *env, char *why, size_t len);

/* ---- restore after SIGKILL (guard.c) ---- */
/* A child that runs ht_teardown(@env) if the caller dies unrestored. */
struct ht_guard {
	pid_t pid; /* 0: none */
	int fd; /* the pipe's write end; -1: none */
};
/*
 * Forks the guard; it retries ht_teardown once a second @tries times.
 * Start it before making hugetlb files: it keeps what is open at fork.
 */
int ht_guard_start(struct ht_guard *g, struct ht_env *env, int tries);
/* After the caller's own ht_teardown(): the guard exits without acting. */
void ht_guard_stop(struct ht_guard *g);

/* ---- a hugetlb file and its mappings (region.c) ---- */
struct ht_file {
	int fd;
	unsigned long psize;
	size_t len;
};
int ht_file_create(struct ht_file *f, unsigned long psize, size_t len);
void ht_file_close(struct ht_file *f);
/* Fills the page cache with @seed's pattern through a temporary mapping. */
int ht_file_fill(struct ht_file *f, size_t off, size_t len, uint32_t seed);

/* mmap with @align alignment (for PMD sharing); MAP_FAILED + errno. */
void *ht_mmap_aligned(size_t len, size_t align, int prot, int flags, int fd,
		      off_t off);

/*
 * Maps [off, off + len) of @f shared and makes every page present at
 * granularity @g: HUGE faults each huge page; HGM does MADV_SPLIT,
 * registers a MINOR uffd and CONTINUEs every PAGE_SIZE piece.  The file
 * must already hold the pages (ht_file_fill).  *uffd_out gets the uffd
 * (HGM) or -1.  Returns the address or MAP_FAILED with errno.
 */
void *ht_map_populated(struct ht_file *f, size_t off, size_t len,
		       enum ht_gran g, int *uffd_out);
/*
 * The same at @at (MAP_FIXED: it replaces what is there, e.g. part of a
 * PROT_NONE reservation that places two mappings side by side), or
 * anywhere when @at is NULL.
 */
void *ht_map_populated_at(struct ht_file *f, size_t off, size_t len,
			  enum ht_gran g, void *at, int *uffd_out);
/*
 * Maps [0, len) of @f shared and makes present what touching the
 * PAGE_SIZE pieces at the offsets @offs[0..n) does at granularity @g: HGM
 * CONTINUEs exactly those pieces (after MADV_SPLIT, with a MINOR uffd left
 * in *uffd_out), HUGE reads them, which maps each huge page they lie in
 * whole.  ht_pieces_model() says which pieces are present then.
 */
void *ht_map_pieces(struct ht_file *f, size_t len, enum ht_gran g,
		    const size_t *offs, int n, int *uffd_out);
/*
 * Two pieces past the first 2 MiB of a page: one in the middle, and the
 * last.  Mapped alone at 1 GiB under HGM they leave the split PUD's first
 * PTE table and every 2 MiB but two without a table: a walker that looks
 * at the first table only, or reads a table-less 2 MiB as a hole of the
 * VMA, answers wrongly for them.
 */
#define HT_SPARSE_PIECES 2
#define HT_SPARSE_OFFS(psize)                                        \
	{                                                            \
		(psize) / 2 + 2 * HT_BASE_PAGE, (psize)-HT_BASE_PAGE \
	}
/* @want[i] = 1 for each piece ht_map_pieces() makes present, else 0. */
void ht_pieces_model(unsigned char *want, size_t len, unsigned long psize,
		     enum ht_gran g, const size_t *offs, int n);
const char *ht_gran_name(enum ht_gran g);

/*
 * Pattern helpers: a 64-byte stamp at the start of every PAGE_SIZE piece;
 * ht_pattern_word() is the 32-bit word at byte offset @off of the file.
 */
uint32_t ht_pattern_word(uint32_t seed, size_t off);
void ht_pattern_fill(void *addr, size_t len, size_t file_off, uint32_t seed);
/* Returns the byte offset of the first mismatch, or -1 when all match. */
long ht_pattern_check(const void *addr, size_t len, size_t file_off,
		      uint32_t seed);

/* ---- a child that maps and holds (holder.c) ---- */
enum ht_cmd {
	HT_CMD_PING = 1,
	HT_CMD_READ, /* read one byte per huge page; reply: si_code or 0 */
	HT_CMD_READ_ALL, /* read every PAGE_SIZE piece; reply: si_code or 0 */
	HT_CMD_WRITE, /* write one byte per huge page (COW); reply 0 */
	HT_CMD_CHECK, /* then seed; reply: first bad offset or -1 */
	HT_CMD_SIGINFO, /* reply: code, addr, addr_lsb of a recorded SIGBUS */
	HT_CMD_UNMAP, /* unmap every mapping; reply 0 */
	/* read every PAGE_SIZE piece up to the first SIGBUS; replies as SIGINFO */
	HT_CMD_SCAN,
	/* invert the first byte of each huge page; reply: si_code or 0 */
	HT_CMD_FLIP,
	HT_CMD_EXIT,
};

struct ht_holder {
	struct ht_file *file;
	size_t off, len;
	enum ht_gran gran;
	int nmaps; /* mappings of the same range (0 counts as 1) */
	bool private_map; /* MAP_PRIVATE instead of shared */
	bool early_kill; /* PR_MCE_KILL_EARLY; record BUS_MCEERR_AO */
	void *inherit; /* use this mapping inherited over fork; map nothing */
};
/*
 * ht_spawn() function: maps per @arg, replies with the first mapping's
 * address (or -errno), then serves HT_CMD_* until HT_CMD_EXIT.
 */
int ht_holder_fn(int sock, void *arg);
/* Parent side: spawn a holder and wait for its address. */
int ht_holder_start(struct ht_child *c, struct ht_holder *h,
		    unsigned long *addr);
/* Sends @cmd and returns the first reply (or -errno in *reply's place). */
int ht_holder_cmd(struct ht_child *c, int64_t cmd, int64_t *reply);
/* HT_CMD_CHECK: *bad_off = first mismatching offset, or -1. */
int ht_holder_check(struct ht_child *c, uint32_t seed, int64_t *bad_off);

/* ---- one process's view of one huge page (observe.c) ---- */
struct ht_obs {
	struct ht_smaps_vma vma;
	struct ht_numa_maps nm;
	bool nm_found;
	unsigned long hugetlb_kb; /* status HugetlbPages */
	uint64_t pm, pm_tail; /* pagemap of the first and last PAGE_SIZE */
	uint64_t pfn, pfn_tail;
	uint64_t count_head, count_tail; /* kpagecount */
	uint64_t flags_head, flags_tail; /* kpageflags */
	long present; /* PAGE_SIZE pieces present in the huge page */
};
/* 0, or -errno of the first file that could not be read. */
int ht_observe(pid_t pid, unsigned long addr, unsigned long psize,
	       struct ht_obs *o);
/* The node a page is on (move_pages query), or -errno / status. */
int ht_page_node(pid_t pid, void *addr);

/* ---- the kernel log (kmsg.c) ---- */
/* Opens /dev/kmsg positioned at its end; -errno if unavailable. */
int ht_kmsg_open(void);
/* Appends new lines matching the suite's complaint patterns to @buf. */
int ht_kmsg_complaints(int fd, char *buf, size_t len);
bool ht_kmsg_line_is_complaint(int level, const char *line);
/*
 * The next record's message (first line, without the prefix) into @msg:
 * 1, or 0 when there is none yet, or -errno.
 */
int ht_kmsg_next(int fd, char *msg, size_t len);
/*
 * Every record logged since the last read whose message contains
 * @needle, one a line (no final newline), into @out: the number of such
 * records, or -errno.  @out NULL and @len 0: read and dropped.
 */
int ht_kmsg_grep(int fd, const char *needle, char *out, size_t len);

/* ---- hwpoison_inject's debugfs files (hwpoison.c) ---- */
/*
 * memory_failure(@pfn, MF_SW_SIMULATED) through corrupt-pfn, and
 * unpoison_memory(@pfn) through unpoison-pfn: 0, or the kernel's -errno
 * (the write's).  Need the module (ht_needs.hwpoison_inject).
 */
int ht_hwpoison_inject_pfn(uint64_t pfn);
int ht_hwpoison_unpoison_pfn(uint64_t pfn);

/* ---- userfaultfd registration details (uffd_ioctls.c) ---- */
/* UFFDIO_REGISTER; *ioctls gets the kernel's uffdio_register.ioctls. */
int ht_uffd_register_ioctls(int uffd, void *addr, size_t len, uint64_t mode,
			    uint64_t *ioctls);

/* ---- kernel memory of a mapping run (kmem.c) ---- */
/*
 * Per VMA: vm_area_struct with its per-VMA lock, the hugetlb_vma_lock
 * and the VMA's share of maple tree nodes, about 0.35 KiB.  Per process:
 * task, kernel stack, mm, its own small mappings' tables.
 */
#define HT_KMEM_VMA_BYTES 358UL
#define HT_KMEM_PROC_BYTES (256UL * 1024)
struct ht_kmem_est {
	unsigned long vmas, pte_tables, pmd_tables, pud_tables;
	unsigned long vma_bytes, table_bytes, proc_bytes, total_bytes;
};
/*
 * @procs processes, each mapping @vmas adjacent one-page mappings of a
 * @psize huge page at granularity @g; HGM maps @pieces base pages of it
 * per VMA, spread evenly (0: every one).
 */
void ht_kmem_estimate(unsigned long procs, unsigned long vmas,
		      unsigned long psize, enum ht_gran g, unsigned long pieces,
		      struct ht_kmem_est *e);
/* VMAs of @pid (0: self), counted from /proc/<pid>/maps; or -errno. */
long ht_vma_count(pid_t pid);

/* ---- JSON reports (json.c) ---- */
/* Writes @s to @f as a quoted, escaped JSON string ("" for NULL). */
void ht_json_str(FILE *f, const char *s);
/*
 * A report as a tree of named fields, in the order they are added.  The
 * adders take the parent (NULL: they do nothing, so a failed allocation
 * needs no check at every call) and the member's name (NULL in a list);
 * ht_json_num() writes the value with a printf format, so each field keeps
 * its precision.  ht_json_write() is -ENOMEM when an allocation failed.
 */
struct ht_json;
struct ht_json *ht_json_new(void);
struct ht_json *ht_json_obj(struct ht_json *parent, const char *key);
struct ht_json *ht_json_list(struct ht_json *parent, const char *key);
void ht_json_num(struct ht_json *parent, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ht_json_string(struct ht_json *parent, const char *key, const char *s);
void ht_json_bool(struct ht_json *parent, const char *key, bool v);
void ht_json_null(struct ht_json *parent, const char *key);
int ht_json_write(const struct ht_json *root, FILE *f);
void ht_json_free(struct ht_json *root);

#endif
