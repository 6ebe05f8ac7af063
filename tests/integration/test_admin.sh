#!/usr/bin/env bash
# Integration test of the admin API and caracalctl's admin commands, on real
# sockets with the real plugins.
#
# Part 1 (always): caracald with no storage plugin: the admin API answers
# 401 without or with a wrong token, 413 for a body over 64 KiB, and 503
# (fail closed) with the right token, since its storage is missing.
# Part 2 (needs storage_sqlite, signer_file and policy_rules built; exit 77
# otherwise): every caracalctl admin command, with --json and without, and
# the audit events they leave.
#
# The plugin blocks are in plugin_blocks() below: adjust them there when a
# plugin's configuration keys change.
set -u
builddir=${CARACAL_BUILDDIR:?run through make check}
srcdir=${CARACAL_SRCDIR:?run through make check}
command -v curl >/dev/null || { echo "curl is needed (apt-get install curl)"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caracal-admin.XXXXXX")
chmod 700 "$tmp"
pid=""
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	echo "--- caracald log:"
	tail -40 "$tmp/log" 2>/dev/null
	exit 1
}
pass() { echo "ok - $*"; }

mkdir -m 755 "$tmp/plugins"
install_plugin() { # name -> 0 when copied
	local so="$builddir/plugins/$1/.libs/$1.so"
	[ -f "$so" ] || return 1
	cp "$so" "$tmp/plugins/" && chmod 755 "$tmp/plugins/$1.so"
}
install_plugin audit_file || fail "audit_file.so not built"

plugin_blocks() {
	cat <<YAML
  db:
    plugin: storage_sqlite
    path: caracal.db
  keys:
    plugin: signer_file
    keystore: keys
    kek_file: signer.kek
    algorithm: ES256
  rules:
    plugin: policy_rules
YAML
}

write_config() { # $1: "full" to name the storage, signer and policy instances
	{
		cat <<YAML
mode: development
data_dir: $tmp/var
plugin_dir: $tmp/plugins
log:
  level: info
threads:
  loops: 2
  workers: 2
admin:
  listen: 127.0.0.1:0
  token_file: admin.token
http:
  read_timeout: 5s
audit:
  sinks: [audit]
YAML
		if [ "$1" = full ]; then
			printf 'storage: db\nsigner: keys\npolicy: rules\n'
		fi
		cat <<YAML
plugins:
  audit:
    plugin: audit_file
    path: audit
    hmac_key_file: audit.key
YAML
		if [ "$1" = full ]; then plugin_blocks; fi
	} >"$tmp/caracal.yaml"
}

start_daemon() { # [caracald args...]
	: >"$tmp/log"
	"$builddir/caracald" -c "$tmp/caracal.yaml" "$@" 2>"$tmp/log" &
	pid=$!
	adm=""
	for _ in $(seq 1 100); do
		adm=$(sed -n 's/.*"admin listening on [^"]*(port \([0-9]*\),.*/\1/p' "$tmp/log" | head -1)
		[ -n "$adm" ] && break
		kill -0 "$pid" 2>/dev/null || fail "caracald exited at start"
		sleep 0.1
	done
	[ -n "$adm" ] || fail "admin listener not announced"
	base="http://127.0.0.1:$adm"
}

stop_daemon() {
	kill -TERM "$pid"
	for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	wait "$pid"; local rc=$?; pid=""
	[ "$rc" = 0 ] || fail "caracald exited $rc on SIGTERM"
}

# code METHOD PATH [curl args...] -> HTTP status; body in $tmp/body
code() {
	local m=$1 p=$2; shift 2
	curl -s -o "$tmp/body" -w '%{http_code}' -X "$m" "$@" "$base$p"
}

# --- part 1: no storage ---------------------------------------------------------
write_config bare
start_daemon
token=$(cat "$tmp/var/admin.token") || fail "no admin token generated"
auth=(-H "Authorization: Bearer $token")

