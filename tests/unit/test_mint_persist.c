/* Unit tests of mint_persist: one mint_write call when the storage plugin
 * has it (ABI 1.1), else the three ABI 1.0 calls in their safe order, with
 * each conflict reported as what it was about and nothing after a failure. */
#include "roles/sts/mint_persist.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

/* A scripted storage: each op logs its letter and returns its scripted rc. */
static char calls[16];
static int rc_claim, rc_consume, rc_create, rc_mint;

static void log_call(char c)
{
	size_t n = strlen(calls);
	if (n + 1 < sizeof calls) {
		calls[n] = c;
		calls[n + 1] = '\0';
	}
}

static int fake_claim(void *tctx, const char *zone, const char *id, int64_t exp, caracal_error *err)
{
	(void)tctx, (void)exp, (void)err;
	assert_string_equal(zone, "z1");
	assert_string_equal(id, "jti:1");
	log_call('j');
	return rc_claim;
}

static int fake_consume(void *tctx, const char *zone, const char *id, const char *record,
                        int64_t at, caracal_error *err)
{
	(void)tctx, (void)err;
	assert_string_equal(zone, "z1");
	assert_string_equal(id, "appr-1");
	assert_string_equal(record, "rec-1");
	assert_int_equal(at, 42);
	log_call('a');
	return rc_consume;
}

static int fake_create(void *tctx, const caracal_authority_record *in, caracal_error *err)
{
	(void)tctx, (void)err;
	assert_string_equal(in->id, "rec-1");
	log_call('r');
	return rc_create;
}

static int fake_mint(void *tctx, const caracal_mint_write *in, int *conflict, caracal_error *err)
{
	(void)tctx, (void)err;
	assert_string_equal(in->jti, "jti:1");
	log_call('m');
	if (rc_mint == CARACAL_E_CONFLICT)
		*conflict = CARACAL_MINT_CONFLICT_APPROVAL;
	return rc_mint;
}

static caracal_storage_ops ops;
static const caracal_authority_record rec = {.size = sizeof rec,
                                             .id = "rec-1",
                                             .zone_id = "z1",
                                             .session_type = "application",
                                             .subject_id = "app-1"};

static int run(const char *approval, int *conflict)
{
	const caracal_mint_write mw = {.size = sizeof mw,
	                               .record = &rec,
	                               .jti = "jti:1",
	                               .jti_expires_at_us = 1000,
	                               .approval_id = approval,
	                               .at_us = 42};
	caracal_error err = {0};
	calls[0] = '\0';
	*conflict = -1;
	return mint_persist(&ops, NULL, &mw, conflict, &err);
}

static int setup(void **state)
{
	(void)state;
	memset(&ops, 0, sizeof ops);
	ops.size = sizeof ops;
	ops.single_use_claim = fake_claim;
	ops.approval_consume = fake_consume;
	ops.authority_record_create = fake_create;
	rc_claim = rc_consume = rc_create = rc_mint = CARACAL_OK;
	return 0;
}

static void test_one_transaction_when_offered(void **state)
{
	(void)state;
	int conflict;
	ops.mint_write = fake_mint;
	assert_int_equal(run("appr-1", &conflict), CARACAL_OK);
	assert_string_equal(calls, "m");
	assert_int_equal(conflict, 0);
	rc_mint = CARACAL_E_CONFLICT;
	assert_int_equal(run("appr-1", &conflict), CARACAL_E_CONFLICT);
	assert_int_equal(conflict, CARACAL_MINT_CONFLICT_APPROVAL);
	assert_string_equal(calls, "m");
}

static void test_abi_1_0_order(void **state)
{
	(void)state;
	int conflict;
	assert_int_equal(run(NULL, &conflict), CARACAL_OK);
	assert_string_equal(calls, "jr");
	assert_int_equal(conflict, 0);
	assert_int_equal(run("appr-1", &conflict), CARACAL_OK);
	assert_string_equal(calls, "jar");
}

