#!/usr/bin/env bash
# Integration test of delegated mints and gateway re-exchanges (spec sts.md
# §2.3, §2.7, §2.10, §2.13, §3.2; §7 vectors 26-29) over real sockets.
# Sessions and delegation edges belong to the Coordinator, which this build
# does not have yet: the test writes them into the SQLite database with
# Python's sqlite3 (the same rows the Coordinator will write). The gateway's
# HMAC signature is computed independently in Python. Mandates are verified
# by PyJWT against our JWKS.
test_name=deleg
. "${CARACAL_SRCDIR:?run through make check}/tests/integration/sts_lib.sh"
"$py" -c "import sqlite3" 2>/dev/null || { echo "python3 sqlite3 is needed"; exit 99; }

gwkey=$(openssl rand -hex 32)
printf '%s\n' "$gwkey" >"$tmp/var/gateway.key"
chmod 600 "$tmp/var/gateway.key"
start_caracald ", gateway_hmac_key_file: gateway.key"

zone=$("${ctl[@]}" zone create deleg | json "['id']") || fail "zone"
"${ctl[@]}" app create --zone deleg planner >"$tmp/a.json" || fail "app a"
"${ctl[@]}" app create --zone deleg worker >"$tmp/b.json" || fail "app b"
app_a=$(json "['id']" <"$tmp/a.json"); sec_a=$(json "['client_secret']" <"$tmp/a.json")
app_b=$(json "['id']" <"$tmp/b.json"); sec_b=$(json "['client_secret']" <"$tmp/b.json")
"${ctl[@]}" resource create --zone deleg --identifier resource://orders \
	--upstream http://127.0.0.1:9/orders --scopes "orders:read orders:write" >"$tmp/r.json" ||
	fail "resource"
res=$(json "['id']" <"$tmp/r.json")
"${ctl[@]}" resource create --zone deleg --identifier resource://billing \
	--upstream http://127.0.0.1:9/billing --scopes "billing:read" >/dev/null || fail "resource 2"
for a in "$app_a" "$app_b"; do
	"${ctl[@]}" grant create --zone deleg --app "$a" --resource resource://orders \
		--scopes "orders:read orders:write" >/dev/null || fail "grant"
	"${ctl[@]}" grant create --zone deleg --app "$a" --resource resource://billing \
		--scopes "billing:read" >/dev/null || fail "grant 2"
done
"${ctl[@]}" resource create --zone deleg --identifier resource://ledger --scopes "ledger:read" \
	--upstream http://127.0.0.1:9/ledger --operation "GET /ledger/1 ledger:read" \
	--enforce-operations >"$tmp/l.json" || fail "enforced resource"
ledger=$(json "['id']" <"$tmp/l.json")
"${ctl[@]}" grant create --zone deleg --app "$app_b" --resource resource://ledger \
	--scopes "ledger:read" >/dev/null || fail "grant 3"
"${ctl[@]}" policy apply --zone deleg "$srcdir/conf/policies/allow-granted.yaml" >/dev/null ||
	fail "policy"

# The Coordinator's rows: an authority record and a session per application,
# and edges from the planner's session to the worker's.
"$py" - "$tmp/var/caracal.db" "$zone" "$app_a" "$app_b" "$res" "$ledger" <<'PY' || fail "seeding sessions"
import sqlite3, sys, time
db, zone, a, b, res, ledger = sys.argv[1:7]
now = int(time.time() * 1e6)
c = sqlite3.connect(db, timeout=5)
c.execute("PRAGMA foreign_keys=ON")
for ar, app in (("ar-a", a), ("ar-b", b)):
    c.execute("INSERT INTO authority_records(id, zone_id, session_type, subject_id, status,"
              " expires_at_us, authenticated_at_us) VALUES (?,?,?,?,?,?,?)",
              (ar, zone, "application", app, "active", now + 3600_000_000, now))
for sid, app, ar in (("s-a", a, "ar-a"), ("s-b", b, "ar-b"), ("s-b2", b, "ar-b")):
    c.execute("INSERT INTO sessions(id, zone_id, application_id, subject_authority_record_id,"
              " status, lifecycle, labels, started_at_us, ttl_seconds) VALUES (?,?,?,?,?,?,?,?,?)",
              (sid, zone, app, ar, "active", "task", '["worker"]', now, 3600))
