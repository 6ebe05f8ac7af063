/* audit_writer.c — see audit_writer.h. */
#include "config.h"

#include "daemon/audit_writer.h"
#include "util/json_canon.h"

#include "daemon/metrics.h"
#include "host.h"
#include "stream/envelope.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/uuid.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Events waiting for the writer. Every field that reaches an event is
 * bounded (the token form caps scope at 4 KiB and resources at 32), so an
 * event is at most ~10 KiB and a full queue at most ~160 MiB; a full queue
 * refuses new events, and their callers fail closed. */
#define AUDIT_QUEUE_MAX 16384
#define AUDIT_SPOOL_NAME "audit-spool.jsonl"
#define AUDIT_DLQ_NAME "audit-dlq.jsonl"
#define AUDIT_SPOOL_MAX_LINE (1u << 20)

#define AUDIT_TOPIC "caracal.audit.events"
#define AUDIT_DLQ_TOPIC "caracal.audit.dlq"
#define AUDIT_GROUP "audit-writer"
#define AUDIT_BATCH 64
#define AUDIT_POLL_MS 50         /* longest consume wait while idle */
#define AUDIT_REAP_IDLE_MS 30000 /* claim a peer's pending entries after this */
#define AUDIT_RETRY_MIN_MS 50
#define AUDIT_RETRY_MAX_MS 5000
#define AUDIT_SPOOL_RETRY_MIN_MS 100
#define AUDIT_SPOOL_RETRY_MAX_MS 2000
#define AUDIT_REPLAY_IDS 131072 /* envelope ids remembered for replay checks */

/* Envelope fields beside "data" (see publish_item). */
#define FIELD_ID "event_id"
#define FIELD_ZONE "event_zone_id"
#define FIELD_TYPE "event_type"
#define FIELD_AT "event_occurred_at_us"

struct audit_item {
	struct audit_item *next;
	char id[UUID_TEXT_LEN + 1];
	char *zone_id;
	char *event_type;
	int64_t occurred_at_us;
	char *json; /* canonical; NULL until item_canon() made it from event */
	size_t json_len;
	json_t *event; /* emitted events: canonicalised on the writer thread */
};

/* The stream of one generation, as the writer thread uses it. */
struct stream_use {
	generation *gen;
	const plugin_instance *pi;
	void *tctx;
	envelope_keyring *kr;
};

struct audit_writer {
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct audit_item *head, *tail;
	size_t queued;
	int stopping;
	int64_t stop_deadline_us;
	size_t slot;
	worker_gen_fn current;
	void *ud;
	char spool_path[4200];
	char dlq_path[4200];
	caracal_scope *scope; /* metrics: caracal_plugin_<name>_total{plugin="core"} */
	char consumer[160];

	/* Writer thread only. */
	int spool_pending;  /* the spool file has lines not yet in the stream */
	int spool_done;     /* every spool line was handed on; the file goes once
	                     * the sinks hold them (spool_forget) */
	off_t spool_offset; /* bytes of it already in the stream */
	int64_t spool_retry_at_us, spool_retry_ms;
	int blocked; /* a message failed at a sink: retry pending before new */
	int64_t retry_at_us, retry_ms;
	int64_t next_reap_us;
	size_t unflushed;
};

char *audit_canonical_json(const json_t *event, size_t *len)
{
	return json_canonical(event, len);
}

static void item_free(struct audit_item *it)
{
	if (it == NULL)
		return;
	free(it->zone_id);
	free(it->event_type);
	free(it->json);
	json_decref(it->event);
	free(it);
}

/* The canonical text of it (the worker only queues the event object; the
 * writer canonicalises it here, before its first use). 0 when it has one;
 * on failure the event stays queued as an object and is retried. */
static int item_canon(struct audit_item *it)
{
	if (it->json != NULL)
		return 0;
	if (it->event == NULL)
		return -1;
	it->json = audit_canonical_json(it->event, &it->json_len);
	if (it->json == NULL)
		return -1;
	json_decref(it->event);
	it->event = NULL;
	return 0;
}

static void list_free(struct audit_item *it)
{
	while (it != NULL) {
		struct audit_item *next = it->next;
		item_free(it);
		it = next;
	}
}

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (27 bytes and a NUL; cap must allow it).
 * Every event of a second shares its date and time: each thread keeps the
 * last second it formatted and writes only the microseconds after it. */
