#!/bin/sh
# Install test: `make install DESTDIR=...`, then build contrib/example-plugin
# out of tree with its own Makefile against the installed SDK only (the .pc
# file and headers under DESTDIR), check that it exports only its descriptor,
# and run every loader check on it with tests/abi/loadcheck.
#
# Works from `make check` and inside `make distcheck` (VPATH build, read-only
# srcdir): the example's sources are copied to a temporary directory, and the
# install goes to a temporary DESTDIR, never to the configured prefix.
# Exit 77 (skip) only when a tool it needs does not exist.
set -eu

: "${CARACAL_BUILDDIR:?run this test with make check}"
: "${CARACAL_SRCDIR:?run this test with make check}"

for tool in make pkg-config nm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool is not installed"
		exit 77
	fi
done

# The compiler configure chose (plain cc otherwise).
CC=$(sed -n 's/^CC = //p' "$CARACAL_BUILDDIR/Makefile")
CC=${CC:-cc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caracal-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/dest

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# --- 1. install into DESTDIR. The nested make must not join the jobserver of
# the make running this test.
echo "== make install DESTDIR=$dest"
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL; cd "$CARACAL_BUILDDIR" &&
	make install DESTDIR="$dest") >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	fail "make install DESTDIR=$dest failed"
fi

pc=$(find "$dest" -name caracal-plugin.pc -type f | head -n 1)
[ -n "$pc" ] || fail "caracal-plugin.pc was not installed"
pcdir=$(dirname "$pc")
prefix=$(sed -n 's/^prefix=//p' "$pc")
case $prefix in /*) ;; *) fail "prefix in $pc is not absolute: $prefix" ;; esac

# pkg-config sees only the installed .pc, with its prefix moved into DESTDIR.
PKG_CONFIG_PATH=$pcdir
PKG_CONFIG_LIBDIR=$pcdir
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR
unset PKG_CONFIG_SYSROOT_DIR || true
PKG_CONFIG="pkg-config --define-variable=prefix=$dest$prefix"

# The ABI version in the .pc file is the one in the installed header.
abi_major=$($PKG_CONFIG --variable=abi_major caracal-plugin)
abi_minor=$($PKG_CONFIG --variable=abi_minor caracal-plugin)
cflags=$($PKG_CONFIG --cflags caracal-plugin)
includedir=$($PKG_CONFIG --variable=includedir caracal-plugin)
plugindir=$($PKG_CONFIG --variable=plugindir caracal-plugin)
echo "   caracal-plugin: ABI $abi_major.$abi_minor, cflags '$cflags', plugindir $plugindir"
for h in common.h plugin.h host.h signer.h policy.h storage.h stream.h audit.h; do
	[ -f "$includedir/caracal/$h" ] || fail "$includedir/caracal/$h was not installed"
done
grep -q "^#define CARACAL_ABI_MAJOR $abi_major\$" "$includedir/caracal/plugin.h" ||
	fail "abi_major=$abi_major in caracal-plugin.pc disagrees with caracal/plugin.h"
grep -q "^#define CARACAL_ABI_MINOR $abi_minor\$" "$includedir/caracal/plugin.h" ||
	fail "abi_minor=$abi_minor in caracal-plugin.pc disagrees with caracal/plugin.h"
case $plugindir in "$dest"/*) ;; *) fail "plugindir $plugindir is not under DESTDIR" ;; esac

# Every -I points into DESTDIR: never at the source or build tree.
for flag in $cflags; do
	case $flag in
	-I"$dest"/*) ;;
	-I*) fail "pkg-config --cflags gives $flag, outside DESTDIR" ;;
	esac
done

# --- 2. build the example out of tree, with its own Makefile.
echo "== build contrib/example-plugin against $dest"
cp -R "$CARACAL_SRCDIR/contrib/example-plugin" "$tmp/example"
chmod -R u+w "$tmp/example"
rm -f "$tmp/example/example.so"
unset CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH || true
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL; cd "$tmp/example" &&
	make CC="$CC" PKG_CONFIG="$PKG_CONFIG" CPPFLAGS= \
		CFLAGS="-O2 -g -std=c11 -Wall -Wextra -Wpedantic -Werror" \
		LDFLAGS= example.so) >"$tmp/example.log" 2>&1; then
	cat "$tmp/example.log" >&2
	fail "the example plugin does not build against the installed SDK"
fi
cat "$tmp/example.log"

# Every caracal/ header it compiled came from DESTDIR.
(cd "$tmp/example" && $CC $cflags -M example.c) >"$tmp/deps" ||
	fail "cannot list the example's headers"
tr ' \\' '\n\n' <"$tmp/deps" | grep 'caracal/' >"$tmp/caracal-headers" ||
	fail "the example includes no caracal/ header?"
if grep -v "^$dest/" "$tmp/caracal-headers"; then
	fail "the example used the caracal/ headers above, outside DESTDIR"
fi

# --- 3. it exports its descriptor and nothing else (the linker's own
# _init/_fini/_edata/_end/__bss_start aside).
so=$tmp/example/example.so
nm -D --defined-only "$so" | awk '{ print $NF }' |
	grep -v -x -e _init -e _fini -e _edata -e _end -e __bss_start >"$tmp/exports" || true
echo "   exports: $(tr '\n' ' ' <"$tmp/exports")"
[ "$(cat "$tmp/exports")" = caracal_plugin_example ] ||
	fail "example.so must export only caracal_plugin_example, exports: $(cat "$tmp/exports")"

# --- 4. it installs into the SDK's plugindir ...
(unset MAKEFLAGS MFLAGS MAKELEVEL; cd "$tmp/example" &&
	make PKG_CONFIG="$PKG_CONFIG" install) >"$tmp/example-install.log" 2>&1 ||
	{ cat "$tmp/example-install.log" >&2; fail "make install of the example failed"; }
[ -f "$plugindir/example.so" ] || fail "the example was not installed into $plugindir"

# ... and passes every loader check. DESTDIR's mode depends on the umask, so
# the loader gets a private copy in a 0755 directory.
mkdir "$tmp/plugins"
chmod 0755 "$tmp/plugins"
cp "$so" "$tmp/plugins/example.so"
chmod 0644 "$tmp/plugins/example.so"
echo "== loadcheck example $tmp/plugins/example.so"
"$CARACAL_BUILDDIR/tests/abi/loadcheck" example "$tmp/plugins/example.so" ||
	fail "the loader rejects the example plugin"
echo "PASS"
