// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel log complaints seen while a test runs.  The runner watches the
 * log too; this lets a test attribute a complaint to the step that
 * caused it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ht.h"

static const char *const complaints[] = {
#include "complaints.h"
};

#define NCOMPLAINTS (sizeof(complaints) / sizeof(complaints[0]))

bool ht_kmsg_line_is_complaint(int level, const char *line)
{
	for (size_t i = 0; i < NCOMPLAINTS; i++)
		if (complaints[i][0] == '!' && strstr(line, complaints[i] + 1))
			return false;
	for (size_t i = 0; i < NCOMPLAINTS; i++)
		if (complaints[i][0] != '!' && strstr(line, complaints[i]))
			return true;
	/* hugetlb's own messages count when logged at warning or worse. */
	return level <= 4 && strcasestr(line, "hugetlb");
}

/*
 * The level the generic hugetlb rule judges: a line that user space wrote
 * to /dev/kmsg (facility LOG_USER or other, never 0: run_kselftest.sh's
 * "kselftest: Running tests in hugetlb_hgm") is not the kernel speaking,
 * so it counts as debug; the listed patterns still match it.
 */
static int record_level(const char *rec)
{
	long prio = strtol(rec, NULL, 10);

	return prio >> 3 ? 7 : (int)(prio & 7);
}

int ht_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	lseek(fd, 0, SEEK_END);
	return fd;
}

int ht_kmsg_complaints(int fd, char *buf, size_t len)
{
	char rec[2048];
	size_t used = strlen(buf);
	ssize_t n;
	int found = 0;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue; /* overwritten records: keep reading */
		if (n <= 0)
			break;
		rec[n] = '\0';
		char *msg = strchr(rec, ';');
		int level = record_level(rec);

		msg = msg ? msg + 1 : rec;
		if (!ht_kmsg_line_is_complaint(level, msg))
			continue;
		found++;
		if (used + 2 < len) {
			snprintf(buf + used, len - used, "%s", msg);
			used = strlen(buf);
		}
	}
	return found;
}

int ht_kmsg_next(int fd, char *msg, size_t len)
{
	char rec[2048];
	ssize_t n;

	do
		n = read(fd, rec, sizeof(rec) - 1);
	while (n < 0 && errno == EPIPE); /* overwritten records: skip them */
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return 0;
	rec[n] = '\0';
	char *m = strchr(rec, ';');

	snprintf(msg, len, "%s", m ? m + 1 : rec);
	msg[strcspn(msg, "\n")] = '\0';
	return 1;
}

int ht_kmsg_grep(int fd, const char *needle, char *out, size_t len)
{
	char msg[1024];
	size_t used = 0;
	int n = 0, ret;

	if (len)
		out[0] = '\0';
	while ((ret = ht_kmsg_next(fd, msg, sizeof(msg))) == 1) {
		if (!strstr(msg, needle))
			continue;
		if (used < len)
			used += snprintf(out + used, len - used, "%s%s",
					 n ? "\n" : "", msg);
		n++;
	}
	return ret < 0 ? ret : n;
}
