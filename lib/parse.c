// SPDX-License-Identifier: GPL-2.0
/*
 * Parsers for smaps, smaps_rollup, numa_maps and "Key: value" files.
 * They take text, not a pid, so tests/unit can feed them captured and
 * malformed files.  Unknown fields are ignored (newer kernels add lines);
 * a known field with a bad value, or a line of no known shape, is -EINVAL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ht.h"

static const char *const smaps_keys[HT_SMAPS_NFIELDS] = {
	[HT_SMAPS_SIZE] = "Size",
	[HT_SMAPS_KERNELPAGESIZE] = "KernelPageSize",
	[HT_SMAPS_RSS] = "Rss",
	[HT_SMAPS_PSS] = "Pss",
	[HT_SMAPS_SHARED_CLEAN] = "Shared_Clean",
	[HT_SMAPS_SHARED_DIRTY] = "Shared_Dirty",
	[HT_SMAPS_PRIVATE_CLEAN] = "Private_Clean",
	[HT_SMAPS_PRIVATE_DIRTY] = "Private_Dirty",
	[HT_SMAPS_ANONYMOUS] = "Anonymous",
	[HT_SMAPS_SHARED_HUGETLB] = "Shared_Hugetlb",
	[HT_SMAPS_PRIVATE_HUGETLB] = "Private_Hugetlb",
	[HT_SMAPS_HUGETLB_PUD_MAPPED] = "HugetlbPudMapped",
	[HT_SMAPS_HUGETLB_PMD_MAPPED] = "HugetlbPmdMapped",
	[HT_SMAPS_HUGETLB_PTE_MAPPED] = "HugetlbPteMapped",
};

/* Copies one line (without '\n') into @line; returns the next line. */
static const char *next_line(const char *p, char *line, size_t len)
{
	const char *nl = strchr(p, '\n');
	size_t n = nl ? (size_t)(nl - p) : strlen(p);

	if (n >= len)
		n = len - 1;
	memcpy(line, p, n);
	line[n] = '\0';
	return nl ? nl + 1 : p + strlen(p);
}

static int parse_value_kb(const char *s, unsigned long *val)
{
	char num[32];
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strspn(s, "0123456789");
	if (n == 0 || n >= sizeof(num))
		return n ? -ERANGE : -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	s += n;
	while (*s == ' ')
		s++;
	if (*s && strcmp(s, "kB"))
		return -EINVAL;
	return ht_parse_ulong(num, val);
}

static bool is_vma_header(const char *line)
{
	size_t n = strspn(line, "0123456789abcdef");

	return n > 0 && line[n] == '-';
}

static int parse_vma_header(const char *line, struct ht_smaps_vma *v)
{
	int name_off = 0;

	memset(v, 0, sizeof(*v));
	if (sscanf(line, "%lx-%lx %4s %lx %*s %*u %n", &v->start, &v->end,
		   v->perms, &v->pgoff, &name_off) < 4 ||
	    v->end < v->start)
		return -EINVAL;
	if (name_off > 0)
		snprintf(v->name, sizeof(v->name), "%s", line + name_off);
	return 0;
}

