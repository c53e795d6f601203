// SPDX-License-Identifier: GPL-2.0
/*
 * What a test declares it needs, checked and provided in one place, and
 * put back afterwards.  The runner restores the same state again from the
 * outside, so a test killed mid-way still leaves nothing behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ht.h"

static const char *check_features(const struct ht_needs *n, char *why,
				  size_t len)
{
	const char *r;

	for (int i = 0; i < 4 && n->caps[i]; i++)
		if ((r = ht_probe_cap_r(n->caps[i], why, len)))
			return r;
	if (n->page_size && (r = ht_probe_page_size_r(n->page_size, why, len)))
		return r;
	if (n->memory_failure && (r = ht_probe_memory_failure()))
		return r;
	if (n->hwpoison_inject && (r = ht_probe_hwpoison_inject()))
		return r;
	if (n->uffd_minor && (r = ht_probe_uffd_minor_hugetlb_r(why, len)))
		return r;
	if (n->hgm && (r = ht_probe_hgm_r(n->page_size, why, len)))
		return r;
	if (n->refcount_knob && (r = ht_probe_refcount_knob()))
		return r;
	if (n->cgroup && (r = ht_probe_cgroup_hugetlb_r(why, len)))
		return r;
	if (n->nodes > 1 && (r = ht_probe_nodes_r(n->nodes, why, len)))
		return r;
	if (n->destructive) {
		const char *e = getenv("HT_ALLOW_DESTRUCTIVE");

		if (!e || strcmp(e, "1"))
			return "destructive (poisons memory): runs in the VM (run_tests.sh --vm) or with --allow-destructive";
	}
	return NULL;
}

static const char *provide_pools(const struct ht_needs *n, struct ht_env *env)
{
	char name[HT_SIZE_NAME_LEN];
	struct ht_pool p;
	int ret;

	if (n->pages) {
		ret = ht_pool_ensure_free(n->page_size, -1, n->pages);
		if (ret) {
			ht_pool_read(n->page_size, -1, &p);
			snprintf(
				env->why, sizeof(env->why),
				"cannot get %lu free %s huge pages (pool has %lu free of %lu): %s",
				n->pages,
				ht_size_name_r(n->page_size, name,
					       sizeof(name)),
				p.free, p.nr, strerror(-ret));
			return env->why;
		}
	}
	for (int i = 0; n->pages_per_node && i < n->nodes; i++) {
		ret = ht_pool_ensure_free(n->page_size, env->nodes[i],
					  n->pages_per_node);
		if (ret) {
			ht_pool_read(n->page_size, env->nodes[i], &p);
			snprintf(
				env->why, sizeof(env->why),
				"cannot get %lu free %s huge pages on node %d (has %lu free): %s",
				n->pages_per_node,
				ht_size_name_r(n->page_size, name,
					       sizeof(name)),
				env->nodes[i], p.free, strerror(-ret));
			return env->why;
		}
	}
	return NULL;
}

bool ht_setup_error(const char *why)
{
	return why && !strncmp(why, HT_ERROR_PREFIX, strlen(HT_ERROR_PREFIX));
}

const char *ht_setup(const struct ht_needs *n, struct ht_env *env)
{
	const char *r;
	size_t n_len;
	int ret;

	memset(env, 0, sizeof(*env));
	env->lock.fd = -1;
	r = check_features(n, env->why, sizeof(env->why));
	if (r)
		return r;
	ret = ht_memory_nodes(env->nodes, HT_MAX_NODES);
	if (ret < 0) {
		snprintf(env->why, sizeof(env->why),
			 HT_ERROR_PREFIX "reading memory nodes: %s",
			 strerror(-ret));
		return env->why;
	}
	env->nnodes = ret;
	if (!n->page_size && !n->sysctls[0] && !n->cgroup) {
		env->active = true;
		return NULL;
	}
	/* pools and sysctls are root's */
	if (!ht_has_cap(CAP_SYS_ADMIN))
		return "needs CAP_SYS_ADMIN to size huge page pools (run as root)";
	n_len = strlen(HT_ERROR_PREFIX);
	memcpy(env->why, HT_ERROR_PREFIX, n_len);
	if (ht_lock_take(&env->lock, env->why + n_len,
			 sizeof(env->why) - n_len))
		return env->why;
	ret = ht_pool_snapshot(&env->pools);
	if (ret) {
		ht_lock_release(&env->lock);
		snprintf(env->why, sizeof(env->why),
			 HT_ERROR_PREFIX "pool snapshot: %s", strerror(-ret));
		return env->why;
	}
	ht_pool_set_floor(&env->pools);
	for (int i = 0; i < 4 && n->sysctls[i]; i++) {
		snprintf(env->sysctl_path[i], sizeof(env->sysctl_path[i]),
			 "/proc/sys/%s", n->sysctls[i]);
		for (char *c = env->sysctl_path[i] + 10; *c; c++)
			if (*c == '.')
				*c = '/';
		ret = ht_read_ulong(env->sysctl_path[i], &env->sysctl_val[i]);
		if (ret) {
			snprintf(env->why, sizeof(env->why),
				 "sysctl %s unavailable: %s", n->sysctls[i],
				 strerror(-ret));
			ht_lock_release(&env->lock);
			return env->why;
		}
		env->nsysctls = i + 1;
	}
	env->active = true;
	r = provide_pools(n, env);
	if (!r && n->cgroup)
		r = ht_cg_setup(&env->cg, env->why, sizeof(env->why));
	if (r) {
		ht_teardown(env, NULL, 0);
		return r;
	}
	return NULL;
}

static int restore_env(struct ht_env *env, char *msg, size_t len)
{
	struct ht_pool_snapshot now;
	char diff[HT_WHY_LEN];
	unsigned long v;
	int bad = 0;

	if (!env->active)
		return 0;
	env->active = false;
	ht_pool_set_floor(NULL);
	/*
	 * Groups first: their tasks go back where they came from, and a
	 * page still charged to a group is charged to its parent after the
	 * rmdir, which does not keep the pool from shrinking.
	 */
	if (ht_cg_teardown(&env->cg, msg, len))
		bad = 1;
	for (int i = 0; i < env->nsysctls; i++) {
		ht_write_ulong(env->sysctl_path[i], env->sysctl_val[i]);
		if (ht_read_ulong(env->sysctl_path[i], &v) ||
		    v != env->sysctl_val[i]) {
			if (msg)
				snprintf(msg, len, "%s not restored",
					 env->sysctl_path[i]);
			bad = 1;
		}
	}
	if (!env->pools.nsizes)
		return bad ? -1 : 0;
	/*
	 * A test's children die with it (PR_SET_PDEATHSIG) but not at once:
	 * until the last one is gone its pages are in use and the pool
	 * cannot shrink.  Retry for a while before calling it a leak.
	 */
	for (int tries = 0; tries < 100; tries++) {
		ht_pool_restore(&env->pools);
		if (ht_pool_snapshot(&now) == 0 &&
		    !ht_pool_diff(&env->pools, &now, diff, sizeof(diff)))
			return bad ? -1 : 0;
		usleep(50 * 1000);
	}
	if (msg)
		snprintf(msg, len, "%s", diff);
	return -1;
}

int ht_teardown(struct ht_env *env, char *msg, size_t len)
{
	bool was_active = env->active;
	int ret = restore_env(env, msg, len);

	/* The guard retries: the lock goes with the first restore. */
	if (was_active)
		ht_lock_release(&env->lock);
	return ret;
}
