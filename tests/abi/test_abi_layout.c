/*
 * test_abi_layout.c — the plugin ABI contract, pinned.
 *
 * Every sizeof and offsetof below is part of ABI 1.x: a plugin built against
 * one minor must load in every later minor host. A minor version may only ADD
 * lines (new members at the end of a struct, with a larger SIZE); a changed or
 * removed line is an ABI break and needs a new major. gen_layout.py prints
 * these lines for the current headers; compare, do not overwrite.
 *
 * The numbers are those of LP64 with natural alignment (x86_64, aarch64);
 * other ABIs check only the portable facts in the runtime test.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <caracal/plugin.h>

#define SIZE(type, n) _Static_assert(sizeof(type) == (n), "sizeof(" #type ") is ABI")
#define OFF(type, member, n) \
	_Static_assert(offsetof(type, member) == (n), "offsetof(" #type ", " #member ") is ABI")

/* Constants a plugin compiles in. */
_Static_assert(CARACAL_ABI_MAJOR == 1, "major ABI version");
_Static_assert(CARACAL_PLUGIN_MAGIC == 0x4352434cu, "magic \"CRCL\"");
_Static_assert(CARACAL_KIND_SIGNER == 0x01u && CARACAL_KIND_POLICY == 0x02u &&
                   CARACAL_KIND_STORAGE == 0x04u && CARACAL_KIND_STREAM == 0x08u &&
                   CARACAL_KIND_AUDIT == 0x10u,
               "kind bits");
_Static_assert(CARACAL_PLUGIN_F_THREADS == 0x01u, "descriptor flags");
_Static_assert(CARACAL_CFG_REQUIRED == 0x01u, "config key flags");
_Static_assert(CARACAL_ERROR_MESSAGE_MAX == 256, "error message size");
_Static_assert(CARACAL_OK == 0 && CARACAL_E_NOMEM == -1 && CARACAL_E_INVAL == -2 &&
                   CARACAL_E_NOTFOUND == -3 && CARACAL_E_CONFLICT == -4 && CARACAL_E_DENIED == -5 &&
                   CARACAL_E_UNAVAIL == -6 && CARACAL_E_TIMEOUT == -7 && CARACAL_E_INTERNAL == -8 &&
                   CARACAL_E_UNSUPPORTED == -9 && CARACAL_E_TOOBIG == -10 &&
                   CARACAL_E_INTEGRITY == -11,
               "status codes");
_Static_assert(CARACAL_EFFECT_DENY == 0 && CARACAL_EFFECT_ALLOW == 1 &&
                   CARACAL_EFFECT_APPROVAL_REQUIRED == 2,
               "policy effects");
_Static_assert(CARACAL_REVOKE_AUTHORITY_RECORD == 1 && CARACAL_REVOKE_SESSION == 2 &&
                   CARACAL_REVOKE_DELEGATION == 3,
               "revocation kinds");
_Static_assert(CARACAL_LOG_ERROR == 0 && CARACAL_LOG_WARN == 1 && CARACAL_LOG_INFO == 2 &&
                   CARACAL_LOG_DEBUG == 3,
               "log levels");
_Static_assert(CARACAL_CFG_STRING == 1 && CARACAL_CFG_INT == 2 && CARACAL_CFG_BOOL == 3 &&
                   CARACAL_CFG_DURATION == 4 && CARACAL_CFG_SIZE == 5 && CARACAL_CFG_SECRET == 6 &&
                   CARACAL_CFG_LIST == 7 && CARACAL_CFG_MAP == 8,
               "config types");

/* The fixed head of the descriptor never moves, whatever the platform. */
_Static_assert(offsetof(caracal_plugin, magic) == 0, "magic first");
_Static_assert(offsetof(caracal_plugin, abi_major) == 4, "abi_major");
_Static_assert(offsetof(caracal_plugin, abi_minor) == 6, "abi_minor");
_Static_assert(offsetof(caracal_plugin, min_host_minor) == 8, "min_host_minor");
_Static_assert(offsetof(caracal_plugin, flags) == 10, "flags");
_Static_assert(offsetof(caracal_plugin, size) == 12, "size");

