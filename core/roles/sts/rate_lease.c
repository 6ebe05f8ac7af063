/* rate_lease.c — see rate_lease.h. */
#include "roles/sts/rate_lease.h"

#include "util/fnv.h"

#include <pthread.h>
#include <string.h>

#define KEY_MAX 192 /* "mint:<zone>:<resource>:<app>" with UUIDs is 115 */
#define WAYS 4      /* slots probed per key */

struct lease {
	uint64_t owner; /* 0: empty */
	int64_t window_start_us;
	uint64_t limit;
	uint64_t remaining; /* hits leased and not yet spent */
	int exhausted;      /* storage said DENIED for this window */
	uint32_t hash;
	char key[KEY_MAX];
};

static struct lease table[RATE_LEASE_SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t rate_lease_block(uint64_t limit)
{
	uint64_t b = limit / 64;
	return b < 1 ? 1 : b > RATE_LEASE_BLOCK_MAX ? RATE_LEASE_BLOCK_MAX : b;
}

/* The slot holding this lease, or NULL. Lock held. */
static struct lease *find(uint64_t owner, uint32_t h, const char *key, int64_t window_start_us,
                          uint64_t limit)
{
	for (unsigned i = 0; i < WAYS; i++) {
		struct lease *e = &table[(h + i) & (RATE_LEASE_SLOTS - 1)];
		if (e->owner == owner && e->hash == h && e->window_start_us == window_start_us &&
		    e->limit == limit && strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

/* A slot for a new lease: an empty one, else one of an older window, else
 * the first probed (its unspent hits are lost: that only denies sooner). */
static struct lease *victim(uint32_t h, int64_t window_start_us)
{
	struct lease *older = NULL;
	for (unsigned i = 0; i < WAYS; i++) {
		struct lease *e = &table[(h + i) & (RATE_LEASE_SLOTS - 1)];
		if (e->owner == 0)
			return e;
		if (older == NULL && e->window_start_us < window_start_us)
			older = e;
	}
	return older != NULL ? older : &table[h & (RATE_LEASE_SLOTS - 1)];
}

static void remember(uint64_t owner, uint32_t h, const char *key, size_t n, int64_t window_start_us,
                     uint64_t limit, uint64_t remaining, int exhausted)
{
	pthread_mutex_lock(&table_lock);
	struct lease *e = find(owner, h, key, window_start_us, limit);
	if (e == NULL) {
		e = victim(h, window_start_us);
		e->owner = owner;
		e->hash = h;
		e->window_start_us = window_start_us;
		e->limit = limit;
		e->remaining = 0;
		memcpy(e->key, key, n + 1);
	}
	/* Another worker may have leased a block of the same window meanwhile:
	 * both blocks are this process's to spend. */
	e->remaining += remaining;
	e->exhausted = exhausted && e->remaining == 0;
	pthread_mutex_unlock(&table_lock);
}

int rate_lease_hit(uint64_t owner, const caracal_storage_ops *storage, void *tctx, const char *key,
                   int64_t window_start_us, int64_t window_len_us, uint64_t limit,
                   caracal_error *err)
{
	size_t n = strlen(key);
	uint64_t block = rate_lease_block(limit);
	int leasable = storage->rate_take != NULL && block > 1 && n < KEY_MAX && owner != 0;
	uint32_t h = fnv1a32(key, n);
	if (leasable) {
		pthread_mutex_lock(&table_lock);
		struct lease *e = find(owner, h, key, window_start_us, limit);
		int rc = -1;
		if (e != NULL && e->remaining > 0) {
			e->remaining--;
			rc = CARACAL_OK;
		} else if (e != NULL && e->exhausted) {
			rc = caracal_error_set(err, CARACAL_E_DENIED, "mint rate limit reached");
		}
		pthread_mutex_unlock(&table_lock);
		if (rc != -1)
			return rc;
	}
	if (!leasable) {
		uint64_t count = 0;
		return storage->rate_hit(tctx, key, window_start_us, window_len_us, limit, &count,
		                         err);
	}
	uint64_t taken = 0;
	int rc = storage->rate_take(tctx, key, window_start_us, window_len_us, limit, block, &taken,
	                            NULL, err);
	if (rc == CARACAL_E_DENIED) {
		remember(owner, h, key, n, window_start_us, limit, 0, 1);
		return rc;
	}
	if (rc != CARACAL_OK)
		return rc;
	if (taken == 0 || taken > block) /* a storage that broke its contract */
		return caracal_error_set(err, CARACAL_E_INTERNAL,
		                         "storage rate_take counted %llu of %llu hits",
		                         (unsigned long long)taken, (unsigned long long)block);
	if (taken > 1)
		remember(owner, h, key, n, window_start_us, limit, taken - 1, 0);
	return CARACAL_OK;
}

void rate_lease_reset(void)
{
	pthread_mutex_lock(&table_lock);
	memset(table, 0, sizeof table);
	pthread_mutex_unlock(&table_lock);
}
