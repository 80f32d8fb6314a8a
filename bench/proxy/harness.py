#!/usr/bin/env python3
"""The tile proxy side by side with nginx, on loopback, in one run (see bench/README.md).

Starts: nginx as the upstream in three forms (plain: ETag and Last-Modified; novalidators:
neither, what OMERO.web sends; expires: `expires 1h`), nginx as a CORS proxy in front of each
(`map`, `always` headers, upstream keepalive), nginx with `proxy_cache`, nginx answering
preflights with `return 204`, a Django + django-cors-headers app under gunicorn, and corsd with
a deployment per upstream (`plain`, `noval` without a cache policy, `noval-ttl` with one,
`expires` cached by the upstream's max-age); for TLS, nginx and a second corsd serving HTTPS
with the same self-signed ECDSA P-256 certificate in front of the no-validator upstream (kept-
alive connections, and a new connection per request). Drives each pair with wrk in interleaved
rounds and writes bench/proxy/RESULTS.md. Every process is stopped at the end; every load is bounded.

Usage: harness.py CORSD_BINARY DJANGO_VENV_BIN [--seconds S] [--rounds N] [--soak S] [--smoke]
"""
import argparse
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "bench-admin"
ORIGIN = "https://viewer.example.org"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


class Bed:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="corsd-bench-")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.ports = {}

    # --- fixtures ---------------------------------------------------------------------------
    def make_pyramid(self):
        root = os.path.join(self.dir, "www", "ome_seadragon", "deepzoom", "get")
        os.makedirs(root)
        noise = os.path.join(self.dir, "noise.v")
        image = os.path.join(self.dir, "slide.png")
        size = "2048" if self.args.smoke else "4096"
        # Noise compresses badly, so the JPEG tiles are about the size of real microscopy tiles.
        subprocess.run(["vips", "gaussnoise", noise, size, size, "--mean", "128", "--sigma", "30"], check=True)
        subprocess.run(["vips", "cast", noise, image, "uchar"], check=True)
        subprocess.run(["vips", "dzsave", image, os.path.join(root, "1"), "--suffix", ".jpeg[Q=60]", "--tile-size", "256", "--overlap", "0"], check=True)
        levels = sorted(int(d) for d in os.listdir(os.path.join(root, "1_files")) if d.isdigit())
        top = os.path.join(root, "1_files", str(levels[-1]))
        tiles = sorted(os.listdir(top))[:256]
        self.tile_paths = [f"ome_seadragon/deepzoom/get/1_files/{levels[-1]}/{t}" for t in tiles]
        self.tile_bytes = statistics.mean(os.path.getsize(os.path.join(top, t)) for t in tiles)
        with open(os.path.join(self.dir, "paths.txt"), "w") as f:
            f.write("".join(p + "\n" for p in self.tile_paths))

    # --- servers ----------------------------------------------------------------------------
    def start(self, name, argv, env=None, port=None):
        log = open(os.path.join(self.dir, f"{name}.log"), "w")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append(proc)
        if port:
            wait_port(port)
        return proc

    def start_nginx(self):
        self.cert, self.key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True)
        for name in ["plain", "noval", "expires", "cors_plain", "cors_noval", "cors_expires", "cache", "preflight", "tls_noval"]:
            self.ports[name] = free_port()
        p = self.ports
        www = os.path.join(self.dir, "www")
        cors = f"""
            add_header Access-Control-Allow-Origin $cors_origin always;
            add_header Vary Origin always;"""
        proxy = """
            proxy_http_version 1.1;
            proxy_set_header Connection "";"""
        conf = f"""
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types {{ image/jpeg jpeg; application/xml dzi; }}
    client_body_temp_path {self.dir}/tmp; proxy_temp_path {self.dir}/tmp; fastcgi_temp_path {self.dir}/tmp;
    uwsgi_temp_path {self.dir}/tmp; scgi_temp_path {self.dir}/tmp;
    proxy_cache_path {self.dir}/cache keys_zone=tiles:10m max_size=1g inactive=1h;
    map $http_origin $cors_origin {{ default ""; "{ORIGIN}" $http_origin; }}
    upstream plain {{ server 127.0.0.1:{p['plain']}; keepalive 64; }}
    upstream noval {{ server 127.0.0.1:{p['noval']}; keepalive 64; }}
    upstream expires {{ server 127.0.0.1:{p['expires']}; keepalive 64; }}
    server {{ listen 127.0.0.1:{p['plain']}; root {www}; }}
    server {{ listen 127.0.0.1:{p['noval']}; root {www}; etag off; if_modified_since off; add_header Last-Modified ""; }}
    server {{ listen 127.0.0.1:{p['expires']}; root {www}; expires 1h; }}
    server {{ listen 127.0.0.1:{p['cors_plain']}; location /tiles/plain/ {{ {cors} {proxy} proxy_pass http://plain/; }} }}
    server {{ listen 127.0.0.1:{p['cors_noval']}; location /tiles/noval/ {{ {cors} {proxy} proxy_pass http://noval/; }} }}
    server {{ listen 127.0.0.1:{p['cors_expires']}; location /tiles/expires/ {{ {cors} {proxy} proxy_pass http://expires/; }} }}
    server {{ listen 127.0.0.1:{p['tls_noval']} ssl; ssl_certificate {self.cert}; ssl_certificate_key {self.key};
        ssl_protocols TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers on; ssl_session_cache shared:SSL:10m;
        location /tiles/noval/ {{ {cors} {proxy} proxy_pass http://noval/; }} }}
    server {{ listen 127.0.0.1:{p['cache']}; location /tiles/expires/ {{ {cors} {proxy}
        proxy_cache tiles; proxy_cache_valid 200 1h; proxy_pass http://expires/; }} }}
    server {{ listen 127.0.0.1:{p['preflight']}; location /tiles/ {{
        if ($request_method = OPTIONS) {{
            add_header Access-Control-Allow-Origin $cors_origin always;
            add_header Access-Control-Allow-Methods "GET, OPTIONS" always;
            add_header Access-Control-Max-Age 86400 always;
            add_header Vary Origin always;
            return 204;
        }}
        return 404; }} }}
}}
"""
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(conf)
        self.start("nginx", ["nginx", "-c", os.path.join(self.dir, "nginx.conf"), "-p", self.dir])
        for name in self.ports:
            wait_port(self.ports[name])

    def start_corsd_process(self, name, tls=False):
        port = free_port()
        argv = [self.args.corsd, "serve", "--listen", f"127.0.0.1:{port}", "--db", os.path.join(self.dir, f"{name}.sqlite"), "--log-level", "warning"]
        if tls:
            argv += ["--tls-cert", self.cert, "--tls-key", self.key]
        proc = self.start(name, argv, env={**os.environ, "CORSD_ADMIN_TOKEN": TOKEN}, port=port)
        return proc, port

    def start_corsd(self):
        self.corsd, port = self.start_corsd_process("corsd")
        self.ports["corsd"] = port
        # The TLS side: its own corsd (a listener serves HTTPS or HTTP, not both), one deployment.
        self.corsd_tls, self.ports["corsd_tls"] = self.start_corsd_process("corsd-tls", tls=True)
        for target, name, upstream, cache in [("corsd", "plain", "plain", None), ("corsd", "noval", "noval", None), ("corsd", "noval-ttl", "noval", {"tiles_ttl_s": 3600}),
                                              ("corsd", "expires", "expires", None), ("corsd_tls", "noval", "noval", None)]:
            body = {"upstream": f"http://127.0.0.1:{self.ports[upstream]}", "cors": {"allowed_origins": [ORIGIN], "allow_methods": ["GET", "OPTIONS"]}}
            if cache:
                body["cache"] = cache
            c = self.connection(self.ports[target])
            c.request("PUT", f"/api/v1/deployments/{name}", json.dumps(body), {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
            r = c.getresponse()
            assert r.status in (200, 201), r.read()
            c.close()

    def connection(self, port):
        """HTTP, or HTTPS (the bench's own self-signed certificate) for the TLS ports."""
        if port in (self.ports.get("tls_noval"), self.ports.get("corsd_tls")):
            return http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ssl.create_default_context(cafile=self.cert))
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def start_django(self):
        port = free_port()
        self.ports["django"] = port
        env = {**os.environ, "TILE_ROOT": os.path.join(self.dir, "www"), "PYTHONPATH": HERE}
        self.start("gunicorn", [os.path.join(self.args.django_venv, "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
                                "--log-level", "warning", "djangoapp:application"], env=env, port=port)

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- measuring --------------------------------------------------------------------------
    def fetch(self, port, path, headers=None, method="GET"):
        c = self.connection(port)
        c.request(method, path, headers={"Origin": ORIGIN, **(headers or {})})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body

    def etag_file(self, port, prefix):
        lines = []
        for path in self.tile_paths:
            status, headers, _ = self.fetch(port, prefix + path)
            assert status == 200 and "etag" in headers, (port, prefix, status, headers)
            lines.append(f"{path} {headers['etag']}\n")
        name = os.path.join(self.dir, f"etags-{port}.txt")
        with open(name, "w") as f:
            f.write("".join(lines))
        return name

    def wrk(self, port, prefix, connections, mode="", paths=None):
        scheme = "https" if port in (self.ports.get("tls_noval"), self.ports.get("corsd_tls")) else "http"
        argv = ["wrk", "-t2", f"-c{connections}", f"-d{self.args.seconds}s", "--latency", "--timeout", "10s",
                "-s", os.path.join(HERE, "tiles.lua"), f"{scheme}://127.0.0.1:{port}", "--", paths or os.path.join(self.dir, "paths.txt"), prefix]
        if mode:
            argv.append(mode)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=self.args.seconds + 60).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        def pct(p):
            m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
            value, unit = float(m.group(1)), m.group(2)
            return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if errors:
            raise SystemExit(f"wrk saw {errors.group(1)} error responses from port {port}{prefix}:\n{out}")
        return rps, pct(50), pct(99)

    def rss_and_fds(self, pid):
        with open(f"/proc/{pid}/status") as f:
            rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) / 1024
        return rss, len(os.listdir(f"/proc/{pid}/fd"))


