#!/usr/bin/env bash
# Integration test of id_token federation (spec sts.md §2.11, §1.4, §7 vector
# 37) over real sockets: a stand-in OpenID provider (tests/integration/idp.py:
# PyJWT + cryptography) serves its JWKS over HTTPS with a certificate from a
# CA that only caracald's sts.federation.ca_file trusts; the issuer is
# registered with caracalctl; id_tokens it signs are exchanged for user
# session mandates, which PyJWT verifies against our JWKS. Every refusal
# answers 401 invalid_token (400 for a federation request carrying other
# fields) and is audited.
test_name=fed
. "${CARACAL_SRCDIR:?run through make check}/tests/integration/sts_lib.sh"

mkdir -m 700 "$tmp/idp"
"$py" "$srcdir/tests/integration/idp.py" serve "$tmp/idp" 2>"$tmp/idp.log" &
idp=$!
also_kill "$idp"
for _ in $(seq 1 100); do
	[ -f "$tmp/idp/port" ] && break
	kill -0 "$idp" 2>/dev/null || { cat "$tmp/idp.log"; fail "idp.py exited"; }
	sleep 0.1
done
idp_port=$(cat "$tmp/idp/port") || fail "idp did not start"
issuer="https://idp.example.test"
jwks_url="https://127.0.0.1:$idp_port/jwks"
audience="caracal-test-audience"

start_caracald ", federation: {ca_file: $tmp/idp/ca.pem, allow_private_networks: true}"

zone=$("${ctl[@]}" zone create fed | json "['id']") || fail "zone create"
"${ctl[@]}" app create --zone fed portal >"$tmp/app.json" || fail "app create"
app=$(json "['id']" <"$tmp/app.json"); secret=$(json "['client_secret']" <"$tmp/app.json")
"${ctl[@]}" issuer create --zone fed --issuer "$issuer" --jwks-url "$jwks_url" \
	--audience "$audience" >/dev/null || fail "issuer create"
pass "zone, application and issuer registered with caracalctl"

url="http://127.0.0.1:$sts/oauth/2/token"
grant='urn:ietf:params:oauth:grant-type:token-exchange'
idt='urn:ietf:params:oauth:token-type:id_token'
now=$(date +%s)
claims() { # sub [extra python dict entries] -> claims JSON
	"$py" -c 'import json,sys,time
c = {"iss": sys.argv[1], "aud": sys.argv[2], "sub": sys.argv[3],
     "iat": int(time.time()), "exp": int(time.time()) + 300}
c.update(eval("{" + sys.argv[4] + "}"))
print(json.dumps(c))' "$issuer" "$audience" "$1" "${2:-}"
}
sign() { "$py" "$srcdir/tests/integration/idp.py" sign "$tmp/idp" "$@"; }
exchange() { # id_token [extra form fields] -> status; body in $tmp/body
	local f="grant_type=$grant&zone_id=$zone&application_id=$app&client_secret=$secret"
	f="$f&subject_token=$1&subject_token_type=$idt"
	shift
	for x in "$@"; do f="$f&$x"; done
	curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$f" "$url"
}
refused() { # want-status description token [form fields]
	local want=$1 desc=$2 tok=$3
	shift 3
	local c
	c=$(exchange "$tok" "$@")
	[ "$c" = "$want" ] || fail "$desc: status $c, want $want: $(cat "$tmp/body")"
	local err=invalid_token
	grep -q "\"error\":\"$err\"" "$tmp/body" || fail "$desc: $(cat "$tmp/body")"
}

