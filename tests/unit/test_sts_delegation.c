/*
 * test_sts_delegation.c — session and delegation validation (spec sts.md
 * §1.6, §1.7, §2.7, §2.13, §7 vectors 26–27) against a real storage_sqlite
 * in a temporary directory, linked without dlopen. Storage faults, cycles
 * and records SQLite's constraints would refuse to store come from a thin
 * wrapper around the plugin's vtable.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "host.h"
#include "roles/sts/delegation.h"
#include "sqlite_fixture.h"
#include "storage_sqlite.h"
#include "util/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SEC INT64_C(1000000)
#define NOW (INT64_C(1800000000) * SEC)
#define HOUR (3600 * SEC)

/* ====================================================== storage wrapper */

/* What the wrapper does to the next reads: fail one id with a code, hand
 * out edges SQLite would never store, and count delegation reads. */
static struct {
	const char *fail_id; /* a record, session or edge id; "epoch" for the epoch */
	int fail_code;
	const caracal_delegation *fake_edges;
	size_t fake_count;
	const char *patch_edge_id; /* this edge's constraints_json becomes patch_json */
	const char *patch_json;
	void (*patch_session)(caracal_session *); /* applied to every session read */
	int delegation_reads;
} wrap;

static int fails(const char *id)
{
	return wrap.fail_id != NULL && id != NULL && strcmp(wrap.fail_id, id) == 0;
}

static int wrap_authority_record_get(void *tctx, const char *zone_id, const char *id,
                                     caracal_arena *arena, caracal_authority_record *out,
                                     caracal_error *err)
{
	if (fails(id))
		return caracal_error_set(err, wrap.fail_code, "injected fault");
	return ss_storage_ops.authority_record_get(tctx, zone_id, id, arena, out, err);
}

static int wrap_session_get(void *tctx, const char *zone_id, const char *id, caracal_arena *arena,
                            caracal_session *out, caracal_error *err)
{
	if (fails(id))
		return caracal_error_set(err, wrap.fail_code, "injected fault");
	int rc = ss_storage_ops.session_get(tctx, zone_id, id, arena, out, err);
	if (rc == CARACAL_OK && wrap.patch_session != NULL)
		wrap.patch_session(out);
	return rc;
}

static int wrap_delegation_get(void *tctx, const char *zone_id, const char *id,
                               caracal_arena *arena, caracal_delegation *out, caracal_error *err)
{
	wrap.delegation_reads++;
	if (fails(id))
		return caracal_error_set(err, wrap.fail_code, "injected fault");
	for (size_t i = 0; i < wrap.fake_count; i++) {
		if (strcmp(wrap.fake_edges[i].id, id) == 0) {
			*out = wrap.fake_edges[i];
			return CARACAL_OK;
		}
	}
	int rc = ss_storage_ops.delegation_get(tctx, zone_id, id, arena, out, err);
	if (rc == CARACAL_OK && wrap.patch_edge_id != NULL && strcmp(wrap.patch_edge_id, id) == 0)
		out->constraints_json = (caracal_str){wrap.patch_json, strlen(wrap.patch_json)};
	return rc;
}

static int wrap_delegation_epoch(void *tctx, const char *zone_id, int64_t *epoch,
                                 caracal_error *err)
{
	if (fails("epoch"))
		return caracal_error_set(err, wrap.fail_code, "injected fault");
	return ss_storage_ops.delegation_epoch(tctx, zone_id, epoch, err);
}

/* ====================================================== fixture */

typedef struct fx {
	sqlite_fixture db;
	void *tctx;              /* db.tctx */
	caracal_storage_ops ops; /* ss_storage_ops behind the wrapper */
	caracal_arena *arena;
} fx;

static void must(int rc, const caracal_error *err, const char *what)
{
	if (rc != CARACAL_OK)
		fail_msg("%s: %d %s", what, rc, err->message);
}

static void add_zone(fx *f, const char *id)
{
	caracal_error err = {0};
	caracal_zone z = {.size = sizeof z, .id = id, .name = id, .created_at_us = NOW - HOUR};
	must(f->ops.zone_create(f->tctx, &z, &err), &err, "zone_create");
}

static void add_app(fx *f, const char *zone, const char *id)
{
	caracal_error err = {0};
	caracal_application a = {.size = sizeof a,
	                         .id = id,
	                         .zone_id = zone,
	                         .name = id,
	                         .registration_method = "managed",
	                         .created_at_us = NOW - HOUR};
	must(f->ops.application_create(f->tctx, &a, &err), &err, "application_create");
}

static void add_resource(fx *f, const char *id, const char *identifier)
{
	caracal_error err = {0};
	caracal_resource r = {.size = sizeof r,
	                      .id = id,
	                      .zone_id = "z1",
	                      .identifier = identifier,
	                      .created_at_us = NOW - HOUR};
	must(f->ops.resource_create(f->tctx, &r, &err), &err, "resource_create");
}

static void add_record(fx *f, const char *zone, const char *id, const char *type,
                       const char *subject, const char *status, int64_t expires_at_us)
{
	caracal_error err = {0};
	caracal_authority_record r = {.size = sizeof r,
	                              .id = id,
	                              .zone_id = zone,
	                              .session_type = type,
	                              .subject_id = subject,
	                              .status = status,
	                              .expires_at_us = expires_at_us,
	                              .authenticated_at_us = NOW - HOUR};
	must(f->ops.authority_record_create(f->tctx, &r, &err), &err, "authority_record_create");
}

typedef struct session_spec {
	const char *zone; /* default z1 */
	const char *id;
	const char *app;
	const char *record;
	const char *status;    /* default active */
	const char *lifecycle; /* default task */
	int64_t started_at_us; /* default NOW - 60 s */
	int64_t ttl_seconds;   /* default 3600 for a task */
	int64_t heartbeat_deadline_at_us;
} session_spec;

static void add_session(fx *f, session_spec s)
{
	caracal_error err = {0};
	const int task = s.lifecycle == NULL || strcmp(s.lifecycle, "task") == 0;
	caracal_session row = {
	    .size = sizeof row,
	    .id = s.id,
	    .zone_id = s.zone != NULL ? s.zone : "z1",
	    .application_id = s.app,
	    .subject_authority_record_id = s.record,
	    .status = s.status != NULL ? s.status : "active",
	    .lifecycle = s.lifecycle != NULL ? s.lifecycle : "task",
	    .started_at_us = s.started_at_us != 0 ? s.started_at_us : NOW - 60 * SEC,
	    .ttl_seconds = s.ttl_seconds != 0 ? s.ttl_seconds : (task ? 3600 : 0),
	    .heartbeat_deadline_at_us = s.heartbeat_deadline_at_us,
	};
	if (s.ttl_seconds < 0) /* -1 asks for an explicit 0 */
		row.ttl_seconds = 0;
	must(f->ops.session_create(f->tctx, &row, &err), &err, "session_create");
}

typedef struct edge_spec {
	const char *zone; /* default z1 */
	const char *id;
	const char *source, *target;
	const char *issuer, *receiver;
	const char *parent;
	const char *resource;
	const char *constraints; /* NULL: none */
	const char *status;      /* default active */
	int64_t expires_at_us;   /* default NOW + 1 h */
	int64_t revoked_at_us;
	int no_scopes; /* default scopes: read write */
} edge_spec;

static const char *const default_scopes[] = {"read", "write"};

static void add_edge(fx *f, edge_spec e)
{
	caracal_error err = {0};
	caracal_delegation d = {
	    .size = sizeof d,
	    .id = e.id,
	    .zone_id = e.zone != NULL ? e.zone : "z1",
	    .source_session_id = e.source,
	    .target_session_id = e.target,
	    .issuer_application_id = e.issuer,
	    .receiver_application_id = e.receiver,
	    .parent_edge_id = e.parent,
	    .resource_id = e.resource,
	    .scopes = {e.no_scopes ? NULL : default_scopes, e.no_scopes ? 0 : 2},
	    .constraints_json = {e.constraints, e.constraints != NULL ? strlen(e.constraints) : 0},
	    .status = e.status,
	    .expires_at_us = e.expires_at_us != 0 ? e.expires_at_us : NOW + HOUR,
	    .revoked_at_us = e.revoked_at_us,
	    .created_at_us = NOW - 30 * SEC,
	};
	must(f->ops.delegation_create(f->tctx, &d, &err), &err, "delegation_create");
}

