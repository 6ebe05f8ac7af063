/*
 * test_envelope.c — core/stream/envelope: seal, open, and every way a
 * message must fail to open (topic swap, ts/data/id/kid edits, wrong key,
 * replay, outside the window, malformed encodings), key rotation, the
 * injectivity of the MAC input and the bounded replay table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "stream/envelope.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC "caracal.audit.events"
#define NOW INT64_C(1779364800000000) /* µs */
#define WINDOW_MS 300000

static const unsigned char key1[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[40] = "another key, forty bytes long, for tests";

static envelope_keyring *ring_with(const unsigned char *k, size_t n)
{
	envelope_keyring *kr = envelope_keyring_new(WINDOW_MS, 1024);
	assert_non_null(kr);
	caracal_error e = {0};
	assert_int_equal(envelope_keyring_add(kr, k, n, 1, &e), CARACAL_OK);
	return kr;
}

static char *seal(envelope_keyring *kr, const char *topic, int64_t ts, const char *id,
                  const char *data, size_t *len)
{
	envelope_field f[2] = {{"data", 4, data, strlen(data)}, {"kind", 4, "audit", 5}};
	char *out = NULL;
	caracal_error e = {0};
	int rc = envelope_seal(kr, topic, ts, id, f, 2, &out, len, &e);
	if (rc != CARACAL_OK)
		fail_msg("seal: %s", e.message);
	return out;
}

/* The transport id a stream assigns at time us. */
static const char *tid_at(int64_t us, int seq)
{
	static char buf[4][48];
	static int i;
	char *b = buf[i++ & 3];
	snprintf(b, 48, "%lld-%d", (long long)(us / 1000), seq);
	return b;
}

static int open_it(envelope_keyring *kr, const char *buf, size_t len, const char *topic,
                   const char *tid, const char **reason)
{
	envelope_msg m;
	caracal_error e = {0};
	int rc = envelope_open(kr, buf, len, topic, tid, NOW, &m, reason, &e);
	if (rc == CARACAL_OK)
		envelope_msg_clear(&m);
	return rc;
}

/* Re-encode buf with member name set to value (json_t, stolen). */
static char *edit(const char *buf, size_t len, const char *name, json_t *value, size_t *out_len)
{
	json_error_t je;
	json_t *root = json_loadb(buf, len, 0, &je);
	assert_non_null(root);
	if (value != NULL)
		json_object_set_new(root, name, value);
	else
		json_object_del(root, name);
	char *s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	*out_len = strlen(s);
	return s;
}

static void test_roundtrip(void **state)
{
	(void)state;
	envelope_keyring *kr = ring_with(key1, sizeof key1);
	size_t len;
	char *buf = seal(kr, TOPIC, NOW, "ev-1", "{\"a\":1}", &len);
	envelope_msg m;
	caracal_error e = {0};
	const char *why = NULL;
	assert_int_equal(envelope_open(kr, buf, len, TOPIC, tid_at(NOW, 0), NOW, &m, &why, &e),
	                 CARACAL_OK);
	assert_null(why);
	assert_string_equal(m.topic, TOPIC);
	assert_string_equal(m.id, "ev-1");
	assert_int_equal(m.ts_us, NOW);
	assert_string_equal(m.kid, envelope_keyring_kid(kr));
	assert_int_equal(m.nfields, 2);
	const envelope_field *d = envelope_get(&m, "data");
	assert_non_null(d);
	assert_int_equal(d->value_len, 7);
	assert_memory_equal(d->value, "{\"a\":1}", 7);
	assert_null(envelope_get(&m, "nope"));
	envelope_msg_clear(&m);
	/* The same message delivered again under the same transport id is a
	 * redelivery, not a replay. */
	assert_int_equal(open_it(kr, buf, len, TOPIC, tid_at(NOW, 0), NULL), CARACAL_OK);
	free(buf);
	envelope_keyring_free(kr);
}

static void test_topic_swap(void **state)
{
	(void)state;
	envelope_keyring *kr = ring_with(key1, sizeof key1);
	size_t len, len2;
	char *buf = seal(kr, TOPIC, NOW, "ev-1", "{}", &len);
	const char *why;
	/* Delivered on another topic. */
	assert_int_equal(open_it(kr, buf, len, "caracal.sessions.revoke", NULL, &why),
	                 CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_TOPIC);
	/* The topic member rewritten to match: the MAC covers it. */
	char *t = edit(buf, len, "topic", json_string("caracal.sessions.revoke"), &len2);
	assert_int_equal(open_it(kr, t, len2, "caracal.sessions.revoke", NULL, &why),
	                 CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_BAD_SIGNATURE);
	free(t);
	free(buf);
	envelope_keyring_free(kr);
}

static void test_field_edits(void **state)
{
	(void)state;
	envelope_keyring *kr = ring_with(key1, sizeof key1);
	size_t len, l2;
	char *buf = seal(kr, TOPIC, NOW, "ev-1", "{\"decision\":\"deny\"}", &len);
	const char *why;
	struct {
		const char *name;
		json_t *value;
	} edits[] = {
	    {"ts", json_integer(NOW + 1)},
	    {"id", json_string("ev-2")},
	    {"fields",
	     json_pack("{s:s, s:s}", "data", "{\"decision\":\"allow\"}", "kind", "audit")},
	    {"fields", json_pack("{s:s}", "data", "{\"decision\":\"deny\"}")},
	    {"fields", json_pack("{s:s, s:s, s:s}", "data", "{\"decision\":\"deny\"}", "kind",
	                         "audit", "extra", "x")},
	    {"sig",
	     json_string("0000000000000000000000000000000000000000000000000000000000000000")},
	};
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		char *t = edit(buf, len, edits[i].name, edits[i].value, &l2);
		why = NULL;
		assert_int_equal(open_it(kr, t, l2, TOPIC, NULL, &why), CARACAL_E_INTEGRITY);
		assert_string_equal(why, ENVELOPE_R_BAD_SIGNATURE);
		free(t);
	}
	/* A flipped bit anywhere in the data string. */
	char *p = strstr(buf, "deny");
	assert_non_null(p);
	p[0] = 'D';
	assert_int_equal(open_it(kr, buf, len, TOPIC, NULL, &why), CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_BAD_SIGNATURE);
	free(buf);
	envelope_keyring_free(kr);
}

