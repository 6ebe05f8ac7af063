# Unit tests and fuzz target of core/config.
if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_config
TESTS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(TEST_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_config_LDADD = $(TEST_LIBS)
endif
EXTRA_DIST += tests/data/config/good.yaml tests/data/config/unknown-key.yaml
