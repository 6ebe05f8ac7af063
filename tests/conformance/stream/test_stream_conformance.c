/*
 * test_stream_conformance.c — the stream battery, through dlopen.
 *
 * Loads $CARACAL_BUILDDIR/plugins/stream_local/.libs/stream_local.so, or the
 * .so named by CARACAL_STREAM_PLUGIN (its descriptor is
 * caracal_plugin_<basename without .so>). Extra config for the instance comes
 * from CARACAL_STREAM_CONFIG ("key=value,key=value", e.g. a Redis URL), so
 * the same battery runs against stream_redis. Every test uses fresh topic
 * names, so a shared backend needs no cleanup between tests.
 *
 * The contract checked: publish/consume order and monotonic ids; groups are
 * independent; ack removes from the pending list; claim_stale redelivers
 * what was not acked with deliveries + 1 (and only after min_idle); consume
 * times out within bounds; 8 concurrent publishers lose and duplicate
 * nothing; a full stream refuses with UNAVAIL (never drops); a payload over
 * the bound is TOOBIG; consume on a missing group is NOTFOUND; a callback
 * error stops the batch and leaves the message pending.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../audit/test_host.h"
#include "util/arena.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *dl;
static const caracal_plugin *P;
static const caracal_stream_ops *S;
static const caracal_host *H;
static unsigned topic_counter;
static char run_tag[32];

typedef struct fx {
	th_cfg *cfg;
	void *inst;
	void *tctx;
	char topic[128];
	caracal_arena *arena;
} fx;

/* ------------------------------------------------------------ plumbing */

