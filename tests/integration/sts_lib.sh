# sts_lib.sh — what the STS integration scripts share. Source it after
# setting test_name; it checks the prerequisites (curl, PyJWT), makes a
# private temporary directory ($tmp, removed at exit), copies the embedded
# plugins, and defines:
#   fail MSG / pass MSG       report (fail shows the end of caracald's log)
#   json EXPR                 a Python expression on the JSON read from stdin
#   also_kill PID             kill PID at exit too (helper servers)
#   start_caracald [STS_YAML] caracald on the embedded plugins, with STS_YAML
#                             appended inside the sts block (", key: value");
#                             sets pid, sts, adm (ports) and ctl (caracalctl)
set -u
builddir=${CARACAL_BUILDDIR:?run through make check}
srcdir=${CARACAL_SRCDIR:?run through make check}
command -v curl >/dev/null || { echo "curl is needed (apt-get install curl)"; exit 99; }
py=/usr/bin/python3
"$py" -c 'import jwt, cryptography' 2>/dev/null ||
	{ echo "PyJWT is needed (apt-get install python3-jwt python3-cryptography)"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caracal-${test_name:-sts}.XXXXXX")
chmod 700 "$tmp"
pid=""
extra_pids=""
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	for p in $extra_pids; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
also_kill() { extra_pids="$extra_pids $1"; }
fail() {
	echo "FAIL: $*"
	echo "--- caracald log:"
	tail -30 "$tmp/log" 2>/dev/null
	exit 1
}
pass() { echo "ok - $*"; }
json() { "$py" -c "import json,sys; print(json.load(sys.stdin)$1)"; }

mkdir -m 755 "$tmp/plugins"
for p in audit_file storage_sqlite signer_file policy_rules stream_local; do
	so="$builddir/plugins/$p/.libs/$p.so"
	[ -f "$so" ] || { echo "SKIP: $p not built"; exit 77; }
	cp "$so" "$tmp/plugins/" && chmod 755 "$tmp/plugins/$p.so"
done
mkdir -p -m 700 "$tmp/var"

# STS_DATA_DIR (default $tmp/var) and STS_POLICY_INSTANCE (the YAML flow map
# of the policy instance `rules`; default {plugin: policy_rules}) may be set
# before a start.
start_caracald() {
	local data=${STS_DATA_DIR:-$tmp/var}
	local rules="{plugin: policy_rules}"
	[ -n "${STS_POLICY_INSTANCE:-}" ] && rules=$STS_POLICY_INSTANCE
	cat >"$tmp/caracal.yaml" <<YAML
mode: development
data_dir: $data
plugin_dir: $tmp/plugins
threads: {loops: 2, workers: 2}
sts: {listen: "127.0.0.1:0", issuer: "http://127.0.0.1:8080"${1:-}}
admin: {listen: "127.0.0.1:0", token_file: admin.token}
audit: {sinks: [audit]}
storage: db
signer: keys
policy: rules
stream: bus
streams: {hmac_key_file: streams.key}
plugins:
  audit: {plugin: audit_file, path: audit, hmac_key_file: audit.key}
  bus: {plugin: stream_local}
  db: {plugin: storage_sqlite, path: caracal.db}
  keys: {plugin: signer_file, keystore: keys, kek_file: signer.kek, algorithm: ES256}
  rules: $rules
YAML
	"$builddir/caracald" -c "$tmp/caracal.yaml" 2>"$tmp/log" &
	pid=$!
	local _
	for _ in $(seq 1 100); do
		[ -n "$(port_of admin)" ] && break
		kill -0 "$pid" 2>/dev/null || fail "caracald exited at start"
		sleep 0.1
	done
	sts=$(port_of sts)
	adm=$(port_of admin)
	[ -n "$sts" ] && [ -n "$adm" ] || fail "listeners not announced"
	ctl=("$builddir/caracalctl" -c "$tmp/caracal.yaml" --set "admin.listen=127.0.0.1:$adm" --json)
}
port_of() { sed -n "s/.*\"$1 listening on [^\"]*(port \([0-9]*\),.*/\1/p" "$tmp/log" | head -1; }
