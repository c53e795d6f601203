// SPDX-License-Identifier: GPL-2.0
/*
 * seq_rt: workers, one operation, one observation (see seq_rt.h).  Plain
 * libc and uapi only: this file is pasted into every reproducer.
 *
 * A worker is a process that serves operations over a SOCK_SEQPACKET
 * socket; its only link to the controller is that socket, so a worker
 * sees EOF and exits whenever the controller goes, however it went, and
 * however deep in a chain of forks the worker was born.  A fork hands the
 * controller the child's new socket with SCM_RIGHTS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/mempolicy.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seq_rt.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif
#define SEQRT_MADV_SPLIT 26 /* the HGM series' value */
#define SEQRT_MADV_COLLAPSE 25
#define SEQRT_REPLY_MS 10000
#define SEQRT_PFN_MASK ((1ULL << 55) - 1)
#define SEQRT_EXCLUSIVE (1ULL << 56)
#define SEQRT_PRESENT (1ULL << 63)

const char *const seqrt_kind_name[SEQ_NKINDS] = {
	[SEQ_SPAWN] = "spawn",	       [SEQ_FORK] = "fork",
	[SEQ_EXIT] = "exit",	       [SEQ_MAP] = "map",
	[SEQ_UNMAP] = "unmap",	       [SEQ_SPLIT] = "split",
	[SEQ_REG] = "register",	       [SEQ_UNREG] = "unregister",
	[SEQ_CONT] = "continue",       [SEQ_CONT_HUGE] = "continue_huge",
	[SEQ_READ] = "read",	       [SEQ_WRITE] = "write",
	[SEQ_PROT_RO] = "mprotect_ro", [SEQ_PROT_RW] = "mprotect_rw",
	[SEQ_DONTNEED] = "dontneed",   [SEQ_COLLAPSE] = "collapse",
	[SEQ_PUNCH] = "punch",	       [SEQ_FALLOC] = "fallocate",
	[SEQ_TRUNC] = "truncate",      [SEQ_MIGRATE] = "migrate",
	[SEQ_GUP_READ] = "gup_read",   [SEQ_GUP_WRITE] = "gup_write",
	[SEQ_PIN_READ] = "pin_read",
};

static char *slot_of(const struct seqrt *r, int p)
{
	return r->base + 2 * (size_t)p * r->psize;
}

unsigned long seqrt_piece_off(unsigned long psize, int k)
{
	unsigned long stride = psize / SEQRT_PIECES;

	return k * stride + k % (stride / SEQRT_PS) * SEQRT_PS;
}

static char *piece_of(const struct seqrt *r, int p, int k)
{
	return slot_of(r, p) + seqrt_piece_off(r->psize, k);
}

/* ---- the worker side ---- */

static int w_uffd = -1;
static sigjmp_buf w_jmp;
static volatile sig_atomic_t w_sig;

static void w_on_signal(int sig)
{
	w_sig = sig;
	siglongjmp(w_jmp, 1);
}

/* One byte read or written; a SIGSEGV or SIGBUS is the result instead. */
static int64_t w_access(char *addr, int write, int v)
{
	w_sig = 0;
	if (sigsetjmp(w_jmp, 1))
		return SEQRT_SIG(w_sig);
	if (write) {
		*(volatile unsigned char *)addr = (unsigned char)v;
		return 0;
	}
	return *(volatile unsigned char *)addr;
}

/* The worker's userfaultfd, opened at its first registration. */
static int w_uffd_get(void)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_MINOR_HUGETLBFS };
	int fd;

	if (w_uffd >= 0)
		return w_uffd;
	fd = syscall(__NR_userfaultfd,
		     O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0 && errno == EINVAL)
		fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -ENOTSUP;
	}
	w_uffd = fd;
	return fd;
}

