#!/usr/bin/env python3
"""10,000 concurrent long-polls held open on loopback (bounded: one change, at most 120 s).

Starts the given corsd (release build), creates a deployment and an agent token, opens N
keep-alive connections that each send GET …/renders?wait=300s with If-None-Match naming the
current set (so every one is parked), then measures corsd while they wait (RSS, CPU over 10 s
idle, from /proc) and, after one change through the API, the time until every waiter has its
200. Targets (#13): RSS < 200 MB, idle CPU ~ 0, all woken within 1 s.
Usage: bench/longpoll.py CORSD_BINARY [N=10000]  -> prints a Markdown table row set."""
import asyncio, json, os, re, resource, subprocess, sys, tempfile, threading, time, urllib.request

binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
assert hard >= n + 100, f"need an open-file limit above {n}: hard limit is {hard}"
work = tempfile.mkdtemp(prefix="corsd-longpoll-")
proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--db", f"{work}/c.sqlite",
                         "--max-connections", str(n + 50)], env={**os.environ, "CORSD_ADMIN_TOKEN": "bench"},
                        stderr=subprocess.PIPE, text=True)
port = None
for line in proc.stderr:
    m = re.search(r"listening on [\d.]+:(\d+)", line)
    if m:
        port = int(m.group(1)); break
assert port, "corsd did not start"
threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # keep draining its log


def api(method, path, body=None, token="bench"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


doc = {"upstream": "http://127.0.0.1:4080", "limits": [{"domain": "omero-web", "type": "-", "item": "nofile", "value": 65536}]}
api("PUT", "/deployments/omero-prod", doc)
_, headers, _ = api("GET", "/deployments/omero-prod/renders")
etag = headers["ETag"]
secret = json.loads(api("POST", "/tokens", {"name": "agents", "scope": "agent:omero-prod"})[2])["secret"]


def rss_kb():
    return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{proc.pid}/status").read()).group(1))


def cpu_ticks():
    f = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def parked():
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return int(float(re.search(rb"^corsd_long_polls ([\d.]+)", r.read(), re.M).group(1)))


rss_before = rss_kb()
woken = []


async def poll(i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"GET /api/v1/deployments/omero-prod/renders?wait=300s HTTP/1.1\r\nHost: corsd\r\n"
                  f"Authorization: Bearer {secret}\r\nIf-None-Match: {etag}\r\n\r\n").encode())
    await writer.drain()
    status = await reader.readline()
    woken.append((time.monotonic(), status.split()[1]))
    writer.close()


async def main():
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(poll(i)))
        if i % 500 == 499:
            await asyncio.sleep(0.05)  # pace the connects so the accept backlog keeps up
    deadline = time.monotonic() + 60
    while parked() < n and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    held = parked()
    rss = rss_kb()
    t0 = cpu_ticks(); await asyncio.sleep(10); idle_ticks = cpu_ticks() - t0
    start = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, lambda: api("PUT", "/deployments/omero-prod",
                                                                          {**doc, "limits": [{**doc["limits"][0], "value": 131072}]}))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    times = sorted(t - start for t, _ in woken)
    ok = sum(1 for _, s in woken if s == b"200")
    hz = os.sysconf("SC_CLK_TCK")
    print(f"| long-polls held | {held} of {n} |")
    print(f"| corsd RSS before / holding them | {rss_before / 1024:.1f} MB / {rss / 1024:.1f} MB (target < 200 MB) |")
    print(f"| corsd CPU while they wait (10 s) | {idle_ticks / hz / 10 * 100:.2f} % of one core (target ≈ 0) |")
    print(f"| one change → every waiter has its answer | {ok} × 200; p50 {times[len(times) // 2] * 1000:.0f} ms, "
          f"p99 {times[int(len(times) * 0.99)] * 1000:.0f} ms, all {times[-1] * 1000:.0f} ms (target: all within 1 s) |")

try:
    asyncio.run(main())
finally:
    proc.terminate(); proc.wait(timeout=20)
