/* fuzz_envelope.c — libFuzzer target for core/stream/envelope: the strict
 * decoder, and envelope_open with a fixed key (MAC, topic, window, replay
 * table), so a mutated valid envelope walks every refusal path.
 *
 * The decoder is also checked against reference_decode, the jansson-based
 * decoder it replaced: both must accept the same texts with the same values
 * and refuse the same texts with the same message (abort otherwise).
 *
 * Input: the envelope bytes; if it contains a 0x01 byte, what follows the
 * last one is used as the transport id. */
#include "stream/envelope.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ reference */

static int ref_hex_nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int ref_is_name(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int ref_field_cmp(const void *a, const void *b)
{
	const envelope_field *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);
	if (c != 0)
		return c;
	return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static int ref_bad(json_t **root, envelope_msg *m, caracal_error *err, const char *what)
{
	json_decref(*root);
	*root = NULL;
	memset(m, 0, sizeof *m);
	return caracal_error_set(err, CARACAL_E_INVAL, "malformed stream envelope: %s", what);
}

/* The decoder as it was before the hand-written one: out's strings point
 * into *rootp (json_decref it on success; NULL on failure). */
static int reference_decode(const void *buf, size_t len, envelope_msg *out, json_t **rootp,
                            caracal_error *err)
{
	memset(out, 0, sizeof *out);
	*rootp = NULL;
	if (buf == NULL || len == 0)
		return ref_bad(rootp, out, err, "empty");
	if (len > ENVELOPE_MAX_BYTES)
		return ref_bad(rootp, out, err, "too big");
	json_error_t je;
	/* No NUL inside strings (JSON_ALLOW_NUL unset), no duplicate keys. */
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return ref_bad(rootp, out, err, "not JSON");
	*rootp = root;
	if (!json_is_object(root) || json_object_size(root) != 7)
		return ref_bad(rootp, out, err,
		               "not an object of exactly v, kid, topic, ts, id, fields, sig");

	json_t *v = json_object_get(root, "v");
	json_t *kid = json_object_get(root, "kid");
	json_t *topic = json_object_get(root, "topic");
	json_t *ts = json_object_get(root, "ts");
	json_t *id = json_object_get(root, "id");
	json_t *fields = json_object_get(root, "fields");
	json_t *sig = json_object_get(root, "sig");
	if (!json_is_integer(v) || json_integer_value(v) != ENVELOPE_VERSION)
		return ref_bad(rootp, out, err, "unsupported version");
	out->version = ENVELOPE_VERSION;

	if (!json_is_string(kid) || json_string_length(kid) != ENVELOPE_KID_LEN)
		return ref_bad(rootp, out, err, "bad kid");
	const char *k = json_string_value(kid);
	for (size_t i = 0; i < ENVELOPE_KID_LEN; i++)
		if (ref_hex_nibble(k[i]) < 0)
			return ref_bad(rootp, out, err, "bad kid");
	memcpy(out->kid, k, ENVELOPE_KID_LEN + 1);

	if (!json_is_string(topic) ||
	    !ref_is_name(json_string_value(topic), json_string_length(topic), ENVELOPE_TOPIC_MAX))
		return ref_bad(rootp, out, err, "bad topic");
	out->topic = json_string_value(topic);

	if (!json_is_integer(ts) || json_integer_value(ts) <= 0)
		return ref_bad(rootp, out, err, "bad ts");
	out->ts_us = (int64_t)json_integer_value(ts);

	if (!json_is_string(id) ||
	    !ref_is_name(json_string_value(id), json_string_length(id), ENVELOPE_ID_MAX))
		return ref_bad(rootp, out, err, "bad id");
	out->id = json_string_value(id);

	if (!json_is_string(sig) || json_string_length(sig) != 64)
		return ref_bad(rootp, out, err, "bad sig");
	const char *s = json_string_value(sig);
	for (size_t i = 0; i < 32; i++) {
		int hi = ref_hex_nibble(s[2 * i]), lo = ref_hex_nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return ref_bad(rootp, out, err, "bad sig");
		out->sig[i] = (unsigned char)(hi << 4 | lo);
	}

	if (!json_is_object(fields) || json_object_size(fields) == 0 ||
	    json_object_size(fields) > ENVELOPE_MAX_FIELDS)
		return ref_bad(rootp, out, err, "fields must be an object of 1..16 strings");
	const char *key;
	json_t *val;
	size_t n = 0;
	json_object_foreach(fields, key, val)
	{
		size_t kl = strlen(key); /* jansson keys hold no NUL (JSON_ALLOW_NUL unset) */
		if (!json_is_string(val) || kl == 0 || kl > ENVELOPE_KEY_MAX)
			return ref_bad(rootp, out, err, "bad field");
		out->fields[n].key = key;
		out->fields[n].key_len = kl;
		out->fields[n].value = json_string_value(val);
		out->fields[n].value_len = json_string_length(val);
		n++;
	}
	out->nfields = n;
	qsort(out->fields, n, sizeof out->fields[0], ref_field_cmp);
	return CARACAL_OK;
}

/* ------------------------------------------------------------ differential */

static int same_bytes(const char *a, size_t al, const char *b, size_t bl)
{
	return al == bl && memcmp(a, b, al) == 0;
}

/* Whether two decoded messages hold the same values, byte for byte. */
static int same_msg(const envelope_msg *a, const envelope_msg *b)
{
	if (a->version != b->version || memcmp(a->kid, b->kid, sizeof a->kid) != 0 ||
	    strcmp(a->topic, b->topic) != 0 || a->ts_us != b->ts_us || strcmp(a->id, b->id) != 0 ||
	    memcmp(a->sig, b->sig, sizeof a->sig) != 0 || a->nfields != b->nfields)
		return 0;
	for (size_t i = 0; i < a->nfields; i++) {
		const envelope_field *x = &a->fields[i], *y = &b->fields[i];
		if (!same_bytes(x->key, x->key_len, y->key, y->key_len) ||
		    !same_bytes(x->value, x->value_len, y->value, y->value_len) ||
		    strlen(x->key) != x->key_len || x->value[x->value_len] != '\0')
			return 0;
	}
	return 1;
}

/* Decode data with the new decoder; abort unless it ends as the reference
 * did (status and message; on success every value). */
static void expect_same(const uint8_t *data, size_t len, int rb, const caracal_error *eb,
                        const envelope_msg *b)
{
	envelope_msg a;
	caracal_error ea = {0};
	int ra = envelope_decode(data, len, &a, &ea);
	if (ra != rb)
		abort();
	if (ra != CARACAL_OK) {
		if (strcmp(ea.message, eb->message) != 0)
			abort();
		return;
	}
	if (!same_msg(&a, b))
		abort();
	envelope_msg_clear(&a);
}

static int not_json(int rc, const caracal_error *e)
{
	return rc != CARACAL_OK && strcmp(e->message, "malformed stream envelope: not JSON") == 0;
}

static void differential(const uint8_t *data, size_t len)
{
	envelope_msg a, b;
	caracal_error ea = {0}, eb = {0};
	json_t *root = NULL;
	int ra = envelope_decode(data, len, &a, &ea);
	int rb = reference_decode(data, len, &b, &root, &eb);
	if (ra == CARACAL_OK)
		envelope_msg_clear(&a);
	if (not_json(ra, &ea) && !not_json(rb, &eb) && memchr(data, 0, len) != NULL) {
		/* jansson loses a raw NUL byte that directly follows a number or
		 * a literal (its lexer pushes the byte back into a buffer where
		 * NUL means empty). Such text is not JSON and the new decoder
		 * refuses it; without those bytes it must agree. */
		uint8_t *t = malloc(len);
		size_t n = 0;
		if (t == NULL)
			abort();
		for (size_t i = 0; i < len; i++)
			if (!(data[i] == 0 && i > 0 &&
			      ((data[i - 1] >= '0' && data[i - 1] <= '9') ||
			       ((data[i - 1] | 0x20) >= 'a' && (data[i - 1] | 0x20) <= 'z'))))
				t[n++] = data[i];
		if (n == len)
			abort();
		expect_same(t, n, rb, &eb, &b);
		free(t);
	} else
		expect_same(data, len, rb, &eb, &b);
	json_decref(root);
}

/* ------------------------------------------------------------ target */

static envelope_keyring *kr;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (kr == NULL) {
		static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
		kr = envelope_keyring_new(300000, 64);
		if (kr == NULL || envelope_keyring_add(kr, key, sizeof key, 1, NULL) != CARACAL_OK)
			abort();
	}
	char tid[64];
	const char *tidp = NULL;
	size_t body = size;
	const uint8_t *sep = size > 0 ? memchr(data, 1, size) : NULL;
	if (sep != NULL) {
		const uint8_t *last = sep;
		while ((sep = memchr(last + 1, 1, size - (size_t)(last + 1 - data))) != NULL)
			last = sep;
		body = (size_t)(last - data);
		size_t n = size - body - 1;
		if (n < sizeof tid) {
			memcpy(tid, last + 1, n);
			tid[n] = '\0';
			tidp = tid;
		}
	}

	differential(data, body);

	envelope_msg m;
	caracal_error err;
	if (envelope_decode(data, body, &m, &err) == CARACAL_OK) {
		/* Everything decoded must be within its documented bounds. */
		if (m.nfields == 0 || m.nfields > ENVELOPE_MAX_FIELDS || strlen(m.id) == 0 ||
		    strlen(m.id) > ENVELOPE_ID_MAX || strlen(m.topic) > ENVELOPE_TOPIC_MAX ||
		    strlen(m.kid) != ENVELOPE_KID_LEN || m.ts_us <= 0)
			abort();
		for (size_t i = 1; i < m.nfields; i++)
			if (strcmp(m.fields[i - 1].key, m.fields[i].key) >= 0)
				abort();
		(void)envelope_get(&m, "data");
		envelope_msg_clear(&m);
	}
	const char *why = NULL;
	int rc = envelope_open(kr, data, body, "caracal.audit.events", tidp,
	                       INT64_C(1779364800000000), &m, &why, &err);
	if (rc == CARACAL_OK)
		envelope_msg_clear(&m);
	else if (why == NULL)
		abort();
	(void)envelope_transport_time_us(tidp);
	return 0;
}
