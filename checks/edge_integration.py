#!/usr/bin/env python3
"""Edge mode on loopback with real processes: the central corsd and two `corsd edge`s in front
of a real upstream (nginx serving a vips dzsave pyramid, tilebed.py). Nothing is a double.
Usage: edge_integration.py CORSD_BINARY"""
import json
import os
import signal
import sys
import time

from tilebed import TileBed

VIEWER, OTHER, EVIL = "https://viewer.example.org", "https://other.example.org", "https://evil.example"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def until(condition, timeout=15.0):
    """Waits (bounded) for a condition; returns the seconds it took, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


bed = TileBed(sys.argv[1])
try:
    bed.deployment("omero", allowed_origins=[VIEWER], mode="reject")
    tile = f"/tiles/omero/ome_seadragon/deepzoom/get/1_files/{bed.levels[-1]}/0_0.jpeg"
    status, created = bed.api("POST", "/tokens", {"name": "edges", "scope": "agent:omero"})
    token_file = os.path.join(bed.dir, "edge.token")
    with open(token_file, "w") as f:
        f.write(created["secret"])

    def allowed(port, origin):
        s, h, _ = bed.get(tile, {"Origin": origin}, port=port)
        return s == 200 and h.get("access-control-allow-origin") == origin

    def refused(port, origin):
        return bed.get(tile, {"Origin": origin}, port=port)[0] == 403

    def ready(port):
        try:
            return bed.get("/readyz", port=port)[0] == 200
        except OSError:
            return False

    # edge2 also installs the host's limits.conf (one corsd per host: --agent-config).
    host_dir = os.path.join(bed.dir, "host2")
    os.makedirs(host_dir)
    agent_config = os.path.join(bed.dir, "agent2.json")
    with open(agent_config, "w") as f:
        json.dump({"server": f"http://127.0.0.1:{bed.port}", "token_file": token_file, "deployment": "omero", "host": "edge2-files",
                   "files": [{"format": "limits.conf", "dest": os.path.join(host_dir, "limits.conf")}]}, f)
    edges = {"edge1": bed.start_edge("edge1", ["omero"], token_file), "edge2": bed.start_edge("edge2", ["omero"], token_file, extra=["--agent-config", agent_config])}
    ports = {name: port for name, (_, port) in edges.items()}
    check(all(until(lambda p=p: ready(p)) is not None for p in ports.values()), "both edges ready after their first sync")
    check(all(allowed(p, VIEWER) and refused(p, EVIL) for p in ports.values()), "both edges serve the allowed origin and refuse a foreign one, in front of nginx")
    check(all(bed.get("/api/v1/deployments", port=p)[0] == 404 for p in ports.values()), "the management API is not served at the edge")

    # A policy change at the centre reaches both edges.
    bed.deployment("omero", allowed_origins=[VIEWER, OTHER], mode="reject")
    took = [until(lambda p=p: allowed(p, OTHER), timeout=10) for p in ports.values()]
    check(all(t is not None for t in took), f"a policy change at the centre is enforced by both edges (after {[round(t, 3) if t else None for t in took]} s)")

    status, hosts = bed.api("GET", "/deployments/omero/hosts")
    by_name = {h["host"]: h for h in hosts["hosts"]}
    check(until(lambda: os.path.exists(os.path.join(host_dir, "limits.conf"))) is not None, "edge2's agent part installed limits.conf on its host")
    check(set(by_name) >= {"edge1", "edge2"} and all(by_name[e]["revision"] == 2 and by_name[e]["in_sync"] for e in ("edge1", "edge2")),
          f"the centre lists both edges with the revision they enforce: {[(h['host'], h['revision'], h['in_sync']) for h in hosts['hosts']]}")

    # The centre goes down: the edges keep serving the last policy.
    central_port = bed.port
    bed.corsd.send_signal(signal.SIGKILL)
    bed.corsd.wait()
    check(all(allowed(p, VIEWER) and allowed(p, OTHER) and refused(p, EVIL) for p in ports.values()), "centre killed: the edges keep the last policy")
    st = json.loads(bed.get("/edge/status", port=ports["edge1"])[2])
    check(until(lambda: not json.loads(bed.get("/edge/status", port=ports["edge1"])[2])["centre_reachable"], timeout=90) is not None,
          "the edge's status says the centre is unreachable")

    # An edge restarted while the centre is down serves from its snapshot.
    proc1, port1 = edges["edge1"]
    proc1.send_signal(signal.SIGTERM)
    proc1.wait(timeout=20)
    proc1, _ = bed.start_edge("edge1", ["omero"], token_file, port=port1)
    check(until(lambda: ready(port1), timeout=10) is not None and allowed(port1, OTHER) and refused(port1, EVIL),
          "an edge restarted while the centre is down serves from its snapshot at once")

    # The centre comes back; a change made there reaches the edges.
    bed.start_corsd_on(central_port)
    bed.deployment("omero", allowed_origins=[VIEWER], mode="reject")
    check(all(until(lambda p=p: refused(p, OTHER), timeout=60) is not None for p in ports.values()), "the centre back: a change made there reaches both edges")

    # A deployment deleted at the centre stops being served at the edges.
    status, _ = bed.api("DELETE", "/deployments/omero")
    check(status == 204, "deployment deleted at the centre")
    check(all(until(lambda p=p: bed.get(tile, {"Origin": VIEWER}, port=p)[0] == 404, timeout=60) is not None for p in ports.values()),
          "a deleted deployment is no longer served at the edges")
finally:
    bed.close()

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all edge checks passed")
