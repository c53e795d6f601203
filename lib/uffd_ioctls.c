// SPDX-License-Identifier: GPL-2.0
/* UFFDIO_REGISTER that also reports which range ioctls the kernel offers. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include "ht.h"

int ht_uffd_register_ioctls(int uffd, void *addr, size_t len, uint64_t mode,
			    uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = mode,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	*ioctls = reg.ioctls;
	return 0;
}