/*
 * The zone every test starts from. z1: applications app-a, app-b, app-c;
 * authority records and sessions in every state §1.6 distinguishes. z2: a
 * zone of its own, to show nothing crosses zones.
 */
static void seed(fx *f)
{
	add_zone(f, "z1");
	add_zone(f, "z2");
	add_app(f, "z1", "app-a");
	add_app(f, "z1", "app-b");
	add_app(f, "z1", "app-c");
	add_app(f, "z2", "app-x");
	add_resource(f, "res-1", "resource://one");
	add_resource(f, "res-2", "resource://two");

	add_record(f, "z1", "ar-a", "application", "app-a", "active", NOW + HOUR);
	add_record(f, "z1", "ar-b", "application", "app-b", "active", NOW + HOUR);
	add_record(f, "z1", "ar-c", "application", "app-c", "active", NOW + HOUR);
	add_record(f, "z1", "ar-user", "user", "alice", "active", NOW + HOUR);
	add_record(f, "z1", "ar-user-old", "user", "bob", "active", NOW - SEC);
	add_record(f, "z1", "ar-expired", "application", "app-b", "active", NOW - SEC);
	add_record(f, "z1", "ar-at-now", "application", "app-b", "active", NOW);
	add_record(f, "z1", "ar-revoked", "application", "app-b", "revoked", NOW + HOUR);
	add_record(f, "z2", "ar-x", "application", "app-x", "active", NOW + HOUR);

	add_session(f, (session_spec){.id = "s-a", .app = "app-a", .record = "ar-a"});
	add_session(f, (session_spec){.id = "s-a2", .app = "app-a", .record = "ar-a"});
	add_session(f, (session_spec){.id = "s-a3", .app = "app-a", .record = "ar-a"});
	add_session(f,
	            (session_spec){
	                .id = "s-a-susp", .app = "app-a", .record = "ar-a", .status = "suspended"});
	add_session(f, (session_spec){.id = "s-b", .app = "app-b", .record = "ar-b"});
	add_session(f, (session_spec){.id = "s-c", .app = "app-c", .record = "ar-c"});
	add_session(f,
	            (session_spec){
	                .id = "s-b-susp", .app = "app-b", .record = "ar-b", .status = "suspended"});
	add_session(
	    f, (session_spec){
	           .id = "s-b-term", .app = "app-b", .record = "ar-b", .status = "terminated"});
	add_session(f, (session_spec){.id = "s-b-over",
	                              .app = "app-b",
	                              .record = "ar-b",
	                              .started_at_us = NOW - 2 * HOUR});
	add_session(f, (session_spec){.id = "s-b-edge",
	                              .app = "app-b",
	                              .record = "ar-b",
	                              .started_at_us = NOW - HOUR}); /* ends exactly now */
	add_session(f, (session_spec){
	                   .id = "s-b-ttl0", .app = "app-b", .record = "ar-b", .ttl_seconds = -1});
	add_session(f, (session_spec){.id = "s-b-long",
	                              .app = "app-b",
	                              .record = "ar-b",
	                              .ttl_seconds = INT64_MAX / 2}); /* must not overflow */
	add_session(f, (session_spec){.id = "s-b-svc",
	                              .app = "app-b",
	                              .record = "ar-b",
	                              .lifecycle = "service",
	                              .heartbeat_deadline_at_us = NOW + 60 * SEC});
	add_session(f, (session_spec){.id = "s-b-svc-late",
	                              .app = "app-b",
	                              .record = "ar-b",
	                              .lifecycle = "service",
	                              .heartbeat_deadline_at_us = NOW - SEC});
	add_session(
	    f, (session_spec){
	           .id = "s-b-svc-nohb", .app = "app-b", .record = "ar-b", .lifecycle = "service"});
	add_session(f, (session_spec){.id = "s-b-future",
	                              .app = "app-b",
	                              .record = "ar-b",
	                              .started_at_us = NOW + HOUR});
	add_session(
	    f, (session_spec){
	           .id = "s-b-corrupt", .app = "app-b", .record = "ar-b", .started_at_us = -1});
	add_session(f, (session_spec){.id = "s-b-user", .app = "app-b", .record = "ar-user"});
	add_session(f,
	            (session_spec){.id = "s-b-user-old", .app = "app-b", .record = "ar-user-old"});
	/* An application-typed subject record's own expiry does not matter (§1.6). */
	add_session(f, (session_spec){.id = "s-b-appexp", .app = "app-b", .record = "ar-expired"});
	add_session(f, (session_spec){.zone = "z2", .id = "s-x", .app = "app-x", .record = "ar-x"});
	add_session(f,
	            (session_spec){.zone = "z2", .id = "s-x2", .app = "app-x", .record = "ar-x"});
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	sqlite_fixture_open(&f->db, "/tmp/sts-deleg");
	f->tctx = f->db.tctx;
	f->ops = ss_storage_ops;
	f->ops.authority_record_get = wrap_authority_record_get;
	f->ops.session_get = wrap_session_get;
	f->ops.delegation_get = wrap_delegation_get;
	f->ops.delegation_epoch = wrap_delegation_epoch;
	memset(&wrap, 0, sizeof wrap);
	f->arena = arena_new();
	assert_non_null(f->arena);
	seed(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	arena_free(f->arena);
	sqlite_fixture_close(&f->db);
	free(f);
	return 0;
}

/* ====================================================== helpers */

static const char *const scopes_read[] = {"read"};
static const char *const scopes_read_admin[] = {"read", "admin"};

/* app-b asking, in z1, at NOW, for scope read. */
static sts_delegation_input base_input(void)
{
	return (sts_delegation_input){.zone_id = "z1",
	                              .application_id = "app-b",
	                              .scopes = scopes_read,
	                              .scope_count = 1,
	                              .now_us = NOW};
}

/* app-b's delegated request over edge_id, to its session target. */
static sts_delegation_input delegated(const char *edge_id, const char *target)
{
	sts_delegation_input in = base_input();
	in.agent_session_id = target;
	in.delegation_edge_id = edge_id;
	return in;
}

static void expect_valid(fx *f, const sts_delegation_input *in, sts_delegation *out)
{
	sts_delegation_error err;
	if (sts_delegation_validate(&f->ops, f->tctx, in, f->arena, out, &err) != 0)
		fail_msg("refused: %d %s %s", err.status, err.error, err.description);
}

static sts_delegation_error expect_refused(fx *f, const sts_delegation_input *in, int status,
                                           const char *error, const char *description)
{
	sts_delegation out;
	sts_delegation_error err;
	assert_int_equal(sts_delegation_validate(&f->ops, f->tctx, in, f->arena, &out, &err), -1);
	assert_int_equal(err.status, status);
	assert_string_equal(err.error, error);
	assert_string_equal(err.description, description);
	/* Nothing half-validated comes back. */
	assert_int_equal(out.has_session, 0);
	assert_int_equal(out.has_edge, 0);
	assert_null(out.path);
	assert_null(out.chain);
	return err;
}

static void expect_denied(fx *f, const sts_delegation_input *in, const char *description)
{
	expect_refused(f, in, 403, "access_denied", description);
}

/* The simplest delegation: app-a's s-a hands app-b's s-b read and write. */
static void add_simple_edge(fx *f, const char *id, const char *constraints)
{
	add_edge(f, (edge_spec){.id = id,
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .resource = "res-1",
	                        .constraints = constraints});
}

/* ====================================================== no references */

static void test_nothing_to_validate(void **state)
{
	fx *f = *state;
	sts_delegation_input in = base_input();
	sts_delegation out;
	expect_valid(f, &in, &out);
	assert_int_equal(out.has_session, 0);
	assert_int_equal(out.has_edge, 0);
	in.session_id = "";
	in.agent_session_id = "";
	in.delegation_edge_id = "";
	expect_valid(f, &in, &out);
	assert_int_equal(out.has_session, 0);
}

static void test_misuse_and_time(void **state)
{
	fx *f = *state;
	sts_delegation_input in = base_input();
	sts_delegation out;
	sts_delegation_error err;
	assert_int_equal(sts_delegation_validate(NULL, f->tctx, &in, f->arena, &out, &err), -1);
	assert_int_equal(err.status, 500);
	assert_string_equal(err.error, "internal_error");
	assert_int_equal(sts_delegation_validate(&f->ops, f->tctx, NULL, f->arena, &out, &err), -1);
	assert_int_equal(err.status, 500);
	assert_int_equal(sts_delegation_validate(&f->ops, f->tctx, &in, NULL, &out, &err), -1);
	assert_int_equal(err.status, 500);
	assert_int_equal(sts_delegation_validate(&f->ops, f->tctx, &in, f->arena, NULL, &err), -1);
	assert_int_equal(err.status, 500);
	assert_int_equal(sts_delegation_validate(&f->ops, f->tctx, &in, f->arena, &out, NULL), -1);
	in.zone_id = "";
	expect_refused(f, &in, 500, "internal_error", "delegation validation misused");
	in = base_input();
	in.application_id = NULL;
	expect_refused(f, &in, 500, "internal_error", "delegation validation misused");
	in = base_input();
	in.scopes = NULL;
	expect_refused(f, &in, 500, "internal_error", "delegation validation misused");

	/* Without trusted time nothing is validated (§2.7: 403 sts_unavailable). */
	in = base_input();
	in.now_us = 0;
	expect_refused(f, &in, 403, "sts_unavailable", "trusted time unavailable");
}

/* ====================================================== session_id */

static void test_record_owned_by_caller(void **state)
{
	fx *f = *state;
	sts_delegation_input in = base_input();
	in.session_id = "ar-b";
	sts_delegation out;
	expect_valid(f, &in, &out);
	assert_int_equal(out.has_session, 0);
	/* With a subject token the record need not be the caller's own. */
	in.session_id = "ar-user";
	in.has_subject_token = 1;
	in.subject_token_use = "session";
	expect_valid(f, &in, &out);
}

static void test_record_inactive(void **state)
{
	fx *f = *state;
	static const char *const ids[] = {"nope", "ar-expired", "ar-at-now", "ar-revoked", "ar-x"};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		sts_delegation_input in = base_input();
		in.session_id = ids[i];
		expect_denied(f, &in, "authority record inactive or expired");
		in.has_subject_token = 1;
		expect_denied(f, &in, "authority record inactive or expired");
	}
}