static int group_setup(void **state)
{
	(void)state;
	char path[4096], sym[256];
	const char *override = getenv("CARACAL_STREAM_PLUGIN");
	const char *build = getenv("CARACAL_BUILDDIR");
	if (override != NULL)
		snprintf(path, sizeof path, "%s", override);
	else
		snprintf(path, sizeof path, "%s/plugins/stream_local/.libs/stream_local.so",
		         build != NULL ? build : ".");
	const char *base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	snprintf(sym, sizeof sym, "caracal_plugin_%.*s", (int)strcspn(base, "."), base);
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	P = dlsym(dl, sym);
	if (P == NULL || P->stream == NULL) {
		fprintf(stderr, "dlsym %s: no stream plugin\n", sym);
		return -1;
	}
	S = P->stream;
	H = th_host();
	snprintf(run_tag, sizeof run_tag, "%d-%lld", (int)getpid(), (long long)time(NULL));
	if (P->init != NULL) {
		caracal_error e = {0};
		if (P->init(H, &e) != CARACAL_OK) {
			fprintf(stderr, "init: %s\n", e.message);
			return -1;
		}
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (dl != NULL)
		dlclose(dl);
	th_fini();
	return 0;
}

static int schema_has(const char *key)
{
	for (const caracal_cfg_key *k = P->config_schema; k != NULL && k->name != NULL; k++)
		if (strcmp(k->name, key) == 0)
			return 1;
	return 0;
}

static void new_topic(fx *f)
{
	snprintf(f->topic, sizeof f->topic, "conf.%s.%u", run_tag, ++topic_counter);
}

static void start(fx *f)
{
	caracal_error e = {0};
	const caracal_cfg *node = th_cfg_node(f->cfg, P->config_schema, &e);
	if (node == NULL)
		fail_msg("config: %s", e.message);
	int rc = P->instance_create(H, th_scope(), node, &f->inst, &e);
	if (rc != CARACAL_OK)
		fail_msg("instance_create: %s", e.message);
	f->tctx = f->inst;
	if (P->thread_create != NULL)
		assert_int_equal(P->thread_create(f->inst, &f->tctx, &e), CARACAL_OK);
}

static void stop(fx *f)
{
	if (f->inst == NULL)
		return;
	if (P->thread_destroy != NULL && f->tctx != f->inst)
		P->thread_destroy(f->inst, f->tctx);
	if (P->instance_stop != NULL)
		P->instance_stop(f->inst);
	P->instance_destroy(f->inst);
	f->inst = NULL;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->cfg = th_cfg_new();
	f->arena = arena_new();
	const char *extra = getenv("CARACAL_STREAM_CONFIG");
	if (extra != NULL) {
		char *copy = strdup(extra), *save = NULL;
		for (char *kv = strtok_r(copy, ",", &save); kv != NULL;
		     kv = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(kv, '=');
			if (eq != NULL) {
				*eq = '\0';
				th_cfg_set(f->cfg, kv, eq + 1);
			}
		}
		free(copy);
	}
	new_topic(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	stop(f);
	th_cfg_free(f->cfg);
	arena_free(f->arena);
	free(f);
	return 0;
}

static const char *publish(fx *f, const char *topic, const char *text)
{
	caracal_error e = {0};
	const char *id = NULL;
	int rc = S->publish(f->tctx, topic, text, strlen(text), f->arena, &id, &e);
	if (rc != CARACAL_OK)
		fail_msg("publish: %d %s", rc, e.message);
	assert_non_null(id);
	return id;
}

/* Collects deliveries. */
#define MAXGOT 1024
typedef struct got {
	size_t n;
	char id[MAXGOT][48];
	char payload[MAXGOT][64];
	uint32_t deliveries[MAXGOT];
	const char *topic;
	int fail_at; /* return an error for the (fail_at)th message (1-based); 0 never */
} got;

static int collect(void *ud, const caracal_stream_msg *m)
{
	got *g = ud;
	assert_true(m->size >= sizeof *m);
	assert_string_equal(m->topic, g->topic);
	if (g->n == MAXGOT)
		return CARACAL_E_TOOBIG;
	snprintf(g->id[g->n], sizeof g->id[0], "%s", m->id);
	snprintf(g->payload[g->n], sizeof g->payload[0], "%.*s", (int)m->payload.len,
	         m->payload.ptr);
	g->deliveries[g->n] = m->deliveries;
	g->n++;
	if (g->fail_at != 0 && (size_t)g->fail_at == g->n)
		return CARACAL_E_UNAVAIL;
	return CARACAL_OK;
}

static int consume(fx *f, const char *group, const char *consumer, size_t max, int64_t timeout,
                   got *g)
{
	caracal_error e = {0};
	g->topic = f->topic;
	return S->consume(f->tctx, f->topic, group, consumer, max, timeout, collect, g, &e);
}

static int id_less(const char *a, const char *b)
{
	unsigned long long am, as, bm, bs;
	assert_int_equal(sscanf(a, "%llu-%llu", &am, &as), 2);
	assert_int_equal(sscanf(b, "%llu-%llu", &bm, &bs), 2);
	return am < bm || (am == bm && as < bs);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ tests */

static void test_descriptor(void **state)
{
	(void)state;
	assert_int_equal(P->magic, CARACAL_PLUGIN_MAGIC);
	assert_true(P->kinds & CARACAL_KIND_STREAM);
	assert_true(S->size >= CARACAL_STREAM_OPS_MIN_SIZE);
	assert_non_null(S->publish);
	assert_non_null(S->group_create);
	assert_non_null(S->consume);
	assert_non_null(S->ack);
	assert_non_null(S->claim_stale);
}

static void test_order_and_ids(void **state)
{
	fx *f = *state;
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK);
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK); /* idempotent */
	char ids[50][48];
	for (int i = 0; i < 50; i++) {
		char text[32];
		snprintf(text, sizeof text, "m%d", i);
		snprintf(ids[i], sizeof ids[i], "%s", publish(f, f->topic, text));
		if (i > 0)
			assert_true(id_less(ids[i - 1], ids[i]));
	}
	got *g = calloc(1, sizeof *g);
	assert_int_equal(consume(f, "g", "c1", 20, 1000, g), CARACAL_OK);
	assert_int_equal(g->n, 20);
	assert_int_equal(consume(f, "g", "c1", 100, 1000, g), CARACAL_OK);
	assert_int_equal(g->n, 50);
	for (int i = 0; i < 50; i++) {
		char text[32];
		snprintf(text, sizeof text, "m%d", i);
		assert_string_equal(g->payload[i], text);
		assert_string_equal(g->id[i], ids[i]);
		assert_int_equal(g->deliveries[i], 1);
	}
	free(g);
}

static void test_missing_group(void **state)
{
	fx *f = *state;
	start(f);
	got g = {0};
	assert_int_equal(consume(f, "nope", "c", 1, 0, &g), CARACAL_E_NOTFOUND);
	caracal_error e = {0};
	assert_int_equal(S->ack(f->tctx, f->topic, "nope", "1-0", &e), CARACAL_E_NOTFOUND);
}

static void test_groups_independent(void **state)
{
	fx *f = *state;
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->group_create(f->tctx, f->topic, "a", &e), CARACAL_OK);
	assert_int_equal(S->group_create(f->tctx, f->topic, "b", &e), CARACAL_OK);
	for (int i = 0; i < 5; i++)
		publish(f, f->topic, "x");
	got *ga = calloc(1, sizeof *ga), *gb = calloc(1, sizeof *gb);
	assert_int_equal(consume(f, "a", "c", 10, 500, ga), CARACAL_OK);
	assert_int_equal(ga->n, 5);
	for (size_t i = 0; i < ga->n; i++)
		assert_int_equal(S->ack(f->tctx, f->topic, "a", ga->id[i], &e), CARACAL_OK);
	/* b still sees all five, as new messages. */
	assert_int_equal(consume(f, "b", "c", 10, 500, gb), CARACAL_OK);
	assert_int_equal(gb->n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(ga->id[i], gb->id[i]);
		assert_int_equal(gb->deliveries[i], 1);
	}
	/* a has nothing pending; b has all five. */
	got *ca = calloc(1, sizeof *ca), *cb = calloc(1, sizeof *cb);
	ca->topic = cb->topic = f->topic;
	assert_int_equal(S->claim_stale(f->tctx, f->topic, "a", "c2", 0, 10, collect, ca, &e),
	                 CARACAL_OK);
	assert_int_equal(ca->n, 0);
	assert_int_equal(S->claim_stale(f->tctx, f->topic, "b", "c2", 0, 10, collect, cb, &e),
	                 CARACAL_OK);
	assert_int_equal(cb->n, 5);
	free(ga);
	free(gb);
	free(ca);
	free(cb);
}

