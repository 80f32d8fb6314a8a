#!/usr/bin/env python3
"""Real memory vs --tile-cache-bytes: fills corsd's tile cache with 4x its configured bound of
distinct tiles (through the proxy, from a loopback upstream that sends no freshness, cached by
the deployment's TTL) and records corsd's RSS and the cache's own byte count as it fills.
Usage: bench/cache-memory.py CORSD_BINARY [BOUND_MIB]   Writes bench/cache-memory-results.md."""
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

binary, bound_mib = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 64
TILE = 30_000
BODY = os.urandom(TILE)


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(TILE))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
threading.Thread(target=upstream.serve_forever, daemon=True).start()
work = tempfile.mkdtemp()
corsd = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--db", f"{work}/c.sqlite", "--tile-cache-bytes", str(bound_mib << 20)],
                         env=dict(os.environ, CORSD_ADMIN_TOKEN="bench"), stderr=subprocess.PIPE, text=True)
port = None
for line in corsd.stderr:
    m = re.search(r"listening on [^\s]+:(\d+)", line)
    if m:
        port = int(m.group(1))
        break
threading.Thread(target=lambda: [None for _ in corsd.stderr], daemon=True).start()


def rss_mib():
    with open(f"/proc/{corsd.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def api(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, "/api/v1" + path, body=json.dumps(body) if body else None,
              headers={"Authorization": "Bearer bench", "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


api("PUT", "/deployments/bench", {"upstream": f"http://127.0.0.1:{upstream.server_address[1]}", "cache": {"tiles_ttl_s": 3600}})
baseline = rss_mib()
rows = []
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
total = 4 * (bound_mib << 20) // TILE
deadline = time.time() + 600
for i in range(total):
    if time.time() > deadline:
        break
    conn.request("GET", f"/tiles/bench/ome_seadragon/deepzoom/get/{i}_files/0/0_0.jpeg")
    r = conn.getresponse()
    r.read()
    if (i + 1) % (total // 8) == 0:
        _, stats = api("GET", "/tiles/cache")
        rows.append((i + 1, (i + 1) * TILE / (1 << 20), stats["bytes"] / (1 << 20), stats["entries"], rss_mib()))
corsd.terminate()
corsd.wait(timeout=30)
upstream.shutdown()

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache-memory-results.md"), "w") as out:
    out.write("# Tile cache memory vs its bound\n\n")
    out.write(f"`bench/cache-memory.py` on {time.strftime('%Y-%m-%d')}: corsd `--tile-cache-bytes {bound_mib} MiB`, distinct {TILE}-byte tiles "
              "from a loopback upstream that sends no freshness (cached by `tiles_ttl_s`), 4× the bound in all. The cache counts keys, "
              "fields and bodies against the bound; RSS is corsd's whole process.\n\n")
    out.write(f"Baseline RSS before the first tile: {baseline:.1f} MiB.\n\n")
    out.write("| tiles sent | MiB sent | cache MiB (own count) | entries | RSS MiB | RSS − baseline − bound |\n|---|---|---|---|---|---|\n")
    for sent, mib, cached, entries, rss in rows:
        out.write(f"| {sent} | {mib:.0f} | {cached:.1f} | {entries} | {rss:.1f} | {rss - baseline - bound_mib:+.1f} |\n")
print(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache-memory-results.md")).read())