static int64_t w_uffd_op(const struct seqrt *r, const struct seqrt_op *op)
{
	char *slot = slot_of(r, op->p);
	struct uffdio_register reg = {
		.range = { (unsigned long)slot, r->psize },
		.mode = UFFDIO_REGISTER_MODE_MINOR,
	};
	struct uffdio_continue c = {
		.range = { (unsigned long)slot, r->psize },
	};
	int fd = w_uffd_get();

	if (fd < 0)
		return fd;
	switch (op->kind) {
	case SEQ_REG:
		return ioctl(fd, UFFDIO_REGISTER, &reg) ? -errno : 0;
	case SEQ_UNREG:
		return ioctl(fd, UFFDIO_UNREGISTER, &reg.range) ? -errno : 0;
	case SEQ_CONT:
		c.range.start = (unsigned long)piece_of(r, op->p, op->k);
		c.range.len = SEQRT_PS;
		/* fall through */
	default:
		return ioctl(fd, UFFDIO_CONTINUE, &c) ? -errno : 0;
	}
}

/*
 * One byte through a pipe page reference that vmsplice() took with
 * GUP-fast (iov_iter_get_pages2()), or -errno where it could not.
 */
static int64_t w_pin_read(char *addr)
{
	struct iovec iov = { addr, 1 };
	unsigned char b;
	int64_t ret;
	int pfd[2];

	if (pipe(pfd))
		return -errno;
	if (vmsplice(pfd[1], &iov, 1, 0) != 1)
		ret = -errno;
	else
		ret = read(pfd[0], &b, 1) == 1 ? b : -EIO;
	close(pfd[0]);
	close(pfd[1]);
	return ret;
}

/* The status of the one page, or -errno of the call itself. */
static int64_t move_one(pid_t pid, char *addr, const int *node, int flags)
{
	void *pages[1] = { addr };
	int status = -1;
	long n;

	n = syscall(SYS_move_pages, pid, 1, pages, node, &status, flags);
	if (n < 0)
		return -errno;
	/* n > 0: pages not migrated, and status says why. */
	return status;
}

static int64_t w_do(const struct seqrt *r, const struct seqrt_op *op)
{
	char *slot = slot_of(r, op->p), *piece = piece_of(r, op->p, op->k);
	size_t ps = r->psize;
	void *m;

	switch (op->kind) {
	case SEQ_MAP:
		m = mmap(slot, ps, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, r->fd, (off_t)op->p * ps);
		return m == MAP_FAILED ? -errno : 0;
	case SEQ_UNMAP:
		/* The slot stays reserved, so nothing else lands there. */
		m = mmap(slot, ps, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				 MAP_FIXED,
			 -1, 0);
		return m == MAP_FAILED ? -errno : 0;
	case SEQ_SPLIT:
		return madvise(slot, ps, SEQRT_MADV_SPLIT) ? -errno : 0;
	case SEQ_COLLAPSE:
		return madvise(slot, ps, SEQRT_MADV_COLLAPSE) ? -errno : 0;
	case SEQ_DONTNEED:
		return madvise(slot, ps, MADV_DONTNEED) ? -errno : 0;
	case SEQ_PROT_RO:
		return mprotect(slot, ps, PROT_READ) ? -errno : 0;
	case SEQ_PROT_RW:
		return mprotect(slot, ps, PROT_READ | PROT_WRITE) ? -errno : 0;
	case SEQ_READ:
	case SEQ_WRITE:
		return w_access(piece, op->kind == SEQ_WRITE, op->v);
	case SEQ_PIN_READ:
		return w_pin_read(piece);
	case SEQ_REG:
	case SEQ_UNREG:
	case SEQ_CONT:
	case SEQ_CONT_HUGE:
		return w_uffd_op(r, op);
	case SEQ_MIGRATE: {
		int node = op->v & 1;

		return move_one(0, piece, &node,
				op->v & 2 ? MPOL_MF_MOVE_ALL : MPOL_MF_MOVE);
	}
	}
	return -ENOSYS;
}

/* Sends @val with @fd attached (SCM_RIGHTS). */
static int send_with_fd(int sock, int64_t val, int fd)
{
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &val, sizeof(val) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl,
			     .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == sizeof(val) ? 0 : -1;
}

