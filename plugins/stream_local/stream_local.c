/* stream_local.c — see stream_local.h. */
#include "stream_local.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const caracal_cfg_key sl_config_schema[] = {
    {"max_entries", CARACAL_CFG_INT, 0,
     "most entries a topic retains (default 100000); a full topic refuses publish"},
    {"max_payload", CARACAL_CFG_SIZE, 0, "largest payload accepted (default 1m)"},
    {NULL, 0, 0, NULL},
};

struct sl_group;

/* One pending entry of one group. */
struct sl_pel {
	struct sl_pel *prev, *next; /* the group's PEL, in id order */
	struct sl_pel *enext;       /* the entry's PEL nodes (one per group) */
	struct sl_group *g;
	uint64_t idx;    /* absolute index of the entry */
	int64_t last_us; /* monotonic time of the last delivery */
	uint32_t deliveries;
	char *consumer;
};

struct sl_entry {
	int64_t ms;
	uint64_t seq;
	char *payload;
	size_t len;
	struct sl_pel *pel; /* NULL when no group holds it pending */
};

struct sl_group {
	char *name;
	uint64_t next; /* absolute index of the next new entry */
	struct sl_pel *head, *tail;
	size_t npending;
};

struct sl_topic {
	char *name;
	struct sl_entry *ring;
	size_t cap, start, count;
	uint64_t base; /* absolute index of ring[start] */
	int64_t last_ms;
	uint64_t last_seq;
	int has_last;
	struct sl_group groups[SL_MAX_GROUPS];
	size_t ngroups;
};

typedef struct sl_inst {
	const caracal_host *host;
	const caracal_scope *scope;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC: something was published, or stop */
	int stopping;
	size_t max_entries;
	size_t max_payload;
	struct sl_topic *topics[SL_MAX_TOPICS];
	size_t ntopics;
} sl_inst;

/* A delivery copied out of the lock. */
struct sl_copy {
	char id[48];
	char *payload;
	size_t len;
	uint32_t deliveries;
};

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int valid_name(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return 0;
	size_t n = 0;
	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || n >= SL_NAME_MAX)
			return 0;
	return 1;
}

static int check_names(const char *topic, const char *group, const char *consumer,
                       caracal_error *err)
{
	if (!valid_name(topic))
		return caracal_error_set(err, CARACAL_E_INVAL, "bad topic name");
	if (group != NULL && !valid_name(group))
		return caracal_error_set(err, CARACAL_E_INVAL, "bad group name");
	if (consumer != NULL && !valid_name(consumer))
		return caracal_error_set(err, CARACAL_E_INVAL, "bad consumer name");
	return CARACAL_OK;
}

static struct sl_entry *entry_at(struct sl_topic *t, uint64_t idx)
{
	return &t->ring[(t->start + (size_t)(idx - t->base)) % t->cap];
}

static struct sl_topic *topic_find(sl_inst *in, const char *name)
{
	for (size_t i = 0; i < in->ntopics; i++)
		if (strcmp(in->topics[i]->name, name) == 0)
			return in->topics[i];
	return NULL;
}

static struct sl_topic *topic_get(sl_inst *in, const char *name, caracal_error *err)
{
	struct sl_topic *t = topic_find(in, name);
	if (t != NULL)
		return t;
	if (in->ntopics == SL_MAX_TOPICS) {
		caracal_error_set(err, CARACAL_E_UNAVAIL, "too many topics (at most %d)",
		                  SL_MAX_TOPICS);
		return NULL;
	}
	t = calloc(1, sizeof *t);
	if (t == NULL || (t->name = strdup(name)) == NULL) {
		free(t);
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return NULL;
	}
	in->topics[in->ntopics++] = t;
	return t;
}

static struct sl_group *group_find(struct sl_topic *t, const char *name)
{
	for (size_t i = 0; i < t->ngroups; i++)
		if (strcmp(t->groups[i].name, name) == 0)
			return &t->groups[i];
	return NULL;
}

