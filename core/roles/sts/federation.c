/* federation.c — see federation.h. */
#include "roles/sts/federation.h"

#include "util/why.h"

#include "roles/sts/idtoken.h"
#include "roles/sts/jwt.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/https_get.h"
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the key-set cache ---------------------------------------------------------- */

#define CACHE_SLOTS 64

/* One issuer's key set, keyed by what was fetched: zone, issuer and URL (an
 * issuer re-registered with another URL never reuses the old keys). */
struct cached_keys {
	char *key; /* "zone\n issuer \n url" */
	char *jwks;
	size_t jwks_len;
	int64_t fetched_at_us;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached_keys cache[CACHE_SLOTS];

static void slot_clear(struct cached_keys *c)
{
	free(c->key);
	free(c->jwks);
	memset(c, 0, sizeof *c);
}

void sts_federation_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		slot_clear(&cache[i]);
	pthread_mutex_unlock(&cache_lock);
}

/* A copy of the cached key set younger than max_age_us, or NULL. */
static char *cache_get(const char *key, int64_t now_us, int64_t max_age_us, size_t *len,
                       int64_t *fetched_at_us)
{
	char *copy = NULL;
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct cached_keys *c = &cache[i];
		if (c->key == NULL || strcmp(c->key, key) != 0)
			continue;
		if (now_us - c->fetched_at_us < max_age_us && now_us >= c->fetched_at_us) {
			copy = malloc(c->jwks_len + 1);
			if (copy != NULL) {
				memcpy(copy, c->jwks, c->jwks_len + 1);
				*len = c->jwks_len;
				*fetched_at_us = c->fetched_at_us;
			}
		}
		break;
	}
	pthread_mutex_unlock(&cache_lock);
	return copy;
}

/* Store a copy; the slot of the same key, else an empty one, else the
 * oldest is replaced. */
static void cache_put(const char *key, const char *jwks, size_t len, int64_t now_us)
{
	char *k = strdup(key), *v = malloc(len + 1);
	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		return; /* not cached: the next exchange fetches again */
	}
	memcpy(v, jwks, len);
	v[len] = '\0';
	pthread_mutex_lock(&cache_lock);
	struct cached_keys *slot = NULL;
	for (size_t i = 0; i < CACHE_SLOTS && slot == NULL; i++)
		if (cache[i].key != NULL && strcmp(cache[i].key, key) == 0)
			slot = &cache[i];
	for (size_t i = 0; i < CACHE_SLOTS && slot == NULL; i++)
		if (cache[i].key == NULL)
			slot = &cache[i];
	if (slot == NULL) {
		slot = &cache[0];
		for (size_t i = 1; i < CACHE_SLOTS; i++)
			if (cache[i].fetched_at_us < slot->fetched_at_us)
				slot = &cache[i];
	}
	slot_clear(slot);
	slot->key = k;
	slot->jwks = v;
	slot->jwks_len = len;
	slot->fetched_at_us = now_us;
	pthread_mutex_unlock(&cache_lock);
}

/* ---- fetching ----------------------------------------------------------------------- */

static int fetch_keys(const settings *st, const char *url, char **jwks, size_t *len, char *why,
                      size_t cap)
{
	char ca_path[4200];
	const char *ca = st->federation_ca_file;
	if (ca != NULL && ca[0] != '/') {
		snprintf(ca_path, sizeof ca_path, "%s/%s", st->data_dir, ca);
		ca = ca_path;
	}
	https_get_options opt = {
	    .allow_private = st->federation_allow_private,
	    .ca_file = ca,
	    .timeout_ms = 5000,
	    .max_body = 256 * 1024,
	};
	char reason[192];
	if (https_get(url, &opt, jwks, len, reason, sizeof reason) != 0)
		return why_fail(why, cap, "issuer keys unavailable: %s", reason);
	/* A key set is an object with a "keys" array; anything else is not
	 * cached (the next exchange tries again). */
	json_error_t je;
	json_t *doc = json_loadb(*jwks, *len, JSON_REJECT_DUPLICATES, &je);
	int ok = json_is_array(json_object_get(doc, "keys"));
	json_decref(doc);
	if (!ok) {
		free(*jwks);
		*jwks = NULL;
		return why_fail(why, cap, "issuer keys unavailable: not a JWK set");
	}
	return 0;
}

/* One fetch per key at a time (single-flight): exchanges arriving while an
 * issuer's keys are being fetched wait for that fetch instead of starting
 * their own, so a cold cache costs the issuer one request and the pool one
 * blocked worker. A waiter whose fetch failed fails too (no stampede). */
#define INFLIGHT_SLOTS 16

static pthread_cond_t fetch_done = PTHREAD_COND_INITIALIZER;
static char *inflight[INFLIGHT_SLOTS]; /* keys being fetched, under cache_lock */

static int inflight_find(const char *key)
{
	for (int i = 0; i < INFLIGHT_SLOTS; i++)
		if (inflight[i] != NULL && strcmp(inflight[i], key) == 0)
			return i;
	return -1;
}