static int parse_field(const char *line, struct ht_smaps_vma *v)
{
	const char *colon = strchr(line, ':');
	size_t klen;
	int i;

	if (!colon || colon == line)
		return -EINVAL;
	klen = colon - line;
	if (klen == 7 && !strncmp(line, "VmFlags", 7)) {
		snprintf(v->vmflags, sizeof(v->vmflags), "%s", colon + 1);
		return 0;
	}
	for (i = 0; i < HT_SMAPS_NFIELDS; i++) {
		if (strlen(smaps_keys[i]) != klen ||
		    strncmp(line, smaps_keys[i], klen))
			continue;
		if (parse_value_kb(colon + 1, &v->val[i]))
			return -EINVAL;
		v->seen |= 1u << i;
		return 0;
	}
	/* Unknown field: its key must still look like one. */
	for (const char *c = line; c < colon; c++)
		if (!(*c == '_' || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
			return -EINVAL;
	return 0;
}

int ht_smaps_parse(const char *text, struct ht_smaps_vma *vmas, int max)
{
	struct ht_smaps_vma *cur = NULL, spill;
	char line[512];
	int n = 0;

	while (*text) {
		text = next_line(text, line, sizeof(line));
		if (!line[0])
			continue;
		if (is_vma_header(line)) {
			cur = n < max ? &vmas[n] : &spill;
			if (parse_vma_header(line, cur))
				return -EINVAL;
			n++;
			continue;
		}
		if (!cur || parse_field(line, cur))
			return -EINVAL;
	}
	/* A VMA cut off before its first field is a truncated file. */
	if (cur && !cur->seen && !cur->vmflags[0])
		return -EINVAL;
	return n < max ? n : max;
}

int ht_smaps_rollup_parse(const char *text, struct ht_smaps_vma *out)
{
	struct ht_smaps_vma two[2];
	int n = ht_smaps_parse(text, two, 2);

	if (n < 0)
		return n;
	/* Room for two, so a whole smaps file is told from a rollup. */
	if (n != 1 || !(two[0].seen & (1u << HT_SMAPS_RSS)))
		return -EINVAL;
	*out = two[0];
	return 0;
}

bool ht_vmflags_has(const struct ht_smaps_vma *v, const char *flag)
{
	size_t len = strlen(flag);
	const char *p = v->vmflags;

	/* strstr() finds "" everywhere and p += 0 would never advance. */
	if (!len)
		return false;
	while ((p = strstr(p, flag))) {
		bool start = p == v->vmflags || p[-1] == ' ';
		bool end = p[len] == '\0' || p[len] == ' ' || p[len] == '\n';

		if (start && end)
			return true;
		p += len;
	}
	return false;
}

int ht_kv_parse(const char *text, const char *key, unsigned long *val)
{
	size_t klen = strlen(key);
	char line[256];
	const char *l;
	int node, off;

	while (*text) {
		text = next_line(text, line, sizeof(line));
		l = line;
		/* Per-node meminfo prefixes every line with "Node <n> ". */
		off = 0;
		if (sscanf(l, "Node %d %n", &node, &off) == 1 && off > 0)
			l += off;
		if (!strncmp(l, key, klen) && l[klen] == ':')
			return parse_value_kb(l + klen + 1, val) ? -EINVAL : 0;
	}
	return -ENOENT;
}

static int nm_number(const char *tok, const char *key, unsigned long *val)
{
	size_t klen = strlen(key);

	if (strncmp(tok, key, klen) || tok[klen] != '=')
		return 0;
	return ht_parse_ulong(tok + klen + 1, val) ? -EINVAL : 1;
}

static int nm_token(const char *tok, struct ht_numa_maps *o)
{
	unsigned long n;
	char *end;
	int ret;

	if (!strcmp(tok, "huge")) {
		o->huge = true;
		return 0;
	}
	if (!strncmp(tok, "file=", 5)) {
		o->file = true;
		return 0;
	}
	if ((ret = nm_number(tok, "dirty", &o->dirty)))
		return ret < 0 ? ret : (o->seen |= HT_NM_DIRTY, 0);
	if ((ret = nm_number(tok, "anon", &o->anon)))
		return ret < 0 ? ret : (o->seen |= HT_NM_ANON, 0);
	if ((ret = nm_number(tok, "mapped", &o->mapped)))
		return ret < 0 ? ret : (o->seen |= HT_NM_MAPPED, 0);
	if ((ret = nm_number(tok, "mapmax", &o->mapmax)))
		return ret < 0 ? ret : (o->seen |= HT_NM_MAPMAX, 0);
	if ((ret = nm_number(tok, "kernelpagesize_kB", &o->kernelpagesize_kb)))
		return ret < 0 ? ret : (o->seen |= HT_NM_KPS, 0);
	if (tok[0] == 'N' && tok[1] >= '0' && tok[1] <= '9') {
		n = strtoul(tok + 1, &end, 10);
		if (*end != '=' || n >= HT_MAX_NODES)
			return -EINVAL;
		return ht_parse_ulong(end + 1, &o->node_pages[n]);
	}
	return 0; /* active=, writeback=, heap, stack, ...: not ours */
}

int ht_numa_maps_parse(const char *text, unsigned long addr,
		       struct ht_numa_maps *out)
{
	char line[1024], *tok, *save;
	unsigned long a;
	int off, ret;

	while (*text) {
		text = next_line(text, line, sizeof(line));
		if (!line[0])
			continue;
		off = 0;
		if (sscanf(line, "%lx %n", &a, &off) != 1 || off == 0)
			return -EINVAL;
		if (a != addr)
			continue;
		memset(out, 0, sizeof(*out));
		out->addr = a;
		tok = strtok_r(line + off, " ", &save);
		if (!tok)
			return -EINVAL;
		snprintf(out->policy, sizeof(out->policy), "%s", tok);
		while ((tok = strtok_r(NULL, " ", &save))) {
			ret = nm_token(tok, out);
			if (ret)
				return ret;
		}
		return 0;
	}
	return -ENOENT;
}

int ht_cg_key_parse(const char *text, const char *key, unsigned long *val)
{
	size_t klen = strlen(key);
	const char *p = text, *end;
	char word[64];
	size_t n;

	while (*p) {
		p += strspn(p, " \n");
		n = strcspn(p, " \n");
		if (!n)
			break;
		end = p + n;
		if (n == klen && !strncmp(p, key, klen)) {
			/* "key value": the value is the next word of the line. */
			if (*end != ' ')
				return -EINVAL;
			p = end + strspn(end, " ");
			n = strcspn(p, " \n");
		} else if (n > klen && !strncmp(p, key, klen) &&
			   p[klen] == '=') {
			p += klen + 1;
			n -= klen + 1;
		} else {
			p = end;
			continue;
		}
		if (!n || n >= sizeof(word))
			return -EINVAL;
		memcpy(word, p, n);
		word[n] = '\0';
		return ht_parse_ulong(word, val) ? -EINVAL : 0;
	}
	return -ENOENT;
}

/* One "ADDRESS TYPE NAME[\t[MODULE]]" line; *module: it has the module part. */
static int kallsyms_line(const char *line, unsigned long *addr, char *sym,
			 bool *module)
{
	char type;
	int n = 0;

	if (sscanf(line, "%lx %c %127s%n", addr, &type, sym, &n) != 3)
		return -EINVAL;
	*module = line[n] == ' ' || line[n] == '\t';
	return 0;
}

int ht_kallsyms_parse(const char *text, const char *name, unsigned long *start,
		      unsigned long *end)
{
	unsigned long addr, found = 0, next = ~0UL;
	bool seen = false, module;
	char sym[128];

	for (const char *l = text; l && *l;
	     l = strchr(l, '\n'), l = l ? l + 1 : l) {
		if (kallsyms_line(l, &addr, sym, &module))
			return -EINVAL;
		if (!module && !strcmp(sym, name)) {
			found = addr;
			seen = true;
			break;
		}
	}
	if (!seen)
		return -ENOENT;
	if (!found)
		return -EPERM;
	for (const char *l = text; l && *l;
	     l = strchr(l, '\n'), l = l ? l + 1 : l) {
		if (kallsyms_line(l, &addr, sym, &module))
			return -EINVAL;
		if (addr > found && addr < next)
			next = addr;
	}
	if (next == ~0UL)
		return -ENOENT;
	*start = found;
	*end = next;
	return 0;
}
