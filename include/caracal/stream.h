/*
 * caracal/stream.h — the stream kind: publish and consume events.
 *
 * The stream is a transport of opaque payloads. The core signs every payload
 * (HMAC over topic, timestamp and a length-prefixed field encoding) before
 * publish and verifies it on delivery, so no stream plugin can skip or weaken
 * the check. Delivery is at least once: a message stays pending in its group
 * until acked, and pending messages idle longer than a bound can be claimed
 * by another consumer of the group.
 *
 * A plugin that runs its own threads says so in its descriptor
 * (CARACAL_PLUGIN_F_THREADS) and joins them in instance_stop().
 */
#ifndef CARACAL_STREAM_H
#define CARACAL_STREAM_H

#include <caracal/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct caracal_stream_msg {
	uint32_t size;
	const char *topic;
	const char *id;      /* transport id ("1700000000000-0"), set on delivery */
	caracal_str payload; /* the signed envelope, opaque to the plugin */
	uint32_t deliveries; /* 1 on first delivery */
} caracal_stream_msg;

/* Called once per delivered message; the message is borrowed for the call.
 * Return CARACAL_OK to continue, anything else stops the batch (the message
 * stays pending). */
typedef int (*caracal_stream_deliver_fn)(void *ud, const caracal_stream_msg *msg);

typedef struct caracal_stream_ops {
	uint32_t size;

	/* --- mandatory in ABI 1.0 --- */

	/* Append payload to topic. *id receives the transport id (arena). */
	int (*publish)(void *tctx, const char *topic, const void *payload, size_t len,
	               caracal_arena *arena, const char **id, caracal_error *err);

	/* Create the consumer group for topic if it does not exist (idempotent). */
	int (*group_create)(void *tctx, const char *topic, const char *group, caracal_error *err);

	/* Deliver up to max new messages of topic to consumer of group, waiting
	 * at most timeout_ms for the first. TIMEOUT when nothing arrived. */
	int (*consume)(void *tctx, const char *topic, const char *group, const char *consumer,
	               size_t max, int64_t timeout_ms, caracal_stream_deliver_fn deliver, void *ud,
	               caracal_error *err);

	/* Acknowledge id: it will not be delivered again. */
	int (*ack)(void *tctx, const char *topic, const char *group, const char *id,
	           caracal_error *err);

	/* Deliver to consumer up to max pending messages of group that have been
	 * idle at least min_idle_ms (the consumer of a crashed peer). */
	int (*claim_stale)(void *tctx, const char *topic, const char *group, const char *consumer,
	                   int64_t min_idle_ms, size_t max, caracal_stream_deliver_fn deliver,
	                   void *ud, caracal_error *err);
} caracal_stream_ops;

#define CARACAL_STREAM_OPS_MIN_SIZE \
	(offsetof(caracal_stream_ops, claim_stale) + sizeof(((caracal_stream_ops *)0)->claim_stale))

#ifdef __cplusplus
}
#endif
#endif /* CARACAL_STREAM_H */
