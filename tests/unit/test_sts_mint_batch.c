/*
 * test_sts_mint_batch.c — group commit of mints (core/roles/sts/mint_batch.c)
 * against a real storage_sqlite, linked without dlopen: parked exchanges are
 * finished only by the flush; a conflicting mint is refused alone; a failed
 * batch is written again mint by mint; when that fails too, every exchange
 * is refused and no record is left. A thin wrapper injects the faults.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "host.h"
#include "roles/sts/exchange.h"
#include "sqlite_fixture.h"
#include "storage_sqlite.h"
#include "util/arena.h"
#include "util/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW INT64_C(1800000000000000)
#define NMINTS 3

static struct {
	int batch_fail;  /* mint_write_batch fails with it */
	int single_fail; /* mint_write fails with it */
	int batches, singles;
} wrap;

static int wrap_batch(void *tctx, const caracal_mint_write *const *in, size_t n, int *rcs,
                      int *conflicts, caracal_error *errs, caracal_error *err)
{
	wrap.batches++;
	if (wrap.batch_fail != 0)
		return caracal_error_set(err, wrap.batch_fail, "injected batch fault");
	return ss_storage_ops.mint_write_batch(tctx, in, n, rcs, conflicts, errs, err);
}

static int wrap_single(void *tctx, const caracal_mint_write *in, int *conflict, caracal_error *err)
{
	wrap.singles++;
	if (wrap.single_fail != 0)
		return caracal_error_set(err, wrap.single_fail, "injected fault");
	return ss_storage_ops.mint_write(tctx, in, conflict, err);
}

/* Audit events seen, by evaluation_status (the role emitter takes fields). */
static struct {
	int issued, collisions, denied;
} audited;

static int test_audit(const char *zone_id, const char *event_type, json_t *fields,
                      caracal_error *err)
{
	(void)zone_id;
	(void)err;
	const char *status = json_string_value(json_object_get(fields, "evaluation_status"));
	if (strcmp(event_type, "jti_collision") == 0)
		audited.collisions++;
	else if (status != NULL && strcmp(status, "issued") == 0)
		audited.issued++;
	else if (status != NULL && strcmp(status, "parent_record_inactive") == 0)
		audited.denied++;
	json_decref(fields);
	return CARACAL_OK;
}

/* The hot path's events come as members (role_audit_members). */
static int test_audit_members(const char *zone_id, const char *event_type,
                              const jsonw_member *fields, size_t n, caracal_error *err)
{
	const char *status = NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].key, "evaluation_status") == 0 && fields[i].kind == JSONW_STR)
			status = fields[i].s;
	return test_audit(zone_id, event_type, json_pack("{s:s?}", "evaluation_status", status),
	                  err);
}

static int completed;
static void on_complete(deferred_work *dw)
{
	(void)dw;
	completed++;
}

typedef struct fx {
	sqlite_fixture db;
	void *tctx; /* db.tctx */
	caracal_storage_ops ops;
	worker_ctx wc;
	int gen_token; /* its address stands for the generation */
	role_deps deps;
	struct token_job *jobs[NMINTS];
	struct pending_mint *p[NMINTS];
} fx;

static void ok(int rc, const caracal_error *err)
{
	if (rc != CARACAL_OK)
		fail_msg("storage: %d %s", rc, err->message);
}

