#!/usr/bin/env python3
"""Abusive HTTP clients for the soak (architecture doc, "Abuse tests to keep").

Every mode is bounded in count and time and talks only to the loopback address given.
Usage: abuse.py PORT MODE [COUNT]. Prints one summary line: mode, attempts, outcomes.
"""
import collections
import concurrent.futures
import os
import socket
import ssl
import struct
import sys
import time

HOST = "127.0.0.1"
REQ = b"GET /healthz HTTP/1.1\r\nHost: soak\r\n\r\n"
DEADLINE = time.monotonic() + 120  # no mode runs longer than this


def conn(rcvbuf=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((HOST, PORT))
    return s


def rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def read_all(s, limit=1 << 20):
    data = b""
    while len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def status_of(data):
    return data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else ("eof" if not data else "junk")


def half_fin(_):
    s = conn()
    s.sendall(REQ[:20])
    s.shutdown(socket.SHUT_WR)
    out = read_all(s)
    s.close()
    return "closed" if not out else status_of(out)


def half_rst(_):
    s = conn()
    s.sendall(REQ[:20])
    rst(s)
    return "sent"


def full_rst(_):
    s = conn()
    s.sendall(REQ)
    rst(s)
    return "sent"


def pipelined_burst(_):
    s = conn(rcvbuf=4096)
    s.sendall(b"GET /debug/bytes/33000 HTTP/1.1\r\nHost: soak\r\n\r\n" * 50)
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.2)
    rst(s)  # unread responses: the close is a reset
    return "sent"


def trickle(_):
    """Headers one byte every 100 ms (~3.5 s): the soak's 2 s header timeout must answer 408."""
    return trickle_on(conn(timeout=10))


def trickle_on(s):
    """The head of REQ one byte every 100 ms on `s`, then its answer's status."""
    try:
        try:
            for b in REQ[:-4]:
                s.send(bytes([b]))
                time.sleep(0.1)
        except OSError:
            pass
        try:
            return status_of(read_all(s))
        except OSError as e:
            return type(e).__name__
    finally:
        s.close()


def small_buffer_reset(_):
    s = conn(rcvbuf=4096)
    s.sendall(b"GET /debug/bytes/5000000 HTTP/1.1\r\nHost: soak\r\n\r\n")
    s.recv(1024)
    rst(s)
    return "sent"


def many_clients(_):
    try:
        s = conn(timeout=20)
        s.sendall(REQ)
        out = read_all(s, 4096)
        s.close()
        return status_of(out)
    except OSError as e:
        return type(e).__name__


def fd_reuse(_):
    s = conn()
    s.close()
    return "closed"


# --- TLS: handshake abuse against a listener serving TLS -----------------------------------

def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the soak's self-signed certificate; what is tested is the server
    return ctx


def client_hello():
    """The bytes of a real ClientHello, made with memory BIOs (nothing sent)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls_context().wrap_bio(incoming, outgoing, server_hostname="soak")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def closed_by_server(s):
    """"closed" when the server closes (or resets), "held-open" if it outlasts the socket timeout."""
    try:
        out = read_all(s)
    except ConnectionResetError:
        return "closed"
    except socket.timeout:
        return "held-open"
    return "closed" if not out else ("alert" if out[:1] == b"\x15" else "unexpected")


def tls_half_handshake(_):
    """Half a ClientHello, then silence: the 2 s header timeout must close it."""
    s = conn(timeout=10)
    s.sendall(client_hello()[:40])
    out = closed_by_server(s)
    s.close()
    return out


def tls_garbage_hello(i):
    """A handshake record of random bytes: refused (an alert or a close), never an HTTP answer."""
    s = conn(timeout=10)
    body = os.urandom(200 + i % 300)
    s.sendall(b"\x16\x03\x01" + struct.pack("!H", len(body)) + body)
    try:
        out = read_all(s)
    except ConnectionResetError:
        out = b""
    s.close()
    return "alert" if out[:1] == b"\x15" else ("closed" if not out else "unexpected")


def tls_reset_mid_handshake(_):
    s = conn()
    s.sendall(client_hello())
    try:
        s.recv(100)  # the ServerHello has started
    except OSError:
        pass
    rst(s)
    return "sent"


def tls_full_then_rst(_):
    s = tls_context().wrap_socket(conn(), server_hostname="soak")
    s.sendall(REQ)
    rst(s)
    return "sent"


def tls_handshake_flood(_):
    """Complete handshakes and go: the per-connection cost a flood of them exacts."""
    s = tls_context().wrap_socket(conn(), server_hostname="soak")
    s.close()
    return "handshake"


def tls_trickle(_):
    """Slowloris inside TLS: a finished handshake, then the head one byte every 100 ms."""
    return trickle_on(tls_context().wrap_socket(conn(timeout=10), server_hostname="soak"))


def tls_many_clients(_):
    try:
        s = tls_context().wrap_socket(conn(timeout=20), server_hostname="soak")
        s.sendall(REQ)
        out = read_all(s, 4096)
        s.close()
        return status_of(out)
    except (OSError, ssl.SSLError) as e:
        return type(e).__name__


MODES = {
    "half_fin": (half_fin, 2000, 32),
    "half_rst": (half_rst, 2000, 32),
    "full_rst": (full_rst, 2000, 32),
    "pipelined_burst": (pipelined_burst, 200, 20),
    "trickle": (trickle, 60, 60),
    "small_buffer_reset": (small_buffer_reset, 500, 16),
    "many_clients": (many_clients, 400, 400),
    "fd_reuse": (fd_reuse, 5000, 16),
    "tls_half_handshake": (tls_half_handshake, 400, 200),
    "tls_garbage_hello": (tls_garbage_hello, 2000, 32),
    "tls_reset_mid_handshake": (tls_reset_mid_handshake, 2000, 32),
    "tls_full_then_rst": (tls_full_then_rst, 2000, 32),
    "tls_handshake_flood": (tls_handshake_flood, 5000, 32),
    "tls_trickle": (tls_trickle, 60, 60),
    "tls_many_clients": (tls_many_clients, 400, 400),
}

if __name__ == "__main__":
    PORT = int(sys.argv[1])
    fn, count, workers = MODES[sys.argv[2]]
    if len(sys.argv) > 3:
        count = int(sys.argv[3])
    outcomes = collections.Counter()

    def run(i):
        if time.monotonic() > DEADLINE:
            return "skipped-deadline"
        try:
            return fn(i)
        except OSError as e:
            return type(e).__name__

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for outcome in pool.map(run, range(count)):
            outcomes[outcome] += 1
    print(f"{sys.argv[2]}: {count} attempts, outcomes {dict(outcomes)}")
