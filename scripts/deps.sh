#!/bin/sh
# Installs the Debian packages Caracal builds and tests with, when missing.
# Runs apt-get as root, or through sudo when not root.
set -e
packages="build-essential autoconf automake libtool pkg-config
libevent-dev libssl-dev libyaml-dev libjansson-dev libcmocka-dev libargon2-dev libsqlite3-dev python3-jwt python3-cryptography
clang libclang-rt-dev curl ca-certificates python3 wrk"
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