static void format_time(int64_t us, char *out, size_t cap)
{
	static _Thread_local int64_t cached_secs = INT64_MIN;
	static _Thread_local char cached[24]; /* "YYYY-MM-DDTHH:MM:SS" */
	int64_t secs = us / 1000000, frac = us % 1000000;
	if (frac < 0) { /* before 1970: floor, as gmtime wants */
		secs--;
		frac += 1000000;
	}
	if (secs != cached_secs) {
		time_t t = (time_t)secs;
		struct tm tm;
		char fresh[sizeof cached];
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(fresh, sizeof fresh, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
			snprintf(out, cap, "1970-01-01T00:00:00.000000Z");
			return; /* the cache keeps what it had, for its own second */
		}
		memcpy(cached, fresh, sizeof cached);
		cached_secs = secs;
	}
	if (cap < 28)
		return;
	memcpy(out, cached, 19);
	out[19] = '.';
	for (int i = 25; i >= 20; i--) {
		out[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	out[26] = 'Z';
	out[27] = '\0';
}

/* Build an item from a complete event object (fields already set). */
static struct audit_item *item_from_event(json_t *event, caracal_error *err)
{
	const char *id = json_string_value(json_object_get(event, "id"));
	const char *zone = json_string_value(json_object_get(event, "zone_id"));
	const char *type = json_string_value(json_object_get(event, "event_type"));
	json_t *at = json_object_get(event, "occurred_at_us");
	if (id == NULL || zone == NULL || type == NULL || !json_is_integer(at) ||
	    strlen(id) != UUID_TEXT_LEN || zone[0] == '\0' || type[0] == '\0') {
		caracal_error_set(err, CARACAL_E_INVAL,
		                  "audit event lacks id, zone_id or event_type");
		return NULL;
	}
	struct audit_item *it = calloc(1, sizeof *it);
	if (it == NULL) {
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return NULL;
	}
	memcpy(it->id, id, UUID_TEXT_LEN + 1);
	it->zone_id = strdup(zone);
	it->event_type = strdup(type);
	it->occurred_at_us = (int64_t)json_integer_value(at);
	it->json = audit_canonical_json(event, &it->json_len);
	if (it->zone_id == NULL || it->event_type == NULL || it->json == NULL) {
		item_free(it);
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return NULL;
	}
	return it;
}

static struct audit_item *item_from_text(const char *text, size_t len, caracal_error *err)
{
	json_error_t je;
	json_t *event = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (event == NULL || !json_is_object(event)) {
		json_decref(event);
		caracal_error_set(err, CARACAL_E_INVAL, "not a JSON object");
		return NULL;
	}
	struct audit_item *it = item_from_event(event, err);
	json_decref(event);
	return it;
}

static int enqueue_new(audit_writer *w, struct audit_item *it, caracal_error *err);

/* A new item for an event of zone_id and event_type: a fresh id, copies of
 * both names, and the time now (and its text in when). NULL when out of
 * memory or without randomness. */
static struct audit_item *item_new(const char *zone_id, const char *event_type, char when[40])
{
	struct audit_item *it = calloc(1, sizeof *it);
	if (it == NULL || (it->zone_id = strdup(zone_id)) == NULL ||
	    (it->event_type = strdup(event_type)) == NULL || uuid_v7(it->id) != 0) {
		item_free(it);
		return NULL;
	}
	it->occurred_at_us = clock_now_us();
	format_time(it->occurred_at_us, when, 40);
	return it;
}

static void enqueue_locked(audit_writer *w, struct audit_item *it)
{
	it->next = NULL;
	if (w->tail != NULL)
		w->tail->next = it;
	else
		w->head = it;
	w->tail = it;
	w->queued++;
}

/* Put a list back at the head of the queue (the writer could not place it). */
static void requeue_front_locked(audit_writer *w, struct audit_item *list)
{
	if (list == NULL)
		return;
	struct audit_item *last = list;
	size_t n = 1;
	while (last->next != NULL) {
		last = last->next;
		n++;
	}
	last->next = w->head;
	if (w->head == NULL)
		w->tail = last;
	w->head = list;
	w->queued += n;
}

int audit_writer_emit(audit_writer *w, const char *zone_id, const char *event_type, json_t *fields,
                      caracal_error *err)
{
	json_t *event = fields != NULL ? json_deep_copy(fields) : json_object();
	if (event == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot build audit event");
	return audit_writer_emit_take(w, zone_id, event_type, event, err);
}

int audit_writer_emit_take(audit_writer *w, const char *zone_id, const char *event_type,
                           json_t *event, caracal_error *err)
{
	if (w == NULL) {
		json_decref(event);
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "the audit writer is not running");
	}
	/* zone_id and event_type first: they may point into event (a plugin's
	 * event names its own zone), whose members are replaced below. */
	if (zone_id == NULL || zone_id[0] == '\0' || event_type == NULL || event_type[0] == '\0') {
		json_decref(event);
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "audit event lacks zone_id or event_type");
	}
	char when[40];
	struct audit_item *it =
	    event != NULL && json_is_object(event) ? item_new(zone_id, event_type, when) : NULL;
	if (it == NULL) {
		json_decref(event);
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot build audit event");
	}
	json_object_set_new(event, "id", json_string(it->id));
	json_object_set_new(event, "zone_id", json_string(it->zone_id));
	json_object_set_new(event, "event_type", json_string(it->event_type));
	json_object_set_new(event, "occurred_at", json_string(when));
	json_object_set_new(event, "occurred_at_us", json_integer(it->occurred_at_us));
	/* Only queue here (the caller is a decision worker): the writer thread
	 * makes the canonical text (item_canon). */
	it->event = event;
	return enqueue_new(w, it, err);
}

int audit_writer_emit_members(audit_writer *w, const char *zone_id, const char *event_type,
                              const jsonw_member *fields, size_t n, caracal_error *err)
{
	if (w == NULL)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "the audit writer is not running");
	if (zone_id == NULL || zone_id[0] == '\0' || event_type == NULL || event_type[0] == '\0' ||
	    n > AUDIT_MEMBERS_MAX || (n > 0 && fields == NULL))
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "audit event lacks zone_id or event_type, or has too "
		                         "many members");
	char when[40];
	struct audit_item *it = item_new(zone_id, event_type, when);
	if (it == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot build audit event");
	jsonw_member m[AUDIT_MEMBERS_MAX + 5];
	if (n > 0)
		memcpy(m, fields, n * sizeof *m);
	m[n++] = JSONW_MSTR("id", it->id);
	m[n++] = JSONW_MSTR("zone_id", it->zone_id);
	m[n++] = JSONW_MSTR("event_type", it->event_type);
	m[n++] = JSONW_MSTR("occurred_at", when);
	m[n++] = JSONW_MINT("occurred_at_us", it->occurred_at_us);
	size_t cap = 256;
	for (size_t i = 0; i < n; i++)
		cap += strlen(m[i].key) + 4 +
		       (m[i].kind == JSONW_RAW                     ? m[i].len
		        : m[i].kind == JSONW_STR && m[i].s != NULL ? strlen(m[i].s) + 2
		                                                   : 24);
	jsonw jw;
	jsonw_init_cap(&jw, cap);
	jsonw_object_sorted(&jw, m, n);
	/* The canonical text now: the writer thread has nothing to do for it
	 * (item_canon). It fails on a key given twice (or one the writer sets)
	 * and on a string that is not UTF-8. */
	it->json = jsonw_finish(&jw, &it->json_len);
	if (it->json == NULL) {
		item_free(it);
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "cannot build audit event %s: a member given twice or "
		                         "not UTF-8",
		                         event_type);
	}
	return enqueue_new(w, it, err);
}

