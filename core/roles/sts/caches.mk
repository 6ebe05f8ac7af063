# What makes the token path fast — the mint rate limit counted in leased
# blocks (spec sts.md §2.12), the zone configuration cache, group commit of
# mints (mint_batch.c is in core/local.mk) — and their unit tests, which run
# them against storage_sqlite linked in (no dlopen).
libcaracalcore_la_SOURCES += core/roles/sts/rate_lease.c core/roles/sts/rate_lease.h \
	core/roles/sts/config_cache.c core/roles/sts/config_cache.h

if ENABLE_TESTS
if BUILD_STORAGE_SQLITE
check_PROGRAMS += tests/unit/test_sts_rate_lease tests/unit/test_sts_config_cache \
	tests/unit/test_sts_mint_batch
TESTS += tests/unit/test_sts_rate_lease tests/unit/test_sts_config_cache \
	tests/unit/test_sts_mint_batch
tests_unit_test_sts_rate_lease_SOURCES = tests/unit/test_sts_rate_lease.c \
	tests/unit/sqlite_fixture.c tests/unit/sqlite_fixture.h
tests_unit_test_sts_rate_lease_CFLAGS = $(TEST_CFLAGS) $(STORAGE_SQLITE_CFLAGS) \
	-I$(top_srcdir)/plugins/storage_sqlite
tests_unit_test_sts_rate_lease_LDADD = \
	plugins/storage_sqlite/libstorage_sqlite_impl.la $(TEST_LIBS) $(STORAGE_SQLITE_LIBS) \
	$(OPENSSL_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS)
tests_unit_test_sts_config_cache_SOURCES = tests/unit/test_sts_config_cache.c \
	tests/unit/sqlite_fixture.c tests/unit/sqlite_fixture.h
tests_unit_test_sts_config_cache_CFLAGS = $(tests_unit_test_sts_rate_lease_CFLAGS)
tests_unit_test_sts_config_cache_LDADD = $(tests_unit_test_sts_rate_lease_LDADD)
tests_unit_test_sts_mint_batch_SOURCES = tests/unit/test_sts_mint_batch.c \
	tests/unit/sqlite_fixture.c tests/unit/sqlite_fixture.h
tests_unit_test_sts_mint_batch_CFLAGS = $(tests_unit_test_sts_rate_lease_CFLAGS)
tests_unit_test_sts_mint_batch_LDADD = $(tests_unit_test_sts_rate_lease_LDADD)
endif
endif
