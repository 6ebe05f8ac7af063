/*
 * exchange.h — what the parts of POST /oauth/2/token share (internal to the
 * STS): the job of one exchange, the mandate being made, and the steps the
 * pipeline in token.c calls. Split by job: exchange.c (answers, audit
 * events, helpers), authn.c (client and gateway authentication), hold.c
 * (approvals), issue.c (the mandate), classes.c (federation, control keys).
 */
#ifndef CARACAL_STS_EXCHANGE_H
#define CARACAL_STS_EXCHANGE_H

#include "roles/deps.h"
#include "roles/sts/approvals.h"
#include "roles/sts/config_cache.h"
#include "roles/sts/delegation.h"
#include "roles/sts/form.h"

#include "daemon/server.h"
#include "util/arena.h"
#include "util/jsonw.h"
#include "util/uuid.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define DEFAULT_TTL_S 900
#define TTL_CAP_NO_SUBJECT_S 3600
#define TTL_CAP_SUBJECT_S 900
#define COLD_VERIFY_WAIT_MS 5000
#define MAX_SCOPES 64
#define REQUEST_ID_MAX 128

/* What a gateway-authenticated exchange is checked against (§2.10), copied
 * from the request on the loop thread (into the job's arena). */
struct gateway_material {
	const char *timestamp, *nonce, *signature; /* NULL: header absent */
	const char *request_id;                    /* X-Request-Id as received */
	const char *method;
	const char *path;
	const unsigned char *body;
	size_t body_len;
};

struct token_job {
	deferred_work dw; /* must stay first */
	caracal_arena *arena;
	sts_form form;
	const char *zone; /* trimmed zone_id, once authenticated (arena) */
	char request_id[REQUEST_ID_MAX + 1];
	int gateway; /* any gateway header present: gateway-authenticated or refused */
	struct gateway_material gw;
	int denial_audited;     /* a deny event was emitted for this exchange */
	const char *error_code; /* of the last error answer (static string) */
	int audit_lost;         /* the answer is that evidence could not be recorded */
	sts_config_view config; /* what the exchange read of its zone's configuration */
	/* A gateway exchange whose form broke a rule after §2.1 rule 8: the
	 * answer once the gateway's signature has been checked. */
	int form_failed;
	sts_form_error form_error;
	/* Decision events kept for later (sts_audit_exchange_later), in order. */
	struct later_event *later_head, *later_tail;
};

struct approval_decl {
	const char *tier;
	const char *approver; /* operator | subject | any */
	int64_t ttl_s;        /* 0: the class default */
	int privacy;          /* PRIVACY_* */
};

struct granted {
	const char *identifier;
	const char *id;
	const char *upstream_url; /* NULL: none */
	int64_t max_ttl_s;        /* 0: no obligation */
};

/* What one mandate is made of once every check has passed. */
struct issuance {
	const char *zone;
	const char *app_id; /* client_id */
	const char *subject;
	const char *sub_type;      /* application | user */
	const char *use;           /* session | gateway | resource */
	const char *scope;         /* minted verbatim; NULL or "": none */
	const char *const *target; /* NULL: no target claim, no target_resources */
	size_t target_count;
	int64_t ttl_s;
	int64_t now_us;
	const char *approval_id;        /* consumed with the record; NULL: none */
	const char *record_claims_json; /* stored with the authority record */
	const char *determining;        /* audit: canonical JSON text; NULL: [] */
	/* More metadata of the issued event (borrowed; copied when parked). */
	jsonw_member audit_extra[3];
	size_t audit_extra_count;
	/* use=resource: aud is the target; otherwise [issuer]. */
	const char *root_sid;             /* NULL: the new record's own id */
	const char *parent_id;            /* the presented record (use=resource); NULL: none */
	const char *agent_session_id;     /* the governed session; NULL: none */
	const sts_delegation *delegation; /* the edge in play; NULL: none */
	/* Gateway exchanges: one upstream directive per granted resource. */
	const struct granted *upstreams;
	size_t upstream_count;
	/* §2.9 re-issue: another bearer for this existing record (no new record,
	 * no consumption; the TTL ends with the record). */
	const caracal_authority_record *reissue;
	const char *reissued_approval_id;
};

/* ---- exchange.c — answers, audit events and small helpers of an exchange */

/* The answer: status and JSON body (reference taken; requestId added). */
void sts_set_json(struct token_job *job, int status, json_t *body);
void sts_set_error(struct token_job *job, int status, const char *error, const char *description);
void sts_audit_lost(struct token_job *job, const caracal_error *cause);
/* Most metadata members a token_exchange event takes beside its own. */
#define STS_AUDIT_EXTRA_MAX 8
/* One token_exchange event (§6), written as canonical text without a jansson
 * tree (a mint emits two). determining: canonical JSON text (NULL: []);
 * extra: further metadata members, borrowed (RAW values canonical JSON).
 * Returns OK or the failure to queue it (the caller then answers 500:
 * evidence that cannot be recorded means no token). */
int sts_audit_exchange(struct token_job *job, const char *decision, const char *status,
                       const char *resource, const char *determining, const jsonw_member *extra,
                       size_t n_extra, caracal_error *err);
/* The same event kept on the job (its strings copied into the job's arena)
 * and emitted before the exchange's next event, or when it settles: the
 * per-resource decisions. An exchange that mints is parked with its allow
 * decisions still kept, so they are written on the committer, just before
 * the issued event, instead of on the decision worker; the chain's order is
 * the same. OK or NOMEM. */
