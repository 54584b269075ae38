#!/bin/sh
# Run each cmocka test program given on the command line.
# Every program runs with its own time limit and a private IOLAYER_SHM_DIR,
# so tables of one run never meet those of another.  Exit status is non-zero
# when any program failed or timed out.
set -u

limit=${IOLAYER_TEST_TIMEOUT:-300}
shm=$(mktemp -d /dev/shm/iolayer-test.XXXXXX) || exit 1
trap 'rm -rf "$shm"' EXIT INT TERM
export IOLAYER_SHM_DIR="$shm"
# The source tree, for tests that run make in it (test_install).
export IOLAYER_SRCDIR="${IOLAYER_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
# ThreadSanitizer (make SAN=tsan test): the tests fork from threaded
# processes and some children start threads (an owner dying with its
# threads), which TSan refuses unless die_after_fork=0.  What is
# suppressed, and why, is in tests/tsan.supp.
if [ "${SAN:-}" = tsan ]; then
	# atexit_sleep_ms=0: TSan otherwise sleeps a second in every exit(),
	# which the tests that time a child's exit (and the ones that run a
	# thousand children) would count against the library.
	export TSAN_OPTIONS="die_after_fork=0 atexit_sleep_ms=0 suppressions=$IOLAYER_SRCDIR/tests/tsan.supp ${TSAN_OPTIONS:-}"
fi

pass=0 fail=0 failed=""
for t in "$@"; do
	name=$(basename "$t")
	start=$(date +%s.%N)
	out=$(timeout -k 5 "$limit" "$t" 2>&1)
	rc=$?
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
	skipped=$(printf '%s\n' "$out" | grep '^\[  SKIPPED \] ' | grep -v 'test(s)' |
		sort -u | wc -l)
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		printf 'PASS  %-32s %6ss' "$name" "$secs"
		[ "$skipped" -gt 0 ] && printf '  (%s skipped)' "$skipped"
		printf '\n'
		if [ "${VERBOSE:-0}" = 1 ] || [ "$skipped" -gt 0 ]; then
			printf '%s\n' "$out" | grep -E 'SKIP|skip' | sed 's/^/      /'
		fi
	else
		fail=$((fail + 1))
		failed="$failed $name"
		[ $rc -eq 124 ] && why="timed out after ${limit}s" || why="exit $rc"
		printf 'FAIL  %-32s %6ss  (%s)\n' "$name" "$secs" "$why"
		printf '%s\n' "$out" | sed 's/^/      /'
	fi
	# A test must not leave tables behind in the shared directory.
	left=$(ls -A "$shm" 2>/dev/null)
	if [ -n "$left" ]; then
		printf '      note: %s left files in the table directory: %s\n' "$name" "$left"
		rm -rf "${shm:?}"/*
	fi
done
printf '\n%d passed, %d failed%s\n' "$pass" "$fail" "${failed:+:$failed}"
[ $fail -eq 0 ]