#if defined(__LP64__) && (defined(__x86_64__) || defined(__aarch64__))
#define LAYOUT_PINNED 1

/* Enums cross the boundary as int. */
SIZE(caracal_effect, 4);
SIZE(caracal_revocation_kind, 4);
SIZE(caracal_log_level, 4);
SIZE(caracal_cfg_type, 4);

/* The smallest vtables and descriptor a 1.x host accepts. */
_Static_assert(CARACAL_PLUGIN_MIN_SIZE == 144, "descriptor min size");
_Static_assert(CARACAL_SIGNER_OPS_MIN_SIZE == 40, "signer min size");
_Static_assert(CARACAL_POLICY_OPS_MIN_SIZE == 32, "policy min size");
_Static_assert(CARACAL_STORAGE_OPS_MIN_SIZE == 336, "storage min size");
_Static_assert(CARACAL_STREAM_OPS_MIN_SIZE == 48, "stream min size");
_Static_assert(CARACAL_AUDIT_OPS_MIN_SIZE == 32, "audit min size");

/* caracal_audit_event */
SIZE(caracal_audit_event, 56);
OFF(caracal_audit_event, size, 0);
OFF(caracal_audit_event, id, 8);
OFF(caracal_audit_event, zone_id, 16);
OFF(caracal_audit_event, event_type, 24);
OFF(caracal_audit_event, occurred_at_us, 32);
OFF(caracal_audit_event, canonical_json, 40);

/* caracal_audit_receipt */
SIZE(caracal_audit_receipt, 88);
OFF(caracal_audit_receipt, size, 0);
OFF(caracal_audit_receipt, seq, 8);
OFF(caracal_audit_receipt, hash_hex, 16);
OFF(caracal_audit_receipt, duplicate, 84);

/* caracal_audit_finding */
SIZE(caracal_audit_finding, 40);
OFF(caracal_audit_finding, size, 0);
OFF(caracal_audit_finding, zone_id, 8);
OFF(caracal_audit_finding, seq, 16);
OFF(caracal_audit_finding, location, 24);
OFF(caracal_audit_finding, problem, 32);

/* caracal_audit_ops */
SIZE(caracal_audit_ops, 32);
OFF(caracal_audit_ops, size, 0);
OFF(caracal_audit_ops, append, 8);
OFF(caracal_audit_ops, flush, 16);
OFF(caracal_audit_ops, verify, 24);

/* caracal_error */
SIZE(caracal_error, 260);
OFF(caracal_error, code, 0);
OFF(caracal_error, message, 4);

/* caracal_str */
SIZE(caracal_str, 16);
OFF(caracal_str, ptr, 0);
OFF(caracal_str, len, 8);

/* caracal_strlist */
SIZE(caracal_strlist, 16);
OFF(caracal_strlist, items, 0);
OFF(caracal_strlist, count, 8);

/* struct caracal_host */
SIZE(struct caracal_host, 200);
OFF(struct caracal_host, size, 0);
OFF(struct caracal_host, abi_major, 4);
OFF(struct caracal_host, abi_minor, 6);
OFF(struct caracal_host, log, 8);
OFF(struct caracal_host, metric_count, 16);
OFF(struct caracal_host, cfg_child, 24);
OFF(struct caracal_host, cfg_string, 32);
OFF(struct caracal_host, cfg_int, 40);
OFF(struct caracal_host, cfg_bool, 48);
OFF(struct caracal_host, cfg_duration_ms, 56);
OFF(struct caracal_host, cfg_size, 64);
OFF(struct caracal_host, cfg_count, 72);
OFF(struct caracal_host, cfg_at, 80);
OFF(struct caracal_host, cfg_scalar, 88);
OFF(struct caracal_host, cfg_where, 96);
OFF(struct caracal_host, cfg_secret, 104);
OFF(struct caracal_host, arena_alloc, 112);
OFF(struct caracal_host, arena_strndup, 120);
OFF(struct caracal_host, random_bytes, 128);
OFF(struct caracal_host, secure_zero, 136);
OFF(struct caracal_host, const_time_eq, 144);
OFF(struct caracal_host, now_us, 152);
OFF(struct caracal_host, monotonic_us, 160);
OFF(struct caracal_host, ossl_libctx, 168);
OFF(struct caracal_host, data_dir, 176);
OFF(struct caracal_host, production_mode, 184);
OFF(struct caracal_host, audit_emit, 192);