def edge(eid, target, constraints, scopes='["orders:read"]', resource=res):
    c.execute("INSERT INTO delegation_edges(id, zone_id, source_session_id, target_session_id,"
              " issuer_application_id, receiver_application_id, resource_id, scopes,"
              " constraints_json, status, expires_at_us, created_at_us)"
              " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
              (eid, zone, "s-a", target, a, b, resource, scopes, constraints, "active",
               now + 1800_000_000, now))
edge("e1", "s-b", '{"max_hops":1}')
edge("e-budget", "s-b", '{"budget":1}')
edge("e-hops", "s-b", '{"max_hops":11}')
edge("e-ttl", "s-b", '{"ttl_seconds":30}')
edge("e-other", "s-b2", None)
edge("e-wide", "s-b", None, scopes='["orders:read", "billing:read"]')
edge("e-free", "s-b", None, scopes='["orders:read", "billing:read"]', resource=None)
edge("e-ledger", "s-b", None, scopes='["ledger:read"]', resource=ledger)
# A governed session whose subject is a user: holds for it are that user's to decide.
c.execute("INSERT INTO authority_records(id, zone_id, session_type, subject_id, status,"
          " expires_at_us, authenticated_at_us) VALUES (?,?,?,?,?,?,?)",
          ("ar-u", zone, "user", "alice@example.test", "active", now + 3600_000_000, now))
c.execute("INSERT INTO sessions(id, zone_id, application_id, subject_authority_record_id,"
          " status, lifecycle, labels, started_at_us, ttl_seconds) VALUES (?,?,?,?,?,?,?,?,?)",
          ("s-u", zone, b, "ar-u", "active", "task", '[]', now, 3600))
edge("e-u", "s-u", None, scopes='["orders:write"]')
c.commit()
PY
pass "zone, applications, resources, grants; sessions and edges seeded as the Coordinator would"

url="http://127.0.0.1:$sts/oauth/2/token"
grant='urn:ietf:params:oauth:grant-type:token-exchange'
at='urn:ietf:params:oauth:token-type:access_token'
as_b() { printf 'grant_type=%s&zone_id=%s&application_id=%s&client_secret=%s' "$grant" "$zone" "$app_b" "$sec_b"; }
post() { # body -> status; body in $tmp/body
	curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$1" "$url"
}
expect() { # status error description body
	local c
	c=$(post "$4")
	[ "$c" = "$1" ] && grep -q "\"error\":\"$2\"" "$tmp/body" &&
		{ [ -z "$3" ] || grep -qF "$3" "$tmp/body"; } ||
		fail "'$4': $c $(cat "$tmp/body"), want $1 $2 '$3'"
}
deleg="$(as_b)&resource=resource://orders&scope=orders:read&agent_session_id=s-b"

# --- the delegated mint (use=gateway) --------------------------------------------------
c=$(post "$deleg&delegation_edge_id=e1")
[ "$c" = 200 ] || fail "delegated mint: $c $(cat "$tmp/body")"
gwm=$(json "['access_token']" <"$tmp/body")
curl -s -o "$tmp/jwks.json" "http://127.0.0.1:$sts/.well-known/jwks.json?zone_id=$zone"
claims() { # token audience -> verified claims as JSON (PyJWT)
	"$py" - "$tmp/jwks.json" "$1" "$2" <<'PY'
import json, sys, jwt
jwks, token, aud = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
h = jwt.get_unverified_header(token)
key = next(k for k in jwks["keys"] if k["kid"] == h["kid"])
print(json.dumps(jwt.decode(token, jwt.PyJWK(key).key, algorithms=[h["alg"]], audience=aud,
                            issuer="http://127.0.0.1:8080")))
PY
}
claims "$gwm" http://127.0.0.1:8080 >"$tmp/gw.json" || fail "PyJWT rejected the gateway mandate"
"$py" - "$tmp/gw.json" "$app_a" "$app_b" <<'PY' || fail "gateway mandate claims: $(cat "$tmp/gw.json")"
import json, sys
c, a, b = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
assert c["use"] == "gateway" and c["sub"] == b and c["client_id"] == b, c
assert c["aud"] == ["http://127.0.0.1:8080"] and c["target"] == ["resource://orders"], c
assert c["agent_session_id"] == "s-b" and c["delegation_edge_id"] == "e1", c
assert c["source_session_id"] == "s-a" and c["target_session_id"] == "s-b", c
assert c["delegation_path"] == ["e1"] and c["hop_count"] == 1, c
assert c["delegation_chain"] == [
    {"application_id": a, "agent_session_id": "s-a", "delegation_edge_id": "e1"},
    {"application_id": b, "agent_session_id": "s-b"}], c