static void test_wrong_key(void **state)
{
	(void)state;
	envelope_keyring *a = ring_with(key1, sizeof key1);
	envelope_keyring *b = ring_with(key2, sizeof key2);
	assert_string_not_equal(envelope_keyring_kid(a), envelope_keyring_kid(b));
	size_t len, l2;
	char *buf = seal(b, TOPIC, NOW, "ev-1", "{}", &len);
	const char *why;
	assert_int_equal(open_it(a, buf, len, TOPIC, NULL, &why), CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_UNKNOWN_KEY);
	/* Signed with key2 but claiming key1's kid: the MAC fails. */
	char *t = edit(buf, len, "kid", json_string(envelope_keyring_kid(a)), &l2);
	assert_int_equal(open_it(a, t, l2, TOPIC, NULL, &why), CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_BAD_SIGNATURE);
	free(t);
	free(buf);
	envelope_keyring_free(a);
	envelope_keyring_free(b);
}

static void test_rotation(void **state)
{
	(void)state;
	envelope_keyring *old = ring_with(key1, sizeof key1);
	envelope_keyring *both = envelope_keyring_new(WINDOW_MS, 16);
	caracal_error e = {0};
	assert_int_equal(envelope_keyring_add(both, key1, sizeof key1, 0, &e), CARACAL_OK);
	assert_int_equal(envelope_keyring_add(both, key2, sizeof key2, 1, &e), CARACAL_OK);
	size_t len;
	char *buf = seal(old, TOPIC, NOW, "ev-old", "{}", &len);
	assert_int_equal(open_it(both, buf, len, TOPIC, NULL, NULL), CARACAL_OK);
	free(buf);
	buf = seal(both, TOPIC, NOW, "ev-new", "{}", &len);
	assert_int_equal(open_it(old, buf, len, TOPIC, NULL, NULL), CARACAL_E_INTEGRITY);
	free(buf);
	/* Keys too short or too long are refused. */
	assert_int_equal(envelope_keyring_add(both, key1, 31, 0, &e), CARACAL_E_INVAL);
	envelope_keyring_free(old);
	envelope_keyring_free(both);
}

