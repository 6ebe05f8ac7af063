# The mint rate limit counted in leased blocks (spec sts.md §2.12) and its
# unit tests, which run it against storage_sqlite linked in (no dlopen).
libcaracalcore_la_SOURCES += core/roles/sts/rate_lease.c core/roles/sts/rate_lease.h

if ENABLE_TESTS
if BUILD_STORAGE_SQLITE
check_PROGRAMS += tests/unit/test_sts_rate_lease
TESTS += tests/unit/test_sts_rate_lease
tests_unit_test_sts_rate_lease_SOURCES = tests/unit/test_sts_rate_lease.c
tests_unit_test_sts_rate_lease_CFLAGS = $(TEST_CFLAGS) $(STORAGE_SQLITE_CFLAGS) \
	-I$(top_srcdir)/plugins/storage_sqlite
tests_unit_test_sts_rate_lease_LDADD = \
	plugins/storage_sqlite/libstorage_sqlite_impl.la $(TEST_LIBS) $(STORAGE_SQLITE_LIBS) \
	$(OPENSSL_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS)
endif
endif
