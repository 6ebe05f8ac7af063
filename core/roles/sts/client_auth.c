/* client_auth.c — see client_auth.h. */
#include "roles/sts/client_auth.h"
#include "roles/sts/sts.h"

#include "util/clock.h"
#include "util/secret_hash.h"
#include "util/sha256.h"
#include "util/siphash.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 8192

struct cache_entry {
	char stored[SECRET_HASH_MAX];
	unsigned char digest[32];
	int64_t expires_us;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *cache;
/* Random: nobody can aim secrets at one slot (SipHash, not an HMAC: it is
 * computed on every warm authentication). */
static unsigned char slot_key[16];
static sem_t cold_slots;
static int init_concurrency = 2;
static _Atomic uint64_t cold_count;

static void count_verification(const char *kind)
{
	sts_metric_count("sts_secret_verifications", kind, 1);
}

static void init_once(void)
{
	cache = calloc(CACHE_SLOTS, sizeof *cache);
	if (RAND_bytes(slot_key, sizeof slot_key) != 1)
		abort(); /* no CSPRNG: nothing on the authority path is safe */
	if (cache == NULL)
		abort(); /* at start-up: nothing useful can run */
	sem_init(&cold_slots, 0, (unsigned)init_concurrency);
}

void client_auth_init(int concurrency)
{
	if (concurrency > 0)
		init_concurrency = concurrency;
	pthread_once(&once, init_once);
}

static size_t slot_of(const char *stored_hash, size_t len)
{
	return (size_t)(siphash24(slot_key, stored_hash, len) % CACHE_SLOTS);
}

int client_auth_warm(const char *stored_hash, const char *secret, size_t len)
{
	client_auth_init(0);
	size_t slen = strlen(stored_hash);
	if (slen >= SECRET_HASH_MAX)
		return 0;
	unsigned char digest[32];
	if (sha256_digest(secret, len, digest) != 0)
		return 0; /* cold then: the full verification decides */
	int64_t now = clock_monotonic_us();
	pthread_mutex_lock(&cache_lock);
	const struct cache_entry *e = &cache[slot_of(stored_hash, slen)];
	int warm = e->expires_us > now && strcmp(e->stored, stored_hash) == 0 &&
	           CRYPTO_memcmp(e->digest, digest, sizeof digest) == 0;
	pthread_mutex_unlock(&cache_lock);
	OPENSSL_cleanse(digest, sizeof digest);
	if (warm)
		count_verification("warm");
	return warm;
}

client_auth_result client_auth_cold(const char *stored_hash, const char *secret, size_t len,
                                    int64_t wait_ms)
{
	client_auth_init(0);
	size_t slen = strlen(stored_hash);
	if (slen >= SECRET_HASH_MAX)
		return CLIENT_AUTH_MISMATCH;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (wait_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while (sem_timedwait(&cold_slots, &deadline) != 0) {
		if (errno != EINTR)
			return CLIENT_AUTH_BUSY;
	}
	atomic_fetch_add(&cold_count, 1);
	count_verification("cold");
	int ok = secret_hash_verify(stored_hash, secret, len);
	sem_post(&cold_slots);
	if (!ok)
		return CLIENT_AUTH_MISMATCH;

	unsigned char digest[32];
	if (sha256_digest(secret, len, digest) != 0)
		return CLIENT_AUTH_OK; /* verified; only not remembered */
	pthread_mutex_lock(&cache_lock);
	struct cache_entry *e = &cache[slot_of(stored_hash, slen)];
	memcpy(e->stored, stored_hash, slen + 1);
	memcpy(e->digest, digest, sizeof digest);
	e->expires_us = clock_monotonic_us() + CLIENT_AUTH_CACHE_TTL_US;
	pthread_mutex_unlock(&cache_lock);
	OPENSSL_cleanse(digest, sizeof digest);
	return CLIENT_AUTH_OK;
}

void client_auth_reset(void)
{
	client_auth_init(0);
	pthread_mutex_lock(&cache_lock);
	memset(cache, 0, CACHE_SLOTS * sizeof *cache);
	pthread_mutex_unlock(&cache_lock);
	atomic_store(&cold_count, 0);
}

uint64_t client_auth_cold_verifications(void)
{
	return atomic_load(&cold_count);
}
