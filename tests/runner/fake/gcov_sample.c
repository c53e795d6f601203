// SPDX-License-Identifier: GPL-2.0
/*
 * Stands in for a kernel file in the runner's --coverage test: compiled
 * with --coverage as "mm/hugetlb.c" of a fake object tree, run once, its
 * counters laid out as /sys/kernel/debug/gcov would show them.  Three of
 * its four functions run.
 */
static int hugetlb_used(int x)
{
	return x + 1;
}

static int hugetlb_unused(int x)
{
	return x * 2;
}

int other(int x)
{
	if (x > 5)
		return hugetlb_unused(x);
	return 0;
}

int main(int argc, char **argv)
{
	return hugetlb_used(argc) + other(argc) - 2;
}
