#!/bin/sh
# The whole test suite from a fresh checkout: installs missing packages,
# bootstraps autotools, configures with warnings as errors, builds and runs
# `make check` (unit, ABI, conformance and integration tests).
#
#   scripts/test.sh                 the normal build, in build/
#   scripts/test.sh --sanitizers    the same under ASan + UBSan, in build-asan/
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
builddir="$top/build"
# Every implemented plugin is required: a missing dependency fails here
# instead of quietly skipping its tests.
plugins="--enable-audit-file=yes --enable-policy-rules=yes --enable-signer-file=yes
--enable-stream-local=yes --enable-storage-sqlite=yes"
flags="--enable-werror $plugins"
if [ "${1:-}" = "--sanitizers" ]; then
	builddir="$top/build-asan"
	flags="$flags --enable-sanitizers"
	# Leaks fail the run; plugins stay loaded (never dlclose'd) by design.
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
cd "$top"
[ -x configure ] || ./autogen.sh
mkdir -p "$builddir"
cd "$builddir"
[ -f Makefile ] || "$top/configure" $flags
make -j"$(nproc)"
make -j"$(nproc)" check || { find . -name '*.log' -path '*tests*' -newer Makefile -exec grep -l -E 'FAIL|ERROR' {} + | while read -r f; do echo "=== $f"; tail -50 "$f"; done; exit 1; }
