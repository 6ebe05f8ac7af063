# plugins/audit_file: hash-chained JSON-lines audit sink.
#
# The logic is a convenience library (unit tests link it without dlopen);
# the .so adds only module.c, the exported descriptor.
if BUILD_AUDIT_FILE
noinst_LTLIBRARIES += plugins/audit_file/libaudit_file_impl.la
plugins_audit_file_libaudit_file_impl_la_SOURCES = \
	plugins/audit_file/audit_file.c plugins/audit_file/audit_file.h \
	plugins/audit_file/ledger.c plugins/audit_file/ledger.h
plugins_audit_file_libaudit_file_impl_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	$(OPENSSL_CFLAGS)
plugins_audit_file_libaudit_file_impl_la_LIBADD = $(OPENSSL_LIBS) $(PTHREAD_LIBS)

plugin_LTLIBRARIES += plugins/audit_file/audit_file.la
plugins_audit_file_audit_file_la_SOURCES = plugins/audit_file/module.c
plugins_audit_file_audit_file_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(OPENSSL_CFLAGS)
# -module is repeated literally so automake accepts a library name without "lib".
plugins_audit_file_audit_file_la_LDFLAGS = -module $(AM_LDFLAGS) $(PLUGIN_LDFLAGS)
plugins_audit_file_audit_file_la_LIBADD = plugins/audit_file/libaudit_file_impl.la \
	$(OPENSSL_LIBS) $(PTHREAD_LIBS)
endif

EXTRA_DIST += plugins/audit_file/README.md

include tests/conformance/audit/local.mk
