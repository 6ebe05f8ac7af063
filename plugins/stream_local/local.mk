# plugins/stream_local: the in-process stream of the embedded default.
#
# The logic is a convenience library (tests may link it without dlopen); the
# .so adds only module.c, the exported descriptor.
if BUILD_STREAM_LOCAL
noinst_LTLIBRARIES += plugins/stream_local/libstream_local_impl.la
plugins_stream_local_libstream_local_impl_la_SOURCES = \
	plugins/stream_local/stream_local.c plugins/stream_local/stream_local.h
plugins_stream_local_libstream_local_impl_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
plugins_stream_local_libstream_local_impl_la_LIBADD = $(PTHREAD_LIBS)

plugin_LTLIBRARIES += plugins/stream_local/stream_local.la
plugins_stream_local_stream_local_la_SOURCES = plugins/stream_local/module.c
plugins_stream_local_stream_local_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
plugins_stream_local_stream_local_la_LDFLAGS = -module -avoid-version -shared $(PLUGIN_LDFLAGS) \
	$(AM_LDFLAGS)
plugins_stream_local_stream_local_la_LIBADD = plugins/stream_local/libstream_local_impl.la \
	$(PTHREAD_LIBS)
endif

EXTRA_DIST += plugins/stream_local/README.md

include tests/conformance/stream/local.mk
