#!/usr/bin/env bash
# Integration test: caracald on real sockets. Starts it on free ports (port 0,
# read back from its log), reads /health, /ready and /metrics on every role,
# sends malformed HTTP, reloads with a broken config (rejected, still
# serving) and a good one, stops it with SIGTERM (exit 0), then verifies the
# audit chain it wrote with caracalctl and detects a tampered record.
set -u
builddir=${CARACAL_BUILDDIR:?run through make check}
srcdir=${CARACAL_SRCDIR:?run through make check}
command -v curl >/dev/null || { echo "curl is needed (apt-get install curl)"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caracal-it.XXXXXX")
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
	cat "$tmp/log" 2>/dev/null | tail -40
	exit 1
}
pass() { echo "ok - $*"; }

# A private plugin dir: the loader refuses group/world-writable locations.
mkdir -m 755 "$tmp/plugins"
cp "$builddir/plugins/audit_file/.libs/audit_file.so" "$tmp/plugins/" || fail "audit_file.so not built"
chmod 755 "$tmp/plugins/audit_file.so"
cp "$builddir/plugins/stream_local/.libs/stream_local.so" "$tmp/plugins/" || fail "stream_local.so not built"
chmod 755 "$tmp/plugins/stream_local.so"

write_config() {
	cat >"$tmp/caracal.yaml" <<YAML
mode: development
data_dir: $tmp/var
plugin_dir: $tmp/plugins
log:
  level: info
threads:
  loops: 2
  workers: 2
sts:
  listen: 127.0.0.1:0
gateway:
  listen: 127.0.0.1:0
coordinator:
  listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  token_file: admin.token
http:
  read_timeout: 2s
audit:
  sinks: [audit]
plugins:
  audit:
    plugin: audit_file
    path: audit
    hmac_key_file: audit.key
$1
YAML
}

caracald=("$builddir/caracald")
caracalctl=("$builddir/caracalctl")

# --- caracald --version and -t -----------------------------------------------
abi=$(sed -n 's/^#define CARACAL_ABI_MAJOR \([0-9]*\)$/\1/p' "$CARACAL_SRCDIR/include/caracal/plugin.h").$(
	sed -n 's/^#define CARACAL_ABI_MINOR \([0-9]*\)$/\1/p' "$CARACAL_SRCDIR/include/caracal/plugin.h")
"${caracald[@]}" --version | grep -q "plugin ABI $abi\$" || fail "--version lacks the ABI version ($abi)"
pass "--version names the plugin ABI"

write_config ""
"${caracald[@]}" -t -c "$tmp/caracal.yaml" >/dev/null 2>"$tmp/t.err" || { cat "$tmp/t.err"; fail "-t rejected a good config"; }
pass "-t accepts the good config"

write_config "    bogus_key: 1"
if "${caracald[@]}" -t -c "$tmp/caracal.yaml" 2>"$tmp/t.err" >/dev/null; then fail "-t accepted an unknown plugin key"; fi
grep -q "caracal.yaml:[0-9]*.*bogus_key" "$tmp/t.err" || { cat "$tmp/t.err"; fail "-t error does not name file:line and key"; }
pass "-t rejects an unknown key naming file:line and key"

write_config ""
if "${caracald[@]}" -t -c "$tmp/caracal.yaml" --set threads.loops=many 2>"$tmp/t.err" >/dev/null; then fail "-t accepted a bad --set"; fi
grep -q "threads.loops" "$tmp/t.err" || { cat "$tmp/t.err"; fail "bad --set not named"; }
pass "-t rejects a badly typed --set value"

# --- run ------------------------------------------------------------------------
"${caracald[@]}" -c "$tmp/caracal.yaml" 2>"$tmp/log" &
pid=$!
port_of() {
	sed -n "s/.*\"$1 listening on [^\"]*(port \([0-9]*\),.*/\1/p" "$tmp/log" | head -1
}
for _ in $(seq 1 100); do
	[ -n "$(port_of admin)" ] && break
	kill -0 "$pid" 2>/dev/null || fail "caracald exited at start"
	sleep 0.1
done
sts=$(port_of sts); gw=$(port_of gateway); co=$(port_of coordinator); adm=$(port_of admin)
[ -n "$sts" ] && [ -n "$gw" ] && [ -n "$co" ] && [ -n "$adm" ] || fail "listeners not announced"
pass "four role listeners up (sts $sts, gateway $gw, coordinator $co, admin $adm)"

for port in $sts $gw $co $adm; do
	body=$(curl -sf "http://127.0.0.1:$port/health") || fail "/health on $port"
	[ "$body" = '{"status":"ok"}' ] || fail "/health body: $body"
	body=$(curl -sf "http://127.0.0.1:$port/ready") || fail "/ready on $port"
	echo "$body" | grep -q '"status":"ready"' || fail "/ready body: $body"
