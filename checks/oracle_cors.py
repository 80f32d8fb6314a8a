#!/usr/bin/env python3
"""Differential oracle: corsd's tile proxy in `compatible` mode against django-cors-headers 4.x.

For several policies, the same generated requests (origins allowed / foreign / null /
malformed / with default ports / matching patterns, GET, HEAD, plain OPTIONS, preflights with
and without a request method, headers and private-network requests) go to
- corsd, proxying to a loopback upstream that sends no CORS headers, and
- a minimal Django app with CorsMiddleware, configured by exec'ing the settings.py fragment
  corsd renders for the same deployment (so regex patterns are anchored the same way),
and the CORS response headers must agree: names case-insensitive, list values compared as
lists (Vary case-insensitively). Origins that are not serialised origins (`foo`,
`https://host/path`, a bad IPv6 literal, upper-case schemes) are compared like every other:
compatible mode reads them as django-cors-headers does. The Django side serves the upstream
path (what OMERO.web sees), so the rendered CORS_URLS_REGEX applies to it.

Run with the django-cors-headers 4.x venv's python: oracle_cors.py CORSD_BINARY
"""
import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tilebed import TileBed  # noqa: E402

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DEBUG=False, SECRET_KEY="oracle", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "corsheaders"],
    MIDDLEWARE=["corsheaders.middleware.CorsMiddleware", "django.middleware.common.CommonMiddleware"],
)
django.setup()
from django.http import HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import re_path  # noqa: E402

urlpatterns = [re_path(r"^ome_seadragon/", lambda request: HttpResponse("ok"))]


class Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<Image/>"
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
threading.Thread(target=upstream.serve_forever, daemon=True).start()

VIEWER = "https://viewer.example.org"
POLICIES = {
    "plain": {"allowed_origins": [VIEWER, "http://localhost:8000"]},
    "credentials": {"allowed_origins": [VIEWER], "allow_credentials": True, "expose_headers": ["ETag", "Content-Range"], "preflight_max_age": 0},
    "allow-all": {"allow_all_origins": True},
    "allow-all-credentials": {"allow_all_origins": True, "allow_credentials": True, "allow_private_network": True},
    "patterns": {"allowed_origins": ["null", VIEWER], "allowed_origin_patterns": ["https://*.lab.example.org", r"https://tiles[0-9]+\.example\.net"],
                 "allow_methods": ["GET", "OPTIONS"], "allow_headers": ["accept", "range"], "allow_private_network": True},
    "file-and-paths": {"allowed_origins": ["file://", VIEWER], "allowed_origin_patterns": [r"https?://[^/]+\.example\.org(?::\d+)?"],
                       "urls_regex": "/ome_seadragon/deepzoom/"},
}
ORIGINS = [
    None, VIEWER, "http://localhost:8000", "https://evil.example", "null", "http://viewer.example.org",
    "https://viewer.example.org:443", "http://localhost:80", "https://a.lab.example.org", "https://lab.example.org",
    "https://tiles7.example.net", "https://tiles7.example.net.evil.com", "https://x.a.lab.example.org:8443",
    # Not serialised origins, read as urlsplit reads them.
    "foo", "https://viewer.example.org/path", "https://", "http://exa mple.org", "HTTPS://viewer.example.org",
    "https://viewer.example.org?x", "http://[::1", "http://[::1]:8000", "http://[1.2.3.4]", "http://[v1.x]", "http://[fe80::1%eth0]",
    "https://a.lab.example.org/", "//viewer.example.org", "file://", "file:///home/x", "null/x", "tiles7.example.net",
    "https://tiles7.example.net#f", "https://viewer.\texample.org",
]
REQUESTS = [
    ("GET", {}), ("HEAD", {}), ("OPTIONS", {}),
    ("OPTIONS", {"Access-Control-Request-Method": "GET"}),
    ("OPTIONS", {"Access-Control-Request-Method": ""}),
    ("OPTIONS", {"Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "x-custom, range"}),
    ("OPTIONS", {"Access-Control-Request-Method": "GET", "Access-Control-Request-Private-Network": "true"}),
    ("GET", {"Access-Control-Request-Private-Network": "true"}),
]
UPSTREAM_PATH = "/ome_seadragon/deepzoom/get/1.dzi"
PATH = "/tiles/{}" + UPSTREAM_PATH
LISTS = {"vary", "access-control-allow-methods", "access-control-allow-headers", "access-control-expose-headers"}


def cors_headers(pairs):
    out = {}
    for name, value in pairs:
        name = name.lower()
        if name.startswith("access-control-") or name == "vary":
            if name in LISTS:
                items = [v.strip() for v in value.split(",") if v.strip()]
                out[name] = [v.lower() for v in items] if name == "vary" else items
            else:
                out[name] = value
    return out


bed = TileBed(sys.argv[1])
client = Client()
compared = disagreements = with_allow = 0
try:
    for policy_name, cors in POLICIES.items():
        body = {"upstream": f"http://127.0.0.1:{upstream.server_address[1]}", "django": {"cors_headers_version": "4.9.0"},
                "cors": dict(cors, mode="compatible")}
        status, _ = bed.api("PUT", f"/deployments/{policy_name}", body)
        assert status in (200, 201), status
        fragment = bed.get(f"/api/v1/deployments/{policy_name}/render/settings.py",
                           {"Authorization": "Bearer tilebed-admin"})[2].decode()
        namespace = {"INSTALLED_APPS": [], "MIDDLEWARE": []}
        exec(fragment, namespace)
        cors_settings = {k: v for k, v in namespace.items() if k.startswith("CORS_")}
        with override_settings(**cors_settings):
            for origin in ORIGINS:
                for method, extra in REQUESTS:
                    headers = dict(extra)
                    if origin is not None:
                        headers["Origin"] = origin
                    _, corsd_headers, _ = bed.get(PATH.format(policy_name), headers, method=method)
                    ours = cors_headers(corsd_headers.items())
                    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
                    response = client.generic(method, UPSTREAM_PATH, **meta)
                    theirs = cors_headers(response.items())
                    compared += 1
                    with_allow += "access-control-allow-origin" in theirs
                    if ours != theirs:
                        disagreements += 1
                        if disagreements <= 15:
                            print(f"DIFF {policy_name} {method} {extra} origin={origin!r}\n  corsd:  {ours}\n  django: {theirs}")
finally:
    bed.close()
    upstream.shutdown()

print(f"cors differential oracle: {compared} requests over {len(POLICIES)} policies ({with_allow} allowed by django), {disagreements} disagreements")
sys.exit(1 if disagreements or compared < 300 or with_allow < 100 else 0)