/* Trim entries every group has read and none holds pending. */
static void trim(struct sl_topic *t)
{
	if (t->ngroups == 0)
		return;
	uint64_t low = UINT64_MAX;
	for (size_t i = 0; i < t->ngroups; i++)
		if (t->groups[i].next < low)
			low = t->groups[i].next;
	while (t->count > 0 && t->base < low) {
		struct sl_entry *e = &t->ring[t->start];
		if (e->pel != NULL)
			break;
		free(e->payload);
		memset(e, 0, sizeof *e);
		t->start = (t->start + 1) % t->cap;
		t->count--;
		t->base++;
	}
}

static int grow(struct sl_topic *t, size_t max)
{
	if (t->count < t->cap)
		return 0;
	size_t cap = t->cap == 0 ? 64 : t->cap * 2;
	if (cap > max)
		cap = max;
	struct sl_entry *ring = calloc(cap, sizeof *ring);
	if (ring == NULL)
		return -1;
	for (size_t i = 0; i < t->count; i++)
		ring[i] = t->ring[(t->start + i) % t->cap];
	free(t->ring);
	t->ring = ring;
	t->cap = cap;
	t->start = 0;
	return 0;
}

static void format_id(char *out, size_t cap, int64_t ms, uint64_t seq)
{
	snprintf(out, cap, "%lld-%llu", (long long)ms, (unsigned long long)seq);
}

static int parse_id(const char *id, int64_t *ms, uint64_t *seq)
{
	if (id == NULL)
		return -1;
	char *end;
	errno = 0;
	if (id[0] < '0' || id[0] > '9')
		return -1;
	long long m = strtoll(id, &end, 10);
	if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
		return -1;
	unsigned long long s = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*ms = m;
	*seq = s;
	return 0;
}

/* Absolute index of the entry with this id, or UINT64_MAX. */
static uint64_t entry_lookup(struct sl_topic *t, int64_t ms, uint64_t seq)
{
	size_t lo = 0, hi = t->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct sl_entry *e = &t->ring[(t->start + mid) % t->cap];
		if (e->ms < ms || (e->ms == ms && e->seq < seq))
			lo = mid + 1;
		else if (e->ms == ms && e->seq == seq)
			return t->base + mid;
		else
			hi = mid;
	}
	return UINT64_MAX;
}

/* ------------------------------------------------------------ lifecycle */

int sl_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err)
{
	int64_t max_entries = SL_DEFAULT_MAX_ENTRIES;
	uint64_t max_payload = SL_DEFAULT_MAX_PAYLOAD;
	caracal_error e = {0};
	int rc = host->cfg_int(cfg, "max_entries", &max_entries, &e);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND)
		return caracal_error_set(err, rc, "%s", e.message);
	rc = host->cfg_size(cfg, "max_payload", &max_payload, &e);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND)
		return caracal_error_set(err, rc, "%s", e.message);
	if (max_entries < 1 || max_entries > 100000000)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: max_entries must be 1..100000000",
		                         host->cfg_where(cfg));
	if (max_payload < 1 || max_payload > (64u << 20))
		return caracal_error_set(err, CARACAL_E_INVAL, "%s: max_payload must be 1..64m",
		                         host->cfg_where(cfg));
	sl_inst *in = calloc(1, sizeof *in);
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	in->host = host;
	in->scope = scope;
	in->max_entries = (size_t)max_entries;
	in->max_payload = (size_t)max_payload;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&in->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&in->lock, NULL);
	*instance = in;
	return CARACAL_OK;
}

void sl_instance_stop(void *instance)
{
	sl_inst *in = instance;
	pthread_mutex_lock(&in->lock);
	in->stopping = 1;
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->lock);
}

