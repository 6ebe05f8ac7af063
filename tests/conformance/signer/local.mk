# tests/conformance/signer: the signer battery, run through dlopen against
# the built signer_file.so with the core's real host services and config
# tree; the unit tests of signer_file's internals (linked directly); and
# tests/bench/bench_signer (built, never run by make check).
if BUILD_SIGNER_FILE
if ENABLE_TESTS
check_PROGRAMS += tests/conformance/signer/test_signer_conformance \
	tests/conformance/signer/test_signer_unit
TESTS += tests/conformance/signer/test_signer_conformance \
	tests/conformance/signer/test_signer_unit

tests_conformance_signer_test_signer_conformance_SOURCES = \
	tests/conformance/signer/test_signer_conformance.c
tests_conformance_signer_test_signer_conformance_CFLAGS = $(TEST_CFLAGS)
tests_conformance_signer_test_signer_conformance_LDADD = $(TEST_LIBS) $(OPENSSL_LIBS) \
	$(JANSSON_LIBS) $(PTHREAD_LIBS)
# The battery dlopens the plugin: build it first.
tests_conformance_signer_test_signer_conformance_DEPENDENCIES = \
	plugins/signer_file/signer_file.la

tests_conformance_signer_test_signer_unit_SOURCES = tests/conformance/signer/test_signer_unit.c
tests_conformance_signer_test_signer_unit_CFLAGS = $(TEST_CFLAGS) \
	-I$(top_srcdir)/plugins/signer_file
tests_conformance_signer_test_signer_unit_LDADD = plugins/signer_file/libsigner_file_impl.la \
	$(CMOCKA_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS)
endif

noinst_PROGRAMS += tests/bench/bench_signer
tests_bench_bench_signer_SOURCES = tests/bench/bench_signer.c
tests_bench_bench_signer_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_bench_bench_signer_LDADD = libcaracalcore.la $(OPENSSL_LIBS) $(PTHREAD_LIBS)
tests_bench_bench_signer_DEPENDENCIES = libcaracalcore.la plugins/signer_file/signer_file.la
endif