static void test_replay(void **state)
{
	(void)state;
	envelope_keyring *kr = ring_with(key1, sizeof key1);
	size_t len;
	char *buf = seal(kr, TOPIC, NOW, "ev-1", "{}", &len);
	const char *why;
	assert_int_equal(open_it(kr, buf, len, TOPIC, tid_at(NOW, 0), &why), CARACAL_OK);
	/* Published again: a new transport id. */
	assert_int_equal(open_it(kr, buf, len, TOPIC, tid_at(NOW + 1000, 0), &why),
	                 CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_REPLAY);
	/* Without a transport id every second sight is a replay. */
	char *b2 = seal(kr, TOPIC, NOW, "ev-2", "{}", &len);
	assert_int_equal(open_it(kr, b2, len, TOPIC, NULL, &why), CARACAL_OK);
	assert_int_equal(open_it(kr, b2, len, TOPIC, NULL, &why), CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_REPLAY);
	free(b2);
	free(buf);
	envelope_keyring_free(kr);
}

static void test_window(void **state)
{
	(void)state;
	envelope_keyring *kr = ring_with(key1, sizeof key1);
	int64_t w = (int64_t)WINDOW_MS * 1000;
	size_t len;
	const char *why;
	/* Signed 10 minutes ago, received now. */
	char *buf = seal(kr, TOPIC, NOW - 2 * w, "ev-old", "{}", &len);
	assert_int_equal(open_it(kr, buf, len, TOPIC, tid_at(NOW, 0), &why), CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_WINDOW);
	assert_int_equal(open_it(kr, buf, len, TOPIC, NULL, &why), CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_WINDOW);
	/* ...but received back then and delivered only now (it waited in a
	 * pending list): fresh when it arrived, so it opens. */
	assert_int_equal(open_it(kr, buf, len, TOPIC, tid_at(NOW - 2 * w + 5000, 3), &why),
	                 CARACAL_OK);
	free(buf);
	/* From the future, beyond the window. */
	buf = seal(kr, TOPIC, NOW + w + 1000, "ev-future", "{}", &len);
	assert_int_equal(open_it(kr, buf, len, TOPIC, tid_at(NOW + w + 1000, 0), &why),
	                 CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_WINDOW);
	free(buf);
	/* Just inside. */
	buf = seal(kr, TOPIC, NOW - w + 1000, "ev-edge", "{}", &len);
	assert_int_equal(open_it(kr, buf, len, TOPIC, NULL, &why), CARACAL_OK);
	free(buf);
	envelope_keyring_free(kr);
}