# --- the success path ------------------------------------------------------------------
for pair in RS256:rsa-1 RS384:rsa-1 RS512:rsa-1 ES384:ec384-1 ES512:ec521-1 ES256:ec-1; do
	alg=${pair%%:*} kid=${pair#*:}
	tok=$(sign "$alg" "$kid" "$(claims alice@example.test)")
	c=$(exchange "$tok" ttl_seconds=600)
	[ "$c" = 200 ] || fail "$alg id_token: $c $(cat "$tmp/body")"
	"$py" - "$tmp/body" <<'PY' || fail "$alg: response shape"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["token_type"] == "Bearer" and r["expires_in"] == 600, r
assert "scope" not in r and "target_resources" not in r, r
PY
done
mandate=$(json "['access_token']" <"$tmp/body")
curl -s -o "$tmp/jwks.json" "http://127.0.0.1:$sts/.well-known/jwks.json?zone_id=$zone"
"$py" - "$tmp/jwks.json" "$mandate" "$app" "$zone" <<'PY' || fail "PyJWT rejected the user mandate"
import json, sys, jwt
jwks, token, app, zone = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
header = jwt.get_unverified_header(token)
key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
c = jwt.decode(token, jwt.PyJWK(key).key, algorithms=[header["alg"]],
               audience="http://127.0.0.1:8080", issuer="http://127.0.0.1:8080")
assert c["sub"] == "alice@example.test" and c["sub_type"] == "user", c
assert c["use"] == "session" and c["client_id"] == app and c["zone_id"] == zone, c
assert c["sid"] == c["root_sid"] and "scope" not in c and "target" not in c, c
assert c["exp"] - c["iat"] == 600, c
PY
pass "RS256/384/512 and ES256/384/512 id_tokens become user session mandates (PyJWT verifies them)"

# --- refusals (spec §7 vector 37 and §1.4) -----------------------------------------------
good=$(sign RS256 rsa-1 "$(claims alice)")
c=$(exchange "$good" resource=resource://orders)
[ "$c" = 400 ] && grep -q invalid_token "$tmp/body" || fail "federation with resource: $c"
c=$(exchange "$good" scope=orders:read)
[ "$c" = 400 ] || fail "federation with scope: $c"
c=$(exchange "$good" approval_id=0190a0a0-0000-7000-8000-000000000000)
[ "$c" = 400 ] || fail "federation with approval_id: $c"
pass "a federation request with resource, scope or approval_id: 400 invalid_token"

refused 401 "unregistered issuer" \
	"$(sign RS256 rsa-1 "$(claims alice '"iss": "https://other.example.test"')")"
refused 401 "HS256" "$(sign HS256 rsa-1 "$(claims alice)")"
refused 401 "alg none" "$(sign none rsa-1 "$(claims alice)")"
refused 401 "RS256 under the EC kid" "$(sign RS256 ec-1 "$(claims alice)")"
refused 401 "ES384 under the P-256 kid" "$(sign ES384 ec-1 "$(claims alice)")"
refused 401 "PS256 (not offered to issuers)" "$(sign PS256 rsa-1 "$(claims alice)")"
refused 401 "unknown kid" "$(sign RS256 rsa-9 "$(claims alice)")"
refused 401 "no kid" "$(sign RS256 '' "$(claims alice)")"
refused 401 "wrong audience" "$(sign RS256 rsa-1 "$(claims alice '"aud": "someone-else"')")"
refused 401 "expired" "$(sign RS256 rsa-1 "$(claims alice '"exp": '$((now - 120)))")"
refused 401 "no exp" "$(sign RS256 rsa-1 "$("$py" -c 'import json,sys; print(json.dumps({"iss":sys.argv[1],"aud":sys.argv[2],"sub":"alice"}))' "$issuer" "$audience")")"
refused 401 "issued in the future" "$(sign RS256 rsa-1 "$(claims alice '"iat": '$((now + 600)))")"
refused 401 "not yet valid" "$(sign RS256 rsa-1 "$(claims alice '"nbf": '$((now + 600)))")"
refused 401 "tampered" "$(sign RS256 rsa-1 "$(claims alice)" | sed 's/\.[^.]*$/.AAAA/')"
pass "unregistered issuer, HS256, none, key/alg mismatch, unknown or no kid, audience, exp, iat, nbf, tampering: 401"

for sub in 'caracal:shared' ' alice' 'alice ' $'a\nb' $'a\u202eb' $'a\u2066b' $'a\x7fb' $'a\u0085b' \
	"$(printf 'x%.0s' $(seq 1 513))" ''; do
	tok=$(sign RS256 rsa-1 "$(claims "$sub")")
	refused 401 "sub '$sub'" "$tok"
done
tok=$(sign RS256 rsa-1 "$(claims alice '"sub": 42')")
refused 401 "numeric sub" "$tok"
tok=$(sign RS256 rsa-1 "$(claims "$(printf 'x%.0s' $(seq 1 512))")")
c=$(exchange "$tok")
[ "$c" = 200 ] || fail "a 512-byte sub: $c $(cat "$tmp/body")"
tok=$(sign RS256 rsa-1 "$(claims 'ålice 名前')")
c=$(exchange "$tok")
[ "$c" = 200 ] || fail "a non-ASCII sub: $c $(cat "$tmp/body")"
pass "sub rules: reserved prefix, white space, controls, bidi, over 512 bytes, empty, non-string refused; 512 bytes and UTF-8 accepted"

c=$(exchange "$good" ttl_seconds=3601)
[ "$c" = 400 ] && grep -q 'exceeds token TTL cap' "$tmp/body" || fail "ttl 3601: $c"
pass "TTL cap 3600 s"

# The user mandate is not a key to resources: a direct exchange is refused.
c=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
	-H 'Content-Type: application/x-www-form-urlencoded' --data-binary \
	"grant_type=$grant&zone_id=$zone&application_id=$app&client_secret=$secret&resource=resource://x&subject_token=$mandate&subject_token_type=urn:ietf:params:oauth:token-type:access_token" "$url")
[ "$c" = 403 ] || fail "user mandate on a direct exchange: $c $(cat "$tmp/body")"
pass "a user session mandate on a direct resource exchange: 403"

# --- the user plane of approvals (spec §2.17, §7 vector 40) ---------------------------------
cat >"$tmp/pay.yaml" <<'YAML'
version: 1
rules:
  - name: allow-granted
    effect: allow
    when: {scopes_within_grants: true}
    unless: {scopes_any: ["pay:send", "pay:wire"]}
  - name: send-needs-the-user
    effect: approval_required
    when: {scopes_within_grants: true, scopes_any: ["pay:send"]}
    approval: {tier: consent, approver: subject, ttl_seconds: 600}
  - name: wire-needs-an-operator
    effect: approval_required
    when: {scopes_within_grants: true, scopes_any: ["pay:wire"]}
    approval: {tier: high, approver: operator}
YAML
"${ctl[@]}" resource create --zone fed --identifier resource://payments \
	--scopes "pay:read pay:send pay:wire" >/dev/null || fail "resource"
"${ctl[@]}" grant create --zone fed --app "$app" --resource resource://payments \
	--scopes "pay:read pay:send pay:wire" >/dev/null || fail "grant"
"${ctl[@]}" policy apply --zone fed "$tmp/pay.yaml" >/dev/null || fail "policy apply"
mint() { # scope [extra fields] -> status; body in $tmp/body
	local f="grant_type=$grant&zone_id=$zone&application_id=$app&client_secret=$secret"
	f="$f&resource=resource://payments&scope=$1"
	shift
	for x in "$@"; do f="$f&$x"; done
	curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$f" "$url"
}
c=$(mint pay:send)
[ "$c" = 401 ] && grep -q interaction_required "$tmp/body" || fail "gated mint: $c $(cat "$tmp/body")"
hold=$(json "['approval_id']" <"$tmp/body"); bind=$(json "['binding']" <"$tmp/body")
c=$(mint pay:wire)
[ "$c" = 401 ] || fail "operator-gated mint: $c"
ophold=$(json "['approval_id']" <"$tmp/body"); opbind=$(json "['binding']" <"$tmp/body")
c=$(mint pay:read)
[ "$c" = 200 ] || fail "application mandate: $c $(cat "$tmp/body")"
mandate_app=$(json "['access_token']" <"$tmp/body")
user_mandate() { # sub -> a user session mandate of the portal application
	local t
	t=$(sign RS256 rsa-1 "$(claims "$1")")
	exchange "$t" >/dev/null
	json "['access_token']" <"$tmp/body"
}
alice=$(user_mandate alice)
decide() { # id bearer body [content-type] -> status; body in $tmp/body
	local auth=()
	[ -n "$2" ] && auth=(-H "Authorization: Bearer $2")
	curl -s -o "$tmp/body" -w '%{http_code}' -X POST "${auth[@]}" \
		-H "Content-Type: ${4:-application/json}" --data-binary "$3" \
		"http://127.0.0.1:$sts/approvals/$1/decision"
}
want() { # status error what
	[ "$c" = "$1" ] && grep -q "\"error\":\"$2\"" "$tmp/body" || fail "$3: $c $(cat "$tmp/body")"
}
ok_body="{\"decision\":\"approved\",\"binding\":\"$bind\"}"
c=$(decide "$hold" "" "$ok_body"); want 401 invalid_token "no bearer"
c=$(decide "$hold" "not-a-jwt" "$ok_body"); want 401 invalid_token "garbage bearer"
c=$(decide "$hold" "$alice" "$ok_body" text/plain); want 415 invalid_token "not JSON"
c=$(decide "$hold" "$alice" '{"decision":"maybe","binding":"x"}'); want 400 invalid_token "decision maybe"
long=$(printf 'r%.0s' $(seq 1 501))
c=$(decide "$hold" "$alice" "{\"decision\":\"approved\",\"binding\":\"$bind\",\"reason\":\"$long\"}")
want 400 invalid_token "reason of 501 bytes"
c=$(decide "$hold" "$alice" "{\"decision\":\"approved\",\"binding\":\"$bind\",\"extra\":1}")
want 400 invalid_token "unknown field"
c=$(decide 00000000-0000-4000-8000-000000000000 "$alice" "$ok_body"); want 404 resource_not_found "unknown hold"
c=$(decide "$hold" "$mandate_app" "$ok_body"); want 403 access_denied "application-typed mandate"
grep -q 'approver must be a user session' "$tmp/body" || fail "wrong message: $(cat "$tmp/body")"
c=$(decide "$ophold" "$alice" "{\"decision\":\"approved\",\"binding\":\"$opbind\"}")
want 403 access_denied "operator-class hold"
c=$(decide "$hold" "$alice" "{\"decision\":\"approved\",\"binding\":\"$opbind\"}")
want 409 access_denied "wrong binding"
c=$(curl -s -o "$tmp/poll" "http://127.0.0.1:$sts/approvals/$hold"; json "['state']" <"$tmp/poll")
[ "$c" = pending ] || fail "refused decisions changed the hold: $c"
pass "decision endpoint refusals: 401 no/bad bearer, 415, 400 decision/reason/field, 404, 403 app mandate, 403 operator hold, 409 binding"

c=$(decide "$hold" "$alice" "{\"decision\":\"approved\",\"binding\":\"$bind\",\"reason\":\"ok by me\"}")
[ "$c" = 200 ] && [ "$(json "['state']" <"$tmp/body")" = approved ] || fail "user approval: $c $(cat "$tmp/body")"
c=$(decide "$hold" "$alice" "$ok_body"); want 409 access_denied "second decision"
grep -q 'not pending' "$tmp/body" || fail "second decision: $(cat "$tmp/body")"
c=$(mint pay:send "approval_id=$hold")
[ "$c" = 200 ] || fail "exchange after the user's approval: $c $(cat "$tmp/body")"
pass "a user approves a subject-class hold with a user session mandate; the exchange then mints; no second decision"

# A hold bound to the user's own session: nobody in that authority line decides it,
# and a hold anchored to alice is not bob's to decide.
st_at='urn:ietf:params:oauth:token-type:access_token'
c=$(mint pay:send "subject_token=$alice" "subject_token_type=$st_at")
[ "$c" = 401 ] && grep -q interaction_required "$tmp/body" || fail "gated mint with alice's session: $c $(cat "$tmp/body")"
own=$(json "['approval_id']" <"$tmp/body"); ownbind=$(json "['binding']" <"$tmp/body")
c=$(decide "$own" "$alice" "{\"decision\":\"approved\",\"binding\":\"$ownbind\"}")
want 403 access_denied "self-approval"
grep -q "authority line" "$tmp/body" || fail "self-approval message: $(cat "$tmp/body")"
bob=$(user_mandate bob)
c=$(decide "$own" "$bob" "{\"decision\":\"approved\",\"binding\":\"$ownbind\"}")
want 403 access_denied "another user"
grep -q "subject" "$tmp/body" || fail "anchor message: $(cat "$tmp/body")"
alice2=$(user_mandate alice)
c=$(decide "$own" "$alice2" "{\"decision\":\"rejected\",\"binding\":\"$ownbind\"}")
[ "$c" = 200 ] && [ "$(json "['state']" <"$tmp/body")" = rejected ] || fail "alice's other session: $c $(cat "$tmp/body")"
pass "no approval from the requester's own authority line (403), nor from another subject (403); the subject's other session decides"

# A cold key cache under concurrent exchanges costs the issuer one fetch (single-flight).
zsf=$("${ctl[@]}" zone create fed-sf | json "['id']") || fail "zone sf"
"${ctl[@]}" app create --zone fed-sf portal-sf >"$tmp/asf.json" || fail "app sf"
asf=$(json "['id']" <"$tmp/asf.json"); ssf=$(json "['client_secret']" <"$tmp/asf.json")
"${ctl[@]}" issuer create --zone fed-sf --issuer "$issuer" --jwks-url "$jwks_url" \
	--audience "$audience" >/dev/null || fail "issuer sf"
before=$(cat "$tmp/idp/fetches")
curls=""
for i in 1 2 3 4; do
	curl -s -o "$tmp/sf.$i" -w '%{http_code}\n' -X POST \
		-H 'Content-Type: application/x-www-form-urlencoded' --data-binary \
		"grant_type=$grant&zone_id=$zsf&application_id=$asf&client_secret=$ssf&subject_token=$good&subject_token_type=$idt" \
		"$url" >"$tmp/sf.code.$i" &
	curls="$curls $!"
done
for c in $curls; do wait "$c"; done
for i in 1 2 3 4; do [ "$(cat "$tmp/sf.code.$i")" = 200 ] || fail "concurrent federation $i: $(cat "$tmp/sf.$i")"; done
after=$(cat "$tmp/idp/fetches")
[ $((after - before)) = 1 ] || fail "concurrent exchanges fetched the keys $((after - before)) times"
pass "concurrent federations with a cold cache: one JWKS fetch"

# The issuer's keys are unreachable: refused, not trusted blindly.
kill -9 "$idp"; wait "$idp" 2>/dev/null
zone2=$("${ctl[@]}" zone create fed2 | json "['id']") || fail "zone 2"
"${ctl[@]}" app create --zone fed2 portal2 >"$tmp/app2.json" || fail "app 2"
app2=$(json "['id']" <"$tmp/app2.json"); secret2=$(json "['client_secret']" <"$tmp/app2.json")
"${ctl[@]}" issuer create --zone fed2 --issuer "$issuer" --jwks-url "$jwks_url" \
	--audience "$audience" >/dev/null || fail "issuer 2"
c=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
	-H 'Content-Type: application/x-www-form-urlencoded' --data-binary \
	"grant_type=$grant&zone_id=$zone2&application_id=$app2&client_secret=$secret2&subject_token=$good&subject_token_type=$idt" "$url")
[ "$c" = 401 ] && grep -q 'issuer keys unavailable' "$tmp/body" || fail "unreachable JWKS: $c $(cat "$tmp/body")"
pass "an issuer whose JWKS cannot be fetched: 401"

# --- audit ----------------------------------------------------------------------------------
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
[ "$rc" = 0 ] || fail "caracald exited $rc"
"$builddir/caracalctl" -c "$tmp/caracal.yaml" audit verify >/dev/null || fail "audit chain broken"
ledger="$tmp/var/audit/$zone.jsonl"
grep -q 'subject_federation_rejected' "$ledger" || fail "rejections not audited"
grep -q 'subject_federation_invalid' "$ledger" || fail "invalid requests not audited"
grep -q 'caracal-subject-federation' "$ledger" || fail "federated issuance not audited"
grep -q '"event_type":"step_up_decided"' "$ledger" || fail "user decisions not audited"
grep -q '"approver_plane":"subject"' "$ledger" || fail "the approver plane is not audited"
grep -q 'federated_user_issuer' "$ledger" || fail "issuer not in the audit"
! grep -qF "$good" "$ledger" || fail "an id_token reached the audit ledger"
! grep -qF "$mandate" "$ledger" || fail "a mandate reached the audit ledger"
pass "federated issuance and every refusal are in the zone's chain; no token in it"
echo "all federation integration checks passed"