/* Queue it (taken whatever the outcome). */
static int enqueue_new(audit_writer *w, struct audit_item *it, caracal_error *err)
{
	int rc = CARACAL_OK;
	pthread_mutex_lock(&w->lock);
	if (w->stopping || w->queued >= AUDIT_QUEUE_MAX) {
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "the audit queue is %s",
		                       w->stopping ? "closed" : "full");
	} else {
		enqueue_locked(w, it);
		it = NULL;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
	item_free(it);
	return rc;
}

/* Append one item to every sink of gen; OK only when all took it. */
static int append_to_sinks(audit_writer *w, generation *gen, struct audit_item *it,
                           caracal_error *err)
{
	if (item_canon(it) != 0)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot canonicalise event %s",
		                         it->id);
	for (size_t s = 0; s < gen->settings.sink_count; s++) {
		size_t idx;
		const plugin_instance *pi = generation_find(gen, gen->settings.sinks[s], &idx);
		if (pi == NULL || pi->instance == NULL)
			return caracal_error_set(err, CARACAL_E_UNAVAIL, "sink %s not running",
			                         gen->settings.sinks[s]);
		void *tctx = generation_tctx(gen, w->slot, idx, err);
		if (tctx == NULL)
			return CARACAL_E_UNAVAIL;
		caracal_audit_event ev = {
		    .size = sizeof ev,
		    .id = it->id,
		    .zone_id = it->zone_id,
		    .event_type = it->event_type,
		    .occurred_at_us = it->occurred_at_us,
		    .canonical_json = {it->json, it->json_len},
		};
		caracal_audit_receipt rec = {.size = sizeof rec};
		int rc = pi->plugin->audit->append(tctx, &ev, &rec, err);
		if (rc != CARACAL_OK) {
			metrics_plugin_error();
			return rc;
		}
	}
	return CARACAL_OK;
}

static void flush_sinks(audit_writer *w, generation *gen)
{
	for (size_t s = 0; s < gen->settings.sink_count; s++) {
		size_t idx;
		const plugin_instance *pi = generation_find(gen, gen->settings.sinks[s], &idx);
		caracal_error e = {0};
		void *tctx = pi != NULL ? generation_tctx(gen, w->slot, idx, &e) : NULL;
		if (tctx != NULL && pi->plugin->audit->flush(tctx, &e) != CARACAL_OK)
			log_error("audit", "sink %s: flush failed: %s", pi->name, e.message);
	}
}

static void count(audit_writer *w, const char *name, const char *label, uint64_t n)
{
	if (w->scope != NULL && n > 0)
		host_services()->metric_count(w->scope, name, label, n);
}

