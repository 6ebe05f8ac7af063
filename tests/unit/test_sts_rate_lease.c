/*
 * test_sts_rate_lease.c — the mint rate limit counted in leased blocks
 * (core/roles/sts/rate_lease.c) against a real storage_sqlite in a
 * temporary directory, linked without dlopen. Two owners stand for two
 * processes sharing the storage: together they never pass the limit.
 * A thin wrapper counts the plugin's rate calls and injects faults.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "host.h"
#include "roles/sts/rate_lease.h"
#include "sqlite_fixture.h"
#include "storage_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W0 INT64_C(1800000000000000)
#define WLEN INT64_C(60000000)
#define KEY "mint:zone:resource:app"

static struct {
	int takes, hits;   /* calls that reached the plugin */
	int fail_code;     /* non-zero: the next call fails with it */
	uint64_t overtake; /* non-zero: rate_take claims this many were taken */
} wrap;

static int wrap_rate_take(void *tctx, const char *key, int64_t ws, int64_t wl, uint64_t limit,
                          uint64_t want, uint64_t *taken, uint64_t *count, caracal_error *err)
{
	wrap.takes++;
	if (wrap.fail_code != 0)
		return caracal_error_set(err, wrap.fail_code, "injected fault");
	int rc = ss_storage_ops.rate_take(tctx, key, ws, wl, limit, want, taken, count, err);
	if (rc == CARACAL_OK && wrap.overtake != 0)
		*taken = wrap.overtake;
	return rc;
}

static int wrap_rate_hit(void *tctx, const char *key, int64_t ws, int64_t wl, uint64_t limit,
                         uint64_t *count, caracal_error *err)
{
	wrap.hits++;
	if (wrap.fail_code != 0)
		return caracal_error_set(err, wrap.fail_code, "injected fault");
	return ss_storage_ops.rate_hit(tctx, key, ws, wl, limit, count, err);
}

typedef struct fx {
	sqlite_fixture db;
	void *tctx; /* db.tctx */
	caracal_storage_ops ops;
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	sqlite_fixture_open(&f->db, "/tmp/sts-rate");
	f->tctx = f->db.tctx;
	f->ops = ss_storage_ops;
	f->ops.rate_take = wrap_rate_take;
	f->ops.rate_hit = wrap_rate_hit;
	memset(&wrap, 0, sizeof wrap);
	rate_lease_reset();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	sqlite_fixture_close(&f->db);
	free(f);
	return 0;
}

static int hit(fx *f, uint64_t owner, int64_t window, uint64_t limit)
{
	caracal_error err = {0};
	return rate_lease_hit(owner, &f->ops, f->tctx, KEY, window, WLEN, limit, &err);
}

/* The hits storage holds for the window (limit 0 reads without counting). */
static uint64_t stored(fx *f, int64_t window)
{
	caracal_error err = {0};
	uint64_t count = 0;
	assert_int_equal(ss_storage_ops.rate_hit(f->tctx, KEY, window, WLEN, 0, &count, &err),
	                 CARACAL_E_DENIED);
	return count;
}

static void test_block_size(void **state)
{
	(void)state;
	assert_int_equal(rate_lease_block(1), 1);
	assert_int_equal(rate_lease_block(127), 1);
	assert_int_equal(rate_lease_block(1000), 15);
	assert_int_equal(rate_lease_block(UINT64_MAX), RATE_LEASE_BLOCK_MAX);
}

/* One process: exactly limit hits pass, one write per block. */
static void test_exact_limit_one_write_per_block(void **state)
{
	fx *f = *state;
	for (int i = 0; i < 640; i++)
		assert_int_equal(hit(f, 1, W0, 640), CARACAL_OK);
	assert_int_equal(wrap.takes, 64); /* block 10 */
	assert_int_equal(stored(f, W0), 640);
	assert_int_equal(hit(f, 1, W0, 640), CARACAL_E_DENIED);
	/* Once storage said the window is full, it is not asked again. */
	int takes = wrap.takes;
	assert_int_equal(hit(f, 1, W0, 640), CARACAL_E_DENIED);
	assert_int_equal(wrap.takes, takes);
	/* The next window starts over. */
	assert_int_equal(hit(f, 1, W0 + WLEN, 640), CARACAL_OK);
	assert_int_equal(stored(f, W0 + WLEN), 10);
}