c=$(code GET /admin/zones)
[ "$c" = 401 ] || fail "no token gave $c"
grep -q '"error":"unauthorized"' "$tmp/body" || fail "401 body: $(cat "$tmp/body")"
c=$(code GET /admin/zones -H "Authorization: Bearer wrong-$token")
[ "$c" = 401 ] || fail "wrong token gave $c"
c=$(code GET /admin/zones -H "Authorization: Basic $token")
[ "$c" = 401 ] || fail "Basic scheme gave $c"
c=$(code GET /admin/zones "${auth[@]}" "${auth[@]}")
[ "$c" = 401 ] || fail "two Authorization fields gave $c"
pass "401 without, with a wrong, a non-Bearer or a doubled token"

head -c 70000 /dev/zero | tr '\0' 'a' >"$tmp/big"
c=$(code POST /admin/zones "${auth[@]}" -H 'Content-Type: application/json' --data-binary @"$tmp/big")
[ "$c" = 413 ] || fail "70 KB body gave $c"
pass "413 for a body over 64 KiB"

c=$(code GET /admin/zones "${auth[@]}")
[ "$c" = 503 ] || fail "no storage gave $c: $(cat "$tmp/body")"
grep -q 'storage' "$tmp/body" || fail "503 body does not name storage: $(cat "$tmp/body")"
pass "503 (fail closed) when the storage plugin is missing"

ctl=("$builddir/caracalctl" -c "$tmp/caracal.yaml" --set "admin.listen=127.0.0.1:$adm")
if "${ctl[@]}" --json zone list >"$tmp/out" 2>"$tmp/err"; then fail "zone list succeeded without storage"; fi
grep -q '"error":"temporarily_unavailable"' "$tmp/err" || fail "ctl --json error: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "ctl printed on stdout on error"
if "${ctl[@]}" zone list 2>"$tmp/err"; then fail "zone list succeeded"; fi
grep -q "HTTP 503" "$tmp/err" || fail "ctl human error: $(cat "$tmp/err")"
"$builddir/caracalctl" -c "$tmp/caracal.yaml" zone list 2>"$tmp/err" && fail "port 0 accepted"
grep -q "port 0" "$tmp/err" || fail "port 0 not explained: $(cat "$tmp/err")"
pass "caracalctl reports API errors on stderr with exit 1 (JSON with --json)"
stop_daemon

# --- part 2: the real plugins --------------------------------------------------------
missing=""
for p in storage_sqlite signer_file policy_rules; do
	install_plugin "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "SKIP: plugins not built:$missing"
	exit 77
fi
policy="$srcdir/conf/policies/allow-granted.yaml"
[ -f "$policy" ] || fail "$policy is missing (it ships with policy_rules)"

