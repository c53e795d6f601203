// SPDX-License-Identifier: GPL-2.0
/*
 * The hugetlbfs filesystem's own operations (fs/hugetlbfs/inode.c) on a
 * mount of our own: mount options and their refusals, /proc/mounts,
 * statfs, remount, the namespace operations, read(2) with holes, the
 * refused write(2), fallocate in every mode, truncation, the mmap and
 * get_unmapped_area rules, memfd seals, and what a mapped page does
 * when the file under it shrinks or gets a hole.
 *
 * The pool model (6.12, mm/hugetlb.c; "subpool" is the mount's size=/
 * min_size= accounting, statfs f_bfree = size - used):
 *   mount min_size=M          -> Rsvd += M (hugepage_new_subpool), back
 *                                at umount (unlock_or_release_subpool)
 *   mmap MAP_SHARED of n      -> Rsvd += n, used += n for the pages the
 *   pages not in the resv map    file's reserve map lacks
 *                                (hugetlb_reserve_pages); munmap keeps it
 *   fault / fallocate of a    -> Free -1; Rsvd -1 when the page was
 *   page                         reserved, else used +1 (alloc_hugetlb_folio)
 *   truncate / punch          -> Free + pages dropped, Rsvd - reserved
 *                                pages never faulted (hugetlb_unreserve_pages)
 * Overcommit is 0 during every case: no surplus page can appear.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/memfd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ht_harness.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef MFD_HUGE_16MB
#define MFD_HUGE_16MB (24U << MFD_HUGE_SHIFT)
#endif

#define SEED 0x5a5a0f50
#define MNT_UID 4242
#define MNT_GID 4343

/* ---- the mount every case makes, and its removal in the parent ---- */

struct fs_mnt {
	char dir[64];
	char pagesize[HT_SIZE_NAME_LEN]; /* for pagesize=: "2M", "1G" */
	bool mounted;
};

static int fs_mount(struct fs_mnt *m, unsigned long flags, const char *fmt, ...)
{
	char opts[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(opts, sizeof(opts), fmt, ap);
	va_end(ap);
	if (mount("none", m->dir, "hugetlbfs", flags, opts))
		return errno;
	m->mounted = true;
	return 0;
}

static int fs_umount(struct fs_mnt *m)
{
	if (!m->mounted)
		return 0;
	if (umount2(m->dir, 0))
		return errno;
	m->mounted = false;
	return 0;
}

/*
 * In the parent, after the case's process (and, a little later, its
 * holders) are gone: busy only while a holder still dies.
 */
static void fs_cleanup(struct __test_metadata *_metadata, struct fs_mnt *m)
{
	for (int tries = 0; m->mounted && tries < 100; tries++) {
		if (!fs_umount(m))
			break;
		usleep(50 * 1000);
	}
	if (m->mounted) {
		TH_LOG("%s still busy after 5 s: MNT_DETACH", m->dir);
		umount2(m->dir, MNT_DETACH);
		m->mounted = false;
		_metadata->exit_code = KSFT_FAIL;
	}
	if (m->dir[0] && rmdir(m->dir))
		TH_LOG("rmdir %s: %s", m->dir, strerror(errno));
	m->dir[0] = '\0';
}

/* The options field of our mount's /proc/mounts line; -ENOENT if none. */
static int fs_mount_opts(const struct fs_mnt *m, char *out, size_t len)
{
	char dev[64], dir[128], type[32], opts[256];
	FILE *f = fopen("/proc/mounts", "r");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%63s %127s %31s %255s %*d %*d", dev, dir, type,
		      opts) == 4) {
		if (strcmp(dir, m->dir))
			continue;
		snprintf(out, len, "%s %s", type, opts);
		ret = 0;
	}
	fclose(f);
	return ret;
}

static int fs_open(const struct fs_mnt *m, const char *name, int flags)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", m->dir, name);
	return open(path, flags | O_CLOEXEC, 0600);
}

#define FS_PATH_LEN 128

/* @name under the mount, into @path; returns @path. */
static const char *fs_path(const struct fs_mnt *m, const char *name,
			   char path[FS_PATH_LEN])
{
	snprintf(path, FS_PATH_LEN, "%s/%s", m->dir, name);
	return path;
}

/* The options hugetlbfs_show_options prints for a page size. */
static const char *pagesize_shown(unsigned long psize, char *buf, size_t len)
{
	unsigned long kb = psize / HT_KB;

	if (kb >= 1024)
		snprintf(buf, len, "%luM", kb / 1024);
	else
		snprintf(buf, len, "%luK", kb);
	return buf;
}

#define EXPECT_OPTS(m, want)                                       \
	do {                                                       \
		char __o[300] = "";                                \
		EXPECT_EQ(0, fs_mount_opts((m), __o, sizeof(__o))) \
		TH_LOG("no /proc/mounts line for %s", (m)->dir);   \
		EXPECT_STREQ((want), __o);                         \
	} while (0)

/* statfs of the mount against the subpool model: blocks, free, inodes. */
#define EXPECT_STATFS(m, psize, blocks, bfree, files, ffree)           \
	do {                                                           \
		struct statfs __s;                                     \
		ASSERT_EQ(0, statfs((m)->dir, &__s));                  \
		EXPECT_EQ(HUGETLBFS_MAGIC, (unsigned long)__s.f_type); \
		EXPECT_EQ((long)(psize), (long)__s.f_bsize);           \
		EXPECT_EQ((unsigned long)(blocks), __s.f_blocks)       \
		TH_LOG("statfs f_blocks");                             \
		EXPECT_EQ((unsigned long)(bfree), __s.f_bfree)         \
		TH_LOG("statfs f_bfree");                              \
		EXPECT_EQ((unsigned long)(bfree), __s.f_bavail)        \
		TH_LOG("statfs f_bavail");                             \
		EXPECT_EQ((unsigned long)(files), __s.f_files)         \
		TH_LOG("statfs f_files");                              \
		EXPECT_EQ((unsigned long)(ffree), __s.f_ffree)         \
		TH_LOG("statfs f_ffree");                              \
		EXPECT_EQ(255, (long)__s.f_namelen);                   \
	} while (0)

/* -1 and errno of a call that must fail, as one comparable number. */
static int err_of(long ret)
{
	return ret < 0 ? errno : 0;
}

static off_t fsize(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -errno : st.st_size;
}

/* ---- the file-operation fixture: one mount per case ---- */

FIXTURE(fsops)
{
	struct ht_env env;
	struct fs_mnt mnt;
	struct ht_pool_model pool;
};

FIXTURE_VARIANT(fsops)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(fsops, huge);

/*
 * Pages, overcommit 0 (the pool snapshot restores it), the mount point
 * last: nothing may fail after it, since the parent's teardown only
 * runs for a completed setup.
 */
static void fs_setup(struct __test_metadata *_metadata,
		     const struct ht_needs *needs, struct ht_env *env,
		     struct fs_mnt *m, struct ht_pool_model *pool)
{
	unsigned long psize = needs->page_size;

	HT_SETUP_OR_SKIP(needs, env);
	/* Gigantic pages refuse any overcommit write; theirs is always 0. */
	if (ht_pool_get(_metadata, psize, -1).overcommit)
		ASSERT_EQ(0, ht_pool_set_overcommit(psize, 0));
	ASSERT_EQ(0, ht_pool_model_init(pool, psize, -1));
	umask(0);
	if (!m)
		return;
	ht_size_name_r(psize, m->pagesize, sizeof(m->pagesize));
	snprintf(m->dir, sizeof(m->dir), "/tmp/ht-fsops-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(m->dir));
}

FIXTURE_SETUP(fsops)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.caps = { CAP_SYS_ADMIN /* mount; PFNs in pagemap */ },
	};

	fs_setup(_metadata, &needs, &self->env, &self->mnt, &self->pool);
}

FIXTURE_TEARDOWN_PARENT(fsops)
{
	fs_cleanup(_metadata, &self->mnt);
	HT_TEARDOWN(&self->env);
}

static void opts_want(char *want, size_t len, const char *rw,
		      unsigned long psize)
{
	char shown[HT_SIZE_NAME_LEN];

	snprintf(want, len,
		 "hugetlbfs %s,relatime,uid=%d,gid=%d,mode=1770,nr_inodes=5,"
		 "pagesize=%s,size=%lu",
		 rw, MNT_UID, MNT_GID,
		 pagesize_shown(psize, shown, sizeof(shown)), 2 * psize);
}

/*
 * hugetlbfs_parse_param/fill_super/show_options/statfs: every option
 * shows in /proc/mounts (mode masked to 01777, a 1 GiB page size as
 * "1024M"), the root inode takes one of nr_inodes, statfs reports the
 * subpool.  A remount parses its options (a bad one is refused) but
 * hugetlbfs has no reconfigure: size= stays; ro is the VFS's.
 */
