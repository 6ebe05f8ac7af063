# core/stream: the signed envelope of stream messages (part of
# libcaracalcore), its unit tests and its fuzz target.
libcaracalcore_la_SOURCES += core/stream/envelope.c core/stream/envelope.h \
	core/stream/envelope_decode.c core/stream/envelope_int.h

if ENABLE_TESTS
check_PROGRAMS += tests/unit/test_envelope
TESTS += tests/unit/test_envelope
tests_unit_test_envelope_SOURCES = tests/unit/test_envelope.c
tests_unit_test_envelope_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_envelope_LDADD = $(TEST_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS)
endif

FUZZ_TARGETS += tests/fuzz/fuzz_envelope
tests/fuzz/fuzz_envelope: $(top_srcdir)/tests/fuzz/fuzz_envelope.c \
		$(top_srcdir)/core/stream/envelope.c $(top_srcdir)/core/stream/envelope_decode.c \
		$(top_srcdir)/core/util/jsonw.c
	$(AM_V_CC)mkdir -p tests/fuzz && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) \
		$(JANSSON_CFLAGS) $(OPENSSL_CFLAGS) $(PTHREAD_CFLAGS) -o $@ $^ \
		$(JANSSON_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_envelope.c \
	tests/fuzz/corpus/envelope/valid \
	tests/fuzz/corpus/envelope/two-fields \
	tests/fuzz/corpus/envelope/bad-sig \
	tests/fuzz/corpus/envelope/extra-key \
	tests/fuzz/corpus/envelope/dup-key \
	tests/fuzz/corpus/envelope/escapes \
	tests/fuzz/corpus/envelope/utf8 \
	tests/fuzz/corpus/envelope/whitespace \
	tests/fuzz/corpus/envelope/reordered \
	tests/fuzz/corpus/envelope/nested \
	tests/fuzz/corpus/envelope/numbers \
	tests/fuzz/corpus/envelope/overflow \
	tests/fuzz/corpus/envelope/deep \
	tests/fuzz/corpus/envelope/array
