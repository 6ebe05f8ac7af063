/*
 * ledger.h — audit_file's on-disk format: record lines, checkpoints, the
 * canonical MAC encodings, zone names. Pure functions, no I/O, no host.
 *
 * Record line (one per record, '\n'-terminated, keys in this fixed order,
 * "event" last and embedded byte-for-byte as the core handed it over):
 *
 *   {"seq":N,"zone_id":"z","id":"i","event_type":"t","occurred_at":US,
 *    "prev":"<hex|empty>","hash":"<hex>","kid":"<8 hex>","event":{...}}
 *
 * hash = HMAC-SHA256(key, "caracal-audit-v1" || u64be(seq) ||
 *          lp(zone_id) || lp(id) || lp(event_type) || lp(decimal occurred_at) ||
 *          lp(prev) || lp(event))
 * where lp(x) = u32be(len x) || x. prev is the hex hash of the zone's
 * previous record, "" for seq 1. kid = first 8 hex digits of SHA-256(key).
 *
 * Checkpoint file (one line):
 *
 *   {"zone_id":"z","seq":N,"hash":"<hex>","at":US,"kid":"<8 hex>","mac":"<hex>"}
 *
 * mac = HMAC-SHA256(key, "caracal-audit-checkpoint-v1" || lp(zone_id) ||
 *          u64be(seq) || lp(hash) || u64be(at))
 *
 * Strings are JSON-escaped: '"', '\\' and bytes < 0x20 (as \u00XX); all
 * other bytes are written raw. The parser accepts exactly what the writer
 * produces, so any hand edit that changes bytes outside the MACed fields
 * makes the line unparseable rather than silently different.
 */
#ifndef AUDIT_FILE_LEDGER_H
#define AUDIT_FILE_LEDGER_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define AF_TAG_RECORD "caracal-audit-v1"
#define AF_TAG_CHECKPOINT "caracal-audit-checkpoint-v1"
#define AF_TAG_CONTENT "caracal-audit-content-v1"

#define AF_ZONE_MAX 128                    /* bytes of a zone id */
#define AF_ID_MAX 256                      /* bytes of an event id */
#define AF_TYPE_MAX 256                    /* bytes of an event type */
#define AF_EVENT_MAX (1u << 20)            /* bytes of the canonical event JSON */
#define AF_LINE_MAX (AF_EVENT_MAX + 8192u) /* every other field, escaped, fits */
#define AF_HEX 65                          /* 64 hex digits + NUL */
#define AF_KID 9                           /* 8 hex digits + NUL */

#define AF_LEDGER_SUFFIX ".jsonl"
#define AF_CHECKPOINT_SUFFIX ".checkpoint"
#define AF_TMP_SUFFIX ".tmp"

/* A growable byte buffer. */
typedef struct af_buf {
	char *p;
	size_t len;
	size_t cap;
} af_buf;

int af_buf_reserve(af_buf *b, size_t extra); /* 0 ok, -1 on OOM */
int af_buf_add(af_buf *b, const void *p, size_t n);
int af_buf_str(af_buf *b, const char *s);
void af_buf_free(af_buf *b);

/* One record. Parsed records point into the (modified) line. */
typedef struct af_record {
	uint64_t seq;
	const char *zone_id;
	const char *id;
	const char *event_type;
	int64_t occurred_at;
	char prev[AF_HEX];
	char hash[AF_HEX];
	char kid[AF_KID];
	const char *event;
	size_t event_len;
} af_record;

typedef struct af_checkpoint {
	char zone_id[AF_ZONE_MAX + 1];
	uint64_t seq;
	char hash[AF_HEX];
	int64_t at;
	char kid[AF_KID];
	char mac[AF_HEX];
} af_checkpoint;

/* 1 when zone can name files: 1..AF_ZONE_MAX bytes of [A-Za-z0-9._:@+=-],
 * not starting with '.'. */
int af_zone_valid(const char *zone);

/* 1 when s[0..n) is valid UTF-8 without NUL. */
int af_utf8_valid(const char *s, size_t n);

/* Cheap structural check of a JSON object: starts with '{', ends with the
 * matching '}', strings terminated, no raw control characters or NUL, no
 * newline anywhere (the record must stay one line). Not a full parser. */
int af_json_object_shape(const char *s, size_t n);

void af_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);

/* HMAC over the record encoding with a keyed ctx (re-initialised, the key
 * kept). out receives 64 hex digits. 0 ok, -1 on an OpenSSL failure. */
int af_record_mac(EVP_MAC_CTX *ctx, const af_record *r, char out[AF_HEX]);
int af_checkpoint_mac(EVP_MAC_CTX *ctx, const af_checkpoint *cp, char out[AF_HEX]);
/* SHA-256 of the content fields (zone, id, type, occurred_at, event): what
 * dedup compares. */
int af_content_digest(EVP_MD *sha256, const af_record *r, unsigned char out[32]);

/* Append the record line (with the trailing '\n') to b. */
int af_record_format(af_buf *b, const af_record *r);
/* Parse one line (without '\n'), decoding strings in place. 0 ok, -1 not a
 * record line. */
int af_record_parse(char *line, size_t len, af_record *r);

int af_checkpoint_format(af_buf *b, const af_checkpoint *cp);
int af_checkpoint_parse(char *line, size_t len, af_checkpoint *cp);

/* A keyed 64-bit hash for the dedup index (SipHash-2-4). */
uint64_t af_siphash(const unsigned char key[16], const void *data, size_t len);

#endif
