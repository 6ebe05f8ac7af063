# The STS's session and delegation validation (spec sts.md §2.7) and its
# unit tests, which run it against storage_sqlite linked in (no dlopen).
libcaracalcore_la_SOURCES += core/roles/sts/delegation.c core/roles/sts/delegation.h

if ENABLE_TESTS
if BUILD_STORAGE_SQLITE
check_PROGRAMS += tests/unit/test_sts_delegation
TESTS += tests/unit/test_sts_delegation
tests_unit_test_sts_delegation_SOURCES = tests/unit/test_sts_delegation.c \
	tests/unit/sqlite_fixture.c tests/unit/sqlite_fixture.h
tests_unit_test_sts_delegation_CFLAGS = $(TEST_CFLAGS) $(STORAGE_SQLITE_CFLAGS) \
	-I$(top_srcdir)/plugins/storage_sqlite
tests_unit_test_sts_delegation_LDADD = \
	plugins/storage_sqlite/libstorage_sqlite_impl.la $(TEST_LIBS) $(STORAGE_SQLITE_LIBS) \
	$(OPENSSL_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS)
endif
endif

FUZZ_TARGETS += tests/fuzz/fuzz_delegation_constraints
tests/fuzz/fuzz_delegation_constraints: $(top_srcdir)/tests/fuzz/fuzz_delegation_constraints.c \
		$(top_srcdir)/core/roles/sts/delegation.c $(top_srcdir)/core/util/arena.c \
		$(top_srcdir)/core/util/rfc3339.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) \
		$(JANSSON_CFLAGS) -o $@ $^ $(JANSSON_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_delegation_constraints.c \
	tests/fuzz/corpus/delegation_constraints/full tests/fuzz/corpus/delegation_constraints/alias \
	tests/fuzz/corpus/delegation_constraints/budget tests/fuzz/corpus/delegation_constraints/nulls \
	tests/fuzz/corpus/delegation_constraints/offset_time
