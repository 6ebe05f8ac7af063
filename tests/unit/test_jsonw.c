/* Unit tests of the JSON text writer: structure, escaping, UTF-8 refusal,
 * misuse refusal, and agreement with jansson on what it wrote. */
#include "util/json_canon.h"
#include "util/jsonw.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void test_document_shape(void **state)
{
	(void)state;
	jsonw w;
	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "a", "x");
	jsonw_kint(&w, "n", -42);
	jsonw_key(&w, "list");
	const char *items[] = {"p", "q"};
	jsonw_str_array(&w, items, 2);
	jsonw_key(&w, "empty");
	jsonw_str_array(&w, NULL, 0);
	jsonw_key(&w, "inner");
	jsonw_object_begin(&w);
	jsonw_key(&w, "t");
	jsonw_bool(&w, 1);
	jsonw_key(&w, "f");
	jsonw_bool(&w, 0);
	jsonw_key(&w, "z");
	jsonw_null(&w);
	jsonw_kstr(&w, "none", NULL);
	jsonw_object_end(&w);
	jsonw_key(&w, "raw");
	jsonw_raw(&w, "{\"k\":[1,2]}", 11);
	jsonw_object_end(&w);
	size_t len = 0;
	char *doc = jsonw_finish(&w, &len);
	assert_non_null(doc);
	assert_string_equal(doc, "{\"a\":\"x\",\"n\":-42,\"list\":[\"p\",\"q\"],\"empty\":[],"
	                         "\"inner\":{\"t\":true,\"f\":false,\"z\":null,\"none\":null},"
	                         "\"raw\":{\"k\":[1,2]}}");
	assert_int_equal(len, strlen(doc));
	free(doc);
}

static void test_escaping_round_trips(void **state)
{
	(void)state;
	/* Quotes, backslashes, every control character, and multi-byte UTF-8
	 * (2, 3 and 4 bytes) must come back byte-for-byte through jansson. */
	char s[64];
	size_t n = 0;
	s[n++] = '"';
	s[n++] = '\\';
	for (int c = 1; c < 0x20; c++)
		s[n++] = (char)c;
	memcpy(s + n, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f", 10);
	n += 10;
	jsonw w;
	jsonw_init(&w);
	jsonw_array_begin(&w);
	jsonw_strn(&w, s, n);
	jsonw_int(&w, INT64_MIN);
	jsonw_array_end(&w);
	size_t len = 0;
	char *doc = jsonw_finish(&w, &len);
	assert_non_null(doc);
	json_error_t je;
	json_t *back = json_loadb(doc, len, 0, &je);
	assert_non_null(back);
	json_t *str = json_array_get(back, 0);
	assert_int_equal(json_string_length(str), n);
	assert_memory_equal(json_string_value(str), s, n);
	assert_true(json_integer_value(json_array_get(back, 1)) == INT64_MIN);
	json_decref(back);
	free(doc);
}

/* Each invalid UTF-8 string fails the whole document. */
static void test_invalid_utf8_fails_the_document(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "\x80",             /* lone continuation */
	    "\xc0\xaf",         /* overlong '/' */
	    "\xc3",             /* truncated */
	    "\xe0\x80\xaf",     /* overlong 3-byte */
	    "\xed\xa0\x80",     /* surrogate U+D800 */
	    "\xf4\x90\x80\x80", /* above U+10FFFF */
	    "\xf8\x88\x80\x80", /* 5-byte form */
	    "ok\xff",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		jsonw w;
		jsonw_init(&w);
		jsonw_object_begin(&w);
		jsonw_kstr(&w, "ok", "fine");
		jsonw_kstr(&w, "bad", bad[i]);
		jsonw_kstr(&w, "after", "ignored");
		jsonw_object_end(&w);
		assert_null(jsonw_finish(&w, NULL));
	}
	/* Invalid bytes in a key fail too. */
	jsonw w;
	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "\xc3(", "v");
	jsonw_object_end(&w);
	assert_null(jsonw_finish(&w, NULL));
}