assert c["root_sid"] == c["sid"] and c["scope"] == "orders:read", c
assert "delegation_graph_epoch" not in c, c
PY
pass "delegated mint: a use=gateway mandate with the delegation proof (path, chain, hop_count) — PyJWT verifies it"

# --- refusals of spec §7 vectors 26-27 -------------------------------------------------
expect 403 access_denied "delegation requires a target Session" \
	"$(as_b)&resource=resource://orders&scope=orders:read&delegation_edge_id=e1"
expect 403 access_denied "delegation edge target mismatch" \
	"$(as_b)&resource=resource://orders&scope=orders:read&agent_session_id=s-b2&delegation_edge_id=e1"
expect 403 access_denied "delegation target inactive or unauthorized" \
	"grant_type=$grant&zone_id=$zone&application_id=$app_a&client_secret=$sec_a&resource=resource://orders&scope=orders:read&agent_session_id=s-b&delegation_edge_id=e1"
expect 403 access_denied "requested scopes exceed delegation scopes" \
	"$(as_b)&resource=resource://orders&scope=orders:write&agent_session_id=s-b&delegation_edge_id=e1"
expect 403 access_denied "delegation constraints invalid" "$deleg&delegation_edge_id=e-budget"
expect 403 access_denied "exceeds platform maximum" "$deleg&delegation_edge_id=e-hops"
expect 403 access_denied "requested ttl exceeds delegation ttl" \
	"$deleg&delegation_edge_id=e-ttl&ttl_seconds=60"
c=$(post "$deleg&delegation_edge_id=e-ttl")
[ "$c" = 200 ] && [ "$(json "['expires_in']" <"$tmp/body")" = 30 ] || fail "ttl narrowed: $c $(cat "$tmp/body")"
expect 403 access_denied "policy denied (resource_outside_delegation)" \
	"$(as_b)&resource=resource://billing&scope=billing:read&agent_session_id=s-b&delegation_edge_id=e-wide"
expect 403 access_denied "" "$deleg&delegation_edge_id=no-such-edge"
pass "vectors 26-27: no session, target mismatch, wrong caller, scopes, budget, max_hops 11, ttl, resource outside the edge"

