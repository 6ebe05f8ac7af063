/*
 * audit_writer.h — the core's audit writer: one background thread that
 * appends events, in order, to every configured audit sink.
 *
 * Events are never silently lost. Producers (any thread) hand over the event;
 * emitting never blocks on a sink or a stream. A full queue refuses the event
 * (the producer fails closed).
 *
 * Direct path (no `stream:` in the config): the writer thread appends each
 * queued event to every sink; a sink that fails is retried with backoff while
 * the event stays at the head of the queue.
 *
 * Stream path (`stream: <instance>`, ARCHITECTURE §3, §6): the writer thread
 * signs each queued event into an envelope (core/stream/envelope.h; key
 * streams.hmac_key, window streams.window) and publishes it to topic
 * caracal.audit.events. The same thread consumes the topic in group
 * audit-writer, opens (verifies) every message, appends it to every sink and
 * acks only after every sink accepted it. A sink failure leaves the message
 * pending; the writer stops taking new messages (per-zone order) and retries
 * it through claim_stale with growing backoff. A message that does not open
 * (bad signature, unknown key, other topic, outside the window, replay, not
 * an audit event) is written to <data_dir>/audit-dlq.jsonl (fsync'd) and
 * published, signed, to caracal.audit.dlq with its reason, then acked and
 * counted (caracal_plugin_audit_dlq_total{plugin="core",...}); if neither DLQ
 * write works it stays pending. If publish fails (stream down or full), the
 * event is appended to the spool at once (fsync'd NDJSON), and so is every
 * later event until the spool has been replayed into the stream, which is
 * retried every few hundred milliseconds — not only at restart. Pending
 * entries of crashed peers are claimed after 30 s idle.
 *
 * Both paths: at shutdown (and, on the stream path, when a reload replaces
 * the stream instance, since stream_local is process-local) whatever could
 * not reach the sinks is written to <data_dir>/audit-spool.jsonl, and it is
 * replayed before anything else (sinks treat a replayed id with identical
 * content as a benign duplicate).
 */
#ifndef CARACAL_DAEMON_AUDIT_WRITER_H
#define CARACAL_DAEMON_AUDIT_WRITER_H

#include "daemon/workers.h"

#include "util/jsonw.h"

#include <jansson.h>

typedef struct audit_writer audit_writer;

/* slot: the writer's thread slot in every generation. current returns the
 * current generation, referenced. */
audit_writer *audit_writer_start(size_t slot, worker_gen_fn current, void *ud, const char *data_dir,
                                 caracal_error *err);

/* Queue one event. fields (borrowed) may add any members; the writer sets id,
 * zone_id, event_type and occurred_at. CARACAL_E_UNAVAIL when the queue is
 * full or the writer is stopping. */
int audit_writer_emit(audit_writer *w, const char *zone_id, const char *event_type, json_t *fields,
                      caracal_error *err);
/* As audit_writer_emit, but takes the reference to event (an object no one
 * else holds), whatever the outcome, and spares the copy. */
int audit_writer_emit_take(audit_writer *w, const char *zone_id, const char *event_type,
                           json_t *event, caracal_error *err);

/* Queue one event given as its members (jsonw.h): the writer adds id,
 * zone_id, event_type, occurred_at and occurred_at_us and writes the event's
 * canonical text now, on the caller's thread, without a jansson tree. RAW
 * values must be canonical JSON (json_canon.h). fields is not kept; at most
 * AUDIT_MEMBERS_MAX of them, and none may use a key the writer sets. */
#define AUDIT_MEMBERS_MAX 24
int audit_writer_emit_members(audit_writer *w, const char *zone_id, const char *event_type,
                              const jsonw_member *fields, size_t n, caracal_error *err);

/* Append what is queued (for at most drain_ms), flush the sinks, spool the
 * rest, and stop. */
void audit_writer_stop(audit_writer *w, int64_t drain_ms);

/* The canonical encoding every sink hashes: compact, keys sorted. */
char *audit_canonical_json(const json_t *event, size_t *len);

#endif
