#!/usr/bin/env bash
# Runs the parser fuzzer for SECONDS (default 60) from the seed corpus; exits non-zero on a
# crash, sanitizer report or split-parse mismatch. Usage: Fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
Fuzz/build.sh
mkdir -p Fuzz/corpus Fuzz/artifacts
cp -n Fuzz/seeds/* Fuzz/corpus/ 2>/dev/null || true
.build/fuzz/parser-fuzz -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
  -artifact_prefix=Fuzz/artifacts/ -print_final_stats=1 Fuzz/corpus 2>&1 | tail -n 25
