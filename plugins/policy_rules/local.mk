# plugins/policy_rules: declarative YAML policy rules (README.md).
#
# The logic is a convenience library (tests link it without dlopen); the .so
# adds only module.c, the exported descriptor. rules.c (compiler and
# evaluator) and input.c (the input document's reader) depend on no host
# code, so the fuzz targets link them alone. Nothing here uses jansson.
if BUILD_POLICY_RULES
noinst_LTLIBRARIES += plugins/policy_rules/libpolicy_rules_impl.la
plugins_policy_rules_libpolicy_rules_impl_la_SOURCES = \
	plugins/policy_rules/policy_rules.c plugins/policy_rules/policy_rules.h \
	plugins/policy_rules/rules.c plugins/policy_rules/rules.h \
	plugins/policy_rules/input.c
plugins_policy_rules_libpolicy_rules_impl_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	$(POLICY_RULES_CFLAGS)
plugins_policy_rules_libpolicy_rules_impl_la_LIBADD = $(POLICY_RULES_LIBS) $(PTHREAD_LIBS)

plugin_LTLIBRARIES += plugins/policy_rules/policy_rules.la
plugins_policy_rules_policy_rules_la_SOURCES = plugins/policy_rules/module.c
plugins_policy_rules_policy_rules_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	$(POLICY_RULES_CFLAGS)
# -module is written literally so automake accepts a library name without "lib".
plugins_policy_rules_policy_rules_la_LDFLAGS = -module -avoid-version -shared $(PLUGIN_LDFLAGS) $(AM_LDFLAGS)
plugins_policy_rules_policy_rules_la_LIBADD = plugins/policy_rules/libpolicy_rules_impl.la \
	$(POLICY_RULES_LIBS) $(PTHREAD_LIBS)
endif

EXTRA_DIST += plugins/policy_rules/README.md \
	conf/policies/allow-granted.yaml \
	conf/policies/examples/business-hours.yaml \
	conf/policies/examples/approval-for-admin-scopes.yaml \
	conf/policies/examples/deny-overrides.yaml

include tests/conformance/policy/local.mk
