#!/usr/bin/env python3
"""Crash durability: acknowledged writes survive kill -9.

A writer issues writes (create a deployment, then add origins to it) against the real corsd
while the server is SIGKILLed at random moments and restarted on the same database, CYCLES
times. Every write that got its 2xx must be there afterwards. Loopback only; bounded.
Usage: durability.py CORSD_BINARY CYCLES
"""
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

BINARY, CYCLES = sys.argv[1], int(sys.argv[2])
TOKEN = "durability-admin"
workdir = tempfile.mkdtemp(prefix="corsd-durability-")
db = os.path.join(workdir, "corsd.sqlite")


def start():
    proc = subprocess.Popen([BINARY, "serve", "--listen", "127.0.0.1:0", "--db", db],
                            env={**os.environ, "CORSD_ADMIN_TOKEN": TOKEN},
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"listening on [\d.]+:(\d+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
            return proc, int(m.group(1))
    raise SystemExit("corsd did not start")


def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


acked_deployments = set()
acked_origins = {}  # deployment -> set of origins
counter = 0

for cycle in range(CYCLES):
    proc, port = start()
    stop = threading.Event()

    def writer():
        global counter
        while not stop.is_set():
            counter += 1
            name = f"d{counter // 5}"
            try:
                if name not in acked_deployments:
                    status, _ = call(port, "POST", "/api/v1/deployments", {"name": name, "upstream": "http://127.0.0.1:4080"})
                    if status in (201, 409):  # 409: an earlier unacknowledged create did commit
                        acked_deployments.add(name)
                else:
                    origin = f"https://o{counter}.example"
                    status, _ = call(port, "POST", f"/api/v1/deployments/{name}/origins", {"origin": origin})
                    if status == 200:
                        acked_origins.setdefault(name, set()).add(origin)
            except (OSError, http.client.HTTPException):
                return  # the server died under us: this write is unacknowledged

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(random.uniform(0.1, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    t.join(timeout=10)

proc, port = start()
status, data = call(port, "GET", "/api/v1/deployments")
stored = {d["name"]: set(d["cors"]["allowed_origins"]) for d in json.loads(data)["deployments"]}
missing = sorted(acked_deployments - stored.keys())
lost = {n: sorted(o - stored.get(n, set())) for n, o in acked_origins.items() if o - stored.get(n, set())}
proc.terminate()
proc.wait()
writes = len(acked_deployments) + sum(len(o) for o in acked_origins.values())
print(f"durability: {CYCLES} kill -9 cycles, {writes} acknowledged writes, "
      f"{len(missing)} deployments and {sum(len(v) for v in lost.values())} origins lost")
if missing or lost:
    print("missing deployments:", missing[:10], "lost origins:", dict(list(lost.items())[:5]))
    sys.exit(1)