static void test_replay_table_bounded(void **state)
{
	(void)state;
	envelope_keyring *kr = envelope_keyring_new(WINDOW_MS, 4);
	caracal_error e = {0};
	assert_int_equal(envelope_keyring_add(kr, key1, sizeof key1, 1, &e), CARACAL_OK);
	char *bufs[6];
	size_t lens[6];
	for (int i = 0; i < 6; i++) {
		char id[16];
		snprintf(id, sizeof id, "ev-%d", i);
		bufs[i] = seal(kr, TOPIC, NOW - 1000 * (6 - i), id, "{}", &lens[i]);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(open_it(kr, bufs[i], lens[i], TOPIC, NULL, NULL), CARACAL_OK);
	/* ev-0 was evicted to make room: a replay of it is refused anyway, and
	 * so is any unknown id at or below the floor. */
	const char *why;
	assert_int_equal(open_it(kr, bufs[0], lens[0], TOPIC, NULL, &why), CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_OVERFLOW);
	/* Those still in the table are replays. */
	assert_int_equal(open_it(kr, bufs[4], lens[4], TOPIC, NULL, &why), CARACAL_E_INTEGRITY);
	assert_string_equal(why, ENVELOPE_R_REPLAY);
	/* Newer than the floor: fine. */
	assert_int_equal(open_it(kr, bufs[5], lens[5], TOPIC, NULL, &why), CARACAL_OK);
	/* Many more ids than slots: the table never grows. */
	for (int i = 0; i < 1000; i++) {
		char id[16];
		size_t l;
		snprintf(id, sizeof id, "bulk-%d", i);
		char *b = seal(kr, TOPIC, NOW + i, id, "{}", &l);
		assert_int_equal(open_it(kr, b, l, TOPIC, NULL, NULL), CARACAL_OK);
		free(b);
	}
	for (int i = 0; i < 6; i++)
		free(bufs[i]);
	envelope_keyring_free(kr);
}

static void test_malformed(void **state)
{
	(void)state;
	envelope_keyring *kr = ring_with(key1, sizeof key1);
	size_t len, l2;
	char *buf = seal(kr, TOPIC, NOW, "ev-1", "{}", &len);
	const char *why;
	struct {
		const char *name;
		json_t *value;
	} edits[] = {
	    {"v", json_integer(2)},
	    {"v", json_string("1")},
	    {"extra", json_true()},
	    {"sig", NULL},
	    {"sig", json_string("ABCDEF")},
	    {"sig",
	     json_string("00000000000000000000000000000000000000000000000000000000000000ZZ")},
	    {"kid", json_string("xyz")},
	    {"ts", json_string("1")},
	    {"ts", json_integer(-5)},
	    {"id", json_string("")},
	    {"id", json_string("has space")},
	    {"topic", json_integer(3)},
	    {"fields", json_object()},
	    {"fields", json_pack("{s:i}", "data", 1)},
	    {"fields", json_string("data")},
	};
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		char *t = edit(buf, len, edits[i].name, edits[i].value, &l2);
		why = NULL;
		assert_int_equal(open_it(kr, t, l2, TOPIC, NULL, &why), CARACAL_E_INVAL);
		assert_string_equal(why, ENVELOPE_R_MALFORMED);
		free(t);
	}
	const char *raw[] = {
	    "",
	    "[]",
	    "null",
	    "{\"v\":1,\"v\":1}",
	    "{\"v\":1,\"kid\":\"0123456789abcdef\",\"topic\":\"t\",\"ts\":1,\"id\":\"i\","
	    "\"fields\":{\"a\":\"b\",\"a\":\"c\"},\"sig\":"
	    "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
	    "{\"v\":1,\"kid\":\"0123456789abcdef\",\"topic\":\"t\",\"ts\":1,\"id\":\"i\","
	    "\"fields\":{\"a\":\"b\\u0000\"},\"sig\":"
	    "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
	};
	for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
		assert_int_equal(open_it(kr, raw[i], strlen(raw[i]), TOPIC, NULL, NULL),
		                 CARACAL_E_INVAL);
	/* 17 fields. */
	json_t *many = json_object();
	for (int i = 0; i < 17; i++) {
		char k[8];
		snprintf(k, sizeof k, "k%d", i);
		json_object_set_new(many, k, json_string("v"));
	}
	char *t = edit(buf, len, "fields", many, &l2);
	assert_int_equal(open_it(kr, t, l2, TOPIC, NULL, NULL), CARACAL_E_INVAL);
	free(t);
	free(buf);
	envelope_keyring_free(kr);
}

static void test_seal_refuses(void **state)
{
	(void)state;
	envelope_keyring *kr = ring_with(key1, sizeof key1);
	envelope_keyring *none = envelope_keyring_new(WINDOW_MS, 4);
	char *out = NULL;
	size_t len;
	caracal_error e = {0};
	envelope_field ok = {"data", 4, "x", 1};
	envelope_field bin = {"data", 4, "\xff\xfe", 2};
	envelope_field nul = {"data", 4, "a\0b", 3};
	envelope_field dup[2] = {{"a", 1, "1", 1}, {"a", 1, "2", 1}};
	assert_int_equal(envelope_seal(none, TOPIC, NOW, "i", &ok, 1, &out, &len, &e),
	                 CARACAL_E_UNAVAIL);
	assert_int_equal(envelope_seal(kr, TOPIC, NOW, "i", &bin, 1, &out, &len, &e),
	                 CARACAL_E_INVAL);
	assert_int_equal(envelope_seal(kr, TOPIC, NOW, "i", &nul, 1, &out, &len, &e),
	                 CARACAL_E_INVAL);
	assert_int_equal(envelope_seal(kr, TOPIC, NOW, "i", dup, 2, &out, &len, &e),
	                 CARACAL_E_INVAL);
	assert_int_equal(envelope_seal(kr, "bad topic", NOW, "i", &ok, 1, &out, &len, &e),
	                 CARACAL_E_INVAL);
	assert_int_equal(envelope_seal(kr, TOPIC, NOW, "i", &ok, 0, &out, &len, &e),
	                 CARACAL_E_INVAL);
	assert_null(out);
	envelope_keyring_free(kr);
	envelope_keyring_free(none);
}