/* A signed mandate waiting for its writes, as issue.c leaves it. */
static struct pending_mint *pending(struct token_job *job)
{
	struct pending_mint *p = arena_alloc(job->arena, sizeof *p);
	assert_non_null(p);
	*p = (struct pending_mint){.job = job, .zone = "z1", .app_id = "app-1"};
	assert_int_equal(uuid_v7(p->sid), 0);
	assert_int_equal(uuid_v7(p->jti), 0);
	snprintf(p->jti_key, sizeof p->jti_key, "jti:%s", p->jti);
	p->rec = (caracal_authority_record){.size = sizeof p->rec,
	                                    .id = p->sid,
	                                    .zone_id = "z1",
	                                    .session_type = "application",
	                                    .subject_id = "app-1",
	                                    .status = "active",
	                                    .expires_at_us = NOW + 900000000LL,
	                                    .authenticated_at_us = NOW,
	                                    .claims_json = {"{}", 2}};
	p->mw = (caracal_mint_write){.size = sizeof p->mw,
	                             .record = &p->rec,
	                             .jti = p->jti_key,
	                             .jti_expires_at_us = NOW + 900000000LL,
	                             .at_us = NOW};
	p->body = strdup("{\"access_token\":\"t\"}");
	p->body_len = strlen(p->body);
	p->complete = on_complete;
	return p;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	sqlite_fixture_open(&f->db, "/tmp/sts-batch");
	f->tctx = f->db.tctx;
	caracal_error err = {0};
	caracal_zone z = {sizeof z, "z1", "zone-one", NOW};
	ok(ss_storage_ops.zone_create(f->tctx, &z, &err), &err);
	f->ops = ss_storage_ops;
	f->ops.mint_write_batch = wrap_batch;
	f->ops.mint_write = wrap_single;
	f->deps = (role_deps){.storage = &f->ops,
	                      .storage_tctx = f->tctx,
	                      .gen = (const generation *)&f->gen_token,
	                      .wc = &f->wc};
	memset(&wrap, 0, sizeof wrap);
	memset(&audited, 0, sizeof audited);
	completed = 0;
	roles_set_audit(test_audit, test_audit_members);
	for (int i = 0; i < NMINTS; i++) {
		f->jobs[i] = calloc(1, sizeof *f->jobs[i]);
		assert_non_null(f->jobs[i]);
		f->jobs[i]->arena = arena_new();
		f->jobs[i]->zone = "z1";
		snprintf(f->jobs[i]->request_id, sizeof f->jobs[i]->request_id, "req-%d", i);
		f->p[i] = pending(f->jobs[i]);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	roles_set_audit(NULL, NULL);
	for (int i = 0; i < NMINTS; i++) {
		free(f->p[i]->body);
		free(f->jobs[i]->dw.body);
		arena_free(f->jobs[i]->arena);
		free(f->jobs[i]);
	}
	sqlite_fixture_close(&f->db);
	free(f);
	return 0;
}

static void park_all(fx *f)
{
	for (int i = 0; i < NMINTS; i++) {
		assert_int_equal(sts_mint_batch_add(&f->deps, f->p[i]), 1);
		assert_true(f->jobs[i]->dw.parked);
	}
	assert_non_null(f->wc.batch);
	assert_int_equal(f->wc.batch->held, NMINTS);
	assert_int_equal(completed, 0); /* nothing answered before the commit */
}

static int record_exists(fx *f, const char *sid)
{
	caracal_error err = {0};
	caracal_arena *a = arena_new();
	caracal_authority_record out = {.size = sizeof out};
	int rc = ss_storage_ops.authority_record_get(f->tctx, "z1", sid, a, &out, &err);
	arena_free(a);
	return rc == CARACAL_OK;
}

/* One transaction for all; each exchange answered 200 and audited. */
static void test_one_commit_for_all(void **state)
{
	fx *f = *state;
	park_all(f);
	worker_flush_batch(&f->wc);
	assert_null(f->wc.batch);
	assert_int_equal(wrap.batches, 1);
	assert_int_equal(wrap.singles, 0);
	assert_int_equal(completed, NMINTS);
	assert_int_equal(audited.issued, NMINTS);
	for (int i = 0; i < NMINTS; i++) {
		assert_int_equal(f->jobs[i]->dw.status, 200);
		assert_string_equal(f->jobs[i]->dw.body, "{\"access_token\":\"t\"}");
		assert_true(record_exists(f, f->p[i]->sid));
	}
}

/* A jti already claimed refuses that mint alone (500, a jti_collision). */
static void test_conflict_refused_alone(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	ok(ss_storage_ops.single_use_claim(f->tctx, "z1", f->p[1]->jti_key, NOW + 60000000LL, &err),
	   &err);
	park_all(f);
	worker_flush_batch(&f->wc);
	assert_int_equal(completed, NMINTS);
	assert_int_equal(f->jobs[0]->dw.status, 200);
	assert_int_equal(f->jobs[1]->dw.status, 500);
	assert_int_equal(f->jobs[2]->dw.status, 200);
	assert_non_null(strstr(f->jobs[1]->dw.body, "internal_error"));
	assert_false(record_exists(f, f->p[1]->sid));
	assert_true(record_exists(f, f->p[2]->sid));
	assert_int_equal(audited.collisions, 1);
	assert_int_equal(audited.issued, 2);
}

/* A child whose parent was revoked while it waited: 403 and a denial in
 * the chain, the others unaffected. */
static void test_revoked_parent_refused(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	caracal_authority_record parent = {.size = sizeof parent,
	                                   .id = "parent-1",
	                                   .zone_id = "z1",
	                                   .session_type = "application",
	                                   .subject_id = "app-1",
	                                   .status = "active",
	                                   .expires_at_us = NOW + 900000000LL};
	ok(ss_storage_ops.authority_record_create(f->tctx, &parent, &err), &err);
	f->p[0]->rec.parent_id = "parent-1";
	f->p[1]->rec.parent_id = "parent-1";
	park_all(f);
	caracal_revocation rv = {sizeof rv, "z1", CARACAL_REVOKE_AUTHORITY_RECORD, "parent-1", NULL,
	                         NOW,       0};
	uint64_t n = 0;
	ok(ss_storage_ops.revoke(f->tctx, &rv, &n, &err), &err); /* while they wait */
	worker_flush_batch(&f->wc);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(f->jobs[i]->dw.status, 403);
		assert_non_null(
		    strstr(f->jobs[i]->dw.body, "authority record inactive or expired"));
		assert_false(record_exists(f, f->p[i]->sid));
	}
	assert_int_equal(f->jobs[2]->dw.status, 200);
	assert_int_equal(audited.denied, 2);
}