static void test_ack_and_claim(void **state)
{
	fx *f = *state;
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK);
	for (int i = 0; i < 4; i++) {
		char text[8];
		snprintf(text, sizeof text, "p%d", i);
		publish(f, f->topic, text);
	}
	got *g = calloc(1, sizeof *g);
	assert_int_equal(consume(f, "g", "c1", 10, 500, g), CARACAL_OK);
	assert_int_equal(g->n, 4);
	/* Ack 0 and 2; 1 and 3 stay pending. */
	assert_int_equal(S->ack(f->tctx, f->topic, "g", g->id[0], &e), CARACAL_OK);
	assert_int_equal(S->ack(f->tctx, f->topic, "g", g->id[2], &e), CARACAL_OK);
	assert_int_equal(S->ack(f->tctx, f->topic, "g", g->id[2], &e), CARACAL_E_NOTFOUND);
	/* Nothing new. */
	got *none = calloc(1, sizeof *none);
	assert_int_equal(consume(f, "g", "c1", 10, 50, none), CARACAL_E_TIMEOUT);
	assert_int_equal(none->n, 0);
	/* Not idle long enough yet. */
	got *c = calloc(1, sizeof *c);
	c->topic = f->topic;
	assert_int_equal(S->claim_stale(f->tctx, f->topic, "g", "c2", 60000, 10, collect, c, &e),
	                 CARACAL_OK);
	assert_int_equal(c->n, 0);
	usleep(120 * 1000);
	assert_int_equal(S->claim_stale(f->tctx, f->topic, "g", "c2", 100, 10, collect, c, &e),
	                 CARACAL_OK);
	assert_int_equal(c->n, 2);
	assert_string_equal(c->id[0], g->id[1]);
	assert_string_equal(c->id[1], g->id[3]);
	assert_string_equal(c->payload[0], "p1");
	assert_int_equal(c->deliveries[0], 2);
	assert_int_equal(c->deliveries[1], 2);
	/* Claimed again: deliveries keeps counting; the idle clock restarted. */
	c->n = 0;
	assert_int_equal(S->claim_stale(f->tctx, f->topic, "g", "c3", 100, 10, collect, c, &e),
	                 CARACAL_OK);
	assert_int_equal(c->n, 0);
	usleep(120 * 1000);
	assert_int_equal(S->claim_stale(f->tctx, f->topic, "g", "c3", 100, 1, collect, c, &e),
	                 CARACAL_OK);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->deliveries[0], 3);
	assert_int_equal(S->ack(f->tctx, f->topic, "g", g->id[1], &e), CARACAL_OK);
	assert_int_equal(S->ack(f->tctx, f->topic, "g", g->id[3], &e), CARACAL_OK);
	c->n = 0;
	assert_int_equal(S->claim_stale(f->tctx, f->topic, "g", "c3", 0, 10, collect, c, &e),
	                 CARACAL_OK);
	assert_int_equal(c->n, 0);
	free(g);
	free(none);
	free(c);
}