/* ------------------------------------------------------------ spool files */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void fsync_dir_of(const char *path)
{
	char dir[4200];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Append each item of list as one line, then fsync. Returns how many were
 * written (a prefix of the list) — all of them, or -1 on error. */
static int append_lines(const char *path, struct audit_item *list, size_t *written)
{
	*written = 0;
	int existed = access(path, F_OK) == 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int rc = 0;
	for (struct audit_item *it = list; it != NULL; it = it->next) {
		if (item_canon(it) != 0) {
			errno = ENOMEM;
			rc = -1;
			break;
		}
		if (write_all(fd, it->json, it->json_len) != 0 || write_all(fd, "\n", 1) != 0) {
			rc = -1;
			break;
		}
		(*written)++;
	}
	if (fsync(fd) != 0)
		rc = -1, *written = 0;
	close(fd);
	if (!existed)
		fsync_dir_of(path);
	return rc;
}

/* A sink refusal that retrying cannot cure (invalid event, conflicting
 * duplicate, a chain the sink refuses): retrying forever would stall every
 * later event, so the event is kept aside instead, durably. */
static int is_transient(int rc)
{
	return rc == CARACAL_E_UNAVAIL || rc == CARACAL_E_TIMEOUT || rc == CARACAL_E_NOMEM;
}

/* Keep one refused event in the dead-letter file. 0 when it is on disk. */
static int dead_letter_item(audit_writer *w, struct audit_item *it, const char *detail)
{
	if (item_canon(it) != 0)
		return -1;
	json_error_t je;
	json_t *event = json_loadb(it->json, it->json_len, 0, &je);
	json_t *rec = json_pack("{s:s, s:s, s:s, s:o?}", "reason", "sink_rejected", "detail",
	                        detail, "event_id", it->id, "event", event);
	char *line = rec != NULL ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(rec);
	if (line == NULL)
		return -1;
	struct audit_item tmp = {.json = line, .json_len = strlen(line)};
	size_t n;
	int rc = append_lines(w->dlq_path, &tmp, &n);
	free(line);
	if (rc == 0) {
		count(w, "audit_dlq", "sink_rejected", 1);
		log_error("audit", "event %s refused by a sink (%s); kept in %s", it->id, detail,
		          w->dlq_path);
	}
	return rc;
}

/* Spool list (taken over). What cannot be written goes back to the queue. */
static void spool_items(audit_writer *w, struct audit_item *list, const char *why)
{
	if (list == NULL)
		return;
	size_t n = 0;
	if (append_lines(w->spool_path, list, &n) != 0) {
		log_error("audit", "cannot write spool %s: %s; %s events kept in memory",
		          w->spool_path, strerror(errno), n ? "some" : "the");
		/* Lines already written would be written twice: drop them from
		 * the list (they are on disk). */
		while (n-- > 0 && list != NULL) {
			struct audit_item *next = list->next;
			item_free(list);
			list = next;
		}
		pthread_mutex_lock(&w->lock);
		requeue_front_locked(w, list);
		pthread_mutex_unlock(&w->lock);
		return;
	}
	if (!w->spool_pending)
		log_warn("audit", "%s: spooling audit events to %s until the stream takes them",
		         why, w->spool_path);
	w->spool_pending = 1;
	count(w, "audit_spooled", NULL, n);
	list_free(list);
}

/* Write what is left to the spool file: one canonical event per line. */
static void spool_rest(audit_writer *w)
{
	if (w->head == NULL)
		return;
	size_t n = 0;
	if (append_lines(w->spool_path, w->head, &n) != 0)
		log_error("audit", "spool write to %s failed: %s; %zu of %zu events lost",
		          w->spool_path, strerror(errno), w->queued - n, w->queued);
	log_warn("audit", "%zu events spooled to %s; they are replayed at the next start", n,
	         w->spool_path);
}

/* The writer is idle with nothing unflushed: every replayed spool line is in
 * the sinks, so the spool file can go. Lines a new outage appended since
 * (spool_pending) keep it. */
static void spool_forget(audit_writer *w)
{
	if (!w->spool_done || w->spool_pending)
		return;
	if (unlink(w->spool_path) != 0 && errno != ENOENT)
		log_error("audit", "cannot remove spool %s: %s", w->spool_path, strerror(errno));
	w->spool_done = 0;
	w->spool_offset = 0;
}

/* Queue the spool of an earlier run ahead of everything else. */
static void replay_spool(audit_writer *w)
{
	FILE *f = fopen(w->spool_path, "re");
	if (f == NULL)
		return;
	/* Lines a stream already took (spool_drain) are not queued again. */
	if (w->spool_offset > 0 && fseeko(f, w->spool_offset, SEEK_SET) != 0)
		rewind(f);
	w->spool_offset = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	size_t count_ = 0;
	struct audit_item *first = NULL, *last = NULL;
	while ((n = getline(&line, &cap, f)) > 0) {
		if ((size_t)n > AUDIT_SPOOL_MAX_LINE)
			continue;
		caracal_error e = {0};
		struct audit_item *it = item_from_text(line, (size_t)n, &e);
		if (it == NULL) {
			log_error("audit", "spool %s: unreadable line skipped", w->spool_path);
			continue;
		}
		if (last != NULL)
			last->next = it;
		else
			first = it;
		last = it;
		count_++;
	}
	free(line);
	fclose(f);
	pthread_mutex_lock(&w->lock);
	requeue_front_locked(w, first);
	pthread_mutex_unlock(&w->lock);
	/* The events are queued, not yet in the sinks: the file stays until
	 * they are (spool_forget). A crash before then replays them again, which
	 * sinks absorb as benign duplicates (same id, same content). */
	w->spool_done = 1;
	w->spool_pending = 0;
	log_info("audit", "replaying %zu spooled events", count_);
}

/* ------------------------------------------------------------ the stream */

static void stream_release(struct stream_use *su)
{
	envelope_keyring_free(su->kr);
	memset(su, 0, sizeof *su);
}

/* Bind su to gen's stream (gen has one). */
static int stream_bind(audit_writer *w, generation *gen, struct stream_use *su, caracal_error *err)
{
	memset(su, 0, sizeof *su);
	size_t idx;
	const settings *st = &gen->settings;
	su->pi = generation_find(gen, st->stream, &idx);
	if (su->pi == NULL || su->pi->instance == NULL || su->pi->plugin->stream == NULL)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "stream %s not running",
		                         st->stream);
	su->tctx = generation_tctx(gen, w->slot, idx, err);
	if (su->tctx == NULL)
		return CARACAL_E_UNAVAIL;
	su->kr = envelope_keyring_new(st->stream_window_ms, AUDIT_REPLAY_IDS);
	if (su->kr == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	unsigned char key[ENVELOPE_HMAC_KEY_MAX];
	size_t len = 0;
	const caracal_cfg *node = config_get(config_tree_root(gen->tree), "streams");
	caracal_error ke = {0};
	int rc = node != NULL
	             ? host_services()->cfg_secret(node, "hmac_key", key, sizeof key, &len, &ke)
	             : CARACAL_E_NOTFOUND;
	if (rc == CARACAL_E_NOTFOUND) {
		if (st->production) {
			rc = caracal_error_set(err, CARACAL_E_INVAL,
			                       "production mode needs streams.hmac_key_file");
			goto fail;
		}
		/* Development without a key: a key for this process only. */
		if (host_services()->random_bytes(key, 32) != CARACAL_OK) {
			rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "no randomness");
			goto fail;
		}
		len = 32;
		log_warn("audit", "development mode: no streams.hmac_key; stream messages are "
		                  "signed with a key of this process only");
	} else if (rc != CARACAL_OK) {
		rc = caracal_error_set(err, rc, "streams.hmac_key: %s", ke.message);
		goto fail;
	}
	rc = envelope_keyring_add(su->kr, key, len, 1, err);
	host_services()->secure_zero(key, sizeof key);
	if (rc != CARACAL_OK)
		goto fail;
	rc = su->pi->plugin->stream->group_create(su->tctx, AUDIT_TOPIC, AUDIT_GROUP, err);
	if (rc != CARACAL_OK)
		goto fail;
	su->gen = gen;
	return CARACAL_OK;
fail:
	host_services()->secure_zero(key, sizeof key);
	stream_release(su);
	return rc;
}

/* Seal it and publish it. */
static int publish_item(struct stream_use *su, struct audit_item *it, caracal_error *err)
{
	char mid[UUID_TEXT_LEN + 1];
	if (uuid_v7(mid) != 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "no randomness");
	if (item_canon(it) != 0)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot canonicalise event %s",
		                         it->id);
	/* data is the canonical event; the other fields repeat what the writer
	 * needs from it, signed with it, so the consumer does not parse data
	 * again (messages with data only are parsed, as before). */
	char at[24];
	int atn = snprintf(at, sizeof at, "%lld", (long long)it->occurred_at_us);
	envelope_field f[5] = {
	    {"data", 4, it->json, it->json_len},
	    {FIELD_ID, sizeof FIELD_ID - 1, it->id, UUID_TEXT_LEN},
	    {FIELD_ZONE, sizeof FIELD_ZONE - 1, it->zone_id, strlen(it->zone_id)},
	    {FIELD_TYPE, sizeof FIELD_TYPE - 1, it->event_type, strlen(it->event_type)},
	    {FIELD_AT, sizeof FIELD_AT - 1, at, (size_t)atn},
	};
	char *buf = NULL;
	size_t len = 0;
	int rc = envelope_seal(su->kr, AUDIT_TOPIC, clock_now_us(), mid, f, 5, &buf, &len, err);
	if (rc != CARACAL_OK)
		return rc;
	rc = su->pi->plugin->stream->publish(su->tctx, AUDIT_TOPIC, buf, len, NULL, NULL, err);
	free(buf);
	if (rc != CARACAL_OK)
		metrics_plugin_error();
	return rc;
}

