# Unit tests and fuzz target of core/config.
if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_config
TESTS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(TEST_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_config_LDADD = $(TEST_LIBS)
endif
EXTRA_DIST += tests/data/config/good.yaml tests/data/config/unknown-key.yaml

FUZZ_TARGETS += tests/fuzz/fuzz_config
tests/fuzz/fuzz_config: $(top_srcdir)/tests/fuzz/fuzz_config.c $(top_srcdir)/core/config/config.c \
		$(top_srcdir)/core/util/arena.c $(top_srcdir)/core/util/log.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) \
		$(YAML_CFLAGS) $(OPENSSL_CFLAGS) $(PTHREAD_CFLAGS) -o $@ $^ \
		$(YAML_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_config.c \
	tests/fuzz/corpus/config/alias \
	tests/fuzz/corpus/config/block-scalars \
	tests/fuzz/corpus/config/doc-markers \
	tests/fuzz/corpus/config/dup \
	tests/fuzz/corpus/config/flow \
	tests/fuzz/corpus/config/good \
	tests/fuzz/corpus/config/nested-set \
	tests/fuzz/corpus/config/secrets \
	tests/fuzz/corpus/config/tags \
	tests/fuzz/corpus/config/unknown