static void test_callback_error_stops_batch(void **state)
{
	fx *f = *state;
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK);
	for (int i = 0; i < 5; i++)
		publish(f, f->topic, "m");
	got *g = calloc(1, sizeof *g);
	g->fail_at = 2;
	consume(f, "g", "c", 10, 500, g);
	assert_int_equal(g->n, 2);
	/* The failed message is pending, not lost: claim gets it (plus
	 * anything a batching backend moved to the PEL with it). */
	got *c = calloc(1, sizeof *c);
	c->topic = f->topic;
	assert_int_equal(S->claim_stale(f->tctx, f->topic, "g", "c", 0, 10, collect, c, &e),
	                 CARACAL_OK);
	assert_true(c->n >= 2);
	assert_string_equal(c->id[0], g->id[0]);
	assert_string_equal(c->id[1], g->id[1]);
	/* Everything is delivered exactly once in total as new or claimed. */
	for (size_t i = 0; i < c->n; i++)
		assert_int_equal(S->ack(f->tctx, f->topic, "g", c->id[i], &e), CARACAL_OK);
	got *rest = calloc(1, sizeof *rest);
	consume(f, "g", "c", 10, 100, rest);
	assert_int_equal(c->n + rest->n, 5);
	free(g);
	free(c);
	free(rest);
}

static void test_consume_timeout(void **state)
{
	fx *f = *state;
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK);
	got g = {0};
	int64_t t0 = mono_ms();
	assert_int_equal(consume(f, "g", "c", 1, 200, &g), CARACAL_E_TIMEOUT);
	int64_t dt = mono_ms() - t0;
	assert_true(dt >= 150);
	assert_true(dt < 1500);
	t0 = mono_ms();
	assert_int_equal(consume(f, "g", "c", 1, 0, &g), CARACAL_E_TIMEOUT);
	assert_true(mono_ms() - t0 < 500);
}

struct waker {
	fx *f;
};

static void *late_publisher(void *arg)
{
	struct waker *w = arg;
	usleep(100 * 1000);
	caracal_error e = {0};
	S->publish(w->f->tctx, w->f->topic, "late", 4, NULL, NULL, &e);
	return NULL;
}

static void test_consume_wakes_on_publish(void **state)
{
	fx *f = *state;
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK);
	if (P->thread_create != NULL)
		skip(); /* the publisher would need its own thread context */
	struct waker w = {f};
	pthread_t t;
	pthread_create(&t, NULL, late_publisher, &w);
	got *g = calloc(1, sizeof *g);
	int64_t t0 = mono_ms();
	assert_int_equal(consume(f, "g", "c", 1, 5000, g), CARACAL_OK);
	assert_true(mono_ms() - t0 < 3000);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->payload[0], "late");
	pthread_join(t, NULL);
	free(g);
}

#define PUBLISHERS 8
#define PER_PUBLISHER 500

struct pub_arg {
	fx *f;
	int which;
	int failures;
};

static void *publisher(void *arg)
{
	struct pub_arg *a = arg;
	void *tctx = a->f->inst;
	caracal_error e = {0};
	if (P->thread_create != NULL && P->thread_create(a->f->inst, &tctx, &e) != CARACAL_OK) {
		a->failures = PER_PUBLISHER;
		return NULL;
	}
	for (int i = 0; i < PER_PUBLISHER; i++) {
		char text[32];
		int n = snprintf(text, sizeof text, "%d:%d", a->which, i);
		if (S->publish(tctx, a->f->topic, text, (size_t)n, NULL, NULL, &e) != CARACAL_OK)
			a->failures++;
	}
	if (P->thread_destroy != NULL && tctx != a->f->inst)
		P->thread_destroy(a->f->inst, tctx);
	return NULL;
}