/* caracal_cfg_key */
SIZE(caracal_cfg_key, 24);
OFF(caracal_cfg_key, name, 0);
OFF(caracal_cfg_key, type, 8);
OFF(caracal_cfg_key, flags, 12);
OFF(caracal_cfg_key, help, 16);

/* caracal_plugin */
SIZE(caracal_plugin, 144);
OFF(caracal_plugin, magic, 0);
OFF(caracal_plugin, abi_major, 4);
OFF(caracal_plugin, abi_minor, 6);
OFF(caracal_plugin, min_host_minor, 8);
OFF(caracal_plugin, flags, 10);
OFF(caracal_plugin, size, 12);
OFF(caracal_plugin, name, 16);
OFF(caracal_plugin, version, 24);
OFF(caracal_plugin, kinds, 32);
OFF(caracal_plugin, config_schema, 40);
OFF(caracal_plugin, init, 48);
OFF(caracal_plugin, instance_create, 56);
OFF(caracal_plugin, instance_ready, 64);
OFF(caracal_plugin, instance_stop, 72);
OFF(caracal_plugin, instance_destroy, 80);
OFF(caracal_plugin, thread_create, 88);
OFF(caracal_plugin, thread_destroy, 96);
OFF(caracal_plugin, signer, 104);
OFF(caracal_plugin, policy, 112);
OFF(caracal_plugin, storage, 120);
OFF(caracal_plugin, stream, 128);
OFF(caracal_plugin, audit, 136);

/* caracal_policy_decision */
SIZE(caracal_policy_decision, 64);
OFF(caracal_policy_decision, size, 0);
OFF(caracal_policy_decision, effect, 4);
OFF(caracal_policy_decision, reasons, 8);
OFF(caracal_policy_decision, obligations, 24);
OFF(caracal_policy_decision, determining_policies, 40);
OFF(caracal_policy_decision, policy_version_id, 56);

/* caracal_policy_ops */
SIZE(caracal_policy_ops, 32);
OFF(caracal_policy_ops, size, 0);
OFF(caracal_policy_ops, evaluate, 8);
OFF(caracal_policy_ops, validate, 16);
OFF(caracal_policy_ops, activate, 24);

/* caracal_signing_key */
SIZE(caracal_signing_key, 24);
OFF(caracal_signing_key, size, 0);
OFF(caracal_signing_key, alg, 8);
OFF(caracal_signing_key, kid, 16);

/* caracal_signer_ops */
SIZE(caracal_signer_ops, 40);
OFF(caracal_signer_ops, size, 0);
OFF(caracal_signer_ops, current_key, 8);
OFF(caracal_signer_ops, sign, 16);
OFF(caracal_signer_ops, jwks, 24);
OFF(caracal_signer_ops, rotate, 32);

/* caracal_zone */
SIZE(caracal_zone, 32);
OFF(caracal_zone, size, 0);
OFF(caracal_zone, id, 8);
OFF(caracal_zone, name, 16);
OFF(caracal_zone, created_at_us, 24);

/* caracal_application */
SIZE(caracal_application, 88);
OFF(caracal_application, size, 0);
OFF(caracal_application, id, 8);
OFF(caracal_application, zone_id, 16);
OFF(caracal_application, name, 24);
OFF(caracal_application, registration_method, 32);
OFF(caracal_application, client_secret_hash, 40);
OFF(caracal_application, traits, 48);
OFF(caracal_application, expires_at_us, 64);
OFF(caracal_application, archived_at_us, 72);
OFF(caracal_application, created_at_us, 80);

