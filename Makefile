# SPDX-License-Identifier: GPL-2.0
# The HugeTLB/HGM test suite: battery, stress, helper library, own tests.
#
#   make                 build every test and stress program (build/)
#   make static          static builds for the VM initramfs (build/static/)
#   make deps            install the Debian packages the suite needs
#   make check           the project's own tests, then the battery
#   make install INSTALL_PATH=DIR   kselftest-style installed layout
#   make kernel / kernel-check      the patched kernel (kernel-patches/)
#   make kernel FLAVOUR=debug       the same with lockdep, page_table_check, KFENCE ...
#   make kernel FLAVOUR=coverage    the same with gcov on the HugeTLB code (--coverage)
#   make kernel-cross    mm/ of the series cross-built for other arches
#   make bench           stress figures and plot into results/
#   make coverage        the battery on FLAVOUR=coverage; kernel coverage table

HGMT_CACHE ?= $(HOME)/.cache/hgmt
# The kselftest harness comes from a kernel tree; default: Debian's
# linux-source-6.12, unpacked (headers only) into the cache.
LINUX_SOURCE_TARBALL ?= /usr/src/linux-source-6.12.tar.xz
KSRC ?= $(HGMT_CACHE)/linux-source-6.12
KSFT_DIR := $(KSRC)/tools/testing/selftests
HARNESS := $(KSFT_DIR)/kselftest_harness.h

B := build
CC ?= gcc
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	  -Wno-missing-field-initializers -Wno-sign-compare -pthread \
	  -Ilib -I$(KSFT_DIR)
LDLIBS := -lnuma -pthread

LIB_SRCS := $(wildcard lib/*.c)
# The battery's programs, in the order the runner runs them: one list
# (selftests/programs) for make, run_tests.sh and install.sh.
SELFTESTS := $(shell cat selftests/programs)
# The stress programs: one list (stress/programs) for make and
# tests/stress_readme.sh.
STRESS := $(shell cat stress/programs)
UNIT := parse_test seq_test
PROGS := $(SELFTESTS:%=$(B)/selftests/%) $(STRESS:%=$(B)/stress/%)
STATIC_PROGS := $(SELFTESTS:%=$(B)/static/selftests/%) \
		$(STRESS:%=$(B)/static/stress/%)

all: $(PROGS)

$(HARNESS):
	@if [ -n "$(filter command line environment,$(origin KSRC))" ]; then \
		echo "KSRC=$(KSRC) has no tools/testing/selftests/kselftest_harness.h" >&2; exit 2; fi
	@test -r $(LINUX_SOURCE_TARBALL) || { echo "no $(LINUX_SOURCE_TARBALL): run 'make deps' or give KSRC=/path/to/linux" >&2; exit 2; }
	mkdir -p $(HGMT_CACHE)
	tar -xJf $(LINUX_SOURCE_TARBALL) -C $(HGMT_CACHE) \
		--wildcards 'linux-source-6.12/tools/testing/selftests/kselftest*.h'
	touch $@

$(B)/lib/%.o: lib/%.c lib/ht.h lib/seq.h lib/seq_rt.h lib/complaints.h | $(HARNESS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/static/lib/%.o: lib/%.c lib/ht.h lib/seq.h lib/seq_rt.h lib/complaints.h | $(HARNESS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# hgm_seq's reproducers carry lib/seq_rt.[ch] verbatim: a C string of them.
SEQ_RT_TEXT := $(B)/gen/seq_rt_text.c
LIB_OBJS := $(LIB_SRCS:lib/%.c=$(B)/lib/%.o) $(B)/lib/seq_rt_text.o
STATIC_LIB_OBJS := $(LIB_SRCS:lib/%.c=$(B)/static/lib/%.o) \
		   $(B)/static/lib/seq_rt_text.o

$(SEQ_RT_TEXT): lib/seq_rt.h lib/seq_rt.c
	@mkdir -p $(dir $@)
	{ echo '/* Generated from lib/seq_rt.h and lib/seq_rt.c by make. */'; \
	  echo 'const char seq_rt_text[] ='; \
	  cat lib/seq_rt.h lib/seq_rt.c | grep -v '^#include "seq_rt.h"' | \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/'; \
	  echo ';'; } > $@

