#!/bin/sh
# Benchmark: keep-alive GET /health on ONE caracald loop thread, against
# nginx serving a static 200 with ONE worker, measured with wrk in the same
# run. Prints both rates and the ratio. Not part of `make check`.
#
#   tests/bench/health.sh BUILDDIR [seconds] [connections]
set -eu
builddir=$(cd "${1:?usage: health.sh BUILDDIR [seconds] [connections]}" && pwd)
secs=${2:-10}
conns=${3:-64}
command -v wrk >/dev/null || { echo "apt-get install wrk"; exit 1; }
command -v nginx >/dev/null || { echo "apt-get install nginx-light"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $cpid $npid 2>/dev/null; rm -rf "$tmp"' EXIT
cpid=""; npid=""

mkdir -m 755 "$tmp/plugins"
cat >"$tmp/caracal.yaml" <<YAML
mode: development
data_dir: $tmp/var
plugin_dir: $tmp/plugins
log: {level: warn}
threads: {loops: 1, workers: 1}
sts: {listen: 127.0.0.1:18480}
YAML
"$builddir/caracald" -c "$tmp/caracal.yaml" 2>"$tmp/caracald.log" &
cpid=$!

mkdir -p "$tmp/nginx/logs"
cat >"$tmp/nginx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:18481;
        location = /health { default_type application/json; return 200 '{"status":"ok"}'; }
    }
}
NGX
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
npid=$!
sleep 1
curl -sf http://127.0.0.1:18480/health >/dev/null
curl -sf http://127.0.0.1:18481/health >/dev/null

rate() { wrk -t1 -c"$conns" -d"${secs}s" --latency "$1" | tee "$tmp/wrk.out" >&2; awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.out"; }
echo "== nginx (1 worker)" >&2
n=$(rate http://127.0.0.1:18481/health)
echo "== caracald (1 loop thread)" >&2
c=$(rate http://127.0.0.1:18480/health)
echo "nginx_rps=$n caracald_rps=$c ratio=$(echo "$c $n" | awk '{printf "%.2f", $1/$2}')"