static void test_concurrent_publishers(void **state)
{
	fx *f = *state;
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK);
	pthread_t t[PUBLISHERS];
	struct pub_arg a[PUBLISHERS];
	for (int i = 0; i < PUBLISHERS; i++) {
		a[i] = (struct pub_arg){f, i, 0};
		pthread_create(&t[i], NULL, publisher, &a[i]);
	}
	/* Consume concurrently with the publishers. */
	static int seen[PUBLISHERS][PER_PUBLISHER];
	memset(seen, 0, sizeof seen);
	int next[PUBLISHERS] = {0};
	size_t total = 0;
	got *g = calloc(1, sizeof *g);
	char last[48] = "";
	while (total < PUBLISHERS * PER_PUBLISHER) {
		g->n = 0;
		int rc = consume(f, "g", "c", 1000, 2000, g);
		if (rc == CARACAL_E_TIMEOUT)
			break;
		assert_int_equal(rc, CARACAL_OK);
		for (size_t i = 0; i < g->n; i++) {
			int w, k;
			assert_int_equal(sscanf(g->payload[i], "%d:%d", &w, &k), 2);
			assert_true(w >= 0 && w < PUBLISHERS && k >= 0 && k < PER_PUBLISHER);
			assert_int_equal(seen[w][k], 0); /* no duplicate */
			seen[w][k] = 1;
			assert_int_equal(k, next[w]); /* per-publisher order */
			next[w]++;
			if (last[0] != '\0')
				assert_true(id_less(last, g->id[i]));
			snprintf(last, sizeof last, "%s", g->id[i]);
			assert_int_equal(S->ack(f->tctx, f->topic, "g", g->id[i], &e), CARACAL_OK);
			total++;
		}
	}
	for (int i = 0; i < PUBLISHERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].failures, 0);
	}
	assert_int_equal(total, PUBLISHERS * PER_PUBLISHER); /* no loss */
	free(g);
}

static void test_full_is_unavail(void **state)
{
	fx *f = *state;
	if (!schema_has("max_entries"))
		skip();
	th_cfg_set(f->cfg, "max_entries", "8");
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK);
	for (int i = 0; i < 8; i++)
		publish(f, f->topic, "fill");
	assert_int_equal(S->publish(f->tctx, f->topic, "over", 4, NULL, NULL, &e),
	                 CARACAL_E_UNAVAIL);
	/* Read but not acked: still retained, still full. */
	got *g = calloc(1, sizeof *g);
	assert_int_equal(consume(f, "g", "c", 4, 100, g), CARACAL_OK);
	assert_int_equal(g->n, 4);
	assert_int_equal(S->publish(f->tctx, f->topic, "over", 4, NULL, NULL, &e),
	                 CARACAL_E_UNAVAIL);
	/* Acked: trimmed, room again for exactly that many. */
	for (size_t i = 0; i < g->n; i++)
		assert_int_equal(S->ack(f->tctx, f->topic, "g", g->id[i], &e), CARACAL_OK);
	for (int i = 0; i < 4; i++)
		publish(f, f->topic, "more");
	assert_int_equal(S->publish(f->tctx, f->topic, "over", 4, NULL, NULL, &e),
	                 CARACAL_E_UNAVAIL);
	/* Nothing was dropped: the four unread fills and the four mores. */
	got *r = calloc(1, sizeof *r);
	assert_int_equal(consume(f, "g", "c", 100, 100, r), CARACAL_OK);
	assert_int_equal(r->n, 8);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(r->payload[i], "fill");
		assert_string_equal(r->payload[4 + i], "more");
	}
	/* A topic without any group keeps everything (nobody read it). */
	fx other = *f;
	new_topic(&other);
	for (int i = 0; i < 8; i++)
		publish(&other, other.topic, "x");
	assert_int_equal(S->publish(f->tctx, other.topic, "x", 1, NULL, NULL, &e),
	                 CARACAL_E_UNAVAIL);
	/* A group created later starts at the oldest retained entry. */
	assert_int_equal(S->group_create(f->tctx, other.topic, "late", &e), CARACAL_OK);
	got *l = calloc(1, sizeof *l);
	l->topic = other.topic;
	assert_int_equal(S->consume(f->tctx, other.topic, "late", "c", 100, 100, collect, l, &e),
	                 CARACAL_OK);
	assert_int_equal(l->n, 8);
	free(g);
	free(r);
	free(l);
}

