# tests/abi: the ABI contract (layout), the loader against fixture plugins built
# as real shared objects, and an install test that builds contrib/example-plugin
# out of tree against the installed SDK only.
if ENABLE_TESTS
check_PROGRAMS += tests/abi/test_abi_layout tests/abi/test_loader tests/abi/loadcheck
TESTS += tests/abi/test_abi_layout tests/abi/test_loader tests/abi/test_install.sh

tests_abi_test_abi_layout_SOURCES = tests/abi/test_abi_layout.c
tests_abi_test_abi_layout_CFLAGS = $(TEST_CFLAGS)
tests_abi_test_abi_layout_LDADD = $(CMOCKA_LIBS)

tests_abi_test_loader_SOURCES = tests/abi/test_loader.c
tests_abi_test_loader_CFLAGS = $(TEST_CFLAGS)
tests_abi_test_loader_LDADD = $(TEST_LIBS)
# The fixtures are built before the test runs (check_LTLIBRARIES).
tests_abi_test_loader_DEPENDENCIES = libcaracalcore.la $(ABI_FIXTURES)

# loadcheck NAME FILE: run the loader's checks on one plugin (test_install.sh).
tests_abi_loadcheck_SOURCES = tests/abi/loadcheck.c
tests_abi_loadcheck_CFLAGS = $(libcaracalcore_la_CFLAGS)
tests_abi_loadcheck_LDADD = libcaracalcore.la

# Fixture plugins see only the SDK headers, as an out-of-tree plugin does:
# one source, one .so per FIXTURE_* macro, linked like a real
# plugin (PLUGIN_LDFLAGS repeats -module, which automake must see here);
# -rpath makes libtool build a shared object that is never installed.
ABI_FIXTURE_LDFLAGS = -module -avoid-version -shared -rpath /nowhere $(PLUGIN_LDFLAGS)
ABI_FIXTURES = \
	tests/abi/fixture_good.la \
	tests/abi/fixture_bad_magic.la \
	tests/abi/fixture_major.la \
	tests/abi/fixture_minor.la \
	tests/abi/fixture_small.la \
	tests/abi/fixture_short_vtable.la \
	tests/abi/fixture_null_op.la \
	tests/abi/fixture_no_symbol.la \
	tests/abi/fixture_name_mismatch.la \
	tests/abi/fixture_kind_no_vtable.la \
	tests/abi/fixture_oversize.la
check_LTLIBRARIES += $(ABI_FIXTURES)
tests_abi_fixture_good_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_good_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_GOOD
tests_abi_fixture_good_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_bad_magic_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_bad_magic_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_BAD_MAGIC
tests_abi_fixture_bad_magic_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_major_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_major_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_MAJOR
tests_abi_fixture_major_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_minor_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_minor_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_MINOR
tests_abi_fixture_minor_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_small_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_small_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_SMALL
tests_abi_fixture_small_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_short_vtable_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_short_vtable_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_SHORT_VTABLE
tests_abi_fixture_short_vtable_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_null_op_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_null_op_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_NULL_OP
tests_abi_fixture_null_op_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_no_symbol_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_no_symbol_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_NO_SYMBOL
tests_abi_fixture_no_symbol_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_name_mismatch_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_name_mismatch_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_NAME_MISMATCH
tests_abi_fixture_name_mismatch_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_kind_no_vtable_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_kind_no_vtable_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_KIND_NO_VTABLE
tests_abi_fixture_kind_no_vtable_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
tests_abi_fixture_oversize_la_SOURCES = tests/abi/fixture.c
tests_abi_fixture_oversize_la_CPPFLAGS = -I$(top_srcdir)/include -DFIXTURE_OVERSIZE
tests_abi_fixture_oversize_la_LDFLAGS = $(ABI_FIXTURE_LDFLAGS)
endif

EXTRA_DIST += tests/abi/test_install.sh tests/abi/gen_layout.py