/*
 * FORK: the child keeps serving on a new socket whose other end goes to
 * the controller; it gets no userfaultfd (fork drops the registration of
 * a uffd without UFFD_FEATURE_EVENT_FORK) and opens its own when asked.
 * Returns 1 in the child, 0 in the parent.
 */
static int w_fork(int *sock)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return send_with_fd(*sock, -errno, -1), 0;
	pid = fork();
	if (pid == 0) {
		close(*sock);
		close(sv[0]);
		*sock = sv[1];
		if (w_uffd >= 0)
			close(w_uffd);
		w_uffd = -1;
		return 1;
	}
	close(sv[1]);
	if (pid < 0) {
		int64_t err = -errno;

		close(sv[0]);
		send(*sock, &err, sizeof(err), MSG_NOSIGNAL);
		return 0;
	}
	send_with_fd(*sock, pid, sv[0]);
	close(sv[0]);
	return 0;
}

static void seqrt_worker(const struct seqrt *r, int sock)
{
	struct sigaction sa = { .sa_handler = w_on_signal,
				.sa_flags = SA_NODEFER };
	struct seqrt_op op;
	int64_t ret;

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	/* Children of workers are reaped by the kernel: no zombies. */
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		if (recv(sock, &op, sizeof(op), 0) != sizeof(op))
			_exit(0); /* the controller is gone */
		if (op.kind == SEQ_FORK) {
			w_fork(&sock);
			continue;
		}
		ret = op.kind == SEQ_EXIT ? 0 : w_do(r, &op);
		send(sock, &ret, sizeof(ret), MSG_NOSIGNAL);
		if (op.kind == SEQ_EXIT)
			_exit(0);
	}
}

/* ---- the controller side ---- */