TEST_F_TIMEOUT(fsops, mount_options_statfs_remount, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	char want[300];
	struct stat st;

	ASSERT_EQ(0, fs_mount(&self->mnt, 0,
			      "pagesize=%s,size=%lu,nr_inodes=5,mode=3770,"
			      "uid=%d,gid=%d",
			      self->mnt.pagesize, 2 * psize, MNT_UID, MNT_GID));
	opts_want(want, sizeof(want), "rw", psize);
	EXPECT_OPTS(&self->mnt, want);
	EXPECT_STATFS(&self->mnt, psize, 2, 2, 5, 4);
	ASSERT_EQ(0, stat(self->mnt.dir, &st));
	EXPECT_EQ(S_IFDIR | 01770, st.st_mode);
	EXPECT_EQ(MNT_UID, st.st_uid);
	EXPECT_EQ(MNT_GID, st.st_gid);
	EXPECT_EQ(2, st.st_nlink);
	EXPECT_EQ((long)psize, (long)st.st_blksize);
	/* A subpool without min_size reserves nothing. */
	HT_POOL_CHECK(&self->pool, "mount size=2 pages");

	EXPECT_EQ(EINVAL, err_of(mount(NULL, self->mnt.dir, NULL, MS_REMOUNT,
				       "pagesize=3M")));
	ASSERT_EQ(0, mount(NULL, self->mnt.dir, NULL, MS_REMOUNT | MS_RDONLY,
			   NULL));
	opts_want(want, sizeof(want), "ro", psize);
	EXPECT_OPTS(&self->mnt, want);
	EXPECT_EQ(EROFS, err_of(fs_open(&self->mnt, "f", O_CREAT | O_RDWR)));
	ASSERT_EQ(0, mount(NULL, self->mnt.dir, NULL, MS_REMOUNT,
			   "size=1G,nr_inodes=9"));
	opts_want(want, sizeof(want), "rw", psize);
	EXPECT_OPTS(&self->mnt, want);
	EXPECT_STATFS(&self->mnt, psize, 2, 2, 5, 4);
	HT_POOL_CHECK(&self->pool, "remounts");
	ASSERT_EQ(0, fs_umount(&self->mnt));
	HT_POOL_CHECK(&self->pool, "umount");
}

/*
 * One option through the new mount API: 0 or the errno of fsconfig (the
 * option's parse, hugetlbfs_parse_param) or of FSCONFIG_CMD_CREATE
 * (hugetlbfs_validate, fill_super).  The message the kernel logged into
 * the context lands in @log, not in the kernel log.
 */
static int fsconfig_one(const char *key, const char *val, char *log, size_t len)
{
	int fd = fsopen("hugetlbfs", FSOPEN_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fsconfig(fd, FSCONFIG_SET_STRING, key, val, 0) ||
	    fsconfig(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0))
		err = errno;
	n = read(fd, log, len - 1);
	log[n > 0 ? n : 0] = '\0';
	close(fd);
	return err;
}

/*
 * Refused options leave no mount and no reservation behind: a value
 * that does not start with a digit, a mode that is not octal, an unknown
 * key (hugetlbfs_parse_param, fs_parse), a page size without an hstate,
 * min_size above size (hugetlbfs_validate), and a min_size the pool
 * cannot reserve (hugepage_new_subpool: ENOMEM).
 */
TEST_F_TIMEOUT(fsops, mount_refusals, 120)
{
	unsigned long psize = HT_PSIZE(variant), free = self->pool.want.free;
	const struct {
		const char *key, *val, *log;
	} bad[] = {
		{ "size", "abc", "Bad value 'abc' for mount option 'size'" },
		{ "size", "K", "Bad value 'K' for mount option 'size'" },
		{ "nr_inodes", "x",
		  "Bad value 'x' for mount option 'nr_inodes'" },
		{ "min_size", "%",
		  "Bad value '%' for mount option 'min_size'" },
		{ "mode", "9", "Bad value for 'mode'" },
		{ "bogus", "1", "Unknown parameter 'bogus'" },
	};
	char opts[128], buf[300], log[300];

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(EINVAL, fsconfig_one(bad[i].key, bad[i].val, log,
					       sizeof(log)))
		TH_LOG("fsconfig %s=%s", bad[i].key, bad[i].val);
		EXPECT_NE(NULL, strstr(log, bad[i].log))
		TH_LOG("fsconfig %s=%s logged '%s'", bad[i].key, bad[i].val,
		       log);
	}
	for (int i = 0; i < 4; i++) {
		int err = i == 3 ? ENOMEM : EINVAL;

		if (i == 0)
			snprintf(opts, sizeof(opts), "pagesize=3M");
		else if (i == 1)
			snprintf(opts, sizeof(opts), "pagesize=4K");
		else if (i == 2)
			snprintf(opts, sizeof(opts),
				 "pagesize=%s,size=%lu,min_size=%lu",
				 self->mnt.pagesize, psize, 2 * psize);
		else
			snprintf(opts, sizeof(opts), "pagesize=%s,min_size=%lu",
				 self->mnt.pagesize, (free + 1) * psize);
		EXPECT_EQ(err, fs_mount(&self->mnt, 0, "%s", opts))
		TH_LOG("mount -o %s", opts);
		EXPECT_EQ(-ENOENT, fs_mount_opts(&self->mnt, buf, sizeof(buf)))
		TH_LOG("refused mount -o %s left a mount", opts);
		HT_POOL_CHECK(&self->pool, opts);
		fs_umount(&self->mnt);
	}
}

/*
 * min_size reserves at mount; a page allocated within it consumes one of
 * those reserves (hugepage_subpool_get_pages returns 0) and gives it
 * back when freed (hugepage_subpool_put_pages); umount returns them all.
 * Without size=, statfs reports the subpool's -1 limits as they are.
 */
TEST_F_TIMEOUT(fsops, min_size_reserves, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	char want[200], shown[HT_SIZE_NAME_LEN];
	int fd;

	ASSERT_EQ(0, fs_mount(&self->mnt, 0, "pagesize=%s,min_size=%lu",
			      self->mnt.pagesize, 2 * psize));
	self->pool.want.resv += 2;
	HT_POOL_CHECK(&self->pool, "mount min_size=2 pages");
	snprintf(want, sizeof(want),
		 "hugetlbfs rw,relatime,pagesize=%s,min_size=%lu",
		 pagesize_shown(psize, shown, sizeof(shown)), 2 * psize);
	EXPECT_OPTS(&self->mnt, want);
	EXPECT_STATFS(&self->mnt, psize, -1L, -1L, -1L, -1L);

	fd = fs_open(&self->mnt, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, 0, 0, psize));
	self->pool.want.free--;
	self->pool.want.resv--;
	HT_POOL_CHECK(&self->pool, "fallocate 1 page within min_size");
	/* used_hpages counts only under a size= limit: free stays -1. */
	EXPECT_STATFS(&self->mnt, psize, -1L, -1L, -1L, -1L);
	ASSERT_EQ(0, ftruncate(fd, 0));
	self->pool.want.free++;
	self->pool.want.resv++;
	HT_POOL_CHECK(&self->pool, "truncate to 0");
	ASSERT_EQ(0, fallocate(fd, 0, 0, psize));
	self->pool.want.free--;
	self->pool.want.resv--;
	HT_POOL_CHECK(&self->pool, "fallocate again");
	close(fd);
	/* The page stays in the file; umount evicts it and the subpool. */
	HT_POOL_CHECK(&self->pool, "close");
	ASSERT_EQ(0, fs_umount(&self->mnt));
	self->pool.want.free++;
	self->pool.want.resv -= 1;
	HT_POOL_CHECK(&self->pool, "umount");
}

/*
 * min_size under a size= limit (hugepage_subpool_get_pages()/put_pages()):
 * pages up to min_size come out of the subpool's own reservation, pages
 * above it out of the global pool; a page freed while the subpool uses
 * more than min_size gives its reservation back to the global pool, one
 * freed below min_size refills the subpool's reservation.
 */
TEST_F_TIMEOUT(fsops, min_size_under_size, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	int fd;

	/* Two pages: a 1 GiB variant must fit the VM's two. */
	ASSERT_EQ(0, ht_pool_ensure_free(psize, -1, 2));
	ASSERT_EQ(0, ht_pool_model_init(&self->pool, psize, -1));
	ASSERT_EQ(0,
		  fs_mount(&self->mnt, 0, "pagesize=%s,size=%lu,min_size=%lu",
			   self->mnt.pagesize, 2 * psize, psize));
	self->pool.want.resv += 1;
	HT_POOL_CHECK(&self->pool, "mount size=2 min_size=1 page");
	fd = fs_open(&self->mnt, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, 0, 0, psize));
	self->pool.want.free -= 1;
	self->pool.want.resv -= 1;
	HT_POOL_CHECK(&self->pool, "page 0 from the subpool's reserve");
	ASSERT_EQ(0, fallocate(fd, 0, psize, psize));
	self->pool.want.free -= 1;
	HT_POOL_CHECK(&self->pool, "page 1 from the global pool");
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       psize, psize));
	self->pool.want.free += 1;
	HT_POOL_CHECK(&self->pool, "punching page 1 (used back at min)");
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       0, psize));
	self->pool.want.free += 1;
	self->pool.want.resv += 1;
	HT_POOL_CHECK(&self->pool, "punching page 0 (below min)");
	close(fd);
	ASSERT_EQ(0, fs_umount(&self->mnt));
	self->pool.want.resv -= 1;
	HT_POOL_CHECK(&self->pool, "umount");
}

static void expect_stat(struct __test_metadata *_metadata, const char *path,
			mode_t mode, uid_t uid, gid_t gid, nlink_t nlink)
{
	struct stat st;

	ASSERT_EQ(0, lstat(path, &st)) TH_LOG("%s: %s", path, strerror(errno));
	EXPECT_EQ(mode, st.st_mode) TH_LOG("%s: mode %o", path, st.st_mode);
	EXPECT_EQ(uid, st.st_uid) TH_LOG("%s: uid", path);
	EXPECT_EQ(gid, st.st_gid) TH_LOG("%s: gid", path);
	EXPECT_EQ(nlink, st.st_nlink) TH_LOG("%s: nlink", path);
}

/* The names namespace_ops makes under the mount, as full paths. */
struct ns_paths {
	char f[FS_PATH_LEN], d[FS_PATH_LEN], p[FS_PATH_LEN], l[FS_PATH_LEN];
	char d_f2[FS_PATH_LEN], g[FS_PATH_LEN], c[FS_PATH_LEN], y[FS_PATH_LEN];
};

