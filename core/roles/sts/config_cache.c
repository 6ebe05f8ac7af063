/* config_cache.c — see config_cache.h. */
#include "roles/sts/config_cache.h"

#include "util/clock.h"
#include "util/fnv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024 /* a power of two */
#define KEY_MAX 640  /* kind + zone + two ids/identifiers, NUL-separated */

struct grant_scopes {
	const char **scopes;
	size_t count, cap;
	int failed;
	caracal_arena *arena;
};

union config_value {
	caracal_application app;
	caracal_resource res;
	struct grant_scopes grants;
};

struct config_entry {
	atomic_int refs; /* the table's (while listed) + one per view holding it */
	uint32_t hash;
	size_t key_len;
	char *key; /* in arena */
	caracal_arena *arena;
	union config_value v;
	struct config_entry *next; /* bucket chain */
};

struct config_ref {
	struct config_entry *e;
	struct config_ref *next;
};

static struct {
	pthread_mutex_t lock;
	uint64_t owner, generation;
	struct config_entry *bucket[BUCKETS];
	size_t count;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void entry_unref(struct config_entry *e)
{
	if (atomic_fetch_sub(&e->refs, 1) == 1) {
		arena_free(e->arena);
		free(e);
	}
}

/* Drop the table's references. Lock held. */
static void flush_locked(void)
{
	for (size_t i = 0; i < BUCKETS; i++) {
		struct config_entry *e = cache.bucket[i];
		cache.bucket[i] = NULL;
		while (e != NULL) {
			struct config_entry *next = e->next;
			entry_unref(e);
			e = next;
		}
	}
	cache.count = 0;
}

void sts_config_cache_clear(void)
{
	pthread_mutex_lock(&cache.lock);
	flush_locked();
	cache.generation = 0;
	pthread_mutex_unlock(&cache.lock);
}

size_t sts_config_cache_size(void)
{
	pthread_mutex_lock(&cache.lock);
	size_t n = cache.count;
	pthread_mutex_unlock(&cache.lock);
	return n;
}

/* The generation this worker read last, and when (monotonic µs). */
static _Thread_local struct {
	uint64_t owner, generation;
	int64_t read_at_us;
} last_read;

void sts_config_view_open(sts_config_view *v, const caracal_storage_ops *storage, void *tctx,
                          uint64_t owner, caracal_arena *arena)
{
	*v = (sts_config_view){.storage = storage, .tctx = tctx, .owner = owner, .arena = arena};
	if (storage->config_generation == NULL || owner == 0)
		return;
	int64_t now = clock_monotonic_us();
	if (last_read.owner == owner && last_read.generation != 0 &&
	    now - last_read.read_at_us < CONFIG_GENERATION_REUSE_US) {
		v->generation = last_read.generation;
		return;
	}
	uint64_t gen = 0;
	caracal_error ignored = {0};
	if (storage->config_generation(tctx, &gen, &ignored) == CARACAL_OK) {
		v->generation = gen;
		last_read.owner = owner;
		last_read.generation = gen;
		last_read.read_at_us = now;
	}
}

void sts_config_view_close(sts_config_view *v)
{
	for (struct config_ref *r = v->held; r != NULL; r = r->next)
		entry_unref(r->e);
	v->held = NULL;
}

/* ---------------------------------------------------------------- fills */

static int collect_grant(void *ud, const void *record)
{
	struct grant_scopes *u = ud;
	const caracal_grant *g = record;
	for (size_t i = 0; i < g->scopes.count && !u->failed; i++) {
		const char *s = g->scopes.items[i];
		int seen = 0;
		for (size_t j = 0; j < u->count && !seen; j++)
			seen = strcmp(u->scopes[j], s) == 0;
		if (seen)
			continue;
		if (u->count == u->cap) {
			size_t cap = u->cap != 0 ? u->cap * 2 : 16;
			const char **grown = arena_alloc(u->arena, cap * sizeof *grown);
			if (grown == NULL) {
				u->failed = 1;
				break;
			}
			if (u->count > 0)
				memcpy(grown, u->scopes, u->count * sizeof *grown);
			u->scopes = grown;
			u->cap = cap;
		}
		const char *copy = arena_strndup(u->arena, s, strlen(s));
		if (copy == NULL)
			u->failed = 1;
		else
			u->scopes[u->count++] = copy;
	}
	return 0;
}

/* Read one value from storage into arena. parts: zone, then one or two ids. */
static int fill(const sts_config_view *v, char kind, const char *const *parts, caracal_arena *arena,
                union config_value *out, caracal_error *err)
{
	switch (kind) {
	case 'a':
		out->app = (caracal_application){.size = sizeof out->app};
		return v->storage->application_get(v->tctx, parts[0], parts[1], arena, &out->app,
		                                   err);
	case 'r':
		out->res = (caracal_resource){.size = sizeof out->res};
		return v->storage->resource_get(v->tctx, parts[0], parts[1], arena, &out->res, err);
	default: {
		out->grants = (struct grant_scopes){.arena = arena};
		int rc = v->storage->grant_list(v->tctx, parts[0], parts[1], parts[2],
		                                collect_grant, &out->grants, err);
		if (rc == CARACAL_OK && out->grants.failed)
			rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return rc;
	}
	}
}

/* ---------------------------------------------------------------- lookup */

/* kind, then the parts, each NUL-terminated; 0 when it does not fit. */
static size_t make_key(char *key, char kind, const char *const *parts, size_t nparts)
{
	size_t n = 0;
	key[n++] = kind;
	for (size_t i = 0; i < nparts; i++) {
		size_t l = strlen(parts[i]);
		if (l + 1 > KEY_MAX - n)
			return 0;
		memcpy(key + n, parts[i], l + 1);
		n += l + 1;
	}
	return n;
}

/* Bring the cache to the view's generation. Lock held. */
static void cache_follow(const sts_config_view *v)
{
	/* Any other number empties the cache, a lower one too: a storage
	 * restored (or replaced) under the same owner counts up again, and
	 * entries listed before must not come back when it reaches their
	 * number. Views just either side of a write make it change hands a
	 * few times; each entry they list was read after their number. */
	if (cache.owner != v->owner || v->generation != cache.generation) {
		flush_locked();
		cache.owner = v->owner;
		cache.generation = v->generation;
	}
}

static struct config_entry *find_locked(uint32_t h, const char *key, size_t n)
{
	for (struct config_entry *e = cache.bucket[h & (BUCKETS - 1)]; e != NULL; e = e->next)
		if (e->hash == h && e->key_len == n && memcmp(e->key, key, n) == 0)
			return e;
	return NULL;
}

static int hold(sts_config_view *v, struct config_entry *e, caracal_error *err)
{
	struct config_ref *r = arena_alloc(v->arena, sizeof *r);
	if (r == NULL) {
		entry_unref(e);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	r->e = e;
	r->next = v->held;
	v->held = r;
	return CARACAL_OK;
}

/* The value of (kind, parts): from the cache, or read and listed. */
static int lookup(sts_config_view *v, char kind, const char *const *parts, size_t nparts,
                  const union config_value **out, caracal_error *err)
{
	char key[KEY_MAX];
	size_t n = v->generation != 0 ? make_key(key, kind, parts, nparts) : 0;
	if (n == 0) { /* not cached: read into the view's arena */
		union config_value *val = arena_alloc(v->arena, sizeof *val);
		if (val == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		*out = val;
		return fill(v, kind, parts, v->arena, val, err);
	}
	uint32_t h = fnv1a32(key, n);
	pthread_mutex_lock(&cache.lock);
	cache_follow(v);
	struct config_entry *e = find_locked(h, key, n);
	if (e != NULL)
		atomic_fetch_add(&e->refs, 1);
	pthread_mutex_unlock(&cache.lock);
	if (e != NULL) {
		*out = &e->v;
		return hold(v, e, err);
	}

	e = calloc(1, sizeof *e);
	caracal_arena *arena = e != NULL ? arena_new() : NULL;
	char *kcopy = arena != NULL ? arena_alloc(arena, n) : NULL;
	if (kcopy == NULL) {
		arena_free(arena);
		free(e);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	memcpy(kcopy, key, n);
	e->arena = arena;
	e->key = kcopy;
	e->key_len = n;
	e->hash = h;
	atomic_init(&e->refs, 1); /* the view's */
	int rc = fill(v, kind, parts, arena, &e->v, err);
	if (rc != CARACAL_OK) {
		entry_unref(e);
		return rc;
	}
	pthread_mutex_lock(&cache.lock);
	/* List it (under the view's generation: the cache follows it again if
	 * it moved meanwhile) unless another view listed the same key first;
	 * a full cache starts over (entries are cheap to read again, and a
	 * bound matters more than a policy). */
	cache_follow(v);
	if (find_locked(h, key, n) == NULL) {
		if (cache.count >= CONFIG_CACHE_MAX_ENTRIES)
			flush_locked();
		atomic_fetch_add(&e->refs, 1);
		e->next = cache.bucket[h & (BUCKETS - 1)];
		cache.bucket[h & (BUCKETS - 1)] = e;
		cache.count++;
	}
	pthread_mutex_unlock(&cache.lock);
	*out = &e->v;
	return hold(v, e, err);
}

/* ---------------------------------------------------------------- typed */

int sts_config_application(sts_config_view *v, const char *zone_id, const char *id,
                           caracal_application *out, caracal_error *err)
{
	const char *parts[] = {zone_id, id};
	const union config_value *val;
	int rc = lookup(v, 'a', parts, 2, &val, err);
	if (rc == CARACAL_OK)
		*out = val->app;
	return rc;
}

int sts_config_resource(sts_config_view *v, const char *zone_id, const char *id_or_identifier,
                        caracal_resource *out, caracal_error *err)
{
	const char *parts[] = {zone_id, id_or_identifier};
	const union config_value *val;
	int rc = lookup(v, 'r', parts, 2, &val, err);
	if (rc == CARACAL_OK)
		*out = val->res;
	return rc;
}

int sts_config_grant_scopes(sts_config_view *v, const char *zone_id, const char *application_id,
                            const char *resource_id, const char *const **scopes, size_t *count,
                            caracal_error *err)
{
	const char *parts[] = {zone_id, application_id, resource_id};
	const union config_value *val;
	int rc = lookup(v, 'g', parts, 3, &val, err);
	if (rc == CARACAL_OK) {
		*scopes = (const char *const *)val->grants.scopes;
		*count = val->grants.count;
	}
	return rc;
}