static void test_misuse_fails(void **state)
{
	(void)state;
	jsonw w;

	jsonw_init(&w); /* a value in an object without its key */
	jsonw_object_begin(&w);
	jsonw_str(&w, "v");
	jsonw_object_end(&w);
	assert_null(jsonw_finish(&w, NULL));

	jsonw_init(&w); /* a key in an array */
	jsonw_array_begin(&w);
	jsonw_key(&w, "k");
	jsonw_array_end(&w);
	assert_null(jsonw_finish(&w, NULL));

	jsonw_init(&w); /* a key without its value */
	jsonw_object_begin(&w);
	jsonw_key(&w, "k");
	jsonw_object_end(&w);
	assert_null(jsonw_finish(&w, NULL));

	jsonw_init(&w); /* mismatched close */
	jsonw_object_begin(&w);
	jsonw_array_end(&w);
	assert_null(jsonw_finish(&w, NULL));

	jsonw_init(&w); /* unclosed */
	jsonw_array_begin(&w);
	assert_null(jsonw_finish(&w, NULL));

	jsonw_init(&w); /* two top-level values */
	jsonw_int(&w, 1);
	jsonw_int(&w, 2);
	assert_null(jsonw_finish(&w, NULL));

	jsonw_init(&w); /* nothing written */
	assert_null(jsonw_finish(&w, NULL));

	jsonw_init(&w); /* too deep */
	for (int i = 0; i <= JSONW_MAX_DEPTH; i++)
		jsonw_array_begin(&w);
	for (int i = 0; i <= JSONW_MAX_DEPTH; i++)
		jsonw_array_end(&w);
	assert_null(jsonw_finish(&w, NULL));

	jsonw_init(&w); /* an empty raw value */
	jsonw_raw(&w, "", 0);
	assert_null(jsonw_finish(&w, NULL));

	jsonw_init(&w); /* exactly the maximum depth is fine */
	for (int i = 0; i < JSONW_MAX_DEPTH; i++)
		jsonw_array_begin(&w);
	for (int i = 0; i < JSONW_MAX_DEPTH; i++)
		jsonw_array_end(&w);
	char *doc = jsonw_finish(&w, NULL);
	assert_non_null(doc);
	free(doc);
}

static void test_large_document_grows(void **state)
{
	(void)state;
	jsonw w;
	jsonw_init(&w);
	jsonw_array_begin(&w);
	for (int i = 0; i < 10000; i++)
		jsonw_str(&w, "a string long enough to force the buffer to grow several times");
	jsonw_array_end(&w);
	size_t len = 0;
	char *doc = jsonw_finish(&w, &len);
	assert_non_null(doc);
	json_error_t je;
	json_t *back = json_loadb(doc, len, 0, &je);
	assert_int_equal(json_array_size(back), 10000);
	json_decref(back);
	free(doc);
}

/* A writer made with room for a few bytes grows past it; strings that are
 * all escapes (each byte six) fit exactly. */
static void test_presized_and_escape_heavy(void **state)
{
	(void)state;
	jsonw w;
	jsonw_init_cap(&w, 4);
	jsonw_array_begin(&w);
	char ctl[300];
	for (size_t i = 0; i < sizeof ctl; i++)
		ctl[i] = (char)(1 + i % 31); /* control characters: \u00XX or \n ... */
	for (int i = 0; i < 50; i++)
		jsonw_strn(&w, ctl, sizeof ctl);
	jsonw_str(&w, "\"\\\"\\");
	jsonw_array_end(&w);
	size_t len = 0;
	char *doc = jsonw_finish(&w, &len);
	assert_non_null(doc);
	json_error_t je;
	json_t *back = json_loadb(doc, len, 0, &je);
	assert_non_null(back);
	assert_int_equal(json_array_size(back), 51);
	assert_int_equal(json_string_length(json_array_get(back, 0)), sizeof ctl);
	assert_memory_equal(json_string_value(json_array_get(back, 49)), ctl, sizeof ctl);
	assert_string_equal(json_string_value(json_array_get(back, 50)), "\"\\\"\\");
	json_decref(back);
	free(doc);
}

/* The canonical text is exactly jansson's sorted compact dump. */
static void test_canonical_matches_jansson(void **state)
{
	(void)state;
	static const char *const docs[] = {
	    "{\"b\":[1,2,{\"z\":null,\"a\":true}],\"a\":\"\\u00e9\\n\\u001f\\\"\",\"c\":-5}",
	    "{\"ab\":1,\"a\":2,\"\":3,\"b\":{}}",
	    "[1.5,-0.25,1e300,\"x\",[],{}]",
	    "\"top-level string\"",
	    "{\"k\":\"\\u2028\\u0000x\\u007f/\"}",
	};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		json_error_t je;
		json_t *v = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		assert_non_null(v);
		size_t len = 0;
		char *mine = json_canonical(v, &len);
		char *theirs = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		assert_non_null(mine);
		assert_string_equal(mine, theirs);
		assert_int_equal(len, strlen(theirs));
		free(mine);
		free(theirs);
		json_decref(v);
	}
	/* A key holding a NUL cannot be written as a C string key: refused. */
	json_t *o = json_object();
	json_object_setn_new(o, "a\0b", 3, json_true());
	assert_null(json_canonical(o, NULL));
	json_decref(o);
}