rm -rf "$tmp/var"
write_config full
start_daemon
token=$(cat "$tmp/var/admin.token") || fail "no admin token generated"
auth=(-H "Authorization: Bearer $token")
ctl=("$builddir/caracalctl" -c "$tmp/caracal.yaml" --set "admin.listen=127.0.0.1:$adm")
j() { "${ctl[@]}" --json "$@" 2>"$tmp/err"; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

# Zones.
out=$(j zone create prod) || fail "zone create: $(cat "$tmp/err")"
zone=$(echo "$out" | field id)
[ -n "$zone" ] || fail "zone create printed $out"
echo "$out" | grep -q '"name":"prod"' || fail "zone create printed $out"
if j zone create prod >/dev/null; then fail "duplicate zone accepted"; fi
grep -q '"error":"conflict"' "$tmp/err" || fail "duplicate zone: $(cat "$tmp/err")"
c=$(code POST /admin/zones "${auth[@]}" -H 'Content-Type: application/json' -d '{"name":"prod"}')
[ "$c" = 409 ] || fail "duplicate zone gave $c"
out=$("${ctl[@]}" zone create staging) || fail "zone create (human)"
echo "$out" | grep -q "^zone staging created (id " || fail "human zone create: $out"
out=$(j zone list) || fail "zone list"
echo "$out" | grep -q '"name":"prod"' && echo "$out" | grep -q '"name":"staging"' ||
	fail "zone list: $out"
pass "zone create (201, 409 on a duplicate) and zone list"

# Strict bodies.
c=$(code POST /admin/zones "${auth[@]}" -H 'Content-Type: text/plain' -d '{"name":"x"}')
[ "$c" = 415 ] || fail "text/plain body gave $c"
c=$(code POST /admin/zones "${auth[@]}" -H 'Content-Type: application/json' -d '{"name":"x","y":1}')
[ "$c" = 400 ] || fail "unknown member gave $c"
grep -q "unknown member 'y'" "$tmp/body" || fail "unknown member body: $(cat "$tmp/body")"
c=$(code POST /admin/zones "${auth[@]}" -H 'Content-Type: application/json' -d '{"name":5}')
[ "$c" = 400 ] || fail "wrong type gave $c"
c=$(code GET /admin/zones/nope/applications "${auth[@]}")
[ "$c" = 404 ] || fail "unknown zone gave $c"
c=$(code DELETE /admin/zones "${auth[@]}")
[ "$c" = 405 ] || fail "DELETE gave $c"
pass "415, 400 (unknown member, wrong type), 404 (unknown zone), 405"

# Applications: the secret is shown once and stored only as a hash.
out=$(j app create --zone prod agent-1 --trait beta) || fail "app create: $(cat "$tmp/err")"
app=$(echo "$out" | field id)
secret=$(echo "$out" | field client_secret)
[ -n "$app" ] && [ -n "$secret" ] || fail "app create printed $out"
case "$secret" in cs_*) ;; *) fail "client_secret format: $secret" ;; esac
out=$(j app list --zone "$zone") || fail "app list (by zone id)"
echo "$out" | grep -q "\"id\":\"$app\"" || fail "app list: $out"
echo "$out" | grep -q -e "$secret" -e argon2 -e client_secret && fail "app list leaks a secret: $out"
pass "app create returns the secret once; app list never shows it or its hash"

# Resources.
out=$(j resource create --zone prod --identifier resource://files --upstream http://127.0.0.1:9/v1 \
	--scopes "read write" --credential-secret-file files.token) || fail "resource create: $(cat "$tmp/err")"
res=$(echo "$out" | field id)
echo "$out" | grep -q '"identifier":"resource://files"' || fail "resource create printed $out"
if j resource create --zone prod --identifier resource://evil --upstream https://u:p@x/ --scopes r >/dev/null; then
	fail "userinfo in upstream accepted"
fi
grep -q userinfo "$tmp/err" || fail "userinfo error: $(cat "$tmp/err")"
if j resource create --zone prod --identifier resource://files --scopes r >/dev/null; then
	fail "duplicate identifier accepted"
fi
out=$(j resource list --zone prod) || fail "resource list"
echo "$out" | grep -q '"secret_file":"files.token"' || fail "resource list: $out"
pass "resource create (URL rules, duplicate refused) and resource list"

