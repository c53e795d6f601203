// SPDX-License-Identifier: GPL-2.0
/*
 * JSON output of the stress programs' --json reports: a tree of named
 * fields built as the program learns them, written by one writer.  The
 * top-level members go one per line, everything below on the member's
 * line, as the reports have always looked (bench.sh and people read them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ht.h"

void ht_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

enum { J_OBJ, J_LIST, J_RAW, J_STR };

struct ht_json {
	int kind;
	char *key; /* NULL for a list's elements and the root */
	char *text; /* J_RAW: as written; J_STR: unquoted */
	struct ht_json *first, *last, *next;
	struct ht_json *root; /* where an allocation failure is noted */
	bool oom;
};

struct ht_json *ht_json_new(void)
{
	struct ht_json *j = calloc(1, sizeof(*j));

	if (j)
		j->root = j;
	return j;
}

/* A new member of @parent; NULL (and the root marked) when out of memory. */
static struct ht_json *add(struct ht_json *parent, const char *key, int kind,
			   char *text)
{
	struct ht_json *j;

	if (!parent) {
		free(text);
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j || (key && !(j->key = strdup(key)))) {
		free(j);
		free(text);
		parent->root->oom = true;
		return NULL;
	}
	j->kind = kind;
	j->text = text;
	j->root = parent->root;
	if (parent->last)
		parent->last->next = j;
	else
		parent->first = j;
	parent->last = j;
	return j;
}

struct ht_json *ht_json_obj(struct ht_json *parent, const char *key)
{
	return add(parent, key, J_OBJ, NULL);
}

struct ht_json *ht_json_list(struct ht_json *parent, const char *key)
{
	return add(parent, key, J_LIST, NULL);
}

void ht_json_num(struct ht_json *parent, const char *key, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0) {
		text = NULL;
		if (parent)
			parent->root->oom = true;
	}
	va_end(ap);
	if (text)
		add(parent, key, J_RAW, text);
}

void ht_json_string(struct ht_json *parent, const char *key, const char *s)
{
	char *text = strdup(s ? s : "");

	if (text)
		add(parent, key, J_STR, text);
	else if (parent)
		parent->root->oom = true;
}

void ht_json_bool(struct ht_json *parent, const char *key, bool v)
{
	ht_json_num(parent, key, "%s", v ? "true" : "false");
}

void ht_json_null(struct ht_json *parent, const char *key)
{
	ht_json_num(parent, key, "null");
}

static void write_value(const struct ht_json *j, FILE *f)
{
	switch (j->kind) {
	case J_RAW:
		fputs(j->text, f);
		return;
	case J_STR:
		ht_json_str(f, j->text);
		return;
	}
	fputc(j->kind == J_LIST ? '[' : '{', f);
	for (const struct ht_json *c = j->first; c; c = c->next) {
		if (c != j->first)
			fputs(", ", f);
		if (j->kind == J_OBJ) {
			ht_json_str(f, c->key);
			fputs(": ", f);
		}
		write_value(c, f);
	}
	fputc(j->kind == J_LIST ? ']' : '}', f);
}

int ht_json_write(const struct ht_json *root, FILE *f)
{
	if (!root || root->oom)
		return -ENOMEM;
	fputs("{\n", f);
	for (const struct ht_json *c = root->first; c; c = c->next) {
		fputs("  ", f);
		ht_json_str(f, c->key);
		fputs(": ", f);
		write_value(c, f);
		fputs(c->next ? ",\n" : "\n", f);
	}
	fputs("}\n", f);
	return ferror(f) ? -EIO : 0;
}

void ht_json_free(struct ht_json *j)
{
	struct ht_json *c, *next;

	if (!j)
		return;
	for (c = j->first; c; c = next) {
		next = c->next;
		ht_json_free(c);
	}
	free(j->key);
	free(j->text);
	free(j);
}