/* A file, a directory and a FIFO take an inode each; a symlink none. */
static int ns_create(struct __test_metadata *_metadata, const struct fs_mnt *m,
		     const struct ns_paths *n, unsigned long psize)
{
	int fd;

	fd = open(n->f, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0640);
	ASSERT_LE(0, fd);
	expect_stat(_metadata, n->f, S_IFREG | 0640, 0, 0, 1);
	ASSERT_EQ(0, mkdir(n->d, 0750));
	expect_stat(_metadata, n->d, S_IFDIR | 0750, 0, 0, 2);
	expect_stat(_metadata, m->dir, S_IFDIR | 0755, MNT_UID, MNT_GID, 3);
	ASSERT_EQ(0, mknod(n->p, S_IFIFO | 0600, 0));
	expect_stat(_metadata, n->p, S_IFIFO | 0600, 0, 0, 1);
	EXPECT_STATFS(m, psize, 2, 2, 6, 2);

	EXPECT_EQ(EINVAL, err_of(symlink("f", n->l)));
	EXPECT_EQ(ENOENT, err_of(access(n->l, F_OK)));
	EXPECT_STATFS(m, psize, 2, 2, 6, 2);
	return fd;
}

/* link/rename/unlink move names, not inodes. */
static void ns_link_rename(struct __test_metadata *_metadata,
			   const struct fs_mnt *m, const struct ns_paths *n,
			   unsigned long psize)
{
	ASSERT_EQ(0, link(n->f, n->d_f2));
	expect_stat(_metadata, n->f, S_IFREG | 0640, 0, 0, 2);
	EXPECT_EQ(ENOTEMPTY, err_of(rmdir(n->d)));
	ASSERT_EQ(0, rename(n->d_f2, n->g));
	EXPECT_EQ(ENOENT, err_of(access(n->d_f2, F_OK)));
	expect_stat(_metadata, n->g, S_IFREG | 0640, 0, 0, 2);
	ASSERT_EQ(0, unlink(n->g));
	expect_stat(_metadata, n->f, S_IFREG | 0640, 0, 0, 1);
	EXPECT_STATFS(m, psize, 2, 2, 6, 2);
}

/*
 * O_TMPFILE: an inode without a name, gone with its last fd; then the
 * last inode, and none left.
 */
static void ns_tmpfile_and_full(struct __test_metadata *_metadata,
				FIXTURE_DATA(fsops) * self,
				const struct ns_paths *n, unsigned long psize)
{
	const struct fs_mnt *m = &self->mnt;
	struct stat st;
	int tmp;

	tmp = open(m->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_LE(0, tmp) TH_LOG("O_TMPFILE: %s", strerror(errno));
	ASSERT_EQ(0, fstat(tmp, &st));
	EXPECT_EQ(S_IFREG | 0600, st.st_mode);
	EXPECT_EQ(0, st.st_nlink);
	EXPECT_STATFS(m, psize, 2, 2, 6, 1);
	ASSERT_EQ(0, fallocate(tmp, 0, 0, psize));
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "fallocate of an O_TMPFILE file");
	EXPECT_STATFS(m, psize, 2, 1, 6, 1);

	/* The last inode, then none. */
	ASSERT_EQ(0, mknod(n->c, S_IFCHR | 0600, makedev(1, 3)));
	expect_stat(_metadata, n->c, S_IFCHR | 0600, 0, 0, 1);
	EXPECT_STATFS(m, psize, 2, 1, 6, 0);
	EXPECT_EQ(ENOSPC, err_of(fs_open(m, "x", O_CREAT | O_RDWR)));
	EXPECT_EQ(ENOSPC, err_of(mkdir(n->y, 0700)));
	EXPECT_EQ(ENOSPC, err_of(open(m->dir, O_TMPFILE | O_RDWR, 0600)));

	close(tmp);
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "close of the O_TMPFILE file");
	EXPECT_STATFS(m, psize, 2, 2, 6, 1);
}

/*
 * The directory inode operations: every inode (root included) takes one
 * of nr_inodes until it is evicted (hugetlbfs_alloc_inode/destroy_inode);
 * none left is ENOSPC (hugetlbfs_mknod).  New inodes get the caller's
 * ids, or the directory's group under a setgid directory
 * (inode_init_owner).  A symlink's target is written through
 * hugetlbfs_write_begin, which refuses: EINVAL, and the inode is freed.
 */
TEST_F_TIMEOUT(fsops, namespace_ops, 120)
{
	const struct fs_mnt *m = &self->mnt;
	unsigned long psize = HT_PSIZE(variant);
	struct ns_paths n;
	int fd;

	fs_path(m, "f", n.f);
	fs_path(m, "d", n.d);
	fs_path(m, "p", n.p);
	fs_path(m, "l", n.l);
	fs_path(m, "d/f2", n.d_f2);
	fs_path(m, "g", n.g);
	fs_path(m, "c", n.c);
	fs_path(m, "y", n.y);
	ASSERT_EQ(0, fs_mount(&self->mnt, 0,
			      "pagesize=%s,size=%lu,nr_inodes=6,uid=%d,gid=%d",
			      self->mnt.pagesize, 2 * psize, MNT_UID, MNT_GID));
	EXPECT_STATFS(m, psize, 2, 2, 6, 5);
	expect_stat(_metadata, m->dir, S_IFDIR | 0755, MNT_UID, MNT_GID, 2);

	fd = ns_create(_metadata, m, &n, psize);
	ns_link_rename(_metadata, m, &n, psize);
	ns_tmpfile_and_full(_metadata, self, &n, psize);

	/* A setgid directory hands its group down (root's chmod). */
	ASSERT_EQ(0, chmod(m->dir, 02775));
	ASSERT_EQ(0, rmdir(n.d));
	expect_stat(_metadata, m->dir, S_IFDIR | 02775, MNT_UID, MNT_GID, 2);
	ASSERT_EQ(0, mkdir(n.d, 0700));
	expect_stat(_metadata, n.d, S_IFDIR | 02700, 0, MNT_GID, 2);
	ASSERT_EQ(0, unlink(n.c));
	ASSERT_EQ(0, unlink(n.p));
	close(fd);
	ASSERT_EQ(0, unlink(n.f));
	EXPECT_STATFS(m, psize, 2, 2, 6, 4);
	HT_POOL_CHECK(&self->pool, "unlinks");
}

/* Write both ends of page 0 through a mapping: the page is allocated. */
static void rh_write_page0(struct __test_metadata *_metadata,
			   FIXTURE_DATA(fsops) * self, int fd,
			   unsigned long psize)
{
	unsigned long ps = ht_base_page_size();
	char *p;

	p = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->pool.want.resv++;
	HT_POOL_CHECK(&self->pool, "mmap of page 0");
	memset(p, 0x5a, ps);
	memset(p + psize - ps, 0xa5, ps);
	self->pool.want.resv--;
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "write fault of page 0");
	munmap(p, psize);
	HT_POOL_CHECK(&self->pool, "munmap");
}

/* Reads across the page end into the hole, up to EOF and past it. */
static void rh_reads(struct __test_metadata *_metadata, int fd,
		     unsigned long psize, char *buf)
{
	unsigned long ps = ht_base_page_size();

	memset(buf, 0xee, 4 * ps);
	/* Across the end of page 0 into the hole of page 1. */
	EXPECT_EQ((ssize_t)(2 * ps),
		  pread(fd, buf, 2 * ps, (off_t)(psize - ps)));
	for (unsigned long i = 0; i < 2 * ps; i++)
		if (buf[i] != (char)(i < ps ? 0xa5 : 0)) {
			EXPECT_EQ(i < ps ? 0xa5 : 0, buf[i] & 0xff)
			TH_LOG("byte %lu of the read across the page end", i);
			break;
		}
	EXPECT_EQ(0xee, buf[2 * ps] & 0xff) TH_LOG("read wrote past its count");
	EXPECT_EQ(1, pread(fd, buf, 1, 0));
	EXPECT_EQ(0x5a, buf[0] & 0xff);
	/* The hole up to EOF, then EOF. */
	EXPECT_EQ(100, pread(fd, buf, 4 * ps, (off_t)(2 * psize - 100)));
	EXPECT_EQ(0, pread(fd, buf, 4 * ps, (off_t)(2 * psize)));
	EXPECT_EQ(0, pread(fd, buf, 4 * ps, (off_t)(7 * psize + 5)));
	/* read(2) moves the file position by what it read. */
	ASSERT_EQ((off_t)(2 * psize - ps), lseek(fd, -(off_t)ps, SEEK_END));
	EXPECT_EQ((ssize_t)ps, read(fd, buf, 4 * ps));
	EXPECT_EQ((off_t)(2 * psize), lseek(fd, 0, SEEK_CUR));
	EXPECT_EQ(0, read(fd, buf, 4 * ps));
}

/* fallocate past EOF leaves i_size unaligned: reads stop there. */
static void rh_unaligned_eof(struct __test_metadata *_metadata,
			     FIXTURE_DATA(fsops) * self, int fd,
			     unsigned long psize, char *buf)
{
	unsigned long ps = ht_base_page_size();

	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       0, psize));
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "punch page 0");
	ASSERT_EQ(0, ftruncate(fd, psize));
	HT_POOL_CHECK(&self->pool, "truncate away the hole of page 1");
	ASSERT_EQ(0, fallocate(fd, 0, psize, 10));
	EXPECT_EQ((off_t)(psize + 10), fsize(fd));
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "fallocate 10 bytes into page 1");
	EXPECT_EQ(10, pread(fd, buf, 4 * ps, (off_t)psize));
	EXPECT_EQ(15, pread(fd, buf, 4 * ps, (off_t)psize - 5));
	EXPECT_EQ(0, pread(fd, buf, 4 * ps, (off_t)psize + 10));
}

