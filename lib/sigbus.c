// SPDX-License-Identifier: GPL-2.0
/*
 * SIGBUS capture.  Hwpoison delivers SIGBUS inside madvise() or on the
 * next touch; a test must see si_code, si_addr and si_addr_lsb instead of
 * dying, so the access runs under a handler that siglongjmps back.
 * ht_access() captures SIGSEGV the same way, for accesses that protection
 * or a vanished mapping must refuse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "ht.h"

static sigjmp_buf jump;
static volatile sig_atomic_t jump_armed;
static struct ht_sigbus last;
static volatile sig_atomic_t async_hit;
static struct ht_sigbus async_info;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	struct ht_sigbus *dst = jump_armed ? &last : &async_info;

	(void)uc;
	if (!jump_armed && sig != SIGBUS) {
		/* Not ours to survive: the re-executed access kills. */
		signal(sig, SIG_DFL);
		return;
	}
	dst->hit = true;
	dst->signo = sig;
	dst->code = si->si_code;
	dst->addr = (unsigned long)si->si_addr;
	dst->addr_lsb = si->si_addr_lsb;
	if (jump_armed) {
		jump_armed = 0;
		siglongjmp(jump, 1);
	}
	/* BUS_MCEERR_AO is a notice; returning from it is safe. */
	async_hit = 1;
}

static void install_for(int sig, struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, old);
}

static void install(struct sigaction *old)
{
	install_for(SIGBUS, old);
}

/*
 * One byte read or written with SIGBUS (and SIGSEGV if @segv) caught into
 * *@out.  A write stores @val, or the byte's own value if @same.
 */
static void access_caught(volatile unsigned char *p, bool write, bool same,
			  unsigned char val, bool segv, struct ht_sigbus *out)
{
	struct sigaction old_bus, old_segv;

	memset(&last, 0, sizeof(last));
	install_for(SIGBUS, &old_bus);
	if (segv)
		install_for(SIGSEGV, &old_segv);
	if (sigsetjmp(jump, 1) == 0) {
		jump_armed = 1;
		if (write)
			*p = same ? *p : val;
		else
			(void)*p;
		jump_armed = 0;
	}
	if (segv)
		sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	*out = last;
}

int ht_touch(volatile void *addr, bool write, struct ht_sigbus *out)
{
	access_caught(addr, write, true, 0, false, out);
	return 0;
}

int ht_access(volatile void *addr, bool write, unsigned char val,
	      struct ht_sigbus *out)
{
	access_caught(addr, write, false, val, true, out);
	return 0;
}

int ht_madvise_catch(void *addr, size_t len, int advice, struct ht_sigbus *out)
{
	volatile int ret = 0;
	struct sigaction old;

	memset(&last, 0, sizeof(last));
	install(&old);
	if (sigsetjmp(jump, 1) == 0) {
		jump_armed = 1;
		ret = madvise(addr, len, advice) ? -errno : 0;
		jump_armed = 0;
	}
	sigaction(SIGBUS, &old, NULL);
	*out = last;
	return ret;
}

void ht_sigbus_record_async(void)
{
	memset(&async_info, 0, sizeof(async_info));
	async_hit = 0;
	install(NULL);
}

bool ht_sigbus_async_get(struct ht_sigbus *out)
{
	if (!async_hit)
		return false;
	*out = async_info;
	return true;
}
