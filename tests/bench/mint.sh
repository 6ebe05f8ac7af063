#!/usr/bin/env bash
# Benchmark: warm-client mints on ONE decision worker (and one loop thread),
# against `openssl speed -seconds 3 ecdsap256` sign operations per second in
# the same run (the mean of a run just before the load and one just after).
# Also shows from /metrics that warm clients cost no Argon2id: the
# cold-verification counter does not move during the run.
#
#   tests/bench/mint.sh BUILDDIR [seconds] [connections]
set -eu
builddir=$(cd "${1:?usage: mint.sh BUILDDIR [seconds] [connections]}" && pwd)
secs=${2:-10}
conns=${3:-16}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
command -v wrk >/dev/null || { echo "apt-get install wrk"; exit 1; }
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -m 755 "$tmp/plugins"
for p in audit_file storage_sqlite signer_file policy_rules stream_local; do
	install -m 755 "$builddir/plugins/$p/.libs/$p.so" "$tmp/plugins/"
done
cat >"$tmp/caracal.yaml" <<YAML
mode: development
data_dir: $tmp/var
plugin_dir: $tmp/plugins
log: {level: warn}
threads: {loops: 1, workers: 1}
sts: {listen: "127.0.0.1:18580", mint_rate_limit_per_min: 100000000}
admin: {listen: "127.0.0.1:18590", token_file: admin.token}
audit: {sinks: [audit]}
storage: db
signer: keys
policy: rules
stream: bus
streams: {hmac_key_file: streams.key}
plugins:
  audit: {plugin: audit_file, path: audit, hmac_key_file: audit.key, fsync: batch}
  bus: {plugin: stream_local}
  db: {plugin: storage_sqlite, path: caracal.db, synchronous: normal}
  keys: {plugin: signer_file, keystore: keys, kek_file: signer.kek}
  rules: {plugin: policy_rules}
YAML
"$builddir/caracald" -c "$tmp/caracal.yaml" 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18590/ready >/dev/null 2>&1 && break; sleep 0.1; done
ctl() { "$builddir/caracalctl" -c "$tmp/caracal.yaml" --json "$@"; }
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
zone=$(ctl zone create bench | field id)
ctl app create --zone bench agent >"$tmp/app.json"
app=$(field id <"$tmp/app.json"); secret=$(field client_secret <"$tmp/app.json")
ctl resource create --zone bench --identifier resource://orders --scopes "orders:read" >/dev/null
ctl grant create --zone bench --app "$app" --resource resource://orders --scopes orders:read >/dev/null
ctl policy apply --zone bench "$srcdir/conf/policies/allow-granted.yaml" >/dev/null

body="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&zone_id=$zone&application_id=$app&client_secret=$secret&resource=resource%3A%2F%2Forders&scope=orders%3Aread"
curl -sf -X POST -H 'Content-Type: application/x-www-form-urlencoded' --data "$body" \
	http://127.0.0.1:18580/oauth/2/token >/dev/null # warm the client
cold() { curl -s http://127.0.0.1:18580/metrics |
	sed -n 's/^caracal_plugin_sts_secret_verifications_total{.*label="cold"} \([0-9]*\)/\1/p'; }
cold_before=$(cold)
# LATENCY_REQUESTS=N: time N sequential requests on one connection instead
# of the throughput run (tests/bench/latency.py), and stop there.
if [ -n "${LATENCY_REQUESTS:-}" ]; then
	/usr/bin/python3 "$srcdir/tests/bench/latency.py" 127.0.0.1 18580 "$body" "$LATENCY_REQUESTS"
	exit 0
fi
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "$body"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA
# CPU time of each caracald thread (by name: caracal-work0, caracal-loop0,
# caracal-audit), in clock ticks, from /proc: "name ticks" lines.
thread_cpu() {
	for t in /proc/$pid/task/*; do
		printf '%s %s\n' "$(cat "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"
	done | sort
}
# PIN=1: the decision worker gets CPU 1 to itself; the loop thread, the audit
# writer and wrk share CPU 0. The worker's CPU per mint is then measured
# without the other threads evicting its caches between requests.
wrk_pin=""
if [ "${PIN:-0}" = 1 ]; then
	for t in /proc/$pid/task/*; do
		case "$(cat "$t/comm")" in
		caracal-work0) taskset -pc 1 "${t##*/}" >/dev/null ;;
		*) taskset -pc 0 "${t##*/}" >/dev/null ;;
		esac
	done
	wrk_pin="taskset -c 0"