/* caracal_resource */
SIZE(caracal_resource, 120);
OFF(caracal_resource, size, 0);
OFF(caracal_resource, id, 8);
OFF(caracal_resource, zone_id, 16);
OFF(caracal_resource, identifier, 24);
OFF(caracal_resource, upstream_url, 32);
OFF(caracal_resource, scopes, 40);
OFF(caracal_resource, credential_provider_id, 56);
OFF(caracal_resource, credential_json, 64);
OFF(caracal_resource, operations_json, 80);
OFF(caracal_resource, operation_enforcement, 96);
OFF(caracal_resource, archived_at_us, 104);
OFF(caracal_resource, created_at_us, 112);

/* caracal_grant */
SIZE(caracal_grant, 64);
OFF(caracal_grant, size, 0);
OFF(caracal_grant, id, 8);
OFF(caracal_grant, zone_id, 16);
OFF(caracal_grant, application_id, 24);
OFF(caracal_grant, resource_id, 32);
OFF(caracal_grant, scopes, 40);
OFF(caracal_grant, created_at_us, 56);

/* caracal_policy_version */
SIZE(caracal_policy_version, 72);
OFF(caracal_policy_version, size, 0);
OFF(caracal_policy_version, id, 8);
OFF(caracal_policy_version, zone_id, 16);
OFF(caracal_policy_version, version, 24);
OFF(caracal_policy_version, source, 32);
OFF(caracal_policy_version, sha256, 48);
OFF(caracal_policy_version, active, 56);
OFF(caracal_policy_version, created_at_us, 64);

/* caracal_authority_record */
SIZE(caracal_authority_record, 104);
OFF(caracal_authority_record, size, 0);
OFF(caracal_authority_record, id, 8);
OFF(caracal_authority_record, zone_id, 16);
OFF(caracal_authority_record, session_type, 24);
OFF(caracal_authority_record, subject_id, 32);
OFF(caracal_authority_record, parent_id, 40);
OFF(caracal_authority_record, status, 48);
OFF(caracal_authority_record, expires_at_us, 56);
OFF(caracal_authority_record, authenticated_at_us, 64);
OFF(caracal_authority_record, claims_json, 72);
OFF(caracal_authority_record, revoked_at_us, 88);
OFF(caracal_authority_record, revoked_reason, 96);

/* caracal_session */
SIZE(caracal_session, 120);
OFF(caracal_session, size, 0);
OFF(caracal_session, id, 8);
OFF(caracal_session, zone_id, 16);
OFF(caracal_session, application_id, 24);
OFF(caracal_session, parent_id, 32);
OFF(caracal_session, subject_authority_record_id, 40);
OFF(caracal_session, status, 48);
OFF(caracal_session, lifecycle, 56);
OFF(caracal_session, depth, 64);
OFF(caracal_session, labels, 72);
OFF(caracal_session, started_at_us, 88);
OFF(caracal_session, ttl_seconds, 96);
OFF(caracal_session, heartbeat_deadline_at_us, 104);
OFF(caracal_session, ended_at_us, 112);

/* caracal_delegation */
SIZE(caracal_delegation, 144);
OFF(caracal_delegation, size, 0);
OFF(caracal_delegation, id, 8);
OFF(caracal_delegation, zone_id, 16);
OFF(caracal_delegation, source_session_id, 24);
OFF(caracal_delegation, target_session_id, 32);
OFF(caracal_delegation, issuer_application_id, 40);
OFF(caracal_delegation, receiver_application_id, 48);
OFF(caracal_delegation, parent_edge_id, 56);
OFF(caracal_delegation, resource_id, 64);
OFF(caracal_delegation, scopes, 72);
OFF(caracal_delegation, constraints_json, 88);
OFF(caracal_delegation, status, 104);
OFF(caracal_delegation, expires_at_us, 112);
OFF(caracal_delegation, edge_version, 120);
OFF(caracal_delegation, revoked_at_us, 128);
OFF(caracal_delegation, created_at_us, 136);

