/*
 * audit_writer.h — the core's audit writer: one background thread that
 * appends events, in order, to every configured audit sink.
 *
 * Events are never silently lost: a sink that fails is retried with backoff
 * while the event stays at the head of the queue; at shutdown whatever could
 * not be appended is written to <data_dir>/audit-spool.jsonl, and the next
 * start replays that spool before anything else (sinks treat a replayed id
 * with identical content as a benign duplicate).
 *
 * Producers (any thread) hand over canonical JSON; emitting never blocks on
 * a sink. A full queue refuses the event (the producer fails closed).
 */
#ifndef CARACAL_DAEMON_AUDIT_WRITER_H
#define CARACAL_DAEMON_AUDIT_WRITER_H

#include "daemon/workers.h"

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

/* Append what is queued (for at most drain_ms), flush the sinks, spool the
 * rest, and stop. */
void audit_writer_stop(audit_writer *w, int64_t drain_ms);

/* The canonical encoding every sink hashes: compact, keys sorted. */
char *audit_canonical_json(const json_t *event, size_t *len);

#endif