int sts_audit_exchange_later(struct token_job *job, const char *decision, const char *status,
                             const char *resource, const char *determining,
                             const jsonw_member *extra, size_t n_extra, caracal_error *err);
/* Emit the kept events now (sts_audit_exchange does first); OK or the first
 * failure (the events not emitted stay kept). */
int sts_audit_flush_later(struct token_job *job, caracal_error *err);
/* Copy n members into dst with their string values in arena (keys are
 * static strings and stay shared); 0, or -1 when out of memory. */
int sts_members_copy(caracal_arena *arena, jsonw_member *dst, const jsonw_member *src, size_t n);
/* items as a JSON array of strings, copied into arena ("[]" for none); NULL
 * when out of memory or an item is not UTF-8. */
const char *sts_str_array_text(caracal_arena *arena, const char *const *items, size_t n,
                               size_t *len);
size_t sts_split_scopes(caracal_arena *arena, const char *scope, const char **out, size_t max,
                        int *overflow);
json_t *sts_array_of(const char *const *items, size_t n);
int sts_present(const char *v);
int sts_claim_lists(const json_t *claims, const char *name, const char *value);
const char *sts_claim_copy(caracal_arena *arena, const json_t *claims, const char *name);
int sts_requested_ttl(struct token_job *job, int64_t cap, int64_t *ttl);

/* ---- authn.c — client and gateway authentication (§2.5, §2.10) */

int sts_client_authenticate(struct token_job *job, const role_deps *deps, const char *zone,
                            const char *app_id, const caracal_application *app, int app_live,
                            int not_in_zone, int64_t now_us);
int sts_gateway_authenticate(struct token_job *job, const role_deps *deps, const char *zone,
                             int64_t now_us);

/* ---- hold.c — approval holds in the exchange (§2.9) */

int sts_collect_approval(caracal_arena *arena, const caracal_policy_decision *dec,
                         struct approval_decl *out);
void sts_interaction_required(struct token_job *job, const char *id, const char *state,
                              const char *tier, const char *binding, int64_t expires_us);
int sts_approval_gate(struct token_job *job, const role_deps *deps,
                      const approval_binding_input *bi, const char *binding,
                      const char *subject_anchor, struct approval_decl *decls, size_t n,
                      int64_t now_us, char approved[37]);
int sts_exchange_binding(struct token_job *job, const role_deps *deps, caracal_arena *arena,
                         approval_binding_input *bi, char binding[65]);
int sts_reissuable(const role_deps *deps, const caracal_approval *held, int64_t now_us,
                   caracal_arena *arena, caracal_authority_record *rec);
void sts_hold_anchor(const char *subject_kind, const char *subject_id, const sts_delegation *deleg,
                     const char **anchor);

/* ---- issue.c — signing, persisting and answering one mandate */

void sts_issue(struct token_job *job, const role_deps *deps, const struct issuance *is);

/* A signed mandate whose writes are not yet made: everything its exchange
 * still has to do once they are (or were refused), in the job's arena. */
struct pending_mint {
	struct token_job *job;
	caracal_authority_record rec;
	caracal_mint_write mw; /* record = &rec */
	char sid[UUID_TEXT_LEN + 1], jti[UUID_TEXT_LEN + 1], jti_key[64];
	const char *zone, *app_id;
	const char *consumed_approval; /* audited as step_up_consumed; NULL: none */
	int reissued;
	/* For the issued event, in the job's arena: determining (canonical
	 * JSON, NULL: []) and the metadata beside the exchange's own. */
	const char *determining;
	jsonw_member extra[STS_AUDIT_EXTRA_MAX];
	size_t nextra;
	char *body; /* the 200 answer (malloc'd, owned) */
	size_t body_len;
	/* How a parked exchange is handed back once finished: server_complete
	 * (NULL), or a test's. */
	void (*complete)(deferred_work *dw);
};

/* After the writes (rc, conflict and werr their outcome): audit and answer,
 * or answer the refusal; a record whose evidence fails is withdrawn. */
void sts_mint_finish(struct pending_mint *p, const role_deps *deps, int rc, int conflict,
                     const caracal_error *werr);

/* ---- mint_batch.c — group commit of mints on a worker */

/* Leave p's writes to the worker's batch (committed with other exchanges'
 * in one transaction, then sts_mint_finish and the answer) and park the
 * job: 1. 0 when the storage cannot batch (the caller writes now). */
int sts_mint_batch_add(const role_deps *deps, struct pending_mint *p);

/* What ends every exchange once its answer is set (token.c): a 5xx of an
 * authenticated exchange without a denial event is audited. */
void sts_exchange_settled(struct token_job *job);

/* ---- classes.c — the federation and control-key exchange classes (§2.11, §2.3) */

void sts_federation_exchange(struct token_job *job, const role_deps *deps,
                             const caracal_application *app, int64_t now_us);
int sts_pure_control_request(struct token_job *job, const char *audience);
/* The own zone of the control key app_id into *zone ("" when no zone has it
 * as a control key); a storage fault is returned (the caller answers 503). */
int sts_control_key_zone(const role_deps *deps, const char *app_id, caracal_arena *arena,
                         const char **zone);
void sts_control_exchange(struct token_job *job, const role_deps *deps,
                          const caracal_application *app, const char *const *scopes, size_t nscopes,
                          int plain, int64_t now_us);

/* Register GET /.well-known/jwks.json (jwks_route.c). */
void sts_jwks_route_register(void);

#endif