static void test_mac_input_injective(void **state)
{
	(void)state;
	envelope_field a[2] = {{"a", 1, "bc", 2}, {"d", 1, "e", 1}};
	envelope_field b[2] = {{"ab", 2, "c", 1}, {"d", 1, "e", 1}};
	envelope_field c[1] = {{"a", 1,
	                        "bc\x00\x00\x00\x01"
	                        "d\x00\x00\x00\x01"
	                        "e",
	                        12}};
	size_t la, lb, lc;
	unsigned char *ma = envelope_mac_input("k", "t", 1, "i", a, 2, &la);
	unsigned char *mb = envelope_mac_input("k", "t", 1, "i", b, 2, &lb);
	unsigned char *mc = envelope_mac_input("k", "t", 1, "i", c, 1, &lc);
	assert_true(la != lb || memcmp(ma, mb, la) != 0);
	assert_true(la != lc || memcmp(ma, mc, la) != 0);
	/* topic/id boundary. */
	size_t l1, l2;
	unsigned char *m1 = envelope_mac_input("k", "ab", 1, "c", a, 1, &l1);
	unsigned char *m2 = envelope_mac_input("k", "a", 1, "bc", a, 1, &l2);
	assert_true(l1 != l2 || memcmp(m1, m2, l1) != 0);
	/* The domain tag leads. */
	assert_memory_equal(ma, "caracal.stream.v1", 18);
	free(ma);
	free(mb);
	free(mc);
	free(m1);
	free(m2);
}

static void test_transport_time(void **state)
{
	(void)state;
	assert_int_equal(envelope_transport_time_us("1700000000000-0"), INT64_C(1700000000000000));
	assert_int_equal(envelope_transport_time_us("5-12"), 5000);
	assert_int_equal(envelope_transport_time_us("5"), -1);
	assert_int_equal(envelope_transport_time_us("5-"), -1);
	assert_int_equal(envelope_transport_time_us("-5-1"), -1);
	assert_int_equal(envelope_transport_time_us("x-1"), -1);
	assert_int_equal(envelope_transport_time_us("99999999999999999999-1"), -1);
	assert_int_equal(envelope_transport_time_us(NULL), -1);
}

/* ------------------------------------------------------------ the decoder */

#define D_KID "0123456789abcdef"
#define D_SIG "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define D_HEAD "{\"v\":1,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":1,\"id\":\"i\","
#define D_TAIL ",\"sig\":\"" D_SIG "\"}"
/* An envelope whose fields member is f. */
#define ENV(f) D_HEAD "\"fields\":" f D_TAIL

static char decode_error[CARACAL_ERROR_MESSAGE_MAX];

/* Decode len bytes of text: NULL when it decodes (m holds it), else why not
 * (without the common prefix). */
static const char *decode_n(const char *text, size_t len, envelope_msg *m)
{
	caracal_error e = {0};
	envelope_msg local;
	if (m == NULL)
		m = &local;
	if (envelope_decode(text, len, m, &e) == CARACAL_OK) {
		if (m == &local)
			envelope_msg_clear(m);
		return NULL;
	}
	assert_int_equal(e.code, CARACAL_E_INVAL);
	const char *prefix = "malformed stream envelope: ";
	assert_memory_equal(e.message, prefix, strlen(prefix));
	snprintf(decode_error, sizeof decode_error, "%s", e.message + strlen(prefix));
	/* Left cleared. */
	assert_null(m->buf_);
	assert_int_equal(m->nfields, 0);
	return decode_error;
}

