// SPDX-License-Identifier: GPL-2.0
/*
 * hgm_seq: the reproducer writer.  The output is one C file: the runtime
 * (seq_rt.h + seq_rt.c, the code the tester itself drives the kernel
 * with), the operations, and for every step the result and the views the
 * model expects, computed here; its main() runs the steps and compares
 * after each one.  `cc -o r r.c && sudo ./r`: exit 0 as the model says,
 * 1 a difference, 4 cannot run here (not root, HGM or not as written).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "seq.h"

static const char *const repro_main[] = {
	"static unsigned long rd(const char *path)",
	"{",
	"\tchar *s = slurp(path);",
	"\tunsigned long v = s ? strtoul(s, NULL, 10) : 0;",
	"",
	"\tfree(s);",
	"\treturn v;",
	"}",
	"",
	"static void set_nr(unsigned long n)",
	"{",
	"\tFILE *f = fopen(HP \"nr_hugepages\", \"w\");",
	"",
	"\tif (f) {",
	"\t\tfprintf(f, \"%lu\\n\", n);",
	"\t\tfclose(f);",
	"\t}",
	"}",
	"",
	"/* MADV_SPLIT on a shared hugetlb mapping: 0 only with HGM. */",
	"static int probe_hgm(void)",
	"{",
	"\tint fd = memfd_create(\"p\", MFD_HUGETLB |",
	"\t\t\t\t(__builtin_ctzl(PSIZE) << MFD_HUGE_SHIFT)), ok;",
	"\tvoid *p;",
	"",
	"\tif (fd < 0 || ftruncate(fd, PSIZE))",
	"\t\treturn -1;",
	"\tp = mmap(NULL, PSIZE, PROT_READ | PROT_WRITE,",
	"\t\t MAP_SHARED | MAP_NORESERVE, fd, 0);",
	"\tclose(fd);",
	"\tif (p == MAP_FAILED)",
	"\t\treturn -1;",
	"\tok = !madvise(p, PSIZE, SEQRT_MADV_SPLIT);",
	"\tmunmap(p, PSIZE);",
	"\treturn ok;",
	"}",
	"",
	"/* Gigantic pages: where new pages land follows from these. */",
	"static int node_pool_differs(void)",
	"{",
	"\tchar path[128];",
	"",
	"\tfor (int n = 0; PREFER >= 0 && n < NODES; n++) {",
	"\t\tsnprintf(path, sizeof(path), \"/sys/devices/system/node/node%d\"",
	"\t\t\t \"/hugepages/hugepages-%lukB/free_hugepages\", n,",
	"\t\t\t PSIZE / 1024);",
	"\t\tif (rd(path) != node_free[n]) {",
	"\t\t\tfprintf(stderr, \"written for %lu free %lu kB pages on \"",
	"\t\t\t\t\"node %d, which has %lu\\n\", node_free[n],",
	"\t\t\t\tPSIZE / 1024, n, rd(path));",
	"\t\t\treturn 1;",
	"\t\t}",
	"\t}",
	"\treturn 0;",
	"}",
	"",
	"static int run(struct seqrt *r, unsigned long free0)",
	"{",
	"\tstatic struct seqrt_obs got, want;",
	"\tchar why[4096], a[48], b[48];",
	"\tint64_t ret;",
	"",
	"\tfor (int i = 0; i < NSTEPS; i++) {",
	"\t\tconst struct seqrt_op *op = &ops[i];",
	"",
	"\t\tprintf(\"step %d: %s %d %d %d %d\\n\", i, seqrt_kind_name[op->kind],",
	"\t\t       op->w, op->p, op->k, op->v);",
	"\t\tif (seqrt_exec(r, op, children[i], &ret, why, sizeof(why))) {",
	"\t\t\tprintf(\"  %s\\n\", why);",
	"\t\t\treturn 1;",
	"\t\t}",
	"\t\tif (ret != rets[i]) {",
	"\t\t\tseqrt_ret_str(ret, a, sizeof(a));",
	"\t\t\tseqrt_ret_str(rets[i], b, sizeof(b));",
	"\t\t\tprintf(\"  returned %s, model %s\\n\", a, b);",
	"\t\t\treturn 1;",
	"\t\t}",
	"\t\tif (seqrt_observe(r, &got)) {",
	"\t\t\tperror(\"  reading /proc\");",
	"\t\t\treturn 1;",
	"\t\t}",
	"\t\twant = wants[i];",
	"\t\twant.free = free0 - want.free; /* written: pages cached */",
	"\t\tif (seqrt_compare(&want, &got, NPAGES, why, sizeof(why))) {",
	"\t\t\tprintf(\"  difference: %s\\n\", why);",
	"\t\t\treturn 1;",
	"\t\t}",
	"\t}",
	"\treturn 0;",
	"}",
	"",
	"int main(void)",
	"{",
	"\tunsigned long nr0 = rd(HP \"nr_hugepages\");",
	"\tstruct seqrt r;",
	"\tint bad, raised = 0;",
	"",
	"\tif (geteuid()) {",
	"\t\tfprintf(stderr, \"needs root (pagemap PFNs, the pool)\\n\");",
	"\t\treturn 4;",
	"\t}",
	"\tif (probe_hgm() != WANT_HGM) {",
	"\t\tfprintf(stderr, \"written for a kernel %s HGM for %lu kB pages\\n\",",
	"\t\t\tWANT_HGM ? \"with\" : \"without\", PSIZE / 1024);",
	"\t\treturn 4;",
	"\t}",
	"\tif (node_pool_differs())",
	"\t\treturn 4;",
	"\tif (PREFER < 0 && rd(HP \"free_hugepages\") < NPAGES + 1) {",
	"\t\tset_nr(nr0 + NPAGES + 1);",
	"\t\traised = 1;",
	"\t}",
	"\tif (rd(HP \"free_hugepages\") < NPAGES + 1 ||",
	"\t    seqrt_init(&r, NPAGES, PSIZE, PREFER)) {",
	"\t\tfprintf(stderr, \"cannot get %d free %lu kB pages\\n\", NPAGES + 1,",
	"\t\t\tPSIZE / 1024);",
	"\t\tif (raised)",
	"\t\t\tset_nr(nr0);",
	"\t\treturn 4;",
	"\t}",
	"\tbad = run(&r, rd(HP \"free_hugepages\"));",
	"\tseqrt_fini(&r);",
	"\tif (raised)",
	"\t\tset_nr(nr0);",
	"\tprintf(\"%s\\n\", bad ? \"FAIL\" : \"PASS: every step as the model says\");",
	"\treturn bad;",
	"}",
};

