#!/usr/bin/env python3
"""corsd over TLS, checked with real clients and real servers, all on loopback.

Real: the corsd binary (serve, agent), curl, Python's ssl, `openssl s_client`, OpenSSL under
all of them; HTTPS upstreams are Python's http.server behind Python's ssl (real TLS servers
with the certificates of testpki.py: a good one, an expired one, one for another name).

Usage: tls_integration.py CORSD_BINARY
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testpki  # noqa: E402
from tilebed import free_port, wait_port  # noqa: E402

TOKEN = "tls-check-admin"
VIEWER = "https://viewer.example.org"
DZI = "/ome_seadragon/deepzoom/get/1.dzi"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Corsd:
    """A `corsd serve` over TLS; its stderr kept for the log checks."""

    def __init__(self, binary, work, pki, extra=(), name="corsd"):
        self.pki, self.lines = pki, []
        self.port = free_port()
        self.cert, self.key = os.path.join(work, f"{name}-cert.pem"), os.path.join(work, f"{name}-key.pem")
        shutil.copy(pki["server"], self.cert)
        shutil.copy(pki["server_key"], self.key)
        self.proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--db", os.path.join(work, f"{name}.sqlite"),
                                      "--tls-cert", self.cert, "--tls-key", self.key, "--header-timeout", "2"] + list(extra),
                                     env={**os.environ, "CORSD_ADMIN_TOKEN": TOKEN}, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True).start()
        wait_port(self.port)

    def log(self):
        return "".join(self.lines)

    def wait_for_line(self, matches, seconds=10):
        """Whether a stderr line matching arrives (corsd writes it before answering, but the
        reader thread here may not have it yet)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(matches(line) for line in list(self.lines)):
                return True
            time.sleep(0.02)
        return False

    def context(self, cert=None, key=None, version=None):
        ctx = ssl.create_default_context(cafile=self.pki["ca"])
        if version:
            ctx.minimum_version = ctx.maximum_version = version
        if cert:
            ctx.load_cert_chain(cert, key)
        return ctx

    def request(self, method, path, body=None, headers=None, ctx=None, host="127.0.0.1"):
        c = http.client.HTTPSConnection(host, self.port, timeout=10, context=ctx or self.context())
        h = dict(headers or {})
        if body is not None:
            h["Content-Type"] = "application/json"
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def api(self, method, path, body=None, ctx=None):
        s, _, data = self.request(method, "/api/v1" + path, body, {"Authorization": f"Bearer {TOKEN}"}, ctx=ctx)
        return s, json.loads(data) if data else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)


SNI_SEEN = []  # server names the upstreams were asked for (SNI), in order
PROTO_SEEN = []  # the X-Forwarded-Proto of each request the upstreams answered, in order


