#!/bin/sh
# Static checks of the sidecar's C.
#
# 1. The sidecar reaches the outside world only through sys.h (sys.c is the one unit that
#    makes those calls; the fuzzer links fuzz/stub_sys.c instead). A direct call of one of
#    the calls sys.h wraps, outside sys.c, would run for real under the fuzzer: comments are
#    stripped (gcc -fpreprocessed), then any such call fails the check.
# 2. cppcheck (Debian package `cppcheck`). Suppressed, with the reason:
#    variableScope        kernel style declares a function's locals at the top of the block
#    missingIncludeSystem cppcheck does not need libc/kernel headers to check our code
set -eu
cd "$(dirname "$0")/../sidecar"

units="sidecar.c spawn.c stdio.c opened.c relay.c setup.c namespaces.c beneath.c once.c"
wrapped='syscall|clone|clone3|open|openat|fstat|pipe2|close|close_range|read|write|ioctl|kill|waitid|rt_sigaction|rt_sigprocmask|setgroups|setgid|setuid|prlimit|sigaction|mount|setresuid|setresgid|rt_sigtimedwait|openat2|fchdir'
status=0
for f in $units; do
	if gcc -fpreprocessed -dD -E -P "$f" 2>/dev/null |
		grep -E "(^|[^_[:alnum:].>])($wrapped)[[:space:]]*\\(" >/tmp/lint-c.$$; then
		echo "lint:c: $f calls the outside world directly; use the sys_* wrapper of sys.h:" >&2
		cat /tmp/lint-c.$$ >&2
		status=1
	fi
done
rm -f /tmp/lint-c.$$
[ "$status" -eq 0 ] || exit 1

command -v cppcheck >/dev/null || { echo "lint:c: cppcheck not found (apt-get install cppcheck)" >&2; exit 1; }
exec cppcheck --quiet --error-exitcode=1 --inline-suppr \
	--enable=warning,style,performance,portability --std=c11 \
	-D_GNU_SOURCE -D__linux__ -D__x86_64__ -D__BYTE_ORDER__=1234 -D__ORDER_LITTLE_ENDIAN__=1234 \
	--suppress=variableScope --suppress=missingIncludeSystem \
	sidecar.c spawn.c stdio.c opened.c relay.c setup.c namespaces.c beneath.c once.c sys.c wire.c fuzz/stub_sys.c