void sl_instance_destroy(void *instance)
{
	sl_inst *in = instance;
	if (in == NULL)
		return;
	for (size_t i = 0; i < in->ntopics; i++) {
		struct sl_topic *t = in->topics[i];
		for (size_t g = 0; g < t->ngroups; g++) {
			struct sl_pel *p = t->groups[g].head;
			while (p != NULL) {
				struct sl_pel *next = p->next;
				free(p->consumer);
				free(p);
				p = next;
			}
			free(t->groups[g].name);
		}
		for (size_t k = 0; k < t->count; k++)
			free(t->ring[(t->start + k) % t->cap].payload);
		free(t->ring);
		free(t->name);
		free(t);
	}
	pthread_cond_destroy(&in->cond);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

/* ------------------------------------------------------------ ops */

static int sl_publish(void *tctx, const char *topic, const void *payload, size_t len,
                      caracal_arena *arena, const char **id, caracal_error *err)
{
	sl_inst *in = tctx;
	int rc = check_names(topic, NULL, NULL, err);
	if (rc != CARACAL_OK)
		return rc;
	if (len > in->max_payload)
		return caracal_error_set(err, CARACAL_E_TOOBIG, "payload of %zu bytes exceeds %zu",
		                         len, in->max_payload);
	if (payload == NULL && len > 0)
		return caracal_error_set(err, CARACAL_E_INVAL, "no payload");
	char *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	if (len > 0)
		memcpy(copy, payload, len);

	char idbuf[48];
	pthread_mutex_lock(&in->lock);
	struct sl_topic *t = NULL;
	if (in->stopping)
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "stream stopping");
	else if ((t = topic_get(in, topic, err)) == NULL)
		rc = err != NULL ? err->code : CARACAL_E_NOMEM;
	if (rc == CARACAL_OK && t != NULL) {
		trim(t);
		if (t->count >= in->max_entries)
			rc = caracal_error_set(err, CARACAL_E_UNAVAIL,
			                       "topic %s is full (%zu entries unread or unacked)",
			                       topic, t->count);
		else if (grow(t, in->max_entries) != 0)
			rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	if (rc == CARACAL_OK && t != NULL) {
		int64_t ms = in->host->now_us() / 1000;
		uint64_t seq = 0;
		if (t->has_last && ms <= t->last_ms) {
			ms = t->last_ms;
			seq = t->last_seq + 1;
		}
		t->last_ms = ms;
		t->last_seq = seq;
		t->has_last = 1;
		struct sl_entry *e = &t->ring[(t->start + t->count) % t->cap];
		e->ms = ms;
		e->seq = seq;
		e->payload = copy;
		e->len = len;
		e->pel = NULL;
		t->count++;
		copy = NULL;
		format_id(idbuf, sizeof idbuf, ms, seq);
		pthread_cond_broadcast(&in->cond);
	}
	pthread_mutex_unlock(&in->lock);
	free(copy);
	if (rc != CARACAL_OK) {
		if (rc == CARACAL_E_UNAVAIL && !in->stopping)
			in->host->metric_count(in->scope, "publish_refused", topic, 1);
		return rc;
	}
	if (id != NULL) {
		*id = arena != NULL ? in->host->arena_strndup(arena, idbuf, strlen(idbuf)) : NULL;
		if (arena != NULL && *id == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM,
			                         "published, but no memory for the id");
	}
	return CARACAL_OK;
}

static int sl_group_create(void *tctx, const char *topic, const char *group, caracal_error *err)
{
	sl_inst *in = tctx;
	int rc = check_names(topic, group, NULL, err);
	if (rc != CARACAL_OK)
		return rc;
	pthread_mutex_lock(&in->lock);
	struct sl_topic *t = NULL;
	if (in->stopping)
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "stream stopping");
	else if ((t = topic_get(in, topic, err)) == NULL)
		rc = err != NULL ? err->code : CARACAL_E_NOMEM;
	if (rc == CARACAL_OK && t != NULL && group_find(t, group) == NULL) {
		if (t->ngroups == SL_MAX_GROUPS) {
			rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "too many groups on %s",
			                       topic);
		} else {
			struct sl_group *g = &t->groups[t->ngroups];
			memset(g, 0, sizeof *g);
			g->name = strdup(group);
			if (g->name == NULL) {
				rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
			} else {
				g->next = t->base; /* from the oldest retained entry */
				t->ngroups++;
			}
		}
	}
	pthread_mutex_unlock(&in->lock);
	return rc;
}