/* Nothing copied: EFAULT; something copied: the count. */
static void rh_bad_buffer(struct __test_metadata *_metadata, int fd,
			  unsigned long psize)
{
	unsigned long ps = ht_base_page_size();
	char *two;

	two = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(0, mprotect(two + ps, ps, PROT_NONE));
	EXPECT_EQ(EFAULT, err_of(pread(fd, two + ps, 10, (off_t)psize)));
	EXPECT_EQ(EFAULT, err_of(pread(fd, two + ps, 10, 0)))
	TH_LOG("into a bad buffer from a hole");
	EXPECT_EQ((ssize_t)ps, pread(fd, two, 2 * ps, 0));
	EXPECT_EQ((ssize_t)ps, pread(fd, two, 2 * ps, (off_t)psize - ps));
	munmap(two, 2 * ps);
}

/*
 * hugetlbfs_read_iter: holes read as zeros, a read crosses page ends,
 * stops at i_size (which fallocate may leave unaligned) and reads 0 past
 * it; a fault on the user buffer is EFAULT only when nothing was copied.
 * write(2) has no method: EINVAL (vfs_write).
 */
TEST_F_TIMEOUT(fsops, read_holes_eof_and_write, 120)
{
	unsigned long psize = HT_PSIZE(variant), ps = ht_base_page_size();
	char path[FS_PATH_LEN], *buf;
	int fd;

	ASSERT_EQ(0, fs_mount(&self->mnt, 0, "pagesize=%s,size=%lu",
			      self->mnt.pagesize, 2 * psize));
	fd = fs_open(&self->mnt, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 2 * psize));
	HT_POOL_CHECK(&self->pool, "ftruncate up (reserves nothing)");
	rh_write_page0(_metadata, self, fd, psize);

	buf = malloc(4 * ps);
	ASSERT_NE(NULL, buf);
	rh_reads(_metadata, fd, psize, buf);
	rh_unaligned_eof(_metadata, self, fd, psize, buf);
	rh_bad_buffer(_metadata, fd, psize);

	EXPECT_EQ(EINVAL, err_of(write(fd, "x", 1)));
	EXPECT_EQ(EINVAL, err_of(pwrite(fd, "x", 1, 0)));
	EXPECT_EQ((off_t)(psize + 10), fsize(fd));
	free(buf);
	close(fd);
	HT_POOL_CHECK(&self->pool, "close");
	ASSERT_EQ(0, unlink(fs_path(&self->mnt, "f", path)));
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "unlink of the closed file");
}

/* Mode 0 and KEEP_SIZE allocate whole pages, up to the subpool's size=. */
static void fa_allocate(struct __test_metadata *_metadata,
			FIXTURE_DATA(fsops) * self, int fd, unsigned long psize)
{
	const struct fs_mnt *m = &self->mnt;

	ASSERT_EQ(0, fallocate(fd, 0, 0, 1));
	EXPECT_EQ(1, fsize(fd));
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "fallocate 1 byte");
	EXPECT_STATFS(m, psize, 2, 1, -1L, -1L);
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE, psize, psize));
	EXPECT_EQ(1, fsize(fd));
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "fallocate KEEP_SIZE of page 1");
	EXPECT_STATFS(m, psize, 2, 0, -1L, -1L);
	EXPECT_EQ(ENOSPC, err_of(fallocate(fd, 0, psize, 2 * psize)));
	EXPECT_EQ(1, fsize(fd)) TH_LOG("a failed fallocate moved i_size");
	HT_POOL_CHECK(&self->pool, "fallocate beyond size=");
	ASSERT_EQ(0, fallocate(fd, 0, 0, 2 * psize));
	EXPECT_EQ((off_t)(2 * psize), fsize(fd));
	HT_POOL_CHECK(&self->pool, "fallocate of present pages");
}

/* PUNCH_HOLE zeroes partial pages in place and frees whole ones. */
static void fa_punch(struct __test_metadata *_metadata,
		     FIXTURE_DATA(fsops) * self, int fd, unsigned long psize)
{
	unsigned long ps = ht_base_page_size();
	const struct fs_mnt *m = &self->mnt;
	unsigned char buf[400];
	char *p;

	p = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0xa5, 2 * ps);
	munmap(p, psize);
	HT_POOL_CHECK(&self->pool, "writing the fallocated page 0");
	/* Inside page 0: zeroed in place, nothing freed. */
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       100, 200));
	HT_POOL_CHECK(&self->pool, "punch inside page 0");
	ASSERT_EQ(400, pread(fd, buf, 400, 0));
	for (int i = 0; i < 400; i++)
		if (buf[i] != (i < 100 || i >= 300 ? 0xa5 : 0)) {
			EXPECT_EQ(i < 100 || i >= 300 ? 0xa5 : 0, buf[i])
			TH_LOG("byte %d after the partial punch", i);
			break;
		}
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       psize, psize));
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "punch of the whole page 1");
	EXPECT_STATFS(m, psize, 2, 1, -1L, -1L);
	EXPECT_EQ((off_t)(2 * psize), fsize(fd));
	/* The tail of page 0 and the (empty) page 1 at once. */
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       ps, 2 * psize));
	HT_POOL_CHECK(&self->pool, "punch of page 0's tail and past EOF");
	ASSERT_EQ(2, pread(fd, buf, 2, ps - 1));
	EXPECT_EQ(0xa5, buf[0]);
	EXPECT_EQ(0, buf[1]);
}

/* Other modes are EOPNOTSUPP; bad ranges EINVAL; a read-only fd EBADF. */
static void fa_refused(struct __test_metadata *_metadata,
		       FIXTURE_DATA(fsops) * self, int fd, unsigned long psize)
{
	const int refused[] = {
		FALLOC_FL_ZERO_RANGE,
		FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_COLLAPSE_RANGE,
		FALLOC_FL_INSERT_RANGE,
		FALLOC_FL_UNSHARE_RANGE,
		FALLOC_FL_PUNCH_HOLE, /* without KEEP_SIZE */
		FALLOC_FL_NO_HIDE_STALE,
		0x80, /* FALLOC_FL_WRITE_ZEROES (6.17), unknown before */
	};
	int ro;

	for (unsigned int i = 0; i < sizeof(refused) / sizeof(refused[0]);
	     i++) {
		EXPECT_EQ(EOPNOTSUPP,
			  err_of(fallocate(fd, refused[i], 0, psize)))
		TH_LOG("fallocate mode %#x", refused[i]);
	}
	EXPECT_EQ(EINVAL, err_of(fallocate(fd, 0, 0, 0)));
	EXPECT_EQ(EINVAL, err_of(fallocate(fd, 0, -1, psize)));
	ro = fs_open(&self->mnt, "f", O_RDONLY);
	ASSERT_LE(0, ro);
	EXPECT_EQ(EBADF, err_of(fallocate(ro, 0, psize, psize)));
	EXPECT_EQ(EBADF, err_of(write(ro, "x", 1)));
	close(ro);
	HT_POOL_CHECK(&self->pool, "refused fallocates");
}

/*
 * hugetlbfs_fallocate: mode 0 allocates whole pages and moves i_size to
 * offset + len (unaligned); KEEP_SIZE does not; allocation beyond the
 * subpool is ENOSPC and keeps what it got so far (no rollback, i_size
 * unchanged); PUNCH_HOLE zeroes partial pages in place and frees whole
 * ones; other modes are EOPNOTSUPP (vfs_fallocate or hugetlbfs).
 */
TEST_F_TIMEOUT(fsops, fallocate_modes, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	const struct fs_mnt *m = &self->mnt;
	int fd;

	ASSERT_EQ(0, fs_mount(&self->mnt, 0, "pagesize=%s,size=%lu",
			      self->mnt.pagesize, 2 * psize));
	fd = fs_open(m, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, fd);
	fa_allocate(_metadata, self, fd, psize);
	fa_punch(_metadata, self, fd, psize);
	fa_refused(_metadata, self, fd, psize);
	ASSERT_EQ(0, ftruncate(fd, 0));
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "truncate to 0");
	EXPECT_STATFS(m, psize, 2, 2, -1L, -1L);
	close(fd);
}

/*
 * Without size= only the pool limits fallocate: what is free and not
 * reserved is allocated, then ENOSPC.  statfs of a mount without a
 * subpool reports zeros (the "no limits" branch of hugetlbfs_statfs).
 */