# Grants.
out=$(j grant create --zone prod --app "$app" --resource resource://files --scopes read) ||
	fail "grant create: $(cat "$tmp/err")"
grant=$(echo "$out" | field id)
[ -n "$grant" ] || fail "grant create printed $out"
if j grant create --zone prod --app "$app" --resource "$res" --scopes "read admin" >/dev/null; then
	fail "a scope outside the resource was granted"
fi
grep -q invalid_scope "$tmp/err" || fail "scope error: $(cat "$tmp/err")"
if j grant create --zone prod --app no-such-app --resource "$res" --scopes read >/dev/null; then
	fail "grant to an unknown application"
fi
grep -q not_found "$tmp/err" || fail "unknown app error: $(cat "$tmp/err")"
out=$(j grant list --zone prod) || fail "grant list"
echo "$out" | grep -q "\"id\":\"$grant\"" || fail "grant list: $out"
pass "grant create (scopes within the resource's, known application) and grant list"

# Policies.
"${ctl[@]}" policy validate "$policy" >"$tmp/out" 2>"$tmp/err" || fail "policy validate: $(cat "$tmp/err")"
printf 'rules: [\n  - {allow\n' >"$tmp/bad.yaml"
if "${ctl[@]}" policy validate "$tmp/bad.yaml" 2>"$tmp/err"; then fail "a broken policy validated"; fi
grep -q "line\|:[0-9]" "$tmp/err" || fail "validate error lacks a line: $(cat "$tmp/err")"
if j policy apply --zone prod "$tmp/bad.yaml" >/dev/null; then fail "a broken policy was applied"; fi
grep -q invalid_policy "$tmp/err" || fail "apply error: $(cat "$tmp/err")"
out=$(j policy apply --zone prod "$policy") || fail "policy apply: $(cat "$tmp/err")"
echo "$out" | grep -q '"version":1' || fail "policy apply printed $out"
out=$(j policy apply --zone prod "$policy") || fail "policy apply again"
echo "$out" | grep -q '"version":2' || fail "second apply printed $out"
c=$(code GET "/admin/zones/prod/policies" "${auth[@]}")
[ "$c" = 200 ] && grep -q '"version":2' "$tmp/body" || fail "active policy: $c $(cat "$tmp/body")"
pass "policy validate (line numbers), policy apply (versions 1, 2; broken one refused)"

# Keys.
kid1=$(j key rotate --zone prod | field kid) || fail "key rotate: $(cat "$tmp/err")"
kid2=$(j key rotate --zone prod | field kid) || fail "key rotate again"
[ -n "$kid1" ] && [ -n "$kid2" ] && [ "$kid1" != "$kid2" ] || fail "kids: '$kid1' '$kid2'"
pass "key rotate gives a new kid each time"

# Approvals and revocations (no holds or sessions exist yet: empty and 404).
out=$(j approval list --zone prod) || fail "approval list: $(cat "$tmp/err")"
[ "$out" = '{"approvals":[]}' ] || fail "approval list printed $out"
out=$("${ctl[@]}" approval list --zone prod) || fail "approval list (human)"
[ "$out" = "no pending approvals" ] || fail "human approval list: $out"
if j approval decide 0190f0f0-0000-7000-8000-000000000000 --zone prod --approve >/dev/null; then
	fail "deciding an unknown approval succeeded"
fi
grep -q not_found "$tmp/err" || fail "unknown approval: $(cat "$tmp/err")"
for kind in --session --authority-record --delegation; do
	if j revoke --zone prod $kind 0190f0f0-0000-7000-8000-000000000000 >/dev/null; then
		fail "revoking an unknown target ($kind) succeeded"
	fi
	grep -q not_found "$tmp/err" || fail "revoke $kind: $(cat "$tmp/err")"
done
pass "approval list/decide and revoke reach storage (empty list, 404 for unknown ids)"

# Federated identity issuers.
iss=https://idp.example/tenant-1
jwks=https://idp.example/tenant-1/keys
out=$(j issuer create --zone prod --issuer "$iss" --jwks-url "$jwks" --audience caracal-prod) ||
	fail "issuer create: $(cat "$tmp/err")"
issuer_id=$(echo "$out" | field id)
[ -n "$issuer_id" ] || fail "issuer create printed $out"
echo "$out" | grep -qF "\"issuer\":\"$iss\"" && echo "$out" | grep -qF "\"jwks_url\":\"$jwks\"" ||
	fail "issuer create printed $out"
echo "$out" | grep -q '"audience":"caracal-prod"' || fail "issuer create printed $out"
if j issuer create --zone prod --issuer "$iss" --jwks-url "$jwks" --audience other >/dev/null; then
	fail "a duplicate issuer was registered"
fi
grep -q '"error":"conflict"' "$tmp/err" || fail "duplicate issuer: $(cat "$tmp/err")"
issuer_body() { printf '{"issuer":"%s","jwks_url":"%s","audience":"%s"%s}' "$1" "$2" "$3" "${4:-}"; }
c=$(code POST /admin/zones/prod/issuers "${auth[@]}" -H 'Content-Type: application/json' \
	-d "$(issuer_body "$iss" "$jwks" caracal-prod)")
[ "$c" = 409 ] || fail "duplicate issuer gave $c"
c=$(code POST /admin/zones/staging/issuers "${auth[@]}" -H 'Content-Type: application/json' \
	-d "$(issuer_body "$iss" "$jwks" caracal-staging)")
[ "$c" = 201 ] || fail "the same issuer in another zone gave $c: $(cat "$tmp/body")"
grep -q '"id":"' "$tmp/body" && grep -q '"audience":"caracal-staging"' "$tmp/body" ||
	fail "issuer 201 body: $(cat "$tmp/body")"
c=$(code POST /admin/zones/prod/issuers "${auth[@]}" -H 'Content-Type: application/json' \
	-d "$(issuer_body https://idp2.example http://idp2.example/keys a)")
[ "$c" = 400 ] || fail "http:// jwks_url gave $c"
grep -q '"error":"invalid_request"' "$tmp/body" && grep -q 'plain HTTP' "$tmp/body" ||
	fail "http:// jwks_url body: $(cat "$tmp/body")"
if j issuer create --zone prod --issuer https://idp2.example --jwks-url http://idp2.example/keys \
	--audience a >/dev/null; then fail "caracalctl registered an http:// jwks_url"; fi
grep -q 'plain HTTP' "$tmp/err" || fail "ctl http:// jwks_url: $(cat "$tmp/err")"
c=$(code POST /admin/zones/prod/issuers "${auth[@]}" -H 'Content-Type: application/json' \
	-d "$(issuer_body https://idp2.example https://idp2.example/keys a ',"kid":"k1"')")
[ "$c" = 400 ] || fail "unknown issuer member gave $c"
grep -q "unknown member 'kid'" "$tmp/body" || fail "unknown member body: $(cat "$tmp/body")"
c=$(code POST /admin/zones/prod/issuers "${auth[@]}" -H 'Content-Type: application/json' \
	-d "$(issuer_body 'https://idp2.example/#x' https://idp2.example/keys a)")
[ "$c" = 400 ] || fail "issuer with a fragment gave $c"
c=$(code POST /admin/zones/nope/issuers "${auth[@]}" -H 'Content-Type: application/json' \
	-d "$(issuer_body https://idp2.example https://idp2.example/keys a)")
[ "$c" = 404 ] || fail "issuer in an unknown zone gave $c"
if j issuer create --zone nope --issuer https://idp2.example --jwks-url https://idp2.example/keys \
	--audience a >/dev/null; then fail "caracalctl registered an issuer in an unknown zone"; fi
grep -q '"error":"not_found"' "$tmp/err" || fail "ctl unknown zone: $(cat "$tmp/err")"
c=$(code DELETE /admin/zones/prod/issuers "${auth[@]}")
[ "$c" = 405 ] || fail "DELETE issuers gave $c"
# development mode: an http:// issuer is accepted (its keys still come over https).
out=$(j issuer create --zone prod --issuer http://127.0.0.1:9/idp --jwks-url https://127.0.0.1:9/keys \
	--audience dev) || fail "http:// issuer in development: $(cat "$tmp/err")"
pass "issuer create (201 and its fields, 409 duplicate, 400 http:// keys/unknown member/fragment, 404 zone, 405)"

out=$(j issuer show --zone prod --issuer "$iss") || fail "issuer show: $(cat "$tmp/err")"
echo "$out" | grep -q "\"id\":\"$issuer_id\"" && echo "$out" | grep -q '"audience":"caracal-prod"' ||
	fail "issuer show printed $out"
out=$("${ctl[@]}" issuer show --zone "$zone" --issuer "$iss") || fail "issuer show (human)"
echo "$out" | grep -q "^id: $issuer_id\$" && echo "$out" | grep -q "^audience: caracal-prod\$" ||
	fail "human issuer show: $out"
c=$(code GET "/admin/zones/prod/issuers" "${auth[@]}" -G --data-urlencode "issuer=$iss")
[ "$c" = 200 ] && grep -q "\"id\":\"$issuer_id\"" "$tmp/body" || fail "GET issuer: $c $(cat "$tmp/body")"
if j issuer show --zone prod --issuer https://unknown.example >/dev/null; then
	fail "an unknown issuer was shown"
fi
grep -q '"error":"not_found"' "$tmp/err" || fail "unknown issuer: $(cat "$tmp/err")"
c=$(code GET "/admin/zones/prod/issuers?issuer=https%3A%2F%2Funknown.example" "${auth[@]}")
[ "$c" = 404 ] || fail "GET unknown issuer gave $c"
c=$(code GET "/admin/zones/prod/issuers" "${auth[@]}")
[ "$c" = 400 ] && grep -q "'issuer' query parameter is required" "$tmp/body" ||
	fail "GET issuers without issuer= gave $c $(cat "$tmp/body")"
c=$(code GET "/admin/zones/prod/issuers?issuer=a&x=1" "${auth[@]}")
[ "$c" = 400 ] || fail "GET issuers with another parameter gave $c"
c=$(code GET "/admin/zones/nope/issuers?issuer=https%3A%2F%2Fidp.example" "${auth[@]}")
[ "$c" = 404 ] || fail "GET issuer in an unknown zone gave $c"
pass "issuer show (200, 404 unknown issuer or zone, 400 without exactly one issuer=)"

# production mode: an http:// issuer is refused.
stop_daemon
start_daemon --set mode=production
ctl=("$builddir/caracalctl" -c "$tmp/caracal.yaml" --set "admin.listen=127.0.0.1:$adm")
if j issuer create --zone prod --issuer http://127.0.0.1:9/other --jwks-url https://127.0.0.1:9/keys \
	--audience a >/dev/null; then fail "an http:// issuer was registered in production"; fi
grep -q 'development mode' "$tmp/err" || fail "production http:// issuer: $(cat "$tmp/err")"
out=$(j issuer show --zone prod --issuer http://127.0.0.1:9/idp) ||
	fail "the development http:// issuer cannot be read in production: $(cat "$tmp/err")"
pass "production refuses http:// issuers (and still reads the one registered in development)"

# Audit: every action is evidence; no secret in the ledger or the log.
stop_daemon
ledger=$(ls "$tmp"/var/audit/*.jsonl) || fail "no ledger"
for ev in admin.zone.create admin.zone.list admin.application.create admin.application.list \
	admin.resource.create admin.grant.create admin.policy.validate admin.policy.apply \
	admin.key.rotate admin.approval.list admin.approval.decide admin.revocation.create \
	admin.issuer.create admin.issuer.get; do
	grep -q "\"event_type\":\"$ev\"" $ledger || fail "ledger lacks $ev"
done
grep -q '"outcome":"requested"' $ledger && grep -q '"outcome":"completed"' $ledger &&
	grep -q '"outcome":"failed"' $ledger || fail "ledger lacks requested/completed/failed outcomes"
grep -q -- "$secret" $ledger "$tmp/log" && fail "the client secret reached the ledger or the log"
grep -q -- "$token" $ledger "$tmp/log" && fail "the admin token reached the ledger or the log"
"${ctl[@]}" audit verify >/dev/null 2>"$tmp/err" || fail "audit verify: $(cat "$tmp/err")"
grep "\"event_type\":\"admin.issuer.create\"" $ledger | grep '"outcome":"requested"' |
	grep -q "\"issuer_id\":\"$issuer_id\"" || fail "the issuer registration lacks its requested event"
grep "\"event_type\":\"admin.issuer.create\"" $ledger | grep '"outcome":"completed"' |
	grep -q "\"issuer_id\":\"$issuer_id\"" || fail "the issuer registration lacks its completed event"
grep "\"event_type\":\"admin.issuer.create\"" $ledger | grep -q '"status":409' ||
	fail "the refused duplicate issuer is not in the ledger"
pass "every admin action is audited (requested/completed/failed); no secret leaked; chain intact"
echo "all admin integration checks passed"