static const char *decode(const char *text, envelope_msg *m)
{
	return decode_n(text, strlen(text), m);
}

static void test_decode_escapes(void **state)
{
	(void)state;
	envelope_msg m;
	/* Every escape; \u00e9 and a surrogate pair become UTF-8; raw UTF-8
	 * passes as is; a key may be escaped too. */
	assert_null(decode(ENV("{\"d\\u0061ta\":\"a\\u00e9\\ud83d\\ude00\\uD834\\uDD1E\\n\\\"\\/"
	                       "\\\\\\b\\f\\r\\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"),
	                   &m));
	assert_int_equal(m.nfields, 1);
	assert_int_equal(m.fields[0].key_len, 4);
	assert_string_equal(m.fields[0].key, "data");
	static const char want[] = "a\xc3\xa9\xf0\x9f\x98\x80\xf0\x9d\x84\x9e\n\"/\\\b\f\r\t"
	                           "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	assert_int_equal(m.fields[0].value_len, sizeof want - 1);
	assert_memory_equal(m.fields[0].value, want, sizeof want); /* NUL-terminated */
	assert_string_equal(m.kid, D_KID);
	assert_int_equal(m.sig[0], 0x00);
	assert_int_equal(m.sig[31], 0xff);
	envelope_msg_clear(&m);
	/* Names escaped are the same names. */
	assert_null(decode("{\"\\u0076\":1,\"kid\":\"" D_KID "\",\"topic\":\"caracal\\/x\","
	                   "\"ts\":1,\"id\":\"\\u0069\",\"fields\":{\"a\":\"\"},\"sig\":\"" D_SIG
	                   "\"}",
	                   &m));
	assert_string_equal(m.topic, "caracal/x");
	assert_string_equal(m.id, "i");
	assert_int_equal(m.fields[0].value_len, 0);
	envelope_msg_clear(&m);
}

static void test_decode_spelling(void **state)
{
	(void)state;
	envelope_msg m;
	/* Whitespace between all tokens, members and fields in any order,
	 * whitespace after the object. */
	assert_null(decode(" \r\n\t{ \"sig\" : \"" D_SIG
	                   "\" ,\n\"fields\":{ \"z\" : \"1\" , \"a\":\"2\","
	                   "\"m\":\"3\"} , \"id\":\"i\",\"ts\" : 1779364800000000 ,\"topic\":\"t\","
	                   "\"kid\":\"" D_KID "\",\"v\":1 } \n\t\r",
	                   &m));
	assert_int_equal(m.ts_us, INT64_C(1779364800000000));
	assert_int_equal(m.nfields, 3);
	assert_string_equal(m.fields[0].key, "a");
	assert_string_equal(m.fields[1].key, "m");
	assert_string_equal(m.fields[2].key, "z");
	assert_string_equal(envelope_get(&m, "z")->value, "1");
	envelope_msg_clear(&m);
	/* The largest ts. */
	assert_null(decode("{\"v\":1,\"kid\":\"" D_KID
	                   "\",\"topic\":\"t\",\"ts\":9223372036854775807,"
	                   "\"id\":\"i\",\"fields\":{\"a\":\"b\"},\"sig\":\"" D_SIG "\"}",
	                   &m));
	assert_int_equal(m.ts_us, INT64_MAX);
	envelope_msg_clear(&m);
	/* 16 fields, names of 64 bytes. */
	assert_null(
	    decode(ENV("{\"a\":\"\",\"b\":\"\",\"c\":\"\",\"d\":\"\",\"e\":\"\",\"f\":\"\","
	               "\"g\":\"\",\"h\":\"\",\"i\":\"\",\"j\":\"\",\"k\":\"\",\"l\":\"\","
	               "\"m\":\"\",\"n\":\"\",\"o\":\"\",\"0123456789012345678901234567890123"
	               "456789012345678901234567890123\":\"\"}"),
	           &m));
	assert_int_equal(m.nfields, 16);
	assert_int_equal(m.fields[0].key_len, 64);
	envelope_msg_clear(&m);
}