static void test_too_big(void **state)
{
	fx *f = *state;
	if (!schema_has("max_payload"))
		skip();
	th_cfg_set(f->cfg, "max_payload", "1k");
	start(f);
	caracal_error e = {0};
	char *big = calloc(1, 1025);
	memset(big, 'a', 1025);
	assert_int_equal(S->publish(f->tctx, f->topic, big, 1024, f->arena, NULL, &e), CARACAL_OK);
	assert_int_equal(S->publish(f->tctx, f->topic, big, 1025, f->arena, NULL, &e),
	                 CARACAL_E_TOOBIG);
	free(big);
}

static void test_bad_names(void **state)
{
	fx *f = *state;
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->publish(f->tctx, "", "x", 1, NULL, NULL, &e), CARACAL_E_INVAL);
	assert_int_equal(S->publish(f->tctx, "a b", "x", 1, NULL, NULL, &e), CARACAL_E_INVAL);
	assert_int_equal(S->group_create(f->tctx, f->topic, "", &e), CARACAL_E_INVAL);
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK);
	publish(f, f->topic, "x");
	got *g = calloc(1, sizeof *g);
	assert_int_equal(consume(f, "g", "c", 1, 100, g), CARACAL_OK);
	assert_int_equal(S->ack(f->tctx, f->topic, "g", "garbage", &e), CARACAL_E_INVAL);
	assert_int_equal(S->ack(f->tctx, f->topic, "g", "1-", &e), CARACAL_E_INVAL);
	assert_int_equal(S->ack(f->tctx, f->topic, "g", "999999999999999-0", &e),
	                 CARACAL_E_NOTFOUND);
	free(g);
}

static void test_bad_config(void **state)
{
	fx *f = *state;
	if (!schema_has("max_entries"))
		skip();
	caracal_error e = {0};
	th_cfg_set(f->cfg, "max_entries", "0");
	const caracal_cfg *node = th_cfg_node(f->cfg, P->config_schema, &e);
	assert_non_null(node);
	void *inst = NULL;
	assert_int_equal(P->instance_create(H, th_scope(), node, &inst, &e), CARACAL_E_INVAL);
	th_cfg_set(f->cfg, "max_entries", "many");
	assert_null(th_cfg_node(f->cfg, P->config_schema, &e));
	th_cfg_set(f->cfg, "max_entries", NULL);
	th_cfg_set(f->cfg, "bogus", "1");
	assert_null(th_cfg_node(f->cfg, P->config_schema, &e));
}

static void test_stop_wakes_consumer(void **state)
{
	fx *f = *state;
	if (P->instance_stop == NULL)
		skip();
	start(f);
	caracal_error e = {0};
	assert_int_equal(S->group_create(f->tctx, f->topic, "g", &e), CARACAL_OK);
	/* A stopped instance refuses; (a blocked consumer is woken: that is the
	 * same flag, checked after every wait). */
	P->instance_stop(f->inst);
	got g = {0};
	int64_t t0 = mono_ms();
	assert_int_equal(consume(f, "g", "c", 1, 5000, &g), CARACAL_E_UNAVAIL);
	assert_true(mono_ms() - t0 < 1000);
	assert_int_equal(S->publish(f->tctx, f->topic, "x", 1, NULL, NULL, &e), CARACAL_E_UNAVAIL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptor),
	    cmocka_unit_test_setup_teardown(test_order_and_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_groups_independent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ack_and_claim, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_callback_error_stops_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_consume_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_consume_wakes_on_publish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_publishers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_is_unavail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_wakes_consumer, setup, teardown),
	};
	return cmocka_run_group_tests_name("stream conformance", tests, group_setup,
	                                   group_teardown);
}
