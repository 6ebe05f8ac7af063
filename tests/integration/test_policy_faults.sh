#!/usr/bin/env bash
# Integration test of the STS's fail-closed handling of a broken policy
# engine (policy.h: "any error return is treated by the core as a deny").
# The policy instance is tests/plugins/policy_faulty.so, whose `mode` picks
# what evaluate() answers; for each mode caracald starts afresh, a zone, an
# application, a resource and a grant are made with caracalctl, a policy is
# applied, and one token exchange is posted:
#   error, bad_obligations, bad_determining, determining_not_array
#       -> 503 policy_eval_failed, no token and no authority record; the
#          zone's chain holds a token_exchange deny with evaluation_status
#          policy_eval_failed
#   allow -> 200; audited determining_policies [{"policy":"faulty"}]
#   noncanonical_determining -> 200; audited determining_policies in
#          canonical form, [{"a":1,"policy":"faulty"}]
# Each run ends with `caracalctl audit verify`.
test_name=policy-faults
. "${CARACAL_SRCDIR:?run through make check}/tests/integration/sts_lib.sh"

so="$builddir/tests/plugins/.libs/policy_faulty.so"
[ -f "$so" ] || { echo "SKIP: tests/plugins/policy_faulty not built"; exit 77; }
cp "$so" "$tmp/plugins/" && chmod 755 "$tmp/plugins/policy_faulty.so"

# sts_lib.sh's start_caracald with the policy instance `rules` (the one
# `policy: rules` selects) on policy_faulty, and a data_dir per mode.
start_faulty() { # mode
	STS_DATA_DIR="$tmp/var-$1"
	STS_POLICY_INSTANCE="{plugin: policy_faulty, mode: $1}"
	mkdir -m 700 "$STS_DATA_DIR"
	start_caracald
}

# Stop caracald (SIGTERM drains, so every audit event is written) and check
# the chain with caracalctl.
stop_and_verify() { # mode
	local rc
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=""
	[ "$rc" = 0 ] || fail "$1: caracald exited $rc"
	"$builddir/caracalctl" -c "$tmp/caracal.yaml" audit verify >"$tmp/verify" 2>&1 ||
		fail "$1: audit verify: $(cat "$tmp/verify")"
}

printf '# policy_faulty ignores its policy text\nrules: []\n' >"$tmp/policy.yaml"
grant='urn:ietf:params:oauth:grant-type:token-exchange'

# Start caracald in the given mode, set up a zone and post one exchange:
# status in $code, body in $tmp/body.
exchange() { # mode
	local mode=$1
	start_faulty "$mode"
	zone=$("${ctl[@]}" zone create acme | json "['id']") || fail "$mode: zone create"
	"${ctl[@]}" app create --zone acme agent-1 >"$tmp/app.json" || fail "$mode: app create"
	local app secret
	app=$(json "['id']" <"$tmp/app.json")
	secret=$(json "['client_secret']" <"$tmp/app.json")
	"${ctl[@]}" resource create --zone acme --identifier resource://orders \
		--upstream http://127.0.0.1:9/orders --scopes "orders:read" >/dev/null ||
		fail "$mode: resource create"
	"${ctl[@]}" grant create --zone acme --app "$app" --resource resource://orders \
		--scopes "orders:read" >/dev/null || fail "$mode: grant create"
	"${ctl[@]}" policy apply --zone acme "$tmp/policy.yaml" >/dev/null ||
		fail "$mode: policy apply"
	code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/x-www-form-urlencoded' \
		--data-binary "grant_type=$grant&zone_id=$zone&application_id=$app&client_secret=$secret&resource=resource://orders&scope=orders:read" \
		"http://127.0.0.1:$sts/oauth/2/token")
	ledger="$STS_DATA_DIR/audit/$zone.jsonl"
}

