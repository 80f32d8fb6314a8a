"""A test bed for the tile proxy, all on loopback: a DeepZoom pyramid made by `vips dzsave`
under the ome_seadragon paths, nginx serving it (adding a CORS header of its own, which corsd
must strip), and the real corsd in front. Used by proxy_integration.py and browser_e2e.py.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

TOKEN = "tilebed-admin"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class TileBed:
    def __init__(self, binary, corsd_args=()):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="corsd-tilebed-")
        os.chmod(self.dir, 0o755)  # nginx workers run as an unprivileged user
        self.procs = []
        self.make_pyramid()
        self.nginx_port = self.start_nginx()
        self.corsd_args = list(corsd_args)
        self.corsd_stderr = []  # every line corsd wrote to stderr, kept for the log checks
        self.corsd, self.port = self.start_corsd()

    # --- upstream -------------------------------------------------------------------------
    def make_pyramid(self):
        root = os.path.join(self.dir, "www", "ome_seadragon", "deepzoom", "get")
        os.makedirs(root)
        image = os.path.join(self.dir, "slide.png")
        # A 1024x768 test image with structure (a sine grating), so tiles differ.
        sines, scaled = os.path.join(self.dir, "sines.v"), os.path.join(self.dir, "scaled.v")
        subprocess.run(["vips", "sines", sines, "1024", "768", "--hfreq", "3", "--vfreq", "2"], check=True)
        subprocess.run(["vips", "linear", sines, scaled, "120", "128"], check=True)
        subprocess.run(["vips", "cast", scaled, image, "uchar"], check=True)
        subprocess.run(["vips", "dzsave", image, os.path.join(root, "1"), "--suffix", ".jpeg", "--tile-size", "254", "--overlap", "1"], check=True)
        self.levels = sorted(int(d) for d in os.listdir(os.path.join(root, "1_files")) if d.isdigit())

    def start_nginx(self):
        port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log {self.dir}/nginx-access.log;
    types {{ image/jpeg jpeg; application/xml dzi; application/json json; }}
    client_body_temp_path {self.dir}/tmp; proxy_temp_path {self.dir}/tmp; fastcgi_temp_path {self.dir}/tmp;
    uwsgi_temp_path {self.dir}/tmp; scgi_temp_path {self.dir}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {self.dir}/www;
        etag on;
        location / {{
            add_header Access-Control-Allow-Origin "https://upstream-says-anything.example" always;
            add_header Cache-Control "no-cache" always;
        }}
    }}
}}
""")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.nginx = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir], stderr=subprocess.DEVNULL)
        self.procs.append(self.nginx)
        wait_port(port)
        return port

    def stop_nginx(self):
        self.nginx.terminate()
        self.nginx.wait(timeout=10)

    # --- corsd ----------------------------------------------------------------------------
    def start_corsd(self):
        proc = subprocess.Popen([self.binary, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(self.dir, "corsd.sqlite")] + self.corsd_args,
                                env={**os.environ, "CORSD_ADMIN_TOKEN": TOKEN}, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            self.corsd_stderr.append(line)
            m = re.search(r"listening on [\d.]+:(\d+)", line)
            if m:
                threading.Thread(target=lambda: self.corsd_stderr.extend(proc.stderr), daemon=True).start()
                self.procs.append(proc)
                return proc, int(m.group(1))
        raise SystemExit("corsd did not start")

    def start_corsd_on(self, port, db=None):
        """A central corsd on a given port (a restart), on this bed's database by default."""
        proc = subprocess.Popen([self.binary, "serve", "--listen", f"127.0.0.1:{port}", "--db", db or os.path.join(self.dir, "corsd.sqlite")] + self.corsd_args,
                                env={**os.environ, "CORSD_ADMIN_TOKEN": TOKEN}, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        wait_port(port)
        self.corsd, self.port = proc, port
        return proc

    def start_edge(self, name, deployments, token_file, port=None, extra=()):
        """`corsd edge` beside the upstream, mirroring `deployments` from this bed's corsd.
        Returns (process, port); its state directory is the bed's dir/edge-NAME."""
        port = port or free_port()
        args = [self.binary, "edge", "--server", f"http://127.0.0.1:{self.port}", "--token-file", token_file, "--listen", f"127.0.0.1:{port}",
                "--state-dir", os.path.join(self.dir, f"edge-{name}"), "--host", name]
        for d in deployments:
            args += ["--deployment", d]
        args += list(extra)
        proc = subprocess.Popen(args, stderr=open(os.path.join(self.dir, f"edge-{name}.log"), "a"))
        self.procs.append(proc)
        wait_port(port)
        return proc, port

    def api(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        c.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def deployment(self, name, upstream_port=None, **cors):
        status, body = self.api("PUT", f"/deployments/{name}", {"upstream": f"http://127.0.0.1:{upstream_port or self.nginx_port}", "cors": cors})
        assert status in (200, 201), body
        return body

    def get(self, path, headers=None, method="GET", port=None):
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=30)
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def raw(self, request_bytes):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(request_bytes)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return data

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")