TEST_F_TIMEOUT(fsops, fallocate_beyond_pool, 300)
{
	unsigned long psize = HT_PSIZE(variant);
	unsigned long avail = self->pool.want.free - self->pool.want.resv;
	int fd;

	ASSERT_EQ(0,
		  fs_mount(&self->mnt, 0, "pagesize=%s", self->mnt.pagesize));
	EXPECT_STATFS(&self->mnt, psize, 0, 0, 0, 0);
	fd = fs_open(&self->mnt, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(ENOSPC, err_of(fallocate(fd, 0, 0, (avail + 1) * psize)));
	EXPECT_EQ(0, fsize(fd));
	self->pool.want.free -= avail;
	HT_POOL_CHECK(&self->pool, "fallocate of one page more than free");
	EXPECT_STATFS(&self->mnt, psize, 0, 0, 0, 0);
	ASSERT_EQ(0, ftruncate(fd, 0));
	self->pool.want.free += avail;
	HT_POOL_CHECK(&self->pool, "truncate to 0");
	close(fd);
}

static void expect_sigbus(struct __test_metadata *_metadata, char *addr,
			  bool write, const char *what)
{
	struct ht_sigbus sb;

	ht_touch(addr, write, &sb);
	EXPECT_TRUE(sb.hit) TH_LOG("%s: no SIGBUS", what);
	if (!sb.hit)
		return;
	EXPECT_EQ(BUS_ADRERR, sb.code) TH_LOG("%s: si_code", what);
	EXPECT_EQ((unsigned long)addr, sb.addr) TH_LOG("%s: si_addr", what);
}

static void expect_no_sigbus(struct __test_metadata *_metadata, char *addr,
			     bool write, const char *what)
{
	struct ht_sigbus sb;

	ht_touch(addr, write, &sb);
	EXPECT_FALSE(sb.hit) TH_LOG("%s: SIGBUS code %d", what, sb.code);
}

/*
 * hugetlbfs_setattr/hugetlb_vmtruncate: sizes must be page multiples;
 * shrinking returns the reservations of pages never faulted and frees
 * the faulted ones; an access beyond the new EOF is SIGBUS BUS_ADRERR
 * (hugetlb_no_page); growing reserves nothing, so a later fault takes
 * its page from the subpool.
 */
TEST_F_TIMEOUT(fsops, truncate_reservations, 120)
{
	unsigned long psize = HT_PSIZE(variant), ps = ht_base_page_size();
	const struct fs_mnt *m = &self->mnt;
	char *p;
	int fd;

	ASSERT_EQ(0, fs_mount(&self->mnt, 0, "pagesize=%s,size=%lu",
			      self->mnt.pagesize, 2 * psize));
	fd = fs_open(m, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 2 * psize));
	EXPECT_EQ(EINVAL, err_of(ftruncate(fd, psize + ps)));
	EXPECT_EQ(EINVAL, err_of(ftruncate(fd, psize + 1)));
	EXPECT_EQ((off_t)(2 * psize), fsize(fd));
	HT_POOL_CHECK(&self->pool, "ftruncate up and refused ones");
	EXPECT_STATFS(m, psize, 2, 2, -1L, -1L);

	p = mmap(NULL, 2 * psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->pool.want.resv += 2;
	HT_POOL_CHECK(&self->pool, "mmap of 2 pages");
	EXPECT_STATFS(m, psize, 2, 0, -1L, -1L);
	p[0] = 1;
	self->pool.want.resv--;
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "fault of page 0");

	ASSERT_EQ(0, ftruncate(fd, psize));
	self->pool.want.resv--;
	HT_POOL_CHECK(&self->pool, "truncate to 1 page");
	EXPECT_STATFS(m, psize, 2, 1, -1L, -1L);
	expect_sigbus(_metadata, p + psize + ps, false, "read beyond EOF");
	expect_sigbus(_metadata, p + psize, true, "write beyond EOF");
	EXPECT_EQ(1, p[0]);
	HT_POOL_CHECK(&self->pool, "SIGBUS accesses");

	ASSERT_EQ(0, ftruncate(fd, 2 * psize));
	HT_POOL_CHECK(&self->pool, "truncate up again");
	expect_no_sigbus(_metadata, p + psize, true, "fault after regrow");
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "unreserved fault of page 1");
	EXPECT_STATFS(m, psize, 2, 0, -1L, -1L);

	ASSERT_EQ(0, ftruncate(fd, 0));
	self->pool.want.free += 2;
	HT_POOL_CHECK(&self->pool, "truncate to 0 while mapped");
	EXPECT_STATFS(m, psize, 2, 2, -1L, -1L);
	expect_sigbus(_metadata, p, false, "read of page 0 after truncate");
	munmap(p, 2 * psize);
	close(fd);
}

/* mmap(2) itself, without glibc's checks of the offset. */
static void *raw_mmap(void *addr, size_t len, int prot, int flags, int fd,
		      unsigned long off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static bool vma_has_flag(struct __test_metadata *_metadata, void *addr,
			 const char *flag, unsigned long *size_kb)
{
	struct ht_smaps_vma v;

	EXPECT_EQ(0, ht_smaps_read(0, (unsigned long)addr, &v));
	*size_kb = v.val[HT_SMAPS_SIZE];
	return ht_vmflags_has(&v, flag);
}

/*
 * The largest offset file_mmap_ok() lets through: the mapping reserves
 * one page far out (hugetlb_reserve_pages) and, being writable, moves
 * i_size to its end (hugetlbfs_file_mmap); one page further is
 * EOVERFLOW before hugetlbfs is asked.
 */
static void mmap_far_offset(struct __test_metadata *_metadata,
			    struct ht_pool_model *pool, int fd,
			    unsigned long psize)
{
	const unsigned long top = 1UL << 63;
	char *p;

	EXPECT_EQ(MAP_FAILED,
		  raw_mmap(NULL, psize, PROT_READ, MAP_SHARED, fd, top));
	EXPECT_EQ(EOVERFLOW, errno);
	EXPECT_EQ(MAP_FAILED, raw_mmap(NULL, psize, PROT_READ, MAP_SHARED, fd,
				       top - psize));
	EXPECT_EQ(EOVERFLOW, errno);
	HT_POOL_CHECK(pool, "refused far offsets");
	p = raw_mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		     top - 2 * psize);
	ASSERT_NE(MAP_FAILED, p)
	TH_LOG("mmap at 2^63 - 2 pages: %s", strerror(errno));
	pool->want.resv++;
	HT_POOL_CHECK(pool, "mmap at 2^63 - 2 pages");
	EXPECT_EQ((off_t)(top - psize), fsize(fd));
	munmap(p, psize);
	HT_POOL_CHECK(pool, "munmap (a shared reservation stays)");
	ASSERT_EQ(0, ftruncate(fd, 0));
	pool->want.resv--;
	HT_POOL_CHECK(pool, "truncate to 0");
}

/*
 * Where a hugetlb mapping may go (hugetlb_get_unmapped_area): a hint is
 * rounded up to a page boundary, MAP_FIXED must be aligned.
 */
