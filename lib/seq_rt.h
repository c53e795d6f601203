/* SPDX-License-Identifier: GPL-2.0 */
/*
 * seq_rt: the kernel-facing half of the hgm_seq sequence tester: worker
 * processes that own mappings of one shared hugetlb file, the
 * execution of one operation, and the observation of every view the
 * checks compare (pagemap, kpagecount, smaps, status, the pool).
 *
 * It uses nothing but libc and the kernel's uapi headers on purpose: the
 * reproducer writer (seq_repro.c) pastes this header and seq_rt.c into
 * every reproducer it writes, so a reproducer runs the very code and the
 * very comparison that found the failure.
 */
#ifndef SEQ_RT_H
#define SEQ_RT_H

/* First in a reproducer: memfd_create, fallocate, strerrorname_np. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SEQRT_MAX_W 8 /* worker slots */
#define SEQRT_MAX_P 8 /* huge pages in the file */
#define SEQRT_PS 4096UL
/*
 * The pieces the model follows per page: all of a 2 MiB page; of a 1 GiB
 * page one in each 2 MiB, piece k at k * (2 MiB + 4 KiB), so that every
 * one has a PTE table of its own and sits at a different index in it
 * (seqrt_piece_off()).  The others are never touched one by one: smaps'
 * *_Hugetlb, which counts what is mapped, shows that none of them is
 * mapped where the model has only pieces.
 */
#define SEQRT_PIECES 512
#define SEQRT_WORDS (SEQRT_PIECES / 64)
#define SEQRT_PSIZE_2M (2UL * 1024 * 1024)

/* Operations; the names are in seqrt_kind_name[] (replay file format). */
enum seqrt_kind {
	SEQ_SPAWN, /* a fresh worker in slot w */
	SEQ_FORK, /* worker w forks; the child takes the first free slot */
	SEQ_EXIT, /* worker w exits */
	SEQ_MAP, /* w maps page p (MAP_SHARED, read-write) */
	SEQ_UNMAP, /* w unmaps page p */
	SEQ_SPLIT, /* w: MADV_SPLIT of page p */
	SEQ_REG, /* w registers page p with its userfaultfd, MODE_MINOR */
	SEQ_UNREG, /* w unregisters page p */
	SEQ_CONT, /* w: UFFDIO_CONTINUE of 4 KiB piece k of page p */
	SEQ_CONT_HUGE, /* w: UFFDIO_CONTINUE of the whole page p */
	SEQ_READ, /* w reads the first byte of piece k of page p */
	SEQ_WRITE, /* w writes v to the first byte of piece k of page p */
	SEQ_PROT_RO, /* w: mprotect(PROT_READ) of page p */
	SEQ_PROT_RW, /* w: mprotect(PROT_READ | PROT_WRITE) of page p */
	SEQ_DONTNEED, /* w: MADV_DONTNEED of page p */
	SEQ_COLLAPSE, /* w: MADV_COLLAPSE of page p */
	SEQ_PUNCH, /* fallocate(PUNCH_HOLE | KEEP_SIZE) of page p */
	SEQ_FALLOC, /* fallocate(0) of page p */
	SEQ_TRUNC, /* ftruncate to p pages */
	/*
	 * w: move_pages() of piece k of page p to node v & 1, with
	 * MPOL_MF_MOVE_ALL if v & 2, else MPOL_MF_MOVE
	 */
	SEQ_MIGRATE,
	/* the controller reads piece k of page p of w: process_vm_readv */
	SEQ_GUP_READ,
	/*
	 * Drawn only with --more-ops (seq_model.more_ops), so that a seed
	 * draws the sequences it always drew.
	 * the controller writes v to piece k of page p of w: process_vm_writev
	 */
	SEQ_GUP_WRITE,
	/* w reads piece k of page p through a vmsplice() pin (GUP-fast) */
	SEQ_PIN_READ,
	SEQ_NKINDS
};

extern const char *const seqrt_kind_name[SEQ_NKINDS];

struct seqrt_op {
	int kind, w, p, k, v;
};

/* Results: 0 or a read byte (0..255), -errno, or a signal. */
#define SEQRT_SIG(s) (1000 + (s))

/* What one worker's view of one page reads, or must read. */
struct seqrt_page_obs {
	bool huge_vma; /* a hugetlb VMA of this page size at the slot */
	uint64_t bits[SEQRT_WORDS]; /* pagemap present, per followed piece */
	unsigned long shared_kb, private_kb; /* smaps *_Hugetlb */
	int excl; /* present pieces with pagemap's PM_MMAP_EXCLUSIVE */
};

struct seqrt_obs {
	bool alive[SEQRT_MAX_W];
	struct seqrt_page_obs pg[SEQRT_MAX_W][SEQRT_MAX_P];
	unsigned long hugetlb_kb[SEQRT_MAX_W]; /* status HugetlbPages */
	/* kpagecount of head and tail; checked where mapcount > 0 */
	uint64_t mapcount[SEQRT_MAX_P];
	/* node of each page mapped anywhere (move_pages); want -1: any */
	int node[SEQRT_MAX_P];
	unsigned long free; /* free huge pages of the file's size, global */
	char bad[256]; /* inconsistencies seen while observing */
};

struct seqrt_worker {
	pid_t pid; /* 0: free slot */
	int sock, pidfd;
};

struct seqrt {
	int fd; /* the hugetlb memfd */
	char *base; /* slot of page p: base + 2 * p * psize */
	unsigned long psize; /* huge page size, bytes */
	int npages;
	bool policy; /* MPOL_PREFERRED set by seqrt_init() */
	struct seqrt_worker w[SEQRT_MAX_W];
};

/* Byte offset of followed piece @k in a page of @psize bytes. */
unsigned long seqrt_piece_off(unsigned long psize, int k);
/*
 * A file of @npages pages of @psize bytes.  @prefer >= 0: this process
 * and the workers it spawns allocate from node @prefer first
 * (MPOL_PREFERRED), so that where a new page lands follows from the free
 * pages per node (the model of gigantic pages needs it); -1: no policy.
 */
int seqrt_init(struct seqrt *r, int npages, unsigned long psize, int prefer);
/* Kills every worker, unmaps the slots and closes the file. */
void seqrt_fini(struct seqrt *r);
/*
 * Runs @op; @child is the slot SPAWN/FORK fill.  0 with the result in
 * *@ret, or -errno when a worker could not be driven (then @why says so).
 */
int seqrt_exec(struct seqrt *r, const struct seqrt_op *op, int child,
	       int64_t *ret, char *why, size_t len);
/* Reads every view; 0 or -errno (@o->bad lists inconsistencies). */
int seqrt_observe(struct seqrt *r, struct seqrt_obs *o);
/* 0 when @got matches @want, else 1 with every difference in @why. */
int seqrt_compare(const struct seqrt_obs *want, const struct seqrt_obs *got,
		  int npages, char *why, size_t len);
void seqrt_ret_str(int64_t ret, char *buf, size_t len);

#endif
