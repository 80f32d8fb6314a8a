#!/usr/bin/env bash
# systemd-analyze verify on corsd's own units in contrib/systemd (the server, the agent, the
# agent's one-shot service and timer), with ExecStart pointing at the built binary (verify
# checks that the executable exists). Fails on any complaint.
# Usage: checks/verify_unit.sh CORSD_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(readlink -f "$1")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for unit in contrib/systemd/*.service contrib/systemd/*.timer; do
  sed "s|/usr/local/bin/corsd|$bin|g" "$unit" >"$dir/$(basename "$unit")"
done
for unit in "$dir"/*; do
  out=$(systemd-analyze verify --man=no "$unit" 2>&1) || { echo "$out"; exit 1; }
  if [ -n "$out" ]; then echo "$(basename "$unit"): $out"; exit 1; fi
  echo "ok   contrib/systemd/$(basename "$unit") passes systemd-analyze verify"
done
