# tests/conformance/audit: the audit sink battery, run through dlopen against
# the built audit_file.so; plus the unit tests of audit_file's internals.
# The battery runs against the core's real host services and config tree
# (test_host.c adapts them); the unit tests need no host.
if ENABLE_TESTS
if BUILD_AUDIT_FILE
check_PROGRAMS += tests/conformance/audit/test_audit_conformance tests/unit/test_audit_file
TESTS += tests/conformance/audit/test_audit_conformance tests/unit/test_audit_file

tests_conformance_audit_test_audit_conformance_SOURCES = \
	tests/conformance/audit/test_audit_conformance.c \
	tests/conformance/audit/test_host.c tests/conformance/audit/test_host.h
tests_conformance_audit_test_audit_conformance_CFLAGS = $(TEST_CFLAGS)
tests_conformance_audit_test_audit_conformance_LDADD = $(TEST_LIBS) $(OPENSSL_LIBS) \
	$(PTHREAD_LIBS)
# The battery dlopens the plugin: build it first.
tests_conformance_audit_test_audit_conformance_DEPENDENCIES = plugins/audit_file/audit_file.la

tests_unit_test_audit_file_SOURCES = tests/unit/test_audit_file.c
tests_unit_test_audit_file_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/plugins/audit_file
tests_unit_test_audit_file_LDADD = plugins/audit_file/libaudit_file_impl.la $(CMOCKA_LIBS) \
	$(OPENSSL_LIBS) $(PTHREAD_LIBS)
endif
endif
