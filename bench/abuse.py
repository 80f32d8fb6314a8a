#!/usr/bin/env python3
"""Abusive HTTP clients for the soak (architecture doc, "Abuse tests to keep").

Every mode is bounded in count and time and talks only to the loopback address given.
Usage: abuse.py PORT MODE [COUNT]. Prints one summary line: mode, attempts, outcomes.
"""
import collections
import concurrent.futures
import socket
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
    s = conn(timeout=10)
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


MODES = {
    "half_fin": (half_fin, 2000, 32),
    "half_rst": (half_rst, 2000, 32),
    "full_rst": (full_rst, 2000, 32),
    "pipelined_burst": (pipelined_burst, 200, 20),
    "trickle": (trickle, 60, 60),
    "small_buffer_reset": (small_buffer_reset, 500, 16),
    "many_clients": (many_clients, 400, 400),
    "fd_reuse": (fd_reuse, 5000, 16),
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
