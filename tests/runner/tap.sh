# shellcheck shell=sh
# Sourced by the runner's own tests: numbered KTAP result lines and the
# counters the caller's summary reads (N cases, FAILS of them failed).
N=0 FAILS=0

ok() { N=$((N + 1)); echo "ok $N $1"; }
bad() { N=$((N + 1)); FAILS=$((FAILS + 1)); echo "not ok $N $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # name condition-command...
	name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name" "failed: $*"; fi
}
same() { # name got want
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got:  $2" "want: $3"; fi
}
