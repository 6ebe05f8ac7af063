/*
 * caracal/audit.h — the audit sink kind: append verified events durably to a
 * per-zone hash-chained ledger, and verify the chain.
 *
 * The core verifies each event's producer signature, deduplicates nothing
 * itself, and hands the sink the event's canonical JSON encoding (sorted
 * keys, no insignificant whitespace) so every sink hashes the same bytes.
 * The sink assigns the per-zone sequence number and links each record to the
 * previous one of its zone; a unique (zone, seq) is the sink's invariant.
 *
 * Appends of one zone are serialised by the core (one audit writer thread);
 * verify() may run concurrently with appends.
 */
#ifndef CARACAL_AUDIT_H
#define CARACAL_AUDIT_H

#include <caracal/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct caracal_audit_event {
	uint32_t size;
	const char *id;         /* unique per event (UUID) */
	const char *zone_id;    /* the chain it joins */
	const char *event_type; /* "token_exchange", "admin.zone.create", ... */
	int64_t occurred_at_us;
	caracal_str canonical_json; /* the whole event, canonical form */
} caracal_audit_event;

typedef struct caracal_audit_receipt {
	uint32_t size;
	uint64_t seq;      /* the record's position in its zone's chain (from 1) */
	char hash_hex[65]; /* the record's chain hash, lowercase hex */
	int duplicate;     /* 1 when id was already stored with identical content */
} caracal_audit_receipt;

/* One problem found by verify(). */
typedef struct caracal_audit_finding {
	uint32_t size;
	const char *zone_id;
	uint64_t seq;         /* the first bad record (0 when the zone itself is bad) */
	const char *location; /* where to look: "file:line", "table row id", ... */
	const char *problem;  /* "hash mismatch", "sequence gap", "truncated tail", ... */
} caracal_audit_finding;

typedef void (*caracal_audit_finding_fn)(void *ud, const caracal_audit_finding *finding);

typedef struct caracal_audit_ops {
	uint32_t size;

	/* --- mandatory in ABI 1.0 --- */

	/* Append ev to its zone's chain. Returning CARACAL_OK means the record is
	 * as durable as the sink's configured policy promises. An id already
	 * stored with the same content is a benign duplicate (OK, duplicate=1);
	 * with different content it is CONFLICT and nothing is written. */
	int (*append)(void *tctx, const caracal_audit_event *ev, caracal_audit_receipt *out,
	              caracal_error *err);

	/* Make every appended record durable now (fsync, commit). */
	int (*flush)(void *tctx, caracal_error *err);

	/* Verify the chain of zone_id (NULL: every zone), reporting each problem
	 * through found. CARACAL_OK when intact, CARACAL_E_INTEGRITY when any
	 * problem was found, other codes when verification itself failed. */
	int (*verify)(void *tctx, const char *zone_id, caracal_audit_finding_fn found, void *ud,
	              caracal_error *err);
} caracal_audit_ops;

#define CARACAL_AUDIT_OPS_MIN_SIZE \
	(offsetof(caracal_audit_ops, verify) + sizeof(((caracal_audit_ops *)0)->verify))

#ifdef __cplusplus
}
#endif
#endif /* CARACAL_AUDIT_H */