static void test_record_not_owned(void **state)
{
	fx *f = *state;
	sts_delegation_input in = base_input();
	in.session_id = "ar-a"; /* app-a's */
	expect_denied(f, &in, "authority record not owned by caller");
	in.session_id = "ar-user"; /* a user's record, without a token */
	expect_denied(f, &in, "authority record not owned by caller");
}

/* ====================================================== agent_session_id */

static void test_own_session_active(void **state)
{
	fx *f = *state;
	static const char *const ids[] = {"s-b",      "s-b-svc",    "s-b-user",
	                                  "s-b-long", "s-b-appexp", "s-b-future"};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		sts_delegation_input in = base_input();
		in.agent_session_id = ids[i];
		sts_delegation out;
		expect_valid(f, &in, &out);
		assert_int_equal(out.has_session, 1);
		assert_int_equal(out.has_edge, 0);
		assert_string_equal(out.target.id, ids[i]);
		assert_string_equal(out.target.application_id, "app-b");
		assert_string_equal(out.target_subject.id, out.target.subject_authority_record_id);
		assert_null(out.path);
	}
}

static void test_own_session_inactive(void **state)
{
	fx *f = *state;
	static const char *const ids[] = {
	    "nope",         "s-b-susp",     "s-b-term",     "s-b-over", "s-b-edge",
	    "s-b-ttl0",     "s-b-svc-late", "s-b-svc-nohb", "s-x", /* another zone's */
	    "s-b-user-old",                                        /* user record expired */
	    "s-b-corrupt",                                         /* started before 1970 */
	};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		sts_delegation_input in = base_input();
		in.agent_session_id = ids[i];
		expect_denied(f, &in, "session inactive or expired");
	}
}

static void unknown_lifecycle(caracal_session *s)
{
	s->lifecycle = "daemon";
}

static void no_subject_record(caracal_session *s)
{
	s->subject_authority_record_id = NULL;
}

static void other_zone(caracal_session *s)
{
	s->zone_id = "z2";
}

/* Rows SQLite's checks would not store, from a backend that let them in. */
static void test_own_session_malformed(void **state)
{
	fx *f = *state;
	void (*const patches[])(caracal_session *) = {unknown_lifecycle, no_subject_record,
	                                              other_zone};
	for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
		wrap.patch_session = patches[i];
		sts_delegation_input in = base_input();
		in.agent_session_id = "s-b";
		expect_denied(f, &in, "session inactive or expired");
	}
}

static void test_own_session_not_owned(void **state)
{
	fx *f = *state;
	sts_delegation_input in = base_input();
	in.agent_session_id = "s-a";
	expect_denied(f, &in, "session not owned by caller");
}

static void test_own_session_subject_binding(void **state)
{
	fx *f = *state;
	sts_delegation_input in = base_input();
	in.agent_session_id = "s-b"; /* started under ar-b */
	in.has_subject_token = 1;
	in.subject_token_use = "session";
	in.session_id = "ar-user";
	expect_denied(f, &in, "session authority record binding mismatch");
	in.session_id = "ar-b";
	sts_delegation out;
	expect_valid(f, &in, &out);
	/* The rule binds session mandates only. */
	in.session_id = "ar-user";
	in.subject_token_use = "gateway";
	expect_valid(f, &in, &out);
	/* And only when the record is known. */
	in.subject_token_use = "session";
	in.session_id = NULL;
	expect_valid(f, &in, &out);
}

/* ====================================================== the edge */

static void test_delegation_requires_session(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e1", NULL);
	sts_delegation_input in = delegated("e1", NULL);
	expect_denied(f, &in, "delegation requires a target Session");
	in.agent_session_id = "";
	expect_denied(f, &in, "delegation requires a target Session");
}

static void test_delegation_single_hop(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e1", NULL);
	sts_delegation_input in = delegated("e1", "s-b");
	sts_delegation out;
	expect_valid(f, &in, &out);
	assert_int_equal(out.has_session, 1);
	assert_int_equal(out.has_edge, 1);
	assert_string_equal(out.edge.id, "e1");
	assert_string_equal(out.source.id, "s-a");
	assert_string_equal(out.target_subject.id, "ar-b"); /* kept for the hold anchor */
	assert_string_equal(out.target.id, "s-b");
	assert_int_equal(out.constraints.max_hops, 1);
	assert_int_equal(out.constraints.resource_count, 0);
	assert_int_equal(out.path_len, 1);
	assert_string_equal(out.path[0], "e1");
	assert_int_equal(out.chain_len, 2);
	assert_string_equal(out.chain[0].application_id, "app-a");
	assert_string_equal(out.chain[0].agent_session_id, "s-a");
	assert_string_equal(out.chain[0].delegation_edge_id, "e1");
	assert_string_equal(out.chain[1].application_id, "app-b");
	assert_string_equal(out.chain[1].agent_session_id, "s-b");
	assert_null(out.chain[1].delegation_edge_id);
	assert_int_equal(out.graph_epoch, 1); /* one edge created in z1 */

	/* With the caller's authority record and a session mandate bound to s-b. */
	in.session_id = "ar-b";
	in.has_subject_token = 1;
	in.subject_token_use = "session";
	expect_valid(f, &in, &out);
	/* No scope asked: nothing to exceed. */
	in.scope_count = 0;
	expect_valid(f, &in, &out);
}

