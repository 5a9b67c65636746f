#!/usr/bin/env bash
# The whole test suite against a sidecar built with AddressSanitizer and UndefinedBehavior-
# Sanitizer (make -C sidecar asan; needs clang or gcc with libasan/libubsan).
#
# A sanitizer report must fail the run even when the test that provoked it passed (a sidecar
# that aborts mid-test may look like any other death to the host). So the reports go to
# files, not only to the sidecar's stderr, and any file at the end fails the run.
#   npm run test:asan                  # everything
#   npm run test:asan -- test/sidecar.ts   # one suite
set -uo pipefail
cd "$(dirname "$0")/.."

make -s -C sidecar asan || exit 1
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT

export PIDFD_SIDECAR=$PWD/dist/pidfd-sidecar-asan
# The sanitizer runtime and shadow memory add some MiB of RSS: tests with absolute memory
# bounds on the sidecar can read this and measure growth instead.
export PIDFD_SANITIZED=1
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"

if (($#)); then
	node --import tsx node_modules/uvu/bin.js test "${@#test/}"
else
	npm test
fi
status=$?

# ASan warns, and only warns, when a child made by clone() on a stack of its own calls a
# noreturn function (_exit, execve): "ignoring requested __asan_handle_no_return ... False
# positive error reports may follow" (google/sanitizers#189). A file with nothing else in it
# is no report; any other line is.
benign='ASan is ignoring requested __asan_handle_no_return|^False positive error reports may follow|^For details see https://github.com/google/sanitizers/issues/189'
found=0
for f in "$reports"/*; do
	[ -e "$f" ] || continue
	grep -Ev "$benign" "$f" | grep -q . || continue
	found=1
	echo "== sanitizer report $(basename "$f")"
	cat "$f"
done
if ((found)); then
	echo "test:asan: the sanitizers reported errors in the sidecar"
	exit 1
fi
echo "test:asan: no sanitizer reports"
exit "$status"