def https_upstream(cert, key):
    """A TLS upstream answering every GET with a small DZI document; returns its port."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            PROTO_SEEN.append(self.headers.get("X-Forwarded-Proto"))
            body = b'<?xml version="1.0"?><Image TileSize="254" Overlap="1" Format="jpeg"/>'
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda sock, name, _ctx: SNI_SEEN.append(name)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def s_client(port, *args):
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args], input=b"", capture_output=True, timeout=15)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def protocols_and_ciphers(corsd):
    # curl: TLS 1.2 and 1.3, ALPN http/1.1.
    for flag, version in (("--tlsv1.2", "TLSv1.2"), ("--tlsv1.3", "TLSv1.3")):
        extra = ["--tls-max", "1.2"] if version == "TLSv1.2" else []
        r = subprocess.run(["curl", "-sS", "-v", "--cacert", corsd.pki["ca"], flag, *extra, f"https://localhost:{corsd.port}/healthz"],
                           capture_output=True, text=True, timeout=15)
        check(r.returncode == 0 and '"ok"' in r.stdout and f"SSL connection using {version}" in r.stderr
              and "ALPN: server accepted http/1.1" in r.stderr, f"curl over {version} (ALPN http/1.1)")
    # Python's ssl: both versions, the ALPN answer, and session resumption.
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = corsd.context(version=version)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        c = http.client.HTTPSConnection("127.0.0.1", corsd.port, timeout=10, context=ctx)
        c.request("GET", "/healthz")
        ok = c.getresponse().read() == b'{"status":"ok"}'
        session, alpn, got = c.sock.session, c.sock.selected_alpn_protocol(), c.sock.version()
        c.close()
        check(ok and alpn == "http/1.1" and got == version.name.replace("v1_", "v1."), f"Python ssl over {version.name}: {got}, ALPN {alpn}")
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", corsd.port)), server_hostname="127.0.0.1", session=session)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.recv(4096)
        check(s.session_reused, f"Python ssl resumes its {version.name} session (session tickets)")
        s.close()
    # openssl s_client: old protocols refused by the server (the client allows them at level 0).
    for flag in ("-tls1", "-tls1_1"):
        rc, out = s_client(corsd.port, flag, "-cipher", "DEFAULT@SECLEVEL=0")
        check(rc != 0 and "alert protocol version" in out, f"openssl s_client {flag}: refused with a protocol_version alert")
    rc, out = s_client(corsd.port, "-tls1_2", "-cipher", "AES128-SHA")
    check(rc != 0 and "handshake failure" in out, "TLS 1.2 without forward secrecy (AES128-SHA) refused")
    rc, out = s_client(corsd.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256")
    check(rc == 0 and "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" in out, "server cipher preference: the server's first choice wins over the client's order")


def plaintext_and_half_handshakes(corsd):
    s = socket.create_connection(("127.0.0.1", corsd.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        reply = s.recv(4096)
    except ConnectionResetError:
        reply = b""
    check(b"HTTP/1.1" not in reply, "plain HTTP on the TLS port gets no HTTP answer")
    s.close()
    s = socket.create_connection(("127.0.0.1", corsd.port), timeout=10)
    s.sendall(b"\x16\x03\x01\x02\x00")  # a ClientHello record header, then silence
    try:
        closed = s.recv(4096) == b""
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        closed = False
    check(closed, "a half handshake is closed by the header timeout (2 s here), before the client's 10 s")
    s.close()


def tls_metrics(corsd, pki):
    """After the refused protocols and the half handshake above: the failure counter and the
    certificate's expiry on /metrics, and the expiry in the start-up log."""
    from cryptography import x509
    _, _, data = corsd.request("GET", "/metrics")
    text = data.decode()
    def value(line_start):
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.split()[-1])
        return None
    errors, timeouts = value('corsd_tls_handshake_failures_total{kind="error"}'), value('corsd_tls_handshake_failures_total{kind="timeout"}')
    check((errors or 0) >= 3 and (timeouts or 0) >= 1, f"corsd_tls_handshake_failures_total: error={errors}, timeout={timeouts}")
    cert = x509.load_pem_x509_certificate(open(pki["server"], "rb").read())
    not_after = cert.not_valid_after_utc.timestamp()
    check(value("corsd_tls_certificate_not_after_seconds") == not_after, f"corsd_tls_certificate_not_after_seconds is the certificate's notAfter ({not_after:.0f})")
    check(corsd.wait_for_line(lambda line: "TLS certificate" in line and "days_left=" in line), "start-up log names the certificate's expiry (days_left)")


