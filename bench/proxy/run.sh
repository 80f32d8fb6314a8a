#!/usr/bin/env bash
# One command for the tile-proxy benchmark: installs what it needs (nginx, wrk, vips, a venv
# with Django + django-cors-headers + gunicorn), builds corsd in release mode and runs
# bench/proxy/harness.py, which writes bench/proxy/RESULTS.md.
# Usage: bench/proxy/run.sh [--seconds S] [--rounds N] [--soak S] [--smoke] [--only TEXT]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/bootstrap wrk nginx-light libvips-tools >&2
swift build -c release --product corsd >&2
venv=$(checks/venv.sh bench-proxy ../bench/proxy/requirements.txt)
exec timeout 3600 python3 bench/proxy/harness.py "$PWD/.build/release/corsd" "$venv" "$@"