static void test_delegation_edge_inactive(void **state)
{
	fx *f = *state;
	add_edge(f, (edge_spec){.id = "e-revoked",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .status = "revoked"});
	add_edge(f, (edge_spec){.id = "e-expired-status",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .status = "expired"});
	add_edge(f, (edge_spec){.id = "e-revoked-at",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .revoked_at_us = NOW - SEC});
	add_edge(f, (edge_spec){.id = "e-expired",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .expires_at_us = NOW - SEC});
	add_edge(f, (edge_spec){.id = "e-at-now",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .expires_at_us = NOW});
	add_edge(f, (edge_spec){.zone = "z2",
	                        .id = "e-z2",
	                        .source = "s-x",
	                        .target = "s-x2",
	                        .issuer = "app-x",
	                        .receiver = "app-x"});
	static const char *const ids[] = {"nope",         "e-revoked", "e-expired-status",
	                                  "e-revoked-at", "e-expired", "e-at-now",
	                                  "e-z2"};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		sts_delegation_input in = delegated(ids[i], "s-b");
		expect_denied(f, &in, "delegation edge inactive or expired");
	}

	/* Revoking through storage reaches the edge (vector 27). */
	add_simple_edge(f, "e-live", NULL);
	sts_delegation_input in = delegated("e-live", "s-b");
	sts_delegation out;
	expect_valid(f, &in, &out);
	caracal_error err = {0};
	uint64_t count = 0;
	caracal_revocation rv = {.size = sizeof rv,
	                         .zone_id = "z1",
	                         .kind = CARACAL_REVOKE_DELEGATION,
	                         .target_id = "e-live",
	                         .revoked_at_us = NOW - SEC};
	must(f->ops.revoke(f->tctx, &rv, &count, &err), &err, "revoke");
	expect_denied(f, &in, "delegation edge inactive or expired");
}

static void test_delegation_target_mismatch(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e1", NULL);
	sts_delegation_input in = delegated("e1", "s-b-svc"); /* app-b's, but not e1's target */
	expect_denied(f, &in, "delegation edge target mismatch");
}

