#!/bin/sh
# Bootstraps the autotools build from a git checkout: ./autogen.sh && ./configure && make
set -e
cd "$(dirname "$0")"
autoreconf --install --force --warnings=all