int seqrt_init(struct seqrt *r, int npages, unsigned long psize, int prefer)
{
	size_t span = (2 * (size_t)npages + 1) * psize;
	unsigned long a, mask = 1UL << (prefer & 63);
	char *res;

	memset(r, 0, sizeof(*r));
	r->fd = -1; /* seqrt_fini() after a failed set_mempolicy() */
	r->npages = npages;
	r->psize = psize;
	if (prefer >= 0 &&
	    syscall(SYS_set_mempolicy, MPOL_PREFERRED, &mask, 64 + 1))
		return -errno;
	r->policy = prefer >= 0;
	r->fd = memfd_create("hgm-seq",
			     MFD_CLOEXEC | MFD_HUGETLB |
				     (__builtin_ctzl(psize) << MFD_HUGE_SHIFT));
	if (r->fd < 0)
		return -errno;
	if (ftruncate(r->fd, (off_t)npages * psize))
		goto fail;
	/*
	 * One slot per page, a page-sized gap after each: no two hugetlb VMAs
	 * are ever adjacent (no merging), none of 2 MiB pages spans a PUD (no
	 * PMD sharing).
	 */
	res = mmap(NULL, span + psize, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		goto fail;
	a = ((unsigned long)res + psize - 1) & ~(psize - 1);
	r->base = (char *)a;
	/* Workers whose parent worker died come back to us to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return 0;
fail:
	close(r->fd);
	r->fd = -1;
	return -errno;
}

static void forget_worker(struct seqrt_worker *w)
{
	if (w->sock >= 0)
		close(w->sock);
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pid = 0;
	w->sock = w->pidfd = -1;
}

/* Waits until @w has exited (its mm is gone), then reaps it if ours. */
static int wait_gone(struct seqrt_worker *w, int timeout_ms)
{
	struct pollfd pfd = { .fd = w->pidfd, .events = POLLIN };
	int ret = 0;

	if (w->pidfd >= 0 && poll(&pfd, 1, timeout_ms) != 1) {
		kill(w->pid, SIGKILL);
		poll(&pfd, 1, timeout_ms);
		ret = -ETIMEDOUT;
	}
	waitpid(w->pid, NULL, WNOHANG);
	forget_worker(w);
	return ret;
}

void seqrt_fini(struct seqrt *r)
{
	for (int i = 0; i < SEQRT_MAX_W; i++) {
		if (!r->w[i].pid)
			continue;
		kill(r->w[i].pid, SIGKILL);
		wait_gone(&r->w[i], SEQRT_REPLY_MS);
	}
	/* Reparented grandchildren that died before we looked. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (r->base)
		munmap(r->base, (2 * (size_t)r->npages + 1) * r->psize);
	r->base = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->policy)
		syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0);
	r->policy = false;
}

static int open_pidfd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int spawn(struct seqrt *r, int slot)
{
	struct seqrt_worker *w = &r->w[slot];
	pid_t parent = getpid();
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	w->pid = fork();
	if (w->pid < 0) {
		w->pid = 0;
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (w->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		/* Other workers' sockets: they must see EOF when we go. */
		for (int i = 0; i < SEQRT_MAX_W; i++)
			if (r->w[i].pid && i != slot)
				close(r->w[i].sock);
		close(sv[0]);
		seqrt_worker(r, sv[1]);
	}
	close(sv[1]);
	w->sock = sv[0];
	w->pidfd = open_pidfd(w->pid);
	return 0;
}

static int recv_reply(int sock, int64_t *val, int *fd)
{
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { val, sizeof(*val) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl,
			     .msg_controllen = sizeof(ctl) };
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	struct cmsghdr *c;
	int n;

	do
		n = poll(&pfd, 1, SEQRT_REPLY_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ETIMEDOUT;
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != sizeof(*val))
		return -EPIPE;
	c = CMSG_FIRSTHDR(&mh);
	if (fd && c && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	return 0;
}

static int file_op(struct seqrt *r, const struct seqrt_op *op)
{
	off_t off = (off_t)op->p * r->psize;
	int ret = 0;

	if (op->kind == SEQ_PUNCH)
		ret = fallocate(r->fd,
				FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
				r->psize);
	else if (op->kind == SEQ_FALLOC)
		ret = fallocate(r->fd, 0, off, r->psize);
	else
		ret = ftruncate(r->fd, off);
	return ret ? -errno : 0;
}

static int fork_worker(struct seqrt *r, const struct seqrt_op *op, int child,
		       int64_t *ret, char *why, size_t len)
{
	struct seqrt_worker *w = &r->w[op->w], *c = &r->w[child];
	int fd = -1, err;

	if (send(w->sock, op, sizeof(*op), MSG_NOSIGNAL) != sizeof(*op) ||
	    (err = recv_reply(w->sock, ret, &fd))) {
		snprintf(why, len, "worker %d (pid %d) did not answer fork",
			 op->w, (int)w->pid);
		return -EPIPE;
	}
	if (*ret <= 0 || fd < 0) {
		snprintf(why, len, "worker %d: fork failed: %s", op->w,
			 strerror((int)-*ret));
		return -ECHILD;
	}
	c->pid = (pid_t)*ret;
	c->sock = fd;
	c->pidfd = open_pidfd(c->pid);
	*ret = 0;
	return 0;
}

/*
 * GUP from another process: a byte read (0 for a write), or -EFAULT where
 * a fault fails.
 */
static int64_t gup_rw(const struct seqrt *r, const struct seqrt_op *op)
{
	unsigned char b = (unsigned char)op->v;
	struct iovec local = { &b, 1 };
	struct iovec remote = { piece_of(r, op->p, op->k), 1 };
	pid_t pid = r->w[op->w].pid;
	ssize_t n;

	if (op->kind == SEQ_GUP_WRITE)
		n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	else
		n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n != 1)
		return -errno;
	return op->kind == SEQ_GUP_WRITE ? 0 : b;
}

int seqrt_exec(struct seqrt *r, const struct seqrt_op *op, int child,
	       int64_t *ret, char *why, size_t len)
{
	struct seqrt_worker *w = &r->w[op->w];
	int err;

	*ret = 0;
	switch (op->kind) {
	case SEQ_PUNCH:
	case SEQ_FALLOC:
	case SEQ_TRUNC:
		*ret = file_op(r, op);
		return 0;
	case SEQ_SPAWN:
		err = spawn(r, child);
		if (err)
			snprintf(why, len, "spawn: %s", strerror(-err));
		return err;
	case SEQ_FORK:
		return fork_worker(r, op, child, ret, why, len);
	case SEQ_GUP_READ:
	case SEQ_GUP_WRITE:
		*ret = gup_rw(r, op);
		return 0;
	}
	if (send(w->sock, op, sizeof(*op), MSG_NOSIGNAL) != sizeof(*op) ||
	    (err = recv_reply(w->sock, ret, NULL))) {
		/* Blocked in a fault the model says cannot block, or dead. */
		snprintf(why, len,
			 "worker %d (pid %d) did not answer %s within %d ms",
			 op->w, (int)w->pid, seqrt_kind_name[op->kind],
			 SEQRT_REPLY_MS);
		kill(w->pid, SIGKILL);
		wait_gone(w, SEQRT_REPLY_MS);
		return -ETIMEDOUT;
	}
	if (op->kind == SEQ_EXIT && wait_gone(w, SEQRT_REPLY_MS)) {
		snprintf(why, len, "worker %d did not exit", op->w);
		return -ETIMEDOUT;
	}
	return 0;
}

static void add_bad(struct seqrt_obs *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void add_bad(struct seqrt_obs *o, const char *fmt, ...)
{
	size_t used = strlen(o->bad);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->bad + used, sizeof(o->bad) - used, fmt, ap);
	va_end(ap);
}

static char *slurp(const char *path)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap + 1);
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len)) > 0) {
		len += n;
		if (len == cap) {
			char *nb = realloc(buf, 2 * cap + 1);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = 0;
	return buf;
}

static unsigned long kv(const char *line, const char *key)
{
	size_t n = strlen(key);

	return strncmp(line, key, n) ? ~0UL : strtoul(line + n, NULL, 10);
}

/* smaps of @pid: the hugetlb fields of the VMA starting at each slot. */
static int read_smaps(const struct seqrt *r, pid_t pid, struct seqrt_obs *o,
		      int w)
{
	char path[64], *buf, *line, *next;
	unsigned long s, e, v;
	int cur = -1;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	buf = slurp(path);
	if (!buf)
		return -errno;
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			cur = -1;
			for (int p = 0; p < r->npages; p++)
				if (s == (unsigned long)slot_of(r, p))
					cur = p;
		} else if (cur < 0) {
			continue;
		} else if ((v = kv(line, "KernelPageSize:")) != ~0UL) {
			o->pg[w][cur].huge_vma = v == r->psize / 1024;
		} else if ((v = kv(line, "Shared_Hugetlb:")) != ~0UL) {
			o->pg[w][cur].shared_kb = v;
		} else if ((v = kv(line, "Private_Hugetlb:")) != ~0UL) {
			o->pg[w][cur].private_kb = v;
		}
	}
	free(buf);
	return 0;
}

