/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel log lines that fail a test case, as substrings: the one list for
 * lib/kmsg.c (included into an array) and for run_tests.sh, which reads the
 * quoted strings of this file, one a line, to watch the log from outside.
 * hugetlb's own messages at warning level or worse count too (both sides
 * test that in code).  A string starting with '!' is the opposite: a line
 * containing the rest is never a complaint (the kernel's answer to a
 * request a case makes on purpose).
 */
/* clang-format off */
"WARNING:",
"BUG:",
"Oops",
"Bad page",
"bad rss-counter",
"refcount_t",
"kernel BUG",
"general protection",
"Call Trace",
"Tainted:",
"KASAN",
"INFO: possible",
/* DEBUG_LIST names the corruption on a line of its own, before its WARNING */
"list_add corruption",
"list_del corruption",
/*
 * fault_inject fails this kmalloc on purpose; the VMA then goes without
 * the lock and shares no PMDs (hugetlb_vma_lock_alloc(), pr_warn_once).
 */
"!HugeTLB: unable to allocate vma specific lock",
/* hugetlbfs_ops refuses these mount options on purpose (pr_err) */
"!hugetlbfs: Unsupported page size",
"!hugetlbfs: Minimum size can not be greater than maximum size",
