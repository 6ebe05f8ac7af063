/*
 * envelope.h — the signed envelope every stream message travels in
 * (ARCHITECTURE §6, invariant 3). The stream plugins carry it as an opaque
 * payload; the core seals before publish and opens (verifies) on delivery,
 * so no plugin can skip or weaken the check.
 *
 * Wire format (v1): one compact JSON object, UTF-8, with exactly these keys
 *
 *   {"v":1,"kid":"<16 hex>","topic":"<topic>","ts":<int64 µs since epoch>,
 *    "id":"<message id>","fields":{"<key>":"<value>",...},"sig":"<64 hex>"}
 *
 * The JSON text itself is NOT what is MACed (JSON has many spellings of one
 * value). sig is lowercase hex HMAC-SHA256(key, M) over the canonical,
 * injective byte string
 *
 *   M = "caracal.stream.v1" 0x00
 *       u32be(len kid)   kid
 *       u32be(len topic) topic
 *       u64be(ts)
 *       u32be(len id)    id
 *       u32be(n fields)
 *       n x { u32be(len key) key  u32be(len value) value }   keys in bytewise order
 *
 * Every variable-length item is length-prefixed, so no value can be made to
 * look like a field boundary (the reference's "k=v\n" form was not injective,
 * audit-ops §2.3 BUG?). The domain tag and the version keep an envelope MAC
 * from ever being valid as any other MAC made with the same key. kid binds the
 * signature to one key of the keyring (rotation: several keys verify, one
 * signs).
 *
 * Why JSON and not a binary TLV: the payload is readable where operators look
 * at it (redis-cli XRANGE, the DLQ, the spool), and since the MAC is over M
 * the JSON spelling does not matter. The decoder is a dedicated single-pass
 * one (a general JSON tree was most of the audit writer's profile) and is
 * strict: exactly the JSON texts jansson's json_loadb would accept (any
 * whitespace, member order and string escapes), exact key set, no duplicate
 * keys, no NUL, valid UTF-8, bounded sizes and counts.
 * tests/fuzz/fuzz_envelope.c fuzzes it against the jansson-based decoder it
 * replaced.
 *
 * Opening a message checks, in order: structure, kid known, MAC (constant
 * time), topic equals the topic it was delivered on, freshness, replay.
 *
 * Freshness: |ts - received| <= window, where received is the time the
 * transport accepted the message, read from its transport id "<ms>-<seq>"
 * (both stream plugins assign monotonic ids from their clock, and Redis never
 * accepts an id below the last one, so a captured message published again gets
 * a fresh receive time and fails the window). With no parsable transport id,
 * received = now. In addition ts may never lie more than window in the
 * future of now. Checking against the receive time rather than now means a
 * message that legitimately waits in a pending list (a sink was down for an
 * hour) still opens when it is finally delivered, while a replayed capture
 * does not.
 *
 * Replay: a bounded table of message ids seen (with the transport id they
 * came with). The same id under the same transport id is a redelivery (at
 * least once) and passes; under another transport id it is a replay. Entries
 * older than twice the window behind the newest receive time are forgotten
 * (such a copy can no longer pass the window); when the table is full the
 * oldest entry is evicted and its ts becomes a floor: an id not in the table
 * with ts <= floor is refused (fail closed, reason replay_cache_overflow)
 * rather than accepted unchecked.
 */
#ifndef CARACAL_CORE_STREAM_ENVELOPE_H
#define CARACAL_CORE_STREAM_ENVELOPE_H

#include <caracal/common.h>

#include <pthread.h>

#define ENVELOPE_VERSION 1
#define ENVELOPE_MAX_BYTES (8u << 20) /* the whole encoded envelope */
#define ENVELOPE_MAX_FIELDS 16
#define ENVELOPE_KEY_MAX 64    /* bytes of a field name */
#define ENVELOPE_ID_MAX 64     /* bytes of a message id */
#define ENVELOPE_TOPIC_MAX 255 /* bytes of a topic */
#define ENVELOPE_KID_LEN 16    /* hex characters of a key id */
#define ENVELOPE_HMAC_KEY_MIN 32
#define ENVELOPE_HMAC_KEY_MAX 256
#define ENVELOPE_MAX_KEYS 4