/* Publish list in order (taken over); from the first failure on, spool. */
static void publish_or_spool(audit_writer *w, struct stream_use *su, struct audit_item *list)
{
	while (list != NULL && !w->spool_pending) {
		caracal_error e = {0};
		if (publish_item(su, list, &e) != CARACAL_OK) {
			count(w, "audit_publish_failed", NULL, 1);
			log_error("audit", "publish of event %s failed: %s", list->id, e.message);
			w->spool_retry_ms = AUDIT_SPOOL_RETRY_MIN_MS;
			w->spool_retry_at_us = clock_monotonic_us() + w->spool_retry_ms * 1000;
			break;
		}
		struct audit_item *next = list->next;
		item_free(list);
		list = next;
	}
	if (list != NULL)
		spool_items(w, list, "the stream refused an event");
}

/* Replay the spool into the stream as far as it takes it. What was sent is
 * remembered as a byte offset (no rewrite per round, so a long outage costs
 * O(n)); the file goes once all of it is in the stream. A crash in between
 * replays the sent lines again, which sinks absorb as benign duplicates. */
static void spool_drain(audit_writer *w, struct stream_use *su)
{
	FILE *f = fopen(w->spool_path, "re");
	if (f == NULL) {
		w->spool_pending = 0;
		w->spool_offset = 0;
		return;
	}
	if (w->spool_offset > 0 && fseeko(f, w->spool_offset, SEEK_SET) != 0)
		w->spool_offset = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	size_t sent = 0, bad = 0;
	int failed = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		caracal_error e = {0};
		struct audit_item *it =
		    (size_t)n <= AUDIT_SPOOL_MAX_LINE ? item_from_text(line, (size_t)n, &e) : NULL;
		if (it != NULL) {
			int rc = publish_item(su, it, &e);
			item_free(it);
			if (rc != CARACAL_OK) {
				failed = 1;
				break;
			}
			sent++;
		} else {
			bad++;
		}
		w->spool_offset += n;
	}
	free(line);
	fclose(f);
	if (bad > 0)
		log_error("audit", "spool %s: %zu unreadable lines skipped", w->spool_path, bad);
	if (!failed) {
		/* In the stream is not yet in the sinks (and stream_local does not
		 * survive a crash): the file stays until the writer is idle. */
		w->spool_done = 1;
		w->spool_pending = 0;
		w->spool_offset = 0;
		log_info("audit", "the stream takes events again: spool %s replayed",
		         w->spool_path);
		return;
	}
	/* Progress: try again soon; none: back off. */
	if (sent > 0)
		w->spool_retry_ms = AUDIT_SPOOL_RETRY_MIN_MS;
	else
		w->spool_retry_ms =
		    w->spool_retry_ms * 2 > AUDIT_SPOOL_RETRY_MAX_MS
		        ? AUDIT_SPOOL_RETRY_MAX_MS
		        : (w->spool_retry_ms ? w->spool_retry_ms * 2 : AUDIT_SPOOL_RETRY_MIN_MS);
	w->spool_retry_at_us = clock_monotonic_us() + w->spool_retry_ms * 1000;
}

/* What to do with each delivered, opened message. */
enum deliver_mode { TO_SINKS, TO_SPOOL };

struct deliver_ctx {
	audit_writer *w;
	struct stream_use *su;
	enum deliver_mode mode;
	size_t delivered, processed;
	int failed;
};

/* Dead-letter msg: the DLQ file (durable) and the DLQ topic (signed). OK
 * when at least one of them holds it. */
static int dead_letter(audit_writer *w, struct stream_use *su, const caracal_stream_msg *msg,
                       const char *reason, const char *detail)
{
	char received[32], deliveries[16];
	int64_t t = envelope_transport_time_us(msg->id);
	snprintf(received, sizeof received, "%lld",
	         (long long)(t >= 0 ? t / 1000 : clock_now_us() / 1000));
	snprintf(deliveries, sizeof deliveries, "%u", msg->deliveries);
	json_t *payload = json_stringn(msg->payload.ptr, msg->payload.len);
	const char *encoding = "utf8";
	if (payload == NULL || memchr(msg->payload.ptr, 0, msg->payload.len) != NULL) {
		json_decref(payload);
		char *hex = malloc(msg->payload.len * 2 + 1);
		if (hex != NULL) {
			for (size_t i = 0; i < msg->payload.len; i++)
				snprintf(hex + 2 * i, 3, "%02x",
				         (unsigned char)msg->payload.ptr[i]);
			hex[2 * msg->payload.len] = '\0';
		}
		payload = hex != NULL ? json_string(hex) : NULL;
		free(hex);
		encoding = "hex";
	}
	if (payload == NULL)
		return CARACAL_E_NOMEM;
	json_t *rec = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "reason", reason, "detail", detail,
	    "src_topic", msg->topic, "src_id", msg->id != NULL ? msg->id : "", "received_at",
	    received, "deliveries", deliveries, "src_encoding", encoding, "src_payload", payload);
	int stored = 0;
	/* 1. The file: survives a restart of a process-local stream. */
	char *line = rec != NULL ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (line != NULL) {
		struct audit_item tmp = {.json = line, .json_len = strlen(line)};
		size_t n;
		if (append_lines(w->dlq_path, &tmp, &n) == 0)
			stored = 1;
		else
			log_error("audit", "cannot write %s: %s", w->dlq_path, strerror(errno));
		free(line);
	}
	/* 2. The DLQ topic, every member a signed field. */
	if (rec != NULL) {
		envelope_field f[8];
		size_t nf = 0;
		const char *k;
		json_t *v;
		json_object_foreach(rec, k, v)
		{
			if (nf == 8)
				break;
			f[nf++] = (envelope_field){k, strlen(k), json_string_value(v),
			                           json_string_length(v)};
		}
		char mid[UUID_TEXT_LEN + 1], *buf = NULL;
		size_t len = 0;
		caracal_error e = {0};
		if (uuid_v7(mid) == 0 &&
		    envelope_seal(su->kr, AUDIT_DLQ_TOPIC, clock_now_us(), mid, f, nf, &buf, &len,
		                  &e) == CARACAL_OK &&
		    su->pi->plugin->stream->publish(su->tctx, AUDIT_DLQ_TOPIC, buf, len, NULL, NULL,
		                                    &e) == CARACAL_OK)
			stored = 1;
		else
			log_warn("audit", "dead letter not published to %s: %s", AUDIT_DLQ_TOPIC,
			         e.message);
		free(buf);
	}
	json_decref(rec);
	json_decref(payload);
	if (!stored)
		return CARACAL_E_UNAVAIL;
	count(w, "audit_dlq", reason, 1);
	log_error("audit", "stream message %s dead-lettered (%s): %s", msg->id, reason, detail);
	return CARACAL_OK;
}

