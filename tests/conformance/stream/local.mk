# tests/conformance/stream: the stream battery, run through dlopen against
# the built stream_local.so (CARACAL_STREAM_PLUGIN=path runs it against
# another stream .so); and the audit pipeline test (core audit writer over
# stream_local into audit_file). Both use the core's real host services and
# config tree through the audit battery's test_host.c.
if ENABLE_TESTS
if BUILD_STREAM_LOCAL
check_PROGRAMS += tests/conformance/stream/test_stream_conformance
TESTS += tests/conformance/stream/test_stream_conformance
tests_conformance_stream_test_stream_conformance_SOURCES = \
	tests/conformance/stream/test_stream_conformance.c \
	tests/conformance/audit/test_host.c tests/conformance/audit/test_host.h
tests_conformance_stream_test_stream_conformance_CFLAGS = $(TEST_CFLAGS)
tests_conformance_stream_test_stream_conformance_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_conformance_stream_test_stream_conformance_DEPENDENCIES = \
	plugins/stream_local/stream_local.la libcaracalcore.la

if BUILD_AUDIT_FILE
check_PROGRAMS += tests/conformance/stream/test_audit_pipeline
TESTS += tests/conformance/stream/test_audit_pipeline
tests_conformance_stream_test_audit_pipeline_SOURCES = \
	tests/conformance/stream/test_audit_pipeline.c
tests_conformance_stream_test_audit_pipeline_CFLAGS = $(TEST_CFLAGS) $(YAML_CFLAGS)
tests_conformance_stream_test_audit_pipeline_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_conformance_stream_test_audit_pipeline_DEPENDENCIES = \
	plugins/stream_local/stream_local.la plugins/audit_file/audit_file.la libcaracalcore.la
endif
endif
endif