/* caracal_approval */
SIZE(caracal_approval, 168);
OFF(caracal_approval, size, 0);
OFF(caracal_approval, id, 8);
OFF(caracal_approval, zone_id, 16);
OFF(caracal_approval, session_id, 24);
OFF(caracal_approval, principal_id, 32);
OFF(caracal_approval, application_id, 40);
OFF(caracal_approval, tier, 48);
OFF(caracal_approval, approver_class, 56);
OFF(caracal_approval, privacy_mode, 64);
OFF(caracal_approval, subject_anchor, 72);
OFF(caracal_approval, binding_hex, 80);
OFF(caracal_approval, expires_at_us, 88);
OFF(caracal_approval, satisfied_at_us, 96);
OFF(caracal_approval, rejected_at_us, 104);
OFF(caracal_approval, consumed_at_us, 112);
OFF(caracal_approval, consumed_authority_record_id, 120);
OFF(caracal_approval, approver_subject_id, 128);
OFF(caracal_approval, decision_reason, 136);
OFF(caracal_approval, metadata_json, 144);
OFF(caracal_approval, created_at_us, 160);

/* caracal_revocation */
SIZE(caracal_revocation, 56);
OFF(caracal_revocation, size, 0);
OFF(caracal_revocation, zone_id, 8);
OFF(caracal_revocation, kind, 16);
OFF(caracal_revocation, target_id, 24);
OFF(caracal_revocation, reason, 32);
OFF(caracal_revocation, revoked_at_us, 40);
OFF(caracal_revocation, seq, 48);

/* caracal_subject_issuer */
SIZE(caracal_subject_issuer, 48);
OFF(caracal_subject_issuer, size, 0);
OFF(caracal_subject_issuer, id, 8);
OFF(caracal_subject_issuer, zone_id, 16);
OFF(caracal_subject_issuer, issuer, 24);
OFF(caracal_subject_issuer, jwks_url, 32);
OFF(caracal_subject_issuer, audience, 40);

/* caracal_key_meta */
SIZE(caracal_key_meta, 56);
OFF(caracal_key_meta, size, 0);
OFF(caracal_key_meta, zone_id, 8);
OFF(caracal_key_meta, kid, 16);
OFF(caracal_key_meta, alg, 24);
OFF(caracal_key_meta, status, 32);
OFF(caracal_key_meta, created_at_us, 40);
OFF(caracal_key_meta, retire_at_us, 48);

/* caracal_mint_write (1.1) */
SIZE(caracal_mint_write, 48);
OFF(caracal_mint_write, size, 0);
OFF(caracal_mint_write, record, 8);
OFF(caracal_mint_write, jti, 16);
OFF(caracal_mint_write, jti_expires_at_us, 24);
OFF(caracal_mint_write, approval_id, 32);
OFF(caracal_mint_write, at_us, 40);