/* An item from a sealed message that carries the event's id, zone, type and
 * time beside its canonical data (publish_item); NULL when it does not (or
 * no memory): the caller then parses data. */
static struct audit_item *item_from_fields(const envelope_msg *m, const envelope_field *d)
{
	const envelope_field *id = envelope_get(m, FIELD_ID);
	const envelope_field *zone = envelope_get(m, FIELD_ZONE);
	const envelope_field *type = envelope_get(m, FIELD_TYPE);
	const envelope_field *at = envelope_get(m, FIELD_AT);
	if (id == NULL || zone == NULL || type == NULL || at == NULL ||
	    id->value_len != UUID_TEXT_LEN || zone->value_len == 0 || type->value_len == 0 ||
	    at->value_len == 0 || at->value_len > 20 || d->value_len == 0)
		return NULL;
	char num[24];
	memcpy(num, at->value, at->value_len);
	num[at->value_len] = '\0';
	char *end = NULL;
	errno = 0;
	long long when = strtoll(num, &end, 10);
	if (errno != 0 || end == NULL || *end != '\0')
		return NULL;
	struct audit_item *it = calloc(1, sizeof *it);
	if (it == NULL)
		return NULL;
	memcpy(it->id, id->value, UUID_TEXT_LEN);
	it->id[UUID_TEXT_LEN] = '\0';
	it->zone_id = strndup(zone->value, zone->value_len);
	it->event_type = strndup(type->value, type->value_len);
	it->occurred_at_us = (int64_t)when;
	it->json = malloc(d->value_len + 1);
	if (it->zone_id == NULL || it->event_type == NULL || it->json == NULL) {
		item_free(it);
		return NULL;
	}
	memcpy(it->json, d->value, d->value_len);
	it->json[d->value_len] = '\0';
	it->json_len = d->value_len;
	return it;
}

static void ack(struct deliver_ctx *c, const caracal_stream_msg *msg)
{
	caracal_error e = {0};
	if (c->su->pi->plugin->stream->ack(c->su->tctx, AUDIT_TOPIC, AUDIT_GROUP, msg->id, &e) !=
	    CARACAL_OK)
		log_warn("audit", "ack of %s failed (%s); it will be redelivered as a duplicate",
		         msg->id, e.message);
}

static int on_message(void *ud, const caracal_stream_msg *msg)
{
	struct deliver_ctx *c = ud;
	audit_writer *w = c->w;
	c->delivered++;
	envelope_msg m;
	caracal_error e = {0};
	const char *reason = NULL;
	int rc = envelope_open(c->su->kr, msg->payload.ptr, msg->payload.len, AUDIT_TOPIC, msg->id,
	                       clock_now_us(), &m, &reason, &e);
	struct audit_item *it = NULL;
	if (rc == CARACAL_OK) {
		const envelope_field *d = envelope_get(&m, "data");
		if (d != NULL)
			it = item_from_fields(&m, d);
		if (d == NULL ||
		    (it == NULL && (it = item_from_text(d->value, d->value_len, &e)) == NULL)) {
			reason = "invalid_event";
			if (d == NULL)
				caracal_error_set(&e, CARACAL_E_INVAL, "no data field");
		}
		envelope_msg_clear(&m);
	}
	if (it == NULL) {
		if (dead_letter(w, c->su, msg, reason != NULL ? reason : "invalid", e.message) !=
		    CARACAL_OK) {
			c->failed = 1;
			return CARACAL_E_UNAVAIL; /* stays pending */
		}
		ack(c, msg);
		c->processed++;
		return CARACAL_OK;
	}
	if (c->mode == TO_SINKS) {
		rc = append_to_sinks(w, c->su->gen, it, &e);
		if (rc != CARACAL_OK && !is_transient(rc) &&
		    dead_letter(w, c->su, msg, "sink_rejected", e.message) == CARACAL_OK)
			rc = CARACAL_OK; /* kept aside; the pipeline moves on */
		if (rc != CARACAL_OK) {
			log_error("audit", "append of event %s failed (%s); it stays pending",
			          it->id, e.message);
			item_free(it);
			c->failed = 1;
			return rc;
		}
		item_free(it);
		w->unflushed++;
	} else {
		size_t n;
		if (append_lines(w->spool_path, it, &n) != 0) {
			log_error("audit", "cannot spool event %s: %s", it->id, strerror(errno));
			item_free(it);
			c->failed = 1;
			return CARACAL_E_UNAVAIL;
		}
		w->spool_pending = 1;
		item_free(it);
	}
	ack(c, msg);
	c->processed++;
	return CARACAL_OK;
}

/* Deliver pending entries idle >= min_idle_ms. */
static int claim(audit_writer *w, struct stream_use *su, enum deliver_mode mode,
                 int64_t min_idle_ms, struct deliver_ctx *c)
{
	*c = (struct deliver_ctx){.w = w, .su = su, .mode = mode};
	caracal_error e = {0};
	int rc =
	    su->pi->plugin->stream->claim_stale(su->tctx, AUDIT_TOPIC, AUDIT_GROUP, w->consumer,
	                                        min_idle_ms, AUDIT_BATCH, on_message, c, &e);
	if (rc != CARACAL_OK && rc != CARACAL_E_TIMEOUT)
		log_error("audit", "claim on %s failed: %s", AUDIT_TOPIC, e.message);
	return rc;
}