def management_and_upstreams(corsd, pki):
    good = https_upstream(pki["upstream"], pki["upstream_key"])
    expired = https_upstream(pki["expired"], pki["expired_key"])
    wrongname = https_upstream(pki["wrongname"], pki["wrongname_key"])
    ca_pem = open(pki["ca"]).read()
    cors = {"allowed_origins": [VIEWER]}
    for name, port, ca in (("good", good, ca_pem), ("expired", expired, ca_pem), ("wrongname", wrongname, ca_pem), ("systemstore", good, None)):
        body = {"upstream": f"https://127.0.0.1:{port}", "cors": cors}
        if ca:
            body["upstream_ca"] = ca
        s, b = corsd.api("PUT", f"/deployments/{name}", body)
        check(s in (200, 201), f"PUT https deployment {name}: {s}")
    PROTO_SEEN.clear()
    s, h, data = corsd.request("GET", "/tiles/good" + DZI, headers={"Origin": VIEWER})
    check(s == 200 and data.startswith(b"<?xml") and h.get("access-control-allow-origin") == VIEWER,
          "tile through an https upstream verified by the deployment's upstream_ca: 200 with CORS")
    check(PROTO_SEEN == ["https"], f"the client came over TLS: the upstream is told X-Forwarded-Proto: https ({PROTO_SEEN})")
    # By name: SNI carries it, and the certificate (DNS:localhost) must match it.
    s, _ = corsd.api("PUT", "/deployments/byname", {"upstream": f"https://localhost:{good}", "upstream_ca": ca_pem, "cors": cors})
    SNI_SEEN.clear()
    s, h, data = corsd.request("GET", "/tiles/byname" + DZI, headers={"Origin": VIEWER})
    check(s == 200 and SNI_SEEN == ["localhost"], f"https upstream by name: SNI 'localhost' sent ({SNI_SEEN}), certificate matched, 200 ({s})")
    for name, reason in (("expired", "certificate has expired"), ("wrongname", "IP address mismatch"), ("systemstore", "self-signed certificate in certificate chain")):
        s, h, data = corsd.request("GET", f"/tiles/{name}" + DZI, headers={"Origin": VIEWER})
        logged = corsd.wait_for_line(lambda line: "upstream failed" in line and f"deployment={name}" in line and reason in line)
        check(s == 502 and h.get("content-type") == "application/problem+json" and reason.encode() not in data,
              f"{name} upstream: 502 problem (the reason stays in the log)")
        check(logged, f"{name} upstream: log line 'upstream failed' says '{reason}'")
    s, b = corsd.api("PUT", "/deployments/bad-ca", {"upstream": f"https://127.0.0.1:{good}", "upstream_ca": "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"})
    check(s == 400 and any(e.get("field") == "upstream_ca" and e.get("rule") == "pem_certificates" for e in b.get("errors", [])),
          "upstream_ca that is not PEM: 400 naming upstream_ca / pem_certificates")
    s, b = corsd.api("PUT", "/deployments/bad-ca", {"upstream": "http://127.0.0.1:1", "upstream_ca": ca_pem})
    check(s == 400 and any(e.get("field") == "upstream_ca" and e.get("rule") == "https_upstream" for e in b.get("errors", [])),
          "upstream_ca with a plain http upstream: 400 naming upstream_ca / https_upstream")
    return good


def healthcheck_over_tls(binary, corsd, work, pki):
    """`corsd healthcheck` with no --url in a TLS server's environment (a container's
    HEALTHCHECK): https to CORSD_LISTEN, the server having to present exactly CORSD_TLS_CERT."""
    def probe(listen, cert, *args):
        env = {**os.environ, "CORSD_LISTEN": listen, "CORSD_TLS_CERT": cert}
        return subprocess.run([binary, "healthcheck", "--timeout", "5", *args], env=env, capture_output=True, text=True, timeout=30)
    r = probe(f"0.0.0.0:{corsd.port}", corsd.cert)
    check(r.returncode == 0, f"healthcheck in a TLS server's environment: https on loopback, its own certificate pinned: exit 0 ({r.stderr.strip()[-200:]})")
    r = probe(f"127.0.0.1:{corsd.port}", pki["server2"])
    check(r.returncode == 1 and "certificate verify failed" in r.stderr,
          f"healthcheck pinning another certificate of the same CA and names: refused, exit 1 ({r.stderr.strip()[-200:]})")
    r = subprocess.run([binary, "healthcheck", "--timeout", "5"], env={**os.environ, "CORSD_LISTEN": f"127.0.0.1:{corsd.port}"},
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1, "healthcheck without CORSD_TLS_CERT speaks plain http, which a TLS port does not answer: exit 1")
    # Names play no part: a certificate naming only another host still proves it is this corsd.
    other = Corsd(binary, work, {**pki, "server": pki["wrongname"], "server_key": pki["wrongname_key"]}, name="othername")
    try:
        r = probe(f"127.0.0.1:{other.port}", other.cert)
        check(r.returncode == 0, f"healthcheck of a corsd whose certificate names only elsewhere.example, by address: exit 0 ({r.stderr.strip()[-200:]})")
    finally:
        other.stop()


def agent_over_https(binary, corsd, work):
    s, b = corsd.api("POST", "/tokens", {"name": "agent-good", "scope": "agent:good"})
    check(s == 201, f"agent token created: {s}")
    token_file = os.path.join(work, "agent.token")
    with open(token_file, "w") as f:
        f.write(b["secret"] + "\n")
    dest = os.path.join(work, "host", "limits.conf")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    base = [binary, "agent", "--once", "--server", f"https://127.0.0.1:{corsd.port}", "--token-file", token_file,
            "--deployment", "good", "--host", "tls-host", "--file", f"limits.conf={dest}"]
    r = subprocess.run(base, capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "certificate verify failed" in r.stderr, "agent without --server-ca: the private CA is not trusted, exit 1 with the reason")
    r = subprocess.run(base + ["--server-ca", corsd.pki["ca"]], capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and os.path.exists(dest), f"agent with --server-ca over https: installed, exit 2 (got {r.returncode}: {r.stderr.strip()[-200:]})")


