# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# shellcheck disable=SC2034 # set here, read by the other parts
#
# run_tests.sh, part 5 of 7: expected outcomes.  Picks the expectation
# files (--expect) and turns a case's verdict into pass or failure
# against them.
#
# INPUTS   TOP, die (run_tests.sh); EXPECT (options.sh); has_fact
#          (programs.sh); V R D LOG (run_case, or vm_record in
#          scripts/vm/run_in_vm.sh); environment HT_KERNEL_ID.
# OUTPUTS  EXPECT_FILE ENV_RULES (pick_expect); V R D (apply_expect);
#          functions env_explains_skip, cond_holds, apply_expect,
#          reason_has_one_of, kernel_id, pick_expect.

# ---- expected outcomes -----------------------------------------------------
# Kernel files (expected/<kernel>.txt): "<verdict> <glob> [text]"; first
# match wins; no match means pass.  A deviation turns the case into a
# failure.  Verdicts: skip (reason must contain the text), xfail (must
# fail, saying one of the "a|b" texts if given: a capability the kernel
# lacks), bug (a known, reported bug of that kernel, not ours: must fail
# saying one of the texts; a pass is red, so a fixed kernel is noticed),
# flaky (a known nondeterministic kernel bug: pass, or fail with one of
# the texts).  A
# line may start with "[fact]" or "[!fact]": it then counts only on
# machines that have (or lack) that environment fact.  "include <file>"
# reads the lines of another file of the same folder at that place (a
# flavour of a kernel shares its outcomes).
#
# expected/environment.txt, consulted first: "<fact> <text>": a case that
# skips with a reason containing the text is as expected when the run's
# environment lacks the fact, whatever the kernel file says.  A skip the
# environment does not explain falls through to the kernel file.
env_explains_skip() { # reason
	[ -r "$ENV_RULES" ] || return 1
	while read -r fact text; do
		case "$fact" in '' | '#'*) continue ;; esac
		has_fact "$fact" && continue
		case "$1" in *"$text"*) return 0 ;; esac
	done <"$ENV_RULES"
	return 1
}

# "[fact]" / "[!fact]" on a line: true when it holds here.
cond_holds() { # [fact] or [!fact]
	c=${1#[}
	c=${c%]}
	case "$c" in
	!*) ! has_fact "${c#!}" ;;
	*) has_fact "$c" ;;
	esac
}

# The lines of $EXPECT_FILE with its "include" lines expanded (one level).
expect_lines() {
	awk -v dir="$(dirname "$EXPECT_FILE")" '
	$1 == "include" {
		f = dir "/" $2
		while ((getline l < f) > 0)
			print l
		close(f)
		next
	}
	{ print }' "$EXPECT_FILE"
}

apply_expect() { # name
	[ -n "$EXPECT_FILE" ] || return 0
	if [ "$V" = skip ] && env_explains_skip "$R"; then
		return 0
	fi
	want=pass
	want_reason=""
	while read -r ev eg er; do
		case "$ev" in '' | '#'*) continue ;; esac
		case "$ev" in
		\[*\])
			cond_holds "$ev" || continue
			ev=$eg
			eg=${er%% *}
			er=${er#"$eg"}
			er=${er# } ;;
		esac
		# shellcheck disable=SC2254
		case "$1" in $eg)
			want=$ev
			want_reason=$er
			break ;;
		esac
	done <<EOF
$(expect_lines)
EOF
	case "$want:$V" in
	pass:pass | skip:skip | xfail:xfail | flaky:pass) ;;
	xfail:fail)
		# A known failure must fail the known way, if a text is named.
		if [ -z "$want_reason" ] || reason_has_one_of "$R ${LOG:-}" "$want_reason"; then
			V=xfail D=""
			R="expected failure: $R"
		else
			R="expected failure failed differently than expected ('$want_reason'): $R"
		fi
		return 0 ;;
	bug:fail | flaky:fail)
		# A known kernel bug, deterministic (bug) or not (flaky): its
		# failure must still say one of the texts ("a|b") the
		# expectation file names.
		if [ "$want" = bug ]; then
			as="known kernel bug" other="known kernel bug failed"
		else
			as="known flaky kernel behaviour" other="flaky case failed"
		fi
		# The kernel log's lines come in no fixed order: the
		# text may be in any of them, not only the first.
		if reason_has_one_of "$R ${LOG:-}" "$want_reason"; then
			V=xfail D=""
			R="$as: $R"
		else
			R="$other differently than expected ('$want_reason'): $R"
		fi
		return 0 ;;
	*) R="expected $want, got $V${R:+: $R}"; V=fail; return 0 ;;
	esac
	if [ "$want" = skip ] && [ -n "$want_reason" ]; then
		case "$R" in
		*"$want_reason"*) ;;
		*) R="skip reason changed: wanted '$want_reason', got '$R'"; V=fail ;;
		esac
	fi
	return 0
}

reason_has_one_of() { # reason "text1|text2|..."
	printf '%s\n' "$2" | tr '|' '\n' | while read -r t; do
		case "$1" in *"$t"*) echo yes; break ;; esac
	done | grep -q yes
}

kernel_id() {
	if [ -n "${HT_KERNEL_ID:-}" ]; then
		echo "$HT_KERNEL_ID"
	else
		echo "host-$(uname -r | cut -d. -f1-2)"
	fi
}

# Sets EXPECT_FILE for kernel id $1 (expected/<id>.txt with --expect auto).
pick_expect() {
	EXPECT_FILE=""
	ENV_RULES=""
	[ -n "$EXPECT" ] || return 0
	ENV_RULES="$TOP/expected/environment.txt"
	if [ "$EXPECT" = auto ]; then
		EXPECT_FILE="$TOP/expected/$1.txt"
		[ -r "$EXPECT_FILE" ] || die "--expect auto: no $EXPECT_FILE"
	else
		EXPECT_FILE=$EXPECT
	fi
}
