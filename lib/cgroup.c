// SPDX-License-Identifier: GPL-2.0
/*
 * The cgroup v2 hugetlb controller (mm/hugetlb_cgroup.c): a subtree of
 * our own to charge huge pages to, and its hugetlb.<size>.* files.
 *
 * ht_cg_setup() uses the cgroup2 mount that has the hugetlb controller
 * (or mounts one when there is none), enables +hugetlb in the root's
 * cgroup.subtree_control when it is not, and makes HT_CG_PREFIX<pid> at
 * the root with +hugetlb for its children.  ht_cg_teardown() undoes
 * exactly what setup did, in reverse: tasks go back to the caller's
 * cgroup of the time, groups go depth first, then the controller and the
 * mount.  What a killed program leaves is found by its prefix:
 * scripts/runner/state.sh removes it between cases.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ht.h"

/* A task that is still exiting keeps its group busy for a moment. */
#define CG_BUSY_TRIES 100
#define CG_BUSY_SLEEP_US (50 * 1000)

/* @word is one of the space-separated words of @list? */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		if ((p == list || p[-1] == ' ' || p[-1] == '\n') &&
		    (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

static bool file_has_word(const char *path, const char *word)
{
	char buf[512];

	return !ht_read_file(path, buf, sizeof(buf)) && has_word(buf, word);
}

/*
 * The mount point of the cgroup2 hierarchy's root whose controllers
 * include hugetlb, from mountinfo: "... root mountpoint ... - cgroup2".
 */
static int find_mount(char *mnt, size_t len)
{
	char *buf = ht_slurp("/proc/self/mountinfo", NULL), *line, *save;
	char root[256], point[128], path[160];
	int ret = -ENOENT;

	if (!buf)
		return -errno;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *dash = strstr(line, " - cgroup2 ");

		if (!dash ||
		    sscanf(line, "%*d %*d %*s %255s %127s", root, point) != 2)
			continue;
		/* A group mounted alone (a namespace's root) is not ours. */
		if (strcmp(root, "/"))
			continue;
		snprintf(path, sizeof(path), "%s/cgroup.controllers", point);
		if (!file_has_word(path, "hugetlb"))
			continue;
		snprintf(mnt, len, "%s", point);
		ret = 0;
		break;
	}
	free(buf);
	return ret;
}

const char *ht_probe_cgroup_hugetlb_r(char *why, size_t len)
{
	char *buf, *p, mnt[128];
	int hier = -1, enabled = -1;

	if (!ht_has_cap(CAP_SYS_ADMIN))
		return "needs CAP_SYS_ADMIN to make cgroups (run as root)";
	if (!find_mount(mnt, sizeof(mnt)))
		return NULL;
	/* No cgroup2 mount has it: /proc/cgroups says why. */
	buf = ht_slurp("/proc/cgroups", NULL);
	/* "#subsys_name hierarchy num_cgroups enabled" */
	p = buf ? strstr(buf, "\nhugetlb\t") : NULL;
	if (p)
		sscanf(p + 9, "%d %*d %d", &hier, &enabled);
	free(buf);
	if (hier < 0 || enabled < 0)
		return "kernel without CONFIG_CGROUP_HUGETLB (no hugetlb in /proc/cgroups)";
	if (!enabled)
		return "hugetlb cgroup controller disabled (cgroup_disable=hugetlb)";
	if (hier) {
		snprintf(
			why, len,
			"hugetlb cgroup controller is bound to a cgroup v1 hierarchy (%d in /proc/cgroups), not to cgroup2",
			hier);
		return why;
	}
	/* Free for cgroup2, which is not mounted: ht_cg_setup() mounts it. */
	return NULL;
}

static int mount_own(struct ht_cgroup *cg)
{
	char path[300];
	int err;

	snprintf(cg->mnt, sizeof(cg->mnt),
		 "/tmp/" HT_CG_PREFIX "cgroup2.XXXXXX");
	if (!mkdtemp(cg->mnt))
		return -errno;
	if (mount("none", cg->mnt, "cgroup2", 0, NULL)) {
		err = -errno;
		rmdir(cg->mnt);
		return err;
	}
	cg->mounted = true;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", cg->mnt);
	return file_has_word(path, "hugetlb") ? 0 : -ENOENT;
}

/* "0::/path" of /proc/self/cgroup, below @cg->mnt. */
static int read_own_group(struct ht_cgroup *cg)
{
	char *buf = ht_slurp("/proc/self/cgroup", NULL), *p, *nl;

	if (!buf)
		return -errno;
	p = !strncmp(buf, "0::", 3) ? buf : strstr(buf, "\n0::");
	if (!p) {
		free(buf);
		return -ENOENT;
	}
	p += p == buf ? 3 : 4;
	nl = strchr(p, '\n');
	if (nl)
		*nl = '\0';
	snprintf(cg->orig, sizeof(cg->orig), "%s%s", cg->mnt,
		 strcmp(p, "/") ? p : "");
	free(buf);
	return 0;
}

static int enable_hugetlb(struct ht_cgroup *cg)
{
	char path[300];
	int ret;

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", cg->mnt);
	if (file_has_word(path, "hugetlb"))
		return 0;
	ret = ht_write_str(path, "+hugetlb");
	if (!ret)
		cg->enabled = true;
	return ret;
}

static int make_top(struct ht_cgroup *cg)
{
	char path[300];

	snprintf(cg->top, sizeof(cg->top), "%s/" HT_CG_PREFIX "%d", cg->mnt,
		 (int)getpid());
	if (mkdir(cg->top, 0755))
		return -errno;
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", cg->top);
	return ht_write_str(path, "+hugetlb");
}

const char *ht_cg_setup(struct ht_cgroup *cg, char *why, size_t len)
{
	const char *step;
	int ret;

	memset(cg, 0, sizeof(*cg));
	step = "finding a cgroup2 mount";
	ret = find_mount(cg->mnt, sizeof(cg->mnt));
	if (ret == -ENOENT) {
		step = "mounting cgroup2 (none has hugetlb)";
		ret = mount_own(cg);
	}
	if (!ret) {
		step = "reading /proc/self/cgroup";
		ret = read_own_group(cg);
	}
	if (!ret) {
		step = "+hugetlb in the root's cgroup.subtree_control";
		ret = enable_hugetlb(cg);
	}
	if (!ret) {
		step = "making the case's group";
		ret = make_top(cg);
	}
	if (!ret)
		return NULL;
	snprintf(why, len, HT_ERROR_PREFIX "cgroup setup: %s (%s): %s", step,
		 cg->mnt, strerror(-ret));
	ht_cg_teardown(cg, NULL, 0);
	return why;
}

int ht_cg_move(const char *group, pid_t pid)
{
	char path[300], val[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", group);
	snprintf(val, sizeof(val), "%d", (int)(pid ? pid : getpid()));
	return ht_write_str(path, val);
}

/* Every task of @group back to @to, then the group itself. */
static int empty_and_remove(const char *group, const char *to)
{
	char path[300], *buf, *line, *save;
	int err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", group);
	for (int i = 0; i < CG_BUSY_TRIES; i++) {
		buf = ht_slurp(path, NULL);
		if (!buf)
			return errno == ENOENT ? 0 : -errno;
		for (line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			if (atoi(line) > 0)
				ht_cg_move(to, (pid_t)atoi(line));
		free(buf);
		if (!rmdir(group) || errno == ENOENT)
			return 0;
		err = -errno;
		if (err != -EBUSY)
			return err;
		usleep(CG_BUSY_SLEEP_US);
	}
	return err;
}

/* The groups below @group, depth first, then @group. */
static int remove_tree(const char *group, const char *to)
{
	char sub[300];
	struct dirent *de;
	int ret = 0, r;
	DIR *d;

	d = opendir(group);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", group, de->d_name);
		r = remove_tree(sub, to);
		if (r && !ret)
			ret = r;
	}
	closedir(d);
	r = empty_and_remove(group, to);
	return ret ? ret : r;
}

int ht_cg_teardown(struct ht_cgroup *cg, char *why, size_t len)
{
	char path[300];
	int ret = 0;

	if (cg->top[0]) {
		ret = remove_tree(cg->top, cg->orig[0] ? cg->orig : cg->mnt);
		if (ret) {
			if (why)
				snprintf(why, len, "rmdir %s: %s", cg->top,
					 strerror(-ret));
			return -1;
		}
		cg->top[0] = '\0';
	}
	if (cg->enabled) {
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control",
			 cg->mnt);
		ret = ht_write_str(path, "-hugetlb");
		if (ret) {
			if (why)
				snprintf(why, len, "-hugetlb in %s: %s", path,
					 strerror(-ret));
			return -1;
		}
		cg->enabled = false;
	}
	if (cg->mounted) {
		if (umount(cg->mnt)) {
			if (why)
				snprintf(why, len, "umount %s: %s", cg->mnt,
					 strerror(errno));
			return -1;
		}
		rmdir(cg->mnt);
		cg->mounted = false;
	}
	return 0;
}

int ht_cg_mkdir(const struct ht_cgroup *cg, const char *name, char *path,
		size_t len)
{
	snprintf(path, len, "%s/%s", cg->top, name);
	return mkdir(path, 0755) ? -errno : 0;
}

int ht_cg_rmdir(const char *group)
{
	for (int i = 0; i < CG_BUSY_TRIES; i++) {
		if (!rmdir(group))
			return 0;
		if (errno != EBUSY)
			return -errno;
		usleep(CG_BUSY_SLEEP_US);
	}
	return -EBUSY;
}

/* mm/hugetlb_cgroup.c mem_fmt(): "2MB", "1GB", "64KB". */
char *ht_cg_size_name(unsigned long psize, char *buf, size_t len)
{
	if (psize >= HT_GB)
		snprintf(buf, len, "%luGB", psize / HT_GB);
	else if (psize >= HT_MB)
		snprintf(buf, len, "%luMB", psize / HT_MB);
	else
		snprintf(buf, len, "%luKB", psize / HT_KB);
	return buf;
}

static void file_path(const char *group, unsigned long psize, const char *file,
		      char *path, size_t len)
{
	char sz[HT_SIZE_NAME_LEN];

	snprintf(path, len, "%s/hugetlb.%s.%s", group,
		 ht_cg_size_name(psize, sz, sizeof(sz)), file);
}

int ht_cg_read(const char *group, unsigned long psize, const char *file,
	       unsigned long *val)
{
	char path[320], buf[64];
	int ret;

	file_path(group, psize, file, path, sizeof(path));
	ret = ht_read_file(path, buf, sizeof(buf));
	if (ret)
		return ret;
	if (!strcmp(buf, "max\n")) {
		*val = HT_CG_MAX;
		return 0;
	}
	return ht_parse_ulong(buf, val);
}

int ht_cg_write(const char *group, unsigned long psize, const char *file,
		unsigned long val)
{
	char path[320], buf[32];

	file_path(group, psize, file, path, sizeof(path));
	if (val == HT_CG_MAX)
		snprintf(buf, sizeof(buf), "max");
	else
		snprintf(buf, sizeof(buf), "%lu", val);
	return ht_write_str(path, buf);
}

int ht_cg_read_keyed(const char *group, const char *file, const char *key,
		     unsigned long *val)
{
	char path[320], *buf;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", group, file);
	buf = ht_slurp(path, NULL);
	if (!buf)
		return -errno;
	ret = ht_cg_key_parse(buf, key, val);
	free(buf);
	return ret;
}

int ht_cg_read_key(const char *group, unsigned long psize, const char *file,
		   const char *key, unsigned long *val)
{
	char name[64], sz[HT_SIZE_NAME_LEN];

	snprintf(name, sizeof(name), "hugetlb.%s.%s",
		 ht_cg_size_name(psize, sz, sizeof(sz)), file);
	return ht_cg_read_keyed(group, name, key, val);
}
