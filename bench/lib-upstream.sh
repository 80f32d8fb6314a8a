# Sourced by bench scripts: a vips dzsave pyramid under the ome_seadragon paths, served by
# nginx on loopback without validators (so every proxied request goes upstream). Sets: work
# (temp dir, removed on exit), up (nginx port), pids (processes to stop on exit),
# $work/paths.txt (the top level's tile paths); defines port (a free loopback port).
work=$(mktemp -d); chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

root=$work/www/ome_seadragon/deepzoom/get
mkdir -p "$root" "$work/tmp"
vips sines "$work/s.v" 2048 2048 --hfreq 5 --vfreq 3 && vips linear "$work/s.v" "$work/l.v" 120 128 && vips cast "$work/l.v" "$work/i.png" uchar
vips dzsave "$work/i.png" "$root/1" --suffix .jpeg --tile-size 254 --overlap 1
top=$(ls "$root/1_files" | sort -n | tail -1)
(cd "$work/www" && ls "ome_seadragon/deepzoom/get/1_files/$top" | sed "s|^|/ome_seadragon/deepzoom/get/1_files/$top/|") >"$work/paths.txt"

up=$(port)
cat >"$work/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000; types { image/jpeg jpeg; }
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp; uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server { listen 127.0.0.1:$up; root $work/www; etag off; if_modified_since off; add_header Last-Modified ""; } }
CONF
taskset -c 1 nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)