/* What the run modelled besides the operations (struct seq_machine). */
static void emit_defines(FILE *f, const struct seq_header *h, bool hgm, int na)
{
	unsigned long psize = h->mc.psize ? h->mc.psize : SEQRT_PSIZE_2M;

	fprintf(f,
		"\n#define WANT_HGM %d\n#define NPAGES %d\n"
		"#define NSTEPS %d\n#define PSIZE %luUL\n#define NODES %d\n"
		"#define HP \"/sys/kernel/mm/hugepages/hugepages-%lukB/\"\n",
		hgm, h->npages, na > 0 ? na : 1, psize, h->mc.nodes,
		psize / 1024);
	/* -1: 2 MiB pages, no memory policy and no per-node pool needed */
	fprintf(f, "#define PREFER %d\n",
		seq_gigantic(psize) ? h->mc.prefer : -1);
	fprintf(f,
		"static const unsigned long node_free[2] = { %lu, %lu };\n\n",
		h->mc.node_free[0], h->mc.node_free[1]);
}

static void emit_page(FILE *f, const struct seqrt_page_obs *po, int p)
{
	fprintf(f,
		"\t\t\t[%d] = { .huge_vma = %d, .shared_kb = %lu, "
		".private_kb = %lu, .excl = %d,\n\t\t\t       .bits = {",
		p, po->huge_vma, po->shared_kb, po->private_kb, po->excl);
	for (int i = 0; i < SEQRT_WORDS; i++)
		fprintf(f, "%s%#llxULL", i ? ", " : "",
			(unsigned long long)po->bits[i]);
	fprintf(f, "} },\n");
}

/* @o as an initializer; .free holds the number of cached pages. */
static void emit_obs(FILE *f, const struct seqrt_obs *o,
		     const struct seq_model *m, unsigned long cached)
{
	fprintf(f, "\t{ .free = %lu,\n\t  .alive = {", cached);
	for (int w = 0; w < SEQRT_MAX_W; w++)
		fprintf(f, "%s%d", w ? ", " : "", o->alive[w]);
	fprintf(f, "},\n\t  .hugetlb_kb = {");
	for (int w = 0; w < SEQRT_MAX_W; w++)
		fprintf(f, "%s%lu", w ? ", " : "", o->hugetlb_kb[w]);
	fprintf(f, "},\n\t  .node = {");
	for (int p = 0; p < SEQRT_MAX_P; p++)
		fprintf(f, "%s%d", p ? ", " : "", o->node[p]);
	fprintf(f, "},\n\t  .mapcount = {");
	for (int p = 0; p < SEQRT_MAX_P; p++)
		fprintf(f, "%s%llu", p ? ", " : "",
			(unsigned long long)o->mapcount[p]);
	fprintf(f, "},\n\t  .pg = {\n");
	for (int w = 0; w < SEQRT_MAX_W; w++) {
		if (!o->alive[w])
			continue;
		fprintf(f, "\t\t[%d] = {\n", w);
		for (int p = 0; p < m->npages; p++)
			emit_page(f, &o->pg[w][p], p);
		fprintf(f, "\t\t},\n");
	}
	fprintf(f, "\t} },\n");
}

