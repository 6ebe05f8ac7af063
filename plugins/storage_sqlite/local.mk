# plugins/storage_sqlite: Caracal's domain records in SQLite (WAL mode).
#
# The logic is a convenience library (tests can link it without dlopen);
# the .so adds only module.c, the exported descriptor.
if BUILD_STORAGE_SQLITE
noinst_LTLIBRARIES += plugins/storage_sqlite/libstorage_sqlite_impl.la
plugins_storage_sqlite_libstorage_sqlite_impl_la_SOURCES = \
	plugins/storage_sqlite/storage_sqlite.c plugins/storage_sqlite/storage_sqlite.h \
	plugins/storage_sqlite/storage_sqlite_int.h plugins/storage_sqlite/schema.c \
	plugins/storage_sqlite/strlist.c plugins/storage_sqlite/strlist.h
plugins_storage_sqlite_libstorage_sqlite_impl_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	$(STORAGE_SQLITE_CFLAGS)
plugins_storage_sqlite_libstorage_sqlite_impl_la_LIBADD = $(STORAGE_SQLITE_LIBS) $(PTHREAD_LIBS)

plugin_LTLIBRARIES += plugins/storage_sqlite/storage_sqlite.la
plugins_storage_sqlite_storage_sqlite_la_SOURCES = plugins/storage_sqlite/module.c
plugins_storage_sqlite_storage_sqlite_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	$(STORAGE_SQLITE_CFLAGS)
# -module is repeated literally so automake accepts a library name without "lib".
plugins_storage_sqlite_storage_sqlite_la_LDFLAGS = -module -avoid-version -shared \
	$(AM_LDFLAGS) $(PLUGIN_LDFLAGS)
plugins_storage_sqlite_storage_sqlite_la_LIBADD = \
	plugins/storage_sqlite/libstorage_sqlite_impl.la $(STORAGE_SQLITE_LIBS) $(PTHREAD_LIBS)
endif

EXTRA_DIST += plugins/storage_sqlite/README.md

include tests/conformance/storage/local.mk