static int consume(audit_writer *w, struct stream_use *su, enum deliver_mode mode,
                   int64_t timeout_ms, struct deliver_ctx *c)
{
	*c = (struct deliver_ctx){.w = w, .su = su, .mode = mode};
	caracal_error e = {0};
	int rc = su->pi->plugin->stream->consume(su->tctx, AUDIT_TOPIC, AUDIT_GROUP, w->consumer,
	                                         AUDIT_BATCH, timeout_ms, on_message, c, &e);
	if (rc != CARACAL_OK && rc != CARACAL_E_TIMEOUT) {
		log_error("audit", "consume on %s failed: %s", AUDIT_TOPIC, e.message);
		struct timespec ts = {0, 100 * 1000000};
		nanosleep(&ts, NULL);
	}
	return rc;
}

static void sink_failed(audit_writer *w)
{
	w->retry_ms = w->blocked ? (w->retry_ms * 2 > AUDIT_RETRY_MAX_MS ? AUDIT_RETRY_MAX_MS
	                                                                 : w->retry_ms * 2)
	                         : AUDIT_RETRY_MIN_MS;
	w->blocked = 1;
	w->retry_at_us = clock_monotonic_us() + w->retry_ms * 1000;
}

/* Move everything the stream holds for the group (new and pending) into the
 * spool: before a process-local stream instance goes away. */
static void evacuate(audit_writer *w, struct stream_use *su)
{
	size_t moved = 0;
	for (int round = 0; round < 100000; round++) {
		struct deliver_ctx c;
		claim(w, su, TO_SPOOL, 0, &c);
		size_t got = c.processed;
		int failed = c.failed;
		if (!failed && c.delivered < AUDIT_BATCH) {
			consume(w, su, TO_SPOOL, 0, &c);
			got += c.processed;
			failed |= c.failed;
			if (!failed && c.delivered == 0) {
				moved += got;
				break;
			}
		}
		moved += got;
		if (failed) {
			log_error("audit",
			          "cannot move stream messages to the spool; %s keeps them",
			          su->pi->name);
			break;
		}
	}
	if (moved > 0)
		log_warn("audit", "%zu stream messages moved to the spool %s", moved,
		         w->spool_path);
	w->blocked = 0;
}

/* ------------------------------------------------------------ the thread */

static struct audit_item *take_queue(audit_writer *w, int *stopping, int *past_deadline)
{
	pthread_mutex_lock(&w->lock);
	struct audit_item *list = w->head;
	w->head = w->tail = NULL;
	w->queued = 0;
	*stopping = w->stopping;
	*past_deadline = w->stopping && clock_monotonic_us() >= w->stop_deadline_us;
	pthread_mutex_unlock(&w->lock);
	return list;
}

/* Sleep until us (monotonic), new events, or stop. */
static void wait_until(audit_writer *w, int64_t us)
{
	int64_t now = clock_monotonic_us();
	if (us <= now)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t abs = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + (us - now);
	ts.tv_sec = (time_t)(abs / 1000000);
	ts.tv_nsec = (long)(abs % 1000000) * 1000;
	pthread_mutex_lock(&w->lock);
	if (w->head == NULL && !w->stopping)
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
	pthread_mutex_unlock(&w->lock);
}

/* One round of the stream path. Returns 1 when there is nothing left to do
 * (queue, spool, pending and stream all empty). */
static int stream_round(audit_writer *w, struct stream_use *su, int stopping)
{
	int dummy_stop, dummy_deadline;
	struct audit_item *list = take_queue(w, &dummy_stop, &dummy_deadline);
	int64_t now = clock_monotonic_us();
	if (w->spool_pending && now >= w->spool_retry_at_us) {
		spool_drain(w, su);
	}
	if (list != NULL) {
		if (w->spool_pending)
			spool_items(w, list, "the spool is not yet replayed");
		else
			publish_or_spool(w, su, list);
	}

	if (w->blocked) {
		if (now < w->retry_at_us) {
			wait_until(w, w->retry_at_us);
			return 0;
		}
		struct deliver_ctx c;
		claim(w, su, TO_SINKS, w->retry_ms, &c);
		if (c.failed) {
			sink_failed(w);
		} else if (c.delivered < AUDIT_BATCH) {
			w->blocked = 0;
			log_info("audit", "sinks take events again");
		}
		return 0;
	}
	if (now >= w->next_reap_us) {
		struct deliver_ctx c;
		claim(w, su, TO_SINKS, AUDIT_REAP_IDLE_MS, &c);
		if (c.failed)
			sink_failed(w);
		w->next_reap_us = now + AUDIT_REAP_IDLE_MS * 1000;
	}
	pthread_mutex_lock(&w->lock);
	int more = w->head != NULL;
	pthread_mutex_unlock(&w->lock);
	int64_t timeout = more || stopping ? 0 : AUDIT_POLL_MS;
	if (w->spool_pending)
		timeout = 0;
	struct deliver_ctx c;
	int rc = consume(w, su, TO_SINKS, timeout, &c);
	if (c.failed)
		sink_failed(w);
	if (c.processed > 0 && w->spool_pending)
		w->spool_retry_at_us = 0; /* acks made room: replay now */
	if (c.processed == 0 && w->unflushed > 0) {
		flush_sinks(w, su->gen);
		w->unflushed = 0;
	}
	if (c.processed == 0 && w->unflushed == 0 && !more && !w->blocked)
		spool_forget(w);
	if (w->spool_pending && c.delivered == 0)
		wait_until(w, w->spool_retry_at_us);
	return rc == CARACAL_E_TIMEOUT && !more && !w->spool_pending && !w->blocked;
}