static void mmap_placement(struct __test_metadata *_metadata, int fd,
			   unsigned long psize)
{
	unsigned long ps = ht_base_page_size();
	char *r, *p;

	r = ht_mmap_aligned(3 * psize, psize, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, r);
	EXPECT_EQ(MAP_FAILED, mmap(r + ps, psize, PROT_READ,
				   MAP_SHARED | MAP_FIXED, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	p = mmap(r + psize, psize, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	EXPECT_EQ(r + psize, p);
	munmap(r, 3 * psize);
	/*
	 * The range is free now: the hint is honoured, rounded up since
	 * 6.13 ("mm: Make hugetlb mappings go through
	 * mm_get_unmapped_area_vmflags" dropped x86's own
	 * hugetlb_get_unmapped_area, which rounded it down).
	 */
	p = mmap(r + ps, psize, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_EQ(ht_kernel_before(6, 13) ? r : r + psize, p)
	TH_LOG("hint %p", r + ps);
	munmap(p, psize);
}

/* File "f" on the mount, one page long, its page in the page cache. */
static void fill_one_page(struct __test_metadata *_metadata,
			  const struct fs_mnt *m, struct ht_pool_model *pool,
			  struct ht_file *file)
{
	file->fd = fs_open(m, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, file->fd);
	ASSERT_EQ(0, ftruncate(file->fd, file->psize));
	ASSERT_EQ(0, ht_file_fill(file, 0, file->psize, SEED));
	pool->want.free -= 1;
	HT_POOL_CHECK(pool, "filling the page");
}

/*
 * Hole punch of a page that a MAP_PRIVATE mapping maps read-only from the
 * page cache: the punch unmaps it from the private mapping too
 * (hugetlb_vmdelete_list() walks every VMA of the file; a VMA it cannot
 * lock is left to remove_inode_single_folio(), which unmaps the folio
 * itself), so the page leaves the mapping and the pool at once.  The
 * private mapping's reservation (hugetlb_reserve_pages(), one per page at
 * mmap) stays; its next read of the hole allocates an anonymous zero
 * page from it.
 */
TEST_F_TIMEOUT(fsops, punch_under_private_mapping, 120)
{
	unsigned long psize = HT_PSIZE(variant), ps = ht_base_page_size();
	struct ht_file file = { .fd = -1, .psize = psize, .len = psize };
	struct ht_holder h = { .file = &file,
			       .len = psize,
			       .private_map = true };
	unsigned char buf[HT_BASE_PAGE];
	unsigned long addr;
	struct ht_child c;
	int64_t r;

	ASSERT_LE(ps, sizeof(buf));
	/* 1 in the page cache, 1 reserved by the private mapping */
	ASSERT_EQ(0, ht_pool_ensure_free(psize, -1, 2));
	ASSERT_EQ(0, ht_pool_model_init(&self->pool, psize, -1));
	ASSERT_EQ(0,
		  fs_mount(&self->mnt, 0, "pagesize=%s", self->mnt.pagesize));
	fill_one_page(_metadata, &self->mnt, &self->pool, &file);

	ASSERT_EQ(0, ht_holder_start(&c, &h, &addr));
	self->pool.want.resv += 1;
	HT_POOL_CHECK(&self->pool, "a private mapping reading the page");
	EXPECT_EQ((long)(psize / ps),
		  ht_pagemap_count_present(c.pid, addr, psize));

	ASSERT_EQ(0,
		  fallocate(file.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    0, psize));
	self->pool.want.free += 1;
	HT_POOL_CHECK(&self->pool,
		      "punching the page under the private mapping");
	EXPECT_EQ(0, ht_pagemap_count_present(c.pid, addr, psize));

	ASSERT_EQ(0, ht_holder_cmd(&c, HT_CMD_READ, &r));
	EXPECT_EQ(0, r) TH_LOG("reading the hole: SIGBUS code %ld", (long)r);
	self->pool.want.free -= 1;
	self->pool.want.resv -= 1;
	HT_POOL_CHECK(&self->pool, "the private mapping reading the hole");
	ASSERT_EQ((ssize_t)ps, pread(file.fd, buf, ps, 0));
	for (unsigned long i = 0; i < ps; i++)
		if (buf[i]) {
			EXPECT_EQ(0, buf[i]) TH_LOG("the hole's byte %lu", i);
			break;
		}

	ASSERT_EQ(0, ht_send(c.sock, HT_CMD_EXIT));
	EXPECT_EQ(0, ht_reap(&c, 10000));
	self->pool.want.free += 1;
	HT_POOL_CHECK(&self->pool, "the private mapping's exit");
	close(file.fd);
}

/*
 * A file page read through a mapping is the page cache's own page
 * (hugetlb_no_page()), mapped writable only for a shared writable VMA: a
 * MAP_SHARED PROT_READ mapping stays read-only (a write is SIGSEGV), and
 * the first write to a MAP_PRIVATE mapping copies the page (hugetlb_wp(),
 * on the VMA's reservation) while the file keeps its contents.
 */
TEST_F_TIMEOUT(fsops, private_read_then_write_copies, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	struct ht_file file = { .fd = -1, .psize = psize, .len = psize };
	uint64_t cached;
	struct ht_sigbus sb;
	char *r, *p;

	ASSERT_EQ(0, fs_mount(&self->mnt, 0, "pagesize=%s,size=%lu",
			      self->mnt.pagesize, 2 * psize));
	fill_one_page(_metadata, &self->mnt, &self->pool, &file);
	EXPECT_STATFS(&self->mnt, psize, 2, 1, -1L, -1L);

	r = mmap(NULL, psize, PROT_READ, MAP_SHARED, file.fd, 0);
	ASSERT_NE(MAP_FAILED, r);
	ht_access(r, false, 0, &sb);
	EXPECT_FALSE(sb.hit) TH_LOG("reading: signal %d", sb.signo);
	cached = ht_pfn_of(_metadata, 0, (unsigned long)r);
	ht_access(r, true, r[0] ^ 0xff, &sb);
	EXPECT_EQ(SIGSEGV, sb.hit ? sb.signo : 0)
	TH_LOG("a write to a read-only shared mapping after a read fault");
	HT_POOL_CHECK(&self->pool, "a read-only shared mapping, read");

	p = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->pool.want.resv += 1;
	HT_POOL_CHECK(&self->pool, "mmap(MAP_PRIVATE) of the file");
	EXPECT_STATFS(&self->mnt, psize, 2, 0, -1L, -1L);
	ht_access(p, false, 0, &sb);
	EXPECT_FALSE(sb.hit) TH_LOG("reading: signal %d", sb.signo);
	EXPECT_EQ(cached, ht_pfn_of(_metadata, 0, (unsigned long)p))
	TH_LOG("a private read maps the page cache's page");
	HT_POOL_CHECK(&self->pool, "a read through the private mapping");

	p[0] ^= 0xff;
	self->pool.want.free -= 1;
	self->pool.want.resv -= 1;
	HT_POOL_CHECK(&self->pool, "the first write: a copy");
	EXPECT_NE(cached, ht_pfn_of(_metadata, 0, (unsigned long)p));
	EXPECT_EQ(0, ht_pattern_check(p, psize, 0, SEED));
	EXPECT_EQ(-1, ht_pattern_check(r, psize, 0, SEED))
	TH_LOG("the file shows the private write");

	munmap(p, psize);
	self->pool.want.free += 1;
	HT_POOL_CHECK(&self->pool, "munmap of the private copy");
	EXPECT_STATFS(&self->mnt, psize, 2, 1, -1L, -1L);
	munmap(r, psize);
	close(file.fd);
}

struct refaulter {
	char *page; /* the mapping's page 1 */
	unsigned long psize;
	volatile int stop;
	unsigned long faults;
};

/* Fault page 1 in and zap it again, over and over (it stays cached). */
static void *refault_loop(void *arg)
{
	struct refaulter *r = arg;

	while (!r->stop) {
		(void)*(volatile char *)r->page;
		madvise(r->page, r->psize, MADV_DONTNEED);
		r->faults++;
	}
	return NULL;
}

/*
 * Hole punches of page 0 while a thread keeps faulting page 1 of the same
 * mapping.  A punch that finds the VMA's lock held by that fault cannot
 * unmap the VMA up front (hugetlb_vmdelete_list() only trylocks) and
 * must unmap page 0 itself when it removes it (remove_inode_single_folio()
 * -> hugetlb_unmap_file_folio()).  Either way, after every punch page 0
 * is gone from the mapping, and at the end the pool is back.
 */
TEST_F_TIMEOUT(fsops, punch_while_vma_faults, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	struct refaulter r = { .psize = psize };
	long t0, left = -1;
	int fd, punches = 0;
	pthread_t tid;
	char *p;

	ASSERT_EQ(0, ht_pool_ensure_free(psize, -1, 2));
	ASSERT_EQ(0, ht_pool_model_init(&self->pool, psize, -1));
	ASSERT_EQ(0,
		  fs_mount(&self->mnt, 0, "pagesize=%s", self->mnt.pagesize));
	fd = fs_open(&self->mnt, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 2 * psize));
	p = mmap(NULL, 2 * psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[psize] = 1;
	r.page = p + psize;
	ASSERT_EQ(0, pthread_create(&tid, NULL, refault_loop, &r));
	/* 2 s; a 1 GiB page is zeroed at every refault, so few rounds. */
	t0 = ht_now_ns();
	do {
		p[0] = 1;
		ASSERT_EQ(0,
			  fallocate(fd,
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    0, psize));
		punches++;
		if (ht_pagemap_count_present(0, (unsigned long)p, psize))
			left = punches;
	} while (ht_now_ns() - t0 < 2000000000L && left < 0);
	r.stop = 1;
	ASSERT_EQ(0, pthread_join(tid, NULL));
	EXPECT_EQ(-1, left) TH_LOG("page 0 still mapped after punch %ld", left);
	TH_LOG("%d punches while page 1 faulted %lu times", punches, r.faults);
	/*
	 * Page 1 cached (its reservation used); page 0 punched, and its
	 * reservation went with the first punch (hugetlb_unreserve_pages()).
	 */
	self->pool.want.free -= 1;
	HT_POOL_CHECK(&self->pool, "the punches");
	EXPECT_EQ((long)0,
		  ht_pagemap_count_present(0, (unsigned long)p, psize));
	munmap(p, 2 * psize);
	close(fd);
	ASSERT_EQ(0, fs_umount(&self->mnt));
	self->pool.want.free += 1;
	HT_POOL_CHECK(&self->pool, "umount");
}

/*
 * hugetlbfs_file_mmap: the offset must be page aligned; the length is
 * rounded up to a page (ksys_mmap_pgoff) but munmap must cut at page
 * ends; reservations come from the subpool (ENOMEM when it is short),
 * MAP_NORESERVE defers the check to the fault (SIGBUS); PROT_EXEC is
 * allowed unless the mount is noexec.
 */
TEST_F_TIMEOUT(fsops, mmap_rules, 120)
{
	unsigned long psize = HT_PSIZE(variant), ps = ht_base_page_size(), kb;
	const struct fs_mnt *m = &self->mnt;
	char want[300], shown[HT_SIZE_NAME_LEN], *p;
	int fd;

	ASSERT_EQ(0, fs_mount(&self->mnt, 0, "pagesize=%s,size=%lu",
			      self->mnt.pagesize, 2 * psize));
	fd = fs_open(m, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, fd);
	mmap_far_offset(_metadata, &self->pool, fd, psize);
	ASSERT_EQ(0, ftruncate(fd, 2 * psize));

	EXPECT_EQ(MAP_FAILED, mmap(NULL, psize, PROT_READ, MAP_SHARED, fd, ps));
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, psize, PROT_READ, MAP_SHARED, fd, psize);
	ASSERT_NE(MAP_FAILED, p);
	self->pool.want.resv++;
	HT_POOL_CHECK(&self->pool, "mmap of page 1");
	munmap(p, psize);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 3 * psize, PROT_READ | PROT_WRITE,
				   MAP_SHARED, fd, 0));
	EXPECT_EQ(ENOMEM, errno) TH_LOG("3 pages on a 2-page mount");
	HT_POOL_CHECK(&self->pool, "refused mmap beyond size=");
	EXPECT_STATFS(m, psize, 2, 1, -1L, -1L);

	p = mmap(NULL, psize - ps, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->pool.want.resv++;
	HT_POOL_CHECK(&self->pool, "mmap of page 0, short length");
	EXPECT_TRUE(vma_has_flag(_metadata, p, "ex", &kb));
	EXPECT_EQ(psize / HT_KB, kb) TH_LOG("length rounded up to a page");
	EXPECT_TRUE(vma_has_flag(_metadata, p, "ht", &kb));
	/* munmap does not round: each end must be a page boundary. */
	EXPECT_EQ(EINVAL, err_of(munmap(p, ps)));
	EXPECT_EQ(EINVAL, err_of(munmap(p + ps, psize - ps)));
	EXPECT_EQ(EINVAL, err_of(munmap(p, psize - ps)));
	EXPECT_EQ(0, munmap(p, psize));

	/* MAP_NORESERVE: the subpool is full of reservations already. */
	ASSERT_EQ(0, ftruncate(fd, 3 * psize));
	p = mmap(NULL, 3 * psize, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	HT_POOL_CHECK(&self->pool, "MAP_NORESERVE of 3 pages");
	expect_no_sigbus(_metadata, p, true, "reserved page 0");
	self->pool.want.resv--;
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "fault of reserved page 0");
	expect_sigbus(_metadata, p + 2 * psize + ps, false, "page 2");
	HT_POOL_CHECK(&self->pool, "refused fault beyond size=");
	munmap(p, 3 * psize);
	mmap_placement(_metadata, fd, psize);

	ASSERT_EQ(0, mount(NULL, m->dir, NULL, MS_REMOUNT | MS_NOEXEC, NULL));
	snprintf(want, sizeof(want),
		 "hugetlbfs rw,noexec,relatime,pagesize=%s,size=%lu",
		 pagesize_shown(psize, shown, sizeof(shown)), 2 * psize);
	EXPECT_OPTS(m, want);
	EXPECT_EQ(MAP_FAILED,
		  mmap(NULL, psize, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, ftruncate(fd, 0));
	self->pool.want.resv--;
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "truncate to 0");
	EXPECT_STATFS(m, psize, 2, 2, -1L, -1L);
	close(fd);
}

/* ---- memfd seals on a hugetlb memfd (mm/memfd.c, hugetlbfs checks) ---- */

FIXTURE(seals)
{
	struct ht_env env;
	struct ht_pool_model pool;
};

FIXTURE_VARIANT(seals)
{
	enum ht_level level;
};

HT_ADD_SIZE_VARIANTS(seals, huge);

FIXTURE_SETUP(seals)
{
	struct ht_needs needs = { .page_size = HT_PSIZE(variant), .pages = 2 };

	fs_setup(_metadata, &needs, &self->env, NULL, &self->pool);
}

FIXTURE_TEARDOWN_PARENT(seals)
{
	HT_TEARDOWN(&self->env);
}

static int sealable_memfd(unsigned long psize)
{
	return memfd_create("ht-seal",
			    MFD_CLOEXEC | MFD_HUGETLB | MFD_ALLOW_SEALING |
				    (ht_size_shift(psize) << MFD_HUGE_SHIFT));
}

static void add_seal(struct __test_metadata *_metadata, int fd, int seal,
		     int want_seals)
{
	ASSERT_EQ(0, fcntl(fd, F_ADD_SEALS, seal))
	TH_LOG("F_ADD_SEALS %#x: %s", seal, strerror(errno));
	EXPECT_EQ(want_seals, fcntl(fd, F_GET_SEALS));
}

/*
 * Without MFD_ALLOW_SEALING a hugetlb memfd is born sealed (F_SEAL_SEAL
 * from hugetlbfs_get_inode); an hstate that does not exist is ENODEV
 * (hugetlb_file_setup).  GROW refuses ftruncate up and any fallocate
 * ending past i_size, even KEEP_SIZE (hugetlbfs_fallocate); SHRINK
 * refuses ftruncate down (hugetlbfs_setattr); neither stops a punch.
 */
TEST_F_TIMEOUT(seals, grow_shrink, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	int fd, plain;

	plain = ht_memfd_hugetlb("ht-plain", psize);
	ASSERT_LE(0, plain);
	EXPECT_EQ(F_SEAL_SEAL, fcntl(plain, F_GET_SEALS));
	EXPECT_EQ(EPERM, err_of(fcntl(plain, F_ADD_SEALS, F_SEAL_GROW)));
	EXPECT_EQ(EINVAL, err_of(write(plain, "x", 1)));
	close(plain);
	EXPECT_EQ(ENODEV,
		  err_of(memfd_create("ht-16M", MFD_HUGETLB | MFD_HUGE_16MB)));

	fd = sealable_memfd(psize);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fcntl(fd, F_GET_SEALS));
	ASSERT_EQ(0, ftruncate(fd, 2 * psize));
	ASSERT_EQ(0, fallocate(fd, 0, 0, psize));
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "fallocate of page 0");

	add_seal(_metadata, fd, F_SEAL_GROW, F_SEAL_GROW);
	EXPECT_EQ(EPERM, err_of(ftruncate(fd, 3 * psize)));
	EXPECT_EQ(EPERM, err_of(fallocate(fd, 0, 2 * psize, psize)));
	EXPECT_EQ(EPERM,
		  err_of(fallocate(fd, FALLOC_FL_KEEP_SIZE, psize, 2 * psize)));
	HT_POOL_CHECK(&self->pool, "refused growth");
	ASSERT_EQ(0, fallocate(fd, 0, psize, psize));
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "fallocate inside i_size");
	ASSERT_EQ(0, ftruncate(fd, psize));
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "shrink under GROW");
	EXPECT_EQ((off_t)psize, fsize(fd));

	add_seal(_metadata, fd, F_SEAL_SHRINK, F_SEAL_GROW | F_SEAL_SHRINK);
	EXPECT_EQ(EPERM, err_of(ftruncate(fd, 0)));
	EXPECT_EQ(0, ftruncate(fd, psize)) TH_LOG("same size is no change");
	HT_POOL_CHECK(&self->pool, "refused shrink");
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       0, psize));
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "punch under GROW|SHRINK");

	add_seal(_metadata, fd, F_SEAL_SEAL,
		 F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	EXPECT_EQ(EPERM, err_of(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)));
	close(fd);
	HT_POOL_CHECK(&self->pool, "close");
}