static void test_abi_1_0_conflicts_stop_the_writes(void **state)
{
	(void)state;
	int conflict;
	rc_claim = CARACAL_E_CONFLICT;
	assert_int_equal(run("appr-1", &conflict), CARACAL_E_CONFLICT);
	assert_string_equal(calls, "j"); /* no approval consumed, no record */
	assert_int_equal(conflict, CARACAL_MINT_CONFLICT_JTI);

	rc_claim = CARACAL_OK;
	rc_consume = CARACAL_E_NOTFOUND; /* swept: no longer consumable */
	assert_int_equal(run("appr-1", &conflict), CARACAL_E_NOTFOUND);
	assert_string_equal(calls, "ja");
	assert_int_equal(conflict, CARACAL_MINT_CONFLICT_APPROVAL);

	rc_consume = CARACAL_OK;
	rc_create = CARACAL_E_CONFLICT;
	assert_int_equal(run(NULL, &conflict), CARACAL_E_CONFLICT);
	assert_int_equal(conflict, CARACAL_MINT_CONFLICT_RECORD);

	rc_create = CARACAL_E_UNAVAIL; /* a storage fault is no conflict */
	assert_int_equal(run(NULL, &conflict), CARACAL_E_UNAVAIL);
	assert_int_equal(conflict, 0);
}

/* A child record (a gateway re-exchange's) through the 1.0 calls: its
 * parent is read first, and an inactive, expired or missing parent stops
 * the mint before anything is written. */
static const char *parent_status = "active";
static int64_t parent_expires = 1000;
static int rc_parent_get = CARACAL_OK;

static int fake_ar_get(void *tctx, const char *zone, const char *id, caracal_arena *arena,
                       caracal_authority_record *out, caracal_error *err)
{
	(void)tctx, (void)arena, (void)err;
	assert_string_equal(zone, "z1");
	assert_string_equal(id, "parent-1");
	log_call('p');
	out->status = parent_status;
	out->expires_at_us = parent_expires;
	return rc_parent_get;
}

static void test_abi_1_0_parent_checked_first(void **state)
{
	(void)state;
	ops.authority_record_get = fake_ar_get;
	caracal_authority_record child = rec;
	child.parent_id = "parent-1";
	caracal_mint_write mw = {.size = sizeof mw,
	                         .record = &child,
	                         .jti = "jti:1",
	                         .jti_expires_at_us = 1000,
	                         .at_us = 42};
	caracal_error err = {0};
	int conflict = -1;
	calls[0] = '\0';
	assert_int_equal(mint_persist(&ops, NULL, &mw, &conflict, &err), CARACAL_OK);
	assert_string_equal(calls, "pjr");
	const struct {
		const char *status;
		int64_t expires;
		int rc;
	} refused[] = {{"revoked", 1000, CARACAL_OK},
	               {"active", 42, CARACAL_OK},
	               {"active", 1000, CARACAL_E_NOTFOUND}};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		parent_status = refused[i].status;
		parent_expires = refused[i].expires;
		rc_parent_get = refused[i].rc;
		calls[0] = '\0';
		assert_int_equal(mint_persist(&ops, NULL, &mw, &conflict, &err),
		                 CARACAL_E_CONFLICT);
		assert_int_equal(conflict, CARACAL_MINT_CONFLICT_PARENT);
		assert_string_equal(calls, "p"); /* nothing written */
	}
	rc_parent_get = CARACAL_E_UNAVAIL; /* a storage fault stays one */
	parent_status = "active";
	parent_expires = 1000;
	assert_int_equal(mint_persist(&ops, NULL, &mw, &conflict, &err), CARACAL_E_UNAVAIL);
	assert_int_equal(conflict, 0);
	rc_parent_get = CARACAL_OK;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_one_transaction_when_offered, setup),
	    cmocka_unit_test_setup(test_abi_1_0_order, setup),
	    cmocka_unit_test_setup(test_abi_1_0_conflicts_stop_the_writes, setup),
	    cmocka_unit_test_setup(test_abi_1_0_parent_checked_first, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