static void test_delegation_source_inactive(void **state)
{
	fx *f = *state;
	add_edge(f, (edge_spec){.id = "e1",
	                        .source = "s-a-susp",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b"});
	sts_delegation_input in = delegated("e1", "s-b");
	expect_denied(f, &in, "delegation source inactive or expired");
}

static void test_delegation_target_unauthorized(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e1", NULL);
	add_edge(f, (edge_spec){.id = "e-susp",
	                        .source = "s-a",
	                        .target = "s-b-susp",
	                        .issuer = "app-a",
	                        .receiver = "app-b"});
	add_edge(f, (edge_spec){.id = "e-over",
	                        .source = "s-a",
	                        .target = "s-b-over",
	                        .issuer = "app-a",
	                        .receiver = "app-b"});
	sts_delegation_input in = delegated("e-susp", "s-b-susp");
	expect_denied(f, &in, "delegation target inactive or unauthorized");
	in = delegated("e-over", "s-b-over");
	expect_denied(f, &in, "delegation target inactive or unauthorized");
	/* The edge's source application presenting it (vector 27). */
	in = delegated("e1", "s-b");
	in.application_id = "app-a";
	expect_denied(f, &in, "delegation target inactive or unauthorized");
}

static void test_delegation_subject_binding(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e1", NULL);
	sts_delegation_input in = delegated("e1", "s-b");
	in.has_subject_token = 1;
	in.subject_token_use = "session";
	in.session_id = "ar-user";
	expect_denied(f, &in, "session authority record binding mismatch");
}

static void test_delegation_application_mismatch(void **state)
{
	fx *f = *state;
	add_edge(f, (edge_spec){.id = "e-issuer",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-c",
	                        .receiver = "app-b"});
	add_edge(f, (edge_spec){.id = "e-receiver",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-c"});
	sts_delegation_input in = delegated("e-issuer", "s-b");
	expect_denied(f, &in, "delegation application mismatch");
	in = delegated("e-receiver", "s-b");
	expect_denied(f, &in, "delegation application mismatch");
}

static void test_delegation_constraints(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e-budget", "{\"budget\":1}");
	add_simple_edge(f, "e-unknown", "{\"colour\":\"red\"}");
	add_simple_edge(f, "e-negative", "{\"ttl_seconds\":-1}");
	add_simple_edge(f, "e-conflict", "{\"max_depth\":2,\"max_hops\":3}");
	add_simple_edge(f, "e-11", "{\"max_hops\":11}");
	add_simple_edge(f, "e-depth-11", "{\"max_depth\":11}");
	add_simple_edge(f, "e-full",
	                "{\"resources\":[\"resource://one\"],\"ttl_seconds\":60,\"max_hops\":2,"
	                "\"policy_approved\":true,\"expires_at\":\"2030-01-01T00:00:00Z\","
	                "\"broad_reason\":\"incident\"}");
	add_simple_edge(f, "e-truncated", NULL);
	static const char *const invalid[] = {"e-budget", "e-unknown", "e-negative", "e-conflict",
	                                      "e-truncated"};
	/* SQLite keeps only valid JSON: the truncated text comes from the wrapper. */
	wrap.patch_edge_id = "e-truncated";
	wrap.patch_json = "{\"max_hops\":";
	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		sts_delegation_input in = delegated(invalid[i], "s-b");
		expect_denied(f, &in, "delegation constraints invalid");
	}
	sts_delegation_input in = delegated("e-11", "s-b");
	expect_denied(f, &in, "delegation max_hops exceeds platform maximum");
	in = delegated("e-depth-11", "s-b");
	expect_denied(f, &in, "delegation max_hops exceeds platform maximum");

	in = delegated("e-full", "s-b");
	sts_delegation out;
	expect_valid(f, &in, &out);
	assert_int_equal(out.constraints.resource_count, 1);
	assert_string_equal(out.constraints.resources[0], "resource://one");
	assert_int_equal(out.constraints.ttl_seconds, 60);
	assert_int_equal(out.constraints.max_hops, 2);
	assert_int_equal(out.constraints.policy_approved, 1);
	assert_int_equal(out.constraints.expires_at_us, INT64_C(1893456000) * SEC);
	assert_string_equal(out.constraints.expires_at, "2030-01-01T00:00:00Z");
	assert_string_equal(out.constraints.broad_reason, "incident");
}

static void test_delegation_scopes(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e1", NULL);
	add_edge(f, (edge_spec){.id = "e-none",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .no_scopes = 1});
	sts_delegation_input in = delegated("e1", "s-b");
	in.scopes = scopes_read_admin;
	in.scope_count = 2;
	expect_denied(f, &in, "requested scopes exceed delegation scopes");
	in = delegated("e-none", "s-b");
	expect_denied(f, &in, "requested scopes exceed delegation scopes");
	in.scope_count = 0;
	sts_delegation out;
	expect_valid(f, &in, &out);
}

static void test_delegation_requested_ttl(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e30", "{\"ttl_seconds\":30}");
	add_simple_edge(f, "e0", "{\"ttl_seconds\":0}");
	sts_delegation_input in = delegated("e30", "s-b");
	in.requested_ttl_s = 60;
	expect_denied(f, &in, "requested ttl exceeds delegation ttl");
	sts_delegation out;
	in.requested_ttl_s = 30;
	expect_valid(f, &in, &out);
	/* Vector 27: no ttl asked → the mint is narrowed to 30 s. */
	in.requested_ttl_s = 0;
	expect_valid(f, &in, &out);
	int64_t ttl = 900;
	assert_int_equal(sts_delegation_narrow_ttl(&out, NOW, &ttl), 0);
	assert_int_equal(ttl, 30);
	/* ttl_seconds 0 sets no bound. */
	in = delegated("e0", "s-b");
	in.requested_ttl_s = 3600;
	expect_valid(f, &in, &out);
}

/* ====================================================== lineage and chain */

/* s-a → s-a2 → … → s-b, app-a delegating between its own sessions and
 * finally to app-b. hops is the number of edges; the presented edge (the
 * last) carries constraints. */
static void add_lineage(fx *f, int hops, const char *constraints)
{
	static const char *const sessions[] = {"s-a", "s-a2", "s-a3"};
	static const char *const ids[] = {"l1", "l2", "l3"};
	assert_true(hops >= 1 && hops <= 3);
	for (int i = 0; i < hops; i++) {
		const int last = i == hops - 1;
		add_edge(f, (edge_spec){.id = ids[i],
		                        .source = sessions[i],
		                        .target = last ? "s-b" : sessions[i + 1],
		                        .issuer = "app-a",
		                        .receiver = last ? "app-b" : "app-a",
		                        .parent = i > 0 ? ids[i - 1] : NULL,
		                        .constraints = last ? constraints : NULL});
	}
}

static void test_lineage_two_hops(void **state)
{
	fx *f = *state;
	add_lineage(f, 2, "{\"max_hops\":1}");
	sts_delegation_input in = delegated("l2", "s-b");
	expect_denied(f, &in, "delegation path invalid");
}

static void test_lineage_two_hops_allowed(void **state)
{
	fx *f = *state;
	add_lineage(f, 2, "{\"max_depth\":3}");
	sts_delegation_input in = delegated("l2", "s-b");
	sts_delegation out;
	expect_valid(f, &in, &out);
	assert_int_equal(out.path_len, 2);
	assert_string_equal(out.path[0], "l1");
	assert_string_equal(out.path[1], "l2");
	assert_int_equal(out.chain_len, 3);
	assert_string_equal(out.chain[0].agent_session_id, "s-a");
	assert_string_equal(out.chain[0].delegation_edge_id, "l1");
	assert_string_equal(out.chain[1].agent_session_id, "s-a2");
	assert_string_equal(out.chain[1].delegation_edge_id, "l2");
	assert_string_equal(out.chain[2].application_id, "app-b");
	assert_string_equal(out.chain[2].agent_session_id, "s-b");
	assert_int_equal(out.graph_epoch, 2);
}

static void test_lineage_three_hops(void **state)
{
	fx *f = *state;
	add_lineage(f, 3, "{\"max_hops\":3}");
	sts_delegation_input in = delegated("l3", "s-b");
	sts_delegation out;
	expect_valid(f, &in, &out);
	assert_int_equal(out.path_len, 3);
	assert_string_equal(out.path[0], "l1");
	assert_string_equal(out.path[2], "l3");
	assert_int_equal(out.chain_len, 4);
	assert_int_equal(out.constraints.max_hops, 3);

	/* The same lineage under max_hops 2 or the default 1 is too long. */
	wrap.patch_edge_id = "l3";
	wrap.patch_json = "{\"max_hops\":2}";
	expect_denied(f, &in, "delegation path invalid");
	wrap.patch_json = "{}";
	expect_denied(f, &in, "delegation path invalid");
}

static void test_lineage_inactive_middle(void **state)
{
	fx *f = *state;
	static const struct {
		const char *status;
		int64_t expires_at_us, revoked_at_us;
	} middles[] = {
	    {"revoked", 0, 0},
	    {"expired", 0, 0},
	    {"active", NOW - SEC, 0},
	    {"active", 0, NOW - SEC},
	};
	for (size_t i = 0; i < sizeof middles / sizeof middles[0]; i++) {
		char root[16], middle[16], leaf[16];
		snprintf(root, sizeof root, "m%zu-1", i);
		snprintf(middle, sizeof middle, "m%zu-2", i);
		snprintf(leaf, sizeof leaf, "m%zu-3", i);
		add_edge(f, (edge_spec){.id = root,
		                        .source = "s-a",
		                        .target = "s-a2",
		                        .issuer = "app-a",
		                        .receiver = "app-a"});
		add_edge(f, (edge_spec){.id = middle,
		                        .source = "s-a2",
		                        .target = "s-a3",
		                        .issuer = "app-a",
		                        .receiver = "app-a",
		                        .parent = root,
		                        .status = middles[i].status,
		                        .expires_at_us = middles[i].expires_at_us,
		                        .revoked_at_us = middles[i].revoked_at_us});
		add_edge(f, (edge_spec){.id = leaf,
		                        .source = "s-a3",
		                        .target = "s-b",
		                        .issuer = "app-a",
		                        .receiver = "app-b",
		                        .parent = middle,
		                        .constraints = "{\"max_hops\":3}"});
		sts_delegation_input in = delegated(leaf, "s-b");
		expect_denied(f, &in, "delegation path edge inactive or revoked");
	}

	/* Revoking the root through storage cascades to every edge below. */
	add_lineage(f, 3, "{\"max_hops\":3}");
	sts_delegation_input in = delegated("l3", "s-b");
	sts_delegation out;
	expect_valid(f, &in, &out);
	caracal_error err = {0};
	uint64_t count = 0;
	caracal_revocation rv = {.size = sizeof rv,
	                         .zone_id = "z1",
	                         .kind = CARACAL_REVOKE_DELEGATION,
	                         .target_id = "l1",
	                         .revoked_at_us = NOW - SEC};
	must(f->ops.revoke(f->tctx, &rv, &count, &err), &err, "revoke");
	expect_denied(f, &in, "delegation edge inactive or expired");
}

static void test_lineage_parent_missing_or_foreign(void **state)
{
	fx *f = *state;
	add_lineage(f, 2, "{\"max_hops\":2}");
	sts_delegation_input in = delegated("l2", "s-b");
	wrap.fail_id = "l1";
	wrap.fail_code = CARACAL_E_NOTFOUND;
	expect_denied(f, &in, "delegation path invalid");
	/* A parent that claims another zone is not part of this lineage. */
	wrap.fail_id = NULL;
	const caracal_delegation foreign = {.size = sizeof foreign,
	                                    .id = "l1",
	                                    .zone_id = "z2",
	                                    .source_session_id = "s-a",
	                                    .target_session_id = "s-a2",
	                                    .issuer_application_id = "app-a",
	                                    .receiver_application_id = "app-a",
	                                    .status = "active",
	                                    .expires_at_us = NOW + HOUR};
	wrap.fake_edges = &foreign;
	wrap.fake_count = 1;
	expect_denied(f, &in, "delegation path edge inactive or revoked");
}

static caracal_delegation fake_edge(const char *id, const char *parent)
{
	return (caracal_delegation){.size = sizeof(caracal_delegation),
	                            .id = id,
	                            .zone_id = "z1",
	                            .source_session_id = "s-a",
	                            .target_session_id = "s-b",
	                            .issuer_application_id = "app-a",
	                            .receiver_application_id = "app-b",
	                            .parent_edge_id = parent,
	                            .scopes = {default_scopes, 2},
	                            .constraints_json = {"{\"max_hops\":10}", 15},
	                            .status = "active",
	                            .expires_at_us = NOW + HOUR};
}

/* SQLite's foreign keys make a cycle impossible to store; a backend that
 * let one through must still not loop. */
static void test_lineage_cycle(void **state)
{
	fx *f = *state;
	const caracal_delegation cycle[] = {fake_edge("cyc-a", "cyc-b"),
	                                    fake_edge("cyc-b", "cyc-a")};
	wrap.fake_edges = cycle;
	wrap.fake_count = 2;
	sts_delegation_input in = delegated("cyc-a", "s-b");
	expect_denied(f, &in, "delegation path invalid");
	assert_int_equal(wrap.delegation_reads, 2); /* cyc-a, cyc-b: then the repeat is seen */

	const caracal_delegation self = fake_edge("self", "self");
	wrap.fake_edges = &self;
	wrap.fake_count = 1;
	wrap.delegation_reads = 0;
	in = delegated("self", "s-b");
	expect_denied(f, &in, "delegation path invalid");
	assert_int_equal(wrap.delegation_reads, 1);
}

/* A lineage of `edges` edges along sessions k0 … k(edges), all app-a but the
 * last target (app-b's s-b); the presented edge allows the platform maximum. */
static void add_long_lineage(fx *f, int edges)
{
	char id[16], parent[16], source[16], target[16];
	for (int i = 0; i < edges; i++) {
		snprintf(source, sizeof source, "k%d", i);
		add_session(f, (session_spec){.id = source, .app = "app-a", .record = "ar-a"});
	}
	for (int i = 0; i < edges; i++) {
		const int last = i == edges - 1;
		snprintf(id, sizeof id, "k-e%d", i);
		snprintf(parent, sizeof parent, "k-e%d", i - 1);
		snprintf(source, sizeof source, "k%d", i);
		snprintf(target, sizeof target, "k%d", i + 1);
		add_edge(f, (edge_spec){.id = id,
		                        .source = source,
		                        .target = last ? "s-b" : target,
		                        .issuer = "app-a",
		                        .receiver = last ? "app-b" : "app-a",
		                        .parent = i > 0 ? parent : NULL,
		                        .constraints = last ? "{\"max_hops\":10}" : NULL});
	}
}

static void test_lineage_platform_bound(void **state)
{
	fx *f = *state;
	add_long_lineage(f, 10);
	sts_delegation_input in = delegated("k-e9", "s-b");
	sts_delegation out;
	expect_valid(f, &in, &out);
	assert_int_equal(out.path_len, 10);
	assert_string_equal(out.path[0], "k-e0");
	assert_string_equal(out.path[9], "k-e9");
	assert_int_equal(out.chain_len, 11);
	assert_int_equal(wrap.delegation_reads, 10);
}

static void test_lineage_over_platform_bound(void **state)
{
	fx *f = *state;
	add_long_lineage(f, 11);
	sts_delegation_input in = delegated("k-e10", "s-b");
	expect_denied(f, &in, "delegation path invalid");
	/* The eleventh edge is never read. */
	assert_int_equal(wrap.delegation_reads, 10);
}

static void test_chain_discontinuous(void **state)
{
	fx *f = *state;
	/* l1 hands s-c to app-c, but l2 is issued by app-a. */
	add_edge(f, (edge_spec){.id = "d1",
	                        .source = "s-a",
	                        .target = "s-c",
	                        .issuer = "app-a",
	                        .receiver = "app-c"});
	add_edge(f, (edge_spec){.id = "d2",
	                        .source = "s-a2",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .parent = "d1",
	                        .constraints = "{\"max_hops\":2}"});
	sts_delegation_input in = delegated("d2", "s-b");
	expect_denied(f, &in, "delegation chain discontinuous");
}

/* The endpoint rule compares the chain's first hop with the ROOT edge's
 * source session (C-FIX; the reference compared it with the presented
 * edge's source, refusing every chain through a second application):
 * app-a -> app-c -> app-b is accepted, and a root edge whose issuer is not
 * the application of its own source session is refused. */
static void test_chain_endpoints(void **state)
{
	fx *f = *state;
	add_edge(f, (edge_spec){.id = "p1",
	                        .source = "s-a",
	                        .target = "s-c",
	                        .issuer = "app-a",
	                        .receiver = "app-c"});
	add_edge(f, (edge_spec){.id = "p2",
	                        .source = "s-c",
	                        .target = "s-b",
	                        .issuer = "app-c",
	                        .receiver = "app-b",
	                        .parent = "p1",
	                        .constraints = "{\"max_hops\":2}"});
	sts_delegation_input in = delegated("p2", "s-b");
	sts_delegation out;
	expect_valid(f, &in, &out);
	assert_int_equal(out.chain_len, 3);
	assert_string_equal(out.chain[0].application_id, "app-a");
	assert_string_equal(out.chain[0].agent_session_id, "s-a");
	assert_string_equal(out.chain[1].application_id, "app-c");
	assert_string_equal(out.chain[2].application_id, "app-b");
	assert_null(out.chain[2].delegation_edge_id);

	/* q1 claims app-a issued it from app-c's session s-c. */
	add_edge(f, (edge_spec){.id = "q1",
	                        .source = "s-c",
	                        .target = "s-a2",
	                        .issuer = "app-a",
	                        .receiver = "app-a"});
	add_edge(f, (edge_spec){.id = "q2",
	                        .source = "s-a2",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .parent = "q1",
	                        .constraints = "{\"max_hops\":2}"});
	in = delegated("q2", "s-b");
	expect_denied(f, &in, "delegation chain endpoints mismatch");
}

static void test_graph_epoch(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e1", NULL);
	add_simple_edge(f, "e2", NULL);
	sts_delegation_input in = delegated("e2", "s-b");
	sts_delegation out;
	expect_valid(f, &in, &out);
	assert_int_equal(out.graph_epoch, 2);
	/* A zone without an epoch row reads as epoch 0. */
	wrap.fail_id = "epoch";
	wrap.fail_code = CARACAL_E_NOTFOUND;
	expect_valid(f, &in, &out);
	assert_int_equal(out.graph_epoch, 0);
	wrap.fail_code = CARACAL_E_UNAVAIL;
	sts_delegation_error err =
	    expect_refused(f, &in, 403, "sts_unavailable", "delegation graph epoch unavailable");
	assert_int_equal(err.cause.code, CARACAL_E_UNAVAIL);
}

/* ====================================================== storage faults */

static void test_storage_faults(void **state)
{
	fx *f = *state;
	add_lineage(f, 2, "{\"max_hops\":2}");
	static const struct {
		const char *fail_id;
		int code;
	} faults[] = {
	    {"ar-b", CARACAL_E_UNAVAIL}, /* the request's authority record */
	    {"s-b", CARACAL_E_TIMEOUT},  /* the target session */
	    {"s-a2", CARACAL_E_UNAVAIL}, /* the source session */
	    {"l2", CARACAL_E_INTERNAL},  /* the edge */
	};
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		sts_delegation_input in = delegated("l2", "s-b");
		in.session_id = "ar-b";
		wrap.fail_id = faults[i].fail_id;
		wrap.fail_code = faults[i].code;
		sts_delegation_error err = expect_refused(f, &in, 503, "sts_unavailable",
		                                          "the token service is unavailable");
		assert_int_equal(err.cause.code, faults[i].code);
	}
	/* A session's subject record, read for §1.6. */
	sts_delegation_input in = base_input();
	in.agent_session_id = "s-b";
	wrap.fail_id = "ar-b";
	wrap.fail_code = CARACAL_E_UNAVAIL;
	expect_refused(f, &in, 503, "sts_unavailable", "the token service is unavailable");
	/* The lineage above the edge: 403 (§4). */
	in = delegated("l2", "s-b");
	wrap.fail_id = "l1";
	sts_delegation_error err =
	    expect_refused(f, &in, 403, "sts_unavailable", "delegation lineage unavailable");
	assert_int_equal(err.cause.code, CARACAL_E_UNAVAIL);
	assert_string_equal(err.cause.message, "injected fault");
}

/* ====================================================== after validation */

static void test_allows_resource(void **state)
{
	fx *f = *state;
	add_simple_edge(f, "e-bound", "{\"resources\":[\"resource://one\"]}");
	add_edge(f, (edge_spec){.id = "e-free",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b",
	                        .constraints = "{\"resources\":[\"resource://two\"]}"});
	add_edge(f, (edge_spec){.id = "e-any",
	                        .source = "s-a",
	                        .target = "s-b",
	                        .issuer = "app-a",
	                        .receiver = "app-b"});
	sts_delegation out;
	sts_delegation_input in = delegated("e-bound", "s-b");
	expect_valid(f, &in, &out);
	assert_int_equal(sts_delegation_allows_resource(&out, "res-1", "resource://one"), 1);
	assert_int_equal(sts_delegation_allows_resource(&out, "res-2", "resource://two"), 0);
	assert_int_equal(sts_delegation_allows_resource(&out, "res-1", "resource://other"), 0);
	assert_int_equal(sts_delegation_allows_resource(&out, NULL, NULL), 0);
	in = delegated("e-free", "s-b");
	expect_valid(f, &in, &out);
	assert_int_equal(sts_delegation_allows_resource(&out, "res-2", "resource://two"), 1);
	assert_int_equal(sts_delegation_allows_resource(&out, "res-1", "resource://one"), 0);
	in = delegated("e-any", "s-b");
	expect_valid(f, &in, &out);
	assert_int_equal(sts_delegation_allows_resource(&out, "res-1", "resource://one"), 1);
	assert_int_equal(sts_delegation_allows_resource(&out, "res-2", "resource://two"), 1);
	/* Without a delegation nothing is restricted. */
	const sts_delegation none = {0};
	assert_int_equal(sts_delegation_allows_resource(&none, "res-1", "resource://one"), 1);
	assert_int_equal(sts_delegation_allows_resource(NULL, "res-1", "resource://one"), 1);
}

static sts_delegation narrowing(int64_t edge_expires_at_us, int64_t ttl_seconds,
                                int64_t expires_at_us)
{
	sts_delegation d = {.has_edge = 1};
	d.edge.expires_at_us = edge_expires_at_us;
	d.constraints.max_hops = 1;
	d.constraints.ttl_seconds = ttl_seconds;
	d.constraints.expires_at_us = expires_at_us;
	return d;
}

static void test_narrow_ttl(void **state)
{
	(void)state;
	static const struct {
		int64_t edge_expires, ttl_seconds, expires_at, ttl_in;
		int rc;
		int64_t ttl_out;
	} cases[] = {
	    {NOW + HOUR, 0, 0, 900, 0, 900},                  /* nothing narrower */
	    {NOW + 100 * SEC + SEC / 2, 0, 0, 900, 0, 100},   /* edge expiry, rounded down */
	    {NOW + HOUR, 30, 0, 900, 0, 30},                  /* constraints ttl */
	    {NOW + HOUR, 0, NOW + 10 * SEC, 900, 0, 10},      /* constraints expires_at */
	    {NOW + HOUR, 600, NOW + 700 * SEC, 300, 0, 300},  /* the request is narrowest */
	    {NOW + 20 * SEC, 30, NOW + 25 * SEC, 900, 0, 20}, /* the minimum of all */
	    {NOW, 0, 0, 900, -1, 900},                        /* edge expired */
	    {NOW + SEC / 2, 0, 0, 900, -1, 900},              /* under a second left */
	    {NOW + HOUR, 0, NOW, 900, -1, 900},               /* expires_at reached */
	    {NOW + HOUR, 0, -1, 900, -1, 900},                /* expires_at before the epoch */
	    {NOW + HOUR, 0, 0, 0, -1, 0},                     /* nothing to narrow */
	    {NOW + HOUR, 0, 0, -5, -1, -5},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const sts_delegation d =
		    narrowing(cases[i].edge_expires, cases[i].ttl_seconds, cases[i].expires_at);
		int64_t ttl = cases[i].ttl_in;
		assert_int_equal(sts_delegation_narrow_ttl(&d, NOW, &ttl), cases[i].rc);
		assert_int_equal(ttl, cases[i].ttl_out);
	}
	const sts_delegation d = narrowing(NOW + HOUR, 0, 0);
	int64_t ttl = 900;
	assert_int_equal(sts_delegation_narrow_ttl(&d, 0, &ttl), -1); /* no trusted time */
	assert_int_equal(sts_delegation_narrow_ttl(NULL, NOW, &ttl), -1);
	assert_int_equal(sts_delegation_narrow_ttl(&d, NOW, NULL), -1);
	/* Without an edge the TTL is not the delegation's business. */
	const sts_delegation none = {0};
	ttl = 900;
	assert_int_equal(sts_delegation_narrow_ttl(&none, NOW, &ttl), 0);
	assert_int_equal(ttl, 900);
}

/* ====================================================== the constraints parser */

static int parse(caracal_arena *arena, const char *json, sts_delegation_constraints *c, char *why,
                 size_t cap)
{
	return sts_delegation_constraints_parse(json, json != NULL ? strlen(json) : 0, arena, c,
	                                        why, cap);
}

static void test_constraints_accepted(void **state)
{
	fx *f = *state;
	static const struct {
		const char *json;
		int64_t max_hops, ttl_seconds, expires_at_us;
		size_t resources;
		int policy_approved;
	} cases[] = {
	    {NULL, 1, 0, 0, 0, 0},
	    {"", 1, 0, 0, 0, 0},
	    {"null", 1, 0, 0, 0, 0},
	    {"{}", 1, 0, 0, 0, 0},
	    {" { } ", 1, 0, 0, 0, 0},
	    {"{\"max_hops\":0}", 1, 0, 0, 0, 0},
	    {"{\"max_hops\":10}", 10, 0, 0, 0, 0},
	    {"{\"max_depth\":3}", 3, 0, 0, 0, 0},
	    {"{\"max_depth\":2,\"max_hops\":2}", 2, 0, 0, 0, 0},
	    {"{\"max_depth\":0,\"max_hops\":4}", 4, 0, 0, 0, 0},
	    {"{\"max_depth\":4,\"max_hops\":0}", 4, 0, 0, 0, 0},
	    {"{\"max_hops\":-0}", 1, 0, 0, 0, 0},
	    {"{\"ttl_seconds\":30,\"policy_approved\":false}", 1, 30, 0, 0, 0},
	    {"{\"policy_approved\":true}", 1, 0, 0, 0, 1},
	    {"{\"resources\":[]}", 1, 0, 0, 0, 0},
	    {"{\"resources\":[\"resource://a\",\"\"]}", 1, 0, 0, 2, 0},
	    /* null leaves a field at its default, as Go's decoder does */
	    {"{\"resources\":null,\"ttl_seconds\":null,\"max_depth\":null,\"max_hops\":null,"
	     "\"policy_approved\":null,\"expires_at\":null,\"broad_reason\":null}",
	     1, 0, 0, 0, 0},
	    {"{\"expires_at\":\"\"}", 1, 0, 0, 0, 0},
	    {"{\"expires_at\":\"2030-01-01T00:00:00Z\"}", 1, 0, INT64_C(1893456000) * SEC, 0, 0},
	    {"{\"expires_at\":\"2030-01-01T01:30:00+01:30\"}", 1, 0, INT64_C(1893456000) * SEC, 0,
	     0},
	    {"{\"expires_at\":\"2029-12-31T22:00:00-02:00\"}", 1, 0, INT64_C(1893456000) * SEC, 0,
	     0},
	    {"{\"expires_at\":\"2030-01-01T00:00:00.5Z\"}", 1, 0,
	     INT64_C(1893456000) * SEC + SEC / 2, 0, 0},
	    {"{\"expires_at\":\"2030-01-01T00:00:00.1234567Z\"}", 1, 0,
	     INT64_C(1893456000) * SEC + 123456, 0, 0},
	    {"{\"expires_at\":\"2024-02-29T12:00:00Z\"}", 1, 0, INT64_C(1709208000) * SEC, 0, 0},
	    {"{\"expires_at\":\"1970-01-01T00:00:01Z\"}", 1, 0, SEC, 0, 0},
	    /* at or before the epoch: set, and passed */
	    {"{\"expires_at\":\"1970-01-01T00:00:00Z\"}", 1, 0, -1, 0, 0},
	    {"{\"expires_at\":\"0001-01-01T00:00:00Z\"}", 1, 0, -1, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sts_delegation_constraints c;
		char why[128] = "stale";
		if (parse(f->arena, cases[i].json, &c, why, sizeof why) != STS_CONSTRAINTS_OK)
			fail_msg("%s: %s", cases[i].json, why);
		assert_string_equal(why, "");
		assert_int_equal(c.max_hops, cases[i].max_hops);
		assert_int_equal(c.ttl_seconds, cases[i].ttl_seconds);
		assert_int_equal(c.expires_at_us, cases[i].expires_at_us);
		assert_int_equal(c.resource_count, cases[i].resources);
		assert_int_equal(c.policy_approved, cases[i].policy_approved);
		assert_int_equal(c.expires_at == NULL, cases[i].expires_at_us == 0);
	}

	sts_delegation_constraints c;
	char why[128];
	assert_int_equal(parse(f->arena,
	                       "{\"resources\":[\"r://a\",\"r://b\"],\"broad_reason\":\"why\"}", &c,
	                       why, sizeof why),
	                 STS_CONSTRAINTS_OK);
	assert_string_equal(c.resources[0], "r://a");
	assert_string_equal(c.resources[1], "r://b");
	assert_string_equal(c.broad_reason, "why");
	assert_int_equal(parse(f->arena, "{\"broad_reason\":\"\"}", &c, why, sizeof why),
	                 STS_CONSTRAINTS_OK);
	assert_null(c.broad_reason);
	/* Without a why buffer. */
	assert_int_equal(parse(f->arena, "{}", &c, NULL, 0), STS_CONSTRAINTS_OK);

	/* The seed of the fuzz corpus. */
	const char *src = getenv("CARACAL_SRCDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/fuzz/corpus/delegation_constraints/full",
	         src != NULL ? src : ".");
	FILE *seed = fopen(path, "rb");
	if (seed != NULL) {
		char buf[1024];
		size_t n = fread(buf, 1, sizeof buf, seed);
		fclose(seed);
		assert_int_equal(
		    sts_delegation_constraints_parse(buf, n, f->arena, &c, why, sizeof why),
		    STS_CONSTRAINTS_OK);
		assert_int_equal(c.max_hops, 2);
	}
}

static void test_constraints_rejected(void **state)
{
	fx *f = *state;
	static const struct {
		const char *json;
		int rc;
	} cases[] = {
	    {"{\"budget\":1}", STS_CONSTRAINTS_INVALID},
	    {"{\"max_hops\":", STS_CONSTRAINTS_INVALID},
	    {"{\"max_hops\":-1}", STS_CONSTRAINTS_INVALID},
	    {"{\"max_depth\":-1}", STS_CONSTRAINTS_INVALID},
	    {"{\"ttl_seconds\":-5}", STS_CONSTRAINTS_INVALID},
	    {"{\"max_depth\":2,\"max_hops\":3}", STS_CONSTRAINTS_INVALID},
	    {"{\"max_depth\":11,\"max_hops\":3}", STS_CONSTRAINTS_INVALID},
	    {"{\"colour\":\"red\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"MAX_HOPS\":2}", STS_CONSTRAINTS_INVALID},
	    {"{\"max_hops\":\"2\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"max_hops\":2.0}", STS_CONSTRAINTS_INVALID},
	    {"{\"max_hops\":1e1}", STS_CONSTRAINTS_INVALID},
	    {"{\"max_hops\":99999999999999999999}", STS_CONSTRAINTS_INVALID},
	    {"{\"ttl_seconds\":true}", STS_CONSTRAINTS_INVALID},
	    {"{\"policy_approved\":\"yes\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"policy_approved\":1}", STS_CONSTRAINTS_INVALID},
	    {"{\"resources\":\"resource://a\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"resources\":[1]}", STS_CONSTRAINTS_INVALID},
	    {"{\"resources\":[null]}", STS_CONSTRAINTS_INVALID},
	    {"{\"resources\":{}}", STS_CONSTRAINTS_INVALID},
	    {"{\"broad_reason\":5}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":1893456000}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"tomorrow\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01 00:00:00Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01t00:00:00Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T00:00:00z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T00:00:00\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T00:00:00.Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T00:00:00Zjunk\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T00:00:00+0100\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T00:00:00+24:00\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T00:00:00+01:60\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-02-30T00:00:00Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2023-02-29T00:00:00Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-13-01T00:00:00Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T24:00:00Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T00:60:00Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"2030-01-01T23:59:60Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"expires_at\":\"+2030-01-01T00:00:00Z\"}", STS_CONSTRAINTS_INVALID},
	    {"{\"max_hops\":1,\"max_hops\":2}", STS_CONSTRAINTS_INVALID},
	    {"{} trailing", STS_CONSTRAINTS_INVALID},
	    {"[]", STS_CONSTRAINTS_INVALID},
	    {"1", STS_CONSTRAINTS_INVALID},
	    {"\"{}\"", STS_CONSTRAINTS_INVALID},
	    {"true", STS_CONSTRAINTS_INVALID},
	    {" ", STS_CONSTRAINTS_INVALID},
	    {"{\"max_hops\":11}", STS_CONSTRAINTS_TOO_MANY_HOPS},
	    {"{\"max_depth\":11}", STS_CONSTRAINTS_TOO_MANY_HOPS},
	    {"{\"max_depth\":12,\"max_hops\":12}", STS_CONSTRAINTS_TOO_MANY_HOPS},
	    {"{\"max_hops\":9223372036854775807}", STS_CONSTRAINTS_TOO_MANY_HOPS},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sts_delegation_constraints c;
		char why[128] = "";
		const int rc = parse(f->arena, cases[i].json, &c, why, sizeof why);
		if (rc != cases[i].rc)
			fail_msg("%s: %d, not %d", cases[i].json, rc, cases[i].rc);
		assert_true(why[0] != '\0');
		/* Refused constraints leave only the defaults behind. */
		assert_int_equal(c.max_hops, 1);
		assert_int_equal(c.resource_count, 0);
		assert_null(c.expires_at);
	}

	/* A text with a NUL inside is not JSON. */
	static const char nul[] = "{\"max_hops\":1}\0{\"budget\":1}";
	sts_delegation_constraints c;
	char why[8]; /* a short why is truncated, never overrun */
	assert_int_equal(
	    sts_delegation_constraints_parse(nul, sizeof nul - 1, f->arena, &c, why, sizeof why),
	    STS_CONSTRAINTS_INVALID);
	assert_true(strlen(why) < sizeof why);
	assert_int_equal(sts_delegation_constraints_parse("{}", 2, NULL, &c, why, sizeof why),
	                 STS_CONSTRAINTS_INVALID);
	assert_int_equal(sts_delegation_constraints_parse("{}", 2, f->arena, NULL, why, sizeof why),
	                 STS_CONSTRAINTS_INVALID);
	/* Strings inside the constraints live in the arena, not in the text. */
	char text[] = "{\"broad_reason\":\"abc\",\"resources\":[\"r://x\"]}";
	assert_int_equal(parse(f->arena, text, &c, why, sizeof why), STS_CONSTRAINTS_OK);
	memset(text, 'x', sizeof text - 1);
	assert_string_equal(c.broad_reason, "abc");
	assert_string_equal(c.resources[0], "r://x");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_nothing_to_validate),
	    T(test_misuse_and_time),
	    T(test_record_owned_by_caller),
	    T(test_record_inactive),
	    T(test_record_not_owned),
	    T(test_own_session_active),
	    T(test_own_session_inactive),
	    T(test_own_session_malformed),
	    T(test_own_session_not_owned),
	    T(test_own_session_subject_binding),
	    T(test_delegation_requires_session),
	    T(test_delegation_single_hop),
	    T(test_delegation_edge_inactive),
	    T(test_delegation_target_mismatch),
	    T(test_delegation_source_inactive),
	    T(test_delegation_target_unauthorized),
	    T(test_delegation_subject_binding),
	    T(test_delegation_application_mismatch),
	    T(test_delegation_constraints),
	    T(test_delegation_scopes),
	    T(test_delegation_requested_ttl),
	    T(test_lineage_two_hops),
	    T(test_lineage_two_hops_allowed),
	    T(test_lineage_three_hops),
	    T(test_lineage_inactive_middle),
	    T(test_lineage_parent_missing_or_foreign),
	    T(test_lineage_cycle),
	    T(test_lineage_platform_bound),
	    T(test_lineage_over_platform_bound),
	    T(test_chain_discontinuous),
	    T(test_chain_endpoints),
	    T(test_graph_epoch),
	    T(test_storage_faults),
	    T(test_allows_resource),
	    T(test_narrow_ttl),
	    T(test_constraints_accepted),
	    T(test_constraints_rejected),
	};
#undef T
	return cmocka_run_group_tests_name("sts_delegation", tests, NULL, NULL);
}
