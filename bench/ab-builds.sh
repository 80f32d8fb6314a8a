#!/usr/bin/env bash
# Interleaved A/B of two corsd builds on the proxied-tile path: nginx on loopback serves a
# vips dzsave pyramid without validators (every request goes upstream), each corsd proxies it
# for one deployment, and wrk (-t2 -c64) alternates between them for ROUNDS rounds of SECONDS
# (A first in odd rounds, B first in even ones).
# Prints each round's req/s and CPU time per request (user+system of the corsd process, from
# /proc: steadier than req/s on a shared machine), then medians with B/A.
# corsd runs pinned to CPU 0, wrk and nginx to CPU 1: corsd's own cost is what is compared, with
# less scheduling noise. Bounded: 2 × ROUNDS × SECONDS of load.
# Usage: bench/ab-builds.sh BIN_A BIN_B [ROUNDS=5] [SECONDS=5]
# Used for the metrics-cost measurement in bench/proxy/RESULTS.md (A: before /metrics, B: after).
set -euo pipefail
a=$(readlink -f "$1"); b=$(readlink -f "$2"); rounds=${3:-5}; secs=${4:-5}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-upstream.sh"

start() {  # BIN NAME: starts corsd in this shell (its pid kept for cleanup), sets port_NAME, pid_NAME
  local p; p=$(port)
  CORSD_ADMIN_TOKEN=bench taskset -c 0 "$1" serve --listen "127.0.0.1:$p" --db "$work/$2.sqlite" --log-level warning >"$work/$2.log" 2>&1 &
  pids+=($!); eval "pid_$2=$!; port_$2=$p"
  for _ in $(seq 100); do curl -fs "127.0.0.1:$p/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs -X PUT -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' "127.0.0.1:$p/api/v1/deployments/d" \
    -d "{\"upstream\":\"http://127.0.0.1:$up\",\"cors\":{\"allowed_origins\":[\"https://viewer.example.org\"]}}" >/dev/null
}
start "$a" a; start "$b" b
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {  # PORT PID -> "req/s us_cpu_per_request"
  local t0 t1 rps; t0=$(ticks "$2")
  rps=$(taskset -c 1 wrk -t2 -c64 -d"${secs}s" -s "$here/proxy/tiles.lua" "http://127.0.0.1:$1" -- "$work/paths.txt" /tiles/d | awk '/^Requests\/sec/{print $2}')
  t1=$(ticks "$2")
  python3 -c "print($rps, round(($t1-$t0)*1e6/$(getconf CLK_TCK)/($rps*$secs), 1))"
}
: >"$work/results"
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then ra=$(run "$port_a" "$pid_a"); rb=$(run "$port_b" "$pid_b")
  else rb=$(run "$port_b" "$pid_b"); ra=$(run "$port_a" "$pid_a"); fi  # alternate who goes first
  echo "$ra $rb" >>"$work/results"
  set -- $ra $rb
  echo "round $r: A $1 req/s $2 us/req  B $3 req/s $4 us/req"
done
python3 - "$work/results" <<'PY'
import statistics, sys
rows = [[float(x) for x in line.split()] for line in open(sys.argv[1])]
m = [statistics.median(r[i] for r in rows) for i in range(4)]
print(f"median: A {m[0]:.0f} req/s {m[1]:.1f} us CPU/req   B {m[2]:.0f} req/s {m[3]:.1f} us CPU/req   "
      f"B/A throughput {m[2]/m[0]:.3f}, CPU/req {m[3]/m[1]:.3f}")
PY