def reload_under_load(corsd, pki):
    """Swaps the certificate files and sends SIGHUP while clients keep requesting, over kept-alive
    and new connections: no request fails; new connections see the new certificate; a
    kept-alive connection opened before goes on working."""
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    errors = []
    lock = threading.Lock()

    def client(keep_alive):
        ctx = corsd.context()
        c = None
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if c is None or not keep_alive:
                    c = http.client.HTTPSConnection("127.0.0.1", corsd.port, timeout=10, context=ctx)
                c.request("GET", "/healthz")
                ok = c.getresponse().read() == b'{"status":"ok"}'
                if not keep_alive:
                    c.close()
                with lock:
                    counts["ok" if ok else "failed"] += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                with lock:
                    counts["failed"] += 1
                    errors.append(repr(e))
                c = None

    early = http.client.HTTPSConnection("127.0.0.1", corsd.port, timeout=10, context=corsd.context())
    early.request("GET", "/healthz")
    early.getresponse().read()
    threads = [threading.Thread(target=client, args=(i % 2 == 0,)) for i in range(8)]
    def served_at_least(n):  # load shaping, bounded: the clients have got this far
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with lock:
                if counts["ok"] + counts["failed"] >= n:
                    return
            time.sleep(0.01)

    for t in threads:
        t.start()
    served_at_least(200)  # the reload lands in the middle of the load
    shutil.copy(pki["server2"], corsd.cert)
    shutil.copy(pki["server2_key"], corsd.key)
    corsd.proc.send_signal(signal.SIGHUP)
    corsd.wait_for_line(lambda line: "TLS certificate reloaded" in line)
    with lock:
        before = counts["ok"] + counts["failed"]
    served_at_least(before + 200)  # and goes on after it
    stop.set()
    for t in threads:
        t.join()
    check("TLS certificate reloaded" in corsd.log(), "SIGHUP: 'TLS certificate reloaded' logged")
    check(counts["failed"] == 0 and counts["ok"] > 50, f"reload under load: {counts['ok']} requests, {counts['failed']} failed {errors[:3]}")
    s = corsd.context().wrap_socket(socket.create_connection(("127.0.0.1", corsd.port)), server_hostname="127.0.0.1")
    subject = dict(x[0] for x in s.getpeercert()["subject"])
    s.close()
    check(subject.get("commonName") == "corsd two", f"a new connection gets the new certificate ({subject.get('commonName')})")
    early.request("GET", "/healthz")
    check(early.getresponse().read() == b'{"status":"ok"}', "a connection opened before the reload keeps working")
    early.close()
    # A reload that cannot load keeps the certificate in use.
    with open(corsd.key, "w") as f:
        f.write("not a key\n")
    corsd.proc.send_signal(signal.SIGHUP)
    corsd.wait_for_line(lambda line: "reload failed" in line)
    s, _, _ = corsd.request("GET", "/healthz")
    check("TLS certificate reload failed" in corsd.log() and s == 200, "a broken key on SIGHUP: error logged, the previous certificate still served")


