# tests/conformance/storage: the storage battery, run through dlopen against
# the built storage_sqlite.so. The battery knows nothing of SQLite: another
# backend runs it with CARACAL_STORAGE_PLUGIN=<path to .so> and
# CARACAL_STORAGE_CONFIG=<its YAML config block>.
if ENABLE_TESTS
if BUILD_STORAGE_SQLITE
check_PROGRAMS += tests/conformance/storage/test_storage_conformance
TESTS += tests/conformance/storage/test_storage_conformance

tests_conformance_storage_test_storage_conformance_SOURCES = \
	tests/conformance/storage/test_storage_conformance.c
tests_conformance_storage_test_storage_conformance_CFLAGS = $(TEST_CFLAGS)
tests_conformance_storage_test_storage_conformance_LDADD = $(TEST_LIBS) $(OPENSSL_LIBS) \
	$(PTHREAD_LIBS)
# The battery dlopens the plugin: build it first.
tests_conformance_storage_test_storage_conformance_DEPENDENCIES = \
	plugins/storage_sqlite/storage_sqlite.la

# storage_sqlite's own schema and settings, linked without dlopen.
check_PROGRAMS += tests/conformance/storage/test_storage_sqlite
TESTS += tests/conformance/storage/test_storage_sqlite
tests_conformance_storage_test_storage_sqlite_SOURCES = \
	tests/conformance/storage/test_storage_sqlite.c
tests_conformance_storage_test_storage_sqlite_CFLAGS = $(TEST_CFLAGS) $(STORAGE_SQLITE_CFLAGS) \
	-I$(top_srcdir)/plugins/storage_sqlite
tests_conformance_storage_test_storage_sqlite_LDADD = \
	plugins/storage_sqlite/libstorage_sqlite_impl.la $(TEST_LIBS) $(STORAGE_SQLITE_LIBS) \
	$(OPENSSL_LIBS) $(PTHREAD_LIBS)
endif
endif