static int fetch_once(const settings *st, const char *key, const char *url, char **jwks,
                      size_t *len, char *why, size_t cap)
{
	pthread_mutex_lock(&cache_lock);
	if (inflight_find(key) >= 0) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 7; /* the fetch's own deadline is 5 s (plus DNS) */
		while (inflight_find(key) >= 0)
			if (pthread_cond_timedwait(&fetch_done, &cache_lock, &until) != 0)
				break;
		pthread_mutex_unlock(&cache_lock);
		/* The fetch we waited for may have begun after this exchange did:
		 * judge the cache by the clock now, not by our start. */
		int64_t at = 0;
		*jwks = cache_get(key, clock_now_us(), STS_FEDERATION_JWKS_TTL_US, len, &at);
		return *jwks != NULL ? 0 : why_fail(why, cap, "issuer keys unavailable");
	}
	int slot = -1;
	for (int i = 0; i < INFLIGHT_SLOTS && slot < 0; i++)
		if (inflight[i] == NULL)
			slot = i;
	if (slot >= 0)
		inflight[slot] = strdup(key); /* NULL on OOM: fetch without the flag */
	pthread_mutex_unlock(&cache_lock);

	int rc = fetch_keys(st, url, jwks, len, why, cap);
	if (rc == 0)
		cache_put(key, *jwks, *len, clock_now_us());

	pthread_mutex_lock(&cache_lock);
	if (slot >= 0) {
		free(inflight[slot]);
		inflight[slot] = NULL;
	}
	pthread_cond_broadcast(&fetch_done);
	pthread_mutex_unlock(&cache_lock);
	return rc;
}

/* ---- the exchange -------------------------------------------------------------------- */

sts_federation_result sts_federation_verify(const role_deps *deps, const char *zone,
                                            const char *id_token, caracal_arena *arena,
                                            int64_t now_us, const char **issuer,
                                            const char **subject, char *why, size_t why_cap)
{
	*issuer = *subject = NULL;
	jwt j;
	char reason[192];
	if (jwt_parse(id_token, strlen(id_token), &j, reason, sizeof reason) != 0) {
		why_fail(why, why_cap, "malformed id_token: %s", reason);
		return STS_FEDERATION_REJECTED;
	}
	const char *iss = json_string_value(json_object_get(j.claims, "iss"));
	if (iss == NULL || iss[0] == '\0') {
		jwt_free(&j);
		why_fail(why, why_cap, "id_token has no iss");
		return STS_FEDERATION_REJECTED;
	}
	caracal_subject_issuer reg = {.size = sizeof reg};
	caracal_error err = {0};
	int rc =
	    deps->storage->subject_issuer_get(deps->storage_tctx, zone, iss, arena, &reg, &err);
	if (rc == CARACAL_E_NOTFOUND ||
	    (rc == CARACAL_OK && (reg.jwks_url == NULL || reg.audience == NULL))) {
		jwt_free(&j);
		why_fail(why, why_cap, "issuer not registered for the zone");
		return STS_FEDERATION_REJECTED;
	}
	if (rc != CARACAL_OK) {
		jwt_free(&j);
		log_error("sts", "subject issuer lookup: %s", err.message);
		why_fail(why, why_cap, "storage unavailable");
		return STS_FEDERATION_UNAVAILABLE;
	}

	size_t klen = strlen(zone) + strlen(reg.issuer) + strlen(reg.jwks_url) + 3;
	char *key = arena_alloc(arena, klen);
	if (key == NULL) {
		jwt_free(&j);
		why_fail(why, why_cap, "out of memory");
		return STS_FEDERATION_UNAVAILABLE;
	}
	snprintf(key, klen, "%s\n%s\n%s", zone, reg.issuer, reg.jwks_url);
	size_t jwks_len = 0;
	int64_t fetched_at = 0;
	char *jwks = cache_get(key, now_us, STS_FEDERATION_JWKS_TTL_US, &jwks_len, &fetched_at);
	if (jwks == NULL) {
		role_before_blocking(deps);
		if (fetch_once(deps->settings, key, reg.jwks_url, &jwks, &jwks_len, why, why_cap) !=
		    0) {
			jwt_free(&j);
			return STS_FEDERATION_REJECTED;
		}
		fetched_at = now_us;
	}
	int64_t now_s = now_us / 1000000;
	rc = sts_idtoken_verify(&j, id_token, jwks, jwks_len, reg.issuer, reg.audience, now_s,
	                        reason, sizeof reason);
	if (rc != 0 && strcmp(reason, "unknown kid") == 0 &&
	    now_us - fetched_at >= STS_FEDERATION_REFETCH_US) {
		/* The issuer may have rotated since the keys were cached. */
		free(jwks);
		jwks = NULL;
		role_before_blocking(deps);
		if (fetch_once(deps->settings, key, reg.jwks_url, &jwks, &jwks_len, why, why_cap) !=
		    0) {
			jwt_free(&j);
			return STS_FEDERATION_REJECTED;
		}
		rc = sts_idtoken_verify(&j, id_token, jwks, jwks_len, reg.issuer, reg.audience,
		                        now_s, reason, sizeof reason);
	}
	free(jwks);
	if (rc != 0) {
		jwt_free(&j);
		why_fail(why, why_cap, "%s", reason);
		return STS_FEDERATION_REJECTED;
	}
	const json_t *sub = json_object_get(j.claims, "sub");
	*subject = arena_strndup(arena, json_string_value(sub), json_string_length(sub));
	*issuer = arena_strndup(arena, reg.issuer, strlen(reg.issuer));
	jwt_free(&j);
	if (*subject == NULL || *issuer == NULL) {
		why_fail(why, why_cap, "out of memory");
		return STS_FEDERATION_UNAVAILABLE;
	}
	return STS_FEDERATION_OK;
}