/* caracal_storage_ops */
SIZE(caracal_storage_ops, 392);
OFF(caracal_storage_ops, size, 0);
OFF(caracal_storage_ops, migrate, 8);
OFF(caracal_storage_ops, zone_create, 16);
OFF(caracal_storage_ops, zone_get, 24);
OFF(caracal_storage_ops, zone_list, 32);
OFF(caracal_storage_ops, application_create, 40);
OFF(caracal_storage_ops, application_get, 48);
OFF(caracal_storage_ops, application_list, 56);
OFF(caracal_storage_ops, application_archive, 64);
OFF(caracal_storage_ops, resource_create, 72);
OFF(caracal_storage_ops, resource_get, 80);
OFF(caracal_storage_ops, resource_list, 88);
OFF(caracal_storage_ops, resource_archive, 96);
OFF(caracal_storage_ops, grant_create, 104);
OFF(caracal_storage_ops, grant_list, 112);
OFF(caracal_storage_ops, grant_delete, 120);
OFF(caracal_storage_ops, policy_version_create, 128);
OFF(caracal_storage_ops, policy_version_get, 136);
OFF(caracal_storage_ops, policy_activate, 144);
OFF(caracal_storage_ops, policy_active_get, 152);
OFF(caracal_storage_ops, authority_record_create, 160);
OFF(caracal_storage_ops, authority_record_get, 168);
OFF(caracal_storage_ops, session_create, 176);
OFF(caracal_storage_ops, session_get, 184);
OFF(caracal_storage_ops, session_set_status, 192);
OFF(caracal_storage_ops, session_heartbeat, 200);
OFF(caracal_storage_ops, delegation_create, 208);
OFF(caracal_storage_ops, delegation_get, 216);
OFF(caracal_storage_ops, delegation_epoch, 224);
OFF(caracal_storage_ops, approval_create, 232);
OFF(caracal_storage_ops, approval_get, 240);
OFF(caracal_storage_ops, approval_list_pending, 248);
OFF(caracal_storage_ops, approval_decide, 256);
OFF(caracal_storage_ops, approval_consume, 264);
OFF(caracal_storage_ops, revoke, 272);
OFF(caracal_storage_ops, revocation_list, 280);
OFF(caracal_storage_ops, single_use_claim, 288);
OFF(caracal_storage_ops, rate_hit, 296);
OFF(caracal_storage_ops, subject_issuer_create, 304);
OFF(caracal_storage_ops, subject_issuer_get, 312);
OFF(caracal_storage_ops, key_meta_put, 320);
OFF(caracal_storage_ops, key_meta_list, 328);
OFF(caracal_storage_ops, mint_write, 336);             /* 1.1 */
OFF(caracal_storage_ops, approval_get_or_create, 344); /* 1.1 */
OFF(caracal_storage_ops, application_find, 352);       /* 1.1 */
OFF(caracal_storage_ops, approval_sweep, 360);         /* 1.1 */
OFF(caracal_storage_ops, rate_take, 368);              /* 1.2 */
OFF(caracal_storage_ops, config_generation, 376);      /* 1.2 */
OFF(caracal_storage_ops, mint_write_batch, 384);       /* 1.2 */

/* caracal_stream_msg */
SIZE(caracal_stream_msg, 48);
OFF(caracal_stream_msg, size, 0);
OFF(caracal_stream_msg, topic, 8);
OFF(caracal_stream_msg, id, 16);
OFF(caracal_stream_msg, payload, 24);
OFF(caracal_stream_msg, deliveries, 40);

/* caracal_stream_ops */
SIZE(caracal_stream_ops, 48);
OFF(caracal_stream_ops, size, 0);
OFF(caracal_stream_ops, publish, 8);
OFF(caracal_stream_ops, group_create, 16);
OFF(caracal_stream_ops, consume, 24);
OFF(caracal_stream_ops, ack, 32);
OFF(caracal_stream_ops, claim_stale, 40);

#else
#define LAYOUT_PINNED 0
#endif

/* The portable facts at run time: a 1.x struct is never smaller than its
 * mandatory prefix (it grows past it in later minors). */
static void test_layout(void **state)
{
	(void)state;
	assert_int_equal(offsetof(caracal_plugin, size), 12);
	assert_true(CARACAL_PLUGIN_MIN_SIZE <= sizeof(caracal_plugin));
	assert_true(CARACAL_SIGNER_OPS_MIN_SIZE <= sizeof(caracal_signer_ops));
	assert_true(CARACAL_POLICY_OPS_MIN_SIZE <= sizeof(caracal_policy_ops));
	assert_true(CARACAL_STORAGE_OPS_MIN_SIZE <= sizeof(caracal_storage_ops));
	assert_true(CARACAL_STREAM_OPS_MIN_SIZE <= sizeof(caracal_stream_ops));
	assert_true(CARACAL_AUDIT_OPS_MIN_SIZE <= sizeof(caracal_audit_ops));
	if (!LAYOUT_PINNED)
		skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
