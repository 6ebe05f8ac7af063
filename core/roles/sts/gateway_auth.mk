# The gateway-authenticated exchange's HMAC check (spec sts.md §2.10).
libcaracalcore_la_SOURCES += core/roles/sts/gateway_auth.c core/roles/sts/gateway_auth.h

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_sts_gateway_auth
TESTS += tests/unit/test_sts_gateway_auth
tests_unit_test_sts_gateway_auth_SOURCES = tests/unit/test_sts_gateway_auth.c
tests_unit_test_sts_gateway_auth_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sts_gateway_auth_LDADD = $(TEST_LIBS) $(OPENSSL_LIBS)
endif
