// SPDX-License-Identifier: GPL-2.0
/* userfaultfd: open with the API handshake, register, CONTINUE, read faults. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ht.h"

int ht_uffd_open(uint64_t features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd, err;

	/* UFFD_USER_MODE_ONLY lets a process without CAP_SYS_PTRACE in. */
	fd = syscall(__NR_userfaultfd,
		     O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0 && errno == EINVAL)
		fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		err = errno == EINVAL ? -ENOTSUP : -errno;
		close(fd);
		return err;
	}
	if ((api.features & features) != features) {
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

int ht_uffd_register(int uffd, void *addr, size_t len, uint64_t mode)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = mode,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

int ht_uffd_continue(int uffd, void *addr, size_t len)
{
	struct uffdio_continue c = {
		.range = { .start = (unsigned long)addr, .len = len },
	};

	return ioctl(uffd, UFFDIO_CONTINUE, &c) ? -errno : 0;
}

int ht_uffd_read_fault(int uffd, int timeout_ms, unsigned long *addr,
		       uint64_t *flags)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	struct uffd_msg msg;
	ssize_t n;
	int ret;

	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	n = read(uffd, &msg, sizeof(msg));
	if (n < 0)
		return -errno;
	if (n != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return -EPROTO;
	*addr = msg.arg.pagefault.address;
	if (flags)
		*flags = msg.arg.pagefault.flags;
	return 0;
}