def mtls(binary, work, pki):
    corsd = Corsd(binary, work, pki, extra=["--tls-client-ca", pki["ca"]], name="mtls")
    try:
        s, _, data = corsd.request("GET", "/api/v1/deployments", headers={"Authorization": f"Bearer {TOKEN}"})
        check(s == 401 and b"client certificate" in data, f"mTLS: a token without a client certificate gets 401 ({s})")
        with_cert = corsd.context(pki["client"], pki["client_key"])
        s, b = corsd.api("PUT", "/deployments/viaclientcert", {"upstream": "http://127.0.0.1:9", "cors": {"allowed_origins": [VIEWER]}}, ctx=with_cert)
        check(s == 201, f"mTLS: a verified client certificate and a token may change policy ({s})")
        s, b = corsd.api("GET", "/audit", ctx=with_cert)
        clients = [e.get("client", "") for e in (b or {}).get("items", [])]
        check(any("CN=ansible,O=Example Ops" in c for c in clients), f"mTLS: the audit entry names the certificate's subject ({clients[:2]})")
        try:
            corsd.request("GET", "/healthz", ctx=corsd.context(pki["stranger_client"], pki["stranger_client_key"]))
            refused = False
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            refused = True
        check(refused, "mTLS: a client certificate from another CA is refused in the handshake")
        s, h, _ = corsd.request("GET", "/tiles/viaclientcert" + DZI, headers={"Origin": VIEWER})
        check(s == 502 and h.get("access-control-allow-origin") == VIEWER, "mTLS: tiles need no client certificate (a viewer has none)")
        # Agents and edges present a client certificate to an mTLS centre.
        s, b = corsd.api("POST", "/tokens", {"name": "agent-mtls", "scope": "agent:viaclientcert"}, ctx=with_cert)
        token_file = os.path.join(work, "agent-mtls.token")
        with open(token_file, "w") as f:
            f.write(b["secret"] + "\n")
        dest = os.path.join(work, "mtls-host", "limits.conf")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        base = [binary, "agent", "--once", "--server", f"https://127.0.0.1:{corsd.port}", "--server-ca", pki["ca"], "--token-file", token_file,
                "--deployment", "viaclientcert", "--host", "mtls-host", "--file", f"limits.conf={dest}"]
        r = subprocess.run(base, capture_output=True, text=True, timeout=60)
        check(r.returncode == 1 and "client certificate" in r.stderr, "mTLS: an agent without a client certificate is refused (401, said)")
        r = subprocess.run(base + ["--client-cert", pki["client"], "--client-key", pki["client_key"]], capture_output=True, text=True, timeout=60)
        check(r.returncode == 2 and os.path.exists(dest), f"mTLS: an agent with --client-cert installs its files (exit {r.returncode})")
        edge_port = free_port()
        edge = subprocess.Popen([binary, "edge", "--server", f"https://127.0.0.1:{corsd.port}", "--server-ca", pki["ca"],
                                 "--client-cert", pki["client"], "--client-key", pki["client_key"], "--token-file", token_file,
                                 "--deployment", "viaclientcert", "--listen", f"127.0.0.1:{edge_port}", "--state-dir", os.path.join(work, "edge-state"),
                                 "--tls-cert", pki["server"], "--tls-key", pki["server_key"]], stderr=subprocess.DEVNULL)
        try:
            wait_port(edge_port)
            deadline, s = time.monotonic() + 20, 0
            while time.monotonic() < deadline:
                c = http.client.HTTPSConnection("127.0.0.1", edge_port, timeout=5, context=corsd.context())
                c.request("GET", "/tiles/viaclientcert" + DZI, headers={"Origin": VIEWER})
                r = c.getresponse()
                s, allow = r.status, r.getheader("Access-Control-Allow-Origin")
                r.read()
                c.close()
                if s != 503 and s != 404:
                    break
                time.sleep(0.1)
            check(s == 502 and allow == VIEWER, f"mTLS: an edge mirrors over https with its client certificate and serves tiles over TLS ({s})")
        finally:
            edge.terminate()
            edge.wait(timeout=15)
    finally:
        corsd.stop()


def sighup_without_tls(binary, work):
    """`systemctl reload` on a corsd without TLS must not end it (SIGHUP's default action)."""
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--db", os.path.join(work, "plain.sqlite")],
                            env={**os.environ, "CORSD_ADMIN_TOKEN": TOKEN}, stderr=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    wait_port(port)
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not any("nothing to reload" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/healthz")
    alive = c.getresponse().status == 200
    check(alive and proc.poll() is None and any("nothing to reload" in line for line in lines), "SIGHUP to a corsd without TLS: logged, still serving")
    proc.terminate()
    proc.wait(timeout=15)


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="corsd-tls-")
    pki = testpki.make(work)
    corsd = Corsd(binary, work, pki)
    try:
        protocols_and_ciphers(corsd)
        plaintext_and_half_handshakes(corsd)
        tls_metrics(corsd, pki)
        management_and_upstreams(corsd, pki)
        healthcheck_over_tls(binary, corsd, work, pki)
        agent_over_https(binary, corsd, work)
        reload_under_load(corsd, pki)
        mtls(binary, work, pki)
        sighup_without_tls(binary, work)
    finally:
        corsd.stop()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"\n{len(failures)} TLS check(s) failed:")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("\nall TLS checks passed")


if __name__ == "__main__":
    main()