$(B)/lib/seq_rt_text.o $(B)/static/lib/seq_rt_text.o: $(SEQ_RT_TEXT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libht.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

$(B)/static/libht.a: $(STATIC_LIB_OBJS)
	$(AR) rcs $@ $^

$(B)/selftests/% $(B)/stress/%: | $(HARNESS)
# -O0 for harness programs: the 6.12 harness keeps `child` across a
# longjmp in a non-volatile local; optimised, a failed ASSERT makes the
# test process run FIXTURE_TEARDOWN_PARENT itself (seen with gcc 12 -O2).
HARNESS_CFLAGS = $(filter-out -O%,$(CFLAGS)) -O0

$(B)/selftests/%: selftests/%.c lib/ht.h lib/ht_harness.h $(B)/libht.a
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -o $@ $< $(B)/libht.a $(LDLIBS)

# The stress programs share stress/skel.c (options, verdict, restore path).
$(B)/stress/skel.o: stress/skel.c stress/skel.h lib/ht.h | $(HARNESS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/static/stress/skel.o: stress/skel.c stress/skel.h lib/ht.h | $(HARNESS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/stress/%: stress/%.c stress/skel.h lib/ht.h $(B)/stress/skel.o $(B)/libht.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/stress/skel.o $(B)/libht.a $(LDLIBS)

$(B)/static/selftests/%: selftests/%.c lib/ht.h lib/ht_harness.h $(B)/static/libht.a
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -static -o $@ $< $(B)/static/libht.a $(LDLIBS)

$(B)/static/stress/%: stress/%.c stress/skel.h lib/ht.h $(B)/static/stress/skel.o $(B)/static/libht.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $< $(B)/static/stress/skel.o $(B)/static/libht.a $(LDLIBS)

$(B)/unit/%: tests/unit/%.c lib/ht.h $(B)/libht.a
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -o $@ $< $(B)/libht.a $(LDLIBS)

static: $(STATIC_PROGS)

# A collection of an installed kselftest tree (scripts/install.sh):
# INSTALL_PATH/hugetlb_hgm/ and merged INSTALL_PATH/kselftest-list.txt.
INSTALL_PATH ?= $(B)/install
install: all static
	scripts/install.sh $(INSTALL_PATH)

deps:
	scripts/deps.sh

unit-build: $(UNIT:%=$(B)/unit/%)

unit: unit-build
	@for t in $(UNIT:%=$(B)/unit/%); do $$t || exit 1; done

check: all unit-build
	tests/run_checks.sh

format:
	clang-format -i lib/*.c lib/*.h selftests/*.c stress/*.c stress/*.h tests/unit/*.c

# FLAVOUR: default, debug or coverage (kernel-patches/config/*.config, own tree).
kernel:
	FLAVOUR='$(FLAVOUR)' kernel-patches/build.sh

kernel-check:
	kernel-patches/check.sh

kernel-cross:
	kernel-patches/cross.sh

bench: all
	stress/bench.sh

# The battery on the coverage flavour, then its kernel coverage table
# (results/latest/coverage/summary.txt; README "Kernel coverage").  8 GiB
# (4 per node): room for a fresh 1 GiB page on each node at run time, so
# that the 1 GiB pool cases (demotion among them) run instead of skipping.
coverage: all static
	FLAVOUR=coverage kernel-patches/build.sh
	HT_VM_MEM_MB=8192 ./run_tests.sh --vm=patched-coverage --coverage --expect auto; \
	rc=$$?; cat results/latest/coverage/summary.txt || rc=1; exit $$rc

clean:
	rm -rf $(B)

.PHONY: all static install deps unit unit-build check format kernel kernel-check kernel-cross bench coverage clean
.SECONDARY:
