#!/usr/bin/env python3
"""Metrics and logs as Prometheus and a log shipper read them. The real corsd in front of the
tile bed (nginx serving a vips dzsave pyramid, loopback only) with --log-format json and an
access log; /metrics is parsed by prometheus_client's own text parser (the reference Python
client, from PyPI), the log lines by json. Nothing here is a double.
Usage: observability.py CORSD_BINARY"""
import json
import os
import re
import signal
import socket
import sys
import tempfile

from prometheus_client.parser import text_string_to_metric_families

from tilebed import TOKEN, TileBed

VIEWER = "https://viewer.example.org"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


access_log = os.path.join(tempfile.mkdtemp(prefix="corsd-observability-"), "access.log")
bed = TileBed(sys.argv[1], corsd_args=["--log-format", "json", "--access-log", access_log, "--upstream-connect-timeout", "1"])
try:
    bed.deployment("omero", allowed_origins=[VIEWER], mode="reject")
    bed.deployment("down", upstream_port=closed_port(), allowed_origins=[VIEWER], mode="reject")
    status, created = bed.api("POST", "/tokens", {"name": "dashboard", "scope": "read"})
    secret = created["secret"]
    tile = f"/ome_seadragon/deepzoom/get/1_files/{bed.levels[-1]}/0_0.jpeg"
    check(bed.get("/tiles/omero/ome_seadragon/deepzoom/get/1.dzi", {"Origin": VIEWER})[0] == 200, "a .dzi through corsd")
    check(bed.get("/tiles/omero" + tile, {"Origin": VIEWER})[0] == 200, "a tile through corsd")
    for _ in range(3):
        bed.get("/tiles/omero" + tile, {"Origin": "https://evil.example"})
    bed.get("/tiles/omero" + tile, {"Origin": VIEWER, "Access-Control-Request-Method": "GET"}, method="OPTIONS")
    check(bed.get("/tiles/down" + tile, {"Origin": VIEWER})[0] == 502, "a deployment whose upstream is down: 502")
    bed.get("/some/raw/path/4711")
    check(bed.get("/readyz")[0] == 200, "/readyz: 200")

    status, headers, body = bed.get("/metrics")
    check(status == 200 and headers.get("content-type", "").startswith("text/plain; version=0.0.4"), "/metrics: 200 in the text format")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    expected = {
        "corsd_http_requests": "counter", "corsd_http_request_duration_seconds": "histogram",
        "corsd_cors_decisions": "counter", "corsd_tile_cache_misses": "counter",
        "corsd_tile_cache_bytes": "gauge", "corsd_upstream_errors": "counter",
        "corsd_upstream_request_duration_seconds": "histogram", "corsd_connections": "gauge",
        "corsd_open_fds": "gauge", "corsd_fd_limit": "gauge", "corsd_deployment_revision": "gauge", "corsd_build_info": "gauge",
    }
    for name, kind in expected.items():
        check(name in families and families[name].type == kind, f"{name} is a {kind}")

    def samples(family, suffix=""):
        return [s for s in families[family].samples if s.name == family + suffix] if family in families else []

    routes = {s.labels["route"] for s in samples("corsd_http_requests", "_total")}
    with open(os.path.join(os.path.dirname(__file__), "..", "openapi.yaml")) as f:
        templates = set(re.findall(r"^  (/[^:]*):$", f.read(), re.M)) | {"/tiles/{deployment}/{path...}", "unmatched", "rejected"}
    check(routes and routes <= templates, f"route labels are route templates: {sorted(routes)}")
    check(not any("4711" in json.dumps(s.labels) for f in families.values() for s in f.samples), "no raw path in any label")
    refused = [s for s in samples("corsd_cors_decisions", "_total") if s.labels == {"deployment": "omero", "action": "refuse", "rule": "origin_not_allowed"}]
    check(refused and refused[0].value == 3, "three refusals counted by deployment, action and rule")
    check(any(s.labels == {"deployment": "omero", "action": "preflight", "rule": "allowed_origins"} for s in samples("corsd_cors_decisions", "_total")), "a preflight counted")
    check(any(s.labels.get("deployment") == "down" and s.labels.get("kind") == "connect" and s.value == 1 for s in samples("corsd_upstream_errors", "_total")),
          "the failed upstream counted with its kind")
    revision = [s.value for s in samples("corsd_deployment_revision") if s.labels.get("deployment") == "omero"]
    check(revision == [1.0], "deployment revision gauge")
    count = [s.value for s in samples("corsd_upstream_request_duration_seconds", "_count") if s.labels.get("deployment") == "omero"]
    check(count and count[0] >= 2, "upstream durations observed")
    check(any(s.value > 0 for s in samples("corsd_open_fds")), "open descriptors reported")
finally:
    proc = bed.corsd
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    bed.close()

# Logs, read after a clean stop (the access log is flushed then).
lines = [l for l in bed.corsd_stderr if l.strip()]
parsed = []
for l in lines:
    try:
        parsed.append(json.loads(l))
    except ValueError:
        pass
check(lines and len(parsed) == len(lines), f"every stderr line is a JSON object ({len(parsed)}/{len(lines)})")
check(all({"time", "level", "message", "label"} <= p.keys() for p in parsed), "each has time, level, message, label")
changes = [p for p in parsed if p["message"] == "policy changed"]
check(len(changes) == 2 and all({"deployment", "revision", "actor", "changed"} <= c.keys() for c in changes), "one line per policy change, with who and what")
refusals = [p for p in parsed if p["message"] == "origin refused"]
check(len(refusals) == 1 and refusals[0]["origin"] == "https://evil.example", "refused origin logged once (rate-limited)")
check(any(p["message"] == "upstream failed" and "upstream" in p for p in parsed), "upstream failure logged with its address")
with open(access_log) as f:
    access = [json.loads(l) for l in f if l.strip()]
tiles = [a for a in access if a["route"] == "/tiles/{deployment}/{path...}"]
check(len(tiles) == 7, f"one access line per tile request ({len(tiles)})")
check(all({"method", "route", "status", "bytes", "duration_s", "deployment", "origin", "cors_rule"} <= a.keys() for a in tiles), "access lines carry the listed fields")
check(any(a.get("cache") == "miss" for a in tiles), "cache outcome in the access log")
text = "".join(lines) + open(access_log).read()
check(TOKEN not in text and secret not in text, "no token secret in any log")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all observability checks passed")
