# tests/conformance/policy: the policy battery, run through dlopen against the
# built policy_rules.so with the core's real host services and config tree;
# and the libFuzzer targets of the policy compiler (rules.c and input.c alone)
# and of the input reader (input.c, checked against jansson).
if ENABLE_TESTS
if BUILD_POLICY_RULES
check_PROGRAMS += tests/conformance/policy/test_policy_rules
TESTS += tests/conformance/policy/test_policy_rules
tests_conformance_policy_test_policy_rules_SOURCES = \
	tests/conformance/policy/test_policy_rules.c
tests_conformance_policy_test_policy_rules_CFLAGS = $(TEST_CFLAGS) $(YAML_CFLAGS)
tests_conformance_policy_test_policy_rules_LDADD = $(TEST_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS)
# The battery dlopens the plugin: build it first.
tests_conformance_policy_test_policy_rules_DEPENDENCIES = plugins/policy_rules/policy_rules.la
endif
endif

FUZZ_TARGETS += tests/fuzz/fuzz_policy
tests/fuzz/fuzz_policy: $(top_srcdir)/tests/fuzz/fuzz_policy.c \
		$(top_srcdir)/plugins/policy_rules/rules.c $(top_srcdir)/plugins/policy_rules/input.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) \
		-I$(top_srcdir)/plugins/policy_rules $(YAML_CFLAGS) $(JANSSON_CFLAGS) -o $@ $^ \
		$(YAML_LIBS) $(JANSSON_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_policy.c \
	tests/fuzz/corpus/policy/allow-granted \
	tests/fuzz/corpus/policy/regress-utf8-cut \
	tests/fuzz/corpus/policy/approval \
	tests/fuzz/corpus/policy/business-hours \
	tests/fuzz/corpus/policy/conditions \
	tests/fuzz/corpus/policy/alias \
	tests/fuzz/corpus/policy/errors \
	tests/fuzz/corpus/policy/flow

FUZZ_TARGETS += tests/fuzz/fuzz_policy_input
tests/fuzz/fuzz_policy_input: $(top_srcdir)/tests/fuzz/fuzz_policy_input.c \
		$(top_srcdir)/plugins/policy_rules/input.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) \
		-I$(top_srcdir)/plugins/policy_rules $(JANSSON_CFLAGS) -o $@ $^ $(JANSSON_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_policy_input.c \
	tests/fuzz/corpus/policy_input/sts \
	tests/fuzz/corpus/policy_input/sts-delegated \
	tests/fuzz/corpus/policy_input/gateway \
	tests/fuzz/corpus/policy_input/minimal \
	tests/fuzz/corpus/policy_input/escapes \
	tests/fuzz/corpus/policy_input/numbers \
	tests/fuzz/corpus/policy_input/utf8 \
	tests/fuzz/corpus/policy_input/wide-object \
	tests/fuzz/corpus/policy_input/dup-nested \
	tests/fuzz/corpus/policy_input/mistyped \
	tests/fuzz/corpus/policy_input/nulls \
	tests/fuzz/corpus/policy_input/deep \
	tests/fuzz/corpus/policy_input/long-list