static int read_u64_at(const char *path, uint64_t idx, uint64_t *out, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -errno;
	got = pread(fd, out, n * sizeof(*out), (off_t)(idx * sizeof(*out)));
	close(fd);
	return got == (ssize_t)(n * sizeof(*out)) ? 0 : -EIO;
}

/* pagemap entries of the followed pieces of page @p in worker @w. */
static int read_entries(const struct seqrt *r, int w, int p, uint64_t *pm)
{
	unsigned long first = (unsigned long)slot_of(r, p) / SEQRT_PS;
	char path[64];
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)r->w[w].pid);
	if (r->psize == SEQRT_PIECES * SEQRT_PS)
		return read_u64_at(path, first, pm, SEQRT_PIECES);
	for (int k = 0; !ret && k < SEQRT_PIECES; k++)
		ret = read_u64_at(
			path, first + seqrt_piece_off(r->psize, k) / SEQRT_PS,
			&pm[k], 1);
	return ret;
}

/* pagemap of page @p in worker @w: present bits, and the head PFN. */
static int read_pagemap(const struct seqrt *r, int w, int p,
			struct seqrt_obs *o, uint64_t *head)
{
	uint64_t pm[SEQRT_PIECES], pfn;
	int ret = read_entries(r, w, p, pm);

	if (ret)
		return ret;
	for (int k = 0; k < SEQRT_PIECES; k++) {
		if (!(pm[k] & SEQRT_PRESENT))
			continue;
		o->pg[w][p].bits[k / 64] |= 1ULL << (k % 64);
		o->pg[w][p].excl += !!(pm[k] & SEQRT_EXCLUSIVE);
		pfn = (pm[k] & SEQRT_PFN_MASK) -
		      seqrt_piece_off(r->psize, k) / SEQRT_PS;
		if (!*head)
			*head = pfn;
		/* Every piece of the page, in every worker: one folio. */
		if (pfn != *head || pfn % (r->psize / SEQRT_PS))
			add_bad(o, "w%d p%d piece %d: PFN %#llx, head %#llx; ",
				w, p, k,
				(unsigned long long)(pm[k] & SEQRT_PFN_MASK),
				(unsigned long long)*head);
	}
	return 0;
}

