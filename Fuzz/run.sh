#!/usr/bin/env bash
# Builds the fuzz targets, then runs each named target for SECONDS (default 60) from its seed
# corpus; exits non-zero on a crash, sanitizer report or broken invariant.
# Usage: Fuzz/run.sh [SECONDS] [parser] [upstream]   (no target: both)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parser upstream)
Fuzz/build.sh
mkdir -p Fuzz/artifacts
for target in "${targets[@]}"; do
  case "$target" in
    parser) seeds=Fuzz/seeds ;;
    upstream) seeds=Fuzz/seeds-upstream ;;
    *) echo "unknown target $target (parser or upstream)" >&2; exit 2 ;;
  esac
  corpus=Fuzz/corpus/$target
  mkdir -p "$corpus"
  cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  echo "== $target-fuzz for ${seconds}s"
  ".build/fuzz/$target-fuzz" -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
    -artifact_prefix="Fuzz/artifacts/$target-" -print_final_stats=1 "$corpus" 2>&1 | tail -n 8
done