static int lookup_group(sl_inst *in, const char *topic, const char *group, struct sl_topic **t,
                        struct sl_group **g, caracal_error *err)
{
	if (in->stopping)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "stream stopping");
	*t = topic_find(in, topic);
	*g = *t != NULL ? group_find(*t, group) : NULL;
	if (*g == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "no group %s on topic %s", group,
		                         topic);
	return CARACAL_OK;
}

static void pel_unlink(struct sl_topic *t, struct sl_pel *p)
{
	struct sl_group *g = p->g;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		g->head = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	else
		g->tail = p->prev;
	g->npending--;
	struct sl_entry *e = entry_at(t, p->idx);
	for (struct sl_pel **pp = &e->pel; *pp != NULL; pp = &(*pp)->enext) {
		if (*pp == p) {
			*pp = p->enext;
			break;
		}
	}
	free(p->consumer);
	free(p);
}

static int copy_out(struct sl_copy *c, const struct sl_entry *e, uint32_t deliveries)
{
	format_id(c->id, sizeof c->id, e->ms, e->seq);
	c->payload = malloc(e->len ? e->len : 1);
	if (c->payload == NULL)
		return -1;
	if (e->len > 0)
		memcpy(c->payload, e->payload, e->len);
	c->len = e->len;
	c->deliveries = deliveries;
	return 0;
}

static int deliver_one(const char *topic, const struct sl_copy *c, caracal_stream_deliver_fn fn,
                       void *ud)
{
	caracal_stream_msg msg = {
	    .size = sizeof msg,
	    .topic = topic,
	    .id = c->id,
	    .payload = {c->payload, c->len},
	    .deliveries = c->deliveries,
	};
	return fn(ud, &msg);
}

static int sl_consume(void *tctx, const char *topic, const char *group, const char *consumer,
                      size_t max, int64_t timeout_ms, caracal_stream_deliver_fn deliver, void *ud,
                      caracal_error *err)
{
	sl_inst *in = tctx;
	int rc = check_names(topic, group, consumer, err);
	if (rc != CARACAL_OK)
		return rc;
	if (deliver == NULL || max == 0)
		return caracal_error_set(err, CARACAL_E_INVAL, "no callback or max 0");
	if (max > SL_MAX_BATCH)
		max = SL_MAX_BATCH;
	if (timeout_ms < 0)
		timeout_ms = 0;
	if (timeout_ms > SL_MAX_WAIT_MS)
		timeout_ms = SL_MAX_WAIT_MS;
	int64_t deadline = mono_us() + timeout_ms * 1000;
	struct timespec abs = {.tv_sec = (time_t)(deadline / 1000000),
	                       .tv_nsec = (long)(deadline % 1000000) * 1000};

	size_t delivered = 0;
	int timed_out = 0;
	pthread_mutex_lock(&in->lock);
	while (delivered < max) {
		struct sl_topic *t;
		struct sl_group *g;
		rc = lookup_group(in, topic, group, &t, &g, err);
		if (rc != CARACAL_OK)
			break;
		if (g->next >= t->base + t->count) {
			if (delivered > 0)
				break;
			if (timed_out) {
				rc = caracal_error_set(err, CARACAL_E_TIMEOUT,
				                       "nothing arrived within %lld ms",
				                       (long long)timeout_ms);
				break;
			}
			if (pthread_cond_timedwait(&in->cond, &in->lock, &abs) == ETIMEDOUT)
				timed_out = 1;
			continue;
		}
		struct sl_pel *p = calloc(1, sizeof *p);
		char *cons = strdup(consumer);
		struct sl_copy c;
		struct sl_entry *e = entry_at(t, g->next);
		if (p == NULL || cons == NULL || copy_out(&c, e, 1) != 0) {
			free(p);
			free(cons);
			rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
			break;
		}
		p->g = g;
		p->idx = g->next;
		p->last_us = mono_us();
		p->deliveries = 1;
		p->consumer = cons;
		p->prev = g->tail;
		if (g->tail != NULL)
			g->tail->next = p;
		else
			g->head = p;
		g->tail = p;
		g->npending++;
		p->enext = e->pel;
		e->pel = p;
		g->next++;
		delivered++;

		pthread_mutex_unlock(&in->lock);
		int cb = deliver_one(topic, &c, deliver, ud);
		free(c.payload);
		pthread_mutex_lock(&in->lock);
		if (cb != CARACAL_OK)
			break; /* it stays pending; the rest stays new */
	}
	pthread_mutex_unlock(&in->lock);
	return delivered > 0 ? CARACAL_OK : rc;
}