static void test_sorted_members(void **state)
{
	(void)state;
	jsonw_member m[] = {
	    JSONW_MSTR("zone_id", "z"), JSONW_MINT("at", -7),    JSONW_MRAW("list", "[1]", 3),
	    JSONW_MSTR("a", NULL),      JSONW_MSTR("ab", "x\n"),
	};
	jsonw w;
	jsonw_init(&w);
	jsonw_object_sorted(&w, m, sizeof m / sizeof m[0]);
	size_t len = 0;
	char *doc = jsonw_finish(&w, &len);
	assert_non_null(doc);
	assert_string_equal(
	    doc, "{\"a\":null,\"ab\":\"x\\n\",\"at\":-7,\"list\":[1],\"zone_id\":\"z\"}");
	/* What json_canonical writes for the same object. */
	json_error_t je;
	json_t *v = json_loads(doc, 0, &je);
	char *canon = json_canonical(v, NULL);
	assert_string_equal(canon, doc);
	free(canon);
	json_decref(v);
	free(doc);

	/* A key given twice fails the document. */
	jsonw_member dup[] = {JSONW_MINT("k", 1), JSONW_MSTR("j", "x"), JSONW_MINT("k", 2)};
	jsonw_init(&w);
	jsonw_object_sorted(&w, dup, 3);
	assert_null(jsonw_finish(&w, NULL));
	/* So does a string that is not UTF-8, and an empty raw value. */
	jsonw_member bad[] = {JSONW_MSTR("s", "\xff")};
	jsonw_init(&w);
	jsonw_object_sorted(&w, bad, 1);
	assert_null(jsonw_finish(&w, NULL));
	jsonw_member raw[] = {JSONW_MRAW("r", "", 0)};
	jsonw_init(&w);
	jsonw_object_sorted(&w, raw, 1);
	assert_null(jsonw_finish(&w, NULL));
	/* No members: {}. */
	jsonw_init(&w);
	jsonw_object_sorted(&w, NULL, 0);
	doc = jsonw_finish(&w, NULL);
	assert_string_equal(doc, "{}");
	free(doc);
}

/* A writer on the caller's buffer: no allocation while it fits, its own
 * heap buffer once it outgrows it (the text so far kept), and finish hands
 * out a copy, never the caller's buffer. */
static void test_borrowed_buffer(void **state)
{
	(void)state;
	char buf[32];
	jsonw w;
	jsonw_init_in(&w, buf, sizeof buf);
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "a", "b");
	jsonw_object_end(&w);
	size_t len = 0;
	const char *text = jsonw_text(&w, &len);
	assert_ptr_equal(text, buf);
	assert_string_equal(text, "{\"a\":\"b\"}");
	assert_int_equal(len, 9);
	jsonw_discard(&w); /* must not free buf */

	jsonw_init_in(&w, buf, sizeof buf);
	jsonw_array_begin(&w);
	for (int i = 0; i < 40; i++)
		jsonw_str(&w, "abcdefgh");
	jsonw_array_end(&w);
	text = jsonw_text(&w, &len);
	assert_non_null(text);
	assert_ptr_not_equal(text, buf);
	assert_int_equal(len, 2 + 40 * 10 + 39);
	assert_memory_equal(text, "[\"abcdefgh\",\"abcdefgh\",\"", 24);
	jsonw_discard(&w); /* frees its own buffer */

	jsonw_init_in(&w, buf, sizeof buf);
	jsonw_int(&w, 7);
	char *copy = jsonw_finish(&w, &len);
	assert_non_null(copy);
	assert_ptr_not_equal(copy, buf);
	assert_string_equal(copy, "7");
	free(copy);

	/* Unfinished or failed: no text. */
	jsonw_init_in(&w, buf, sizeof buf);
	jsonw_object_begin(&w);
	assert_null(jsonw_text(&w, &len));
	jsonw_discard(&w);
}