/* Two processes: together never more than the limit; the one holding an
 * unspent block is the only one that can still spend it. */
static void test_two_owners_never_exceed(void **state)
{
	fx *f = *state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(hit(f, 1, W0, 640), CARACAL_OK);
	int passed = 0;
	while (hit(f, 2, W0, 640) == CARACAL_OK)
		passed++;
	assert_int_equal(passed, 630); /* owner 1 still holds 5 of its block */
	assert_int_equal(stored(f, W0), 640);
	for (int i = 0; i < 5; i++)
		assert_int_equal(hit(f, 1, W0, 640), CARACAL_OK);
	assert_int_equal(hit(f, 1, W0, 640), CARACAL_E_DENIED);
	assert_int_equal(hit(f, 2, W0, 640), CARACAL_E_DENIED);
}

/* A limit below 128 has a block of one: every hit is a storage hit. A
 * changed limit does not spend hits leased under the old one. */
static void test_small_and_changed_limits(void **state)
{
	fx *f = *state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(hit(f, 1, W0, 3), CARACAL_OK);
	assert_int_equal(hit(f, 1, W0, 3), CARACAL_E_DENIED);
	assert_int_equal(wrap.hits, 4);
	assert_int_equal(wrap.takes, 0);
	assert_int_equal(hit(f, 1, W0 + WLEN, 6400), CARACAL_OK); /* leases 100 */
	assert_int_equal(stored(f, W0 + WLEN), 100);
	/* Lowered to 100: the 99 leased under 6400 are not spent. */
	assert_int_equal(hit(f, 1, W0 + WLEN, 100), CARACAL_E_DENIED);
	assert_int_equal(hit(f, 1, W0 + WLEN, 6400), CARACAL_OK); /* raised back: they are */
	assert_int_equal(stored(f, W0 + WLEN), 100);
}

/* Without rate_take (a 1.0/1.1 plugin) every hit is counted in storage. */
static void test_without_rate_take(void **state)
{
	fx *f = *state;
	f->ops.rate_take = NULL;
	for (int i = 0; i < 20; i++)
		assert_int_equal(hit(f, 1, W0, 6400), CARACAL_OK);
	assert_int_equal(wrap.hits, 20);
	assert_int_equal(stored(f, W0), 20);
}

/* Storage failures and a storage breaking its contract deny (fail closed),
 * and nothing is leased. */
static void test_storage_faults_deny(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	wrap.fail_code = CARACAL_E_UNAVAIL;
	assert_int_equal(rate_lease_hit(1, &f->ops, f->tctx, KEY, W0, WLEN, 640, &err),
	                 CARACAL_E_UNAVAIL);
	assert_string_equal(err.message, "injected fault");
	assert_int_equal(hit(f, 1, W0, 3), CARACAL_E_UNAVAIL); /* the rate_hit path too */
	wrap.fail_code = 0;
	wrap.overtake = 11; /* more than the block of 10 it asked for */
	assert_int_equal(hit(f, 1, W0, 640), CARACAL_E_INTERNAL);
	wrap.overtake = 0;
	assert_int_equal(hit(f, 1, W0, 640), CARACAL_OK);
	assert_int_equal(stored(f, W0), 20); /* the refused block stays counted */
}

/* Other owners' leases are never spent; keys too long to keep still count. */
static void test_owner_and_long_keys(void **state)
{
	fx *f = *state;
	assert_int_equal(hit(f, 7, W0, 640), CARACAL_OK);
	assert_int_equal(hit(f, 8, W0, 640), CARACAL_OK);
	assert_int_equal(wrap.takes, 2);
	char key[300];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	caracal_error err = {0};
	for (int i = 0; i < 3; i++)
		assert_int_equal(rate_lease_hit(7, &f->ops, f->tctx, key, W0, WLEN, 640, &err),
		                 CARACAL_OK);
	assert_int_equal(wrap.hits, 3);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_block_size), T(test_exact_limit_one_write_per_block),
	    T(test_two_owners_never_exceed),   T(test_small_and_changed_limits),
	    T(test_without_rate_take),         T(test_storage_faults_deny),
	    T(test_owner_and_long_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
