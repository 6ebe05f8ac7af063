/* envelope.c — see envelope.h. */
#include "stream/envelope.h"
#include "stream/envelope_int.h"
#include "util/fnv.h"
#include "util/hex.h"
#include "util/jsonw.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define DOMAIN_TAG "caracal.stream.v1"
#define KID_LABEL "caracal.stream.kid"
#define TRANSPORT_ID_MAX 48

/* ------------------------------------------------------------ encoding */
int envelope_field_cmp(const void *a, const void *b)
{
	const envelope_field *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);
	if (c != 0)
		return c;
	return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static unsigned char *put32(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return p + 4;
}

static unsigned char *put_bytes(unsigned char *p, const void *s, size_t n)
{
	p = put32(p, n);
	if (n > 0)
		memcpy(p, s, n);
	return p + n;
}

unsigned char *envelope_mac_input(const char *kid, const char *topic, int64_t ts_us, const char *id,
                                  const envelope_field *f, size_t n, size_t *len)
{
	size_t kl = strlen(kid), tl = strlen(topic), il = strlen(id);
	size_t total = sizeof DOMAIN_TAG + 4 + kl + 4 + tl + 8 + 4 + il + 4;
	for (size_t i = 0; i < n; i++)
		total += 8 + f[i].key_len + f[i].value_len;
	unsigned char *buf = malloc(total), *p = buf;
	if (buf == NULL)
		return NULL;
	memcpy(p, DOMAIN_TAG, sizeof DOMAIN_TAG); /* with its NUL */
	p += sizeof DOMAIN_TAG;
	p = put_bytes(p, kid, kl);
	p = put_bytes(p, topic, tl);
	uint64_t ts = (uint64_t)ts_us;
	for (int i = 7; i >= 0; i--)
		*p++ = (unsigned char)(ts >> (8 * i));
	p = put_bytes(p, id, il);
	p = put32(p, n);
	for (size_t i = 0; i < n; i++) {
		p = put_bytes(p, f[i].key, f[i].key_len);
		p = put_bytes(p, f[i].value, f[i].value_len);
	}
	*len = (size_t)(p - buf);
	return buf;
}

/* Printable ASCII without spaces: topics, ids and kids are names. */
int envelope_is_name(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* ------------------------------------------------------------ keyring */

struct replay_entry {
	char id[ENVELOPE_ID_MAX + 1];
	char tid[TRANSPORT_ID_MAX + 1];
	int64_t ts_us;
	uint32_t hash;
	uint32_t used;
};

struct envelope_keyring {
	struct {
		unsigned char key[ENVELOPE_HMAC_KEY_MAX];
		size_t len;
		char kid[ENVELOPE_KID_LEN + 1];
		/* Keyed HMAC-SHA256, never used directly: each MAC dup's it (a
		 * one-shot HMAC() re-fetches the algorithm and re-keys every
		 * call, which dominated the audit writer's profile). */
		EVP_MAC_CTX *tmpl;
	} keys[ENVELOPE_MAX_KEYS];
	size_t nkeys;
	int signer; /* index, -1 when none */
	int64_t window_us;

	pthread_mutex_t lock; /* the replay table */
	size_t cap;           /* slots in the FIFO ring; the hash has 2 * cap */
	struct replay_entry *ring;
	size_t head, count;
	uint32_t *index; /* open addressing: ring position + 1, 0 empty */
	size_t index_cap;
	int64_t high_water_us; /* newest receive time seen */
	int64_t floor_us;      /* ts at or below which an unknown id is refused */
};

envelope_keyring *envelope_keyring_new(int64_t window_ms, size_t replay_capacity)
{
	if (window_ms <= 0 || replay_capacity == 0 || replay_capacity > (1u << 24))
		return NULL;
	envelope_keyring *kr = calloc(1, sizeof *kr);
	if (kr == NULL)
		return NULL;
	kr->signer = -1;
	kr->window_us = window_ms * 1000;
	kr->cap = replay_capacity;
	kr->index_cap = 1;
	while (kr->index_cap < 2 * replay_capacity)
		kr->index_cap <<= 1;
	kr->ring = calloc(kr->cap, sizeof *kr->ring);
	kr->index = calloc(kr->index_cap, sizeof *kr->index);
	if (kr->ring == NULL || kr->index == NULL) {
		free(kr->ring);
		free(kr->index);
		free(kr);
		return NULL;
	}
	pthread_mutex_init(&kr->lock, NULL);
	return kr;
}

void envelope_keyring_free(envelope_keyring *kr)
{
	if (kr == NULL)
		return;
	for (size_t i = 0; i < kr->nkeys; i++)
		EVP_MAC_CTX_free(kr->keys[i].tmpl);
	OPENSSL_cleanse(kr->keys, sizeof kr->keys);
	pthread_mutex_destroy(&kr->lock);
	free(kr->ring);
	free(kr->index);
	free(kr);
}

int envelope_keyring_add(envelope_keyring *kr, const unsigned char *key, size_t len, int signing,
                         caracal_error *err)
{
	if (len < ENVELOPE_HMAC_KEY_MIN || len > ENVELOPE_HMAC_KEY_MAX)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "a stream HMAC key must be %d..%d bytes, not %zu",
		                         ENVELOPE_HMAC_KEY_MIN, ENVELOPE_HMAC_KEY_MAX, len);
	if (kr->nkeys == ENVELOPE_MAX_KEYS)
		return caracal_error_set(err, CARACAL_E_TOOBIG, "at most %d stream keys",
		                         ENVELOPE_MAX_KEYS);
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (HMAC(EVP_sha256(), key, (int)len, (const unsigned char *)KID_LABEL,
	         sizeof KID_LABEL - 1, md, &mdlen) == NULL)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "HMAC failed");
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *tmpl = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac); /* the context holds its own reference */
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
	                       OSSL_PARAM_construct_end()};
	if (tmpl == NULL || EVP_MAC_init(tmpl, key, len, params) != 1) {
		EVP_MAC_CTX_free(tmpl);
		return caracal_error_set(err, CARACAL_E_INTERNAL, "cannot key HMAC-SHA256");
	}
	size_t i = kr->nkeys++;
	kr->keys[i].tmpl = tmpl;
	memcpy(kr->keys[i].key, key, len);
	kr->keys[i].len = len;
	hex_encode(md, ENVELOPE_KID_LEN / 2, kr->keys[i].kid);
	if (signing)
		kr->signer = (int)i;
	return CARACAL_OK;
}

