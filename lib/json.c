// SPDX-License-Identifier: GPL-2.0
/* JSON output of the stress programs' --json reports. */
#include <stdio.h>

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