/*
 * F_SEAL_WRITE needs no writable shared mapping (EBUSY), then refuses
 * new ones (EPERM) and hole punches (hugetlbfs_punch_hole) but not
 * allocation: hugetlbfs_fallocate checks only GROW.  A read-only
 * shared mapping is allowed and cannot be made writable (6.7, "mm: drop
 * the assumption that VM_SHARED always implies writable"; 6.1.y has it
 * too, measured on Debian's 6.1.192: before, any MAP_SHARED was EPERM).
 */
TEST_F_TIMEOUT(seals, write_seal, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	char *w, *r;
	int fd;

	fd = sealable_memfd(psize);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 2 * psize));
	w = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, w);
	w[0] = 1;
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "writable mapping of page 0, written");
	EXPECT_EQ(EBUSY, err_of(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)));
	munmap(w, psize);
	add_seal(_metadata, fd, F_SEAL_WRITE, F_SEAL_WRITE);

	EXPECT_EQ(MAP_FAILED,
		  mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	EXPECT_EQ(EPERM, errno);
	/* A private mapping reserves its own page, returned at munmap. */
	r = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, r) TH_LOG("%s", strerror(errno));
	self->pool.want.resv++;
	HT_POOL_CHECK(&self->pool, "private mapping");
	EXPECT_EQ(1, r[0]);
	munmap(r, psize);
	self->pool.want.resv--;
	HT_POOL_CHECK(&self->pool, "munmap of the private mapping");
	r = mmap(NULL, psize, PROT_READ, MAP_SHARED, fd, psize);
	ASSERT_NE(MAP_FAILED, r) TH_LOG("%s", strerror(errno));
	self->pool.want.resv++;
	EXPECT_EQ(EACCES, err_of(mprotect(r, psize, PROT_READ | PROT_WRITE)));
	munmap(r, psize);
	HT_POOL_CHECK(&self->pool, "read-only shared mapping of page 1");

	EXPECT_EQ(EPERM, err_of(fallocate(
				 fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 0, psize)));
	HT_POOL_CHECK(&self->pool, "refused punch");
	ASSERT_EQ(0, fallocate(fd, 0, psize, psize));
	self->pool.want.free--;
	self->pool.want.resv--; /* the read-only mapping's */
	HT_POOL_CHECK(&self->pool, "fallocate of page 1 under WRITE");
	close(fd);
	self->pool.want.free += 2;
	HT_POOL_CHECK(&self->pool, "close");
}

/*
 * F_SEAL_FUTURE_WRITE leaves existing writable mappings writable but
 * refuses new ones, mprotect to writable and punches; growth is fine.
 */
TEST_F_TIMEOUT(seals, future_write_seal, 120)
{
	unsigned long psize = HT_PSIZE(variant);
	char *w, *r, buf[2];
	int fd;

	fd = sealable_memfd(psize);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, psize));
	w = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, w);
	self->pool.want.resv++;
	HT_POOL_CHECK(&self->pool, "mmap");
	w[0] = 1;
	self->pool.want.resv--;
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "write fault");
	add_seal(_metadata, fd, F_SEAL_FUTURE_WRITE, F_SEAL_FUTURE_WRITE);
	w[1] = 2;
	ASSERT_EQ(2, pread(fd, buf, 2, 0));
	EXPECT_EQ(1, buf[0]);
	EXPECT_EQ(2, buf[1]) TH_LOG("a write through the old mapping");

	EXPECT_EQ(MAP_FAILED,
		  mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	EXPECT_EQ(EPERM, errno);
	r = mmap(NULL, psize, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, r);
	EXPECT_EQ(EACCES, err_of(mprotect(r, psize, PROT_READ | PROT_WRITE)));
	EXPECT_EQ(2, r[1]);
	munmap(r, psize);
	EXPECT_EQ(EPERM, err_of(fallocate(
				 fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 0, psize)));
	EXPECT_EQ(0, ftruncate(fd, 2 * psize));
	HT_POOL_CHECK(&self->pool, "refusals under FUTURE_WRITE");
	munmap(w, psize);
	close(fd);
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "close");
}

/*
 * ---- a mapped file on the mount, mapped huge or at 4 KiB (HGM) ----
 * The file holds 2 pages of the pattern and fills the size=2 mount; the
 * hgm twin must observe exactly what the huge one does.
 */

FIXTURE(fsmap)
{
	struct ht_env env;
	struct fs_mnt mnt;
	struct ht_pool_model pool;
	struct ht_file file;
};

FIXTURE_VARIANT(fsmap)
{
	HT_VARIANT_FIELDS;
};

HT_ADD_VARIANTS(fsmap);

FIXTURE_SETUP(fsmap)
{
	struct ht_needs needs = {
		.page_size = HT_PSIZE(variant),
		.pages = 2,
		.hgm = variant->gran == HT_GRAN_HGM,
		.uffd_minor = variant->gran == HT_GRAN_HGM,
	};

	self->file.fd = -1;
	fs_setup(_metadata, &needs, &self->env, &self->mnt, &self->pool);
}

FIXTURE_TEARDOWN_PARENT(fsmap)
{
	fs_cleanup(_metadata, &self->mnt);
	HT_TEARDOWN(&self->env);
}

