#!/bin/sh
# Static analysis of the sidecar's C with cppcheck (Debian package `cppcheck`).
# Suppressed, with the reason:
#   variableScope        kernel style declares a function's locals at the top of the block
#   missingIncludeSystem cppcheck does not need libc/kernel headers to check our code
set -eu
cd "$(dirname "$0")/../sidecar"
command -v cppcheck >/dev/null || { echo "lint:c: cppcheck not found (apt-get install cppcheck)" >&2; exit 1; }
exec cppcheck --quiet --error-exitcode=1 --inline-suppr \
	--enable=warning,style,performance,portability --std=c11 \
	-D_GNU_SOURCE -D__linux__ -D__x86_64__ -D__BYTE_ORDER__=1234 -D__ORDER_LITTLE_ENDIAN__=1234 \
	--suppress=variableScope --suppress=missingIncludeSystem \
	sidecar.c wire.c