# --- the gateway re-exchange (use=resource) ----------------------------------------------
gw_post() { # body [ts] [nonce] [request-id] [key] -> status
	local body=$1 ts=${2:-$(date +%s)} nonce=${3:-n-$RANDOM$RANDOM} rid=${4:-gw-req-1}
	local key=${5:-$gwkey}
	local sig
	sig=$("$py" - "$key" "$ts" "$nonce" "$body" <<'PY'
import hashlib, hmac, sys
key, ts, nonce, body = sys.argv[1:5]
msg = "\n".join([ts, nonce, "POST", "/oauth/2/token", hashlib.sha256(body.encode()).hexdigest()])
print(hmac.new(bytes.fromhex(key), msg.encode(), hashlib.sha256).hexdigest())
PY
)
	curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/x-www-form-urlencoded' -H "X-Request-Id: $rid" \
		-H "X-Caracal-Gateway-Timestamp: $ts" -H "X-Caracal-Gateway-Request: $nonce" \
		-H "X-Caracal-Gateway-Signature: $sig" --data-binary "$body" "$url"
}
gwbody="grant_type=$grant&zone_id=$zone&application_id=$app_b&resource=resource://orders&subject_token=$gwm&subject_token_type=$at&gateway_request_id=gw-req-1&request_method=GET&request_path=/orders/1"
c=$(gw_post "$gwbody" "" nonce-1)
[ "$c" = 200 ] || fail "gateway re-exchange: $c $(cat "$tmp/body")"
cp "$tmp/body" "$tmp/resource.json"
rm_=$(json "['access_token']" <"$tmp/resource.json")
[ "$(json "['scope']" <"$tmp/resource.json")" = orders:read ] || fail "scope not inherited"
[ "$(json "['upstreams'][0]['url']" <"$tmp/resource.json")" = http://127.0.0.1:9/orders ] ||
	fail "no upstream directive: $(cat "$tmp/resource.json")"
claims "$rm_" resource://orders >"$tmp/rm.json" || fail "PyJWT rejected the resource mandate"
"$py" - "$tmp/rm.json" "$tmp/gw.json" <<'PY' || fail "resource mandate claims: $(cat "$tmp/rm.json")"
import json, sys
c, g = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert c["use"] == "resource" and c["aud"] == ["resource://orders"], c
assert c["root_sid"] == g["sid"] and c["sid"] != g["sid"], (c, g)
assert c["scope"] == "orders:read" and c["delegation_edge_id"] == "e1", c
assert c["exp"] - c["iat"] == 900, c
PY
pass "gateway re-exchange: HMAC-authenticated, a use=resource mandate for resource://orders (aud), scope inherited, root_sid kept, upstream directive"

refuse_gw() { # what status args...
	local what=$1 want=$2
	shift 2
	local c
	c=$(gw_post "$@")
	[ "$c" = "$want" ] || fail "$what: $c $(cat "$tmp/body")"
}
# A gateway mandate minted for resource://orders (through an edge bound to no resource)
# does not reach resource://billing, although the edge and the grants would.
c=$(post "$(as_b)&resource=resource://orders&scope=orders:read&agent_session_id=s-b&delegation_edge_id=e-free")
[ "$c" = 200 ] || fail "delegated mint on an unbound edge: $c $(cat "$tmp/body")"
free_m=$(json "['access_token']" <"$tmp/body")
c=$(gw_post "grant_type=$grant&zone_id=$zone&application_id=$app_b&resource=resource://billing&scope=billing:read&subject_token=$free_m&subject_token_type=$at&gateway_request_id=gw-req-1")
[ "$c" = 403 ] && grep -q 'mandate_target_mismatch' "$tmp/body" || fail "re-exchange beyond the mandate's target: $c $(cat "$tmp/body")"
# An enforced resource: only its declared operation, with the scope it needs (vector 30).
c=$(post "$(as_b)&resource=resource://ledger&scope=ledger:read&agent_session_id=s-b&delegation_edge_id=e-ledger")
[ "$c" = 200 ] || fail "delegated mint for the ledger: $c $(cat "$tmp/body")"
lm=$(json "['access_token']" <"$tmp/body")
lbody() { printf 'grant_type=%s&zone_id=%s&application_id=%s&resource=resource://ledger&subject_token=%s&subject_token_type=%s&gateway_request_id=gw-req-1&request_method=%s&request_path=%s' "$grant" "$zone" "$app_b" "$lm" "$at" "$1" "$2"; }
c=$(gw_post "$(lbody get /ledger/1)")
[ "$c" = 200 ] || fail "declared operation: $c $(cat "$tmp/body")"
for op in "GET|/ledger/2" "POST|/ledger/1" "GET|/ledger/1/" "GET%20x|/ledger/1"; do
	c=$(gw_post "$(lbody "${op%%|*}" "${op#*|}")")
	[ "$c" = 403 ] && grep -q '"error":"operation_not_permitted"' "$tmp/body" ||
		fail "undeclared operation $op: $c $(cat "$tmp/body")"
done
pass "an enforced resource: its declared operation re-exchanges (method case-insensitive), any other is 403 operation_not_permitted"

refuse_gw "replayed nonce" 401 "$gwbody" "" nonce-1
refuse_gw "stale timestamp" 401 "$gwbody" "$(( $(date +%s) - 62 ))"
refuse_gw "future timestamp" 401 "$gwbody" "$(( $(date +%s) + 65 ))"
refuse_gw "request id mismatch" 401 "$gwbody" "" "" other-request
refuse_gw "wrong key" 401 "$gwbody" "" "" "" "$(openssl rand -hex 32)"
grep -q '"error":"access_denied"' "$tmp/body" && grep -q 'invalid gateway exchange signature' "$tmp/body" ||
	fail "gateway refusal body: $(cat "$tmp/body")"
c=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
	-H 'X-Caracal-Gateway-Timestamp: 1' --data-binary "$gwbody" "$url")
[ "$c" = 401 ] || fail "a lone gateway header: $c"
# §2.1: rules 9 to 11 (resources, grant and token types) come after the
# gateway's signature (rule 8): a bad signature wins over a bad form, and a
# good one gets the form's own error.
refuse_gw "bad signature and an empty resource" 401 "$gwbody&resource=%20" "" "" "" "$(openssl rand -hex 32)"
grep -q 'invalid gateway exchange signature' "$tmp/body" || fail "rule 8 before 9: $(cat "$tmp/body")"
refuse_gw "signed, an empty resource" 400 "$gwbody&resource=%20"
grep -q 'resource must not be empty' "$tmp/body" || fail "rule 9 after 8: $(cat "$tmp/body")"
refuse_gw "signed, another grant type" 400 "${gwbody/token-exchange/jwt-bearer}"
grep -q 'unsupported grant_type' "$tmp/body" || fail "rule 10 after 8: $(cat "$tmp/body")"
refuse_gw "no subject token" 401 "grant_type=$grant&zone_id=$zone&application_id=$app_b&resource=resource://orders&gateway_request_id=gw-req-1"
post "grant_type=$grant&zone_id=$zone&application_id=$app_b&client_secret=$sec_b&resource=resource://orders&scope=orders:read" >/dev/null
sess=$(json "['access_token']" <"$tmp/body")
refuse_gw "a session mandate through the gateway" 401 "grant_type=$grant&zone_id=$zone&application_id=$app_b&resource=resource://orders&subject_token=$sess&subject_token_type=$at&gateway_request_id=gw-req-1"
refuse_gw "a resource mandate as subject" 401 "grant_type=$grant&zone_id=$zone&application_id=$app_b&resource=resource://orders&subject_token=$rm_&subject_token_type=$at&gateway_request_id=gw-req-1"
refuse_gw "another application's mandate" 403 "grant_type=$grant&zone_id=$zone&application_id=$app_a&resource=resource://orders&subject_token=$gwm&subject_token_type=$at&gateway_request_id=gw-req-1"
expect 401 invalid_token "invalid subject_token" \
	"$(as_b)&resource=resource://orders&subject_token=$gwm&subject_token_type=$at"
pass "gateway refusals: replayed nonce, skew past 60 s, request id, wrong key, lone header, no subject token, wrong mandate use, other client (401/403); a gateway mandate on a direct call: 401"

# --- a hold for a user's governed session is anchored to that user (spec §2.9) ------------
cat >"$tmp/consent.yaml" <<'YAML'
version: 1
rules:
  - name: allow-granted
    effect: allow
    when: {scopes_within_grants: true}
    unless: {scopes_any: ["orders:write"]}
  - name: writes-need-the-user
    effect: approval_required
    when: {scopes_within_grants: true, scopes_any: ["orders:write"]}
    approval: {tier: consent, approver: subject}
YAML
"${ctl[@]}" policy apply --zone deleg "$tmp/consent.yaml" >/dev/null || fail "consent policy"
c=$(post "$(as_b)&resource=resource://orders&scope=orders:write&agent_session_id=s-u&delegation_edge_id=e-u")
[ "$c" = 401 ] && grep -q interaction_required "$tmp/body" || fail "gated delegated mint: $c $(cat "$tmp/body")"
hold=$(json "['approval_id']" <"$tmp/body")
"${ctl[@]}" approval list --zone deleg >"$tmp/holds.json" || fail "approval list"
"$py" - "$tmp/holds.json" "$hold" <<'PY' || fail "hold anchor: $(cat "$tmp/holds.json")"
import json, sys
holds, hid = json.load(open(sys.argv[1])), sys.argv[2]
h = next(h for h in holds["approvals"] if h["id"] == hid)
assert h["subject_anchor"] == "alice@example.test" and h["approver_class"] == "subject", h
PY
"${ctl[@]}" policy apply --zone deleg "$srcdir/conf/policies/allow-granted.yaml" >/dev/null ||
	fail "policy back"
pass "a hold for a delegated mint on a user's governed session is anchored to that user"

# --- revocation is seen on the next exchange ----------------------------------------------
"${ctl[@]}" revoke --zone deleg --delegation e1 >/dev/null || fail "revoke the edge"
expect 403 access_denied "" "$deleg&delegation_edge_id=e1"
refuse_gw "re-exchange after the edge was revoked" 403 "$gwbody"
pass "a revoked edge: no delegated mint, and its gateway mandate no longer re-exchanges (403)"

kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
[ "$rc" = 0 ] || fail "caracald exited $rc"
"$builddir/caracalctl" -c "$tmp/caracal.yaml" audit verify >/dev/null || fail "audit chain broken"
ledger="$tmp/var/audit/$zone.jsonl"
grep -q '"delegation_edge_id":"e1"' "$ledger" || fail "delegation not in the audit"
grep -q 'resource_outside_delegation' "$ledger" || fail "resource_outside_delegation not audited"
! grep -qF "$gwm" "$ledger" || fail "a mandate reached the audit ledger"
pass "delegated and gateway issuance audited; the chain verifies"
echo "all delegation integration checks passed"