const char *envelope_keyring_kid(const envelope_keyring *kr)
{
	return kr->signer >= 0 ? kr->keys[kr->signer].kid : "";
}

static int compute_mac(const EVP_MAC_CTX *tmpl, const char *kid, const char *topic, int64_t ts,
                       const char *id, const envelope_field *f, size_t n, unsigned char out[32])
{
	size_t len;
	unsigned char *m = envelope_mac_input(kid, topic, ts, id, f, n, &len);
	if (m == NULL)
		return CARACAL_E_NOMEM;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(tmpl);
	size_t mdlen = 0;
	int ok = ctx != NULL && EVP_MAC_update(ctx, m, len) == 1 &&
	         EVP_MAC_final(ctx, out, &mdlen, 32) == 1 && mdlen == 32;
	EVP_MAC_CTX_free(ctx);
	free(m);
	return ok ? CARACAL_OK : CARACAL_E_INTERNAL;
}

int envelope_seal(const envelope_keyring *kr, const char *topic, int64_t ts_us, const char *id,
                  const envelope_field *fields, size_t n, char **out, size_t *out_len,
                  caracal_error *err)
{
	*out = NULL;
	if (kr->signer < 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "no stream signing key");
	if (!envelope_is_name(topic, strlen(topic), ENVELOPE_TOPIC_MAX) ||
	    !envelope_is_name(id, strlen(id), ENVELOPE_ID_MAX) || ts_us <= 0 || n == 0 ||
	    n > ENVELOPE_MAX_FIELDS)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "bad envelope topic, id, ts or fields");
	envelope_field sorted[ENVELOPE_MAX_FIELDS];
	memcpy(sorted, fields, n * sizeof *fields);
	qsort(sorted, n, sizeof *sorted, envelope_field_cmp);
	int rc = CARACAL_OK;
	for (size_t i = 0; i < n && rc == CARACAL_OK; i++) {
		if (sorted[i].key_len == 0 || sorted[i].key_len > ENVELOPE_KEY_MAX ||
		    memchr(sorted[i].key, 0, sorted[i].key_len) != NULL ||
		    (i > 0 && envelope_field_cmp(&sorted[i - 1], &sorted[i]) == 0))
			rc = caracal_error_set(err, CARACAL_E_INVAL, "bad or duplicate field name");
		/* NUL is refused here, since the decoder will; invalid UTF-8 fails
		 * the writer below. */
		else if (memchr(sorted[i].value, 0, sorted[i].value_len) != NULL)
			rc = caracal_error_set(err, CARACAL_E_INVAL,
			                       "field %.*s is not UTF-8 text without NUL",
			                       (int)sorted[i].key_len, sorted[i].key);
	}
	const char *kid = kr->keys[kr->signer].kid;
	unsigned char mac[32];
	char sig[65];
	if (rc == CARACAL_OK) {
		rc = compute_mac(kr->keys[kr->signer].tmpl, kid, topic, ts_us, id, sorted, n, mac);
		if (rc != CARACAL_OK)
			caracal_error_set(err, rc, "cannot compute the envelope MAC");
	}
	if (rc != CARACAL_OK)
		return rc;
	hex_encode(mac, 32, sig);
	size_t estimate = 256; /* the frame, then each field and some escaping */
	for (size_t i = 0; i < n; i++)
		estimate += sorted[i].key_len + sorted[i].value_len + sorted[i].value_len / 8 + 8;
	jsonw w;
	jsonw_init_cap(&w, estimate);
	jsonw_object_begin(&w);
	jsonw_kint(&w, "v", ENVELOPE_VERSION);
	jsonw_kstr(&w, "kid", kid);
	jsonw_kstr(&w, "topic", topic);
	jsonw_kint(&w, "ts", ts_us);
	jsonw_kstr(&w, "id", id);
	jsonw_key(&w, "fields");
	jsonw_object_begin(&w);
	for (size_t i = 0; i < n; i++) {
		/* Keys are at most ENVELOPE_KEY_MAX bytes; copy to terminate. */
		char kbuf[ENVELOPE_KEY_MAX + 1];
		memcpy(kbuf, sorted[i].key, sorted[i].key_len);
		kbuf[sorted[i].key_len] = '\0';
		jsonw_key(&w, kbuf);
		jsonw_strn(&w, sorted[i].value, sorted[i].value_len);
	}
	jsonw_object_end(&w);
	jsonw_kstr(&w, "sig", sig);
	jsonw_object_end(&w);
	*out = jsonw_finish(&w, out_len);
	if (*out == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "cannot encode the envelope (a field is not UTF-8 text)");
	return CARACAL_OK;
}