fi
echo "== openssl speed -seconds 3 ecdsap256 (before)" >&2
openssl speed -seconds 3 ecdsap256 2>/dev/null | tee "$tmp/speed.before" >&2
signs_before=$(awk '/256 bits ecdsa \(nistp256\)/ {print $(NF-1)}' "$tmp/speed.before")
thread_cpu >"$tmp/cpu.before"
[ -n "${STRACE_OUT:-}" ] && { timeout 5 strace -f -c -o "$STRACE_OUT" -p $pid & }
[ -n "${PERF_OUT:-}" ] && { perf record -F 999 ${PERF_CG:--g} -p $pid -o "$PERF_OUT" -- sleep $((secs - 1)) >/dev/null 2>&1 & }
echo "== caracald mint, 1 worker, warm client" >&2
$wrk_pin wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$tmp/post.lua" http://127.0.0.1:18580/oauth/2/token |
	tee "$tmp/wrk.out" >&2
mints=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.out")
total=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
cold_after=$(cold)
# Mints per group commit (core/roles/sts/mint_batch.c counters).
metric() { curl -s http://127.0.0.1:18580/metrics | sed -n "s/^caracal_plugin_$1_total{.*label=\"$2\"} \([0-9]*\)/\1/p"; }
batches=$(metric sts_mint_commits batch)
batched=$(metric sts_mints_committed batched)
thread_cpu >"$tmp/cpu.after"
# CPU µs per mint by thread: what one worker could do with a core to itself
# is 1e6 / worker_us_per_mint, whatever else shares the machine. Each
# thread is one stage of the pipeline (loop: HTTP; work0: the decision;
# commit: the writes, then audit and answer; audit: the evidence chain), so
# with one worker and a core per thread the pipeline runs at the pace of its
# slowest thread: pipeline_capacity_per_s = 1e6 / the largest of them.
per_mint=$(join "$tmp/cpu.before" "$tmp/cpu.after" | awk -v n="$total" -v hz="$(getconf CLK_TCK)" \
	'$1 ~ /^caracal-(work0|loop0|audit|commit)$/ {printf "%s_us_per_mint=%.0f ", substr($1, 9), ($3 - $2) * 1e6 / hz / n}')
echo "== openssl speed -seconds 3 ecdsap256 (after)" >&2
openssl speed -seconds 3 ecdsap256 2>/dev/null | tee "$tmp/speed.after" >&2
# The reference is the mean of the runs before and after the load: this
# shared host's speed drifts by a quarter within minutes.
signs_after=$(awk '/256 bits ecdsa \(nistp256\)/ {print $(NF-1)}' "$tmp/speed.after")
signs=$(awk -v a="$signs_before" -v b="$signs_after" 'BEGIN {printf "%.1f", (a + b) / 2}')
echo "ecdsap256_sign_per_s_before=$signs_before after=$signs_after"
work_us=$(echo "$per_mint" | sed -n 's/.*work0_us_per_mint=\([0-9]*\).*/\1/p')
echo "mint_rps=$mints ecdsap256_sign_per_s=$signs ratio=$(echo "$mints $signs" | awk '{printf "%.2f", $1/$2}') cold_argon2_during_run=$((cold_after - cold_before)) mints_per_commit=$(awk -v b="${batches:-0}" -v m="${batched:-0}" 'BEGIN {printf "%.1f", (b > 0 ? m / b : 1)}')"
slowest_us=$(echo "$per_mint" | tr ' ' '\n' | sed -n 's/.*_us_per_mint=//p' | sort -n | tail -1)
echo "pipeline_capacity_per_s=$(awk -v u="${slowest_us:-0}" 'BEGIN {printf "%.0f", (u > 0 ? 1e6 / u : 0)}') pipeline_ratio=$(awk -v u="${slowest_us:-0}" -v s="$signs" 'BEGIN {printf "%.2f", (u > 0 ? 1e6 / u / s : 0)}')"
echo "${per_mint}one_worker_capacity_per_s=$(awk -v u="${work_us:-0}" 'BEGIN {printf "%.0f", (u > 0 ? 1e6 / u : 0)}') capacity_ratio=$(awk -v u="${work_us:-0}" -v s="$signs" 'BEGIN {printf "%.2f", (u > 0 ? 1e6 / u / s : 0)}')"
