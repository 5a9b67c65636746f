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

if compgen -G "$reports/*" >/dev/null; then
	for f in "$reports"/*; do
		echo "== sanitizer report $(basename "$f")"
		cat "$f"
	done
	echo "test:asan: the sanitizers reported errors in the sidecar"
	exit 1
fi
echo "test:asan: no sanitizer reports"
exit "$status"
