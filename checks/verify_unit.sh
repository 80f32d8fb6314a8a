#!/usr/bin/env bash
# systemd-analyze verify on contrib/systemd/corsd.service, with ExecStart pointing at the
# built binary (verify checks that the executable exists). Fails on any complaint.
# Usage: checks/verify_unit.sh CORSD_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(readlink -f "$1")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|/usr/local/bin/corsd|$bin|g" contrib/systemd/corsd.service >"$dir/corsd.service"
out=$(systemd-analyze verify --man=no "$dir/corsd.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "ok   contrib/systemd/corsd.service passes systemd-analyze verify"