static int sl_ack(void *tctx, const char *topic, const char *group, const char *id,
                  caracal_error *err)
{
	sl_inst *in = tctx;
	int rc = check_names(topic, group, NULL, err);
	if (rc != CARACAL_OK)
		return rc;
	int64_t ms;
	uint64_t seq;
	if (parse_id(id, &ms, &seq) != 0)
		return caracal_error_set(err, CARACAL_E_INVAL, "bad message id");
	pthread_mutex_lock(&in->lock);
	struct sl_topic *t;
	struct sl_group *g;
	rc = lookup_group(in, topic, group, &t, &g, err);
	if (rc == CARACAL_OK) {
		uint64_t idx = entry_lookup(t, ms, seq);
		struct sl_pel *p = NULL;
		if (idx != UINT64_MAX)
			for (p = entry_at(t, idx)->pel; p != NULL && p->g != g; p = p->enext)
				;
		if (p == NULL) {
			rc = caracal_error_set(err, CARACAL_E_NOTFOUND, "%s is not pending in %s",
			                       id, group);
		} else {
			pel_unlink(t, p);
			trim(t);
		}
	}
	pthread_mutex_unlock(&in->lock);
	return rc;
}

static int sl_claim_stale(void *tctx, const char *topic, const char *group, const char *consumer,
                          int64_t min_idle_ms, size_t max, caracal_stream_deliver_fn deliver,
                          void *ud, caracal_error *err)
{
	sl_inst *in = tctx;
	int rc = check_names(topic, group, consumer, err);
	if (rc != CARACAL_OK)
		return rc;
	if (deliver == NULL || max == 0)
		return caracal_error_set(err, CARACAL_E_INVAL, "no callback or max 0");
	if (max > SL_MAX_BATCH)
		max = SL_MAX_BATCH;
	if (min_idle_ms < 0)
		min_idle_ms = 0;
	struct sl_copy *batch = NULL;
	size_t n = 0;
	pthread_mutex_lock(&in->lock);
	struct sl_topic *t;
	struct sl_group *g;
	rc = lookup_group(in, topic, group, &t, &g, err);
	if (rc == CARACAL_OK && g->npending > 0) {
		size_t want = g->npending < max ? g->npending : max;
		batch = calloc(want, sizeof *batch);
		if (batch == NULL)
			rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		int64_t now = mono_us();
		for (struct sl_pel *p = g->head; rc == CARACAL_OK && p != NULL && n < want;
		     p = p->next) {
			if (now - p->last_us < min_idle_ms * 1000)
				continue;
			char *cons = strdup(consumer);
			if (cons == NULL ||
			    copy_out(&batch[n], entry_at(t, p->idx), p->deliveries + 1) != 0) {
				free(cons);
				rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
				break;
			}
			free(p->consumer);
			p->consumer = cons;
			p->last_us = now;
			p->deliveries++;
			n++;
		}
	}
	pthread_mutex_unlock(&in->lock);
	size_t i = 0;
	for (; i < n; i++)
		if (deliver_one(topic, &batch[i], deliver, ud) != CARACAL_OK)
			break;
	for (size_t k = 0; k < n; k++)
		free(batch[k].payload);
	free(batch);
	return rc;
}

const caracal_stream_ops sl_stream_ops = {
    .size = sizeof(caracal_stream_ops),
    .publish = sl_publish,
    .group_create = sl_group_create,
    .consume = sl_consume,
    .ack = sl_ack,
    .claim_stale = sl_claim_stale,
};