static void test_decode_refuses(void **state)
{
	(void)state;
	static const struct {
		const char *text, *why;
	} cases[] = {
	    /* NUL, raw or escaped, in a value or a name. */
	    {ENV("{\"a\":\"b\\u0000\"}"), "not JSON"},
	    {ENV("{\"a\\u0000\":\"b\"}"), "not JSON"},
	    /* Lone surrogates, and a high one with something else after. */
	    {ENV("{\"a\":\"\\ud800\"}"), "not JSON"},
	    {ENV("{\"a\":\"\\udc00\\ud800\"}"), "not JSON"},
	    {ENV("{\"a\":\"\\ud800\\u0041\"}"), "not JSON"},
	    {ENV("{\"a\":\"\\ud800x\"}"), "not JSON"},
	    /* Invalid UTF-8: a stray byte, a truncated sequence, an overlong
	     * form, an encoded surrogate, beyond U+10FFFF. */
	    {ENV("{\"a\":\"\xff\"}"), "not JSON"},
	    {ENV("{\"a\":\"\xc3\"}"), "not JSON"},
	    {ENV("{\"a\":\"\xc0\xaf\"}"), "not JSON"},
	    {ENV("{\"a\":\"\xed\xa0\x80\"}"), "not JSON"},
	    {ENV("{\"a\":\"\xf4\x90\x80\x80\"}"), "not JSON"},
	    /* Control characters, bad escapes. */
	    {ENV("{\"a\":\"\t\"}"), "not JSON"},
	    {ENV("{\"a\":\"\\x\"}"), "not JSON"},
	    {ENV("{\"a\":\"\\u12\"}"), "not JSON"},
	    /* Duplicate names: in fields (also when spelled differently), at
	     * the top level, in a nested object anywhere. */
	    {ENV("{\"a\":\"1\",\"a\":\"2\"}"), "not JSON"},
	    {ENV("{\"a\":\"1\",\"\\u0061\":\"2\"}"), "not JSON"},
	    {D_HEAD "\"fields\":{\"a\":\"b\"},\"id\":\"i\"" D_TAIL, "not JSON"},
	    {ENV("{\"a\":{\"x\":1,\"x\":2}}"), "not JSON"},
	    /* v and ts are integers: 1.0 or 1e0 are reals. */
	    {"{\"v\":1.0,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":1,\"id\":\"i\",\"fields\":{"
	     "\"a\":\"b\"}" D_TAIL,
	     "unsupported version"},
	    {"{\"v\":1e0,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":1,\"id\":\"i\",\"fields\":{"
	     "\"a\":\"b\"}" D_TAIL,
	     "unsupported version"},
	    {"{\"v\":1,\"kid\":\"" D_KID
	     "\",\"topic\":\"t\",\"ts\":1.5e15,\"id\":\"i\",\"fields\":{"
	     "\"a\":\"b\"}" D_TAIL,
	     "bad ts"},
	    {"{\"v\":1,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":0,\"id\":\"i\",\"fields\":{"
	     "\"a\":\"b\"}" D_TAIL,
	     "bad ts"},
	    /* Out of range: an integer beyond int64, a real beyond a double
	     * (DBL_MAX itself is a real, so the version is what is wrong). */
	    {"{\"v\":1,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":9223372036854775808,\"id\":"
	     "\"i\",\"fields\":{\"a\":\"b\"}" D_TAIL,
	     "not JSON"},
	    {"{\"v\":1.7976931348623159e308,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":1,\"id\":"
	     "\"i\",\"fields\":{\"a\":\"b\"}" D_TAIL,
	     "not JSON"},
	    {"{\"v\":1.7976931348623158e308,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":1,\"id\":"
	     "\"i\",\"fields\":{\"a\":\"b\"}" D_TAIL,
	     "unsupported version"},
	    {"{\"v\":01,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":1,\"id\":\"i\",\"fields\":{"
	     "\"a\":\"b\"}" D_TAIL,
	     "not JSON"},
	    /* Anything but whitespace after the object. */
	    {ENV("{\"a\":\"b\"}") " x", "not JSON"},
	    {ENV("{\"a\":\"b\"}") "}", "not JSON"},
	    {ENV("{\"a\":\"b\"}") "{}", "not JSON"},
	    /* A field that is not a string. */
	    {ENV("{\"a\":{\"b\":\"c\"}}"), "bad field"},
	    {ENV("{\"a\":[\"b\"]}"), "bad field"},
	    {ENV("{\"a\":null}"), "bad field"},
	    {ENV("{\"\":\"b\"}"), "bad field"},
	    {ENV("{}"), "fields must be an object of 1..16 strings"},
	    {ENV("[\"a\"]"), "fields must be an object of 1..16 strings"},
	    /* Not 7 members. */
	    {D_HEAD "\"fields\":{\"a\":\"b\"},\"x\":1" D_TAIL,
	     "not an object of exactly v, kid, topic, ts, id, fields, sig"},
	    {"{\"v\":1,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":1,\"id\":\"i\",\"fields\":{"
	     "\"a\":\"b\"}}",
	     "not an object of exactly v, kid, topic, ts, id, fields, sig"},
	    /* 7 members, one of them unknown: what is missing is refused. */
	    {"{\"v\":1,\"kid\":\"" D_KID "\",\"topic\":\"t\",\"ts\":1,\"id\":\"i\",\"fields\":{"
	     "\"a\":\"b\"},\"sog\":\"" D_SIG "\"}",
	     "bad sig"},
	    {"[1,2,3,4,5,6,7]", "not an object of exactly v, kid, topic, ts, id, fields, sig"},
	    {"\"v\"", "not JSON"},
	    {" ", "not JSON"},
	    {ENV("{\"a\":\"b\",}"), "not JSON"},
	    {"{\"v\":1,\"kid\":", "not JSON"},
	    {ENV("{\"a\":[1,]}"), "not JSON"},
	    {ENV("{\"a\":tru}"), "not JSON"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *why = decode(cases[i].text, NULL);
		if (why == NULL || strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: %s: got %s, want %s", i, cases[i].text,
			         why != NULL ? why : "OK", cases[i].why);
	}
	/* A raw NUL byte. */
	static const char nul[] = ENV("{\"a\":\"b\"}");
	char t[sizeof nul + 1];
	memcpy(t, nul, sizeof nul);
	assert_string_equal(decode_n(t, sizeof nul, NULL), "not JSON"); /* after the object */
	char *p = strstr(t, "\"ts\":1") + 6;
	memmove(p + 1, p, (size_t)(t + sizeof nul - p));
	*p = '\0'; /* after a number: jansson dropped it, but it is not JSON */
	assert_string_equal(decode_n(t, sizeof nul, NULL), "not JSON");
}

static void test_decode_nesting(void **state)
{
	(void)state;
	/* Nested values are validated to jansson's depth limit (2048 levels,
	 * the envelope itself the first): a field value at depth 3. */
	size_t depth_ok = 2048 - 2, n = sizeof ENV("") + 2 * 2048 + 16;
	char *t = malloc(n), *p;
	assert_non_null(t);
	for (int deeper = 0; deeper <= 1; deeper++) {
		size_t d = depth_ok + (size_t)deeper;
		p = t + sprintf(t, "%s\"fields\":{\"a\":", D_HEAD);
		memset(p, '[', d);
		p += d;
		memset(p, ']', d);
		p += d;
		p += sprintf(p, "}%s", D_TAIL);
		assert_string_equal(decode(t, NULL), deeper ? "not JSON" : "bad field");
	}
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_topic_swap),
	    cmocka_unit_test(test_field_edits),
	    cmocka_unit_test(test_wrong_key),
	    cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_replay_table_bounded),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_seal_refuses),
	    cmocka_unit_test(test_mac_input_injective),
	    cmocka_unit_test(test_transport_time),
	    cmocka_unit_test(test_decode_escapes),
	    cmocka_unit_test(test_decode_spelling),
	    cmocka_unit_test(test_decode_refuses),
	    cmocka_unit_test(test_decode_nesting),
	};
	return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
