#!/usr/bin/env bash
# corsd's TLS against nginx's, on the proxied-tile path: the same certificate (ECDSA P-256), the
# same tiles (bench/lib-upstream.sh: nginx serving a vips dzsave pyramid without validators, so
# every request goes upstream), the same allowed Origin. nginx is the CORS proxy as in
# bench/proxy (a `map` for the origin, `always` headers, upstream keep-alive), 1 worker.
# Two kinds of run, interleaved for ROUNDS rounds of SECONDS each (who goes first alternates):
#   keep-alive       wrk -t2 -c64 over kept-alive TLS connections
#   new connections  the same with Connection: close (a full handshake per request; wrk does not
#                    resume sessions)
# The proxy under test (corsd or nginx) is pinned to CPU 0; wrk and the upstream to CPU 1.
# Prints each round and the medians; bench/tls-results.md records a run.
# Usage: bench/tls.sh [CORSD_BINARY=.build/release/corsd] [ROUNDS=5] [SECONDS=5]
set -euo pipefail
bin=$(readlink -f "${1:-.build/release/corsd}"); rounds=${2:-5}; secs=${3:-5}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-upstream.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null

# nginx: the TLS CORS proxy.
ng=$(port)
cat >"$work/proxy.conf" <<CONF
worker_processes 1; daemon off; pid $work/proxy.pid; error_log $work/proxy-error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp; uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  map \$http_origin \$cors_origin { default ""; "https://viewer.example.org" \$http_origin; }
  upstream omero { server 127.0.0.1:$up; keepalive 64; }
  server { listen 127.0.0.1:$ng ssl; ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers on; ssl_session_cache shared:SSL:10m;
    location /tiles/d/ { proxy_pass http://omero/; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_hide_header Access-Control-Allow-Origin;
      add_header Access-Control-Allow-Origin \$cors_origin always; add_header Vary Origin always; } } }
CONF
taskset -c 0 nginx -c "$work/proxy.conf" -p "$work" & pids+=($!)
for _ in $(seq 100); do ng_pid=$(pgrep -P $! nginx || true); [ -n "$ng_pid" ] && break; sleep 0.1; done  # the worker: it does the work

# corsd: the same certificate.
cd_port=$(port)
CORSD_ADMIN_TOKEN=bench taskset -c 0 "$bin" serve --listen "127.0.0.1:$cd_port" --db "$work/corsd.sqlite" --log-level warning \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" >"$work/corsd.log" 2>&1 & pids+=($!); cd_pid=$!
for _ in $(seq 100); do curl -fsk "https://127.0.0.1:$cd_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsk -X PUT -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' "https://127.0.0.1:$cd_port/api/v1/deployments/d" \
  -d "{\"upstream\":\"http://127.0.0.1:$up\",\"cors\":{\"allowed_origins\":[\"https://viewer.example.org\"]}}" >/dev/null
for p in "$ng" "$cd_port"; do  # both answer a tile with the CORS header before any load
  curl -fsk -o /dev/null -D - -H 'Origin: https://viewer.example.org' "https://127.0.0.1:$p/tiles/d$(head -1 "$work/paths.txt")" \
    | grep -qi '^access-control-allow-origin: https://viewer.example.org' || { echo "proxy on $p is not serving tiles with CORS" >&2; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {  # PORT PID MODE -> "req/s us_cpu_per_request errors"
  local t0 t1 out rps errs; t0=$(ticks "$2")
  out=$(taskset -c 1 wrk -t2 -c64 -d"${secs}s" -s "$here/proxy/tiles.lua" "https://127.0.0.1:$1" -- "$work/paths.txt" /tiles/d "$3")
  t1=$(ticks "$2")
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  errs=$(awk '/Socket errors|Non-2xx/{e=1} END{print e+0}' <<<"$out")
  python3 -c "print($rps, round(($t1-$t0)*1e6/$(getconf CLK_TCK)/($rps*$secs), 1), $errs)"
}
for mode in keepalive close; do
  : >"$work/results"
  for r in $(seq "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then n=$(run "$ng" "$ng_pid" "$mode"); c=$(run "$cd_port" "$cd_pid" "$mode")
    else c=$(run "$cd_port" "$cd_pid" "$mode"); n=$(run "$ng" "$ng_pid" "$mode"); fi
    echo "$n $c" >>"$work/results"
    set -- $n $c
    echo "$mode round $r: nginx $1 req/s $2 us/req (errors: $3)  corsd $4 req/s $5 us/req (errors: $6)"
  done
  python3 - "$work/results" "$mode" <<'PY'
import statistics, sys
rows = [[float(x) for x in line.split()] for line in open(sys.argv[1])]
m = [statistics.median(r[i] for r in rows) for i in range(6)]
print(f"{sys.argv[2]} median: nginx {m[0]:.0f} req/s {m[1]:.1f} us CPU/req   corsd {m[3]:.0f} req/s {m[4]:.1f} us CPU/req   "
      f"corsd/nginx throughput {m[3]/m[0]:.2f}, CPU/req {m[4]/m[1]:.2f}")
PY
done