static void test_canon_check(void **state)
{
	(void)state;
	static const char *const canonical[] = {
	    "[]",
	    "{}",
	    "0",
	    "-1",
	    "9223372036854775807",
	    "-9223372036854775808",
	    "true",
	    "false",
	    "null",
	    "\"\"",
	    "[{\"policy\":\"p\"}]",
	    "{\"\":1,\"a\":2,\"ab\":3,\"b\":{}}",
	    "\"\\\"\\\\\\n\\r\\t\\b\\f\\u001F\\u0001\"",
	    "\"\xc3\xa9\xe2\x80\xa8\x7f/\"",
	    "[[[1,[2]],{\"x\":[]}],\"s\"]",
	};
	for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
		const char *t = canonical[i];
		assert_true(json_canon_check(t, strlen(t)));
		/* And jansson agrees that it is canonical. */
		json_error_t je;
		json_t *v = json_loadb(t, strlen(t), JSON_DECODE_ANY, &je);
		assert_non_null(v);
		char *canon = json_canonical(v, NULL);
		assert_string_equal(canon, t);
		free(canon);
		json_decref(v);
		/* json_canonical_text copies it as it is. */
		size_t len = 0;
		char *copy = json_canonical_text(t, strlen(t), JSONW_MAX_DEPTH, &len);
		assert_string_equal(copy, t);
		assert_int_equal(len, strlen(t));
		free(copy);
	}
	static const char *const not_canonical[] = {
	    "",
	    " []",
	    "[] ",
	    "[1, 2]",
	    "{\"b\":1,\"a\":2}",
	    "{\"a\":1,\"a\":2}",
	    "01",
	    "-0",
	    "+1",
	    "1.5",
	    "1e3",
	    "9223372036854775808",
	    "-9223372036854775809",
	    "\"\\/\"",
	    "\"\\u0041\"",
	    "\"\\u000a\"",
	    "\"\\u000A\"",
	    "\"\\u001f\"",
	    "\"\\u0000\"",
	    "\"\x01\"",
	    "\"\xff\"",
	    "\"\xed\xa0\x80\"",
	    "\"\xc0\xaf\"",
	    "[1,]",
	    "[,1]",
	    "{\"a\"}",
	    "{\"a\":}",
	    "[",
	    "\"abc",
	    "tru",
	    "nul",
	    "[true false]",
	    "{\"\\n\":1}",
	    "[]]",
	};
	for (size_t i = 0; i < sizeof not_canonical / sizeof not_canonical[0]; i++)
		assert_false(json_canon_check(not_canonical[i], strlen(not_canonical[i])));
	assert_false(json_canon_check(NULL, 0));
	/* Nesting past the writer's depth is not the check's to accept. */
	char deep[2 * (JSONW_MAX_DEPTH + 1) + 1];
	memset(deep, '[', JSONW_MAX_DEPTH + 1);
	memset(deep + JSONW_MAX_DEPTH + 1, ']', JSONW_MAX_DEPTH + 1);
	assert_false(json_canon_check(deep, sizeof deep - 1));
	assert_true(json_canon_check(deep + 1, sizeof deep - 3));

	/* Not canonical but JSON: canonicalised through jansson. */
	size_t len = 0;
	char *c = json_canonical_text("{ \"b\" : [1, 2], \"a\": \"\\u0041\" }", 31, 2, &len);
	assert_non_null(c);
	assert_string_equal(c, "{\"a\":\"A\",\"b\":[1,2]}");
	assert_int_equal(len, strlen(c));
	free(c);
	/* Not JSON, or a duplicate key: NULL. */
	assert_null(json_canonical_text("[1,", 3, JSONW_MAX_DEPTH, &len));
	assert_null(json_canonical_text("{\"a\":1, \"a\":2}", 15, JSONW_MAX_DEPTH, &len));
	assert_null(json_canonical_text(NULL, 0, JSONW_MAX_DEPTH, &len));
	/* Deeper than asked: refused, canonical or not (a string's brackets do
	 * not count). */
	assert_null(json_canonical_text("[[1]]", 5, 1, &len));
	assert_null(json_canonical_text("[ [1.5] ]", 9, 1, &len));
	c = json_canonical_text("[\"[[\\\"]]\",1.5]", 14, 1, &len);
	assert_non_null(c);
	assert_string_equal(c, "[\"[[\\\"]]\",1.5]");
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_document_shape),
	    cmocka_unit_test(test_escaping_round_trips),
	    cmocka_unit_test(test_invalid_utf8_fails_the_document),
	    cmocka_unit_test(test_misuse_fails),
	    cmocka_unit_test(test_large_document_grows),
	    cmocka_unit_test(test_presized_and_escape_heavy),
	    cmocka_unit_test(test_canonical_matches_jansson),
	    cmocka_unit_test(test_sorted_members),
	    cmocka_unit_test(test_canon_check),
	    cmocka_unit_test(test_borrowed_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