done
pass "/health and /ready on every role"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$sts/nope")
[ "$code" = 404 ] || fail "unknown route gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$sts/health")
[ "$code" = 405 ] || fail "wrong method gave $code"
pass "404 for unknown routes, 405 for wrong methods"

metrics=$(curl -sf "http://127.0.0.1:$sts/metrics") || fail "/metrics"
echo "$metrics" | grep -q 'caracal_http_requests_total{role="sts",route="/health",status="200"} 1' ||
	{ echo "$metrics" | head -20; fail "/metrics lacks the /health count"; }
echo "$metrics" | grep -q 'caracal_http_request_duration_seconds_bucket{role="sts",route="/health",le="+Inf"} 1' ||
	fail "/metrics lacks the latency histogram"
echo "$metrics" | grep -q '^caracal_plugin_errors_total 0' || fail "/metrics lacks plugin errors"
pass "/metrics counts requests by route and status, with histograms"

# Malformed HTTP: a 4xx and the connection closed.
raw() { # port, request bytes -> response
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf "$2" >&3
	timeout 5 cat <&3
	exec 3<&-
}
resp=$(raw "$sts" 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n')
echo "$resp" | head -1 | grep -q "^HTTP/1.1 400" || fail "malformed header: $(echo "$resp" | head -1)"
resp=$(raw "$sts" 'GET /health HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n')
echo "$resp" | head -1 | grep -q "^HTTP/1.1 400" || fail "CL+TE: $(echo "$resp" | head -1)"
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
resp=$(raw "$sts" "GET /health HTTP/1.1\r\nX-Big: $big\r\n\r\n")
echo "$resp" | head -1 | grep -q "^HTTP/1.1 431" || fail "huge header: $(echo "$resp" | head -1)"
curl -sf "http://127.0.0.1:$sts/metrics" | grep -q 'route="(protocol error)",status="431"} 1' ||
	fail "protocol errors are not counted in /metrics"
pass "malformed and oversized requests get 400/431 and a closed connection, and are counted"
kill -0 "$pid" || fail "caracald died on malformed input"

# --- reload -----------------------------------------------------------------------
write_config "    fsync: sometimes"
kill -HUP "$pid"
for _ in $(seq 1 50); do grep -q "reload rejected" "$tmp/log" && break; sleep 0.1; done
grep -q "reload rejected" "$tmp/log" || fail "broken reload was not rejected"
curl -sf "http://127.0.0.1:$sts/health" >/dev/null || fail "not serving after a rejected reload"
curl -sf "http://127.0.0.1:$sts/ready" | grep -q '"ready"' || fail "not ready after a rejected reload"
pass "a broken config is rejected on SIGHUP and the old one keeps serving"

write_config "    fsync: batch"
kill -HUP "$pid"
for _ in $(seq 1 50); do grep -q '"reloaded (generation' "$tmp/log" && break; sleep 0.1; done
grep -q '"reloaded (generation' "$tmp/log" || fail "good reload not applied"
curl -sf "http://127.0.0.1:$adm/ready" | grep -q '"ready"' || fail "not ready after reload"
pass "a good config is applied on SIGHUP"

# --- stop -----------------------------------------------------------------------------
kill -TERM "$pid"
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "caracald did not stop on SIGTERM"
wait "$pid"; rc=$?; pid=""
[ "$rc" = 0 ] || fail "caracald exited $rc on SIGTERM"
grep -q '"stopped"' "$tmp/log" || fail "no clean stop logged"
pass "SIGTERM drains and exits 0"

# --- audit evidence -----------------------------------------------------------------
out=$("${caracalctl[@]}" -c "$tmp/caracal.yaml" --json audit verify) || fail "audit verify failed: $out"
echo "$out" | grep -q '"intact":true' || fail "audit verify output: $out"
ledger=$(ls "$tmp"/var/audit/*.jsonl | head -1)
for ev in daemon.start config.reload_rejected config.reload daemon.stop; do
	grep -q "\"event_type\":\"$ev\"" "$ledger" || fail "ledger lacks $ev"
done
pass "every lifecycle event is in the chain and the chain verifies"

sed -i '2s/daemon/DAEMON/; 2s/config/CONFIG/' "$ledger"
if "${caracalctl[@]}" -c "$tmp/caracal.yaml" audit verify 2>"$tmp/v.err"; then fail "tampering not detected"; fi
grep -q "record" "$tmp/v.err" || fail "verify does not name the bad record: $(cat "$tmp/v.err")"
pass "caracalctl audit verify names a tampered record and exits 1"
mv "$tmp/var/audit.key" "$tmp/audit.key.moved"
if "${caracalctl[@]}" -c "$tmp/caracal.yaml" audit verify 2>"$tmp/v.err"; then fail "verify without its key passed"; fi
[ ! -e "$tmp/var/audit.key" ] || fail "audit verify generated a missing key"
pass "audit verify changes nothing: a missing key is an error, not regenerated"
echo "all integration checks passed"