static void emit_ops(FILE *f, const struct seqrt_op *ops, const int *idx, int n)
{
	fprintf(f, "static const struct seqrt_op ops[NSTEPS] = {\n");
	for (int i = 0; i < n; i++) {
		const struct seqrt_op *op = &ops[idx[i]];

		fprintf(f, "\t{ %d, %d, %d, %d, %d }, /* %s */\n", op->kind,
			op->w, op->p, op->k, op->v, seqrt_kind_name[op->kind]);
	}
	fprintf(f, "};\n\n");
}

static unsigned long cached_pages(const struct seq_model *m)
{
	unsigned long n = 0;

	for (int p = 0; p < m->npages; p++)
		n += m->cached[p];
	return n;
}

/* The model over @ops: which apply (@idx), their results and slots. */
static int applied(const struct seq_header *h, bool hgm,
		   const struct seqrt_op *ops, int n, int *idx, int *children,
		   int64_t *rets)
{
	struct seq_model *m = malloc(sizeof(*m));
	int na = 0;

	if (!m)
		return -1;
	seq_model_init(m, h->npages, h->nslots, hgm, 0);
	seq_model_machine(m, &h->mc);
	m->inject_bug = h->inject_bug;
	for (int i = 0; i < n; i++)
		if (seq_model_apply(m, &ops[i], &rets[na], &children[na]))
			idx[na++] = i;
	free(m);
	return na;
}

static void emit_tables(FILE *f, const struct seq_header *h, bool hgm,
			const struct seqrt_op *ops, const int *idx,
			const int *children, const int64_t *rets, int na)
{
	struct seq_model *m = malloc(sizeof(*m));
	struct seqrt_obs *o = malloc(sizeof(*o));
	int64_t ret;
	int child;

	emit_ops(f, ops, idx, na);
	fprintf(f, "static const int children[NSTEPS] = {");
	for (int i = 0; i < na; i++)
		fprintf(f, "%s%d", i ? ", " : " ", children[i]);
	fprintf(f, " };\n\nstatic const int64_t rets[NSTEPS] = {");
	for (int i = 0; i < na; i++)
		fprintf(f, "%s%lld", i ? ", " : " ", (long long)rets[i]);
	fprintf(f, " };\n\n/* .free: pages in the file (the pool has that "
		   "many fewer free) */\n");
	fprintf(f, "static const struct seqrt_obs wants[NSTEPS] = {\n");
	if (m && o) {
		seq_model_init(m, h->npages, h->nslots, hgm, 0);
		seq_model_machine(m, &h->mc);
		m->inject_bug = h->inject_bug;
		for (int i = 0; i < na; i++) {
			seq_model_apply(m, &ops[idx[i]], &ret, &child);
			seq_model_expect(m, o);
			fprintf(f, "\t/* step %d */\n", i);
			emit_obs(f, o, m, cached_pages(m));
		}
	}
	fprintf(f, "};\n\n");
	free(m);
	free(o);
}

int seq_repro_write(FILE *f, const struct seq_header *h, bool hgm,
		    const struct seqrt_op *ops, int n)
{
	int *idx = malloc((n + 1) * sizeof(int));
	int *children = malloc((n + 1) * sizeof(int));
	int64_t *rets = malloc((n + 1) * sizeof(int64_t));
	int na = -1;

	if (idx && children && rets)
		na = applied(h, hgm, ops, n, idx, children, rets);
	if (na >= 0) {
		fprintf(f,
			"/*\n * hgm_seq reproducer: seed %llu, %d pages, "
			"%d worker slots, %d steps,\n * for a kernel %s HGM.  "
			"cc -o r r.c && sudo ./r\n * Exit: 0 as the model "
			"says, 1 a difference, 4 cannot run here.\n */\n",
			(unsigned long long)h->seed, h->npages, h->nslots, na,
			hgm ? "with" : "without");
		fputs(seq_rt_text, f);
		emit_defines(f, h, hgm, na);
		emit_tables(f, h, hgm, ops, idx, children, rets, na);
		for (size_t i = 0; i < sizeof(repro_main) / sizeof(*repro_main);
		     i++)
			fprintf(f, "%s\n", repro_main[i]);
	}
	free(idx);
	free(children);
	free(rets);
	return na >= 0 && !ferror(f) ? 0 : -1;
}
