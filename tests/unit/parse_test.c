// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the /proc and sysfs text parsers (lib/parse.c,
 * ht_parse_ulong, ht_parse_nodelist), and of ht_json_str.
 *
 * The *_real.txt fixtures were captured on Debian 12 / Linux 6.18 from a
 * process holding one 2 MiB hugetlb memfd ("ht cap") mapped MAP_SHARED and
 * written, with a pool of 4 pages: smaps is trimmed to six VMAs, the rest is
 * whole.  The other fixtures are hand-made from those.  Fixtures are read
 * from $HT_FIXTURES, default tests/fixtures (make unit runs from the root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ht_harness.h"

#define BIT(f) (1u << (f))

/* Fields of 6.18 smaps: the HGM-only Hugetlb*Mapped lines are absent. */
#define SEEN_SMAPS_618                                                        \
	(BIT(HT_SMAPS_SIZE) | BIT(HT_SMAPS_KERNELPAGESIZE) |                  \
	 BIT(HT_SMAPS_RSS) | BIT(HT_SMAPS_PSS) | BIT(HT_SMAPS_SHARED_CLEAN) | \
	 BIT(HT_SMAPS_SHARED_DIRTY) | BIT(HT_SMAPS_PRIVATE_CLEAN) |           \
	 BIT(HT_SMAPS_PRIVATE_DIRTY) | BIT(HT_SMAPS_ANONYMOUS) |              \
	 BIT(HT_SMAPS_SHARED_HUGETLB) | BIT(HT_SMAPS_PRIVATE_HUGETLB))
/* smaps_rollup has no Size or KernelPageSize. */
#define SEEN_ROLLUP_618 \
	(SEEN_SMAPS_618 & ~(BIT(HT_SMAPS_SIZE) | BIT(HT_SMAPS_KERNELPAGESIZE)))
#define SEEN_HGM                                                               \
	(BIT(HT_SMAPS_HUGETLB_PUD_MAPPED) | BIT(HT_SMAPS_HUGETLB_PMD_MAPPED) | \
	 BIT(HT_SMAPS_HUGETLB_PTE_MAPPED))

#define HUGETLB_START 0x7f03ce800000UL
#define HUGETLB_END 0x7f03cea00000UL

/* Headers for the inline cases. */
#define HDR "7f0000000000-7f0000200000 rw-s 00000000 00:11 1 /x\n"
#define ROLLUP_HDR "556a9e3e2000-7ffd3a6a6000 ---p 00000000 00:00 0 [rollup]\n"

static char *fixture(const char *name)
{
	const char *dir = getenv("HT_FIXTURES");
	char path[512];
	char *buf;

	snprintf(path, sizeof(path), "%s/%s",
		 dir && *dir ? dir : "tests/fixtures", name);
	buf = ht_slurp(path, NULL);
	if (!buf)
		fprintf(stderr, "# cannot read fixture %s: %s\n", path,
			strerror(errno));
	return buf;
}

/* Loads fixture @name into @var or fails the test. */
#define LOAD(var, name)            \
	char *var = fixture(name); \
	ASSERT_NE(NULL, var)

/* Every value of the captured hugetlb VMA (with or without HGM lines). */
static void check_hugetlb_vma(struct __test_metadata *_metadata,
			      const struct ht_smaps_vma *v)
{
	ASSERT_EQ(HUGETLB_START, v->start);
	ASSERT_EQ(HUGETLB_END, v->end);
	ASSERT_EQ(0, v->pgoff);
	ASSERT_STREQ("rw-s", v->perms);
	ASSERT_STREQ("/memfd:ht cap (deleted)", v->name);
	EXPECT_EQ(2048, v->val[HT_SMAPS_SIZE]);
	EXPECT_EQ(2048, v->val[HT_SMAPS_KERNELPAGESIZE]);
	EXPECT_EQ(0, v->val[HT_SMAPS_RSS]);
	EXPECT_EQ(0, v->val[HT_SMAPS_PSS]);
	EXPECT_EQ(0, v->val[HT_SMAPS_SHARED_CLEAN]);
	EXPECT_EQ(0, v->val[HT_SMAPS_SHARED_DIRTY]);
	EXPECT_EQ(0, v->val[HT_SMAPS_PRIVATE_CLEAN]);
	EXPECT_EQ(0, v->val[HT_SMAPS_PRIVATE_DIRTY]);
	EXPECT_EQ(0, v->val[HT_SMAPS_ANONYMOUS]);
	/* One mapping of a MAP_SHARED page is accounted as private. */
	EXPECT_EQ(0, v->val[HT_SMAPS_SHARED_HUGETLB]);
	EXPECT_EQ(2048, v->val[HT_SMAPS_PRIVATE_HUGETLB]);
	EXPECT_STREQ(" rd wr sh mr mw me ms de ht ", v->vmflags);
	EXPECT_TRUE(ht_vmflags_has(v, "ht"));
	EXPECT_TRUE(ht_vmflags_has(v, "sh"));
	EXPECT_TRUE(ht_vmflags_has(v, "rd"));
	EXPECT_FALSE(ht_vmflags_has(v, "hm"));
	EXPECT_FALSE(ht_vmflags_has(v, "h"));
}

/* ---- smaps ---- */

TEST(smaps_real_vmas)
{
	struct ht_smaps_vma v[8];
	LOAD(text, "smaps_real.txt");

	ASSERT_EQ(6, ht_smaps_parse(text, v, 8));

	ASSERT_EQ(0x556ad5127000UL, v[0].start);
	ASSERT_EQ(0x556ad5148000UL, v[0].end);
	ASSERT_STREQ("rw-p", v[0].perms);
	ASSERT_STREQ("[heap]", v[0].name);
	EXPECT_EQ(SEEN_SMAPS_618, v[0].seen);
	EXPECT_EQ(132, v[0].val[HT_SMAPS_SIZE]);
	EXPECT_EQ(4, v[0].val[HT_SMAPS_KERNELPAGESIZE]);
	EXPECT_EQ(8, v[0].val[HT_SMAPS_RSS]);
	EXPECT_EQ(8, v[0].val[HT_SMAPS_PRIVATE_DIRTY]);
	EXPECT_EQ(8, v[0].val[HT_SMAPS_ANONYMOUS]);
	EXPECT_FALSE(ht_vmflags_has(&v[0], "ht"));
	EXPECT_TRUE(ht_vmflags_has(&v[0], "ac")); /* the last flag */

	ASSERT_EQ(HUGETLB_START, v[1].start);

	/* Anonymous: the header ends "0 " with no name. */
	ASSERT_EQ(0x7f03ceac7000UL, v[2].start);
	ASSERT_EQ(0x7f03ceaca000UL, v[2].end);
	ASSERT_STREQ("", v[2].name);

	ASSERT_EQ(0x7f03ceaca000UL, v[3].start);
	ASSERT_EQ(0x7f03ceaf0000UL, v[3].end);
	ASSERT_STREQ("r--p", v[3].perms);
	ASSERT_STREQ("/usr/lib/x86_64-linux-gnu/libc.so.6", v[3].name);
	EXPECT_EQ(152, v[3].val[HT_SMAPS_SIZE]);
	EXPECT_EQ(152, v[3].val[HT_SMAPS_RSS]);
	EXPECT_EQ(16, v[3].val[HT_SMAPS_PSS]);
	EXPECT_EQ(152, v[3].val[HT_SMAPS_SHARED_CLEAN]);

	ASSERT_EQ(0x7ffd3a685000UL, v[4].start);
	ASSERT_STREQ("[stack]", v[4].name);

	ASSERT_EQ(0xffffffffff600000UL, v[5].start);
	ASSERT_EQ(0xffffffffff601000UL, v[5].end);
	ASSERT_STREQ("--xp", v[5].perms);
	ASSERT_STREQ("[vsyscall]", v[5].name);
	EXPECT_STREQ(" ex ", v[5].vmflags);
	free(text);
}

TEST(smaps_real_hugetlb_vma)
{
	struct ht_smaps_vma v[8];
	LOAD(text, "smaps_real.txt");

	ASSERT_EQ(6, ht_smaps_parse(text, v, 8));
	EXPECT_EQ(SEEN_SMAPS_618, v[1].seen);
	EXPECT_EQ(0, v[1].val[HT_SMAPS_HUGETLB_PUD_MAPPED]);
	EXPECT_EQ(0, v[1].val[HT_SMAPS_HUGETLB_PMD_MAPPED]);
	EXPECT_EQ(0, v[1].val[HT_SMAPS_HUGETLB_PTE_MAPPED]);
	check_hugetlb_vma(_metadata, &v[1]);
	free(text);
}

/* More VMAs than slots: the count is capped and the slots hold the first. */
TEST(smaps_real_max)
{
	struct ht_smaps_vma v[3];
	LOAD(text, "smaps_real.txt");

	memset(v, 0xa5, sizeof(v));
	ASSERT_EQ(2, ht_smaps_parse(text, v, 2));
	ASSERT_STREQ("[heap]", v[0].name);
	check_hugetlb_vma(_metadata, &v[1]);
	/* Nothing past @max is written. */
	EXPECT_EQ(0xa5a5a5a5a5a5a5a5UL, v[2].start);
	ASSERT_EQ(0, ht_smaps_parse(text, NULL, 0));
	free(text);
}

/* Newer kernels add lines: unknown keys are skipped, HGM keys are read. */
TEST(smaps_future_field_ignored)
{
	struct ht_smaps_vma v[2];
	LOAD(text, "smaps_future_field.txt");

	ASSERT_EQ(1, ht_smaps_parse(text, v, 2));
	check_hugetlb_vma(_metadata, &v[0]);
	EXPECT_EQ(SEEN_SMAPS_618 | SEEN_HGM, v[0].seen);
	EXPECT_EQ(0, v[0].val[HT_SMAPS_HUGETLB_PUD_MAPPED]);
	EXPECT_EQ(2048, v[0].val[HT_SMAPS_HUGETLB_PMD_MAPPED]);
	EXPECT_EQ(0, v[0].val[HT_SMAPS_HUGETLB_PTE_MAPPED]);
	free(text);
}

TEST(smaps_truncated_after_header)
{
	struct ht_smaps_vma v[4];
	LOAD(text, "smaps_truncated_header.txt");

	ASSERT_EQ(-EINVAL, ht_smaps_parse(text, v, 4));
	/* Also when the empty VMA is past @max. */
	ASSERT_EQ(-EINVAL, ht_smaps_parse(text, v, 1));
	/* A header alone, with and without its newline. */
	ASSERT_EQ(-EINVAL, ht_smaps_parse(HDR, v, 4));
	ASSERT_EQ(-EINVAL,
		  ht_smaps_parse(
			  "7f0000000000-7f0000200000 rw-s 00000000 00:11 1 /x",
			  v, 4));
	/* A header cut before the offset. */
	ASSERT_EQ(-EINVAL, ht_smaps_parse("7f0000000000-7f0000200000 rw-s\n"
					  "Size: 4 kB\n",
					  v, 4));
	free(text);
}

TEST(smaps_truncated_mid_field)
{
	struct ht_smaps_vma v[2];
	LOAD(text, "smaps_truncated_field.txt");

	/* The file ends "Private_Hugetlb:" with no value and no newline. */
	ASSERT_EQ(-EINVAL, ht_smaps_parse(text, v, 2));
	ASSERT_EQ(-EINVAL,
		  ht_smaps_parse(HDR "Size:               2048 k\n", v, 2));
	ASSERT_EQ(-EINVAL, ht_smaps_parse(HDR "Size:               2048 kB\n"
					      "Private_Hug\n",
					  v, 2));
	free(text);
}

TEST(smaps_ulong_max_parses)
{
	struct ht_smaps_vma v[2];
	LOAD(text, "smaps_ulong_max.txt");

	ASSERT_EQ(1, ht_smaps_parse(text, v, 2));
	EXPECT_EQ(ULONG_MAX, v[0].val[HT_SMAPS_PRIVATE_HUGETLB]);
	EXPECT_EQ(2048, v[0].val[HT_SMAPS_SIZE]);
	EXPECT_EQ(SEEN_SMAPS_618, v[0].seen);
	free(text);
}

TEST(smaps_ulong_overflow)
{
	struct ht_smaps_vma v[2];
	LOAD(text, "smaps_ulong_overflow.txt");

	/* 18446744073709551616 = ULONG_MAX + 1 */
	ASSERT_EQ(-EINVAL, ht_smaps_parse(text, v, 2));
	/* Too many digits for any buffer. */
	ASSERT_EQ(-EINVAL,
		  ht_smaps_parse(
			  HDR
			  "Rss: 1000000000000000000000000000000000000000 kB\n",
			  v, 2));
	free(text);
}

TEST(smaps_negative_value)
{
	struct ht_smaps_vma v[2];
	LOAD(text, "smaps_negative.txt");

	/* "Rss:                  -5 kB" */
	ASSERT_EQ(-EINVAL, ht_smaps_parse(text, v, 2));
	ASSERT_EQ(-EINVAL, ht_smaps_parse(HDR "Rss: +5 kB\n", v, 2));
	free(text);
}

TEST(smaps_garbage_line)
{
	struct ht_smaps_vma v[4];
	LOAD(text, "smaps_garbage.txt");

	ASSERT_EQ(-EINVAL, ht_smaps_parse(text, v, 4));
	/* A field before any VMA header. */
	ASSERT_EQ(-EINVAL, ht_smaps_parse("Size: 4 kB\n", v, 4));
	/* An unknown key that does not look like a key. */
	ASSERT_EQ(-EINVAL, ht_smaps_parse(HDR "Size: 4 kB\n"
					      "Not a key: 4 kB\n",
					  v, 4));
	/* A known key with a unit it does not have. */
	ASSERT_EQ(-EINVAL, ht_smaps_parse(HDR "Size: 4 MB\n", v, 4));
	/* A header whose end is below its start. */
	ASSERT_EQ(-EINVAL,
		  ht_smaps_parse(
			  "7f0000200000-7f0000000000 rw-s 00000000 00:11 1 /x\n"
			  "Size: 4 kB\n",
			  v, 4));
	free(text);
}

TEST(smaps_empty)
{
	struct ht_smaps_vma v[2];
	LOAD(text, "smaps_empty.txt");

	ASSERT_EQ(0, ht_smaps_parse(text, v, 2));
	ASSERT_EQ(0, ht_smaps_parse("\n\n", v, 2));
	free(text);
}

/* ---- smaps_rollup ---- */

TEST(smaps_rollup_real)
{
	struct ht_smaps_vma r;
	LOAD(text, "smaps_rollup_real.txt");

	ASSERT_EQ(0, ht_smaps_rollup_parse(text, &r));
	EXPECT_EQ(0x556a9e3e2000UL, r.start);
	EXPECT_EQ(0x7ffd3a6a6000UL, r.end);
	EXPECT_STREQ("---p", r.perms);
	EXPECT_STREQ("[rollup]", r.name);
	EXPECT_EQ(SEEN_ROLLUP_618, r.seen);
	EXPECT_EQ(0, r.val[HT_SMAPS_SIZE]);
	EXPECT_EQ(0, r.val[HT_SMAPS_KERNELPAGESIZE]);
	EXPECT_EQ(1436, r.val[HT_SMAPS_RSS]);
	EXPECT_EQ(277, r.val[HT_SMAPS_PSS]);
	EXPECT_EQ(1308, r.val[HT_SMAPS_SHARED_CLEAN]);
	EXPECT_EQ(0, r.val[HT_SMAPS_SHARED_DIRTY]);
	EXPECT_EQ(4, r.val[HT_SMAPS_PRIVATE_CLEAN]);
	EXPECT_EQ(124, r.val[HT_SMAPS_PRIVATE_DIRTY]);
	EXPECT_EQ(112, r.val[HT_SMAPS_ANONYMOUS]);
	EXPECT_EQ(0, r.val[HT_SMAPS_SHARED_HUGETLB]);
	EXPECT_EQ(2048, r.val[HT_SMAPS_PRIVATE_HUGETLB]);
	EXPECT_STREQ("", r.vmflags);
	free(text);
}

/* A whole smaps file is not a rollup. */
TEST(smaps_rollup_rejects_smaps)
{
	struct ht_smaps_vma r;
	LOAD(text, "smaps_real.txt");

	ASSERT_EQ(-EINVAL, ht_smaps_rollup_parse(text, &r));
	free(text);
}

TEST(smaps_rollup_truncated)
{
	struct ht_smaps_vma r;
	LOAD(text, "smaps_rollup_truncated.txt");

	/* Cut at "Pss:", a field we read, before its value. */
	ASSERT_EQ(-EINVAL, ht_smaps_rollup_parse(text, &r));
	ASSERT_EQ(-EINVAL, ht_smaps_rollup_parse(ROLLUP_HDR, &r));
	/* Rss is what a rollup is read for: it must be there. */
	ASSERT_EQ(-EINVAL,
		  ht_smaps_rollup_parse(
			  ROLLUP_HDR "Pss:                 277 kB\n", &r));
	ASSERT_EQ(-EINVAL, ht_smaps_rollup_parse("", &r));
	/*
	 * A cut at a key we skip ("Pss_Dirty:") cannot be seen: unknown keys
	 * are not read, so their values are not checked.
	 */
	ASSERT_EQ(0, ht_smaps_rollup_parse(ROLLUP_HDR
					   "Rss:                1436 kB\n"
					   "Pss_Dirty:",
					   &r));
	EXPECT_EQ(BIT(HT_SMAPS_RSS), r.seen);
	free(text);
}

/* ---- VmFlags ---- */

TEST(vmflags_has_edges)
{
	struct ht_smaps_vma v;

	memset(&v, 0, sizeof(v));
	snprintf(v.vmflags, sizeof(v.vmflags), " rd shx wr ");
	EXPECT_FALSE(ht_vmflags_has(&v, "sh"));
	EXPECT_TRUE(ht_vmflags_has(&v, "shx"));
	EXPECT_FALSE(ht_vmflags_has(&v, "hx"));
	EXPECT_FALSE(ht_vmflags_has(&v, "r"));

	/* The second occurrence counts when the first is a longer flag. */
	snprintf(v.vmflags, sizeof(v.vmflags), " shx sh ");
	EXPECT_TRUE(ht_vmflags_has(&v, "sh"));

	/* No separators at either end. */
	snprintf(v.vmflags, sizeof(v.vmflags), "ht rd sh");
	EXPECT_TRUE(ht_vmflags_has(&v, "ht"));
	EXPECT_TRUE(ht_vmflags_has(&v, "sh"));
	EXPECT_FALSE(ht_vmflags_has(&v, "hm"));
	EXPECT_FALSE(ht_vmflags_has(&v, "t"));

	/* No flag is empty; "" once looped forever here. */
	EXPECT_FALSE(ht_vmflags_has(&v, ""));
	snprintf(v.vmflags, sizeof(v.vmflags), " rd ");
	EXPECT_FALSE(ht_vmflags_has(&v, ""));

	v.vmflags[0] = '\0';
	EXPECT_FALSE(ht_vmflags_has(&v, "rd"));
	EXPECT_FALSE(ht_vmflags_has(&v, ""));
}

/* ---- "Key: value" files ---- */

TEST(meminfo_real)
{
	unsigned long val = 12345;
	LOAD(text, "meminfo_real.txt");

	ASSERT_EQ(0, ht_kv_parse(text, "HugePages_Total", &val));
	EXPECT_EQ(4, val);
	ASSERT_EQ(0, ht_kv_parse(text, "HugePages_Free", &val));
	EXPECT_EQ(3, val);
	ASSERT_EQ(0, ht_kv_parse(text, "HugePages_Rsvd", &val));
	EXPECT_EQ(0, val);
	ASSERT_EQ(0, ht_kv_parse(text, "HugePages_Surp", &val));
	EXPECT_EQ(0, val);
	ASSERT_EQ(0, ht_kv_parse(text, "Hugepagesize", &val));
	EXPECT_EQ(2048, val);
	ASSERT_EQ(0, ht_kv_parse(text, "Hugetlb", &val));
	EXPECT_EQ(8192, val);
	ASSERT_EQ(0, ht_kv_parse(text, "MemTotal", &val)); /* the first line */
	EXPECT_EQ(24683656, val);
	ASSERT_EQ(0, ht_kv_parse(text, "DirectMap1G", &val)); /* the last */
	EXPECT_EQ(25165824, val);
	ASSERT_EQ(0, ht_kv_parse(text, "Active(anon)", &val));
	EXPECT_EQ(1548, val);

	/* Prefixes of real keys, and keys that are not there at all. */
	val = 12345;
	EXPECT_EQ(-ENOENT, ht_kv_parse(text, "HugePages", &val));
	EXPECT_EQ(-ENOENT, ht_kv_parse(text, "Hugetl", &val));
	EXPECT_EQ(-ENOENT, ht_kv_parse(text, "HugePages_Total:", &val));
	EXPECT_EQ(-ENOENT, ht_kv_parse(text, "NoSuchKey", &val));
	EXPECT_EQ(12345, val); /* untouched on failure */
	free(text);
}

TEST(meminfo_key_prefix)
{
	unsigned long val;
	LOAD(text, "meminfo_prefix.txt");

	/* "HugePages_Total:" comes first and must not match "HugePages". */
	ASSERT_EQ(0, ht_kv_parse(text, "HugePages", &val));
	EXPECT_EQ(7, val);
	ASSERT_EQ(0, ht_kv_parse(text, "Hugetlb", &val));
	EXPECT_EQ(8192, val);
	ASSERT_EQ(0, ht_kv_parse(text, "HugetlbX", &val));
	EXPECT_EQ(1, val);
	ASSERT_EQ(0, ht_kv_parse(text, "HugePages_Free", &val));
	EXPECT_EQ(3, val);
	free(text);
}

TEST(node_meminfo_real)
{
	unsigned long val;
	LOAD(text, "node0_meminfo_real.txt");

	ASSERT_EQ(0, ht_kv_parse(text, "HugePages_Total", &val));
	EXPECT_EQ(4, val);
	ASSERT_EQ(0, ht_kv_parse(text, "HugePages_Free", &val));
	EXPECT_EQ(3, val);
	ASSERT_EQ(0, ht_kv_parse(text, "HugePages_Surp", &val));
	EXPECT_EQ(0, val);
	ASSERT_EQ(0, ht_kv_parse(text, "MemTotal", &val));
	EXPECT_EQ(4941600, val);
	ASSERT_EQ(0, ht_kv_parse(text, "FileHugePages", &val));
	EXPECT_EQ(34816, val);
	EXPECT_EQ(-ENOENT, ht_kv_parse(text, "HugePages", &val));
	EXPECT_EQ(-ENOENT, ht_kv_parse(text, "Node", &val));
	EXPECT_EQ(-ENOENT, ht_kv_parse(text, "0 MemTotal", &val));
	/* No global-only key in a node's file. */
	EXPECT_EQ(-ENOENT, ht_kv_parse(text, "Hugetlb", &val));
	free(text);
}

TEST(status_real)
{
	unsigned long val;
	LOAD(text, "status_real.txt");

	/* Tab after the colon, then space-padded numbers. */
	ASSERT_EQ(0, ht_kv_parse(text, "HugetlbPages", &val));
	EXPECT_EQ(2048, val);
	ASSERT_EQ(0, ht_kv_parse(text, "VmRSS", &val));
	EXPECT_EQ(1436, val);
	ASSERT_EQ(0, ht_kv_parse(text, "RssFile", &val));
	EXPECT_EQ(1324, val);
	ASSERT_EQ(0, ht_kv_parse(text, "Threads", &val));
	EXPECT_EQ(1, val);
	/* A key after the 300-character Mems_allowed line. */
	ASSERT_EQ(0, ht_kv_parse(text, "nonvoluntary_ctxt_switches", &val));
	EXPECT_EQ(50, val);
	/* Present, but not numbers. */
	EXPECT_EQ(-EINVAL, ht_kv_parse(text, "Name", &val));
	EXPECT_EQ(-EINVAL, ht_kv_parse(text, "SigQ", &val));
	EXPECT_EQ(-EINVAL, ht_kv_parse(text, "Uid", &val));
	EXPECT_EQ(-ENOENT, ht_kv_parse(text, "Hugetlb", &val));
	free(text);
}

TEST(kv_bad_values)
{
	unsigned long val;

	EXPECT_EQ(-EINVAL, ht_kv_parse("Hugetlb:  -5 kB\n", "Hugetlb", &val));
	EXPECT_EQ(-EINVAL, ht_kv_parse("Hugetlb:\n", "Hugetlb", &val));
	EXPECT_EQ(-EINVAL, ht_kv_parse("Hugetlb:  12 MB\n", "Hugetlb", &val));
	EXPECT_EQ(-EINVAL, ht_kv_parse("Hugetlb:  12 kB x\n", "Hugetlb", &val));
	EXPECT_EQ(-EINVAL, ht_kv_parse("Hugetlb: 18446744073709551616 kB\n",
				       "Hugetlb", &val));
	ASSERT_EQ(0, ht_kv_parse("Hugetlb: 18446744073709551615 kB\n",
				 "Hugetlb", &val));
	EXPECT_EQ(ULONG_MAX, val);
	/* The last line need not end in a newline. */
	ASSERT_EQ(0, ht_kv_parse("A: 1\nHugePages_Free: 9", "HugePages_Free",
				 &val));
	EXPECT_EQ(9, val);
	EXPECT_EQ(-ENOENT, ht_kv_parse("", "HugePages_Free", &val));
}

/* ---- numa_maps ---- */

TEST(numa_maps_real_hugetlb)
{
	struct ht_numa_maps nm;
	int i;
	LOAD(text, "numa_maps_real.txt");

	ASSERT_EQ(0, ht_numa_maps_parse(text, HUGETLB_START, &nm));
	EXPECT_EQ(HUGETLB_START, nm.addr);
	EXPECT_STREQ("default", nm.policy);
	EXPECT_TRUE(nm.huge);
	EXPECT_TRUE(nm.file); /* file=/memfd:ht\040cap\040(deleted) */
	EXPECT_EQ(HT_NM_DIRTY | HT_NM_KPS, nm.seen);
	EXPECT_EQ(1, nm.dirty);
	EXPECT_EQ(0, nm.anon);
	EXPECT_EQ(0, nm.mapped);
	EXPECT_EQ(0, nm.mapmax);
	EXPECT_EQ(2048, nm.kernelpagesize_kb);
	EXPECT_EQ(1, nm.node_pages[0]);
	for (i = 1; i < HT_MAX_NODES; i++)
		EXPECT_EQ(0, nm.node_pages[i]);
	free(text);
}

TEST(numa_maps_real_other_lines)
{
	struct ht_numa_maps nm;
	LOAD(text, "numa_maps_real.txt");

	ASSERT_EQ(0, ht_numa_maps_parse(text, 0x7f03ceaca000UL, &nm));
	EXPECT_FALSE(nm.huge);
	EXPECT_TRUE(nm.file);
	EXPECT_EQ(HT_NM_MAPPED | HT_NM_MAPMAX | HT_NM_KPS, nm.seen);
	EXPECT_EQ(38, nm.mapped);
	EXPECT_EQ(9, nm.mapmax);
	EXPECT_EQ(38, nm.node_pages[0]);
	EXPECT_EQ(4, nm.kernelpagesize_kb);

	/* "heap", "active=": not ours, skipped. */
	ASSERT_EQ(0, ht_numa_maps_parse(text, 0x556ad5127000UL, &nm));
	EXPECT_FALSE(nm.file);
	EXPECT_FALSE(nm.huge);
	EXPECT_EQ(HT_NM_ANON | HT_NM_DIRTY | HT_NM_KPS, nm.seen);
	EXPECT_EQ(2, nm.anon);
	EXPECT_EQ(2, nm.dirty);
	EXPECT_EQ(2, nm.node_pages[0]);

	/* A VMA with nothing resident is the policy alone. */
	ASSERT_EQ(0, ht_numa_maps_parse(text, 0x7f03cecb9000UL, &nm));
	EXPECT_STREQ("default", nm.policy);
	EXPECT_EQ(0, nm.seen);
	EXPECT_FALSE(nm.huge);
	EXPECT_FALSE(nm.file);
	EXPECT_EQ(0, nm.node_pages[0]);

	/* The last line. */
	ASSERT_EQ(0, ht_numa_maps_parse(text, 0x7ffd3a685000UL, &nm));
	EXPECT_EQ(6, nm.anon);

	/* Inside a VMA is not its start. */
	EXPECT_EQ(-ENOENT, ht_numa_maps_parse(text, HUGETLB_START + 4096, &nm));
	EXPECT_EQ(-ENOENT, ht_numa_maps_parse(text, 0, &nm));
	free(text);
}

TEST(numa_maps_escaped_name)
{
	struct ht_numa_maps nm;
	int i;
	LOAD(text, "numa_maps_handmade.txt");

	/* file=/tmp/with\040two\040spaces huge dirty=1 mapmax=2 N0=1 N3=2 */
	ASSERT_EQ(0, ht_numa_maps_parse(text, 0x7f0000000000UL, &nm));
	EXPECT_STREQ("default", nm.policy);
	EXPECT_TRUE(nm.file);
	EXPECT_TRUE(nm.huge);
	EXPECT_EQ(HT_NM_DIRTY | HT_NM_MAPMAX | HT_NM_KPS, nm.seen);
	EXPECT_EQ(1, nm.dirty);
	EXPECT_EQ(2, nm.mapmax);
	EXPECT_EQ(0, nm.mapped);
	EXPECT_EQ(0, nm.anon);
	EXPECT_EQ(2048, nm.kernelpagesize_kb);
	for (i = 0; i < HT_MAX_NODES; i++)
		EXPECT_EQ(i == 0 ? 1 : i == 3 ? 2 : 0, nm.node_pages[i])
	TH_LOG("N%d", i);
	free(text);
}

TEST(numa_maps_sparse_nodes)
{
	struct ht_numa_maps nm;
	int i;
	LOAD(text, "numa_maps_handmade.txt");

	/* bind:1,3,63 ... anon=1 dirty=1 mapped=1 N1=0 N63=5 kps=1048576 */
	ASSERT_EQ(0, ht_numa_maps_parse(text, 0x7f0000200000UL, &nm));
	EXPECT_STREQ("bind:1,3,63", nm.policy);
	EXPECT_TRUE(nm.file);
	EXPECT_TRUE(nm.huge);
	EXPECT_EQ(HT_NM_ANON | HT_NM_DIRTY | HT_NM_MAPPED | HT_NM_KPS, nm.seen);
	EXPECT_EQ(1, nm.anon);
	EXPECT_EQ(1, nm.dirty);
	EXPECT_EQ(1, nm.mapped);
	EXPECT_EQ(0, nm.mapmax);
	EXPECT_EQ(1048576, nm.kernelpagesize_kb);
	for (i = 0; i < HT_MAX_NODES; i++)
		EXPECT_EQ(i == HT_MAX_NODES - 1 ? 5 : 0, nm.node_pages[i])
	TH_LOG("N%d", i);
	free(text);
}

TEST(numa_maps_bad_lines)
{
	struct ht_numa_maps nm;
	LOAD(text, "numa_maps_handmade.txt");
	LOAD(garbage, "numa_maps_garbage.txt");

	/* N99= is past HT_MAX_NODES. */
	EXPECT_EQ(-EINVAL, ht_numa_maps_parse(text, 0x7f0000400000UL, &nm));
	/* dirty=-1 */
	EXPECT_EQ(-EINVAL, ht_numa_maps_parse(text, 0x7f0000600000UL, &nm));
	EXPECT_EQ(-EINVAL, ht_numa_maps_parse("7f0000000000 default N64=1\n",
					      0x7f0000000000UL, &nm));
	EXPECT_EQ(-EINVAL, ht_numa_maps_parse("7f0000000000 default N1\n",
					      0x7f0000000000UL, &nm));
	EXPECT_EQ(-EINVAL, ht_numa_maps_parse("7f0000000000 default N1=\n",
					      0x7f0000000000UL, &nm));
	EXPECT_EQ(-EINVAL, ht_numa_maps_parse("7f0000000000 default mapmax=x\n",
					      0x7f0000000000UL, &nm));
	EXPECT_EQ(-EINVAL,
		  ht_numa_maps_parse("7f0000000000\n", 0x7f0000000000UL, &nm));

	/* A line that is not an address stops the search. */
	ASSERT_EQ(0, ht_numa_maps_parse(garbage, 0x7f0000000000UL, &nm));
	EXPECT_EQ(1, nm.node_pages[0]);
	EXPECT_EQ(-EINVAL, ht_numa_maps_parse(garbage, 0x7f0000200000UL, &nm));
	EXPECT_EQ(-EINVAL, ht_numa_maps_parse(garbage, 0x1000UL, &nm));
	EXPECT_EQ(-ENOENT, ht_numa_maps_parse("", 0x1000UL, &nm));
	free(text);
	free(garbage);
}

/* ---- node lists ---- */

#define NODES(s, max) ht_parse_nodelist((s), nodes, (max))

TEST(nodelist_valid)
{
	int nodes[HT_MAX_NODES];
	LOAD(text, "node_has_memory_real.txt");

	ASSERT_EQ(1, NODES(text, HT_MAX_NODES)); /* "0\n" */
	EXPECT_EQ(0, nodes[0]);

	ASSERT_EQ(1, NODES("0", HT_MAX_NODES));
	EXPECT_EQ(0, nodes[0]);

	ASSERT_EQ(4, NODES("0-3", HT_MAX_NODES));
	EXPECT_EQ(0, nodes[0]);
	EXPECT_EQ(1, nodes[1]);
	EXPECT_EQ(2, nodes[2]);
	EXPECT_EQ(3, nodes[3]);

	ASSERT_EQ(4, NODES("0,2,5-6\n", HT_MAX_NODES));
	EXPECT_EQ(0, nodes[0]);
	EXPECT_EQ(2, nodes[1]);
	EXPECT_EQ(5, nodes[2]);
	EXPECT_EQ(6, nodes[3]);

	ASSERT_EQ(2, NODES("1,63", HT_MAX_NODES));
	EXPECT_EQ(1, nodes[0]);
	EXPECT_EQ(63, nodes[1]);

	ASSERT_EQ(1, NODES("3-3", HT_MAX_NODES));
	EXPECT_EQ(3, nodes[0]);

	ASSERT_EQ(HT_MAX_NODES, NODES("0-63", HT_MAX_NODES));
	EXPECT_EQ(63, nodes[63]);

	/* Exactly @max fits. */
	ASSERT_EQ(2, NODES("4-5", 2));

	/* No memory node at all (an empty has_memory). */
	ASSERT_EQ(0, NODES("", HT_MAX_NODES));
	ASSERT_EQ(0, NODES("\n", HT_MAX_NODES));
	free(text);
}

TEST(nodelist_invalid)
{
	int nodes[HT_MAX_NODES];

	EXPECT_EQ(-EINVAL, NODES("3-1", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("a", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("0,a", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("0-1x", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("-1", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("0,,1", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES(" 0", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("0 1", HT_MAX_NODES));
	/* Cut-off lists and ranges are errors, not a shorter list. */
	EXPECT_EQ(-EINVAL, NODES("0-", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("0--0", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("0-+3", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("0- 3", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("0,", HT_MAX_NODES));
	EXPECT_EQ(-EINVAL, NODES("0-3,", HT_MAX_NODES));

	/* Ids HT_MAX_NODES and up, and more nodes than slots. */
	EXPECT_EQ(-ERANGE, NODES("64", HT_MAX_NODES));
	EXPECT_EQ(-ERANGE, NODES("0-64", HT_MAX_NODES));
	EXPECT_EQ(-ERANGE, NODES("0,99", HT_MAX_NODES));
	EXPECT_EQ(-ERANGE, NODES("99999999999999999999999", HT_MAX_NODES));
	EXPECT_EQ(-ERANGE, NODES("0-3", 3));
	EXPECT_EQ(-ERANGE, NODES("0,2,5-6", 3));
	EXPECT_EQ(-ERANGE, NODES("0", 0));
}

/* ---- ht_parse_ulong ---- */

TEST(parse_ulong)
{
	unsigned long val;

	ASSERT_EQ(0, ht_parse_ulong("0", &val));
	EXPECT_EQ(0, val);
	ASSERT_EQ(0, ht_parse_ulong(" \t42\n", &val)); /* a sysfs read */
	EXPECT_EQ(42, val);
	ASSERT_EQ(0, ht_parse_ulong("18446744073709551615", &val));
	EXPECT_EQ(ULONG_MAX, val);

	val = 7;
	EXPECT_EQ(-ERANGE, ht_parse_ulong("18446744073709551616", &val));
	EXPECT_EQ(-ERANGE, ht_parse_ulong("99999999999999999999999", &val));
	EXPECT_EQ(-EINVAL, ht_parse_ulong("-5", &val));
	EXPECT_EQ(-EINVAL, ht_parse_ulong("+5", &val));
	EXPECT_EQ(-EINVAL, ht_parse_ulong("", &val));
	EXPECT_EQ(-EINVAL, ht_parse_ulong("\n", &val));
	EXPECT_EQ(-EINVAL, ht_parse_ulong("5 kB", &val));
	EXPECT_EQ(-EINVAL, ht_parse_ulong("5x", &val));
	EXPECT_EQ(-EINVAL, ht_parse_ulong("0x10", &val));
	EXPECT_EQ(7, val); /* untouched on failure */
}

/* ---- ht_cg_key_parse: cgroup keyed files ---- */

/* hugetlb.2MB.events and numa_stat as 6.12 writes them (cgroup v2). */
#define CG_EVENTS "max 3\n"
#define CG_NUMA_STAT "total=4194304 N0=2097152 N1=2097152 N10=0\n"
/* cgroup v1's numa_stat: a local line, then the hierarchical one. */
#define CG_NUMA_STAT_V1 "total=0 N0=0\nhierarchical_total=2097152 N0=2097152\n"

TEST(cg_keyed_files)
{
	unsigned long val;

	ASSERT_EQ(0, ht_cg_key_parse(CG_EVENTS, "max", &val));
	EXPECT_EQ(3, val);
	ASSERT_EQ(0, ht_cg_key_parse(CG_NUMA_STAT, "total", &val));
	EXPECT_EQ(4194304, val);
	ASSERT_EQ(0, ht_cg_key_parse(CG_NUMA_STAT, "N1", &val));
	EXPECT_EQ(2097152, val);
	/* N1 is not a prefix of N10, nor total of hierarchical_total. */
	ASSERT_EQ(0, ht_cg_key_parse(CG_NUMA_STAT, "N10", &val));
	EXPECT_EQ(0, val);
	ASSERT_EQ(0,
		  ht_cg_key_parse(CG_NUMA_STAT_V1, "hierarchical_total", &val));
	EXPECT_EQ(2097152, val);
	ASSERT_EQ(0, ht_cg_key_parse("low 1\nhigh 2\nmax 5\n", "max", &val));
	EXPECT_EQ(5, val);
}

TEST(cg_keyed_bad)
{
	unsigned long val = 7;

	EXPECT_EQ(-ENOENT, ht_cg_key_parse(CG_NUMA_STAT, "N2", &val));
	EXPECT_EQ(-ENOENT, ht_cg_key_parse(CG_NUMA_STAT, "N", &val));
	EXPECT_EQ(-ENOENT, ht_cg_key_parse(CG_EVENTS, "ma", &val));
	EXPECT_EQ(-ENOENT, ht_cg_key_parse("", "max", &val));
	EXPECT_EQ(-EINVAL, ht_cg_key_parse("max\n", "max", &val));
	EXPECT_EQ(-EINVAL, ht_cg_key_parse("max x\n", "max", &val));
	EXPECT_EQ(-EINVAL, ht_cg_key_parse("max -1\n", "max", &val));
	EXPECT_EQ(-EINVAL, ht_cg_key_parse("total= N0=0", "total", &val));
	EXPECT_EQ(-EINVAL, ht_cg_key_parse("total=12kB", "total", &val));
	EXPECT_EQ(-EINVAL, ht_cg_key_parse("max 99999999999999999999999\n",
					   "max", &val));
	EXPECT_EQ(7, val); /* untouched on failure */
}

/* ---- ht_json_str ---- */

static char *json_of(const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	ht_json_str(f, s);
	fclose(f);
	return out;
}

TEST(json_str)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ NULL, "\"\"" },
		{ "", "\"\"" },
		{ "PASS", "\"PASS\"" },
		{ "a \"b\" c\\d", "\"a \\\"b\\\" c\\\\d\"" },
		/* kmsg lines: newline and tab become \u escapes */
		{ "x\n\ty\x1f", "\"x\\u000a\\u0009y\\u001f\"" },
		{ "2 MiB \xc2\xb5", "\"2 MiB \xc2\xb5\"" }, /* UTF-8 as is */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = json_of(cases[i].in);

		ASSERT_NE(NULL, got);
		EXPECT_STREQ(cases[i].out, got);
		free(got);
	}
}

/* ---- kernel log complaints (lib/kmsg.c) ---- */

/*
 * The first line of each report of the debug kernel's checkers (make kernel
 * FLAVOUR=debug), as 6.12 prints them, at the level it prints them.
 */
TEST(kmsg_debug_checker_reports)
{
	static const struct {
		int level;
		const char *line;
	} reports[] = {
		{ 4, "WARNING: possible circular locking dependency detected" },
		{ 4, "WARNING: inconsistent lock state" },
		{ 4, "WARNING: possible recursive locking detected" },
		{ 3,
		  "BUG: sleeping function called from invalid context at mm/hugetlb.c:5905" },
		{ 0, "kernel BUG at mm/page_table_check.c:82!" },
		{ 3,
		  "BUG: KFENCE: use-after-free read in hugetlb_vma_lock_free+0x1c/0x40" },
		{ 4,
		  "list_add corruption. prev->next should be next (ffff888100000000), but was 0000000000000000. (prev=ffff888100000008)." },
		{ 4,
		  "list_del corruption, ffff888100000000->next is LIST_POISON1 (dead000000000100)" },
	};

	for (size_t i = 0; i < sizeof(reports) / sizeof(reports[0]); i++) {
		EXPECT_TRUE(ht_kmsg_line_is_complaint(reports[i].level,
						      reports[i].line))
		{
			TH_LOG("not a complaint: %s", reports[i].line);
		}
	}
	EXPECT_FALSE(ht_kmsg_line_is_complaint(6, "page_table_check: enabled"));
	EXPECT_FALSE(ht_kmsg_line_is_complaint(
		6,
		"kfence: initialized - using 2097152 bytes for 255 objects"));
	EXPECT_FALSE(ht_kmsg_line_is_complaint(
		6,
		"Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar"));
	/* '!' lines of complaints.h: refusals a case provokes on purpose. */
	EXPECT_FALSE(ht_kmsg_line_is_complaint(
		3, "hugetlbfs: Unsupported page size 3 MB"));
	EXPECT_TRUE(ht_kmsg_line_is_complaint(
		3, "hugetlbfs: Cannot mount internal hugetlbfs for page size"));
}

/*
 * /dev/kmsg records: the generic "hugetlb at warning" rule is for the
 * kernel's own lines (facility 0); a line user space wrote (prio 12:
 * LOG_USER, warning) counts only when a listed pattern matches it.
 */
static int complaints_in(const char *rec)
{
	char buf[256] = "";
	int pfd[2], n;

	if (pipe(pfd))
		return -1;
	n = write(pfd[1], rec, strlen(rec)) == (ssize_t)strlen(rec) ? 0 : -1;
	close(pfd[1]);
	if (!n)
		n = ht_kmsg_complaints(pfd[0], buf, sizeof(buf));
	close(pfd[0]);
	return n;
}

TEST(kmsg_user_lines_judged_by_patterns)
{
	EXPECT_EQ(0, complaints_in("12,1,0,-;kselftest: Running tests in "
				   "hugetlb_hgm\n"));
	EXPECT_EQ(1, complaints_in("4,2,0,-;hugetlb: some warning\n"));
	EXPECT_EQ(0, complaints_in("6,3,0,-;hugetlb: some info\n"));
	EXPECT_EQ(1, complaints_in("12,4,0,-;ht-runner-test: WARNING: "
				   "injected\n"));
}

/*
 * The page model every program checks against: one mapcount per (VMA,
 * page), shared above one however the mappings are spread, HugetlbPages
 * per process.
 */
TEST(page_model_views)
{
	const unsigned long mb2 = 2 * HT_MB;
	unsigned long shared_kb, private_kb;
	struct ht_page_model pm;
	struct ht_expect e;

	ht_model_init(&pm, mb2, 1);
	ht_model_base(&pm, 0, 4096);
	e = ht_model_view(&pm, 0);
	EXPECT_FALSE(e.mapped);
	EXPECT_EQ(4096, e.hugetlb_kb);
	EXPECT_EQ(-1, e.node);

	ht_model_map(&pm, 0, 1);
	e = ht_model_view(&pm, 0);
	EXPECT_TRUE(e.mapped);
	EXPECT_FALSE(e.shared);
	EXPECT_EQ(1, e.mapcount);
	EXPECT_EQ(4096 + 2048, e.hugetlb_kb);
	EXPECT_EQ(1, e.node);
	ht_model_smaps_kb(&pm, 0, &shared_kb, &private_kb);
	EXPECT_EQ(0, shared_kb);
	EXPECT_EQ(2048, private_kb);

	/* A second VMA of the same process: shared, two mappings. */
	ht_model_map(&pm, 0, 1);
	e = ht_model_view(&pm, 0);
	EXPECT_TRUE(e.shared);
	EXPECT_EQ(2, e.mapcount);
	EXPECT_EQ(4096 + 2 * 2048, e.hugetlb_kb);
	ht_model_smaps_kb(&pm, 0, &shared_kb, &private_kb);
	EXPECT_EQ(2 * 2048, shared_kb);
	EXPECT_EQ(0, private_kb);

	/* Another process: it sees the total, and only its own VMAs. */
	ht_model_map(&pm, 4242, 1);
	ht_model_map(&pm, 0, -1);
	e = ht_model_view(&pm, 4242);
	EXPECT_TRUE(e.mapped && e.shared);
	EXPECT_EQ(2, e.mapcount);
	EXPECT_EQ(2048, e.hugetlb_kb);
	EXPECT_EQ(2, ht_model_mapcount(&pm));

	ht_model_unmap(&pm, 4242);
	e = ht_model_view(&pm, 0);
	EXPECT_FALSE(e.shared);
	EXPECT_EQ(1, e.mapcount);
	ht_model_unmap(&pm, 0);
	EXPECT_EQ(0, ht_model_mapcount(&pm));
	EXPECT_FALSE(ht_model_view(&pm, 4242).mapped);

	/* Poisoned: mapped nowhere, each VMA's entry still in smaps. */
	ht_model_map(&pm, 0, 2);
	ht_model_poison(&pm);
	e = ht_model_view(&pm, 0);
	EXPECT_FALSE(e.mapped);
	EXPECT_TRUE(e.poisoned);
	EXPECT_EQ(0, e.mapcount);
	EXPECT_EQ(0, ht_model_mapcount(&pm));
	EXPECT_EQ(4096, e.hugetlb_kb);
	EXPECT_EQ(!ht_kernel_before(6, 12), e.shared);
	ht_model_smaps_kb(&pm, 0, &shared_kb, &private_kb);
	EXPECT_EQ(2 * 2048, shared_kb + private_kb);
	EXPECT_EQ(e.shared ? 0 : 2 * 2048, private_kb);
	EXPECT_FALSE(ht_model_view(&pm, 4242).poisoned);
}

/*
 * Page sizes per page table level, and the page tables a stress run will
 * need, on x86_64's geometry (4 KiB base pages, 512 entries per table).
 */
TEST(level_sizes_and_table_estimate)
{
	struct ht_kmem_est e;

	if (ht_base_page_size() != 4096)
		SKIP(return, "base page is not 4 KiB: x86_64 geometry only");
	EXPECT_EQ(2 * HT_MB, ht_pmd_size());
	EXPECT_EQ(HT_GB, ht_pud_size());

	/* 1024 adjacent 2 MiB mappings: 2 GiB, two PMD tables, one PUD. */
	ht_kmem_estimate(3, 1024, 2 * HT_MB, HT_GRAN_HUGE, 0, &e);
	EXPECT_EQ(3 * 1024, e.vmas);
	EXPECT_EQ(3, e.pud_tables);
	EXPECT_EQ(3 * 2, e.pmd_tables);
	EXPECT_EQ(0, e.pte_tables);
	ht_kmem_estimate(1, 1024, 2 * HT_MB, HT_GRAN_HGM, 0, &e);
	EXPECT_EQ(1024, e.pte_tables);
	EXPECT_EQ((1024 + 2 + 1) * 4096UL, e.table_bytes);

	/* 1 GiB pages: one PUD entry each; HGM adds 1 PMD + 512 PTE tables. */
	ht_kmem_estimate(1, 600, HT_GB, HT_GRAN_HUGE, 0, &e);
	EXPECT_EQ(2, e.pud_tables);
	EXPECT_EQ(0, e.pmd_tables);
	ht_kmem_estimate(2, 4, HT_GB, HT_GRAN_HGM, 0, &e);
	EXPECT_EQ(2 * 4, e.pmd_tables);
	EXPECT_EQ(2 * 4 * 512, e.pte_tables);
	/* 3 pieces spread over the page: 3 of its 2 MiB, 3 PTE tables. */
	ht_kmem_estimate(2, 4, HT_GB, HT_GRAN_HGM, 3, &e);
	EXPECT_EQ(2 * 4, e.pmd_tables);
	EXPECT_EQ(2 * 4 * 3, e.pte_tables);
	/* At 2 MiB any number of pieces shares the one PTE table. */
	ht_kmem_estimate(1, 1024, 2 * HT_MB, HT_GRAN_HGM, 3, &e);
	EXPECT_EQ(1024, e.pte_tables);
}

/*
 * ht_pieces_model(): HGM maps exactly the pieces touched, huge the whole
 * page each lies in; HT_SPARSE_OFFS stays past the first 2 MiB.
 */
TEST(pieces_model)
{
	const size_t ps = 4096, two = 2 * HT_MB;
	const size_t offs[2] = { 3 * ps, two + 5 * ps };
	const size_t sparse[HT_SPARSE_PIECES] = HT_SPARSE_OFFS(HT_GB);
	unsigned char *w = malloc(HT_GB / ps);
	size_t ones = 0;

	ASSERT_NE(NULL, w);
	ASSERT_EQ(ps, ht_base_page_size());
	ht_pieces_model(w, 3 * two, two, HT_GRAN_HGM, offs, 2);
	for (size_t i = 0; i < 3 * two / ps; i++)
		ones += w[i];
	EXPECT_EQ(2, ones);
	EXPECT_EQ(1, w[3]);
	EXPECT_EQ(1, w[512 + 5]);
	ht_pieces_model(w, 3 * two, two, HT_GRAN_HUGE, offs, 2);
	ones = 0;
	for (size_t i = 0; i < 3 * two / ps; i++)
		ones += w[i];
	EXPECT_EQ(1024, ones);
	EXPECT_EQ(0, w[1024]) TH_LOG("the third page was not touched");
	EXPECT_EQ(1, w[1023]);

	ht_pieces_model(w, HT_GB, HT_GB, HT_GRAN_HGM, sparse, HT_SPARSE_PIECES);
	ones = 0;
	for (size_t i = 0; i < HT_GB / ps; i++)
		ones += w[i];
	EXPECT_EQ(HT_SPARSE_PIECES, ones);
	for (size_t i = 0; i < two / ps; i++) {
		ASSERT_EQ(0, w[i]) TH_LOG("piece %zu in the first 2 MiB", i);
	}
	EXPECT_EQ(1, w[HT_GB / ps - 1]);
	free(w);
}

/* /proc/kallsyms: a kernel symbol's range, not a module's namesake. */
TEST(kallsyms_range)
{
	const char *text =
		"ffffffffc0001000 t hugetlb_reserve_pages\t[fake_mod]\n"
		"ffffffff81000000 T _text\n"
		"ffffffff81234a00 t hugetlb_unreserve_pages\n"
		"ffffffff81234560 T hugetlb_reserve_pages\n"
		"ffffffff81234560 t an_alias_at_the_same_address\n"
		"ffffffff81234600 t __pfx_hugetlb_unreserve_pages\n"
		"ffffffffc0002000 t only_in_a_module\t[fake_mod]\n";
	const char *hidden = "0000000000000000 T _text\n"
			     "0000000000000000 T hugetlb_reserve_pages\n";
	unsigned long start = 0, end = 0;

	ASSERT_EQ(0, ht_kallsyms_parse(text, "hugetlb_reserve_pages", &start,
				       &end));
	EXPECT_EQ(0xffffffff81234560UL, start);
	EXPECT_EQ(0xffffffff81234600UL, end);
	EXPECT_EQ(-ENOENT,
		  ht_kallsyms_parse(text, "only_in_a_module", &start, &end));
	EXPECT_EQ(-ENOENT, ht_kallsyms_parse(text, "absent", &start, &end));
	EXPECT_EQ(-EPERM, ht_kallsyms_parse(hidden, "hugetlb_reserve_pages",
					    &start, &end));
	EXPECT_EQ(-EINVAL, ht_kallsyms_parse("garbage\n", "x", &start, &end));
}

HT_MAIN