static int read_counts(const struct seqrt *r, struct seqrt_obs *o, int p,
		       uint64_t head)
{
	uint64_t h, t;
	int ret;

	ret = read_u64_at("/proc/kpagecount", head, &h, 1);
	if (!ret)
		ret = read_u64_at("/proc/kpagecount",
				  head + r->psize / SEQRT_PS - 1, &t, 1);
	if (ret)
		return ret;
	o->mapcount[p] = h;
	if (h != t)
		add_bad(o, "p%d: kpagecount head %llu tail %llu; ", p,
			(unsigned long long)h, (unsigned long long)t);
	return 0;
}

/* The node of page @p, from a worker that has a piece of it present. */
static int read_node(const struct seqrt *r, const struct seqrt_obs *o, int p)
{
	for (int w = 0; w < SEQRT_MAX_W; w++) {
		const uint64_t *b = o->pg[w][p].bits;

		if (!o->alive[w])
			continue;
		for (int k = 0; k < SEQRT_PIECES; k++) {
			if (!((b[k / 64] >> (k % 64)) & 1))
				continue;
			return (int)move_one(r->w[w].pid, piece_of(r, p, k),
					     NULL, 0);
		}
	}
	return -1;
}

int seqrt_observe(struct seqrt *r, struct seqrt_obs *o)
{
	uint64_t head[SEQRT_MAX_P] = { 0 };
	char path[96], *st, *hp;
	int ret;

	memset(o, 0, sizeof(*o));
	for (int w = 0; w < SEQRT_MAX_W; w++) {
		if (!r->w[w].pid)
			continue;
		o->alive[w] = true;
		snprintf(path, sizeof(path), "/proc/%d/status",
			 (int)r->w[w].pid);
		st = slurp(path);
		hp = st ? strstr(st, "HugetlbPages:") : NULL;
		o->hugetlb_kb[w] = hp ? strtoul(hp + 13, NULL, 10) : ~0UL;
		free(st);
		ret = read_smaps(r, r->w[w].pid, o, w);
		for (int p = 0; !ret && p < r->npages; p++)
			ret = read_pagemap(r, w, p, o, &head[p]);
		if (ret)
			return ret;
	}
	for (int p = 0; p < r->npages; p++)
		if (head[p] && (ret = read_counts(r, o, p, head[p])))
			return ret;
	for (int p = 0; p < SEQRT_MAX_P; p++)
		o->node[p] = p < r->npages ? read_node(r, o, p) : -1;
	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%lukB/free_hugepages",
		 r->psize / 1024);
	st = slurp(path);
	o->free = st ? strtoul(st, NULL, 10) : ~0UL;
	free(st);
	return 0;
}

