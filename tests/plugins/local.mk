# tests/plugins: plugins that exist only for tests, built like out-of-tree
# plugins (SDK headers only, libtool -module) but never installed.
#
# policy_faulty: a policy engine that errs or answers what the core cannot
# read, one way per instance `mode`; test_policy_faults.sh checks that the
# STS fails closed (503 policy_eval_failed, audited) on each.
if ENABLE_TESTS
check_LTLIBRARIES += tests/plugins/policy_faulty.la
tests_plugins_policy_faulty_la_SOURCES = tests/plugins/policy_faulty.c
tests_plugins_policy_faulty_la_CPPFLAGS = -I$(top_srcdir)/include
tests_plugins_policy_faulty_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
# -module is written literally so automake accepts a library name without
# "lib"; -rpath makes libtool build a shared object that is never installed.
tests_plugins_policy_faulty_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	$(PLUGIN_LDFLAGS) $(AM_LDFLAGS)

TESTS += tests/integration/test_policy_faults.sh
endif
EXTRA_DIST += tests/integration/test_policy_faults.sh tests/plugins/policy_faulty.c
