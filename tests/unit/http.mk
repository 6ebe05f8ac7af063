# Unit tests and fuzz target of core/http.
if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_http_parser tests/unit/test_http_server
TESTS += tests/unit/test_http_parser tests/unit/test_http_server
tests_unit_test_http_parser_SOURCES = tests/unit/test_http_parser.c
tests_unit_test_http_parser_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_http_parser_LDADD = $(TEST_LIBS)
tests_unit_test_http_server_SOURCES = tests/unit/test_http_server.c
tests_unit_test_http_server_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_http_server_LDADD = $(TEST_LIBS) $(LIBEVENT_LIBS) $(PTHREAD_LIBS)
endif

FUZZ_TARGETS += tests/fuzz/fuzz_http
tests/fuzz/fuzz_http: $(top_srcdir)/tests/fuzz/fuzz_http.c $(top_srcdir)/core/http/parser.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) -o $@ $^
EXTRA_DIST += tests/fuzz/fuzz_http.c \
	tests/fuzz/corpus/http/get tests/fuzz/corpus/http/post_cl tests/fuzz/corpus/http/chunked \
	tests/fuzz/corpus/http/pipelined tests/fuzz/corpus/http/cl_te tests/fuzz/corpus/http/limits \
	tests/fuzz/corpus/http/obs_fold