/* One round of the direct path (today's writer). */
static int direct_round(audit_writer *w, generation *gen, int64_t *backoff_ms)
{
	pthread_mutex_lock(&w->lock);
	while (w->head == NULL && !w->stopping)
		pthread_cond_wait(&w->wake, &w->lock);
	struct audit_item *it = w->head;
	pthread_mutex_unlock(&w->lock);
	if (it == NULL)
		return 1;
	caracal_error e = {0};
	int rc = append_to_sinks(w, gen, it, &e);
	if (rc != CARACAL_OK && (is_transient(rc) || dead_letter_item(w, it, e.message) != 0)) {
		*backoff_ms =
		    *backoff_ms == 0 ? 50 : (*backoff_ms * 2 > 5000 ? 5000 : *backoff_ms * 2);
		log_error("audit", "append of event %s failed (%s); retrying in %lld ms", it->id,
		          e.message, (long long)*backoff_ms);
		struct timespec ts = {.tv_sec = *backoff_ms / 1000,
		                      .tv_nsec = (*backoff_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
		return 0;
	}
	*backoff_ms = 0;
	pthread_mutex_lock(&w->lock);
	w->head = it->next;
	if (w->head == NULL)
		w->tail = NULL;
	w->queued--;
	int idle = w->head == NULL;
	pthread_mutex_unlock(&w->lock);
	item_free(it);
	if (idle) {
		flush_sinks(w, gen);
		spool_forget(w);
	}
	return 0;
}

/* Adopt gen: leave the old stream (moving its contents to the spool) and
 * bind the new one. */
static void adopt(audit_writer *w, generation *gen, struct stream_use *su)
{
	if (su->gen != NULL) {
		evacuate(w, su);
		stream_release(su);
	}
	if (gen->settings.stream == NULL) {
		if (w->spool_pending)
			replay_spool(w); /* the direct path replays from the queue */
		return;
	}
	caracal_error e = {0};
	if (stream_bind(w, gen, su, &e) != CARACAL_OK) {
		log_error("audit", "stream %s unusable (%s); audit events are spooled",
		          gen->settings.stream, e.message);
		return;
	}
	w->next_reap_us = clock_monotonic_us() + AUDIT_REAP_IDLE_MS * 1000;
	if (access(w->spool_path, F_OK) == 0) {
		w->spool_pending = 1;
		w->spool_retry_at_us = 0;
	}
}

static void *writer_main(void *arg)
{
	audit_writer *w = arg;
	pthread_setname_np(pthread_self(), "caracal-audit");
	generation *gen = w->current(w->ud);
	struct stream_use su = {0};
	int64_t backoff_ms = 0;
	adopt(w, gen, &su);
	for (;;) {
		generation *now = w->current(w->ud);
		if (now != gen) {
			adopt(w, now, &su);
			generation_release_slot(gen, w->slot);
			generation_unref(gen);
			gen = now;
		} else {
			generation_unref(now);
		}

		pthread_mutex_lock(&w->lock);
		int stopping = w->stopping;
		int past_deadline = stopping && clock_monotonic_us() >= w->stop_deadline_us;
		pthread_mutex_unlock(&w->lock);
		if (past_deadline)
			break;

		int idle;
		if (gen->settings.stream == NULL) {
			idle = direct_round(w, gen, &backoff_ms);
		} else if (su.gen == NULL) {
			/* The stream could not be bound: spool, retry binding. */
			int s2, d2;
			struct audit_item *list = take_queue(w, &s2, &d2);
			spool_items(w, list, "no usable stream");
			idle = 1;
			if (!stopping) {
				wait_until(w, clock_monotonic_us() + 1000 * 1000);
				caracal_error e = {0};
				if (stream_bind(w, gen, &su, &e) == CARACAL_OK)
					w->spool_retry_at_us = 0;
			}
		} else {
			idle = stream_round(w, &su, stopping);
		}
		if (stopping && idle)
			break;
	}
	if (su.gen != NULL) {
		flush_sinks(w, gen);
		evacuate(w, &su);
		stream_release(&su);
		/* Events still queued join the spool behind what was in the stream. */
		int s2, d2;
		struct audit_item *list = take_queue(w, &s2, &d2);
		if (list != NULL)
			spool_items(w, list, "stopping");
	}
	flush_sinks(w, gen);
	pthread_mutex_lock(&w->lock);
	spool_rest(w);
	pthread_mutex_unlock(&w->lock);
	generation_release_slot(gen, w->slot);
	generation_unref(gen);
	return NULL;
}

audit_writer *audit_writer_start(size_t slot, worker_gen_fn current, void *ud, const char *data_dir,
                                 caracal_error *err)
{
	audit_writer *w = calloc(1, sizeof *w);
	if (w == NULL) {
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->slot = slot;
	w->current = current;
	w->ud = ud;
	snprintf(w->spool_path, sizeof w->spool_path, "%s/%s", data_dir, AUDIT_SPOOL_NAME);
	snprintf(w->dlq_path, sizeof w->dlq_path, "%s/%s", data_dir, AUDIT_DLQ_NAME);
	char host[64] = "localhost";
	gethostname(host, sizeof host - 1);
	snprintf(w->consumer, sizeof w->consumer, "caracald-%s-%d", host, (int)getpid());
	for (char *p = w->consumer; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			*p = '_';
	w->scope = host_scope_new("core", "audit_writer");

	/* A spool of an earlier run goes first: the direct path queues it now;
	 * the stream path replays it into the stream when it binds. */
	generation *gen = current(ud);
	int streamed = gen->settings.stream != NULL;
	generation_unref(gen);
	if (!streamed)
		replay_spool(w);
	if (pthread_create(&w->tid, NULL, writer_main, w) != 0) {
		caracal_error_set(err, CARACAL_E_INTERNAL, "cannot start the audit writer");
		list_free(w->head);
		host_scope_free(w->scope);
		free(w);
		return NULL;
	}
	return w;
}

void audit_writer_stop(audit_writer *w, int64_t drain_ms)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	w->stop_deadline_us = clock_monotonic_us() + drain_ms * 1000;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->tid, NULL);
	list_free(w->head);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	host_scope_free(w->scope); /* counters copy its names */
	free(w);
}
