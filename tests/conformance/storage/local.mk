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
endif
endif