/* Mount, create and fill the file: both pages in the page cache. */
static void fsmap_file(struct __test_metadata *_metadata,
		       FIXTURE_DATA(fsmap) * self, unsigned long psize)
{
	ASSERT_EQ(0, fs_mount(&self->mnt, 0, "pagesize=%s,size=%lu",
			      self->mnt.pagesize, 2 * psize));
	self->file.fd = fs_open(&self->mnt, "f", O_CREAT | O_RDWR);
	ASSERT_LE(0, self->file.fd);
	self->file.psize = psize;
	self->file.len = 2 * psize;
	ASSERT_EQ(0, ftruncate(self->file.fd, 2 * psize));
	ASSERT_EQ(0, ht_file_fill(&self->file, 0, 2 * psize, SEED));
	self->pool.want.free -= 2;
	HT_POOL_CHECK(&self->pool, "filling 2 pages");
	EXPECT_STATFS(&self->mnt, psize, 2, 0, -1L, -1L);
}

static void *fsmap_map(struct __test_metadata *_metadata,
		       FIXTURE_DATA(fsmap) * self, enum ht_gran g, int *uffd)
{
	void *p =
		ht_map_populated(&self->file, 0, 2 * self->file.psize, g, uffd);

	EXPECT_NE(MAP_FAILED, p)
	TH_LOG("%s mapping: %s", ht_gran_name(g), strerror(errno));
	return p;
}

/* mincore bytes of [p, p + len) against "the first @mapped pieces". */
static void expect_mincore(struct __test_metadata *_metadata, void *p,
			   size_t len, size_t mapped, const char *who)
{
	size_t ps = ht_base_page_size(), n = len / ps;
	unsigned char *vec = malloc(n);

	ASSERT_NE(NULL, vec);
	memset(vec, 0xfe, n); /* undefined bits are 0: a stale byte shows */
	ASSERT_EQ(0, mincore(p, len, vec))
	TH_LOG("%s: %s", who, strerror(errno));
	for (size_t i = 0; i < n; i++)
		if (vec[i] != (i < mapped)) {
			EXPECT_EQ(i < mapped, vec[i])
			TH_LOG("%s: mincore byte %zu of %zu", who, i, n);
			break;
		}
	free(vec);
}

/*
 * mincore of hugetlb reads the page table only (mincore_hugetlb): a
 * page in the page cache but not mapped here is not "in core".
 */
TEST_F_TIMEOUT(fsmap, mincore_partial, 300)
{
	unsigned long psize = HT_PSIZE(variant), ps = ht_base_page_size();
	unsigned char one = 0xfe;
	char *p, *q;
	int uffd;

	fsmap_file(_metadata, self, psize);
	p = fsmap_map(_metadata, self, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	expect_mincore(_metadata, p, 2 * psize, 2 * psize / ps, "populated");
	ASSERT_EQ(0, madvise(p + psize, psize, MADV_DONTNEED));
	expect_mincore(_metadata, p, 2 * psize, psize / ps, "page 1 zapped");
	EXPECT_EQ((long)(psize / ps),
		  ht_pagemap_count_present(0, (unsigned long)p, 2 * psize));
	EXPECT_EQ(0, mincore(p + psize - ps, ps, &one));
	EXPECT_EQ(1, one);
	EXPECT_EQ(EINVAL, err_of(mincore(p + 1, ps, &one)));
	q = mmap(NULL, 2 * psize, PROT_READ, MAP_SHARED, self->file.fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	expect_mincore(_metadata, q, 2 * psize, 0, "cached, not mapped");
	HT_POOL_CHECK(&self->pool, "mappings and MADV_DONTNEED");
	munmap(q, 2 * psize);
	munmap(p, 2 * psize);
	if (uffd >= 0)
		close(uffd);
}

/* read(2) sees what was written through the mapping, piece by piece. */
TEST_F_TIMEOUT(fsmap, read_sees_mapped_writes, 300)
{
	unsigned long psize = HT_PSIZE(variant), ps = ht_base_page_size();
	unsigned char buf[2 * HT_BASE_PAGE + 1];
	off_t off = psize + 3 * ps + 100;
	char *p;
	int uffd;

	ASSERT_LE(2 * ps, sizeof(buf) - 1);
	fsmap_file(_metadata, self, psize);
	p = fsmap_map(_metadata, self, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, ht_pattern_check(p, 2 * psize, 0, SEED));
	p[off] = 0x77;
	ASSERT_EQ(1, pread(self->file.fd, buf, 1, off));
	EXPECT_EQ(0x77, buf[0]);
	ASSERT_EQ((ssize_t)(2 * ps),
		  pread(self->file.fd, buf, 2 * ps, (off_t)(psize - ps)));
	EXPECT_EQ(-1, ht_pattern_check(buf, 2 * ps, psize - ps, SEED));
	EXPECT_EQ(0, pread(self->file.fd, buf, 1, 2 * psize));
	HT_POOL_CHECK(&self->pool, "reads");
	munmap(p, 2 * psize);
	if (uffd >= 0)
		close(uffd);
}

/*
 * A hole punched while two processes map the file unmaps the page from
 * both (hugetlb_vmdelete_list, remove_inode_hugepages) and frees it; the
 * next touch allocates a zero page into the file.
 */
TEST_F_TIMEOUT(fsmap, punch_while_mapped_by_two, 300)
{
	unsigned long psize = HT_PSIZE(variant), ps = ht_base_page_size();
	struct ht_holder h = { .len = 2 * psize, .gran = variant->gran };
	unsigned char buf[2 * HT_BASE_PAGE];
	unsigned long addr_a, addr_b;
	struct ht_child a, b;
	int64_t r;

	ASSERT_LE(2 * ps, sizeof(buf));
	fsmap_file(_metadata, self, psize);
	h.file = &self->file;
	ASSERT_EQ(0, ht_holder_start(&a, &h, &addr_a));
	ASSERT_EQ(0, ht_holder_start(&b, &h, &addr_b));
	EXPECT_EQ((long)(2 * psize / ps),
		  ht_pagemap_count_present(a.pid, addr_a, 2 * psize));
	EXPECT_EQ((long)(2 * psize / ps),
		  ht_pagemap_count_present(b.pid, addr_b, 2 * psize));
	HT_POOL_CHECK(&self->pool, "two mappers");

	ASSERT_EQ(0, fallocate(self->file.fd,
			       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       psize, psize));
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "punch of page 1");
	EXPECT_STATFS(&self->mnt, psize, 2, 1, -1L, -1L);
	EXPECT_EQ((long)(psize / ps),
		  ht_pagemap_count_present(a.pid, addr_a, 2 * psize));
	EXPECT_EQ((long)(psize / ps),
		  ht_pagemap_count_present(b.pid, addr_b, 2 * psize));

	ASSERT_EQ(0, ht_holder_cmd(&a, HT_CMD_READ, &r));
	EXPECT_EQ(0, r) TH_LOG("A's refault: SIGBUS code %ld", (long)r);
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "A's refault of page 1");
	EXPECT_STATFS(&self->mnt, psize, 2, 0, -1L, -1L);
	/*
	 * B does not touch page 1: under HGM its uffd (MINOR) would get
	 * the fault of a page now in the page cache.  B still maps only
	 * page 0; the file reads page 0 intact and page 1 zero.
	 */
	EXPECT_EQ((long)(psize / ps),
		  ht_pagemap_count_present(b.pid, addr_b, 2 * psize));
	ASSERT_EQ((ssize_t)(2 * ps),
		  pread(self->file.fd, buf, 2 * ps, (off_t)(psize - ps)));
	EXPECT_EQ(-1, ht_pattern_check(buf, ps, psize - ps, SEED));
	for (unsigned long i = ps; i < 2 * ps; i++)
		if (buf[i]) {
			EXPECT_EQ(0, buf[i]) TH_LOG("page 1 byte %lu", i - ps);
			break;
		}
	ASSERT_EQ(0, ht_send(a.sock, HT_CMD_EXIT));
	ASSERT_EQ(0, ht_send(b.sock, HT_CMD_EXIT));
	EXPECT_EQ(0, ht_reap(&a, 10000));
	EXPECT_EQ(0, ht_reap(&b, 10000));
	HT_POOL_CHECK(&self->pool, "mappers gone");
}

/*
 * Truncation while mapped: the cut page leaves the mapping and the
 * pool, an access there is SIGBUS BUS_ADRERR, the rest is intact; after
 * growing back the same address faults in a fresh zero page.
 */
TEST_F_TIMEOUT(fsmap, truncate_while_mapped, 300)
{
	unsigned long psize = HT_PSIZE(variant), ps = ht_base_page_size();
	char *p, c;
	int uffd;

	fsmap_file(_metadata, self, psize);
	p = fsmap_map(_metadata, self, variant->gran, &uffd);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, ftruncate(self->file.fd, psize));
	self->pool.want.free++;
	HT_POOL_CHECK(&self->pool, "truncate to 1 page");
	EXPECT_STATFS(&self->mnt, psize, 2, 1, -1L, -1L);
	EXPECT_EQ((long)(psize / ps),
		  ht_pagemap_count_present(0, (unsigned long)p, 2 * psize));
	expect_sigbus(_metadata, p + psize + ps, false, "beyond the new EOF");
	EXPECT_EQ(-1, ht_pattern_check(p, psize, 0, SEED));
	EXPECT_EQ(0, pread(self->file.fd, &c, 1, psize));
	HT_POOL_CHECK(&self->pool, "SIGBUS");

	ASSERT_EQ(0, ftruncate(self->file.fd, 2 * psize));
	expect_no_sigbus(_metadata, p + psize + ps, false, "after regrowth");
	EXPECT_EQ(0, p[psize + ps]);
	self->pool.want.free--;
	HT_POOL_CHECK(&self->pool, "fault of a new page 1");
	EXPECT_STATFS(&self->mnt, psize, 2, 0, -1L, -1L);
	munmap(p, 2 * psize);
	if (uffd >= 0)
		close(uffd);
}

HT_MAIN