static int popcount_bits(const uint64_t *b)
{
	int n = 0;

	for (int i = 0; i < SEQRT_WORDS; i++)
		n += __builtin_popcountll(b[i]);
	return n;
}

#define SEQRT_DIFF(...)                                              \
	do {                                                         \
		size_t __u = strlen(why);                            \
		if (__u < len)                                       \
			snprintf(why + __u, len - __u, __VA_ARGS__); \
		bad = 1;                                             \
	} while (0)

static int compare_page(const struct seqrt_page_obs *want,
			const struct seqrt_page_obs *got, int w, int p,
			char *why, size_t len)
{
	int bad = 0, k;

	if (want->huge_vma != got->huge_vma)
		SEQRT_DIFF("w%d p%d: hugetlb VMA %d, model %d; ", w, p,
			   got->huge_vma, want->huge_vma);
	for (k = 0; k < SEQRT_PIECES; k++)
		if (((want->bits[k / 64] ^ got->bits[k / 64]) >> (k % 64)) & 1)
			break;
	if (k < SEQRT_PIECES)
		SEQRT_DIFF("w%d p%d: %d pieces present, model %d (first "
			   "difference piece %d: %s); ",
			   w, p, popcount_bits(got->bits),
			   popcount_bits(want->bits), k,
			   (got->bits[k / 64] >> (k % 64)) & 1 ? "present" :
								 "absent");
	if (want->shared_kb != got->shared_kb ||
	    want->private_kb != got->private_kb)
		SEQRT_DIFF("w%d p%d: smaps Shared_Hugetlb %lu Private_Hugetlb "
			   "%lu kB, model %lu %lu; ",
			   w, p, got->shared_kb, got->private_kb,
			   want->shared_kb, want->private_kb);
	if (want->excl != got->excl)
		SEQRT_DIFF("w%d p%d: %d pieces pagemap-exclusive, model %d; ",
			   w, p, got->excl, want->excl);
	return bad;
}

int seqrt_compare(const struct seqrt_obs *want, const struct seqrt_obs *got,
		  int npages, char *why, size_t len)
{
	int bad = 0;

	why[0] = 0;
	if (got->bad[0])
		SEQRT_DIFF("%s", got->bad);
	for (int w = 0; w < SEQRT_MAX_W; w++) {
		if (want->alive[w] != got->alive[w])
			SEQRT_DIFF("w%d: alive %d, model %d; ", w,
				   got->alive[w], want->alive[w]);
		if (!want->alive[w] || !got->alive[w])
			continue;
		if (want->hugetlb_kb[w] != got->hugetlb_kb[w])
			SEQRT_DIFF(
				"w%d: status HugetlbPages %lu kB, model %lu; ",
				w, got->hugetlb_kb[w], want->hugetlb_kb[w]);
		for (int p = 0; p < npages; p++)
			bad |= compare_page(&want->pg[w][p], &got->pg[w][p], w,
					    p, why, len);
	}
	for (int p = 0; p < npages; p++)
		if (want->node[p] >= 0 && want->node[p] != got->node[p])
			SEQRT_DIFF("p%d: on node %d, model %d; ", p,
				   got->node[p], want->node[p]);
	for (int p = 0; p < npages; p++)
		if (want->mapcount[p] != got->mapcount[p])
			SEQRT_DIFF("p%d: kpagecount %llu, model %llu; ", p,
				   (unsigned long long)got->mapcount[p],
				   (unsigned long long)want->mapcount[p]);
	if (want->free != got->free)
		SEQRT_DIFF("pool: %lu free huge pages, model %lu; ", got->free,
			   want->free);
	return bad;
}

void seqrt_ret_str(int64_t ret, char *buf, size_t len)
{
	if (ret >= SEQRT_SIG(0))
		snprintf(buf, len, "%s", strsignal((int)(ret - SEQRT_SIG(0))));
	else if (ret < 0)
		snprintf(buf, len, "-%s", strerrorname_np((int)-ret) ?: "E?");
	else
		snprintf(buf, len, "%lld", (long long)ret);
}