def check(bed):
    """Every target answers a tile with CORS before anything is timed."""
    p = bed.ports
    first = bed.tile_paths[0]
    for port, prefix in [(p["cors_plain"], "/tiles/plain/"), (p["cors_noval"], "/tiles/noval/"), (p["cache"], "/tiles/expires/"),
                         (p["corsd"], "/tiles/plain/"), (p["corsd"], "/tiles/noval/"), (p["corsd"], "/tiles/noval-ttl/"), (p["corsd"], "/tiles/expires/"),
                         (p["django"], "/"), (p["tls_noval"], "/tiles/noval/"), (p["corsd_tls"], "/tiles/noval/")]:
        status, headers, body = bed.fetch(port, prefix + first)
        assert status == 200 and headers.get("access-control-allow-origin") == ORIGIN and len(body) > 1000, (port, prefix, status, headers)
    status, headers, _ = bed.fetch(p["corsd"], "/tiles/plain/" + first, {"Access-Control-Request-Method": "GET"}, method="OPTIONS")
    assert status == 200 and headers.get("access-control-allow-origin") == ORIGIN, (status, headers)
    status, headers, _ = bed.fetch(p["preflight"], "/tiles/plain/" + first, {"Access-Control-Request-Method": "GET"}, method="OPTIONS")
    assert status == 204 and headers.get("access-control-allow-origin") == ORIGIN, (status, headers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corsd")
    ap.add_argument("django_venv")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--soak", type=int, default=600, help="seconds of full load for the RSS growth check")
    ap.add_argument("--smoke", action="store_true", help="keep the harness working (CI): tiny run, results to stdout only")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--only", help="run only the cases whose label contains this text (e.g. TLS); results to stdout only")
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.rounds, args.soak = 1, 1, 2
    if args.only:
        args.soak = 0
    # The idle-connection check holds 1,000 sockets in this process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    bed = Bed(args)
    try:
        run(bed, args)
    finally:
        bed.close()


def run(bed, args):
    bed.make_pyramid()
    bed.start_nginx()
    bed.start_corsd()
    bed.start_django()
    check(bed)
    p = bed.ports
    # Warm both caches.
    for path in bed.tile_paths:
        bed.fetch(p["cache"], "/tiles/expires/" + path)
        bed.fetch(p["corsd"], "/tiles/expires/" + path)
        bed.fetch(p["corsd"], "/tiles/noval-ttl/" + path)
    etags_nginx = bed.etag_file(p["cache"], "/tiles/expires/")
    etags_corsd = bed.etag_file(p["corsd"], "/tiles/expires/")
    comparisons = [
        # (label, baseline label, baseline (port, prefix, mode, paths), corsd (port, prefix, mode, paths), connections)
        ("upstream with validators, no freshness", "nginx CORS proxy", (p["cors_plain"], "/tiles/plain/", "", None), (p["corsd"], "/tiles/plain/", "", None)),
        ("upstream without validators (OMERO.web)", "nginx CORS proxy", (p["cors_noval"], "/tiles/noval/", "", None), (p["corsd"], "/tiles/noval/", "", None)),
        ("cached tiles (upstream max-age)", "nginx proxy_cache", (p["cache"], "/tiles/expires/", "", None), (p["corsd"], "/tiles/expires/", "", None)),
        ("cached tiles (corsd TTL policy)", "nginx proxy_cache", (p["cache"], "/tiles/expires/", "", None), (p["corsd"], "/tiles/noval-ttl/", "", None)),
        ("304 from the cache (If-None-Match)", "nginx proxy_cache", (p["cache"], "/tiles/expires/", "etag", etags_nginx), (p["corsd"], "/tiles/expires/", "etag", etags_corsd)),
        ("preflight", "nginx return 204", (p["preflight"], "/tiles/plain/", "preflight", None), (p["corsd"], "/tiles/plain/", "preflight", None)),
        ("TLS, kept-alive connections (no validators)", "nginx TLS CORS proxy", (p["tls_noval"], "/tiles/noval/", "", None), (p["corsd_tls"], "/tiles/noval/", "", None)),
        ("TLS, a new connection per request", "nginx TLS CORS proxy", (p["tls_noval"], "/tiles/noval/", "close", None), (p["corsd_tls"], "/tiles/noval/", "close", None)),
    ]
    if args.only:
        comparisons = [c for c in comparisons if args.only in c[0]]
    rows = []
    for label, base_label, base, mine in comparisons:
        for connections in ([64, 512] if "preflight" not in label and "304" not in label and "TLS" not in label else [64]):
            b, c = [], []
            for r in range(args.rounds):
                b.append(bed.wrk(base[0], base[1], connections, base[2], base[3]))
                c.append(bed.wrk(mine[0], mine[1], connections, mine[2], mine[3]))
                print(f"{label} -c{connections} round {r + 1}: {base_label} {b[-1][0]:.0f} req/s, corsd {c[-1][0]:.0f} req/s", file=sys.stderr)
            rows.append((label, base_label, connections, b, c))
    django = bed.wrk(p["django"], "/", 64)
    print(f"django + gunicorn: {django[0]:.0f} req/s", file=sys.stderr)

    idle = idle_connections(bed)

    # RSS growth under full load.
    start_rss, _ = bed.rss_and_fds(bed.corsd.pid)
    soak_samples = []
    deadline = time.monotonic() + args.soak
    saved = args.seconds
    args.seconds = max(1, min(60, args.soak))
    while time.monotonic() < deadline:
        bed.wrk(p["corsd"], "/tiles/noval/", 64)
        soak_samples.append(bed.rss_and_fds(bed.corsd.pid)[0])
    args.seconds = saved

    write_results(bed, args, rows, django, idle, start_rss, soak_samples)


def idle_connections(bed, count=1000):
    """RSS and fds of a fresh corsd (empty cache) holding `count` idle keep-alive connections,
    each of which has been answered once."""
    proc, port = bed.start_corsd_process("corsd-idle")
    before = bed.rss_and_fds(proc.pid)
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
            socks.append(s)
        for s in socks:
            s.settimeout(10)
            assert s.recv(4096).startswith(b"HTTP/1.1 200"), "corsd did not answer an idle-test connection"
        held = bed.rss_and_fds(proc.pid)
    finally:
        for s in socks:
            s.close()
    proc.terminate()
    proc.wait(timeout=10)
    return before, held


def median_of(samples, i):
    return statistics.median(s[i] for s in samples)


def write_results(bed, args, rows, django, idle, start_rss, soak):
    lines = []
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    nginx_version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    lines.append("# Tile proxy: corsd side by side with nginx")
    lines.append("")
    lines.append(f"Run {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} on {os.cpu_count()} cores ({cpu}), {platform.platform()}; {nginx_version}, 1 worker,"
                 f" `sendfile on; tcp_nopush on`; corsd release build. wrk -t2, {args.seconds} s per run, {args.rounds} interleaved rounds"
                 f" (baseline, corsd, baseline, corsd…); 256 DeepZoom tiles of {bed.tile_bytes / 1000:.1f} kB on average (vips dzsave), allowed Origin on every request.")
    lines.append("")
    lines.append("| case | baseline | -c | baseline req/s (rounds) | corsd req/s (rounds) | ratio per round | ratio (medians) | p50 ms base / corsd | p99 ms base / corsd |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for label, base_label, c, b, m in rows:
        ratio = median_of(m, 0) / median_of(b, 0)
        per_round = " ".join(f"{y[0] / x[0]:.2f}" for x, y in zip(b, m))
        lines.append(f"| {label} | {base_label} | {c} | {' '.join(f'{x[0]:.0f}' for x in b)} | {' '.join(f'{x[0]:.0f}' for x in m)} | {per_round} | **{ratio:.2f}** |"
                     f" {median_of(b, 1):.2f} / {median_of(m, 1):.2f} | {median_of(b, 2):.2f} / {median_of(m, 2):.2f} |")
    lines.append("")
    lines.append(f"For scale, Django 4.2 + django-cors-headers 4.9 under gunicorn (2 sync workers) serving the same tiles from disk: {django[0]:.0f} req/s,"
                 f" p50 {django[1]:.2f} ms, p99 {django[2]:.2f} ms (-c64).")
    lines.append("")
    (rss0, fds0), (rss1, fds1) = idle
    lines.append(f"A fresh corsd (empty cache) holding 1,000 open idle keep-alive connections: RSS {rss1:.1f} MB ({rss0:.1f} MB before), {fds1} fds ({fds0} before)."
                 f" Target < 64 MB: **{'met' if rss1 < 64 else 'not met'}**.")
    if soak:
        growth = soak[-1] - soak[0]
        lines.append(f"RSS under full load (wrk -c64 on the uncached proxy path, one sample per {min(60, args.soak)} s run) for {args.soak} s: {start_rss:.1f} MB before,"
                     f" samples {', '.join(f'{s:.1f}' for s in soak[:3])} … {', '.join(f'{s:.1f}' for s in soak[-3:])} MB"
                     f" (max {max(soak):.1f}); last minus first sample {growth:+.1f} MB: **{'no growth' if growth < 4 else 'GROWS'}**.")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.smoke and not args.only:
        write_generated(args.out, text)


BEGIN, END = "<!-- harness output: begin -->", "<!-- harness output: end -->"


def write_generated(path, text):
    """Replaces the harness's part of RESULTS.md and keeps the rest (the record of each
    optimisation's before and after, written by hand)."""
    old = open(path).read() if os.path.exists(path) else f"{BEGIN}\n{END}\n"
    head, _, rest = old.partition(BEGIN)
    _, _, tail = rest.partition(END)
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{text}{END}{tail}")


if __name__ == "__main__":
    main()
