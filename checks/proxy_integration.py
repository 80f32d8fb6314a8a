#!/usr/bin/env python3
"""The tile proxy in front of a real upstream: nginx serving a vips dzsave pyramid under the
ome_seadragon paths (tilebed.py). Loopback only. Usage: proxy_integration.py CORSD_BINARY"""
import http.server
import json
import os
import socket
import sys
import threading

from tilebed import TileBed

VIEWER = "https://viewer.example.org"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


bed = TileBed(sys.argv[1], corsd_args=["--upstream-timeout", "1", "--upstream-connect-timeout", "1"])
try:
    bed.deployment("omero", allowed_origins=[VIEWER], expose_headers=["ETag"])
    bed.deployment("compat", allowed_origins=[VIEWER], mode="compatible")
    dzi = "/ome_seadragon/deepzoom/get/1.dzi"
    level = bed.levels[-1]
    tile = f"/ome_seadragon/deepzoom/get/1_files/{level}/0_0.jpeg"
    with open(os.path.join(bed.dir, "www" + tile), "rb") as f:
        tile_bytes = f.read()

    s, h, body = bed.get("/tiles/omero" + dzi, {"Origin": VIEWER})
    check(s == 200 and h.get("access-control-allow-origin") == VIEWER, "allowed origin gets the .dzi with its origin echoed")
    check("origin" in h.get("vary", "").lower(), "Vary names Origin")
    check(b"<Image" in body, "the .dzi body is the pyramid's descriptor")
    check(h.get("access-control-expose-headers") == "ETag", "expose headers from the policy")
    check("upstream-says-anything" not in json.dumps(h), "the upstream's own CORS header is stripped")

    s, h, body = bed.get("/tiles/omero" + tile, {"Origin": VIEWER})
    check(s == 200 and body == tile_bytes and h.get("content-type") == "image/jpeg", "a tile arrives byte for byte")
    etag = h.get("etag")
    check(etag is not None, "ETag passes through")

    s, h, _ = bed.get("/tiles/omero" + tile, {"Origin": VIEWER, "If-None-Match": etag})
    check(s == 304 and h.get("access-control-allow-origin") == VIEWER, "304 Not Modified keeps its CORS headers")

    s, h, body = bed.get("/tiles/omero" + dzi, {"Origin": "https://evil.example"})
    check(s == 403 and "access-control-allow-origin" not in h and h.get("content-type") == "application/problem+json", "reject mode: a foreign origin gets 403 problem+json")
    s, h, _ = bed.get("/tiles/compat" + dzi, {"Origin": "https://evil.example"})
    check(s == 200 and "access-control-allow-origin" not in h, "compatible mode: a foreign origin is served without CORS headers")
    s, h, _ = bed.get("/tiles/omero" + dzi)
    check(s == 200 and "access-control-allow-origin" not in h and "origin" in h.get("vary", "").lower(), "no Origin: served, no CORS headers, still Vary")

    before = open(os.path.join(bed.dir, "nginx-access.log")).read().count("OPTIONS")
    s, h, body = bed.get("/tiles/omero" + tile, {"Origin": VIEWER, "Access-Control-Request-Method": "GET"}, method="OPTIONS")
    check(s == 200 and body == b"" and h.get("access-control-allow-methods", "").startswith("DELETE, GET"), "preflight answered by corsd")
    check(open(os.path.join(bed.dir, "nginx-access.log")).read().count("OPTIONS") == before, "preflight never forwarded")
    s, h, _ = bed.get("/tiles/omero" + tile, {"Origin": VIEWER, "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "x-evil"}, method="OPTIONS")
    check(s == 403, "reject mode refuses a preflight asking for headers outside the policy")

    for attempt in [b"/tiles/omero/ome_seadragon/../../etc/passwd", b"/tiles/omero/ome_seadragon/deepzoom/get/%2e%2e/%2e%2e/nginx.conf",
                    b"/tiles/omero/ome_seadragon/deepzoom/get/..%2f..%2fnginx.conf", b"/tiles/omero/webclient/", b"/tiles/omero/ome_seadragon/deepzoom/get/1.dzi%00"]:
        reply = bed.raw(b"GET " + attempt + b" HTTP/1.1\r\nHost: x\r\nOrigin: " + VIEWER.encode() + b"\r\nConnection: close\r\n\r\n")
        check(reply.startswith(b"HTTP/1.1 404") and b"access-control-allow-origin: " + VIEWER.encode() in reply.lower(), f"404 with CORS headers for {attempt.decode()}")
    reply = bed.raw(b"GET http://127.0.0.1:22/ HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n")
    check(reply.startswith(b"HTTP/1.1 400"), "absolute-form targets are refused: never an open proxy")
    reply = bed.raw(b"GET /tiles/omero" + dzi.encode() + b" HTTP/1.1\r\nHost: evil.example:22\r\nConnection: close\r\n\r\n")
    check(reply.startswith(b"HTTP/1.1 200") and b"<Image" in reply, "a Host header changes nothing: the upstream comes from the store")
    s, h, _ = bed.get("/tiles/omero" + dzi, {"Origin": VIEWER}, method="POST")
    check(s == 405 and h.get("allow") == "GET, HEAD" and h.get("access-control-allow-origin") == VIEWER, "405 for POST, with CORS headers")

    new_viewer = "https://second-viewer.example.org"
    s, _, _ = bed.get("/tiles/omero" + dzi, {"Origin": new_viewer})
    check(s == 403, "before the change, the second viewer is refused")
    status, _ = bed.api("POST", "/deployments/omero/origins", {"origin": new_viewer})
    s, h, _ = bed.get("/tiles/omero" + dzi, {"Origin": new_viewer})
    check(status == 200 and s == 200 and h.get("access-control-allow-origin") == new_viewer, "a policy change applies to the very next request")

    _, stats = bed.api("GET", "/tiles/cache")
    check(stats["revalidated"] >= 1 and stats["entries"] >= 1, f"cache revalidated with the upstream's ETag ({stats})")

    # An upstream that accepts and never answers: 504 at the timeout.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held = []
    threading.Thread(target=lambda: [held.append(silent.accept()) for _ in range(4)], daemon=True).start()
    bed.deployment("slow", upstream_port=silent.getsockname()[1], allowed_origins=[VIEWER])
    s, h, body = bed.get("/tiles/slow" + dzi, {"Origin": VIEWER})
    check(s == 504 and h.get("access-control-allow-origin") == VIEWER and h.get("content-type") == "application/problem+json", "slow upstream: 504 problem+json with CORS headers")

    # An upstream that echoes what it received: what corsd forwards, and what it does not.
    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    echo = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    bed.deployment("echo-private", upstream_port=echo.server_address[1], allowed_origins=[VIEWER])
    bed.deployment("echo-creds", upstream_port=echo.server_address[1], allowed_origins=[VIEWER], allow_credentials=True)
    sent = {"Origin": VIEWER, "Cookie": "sessionid=s3cret", "Authorization": "Basic dTpw", "X-Forwarded-For": "10.9.9.9",
            "Connection": "keep-alive, X-Hop", "X-Hop": "1", "Accept": "image/jpeg"}
    path = "/ome_seadragon/deepzoom/get/1_files/9/0_0.jpeg?tile_size=254&limit_bounds=1&__evil=1"
    _, _, body = bed.get("/tiles/echo-private" + path, sent)
    seen = json.loads(body)
    check("cookie" not in seen["headers"] and "authorization" not in seen["headers"], "without allow_credentials, Cookie and Authorization are not forwarded")
    check(seen["path"] == "/ome_seadragon/deepzoom/get/1_files/9/0_0.jpeg?tile_size=254&limit_bounds=1", f"only the route's query parameters go upstream ({seen['path']})")
    check(seen["headers"].get("via") == "1.1 corsd" and seen["headers"].get("x-forwarded-for") == "10.9.9.9, 127.0.0.1"
          and seen["headers"].get("x-forwarded-proto") == "http", "Via and X-Forwarded-For/-Proto are added")
    check("x-forwarded-host" not in seen["headers"], "the client's Host is not passed on as X-Forwarded-Host")
    status, _ = bed.api("PATCH", "/deployments/echo-private", {"public_host": "tiles.example.org"})
    check(status == 200, "public_host can be set")
    _, _, body = bed.get("/tiles/echo-private" + path, dict(sent, Host="evil.example"))
    check(json.loads(body)["headers"].get("x-forwarded-host") == "tiles.example.org", "with public_host, X-Forwarded-Host is the configured host, not the client's")
    check("x-hop" not in seen["headers"] and "origin" not in seen["headers"] and seen["headers"].get("accept") == "image/jpeg", "hop-by-hop fields stay behind; end-to-end ones pass")
    _, _, body = bed.get("/tiles/echo-private" + path, dict(sent, Connection="Accept"))
    check("accept" not in json.loads(body)["headers"], "a field the client's Connection names is not forwarded")
    check(seen["headers"].get("host") == f"127.0.0.1:{echo.server_address[1]}", "the upstream gets its own Host")
    _, h, body = bed.get("/tiles/echo-creds" + path, sent)
    seen = json.loads(body)
    check(seen["headers"].get("cookie") == "sessionid=s3cret" and seen["headers"].get("authorization") == "Basic dTpw"
          and h.get("access-control-allow-credentials") == "true", "with allow_credentials, Cookie and Authorization are forwarded")
    echo.shutdown()

    bed.stop_nginx()
    s, h, body = bed.get("/tiles/omero/ome_seadragon/deepzoom/get/1_files/0/0_0.jpeg", {"Origin": VIEWER})
    check(s == 502 and h.get("access-control-allow-origin") == VIEWER and h.get("content-type") == "application/problem+json", "upstream down: 502 problem+json with CORS headers")
    check(bed.corsd.poll() is None, "corsd is still running")
finally:
    bed.close()

print(f"proxy integration: {len(failures)} failures")
sys.exit(1 if failures else 0)