typedef struct envelope_field {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
} envelope_field;

/* A decoded envelope. Strings point into memory the message owns; release
 * with envelope_msg_clear(). */
typedef struct envelope_msg {
	char *buf_; /* the decoded strings, NUL-terminated (one allocation) */
	int version;
	char kid[ENVELOPE_KID_LEN + 1];
	const char *topic;
	int64_t ts_us;
	const char *id;
	size_t nfields;
	envelope_field fields[ENVELOPE_MAX_FIELDS]; /* sorted by key, bytewise */
	unsigned char sig[32];
} envelope_msg;

/* Structure only (no key needed): strict decode into out. INVAL with a
 * message on any deviation. out needs envelope_msg_clear() on success and is
 * left cleared on failure. This is the fuzzed entry point. */
int envelope_decode(const void *buf, size_t len, envelope_msg *out, caracal_error *err);
void envelope_msg_clear(envelope_msg *m);

/* The field named key, or NULL. */
const envelope_field *envelope_get(const envelope_msg *m, const char *key);

/* The MAC input M above, malloc'd (tests use it to forge). */
unsigned char *envelope_mac_input(const char *kid, const char *topic, int64_t ts_us, const char *id,
                                  const envelope_field *sorted_fields, size_t n, size_t *len);

/* ------------------------------------------------------------ keys, replay */

typedef struct envelope_keyring envelope_keyring;

/* window_ms: the freshness window (> 0). replay_capacity: ids remembered. */
envelope_keyring *envelope_keyring_new(int64_t window_ms, size_t replay_capacity);
void envelope_keyring_free(envelope_keyring *kr);

/* Add a key (ENVELOPE_HMAC_KEY_MIN..MAX bytes; copied, zeroised on free).
 * The key used to seal is the last one added with signing != 0. Its kid is
 * the first 8 bytes of HMAC-SHA256(key, "caracal.stream.kid") in hex, so it
 * names the key without revealing anything about it. */
int envelope_keyring_add(envelope_keyring *kr, const unsigned char *key, size_t len, int signing,
                         caracal_error *err);

/* The kid of the signing key ("" when none). */
const char *envelope_keyring_kid(const envelope_keyring *kr);

/* Seal fields (any order; keys unique, values valid UTF-8 without NUL) into
 * an envelope for topic. *out is malloc'd, not NUL-terminated; free() it. */
int envelope_seal(const envelope_keyring *kr, const char *topic, int64_t ts_us, const char *id,
                  const envelope_field *fields, size_t n, char **out, size_t *out_len,
                  caracal_error *err);

/* Why a message did not open (stable strings: DLQ reasons, metric labels). */
#define ENVELOPE_R_MALFORMED "malformed"
#define ENVELOPE_R_UNKNOWN_KEY "unknown_key"
#define ENVELOPE_R_BAD_SIGNATURE "bad_signature"
#define ENVELOPE_R_TOPIC "topic_mismatch"
#define ENVELOPE_R_WINDOW "outside_window"
#define ENVELOPE_R_REPLAY "replay"
#define ENVELOPE_R_OVERFLOW "replay_cache_overflow"

/*
 * Decode and verify buf as delivered on topic with transport_id (may be
 * NULL) at now_us. OK: out holds the message (clear it). Otherwise out is
 * cleared, *reason (may be NULL) is one of ENVELOPE_R_* and the status is
 * INVAL (malformed) or INTEGRITY (everything else). Thread-safe.
 */
int envelope_open(envelope_keyring *kr, const void *buf, size_t len, const char *topic,
                  const char *transport_id, int64_t now_us, envelope_msg *out, const char **reason,
                  caracal_error *err);

/* "<ms>-<seq>" -> ms in µs; -1 when not of that form. */
int64_t envelope_transport_time_us(const char *transport_id);

#endif
