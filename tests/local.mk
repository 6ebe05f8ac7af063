# Tests: unit (cmocka), abi fixtures, integration (real sockets), fuzz.
AM_TESTS_ENVIRONMENT = \
	CARACAL_SRCDIR='$(abs_top_srcdir)'; export CARACAL_SRCDIR; \
	CARACAL_BUILDDIR='$(abs_top_builddir)'; export CARACAL_BUILDDIR;
TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS)
TEST_LIBS = libcaracalcore.la $(CMOCKA_LIBS)

# libFuzzer targets: `make fuzz` builds them with clang, whatever CC is.
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir) $(DEFS)
.PHONY: fuzz
fuzz: $(FUZZ_TARGETS)
CLEANFILES += $(FUZZ_TARGETS)

if ENABLE_TESTS
TESTS += tests/integration/test_daemon.sh
endif
EXTRA_DIST += tests/integration/test_daemon.sh conf/caracal.yaml conf/caracal.production.yaml \
	scripts/deps.sh scripts/test.sh scripts/demo.sh
EXTRA_DIST += tests/bench/health.sh

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_core
TESTS += tests/unit/test_core
tests_unit_test_core_SOURCES = tests/unit/test_core.c
tests_unit_test_core_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_core_LDADD = $(TEST_LIBS)
endif

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_sts_control_key
TESTS += tests/unit/test_sts_control_key
tests_unit_test_sts_control_key_SOURCES = tests/unit/test_sts_control_key.c
tests_unit_test_sts_control_key_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sts_control_key_LDADD = $(TEST_LIBS)
endif

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_sts_idtoken
TESTS += tests/unit/test_sts_idtoken
tests_unit_test_sts_idtoken_SOURCES = tests/unit/test_sts_idtoken.c
tests_unit_test_sts_idtoken_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sts_idtoken_LDADD = $(TEST_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS)
endif

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_https_get
TESTS += tests/unit/test_https_get
tests_unit_test_https_get_SOURCES = tests/unit/test_https_get.c
tests_unit_test_https_get_CFLAGS = $(TEST_CFLAGS) $(PTHREAD_CFLAGS)
tests_unit_test_https_get_LDADD = $(TEST_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS)
endif

FUZZ_TARGETS += tests/fuzz/fuzz_https_response
tests/fuzz/fuzz_https_response: $(top_srcdir)/tests/fuzz/fuzz_https_response.c \
		$(top_srcdir)/core/util/https_get.c $(top_srcdir)/core/util/why.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) \
		$(OPENSSL_CFLAGS) -o $@ $^ $(OPENSSL_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_https_response.c tests/fuzz/corpus/https_response/length \
	tests/fuzz/corpus/https_response/chunked

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_mint_persist
TESTS += tests/unit/test_mint_persist
tests_unit_test_mint_persist_SOURCES = tests/unit/test_mint_persist.c
tests_unit_test_mint_persist_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_mint_persist_LDADD = $(TEST_LIBS)
endif

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_jsonw
TESTS += tests/unit/test_jsonw
tests_unit_test_jsonw_SOURCES = tests/unit/test_jsonw.c
tests_unit_test_jsonw_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_jsonw_LDADD = $(TEST_LIBS) $(JANSSON_LIBS)
endif

FUZZ_TARGETS += tests/fuzz/fuzz_jsonw
tests/fuzz/fuzz_jsonw: $(top_srcdir)/tests/fuzz/fuzz_jsonw.c $(top_srcdir)/core/util/jsonw.c \
		$(top_srcdir)/core/util/json_canon.c $(top_srcdir)/core/util/json_canon_check.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) -o $@ $^ \
		$(JANSSON_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_jsonw.c tests/fuzz/corpus/jsonw/ascii tests/fuzz/corpus/jsonw/utf8 \
	tests/fuzz/corpus/jsonw/surrogate tests/fuzz/corpus/jsonw/controls \
	tests/fuzz/corpus/jsonw/event tests/fuzz/corpus/jsonw/canonical

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_sts_form
TESTS += tests/unit/test_sts_form
tests_unit_test_sts_form_SOURCES = tests/unit/test_sts_form.c
tests_unit_test_sts_form_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sts_form_LDADD = $(TEST_LIBS)
endif

FUZZ_TARGETS += tests/fuzz/fuzz_sts_form
tests/fuzz/fuzz_sts_form: $(top_srcdir)/tests/fuzz/fuzz_sts_form.c \
		$(top_srcdir)/core/roles/sts/form.c $(top_srcdir)/core/util/arena.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) -o $@ $^
EXTRA_DIST += tests/fuzz/fuzz_sts_form.c tests/fuzz/corpus/sts_form/base \
	tests/fuzz/corpus/sts_form/dup tests/fuzz/corpus/sts_form/res

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_sts_jwt
TESTS += tests/unit/test_sts_jwt
tests_unit_test_sts_jwt_SOURCES = tests/unit/test_sts_jwt.c
tests_unit_test_sts_jwt_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sts_jwt_LDADD = $(TEST_LIBS)
endif

FUZZ_TARGETS += tests/fuzz/fuzz_jwt
tests/fuzz/fuzz_jwt: $(top_srcdir)/tests/fuzz/fuzz_jwt.c $(top_srcdir)/core/roles/sts/jwt.c \
		$(top_srcdir)/core/roles/sts/idtoken.c $(top_srcdir)/core/util/b64.c \
		$(top_srcdir)/core/util/why.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) -o $@ $^ \
		$(JANSSON_LIBS) $(OPENSSL_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_jwt.c tests/fuzz/corpus/jwt/es256 tests/fuzz/corpus/jwt/rsa

if ENABLE_TESTS
TESTS += tests/integration/test_sts.sh tests/integration/test_federation.sh \
	tests/integration/test_delegation.sh
endif
EXTRA_DIST += tests/integration/test_sts.sh tests/integration/test_federation.sh \
	tests/integration/test_delegation.sh tests/integration/sts_lib.sh \
	tests/integration/idp.py
EXTRA_DIST += tests/bench/mint.sh tests/bench/latency.py

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_sts_approvals
TESTS += tests/unit/test_sts_approvals
tests_unit_test_sts_approvals_SOURCES = tests/unit/test_sts_approvals.c
tests_unit_test_sts_approvals_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sts_approvals_LDADD = $(TEST_LIBS)
endif
