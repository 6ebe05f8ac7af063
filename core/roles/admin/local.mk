# core/roles/admin: the admin role (HTTP API on the admin listener) and the
# caracalctl commands that use it. Included from Makefile.am after
# core/local.mk (it appends to libcaracalcore and caracalctl).
libcaracalcore_la_SOURCES += \
	core/roles/admin/admin.c core/roles/admin/admin.h \
	core/roles/admin/body.c core/roles/admin/body.h

CTL_ADMIN_SOURCES = \
	core/ctl/client.c core/ctl/client.h \
	core/ctl/commands.c core/ctl/commands.h
caracalctl_SOURCES += $(CTL_ADMIN_SOURCES)

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_admin_body tests/unit/test_admin_client tests/unit/test_admin_ctl
TESTS += tests/unit/test_admin_body tests/unit/test_admin_client tests/unit/test_admin_ctl \
	tests/integration/test_admin.sh
tests_unit_test_admin_body_SOURCES = tests/unit/test_admin_body.c
tests_unit_test_admin_body_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_admin_body_LDADD = $(TEST_LIBS)
tests_unit_test_admin_client_SOURCES = tests/unit/test_admin_client.c $(CTL_ADMIN_SOURCES)
tests_unit_test_admin_client_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_admin_client_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_unit_test_admin_ctl_SOURCES = tests/unit/test_admin_ctl.c $(CTL_ADMIN_SOURCES)
tests_unit_test_admin_ctl_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_admin_ctl_LDADD = $(TEST_LIBS)
endif
EXTRA_DIST += tests/integration/test_admin.sh