/* ------------------------------------------------------------ replay table */

/* Index slot holding ring position pos + 1 for id, or the empty slot where
 * it would go. */
static size_t index_find(const envelope_keyring *kr, const char *id, uint32_t h, int *found)
{
	size_t mask = kr->index_cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t p = kr->index[i];
		if (p == 0) {
			*found = 0;
			return i;
		}
		const struct replay_entry *e = &kr->ring[p - 1];
		if (e->hash == h && strcmp(e->id, id) == 0) {
			*found = 1;
			return i;
		}
	}
}

/* Remove the index slot i, re-placing the cluster after it (linear probing
 * deletion without tombstones). */
static void index_delete(envelope_keyring *kr, size_t i)
{
	size_t mask = kr->index_cap - 1;
	kr->index[i] = 0;
	for (size_t j = (i + 1) & mask; kr->index[j] != 0; j = (j + 1) & mask) {
		uint32_t p = kr->index[j];
		kr->index[j] = 0;
		int found;
		size_t k = index_find(kr, kr->ring[p - 1].id, kr->ring[p - 1].hash, &found);
		kr->index[k] = p;
	}
}

static void evict_head(envelope_keyring *kr, int raise_floor)
{
	struct replay_entry *e = &kr->ring[kr->head];
	int found;
	size_t i = index_find(kr, e->id, e->hash, &found);
	if (found)
		index_delete(kr, i);
	if (raise_floor && e->ts_us > kr->floor_us)
		kr->floor_us = e->ts_us;
	e->used = 0;
	kr->head = (kr->head + 1) % kr->cap;
	kr->count--;
}

/* Check id and remember it. Returns NULL when fine, else a reason. */
static const char *replay_check(envelope_keyring *kr, const char *id, const char *tid,
                                int64_t ts_us, int64_t received_us)
{
	const char *reason = NULL;
	uint32_t h = fnv1a32(id, strlen(id)); /* ids are signed: not attacker-chosen */
	pthread_mutex_lock(&kr->lock);
	if (received_us > kr->high_water_us)
		kr->high_water_us = received_us;
	/* Forget what can no longer pass the window (FIFO order is receive
	 * order, near enough; stragglers go at the next pass). */
	while (kr->count > 0 && kr->ring[kr->head].ts_us < kr->high_water_us - 2 * kr->window_us)
		evict_head(kr, 0);
	int found;
	size_t slot = index_find(kr, id, h, &found);
	if (found) {
		const struct replay_entry *e = &kr->ring[kr->index[slot] - 1];
		if (tid == NULL || strcmp(e->tid, tid) != 0)
			reason = ENVELOPE_R_REPLAY;
		goto out;
	}
	if (ts_us <= kr->floor_us) {
		reason = ENVELOPE_R_OVERFLOW;
		goto out;
	}
	if (kr->count == kr->cap) {
		evict_head(kr, 1);
		slot = index_find(kr, id, h, &found);
	}
	size_t pos = (kr->head + kr->count) % kr->cap;
	struct replay_entry *e = &kr->ring[pos];
	snprintf(e->id, sizeof e->id, "%s", id);
	snprintf(e->tid, sizeof e->tid, "%s", tid != NULL ? tid : "");
	e->ts_us = ts_us;
	e->hash = h;
	e->used = 1;
	kr->count++;
	kr->index[slot] = (uint32_t)pos + 1;
out:
	pthread_mutex_unlock(&kr->lock);
	return reason;
}

