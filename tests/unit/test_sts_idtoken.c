/* Unit tests of the federated subject rules (spec sts.md §1.4), byte-level
 * cases the integration test cannot send through JSON (invalid UTF-8). */
#include "roles/sts/idtoken.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

static int ok(const char *s, size_t n)
{
	char why[96];
	return sts_subject_acceptable(s, n, why, sizeof why) == 0;
}

static int ok_str(const char *s)
{
	return ok(s, strlen(s));
}

static void test_accepted(void **state)
{
	(void)state;
	assert_true(ok_str("alice"));
	assert_true(ok_str("248289761001"));
	assert_true(ok_str("user@example.com"));
	assert_true(ok_str("\xc3\xa5lice \xe5\x90\x8d")); /* UTF-8 with an inner space */
	assert_true(ok_str("\xf0\x9f\x98\x80"));          /* 4-byte sequence */
	assert_true(ok_str("caracal"));                   /* the prefix needs its colon */
	assert_true(ok_str("Caracal:x"));                 /* and is case-sensitive */
	char max[STS_SUBJECT_MAX];
	memset(max, 'x', sizeof max);
	assert_true(ok(max, sizeof max));
}

static void test_refused(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t n; /* 0: strlen */
	} bad[] = {
	    {"", 0},
	    {"caracal:shared", 0},
	    {"caracal:", 0},
	    {" alice", 0},
	    {"alice ", 0},
	    {"\talice", 0},
	    {"alice\xc2\xa0", 0}, /* trailing NBSP */
	    {"\xe3\x80\x80x", 0}, /* leading ideographic space */
	    {"a\nb", 0},
	    {"a\rb", 0},
	    {"a\x1b[31mb", 0},     /* ESC */
	    {"a\x7f", 0},          /* DEL */
	    {"a\xc2\x85z", 0},     /* NEL (C1) */
	    {"a\xc2\x9bz", 0},     /* CSI (C1) */
	    {"a\xe2\x80\xaez", 0}, /* U+202E RLO */
	    {"a\xe2\x80\xaaz", 0}, /* U+202A LRE */
	    {"a\xe2\x81\xa6z", 0}, /* U+2066 LRI */
	    {"a\xe2\x81\xa9z", 0}, /* U+2069 PDI */
	    {"a\xef\xbf\xbdz", 0}, /* U+FFFD */
	    {"a\x00z", 3},         /* NUL */
	    {"\xff", 0},
	    {"a\x80", 0},            /* lone continuation */
	    {"\xc0\xaf", 0},         /* overlong '/' */
	    {"\xe0\x80\xaf", 0},     /* overlong */
	    {"\xed\xa0\x80", 0},     /* surrogate */
	    {"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
	    {"a\xe2\x82", 0},        /* truncated */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = bad[i].n != 0 ? bad[i].n : strlen(bad[i].s);
		if (ok(bad[i].s, n))
			fail_msg("accepted case %zu", i);
	}
	char over[STS_SUBJECT_MAX + 1];
	memset(over, 'x', sizeof over);
	assert_false(ok(over, sizeof over));
	assert_false(ok(NULL, 0));
	char why[96];
	assert_int_equal(sts_subject_acceptable("caracal:shared", 14, why, sizeof why), -1);
	assert_non_null(strstr(why, "reserved"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
