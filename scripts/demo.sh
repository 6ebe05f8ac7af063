#!/bin/sh
# Caracal end to end on its embedded default (conf/caracal.yaml), from a
# fresh checkout: installs missing packages, builds, installs into
# ./_install, starts caracald, then tells the story an operator and an agent
# would: create a zone, an application, a resource and a grant, apply the
# allow-granted policy, exchange a token with curl, decode its claims, show a
# denial, stop caracald and verify the audit chain it wrote.
#
#   scripts/demo.sh                 the story (state in ./var/demo, reset each run)
#   scripts/demo.sh --foreground    just run caracald on conf/caracal.yaml
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
cd "$top"
[ -x configure ] || ./autogen.sh
mkdir -p build-demo
cd build-demo
mkdir -p "$top/var"
{ [ -f Makefile ] || ../configure --prefix="$top/_install"; } >"$top/var/build.log" 2>&1 ||
	{ tail -30 "$top/var/build.log"; exit 1; }
make -j"$(nproc)" >>"$top/var/build.log" 2>&1 || { tail -30 "$top/var/build.log"; exit 1; }
make install >>"$top/var/build.log" 2>&1 || { tail -30 "$top/var/build.log"; exit 1; }
cd "$top"
caracald="$top/_install/sbin/caracald"
caracalctl="$top/_install/bin/caracalctl"
if [ "${1:-}" = "--foreground" ]; then
	exec "$caracald" -c conf/caracal.yaml
fi

data="$top/var/demo"
rm -rf "$data"
set -- --set "data_dir=$data"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "$("$caracald" --version | sed -n 1p): checking conf/caracal.yaml"
"$caracald" -t -c conf/caracal.yaml "$@"
"$caracald" -c conf/caracal.yaml "$@" 2>"$top/var/demo.log" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8090/ready >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf http://127.0.0.1:8090/ready >/dev/null || { tail "$top/var/demo.log"; exit 1; }
echo "caracald is up: sts :8080, gateway :8081, coordinator :4000, admin :8090 (log: var/demo.log)"

ctl() { "$caracalctl" -c conf/caracal.yaml "$@"; }
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

step "an operator sets up a zone, an application, a resource, a grant and a policy"
zone=$(ctl "$@" --json zone create demo | field id)
echo "zone demo: $zone"
ctl "$@" --json app create --zone demo order-agent >"$data/app.json"
app=$(field id <"$data/app.json")
secret=$(field client_secret <"$data/app.json")
echo "application order-agent: $app (its client secret is shown once, at creation)"
ctl "$@" resource create --zone demo --identifier resource://orders \
	--upstream http://127.0.0.1:9000/orders --scopes "orders:read orders:write"
ctl "$@" grant create --zone demo --app "$app" --resource resource://orders --scopes "orders:read"
ctl "$@" policy apply --zone demo conf/policies/allow-granted.yaml

step "the agent exchanges its credentials for a mandate (RFC 8693)"
echo "curl -X POST http://127.0.0.1:8080/oauth/2/token -d grant_type=...token-exchange -d resource=resource://orders -d scope=orders:read ..."
curl -s -X POST http://127.0.0.1:8080/oauth/2/token \
	--data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:token-exchange" \
	--data-urlencode "zone_id=$zone" --data-urlencode "application_id=$app" \
	--data-urlencode "client_secret=$secret" --data-urlencode "resource=resource://orders" \
	--data-urlencode "scope=orders:read" >"$data/token.json"
/usr/bin/python3 -m json.tool "$data/token.json" | cut -c1-110

step "its claims (decoded; the signature verifies against /.well-known/jwks.json?zone_id=...)"
/usr/bin/python3 - "$data/token.json" <<'PY'
import base64, json, sys
token = json.load(open(sys.argv[1]))["access_token"]
head, body, _ = token.split(".")
pad = lambda s: s + "=" * (-len(s) % 4)
print("header:", json.loads(base64.urlsafe_b64decode(pad(head))))
print(json.dumps(json.loads(base64.urlsafe_b64decode(pad(body))), indent=2))
PY

step "asking for a scope the grant does not give is denied, and audited"
curl -s -o "$data/deny.json" -w 'HTTP %{http_code} ' -X POST http://127.0.0.1:8080/oauth/2/token \
	--data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:token-exchange" \
	--data-urlencode "zone_id=$zone" --data-urlencode "application_id=$app" \
	--data-urlencode "client_secret=$secret" --data-urlencode "resource=resource://orders" \
	--data-urlencode "scope=orders:write"
cat "$data/deny.json"; echo

step "stop caracald (SIGTERM drains) and verify the audit chain"
kill -TERM $pid
wait $pid
trap - EXIT
ctl "$@" audit verify
echo "$(cat "$data"/audit/*.jsonl | wc -l) hash-chained records in $data/audit/"
