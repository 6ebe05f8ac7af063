# plugins/signer_file: per-zone signing keys sealed under a KEK in a keystore
# directory (OpenSSL 3).
#
# The logic is a convenience library (unit tests link it without dlopen);
# the .so adds only module.c, the exported descriptor.
if BUILD_SIGNER_FILE
noinst_LTLIBRARIES += plugins/signer_file/libsigner_file_impl.la
plugins_signer_file_libsigner_file_impl_la_SOURCES = \
	plugins/signer_file/signer_file.c plugins/signer_file/signer_file.h \
	plugins/signer_file/sf_crypto.c
plugins_signer_file_libsigner_file_impl_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	$(OPENSSL_CFLAGS)
plugins_signer_file_libsigner_file_impl_la_LIBADD = $(OPENSSL_LIBS) $(PTHREAD_LIBS)

plugin_LTLIBRARIES += plugins/signer_file/signer_file.la
plugins_signer_file_signer_file_la_SOURCES = plugins/signer_file/module.c
plugins_signer_file_signer_file_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(OPENSSL_CFLAGS)
plugins_signer_file_signer_file_la_LDFLAGS = -module -avoid-version -shared $(PLUGIN_LDFLAGS) \
	$(AM_LDFLAGS)
plugins_signer_file_signer_file_la_LIBADD = plugins/signer_file/libsigner_file_impl.la \
	$(OPENSSL_LIBS) $(PTHREAD_LIBS)
endif

EXTRA_DIST += plugins/signer_file/README.md

include tests/conformance/signer/local.mk