int64_t envelope_transport_time_us(const char *tid)
{
	if (tid == NULL)
		return -1;
	int64_t ms = 0;
	const char *p = tid;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (ms > (INT64_MAX / 1000 - 9) / 10)
			return -1;
		ms = ms * 10 + (*p - '0');
	}
	if (*p != '-' || p[1] < '0' || p[1] > '9')
		return -1;
	for (p++; *p >= '0' && *p <= '9'; p++)
		;
	return *p == '\0' ? ms * 1000 : -1;
}

/* ------------------------------------------------------------ open */

static int refuse(envelope_msg *out, const char **reason, const char *why, int code,
                  caracal_error *err, const char *msg)
{
	envelope_msg_clear(out);
	if (reason != NULL)
		*reason = why;
	return caracal_error_set(err, code, "%s", msg);
}

int envelope_open(envelope_keyring *kr, const void *buf, size_t len, const char *topic,
                  const char *transport_id, int64_t now_us, envelope_msg *out, const char **reason,
                  caracal_error *err)
{
	if (reason != NULL)
		*reason = NULL;
	if (envelope_decode(buf, len, out, err) != CARACAL_OK) {
		if (reason != NULL)
			*reason = ENVELOPE_R_MALFORMED;
		return CARACAL_E_INVAL;
	}
	int key = -1;
	for (size_t i = 0; i < kr->nkeys; i++)
		if (memcmp(kr->keys[i].kid, out->kid, ENVELOPE_KID_LEN) == 0)
			key = (int)i;
	if (key < 0) {
		char msg[80];
		snprintf(msg, sizeof msg, "stream envelope signed with unknown key id %s",
		         out->kid);
		return refuse(out, reason, ENVELOPE_R_UNKNOWN_KEY, CARACAL_E_INTEGRITY, err, msg);
	}
	unsigned char mac[32];
	int rc = compute_mac(kr->keys[key].tmpl, out->kid, out->topic, out->ts_us, out->id,
	                     out->fields, out->nfields, mac);
	if (rc != CARACAL_OK)
		return refuse(out, reason, ENVELOPE_R_MALFORMED, rc, err,
		              "cannot compute the envelope MAC");
	int ok = CRYPTO_memcmp(mac, out->sig, sizeof mac) == 0;
	OPENSSL_cleanse(mac, sizeof mac);
	if (!ok)
		return refuse(out, reason, ENVELOPE_R_BAD_SIGNATURE, CARACAL_E_INTEGRITY, err,
		              "stream envelope signature does not verify");
	if (strcmp(out->topic, topic) != 0)
		return refuse(out, reason, ENVELOPE_R_TOPIC, CARACAL_E_INTEGRITY, err,
		              "stream envelope for another topic");
	int64_t received = envelope_transport_time_us(transport_id);
	if (received < 0)
		received = now_us;
	int64_t w = kr->window_us;
	if (out->ts_us > now_us + w || out->ts_us > received + w || out->ts_us < received - w)
		return refuse(out, reason, ENVELOPE_R_WINDOW, CARACAL_E_INTEGRITY, err,
		              "stream envelope outside the freshness window");
	if (transport_id != NULL && strlen(transport_id) > TRANSPORT_ID_MAX)
		return refuse(out, reason, ENVELOPE_R_MALFORMED, CARACAL_E_INVAL, err,
		              "transport id too long");
	const char *why = replay_check(kr, out->id, transport_id, out->ts_us, received);
	if (why != NULL)
		return refuse(out, reason, why, CARACAL_E_INTEGRITY, err,
		              strcmp(why, ENVELOPE_R_REPLAY) == 0
		                  ? "stream envelope replayed (id already seen)"
		                  : "stream envelope too old for the replay table");
	return CARACAL_OK;
}