/* The batch transaction fails: every mint is written again on its own. */
static void test_failed_batch_written_one_by_one(void **state)
{
	fx *f = *state;
	wrap.batch_fail = CARACAL_E_UNAVAIL;
	park_all(f);
	worker_flush_batch(&f->wc);
	assert_int_equal(wrap.singles, NMINTS);
	for (int i = 0; i < NMINTS; i++) {
		assert_int_equal(f->jobs[i]->dw.status, 200);
		assert_true(record_exists(f, f->p[i]->sid));
	}
	assert_int_equal(audited.issued, NMINTS);
}

/* And when those fail too: every exchange refused, no record left. */
static void test_everything_failing_refuses_all(void **state)
{
	fx *f = *state;
	wrap.batch_fail = CARACAL_E_UNAVAIL;
	wrap.single_fail = CARACAL_E_UNAVAIL;
	park_all(f);
	worker_flush_batch(&f->wc);
	assert_int_equal(completed, NMINTS);
	for (int i = 0; i < NMINTS; i++) {
		assert_int_equal(f->jobs[i]->dw.status, 500);
		assert_false(record_exists(f, f->p[i]->sid));
	}
	assert_int_equal(audited.issued, 0);
}

/* A storage without mint_write_batch, or a caller without a worker, does
 * not park: the caller writes at once. */
static void test_no_batching_without_the_op(void **state)
{
	fx *f = *state;
	f->ops.mint_write_batch = NULL;
	assert_int_equal(sts_mint_batch_add(&f->deps, f->p[0]), 0);
	f->ops.mint_write_batch = wrap_batch;
	f->deps.wc = NULL;
	assert_int_equal(sts_mint_batch_add(&f->deps, f->p[0]), 0);
	assert_false(f->jobs[0]->dw.parked);
	assert_int_equal(completed, 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_one_commit_for_all),
	    T(test_conflict_refused_alone),
	    T(test_revoked_parent_refused),
	    T(test_failed_batch_written_one_by_one),
	    T(test_everything_failing_refuses_all),
	    T(test_no_batching_without_the_op),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