# Run python assertions (after caracald has stopped) on: events, the zone's
# token_exchange events (the ledger's records wrap each in "event"); records
# and sessions, how many authority records and sessions storage holds.
check_evidence() { # mode python-assertions-on-events-records-sessions
	local mode=$1
	[ -f "$ledger" ] || fail "$mode: no audit ledger for the zone"
	"$py" - "$ledger" "$STS_DATA_DIR/caracal.db" "$2" <<'PY' >"$tmp/check" 2>&1 ||
import json, sqlite3, sys
ledger, db, assertions = sys.argv[1], sys.argv[2], sys.argv[3]
events = [r["event"] for r in (json.loads(line) for line in open(ledger) if line.strip())
          if r["event_type"] == "token_exchange"]
c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
records = c.execute("SELECT count(*) FROM authority_records").fetchone()[0]
sessions = c.execute("SELECT count(*) FROM sessions").fetchone()[0]
exec(assertions)
PY
		fail "$mode: evidence: $(cat "$tmp/check")"
}

# --- a broken engine: 503, no token, a denial in the chain ----------------------------------
for mode in error bad_obligations bad_determining determining_not_array; do
	exchange "$mode"
	[ "$code" = 503 ] || fail "$mode: status $code, want 503: $(cat "$tmp/body")"
	grep -q '"error":"policy_eval_failed"' "$tmp/body" || fail "$mode: body $(cat "$tmp/body")"
	! grep -q access_token "$tmp/body" || fail "$mode: a token in the body: $(cat "$tmp/body")"
	stop_and_verify "$mode"
	check_evidence "$mode" '
failed = [e for e in events if e["decision"] == "deny"
          and e["evaluation_status"] == "policy_eval_failed"]
assert len(failed) == 1, events
assert failed[0]["metadata"]["resource"] == "resource://orders", failed[0]
assert not [e for e in events if e["decision"] != "deny"], events
assert records == 0 and sessions == 0, (records, sessions)
'
	pass "$mode: 503 policy_eval_failed, audited as a policy_eval_failed denial, nothing issued"
done

# --- a working engine: the determining policies reach the evidence, canonical --------------
exchange allow
[ "$code" = 200 ] || fail "allow: status $code, want 200: $(cat "$tmp/body")"
json "['access_token']" <"$tmp/body" >/dev/null || fail "allow: no access_token"
stop_and_verify allow
check_evidence allow '
complete = [e for e in events if e["evaluation_status"] == "complete"]
assert len(complete) == 1 and complete[0]["decision"] == "allow", events
assert complete[0]["determining_policies"] == [{"policy": "faulty"}], complete[0]
assert not [e for e in events if e["decision"] == "deny"], events
assert records >= 1, records
# The decision precedes the mint it allowed, in the chain and in time (the
# decision is written with the mint, by the committer).
statuses = [e["evaluation_status"] for e in events]
assert statuses == ["complete", "issued"], statuses
assert events[0]["request_id"] == events[1]["request_id"], events
assert events[0]["occurred_at_us"] <= events[1]["occurred_at_us"], events
# occurred_at is occurred_at_us in RFC 3339 (UTC, microseconds)
import datetime, re
for e in events:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e["occurred_at"]), e
    t = datetime.datetime.strptime(e["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=datetime.timezone.utc)
    us = (t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(microseconds=1)
    assert us == e["occurred_at_us"], e
'
pass "allow: 200, audited complete with determining_policies [{\"policy\":\"faulty\"}]"

exchange noncanonical_determining
[ "$code" = 200 ] || fail "noncanonical_determining: status $code, want 200: $(cat "$tmp/body")"
stop_and_verify noncanonical_determining
check_evidence noncanonical_determining '
complete = [e for e in events if e["evaluation_status"] == "complete"]
assert len(complete) == 1 and complete[0]["decision"] == "allow", events
assert complete[0]["determining_policies"] == [{"a": 1, "policy": "faulty"}], complete[0]
'
grep -qF '"determining_policies":[{"a":1,"policy":"faulty"}]' "$ledger" ||
	fail "noncanonical_determining: not canonical in the ledger: $(grep -o '"determining_policies":[^]]*]' "$ledger")"
pass "noncanonical_determining: 200, audited as canonical JSON [{\"a\":1,\"policy\":\"faulty\"}]"
echo "all policy fault checks passed"
