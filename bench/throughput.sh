#!/usr/bin/env bash
# Keep-alive throughput of corsd's HTTP core next to nginx serving the same 33,000 bytes:
# wrk -t2 -c64, ROUNDS interleaved rounds of SECONDS each, medians, ratio corsd/nginx.
# Both servers on loopback, one worker each (nginx: worker_processes 1, with Debian's shipped
# `sendfile on; tcp_nopush on;` so it is the nginx an ops team actually runs). Writes
# bench/throughput-results.md. Usage: bench/throughput.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-5}
scripts/bootstrap wrk nginx-light >&2
swift build -c release --product corsd >&2
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill $cpid $npid 2>/dev/null || true; rm -rf "$work"' EXIT
head -c 33000 /dev/zero | tr '\0' x >"$work/33000.bin"
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$nport; root $work; location / { } }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
npid=$!
.build/release/corsd serve --listen 127.0.0.1:0 --db "$work/c.sqlite" --enable-debug-routes 2>"$work/corsd.log" &
cpid=$!
for _ in $(seq 1 100); do cport=$(grep -o 'listening on [0-9.]*:[0-9]*' "$work/corsd.log" | sed 's/.*://' || true); [ -n "$cport" ] && break; sleep 0.1; done
sleep 0.5
curl -sf -o /dev/null "http://127.0.0.1:$nport/33000.bin"
[ "$(curl -s "http://127.0.0.1:$cport/debug/bytes/33000" | wc -c)" -eq 33000 ]
rps() { wrk -t2 -c64 -d"${seconds}s" "$1" | awk '/Requests\/sec/{print $2}'; }
c=(); n=()
for r in $(seq 1 "$rounds"); do
  n+=("$(rps "http://127.0.0.1:$nport/33000.bin")")
  c+=("$(rps "http://127.0.0.1:$cport/debug/bytes/33000")")
  echo "round $r: nginx ${n[-1]} req/s, corsd ${c[-1]} req/s" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cm=$(median "${c[@]}"); nm=$(median "${n[@]}")
ratio=$(awk "BEGIN{printf \"%.2f\", $cm/$nm}")
{
  echo "# Keep-alive throughput: corsd vs nginx"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, wrk -t2 -c64 -d${seconds}s, $rounds interleaved rounds, 33,000-byte responses"
  echo "(nginx 1 worker, static file with \`sendfile on; tcp_nopush on\` as Debian ships it; corsd release build, /debug/bytes/33000 which allocates the body per request)."
  echo
  echo "| server | rounds (req/s) | median |"
  echo "|---|---|---|"
  echo "| nginx | ${n[*]} | $nm |"
  echo "| corsd | ${c[*]} | $cm |"
  echo
  echo "Ratio corsd/nginx (medians): **$ratio**"
} >bench/throughput-results.md
cat bench/throughput-results.md
