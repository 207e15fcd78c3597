#!/usr/bin/env python3
"""Faults and hostile peers while verified echo traffic runs. Run through
scripts/faults.sh (which builds first).

Each scenario runs against a fresh server while ws-load keeps verified echo
traffic going on other connections (every echo checked byte for byte; an
echo later than --stall seconds counts as an error), and asserts both what
the misbehaving peers saw and that the traffic saw zero errors.

faults:  abort (clients killed mid-frame, FIN and TCP reset), half-close,
         never-read (server RSS per connection vs the send queue bound),
         burst (1,000 connects beyond --max-connections: 503), fd-limit
         (server under `ulimit -n 256`), sigterm (close 1001 to everyone,
         exit 0 within --shutdown-timeout plus a bound)
hostile: header flood, slowloris, a frame announcing 2^63-1 bytes, 1-byte
         continuation flood, ping storm, invalid UTF-8, garbage extension
         offers, all at once; p99 of the traffic with and without them
Loopback only; every wait is bounded.
"""

import argparse
import base64
import json
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

STALL = 5.0          # an echo later than this is an error (ws-load --echo-timeout)
SHUTDOWN_TIMEOUT = 5  # ws-server --shutdown-timeout in the sigterm scenario
MAX_SEND_QUEUE = 1 << 20  # ws-proto Config::max_send_queue default


def log(msg):
    print(f"faults: {msg}", file=sys.stderr, flush=True)


def raise_nofile():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "Threads"):
                    out[k] = int(v.split()[0])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    return out


# ---------------------------------------------------------------- raw client

def request(port, extra=""):
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def frame(opcode, payload=b"", fin=True, length=None):
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    mask = os.urandom(4)
    k = len(payload)
    if not k:
        return head + mask
    # XOR as one big integer: fast enough for 16 MiB in pure Python.
    keys = (mask * (k // 4 + 1))[:k]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")
    return head + mask + masked.to_bytes(k, "big")


def read_head(sock):
    """The status of the HTTP answer, 0 if closed first; raises on timeout."""
    got = b""
    while b"\r\n\r\n" not in got:
        try:
            d = sock.recv(4096)
        except ConnectionResetError:
            return 0, b""
        if not d:
            return 0, b""
        got += d
    head, _, rest = got.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), rest


def connect(port, extra="", timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(request(port, extra))
    st, rest = read_head(s)
    if st != 101:
        s.close()
        raise RuntimeError(f"upgrade answered {st}")
    return s, rest


def read_frame(sock, buf=b""):
    """(opcode, payload, rest) of the next server frame."""
    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = sock.recv(65536)
            if not d:
                raise EOFError("closed")
            buf += d
    need(2)
    op, n = buf[0] & 0x0F, buf[1] & 0x7F
    pos = 2
    if n == 126:
        need(4)
        n = struct.unpack(">H", buf[2:4])[0]
        pos = 4
    elif n == 127:
        need(10)
        n = struct.unpack(">Q", buf[2:10])[0]
        pos = 10
    need(pos + n)
    return op, buf[pos:pos + n], buf[pos + n:]


def close_code_of(sock, rest=b"", skip_data=True):
    """Reads frames until a close; its code (None if closed without one)."""
    try:
        while True:
            op, payload, rest = read_frame(sock, rest)
            if op == 8:
                return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
    except (EOFError, ConnectionResetError, socket.timeout):
        return None


# ---------------------------------------------------------------- harness

class Server:
    def __init__(self, kind, bins, workdir, extra=(), ulimit=None):
        self.kind, self.port = kind, free_port()
        addr = f"127.0.0.1:{self.port}"
        if kind == "ws-server":
            cmd = [bins["ws-server"], "--bind", addr] + list(extra)
        else:
            cmd = [bins["ws-tokio"], "--bind", addr]
        if ulimit:
            cmd = ["sh", "-c", f'ulimit -n {ulimit} && exec "$0" "$@"'] + cmd
        self.log_path = os.path.join(workdir, f"{kind}-{self.port}.log")
        self.proc = subprocess.Popen(
            cmd, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT,
            env=dict(os.environ, RUST_LOG="warn"),
            preexec_fn=None if ulimit else raise_nofile)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{kind} did not start")

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()


class Traffic:
    """Verified echo traffic in the background: ws-load processes."""
    CLASSES = [(20, 20, False), (10, 1024, True), (2, 65536, False)]

    def __init__(self, bins, port, duration, classes=None):
        url = f"ws://127.0.0.1:{port}/ws"
        self.procs = []
        for n, size, text in classes or self.CLASSES:
            cmd = [bins["ws-load"], url, "-c", str(n), "-s", str(size), "--warmup", "1",
                   "--duration", str(duration), "--echo-timeout", str(STALL),
                   "--json", "-q"] + (["--text"] if text else [])
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE))
        self.connections = sum(c[0] for c in classes or self.CLASSES)

    def results(self, timeout=120):
        out = []
        for p in self.procs:
            try:
                o, e = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                o, e = p.communicate()
            try:
                out.append(json.loads(o.decode().strip().splitlines()[-1]))
            except (ValueError, IndexError):
                out.append({"errors": 1, "failures": [f"no report: {e.decode()[-300:]}"]})
        return out


def summarize(results):
    errors = sum(r.get("errors", 0) for r in results)
    messages = sum(r.get("messages", 0) for r in results)
    p99 = max((r.get("latency_p99_us", 0) for r in results), default=0) / 1000
    mx = max((r.get("latency_max_us", 0) for r in results), default=0) / 1000
    fails = [f for r in results for f in r.get("failures", [])][:3]
    return errors, messages, p99, mx, fails


def wait_for(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def in_threads(fn, items, workers=32):
    """Runs fn over items on a bounded pool; returns the results in order."""
    results = [None] * len(items)
    lock = threading.Lock()
    it = iter(enumerate(items))

    def work():
        while True:
            with lock:
                nxt = next(it, None)
            if nxt is None:
                return
            i, x = nxt
            try:
                results[i] = fn(x)
            except Exception as e:  # the scenario's assertion reports it
                results[i] = e
    ts = [threading.Thread(target=work) for _ in range(min(workers, len(items)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


# ---------------------------------------------------------------- faults

def fault_abort(srv, bins):
    base = status(srv.pid)["fds"]
    socks = [connect(srv.port)[0] for _ in range(200)]
    opened = status(srv.pid)["fds"]
    for i, s in enumerate(socks):
        # A 64 KiB binary frame cut after 1,000 bytes of payload.
        s.sendall(frame(2, os.urandom(65536))[:1014])
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    back = wait_for(lambda: status(srv.pid)["fds"] <= base + 2, 15)
    return back, (f"200 clients cut mid-frame (100 FIN, 100 RST): server fds "
                  f"{base} -> {opened} -> {status(srv.pid)['fds']}")


def fault_half_close(srv, bins):
    base = status(srv.pid)["fds"]

    def one(_):
        s, rest = connect(srv.port)
        s.settimeout(10)
        s.sendall(frame(1, b"hello"))
        s.shutdown(socket.SHUT_WR)
        op, payload, rest = read_frame(s, rest)
        data = rest
        while True:  # the server must close its side by itself
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        return op == 1 and payload == b"hello"
    res = in_threads(one, range(100))
    good = sum(1 for r in res if r is True)
    back = wait_for(lambda: status(srv.pid)["fds"] <= base + 2, 15)
    return good == 100 and back, (f"100 half-closed clients: {good} got their echo "
                                 f"and then the server's FIN; fds back: {back}")


def fault_never_read(srv, bins):
    before = status(srv.pid)["VmRSS"]
    socks = []
    sent = 0
    for _ in range(50):
        s, _ = connect(srv.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        socks.append(s)
    msg = frame(2, os.urandom(65536))
    end = time.monotonic() + 8
    while time.monotonic() < end:
        progress = False
        for s in socks:
            try:
                sent += s.send(msg)
                progress = True
            except (BlockingIOError, ConnectionError):
                pass
        if not progress:
            time.sleep(0.2)
    time.sleep(1)
    after = status(srv.pid)["VmRSS"]
    per = (after - before) / 50
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    bound = MAX_SEND_QUEUE / 1024 + 2 * 64 + 256  # queue + a message in and out + buffers
    return per <= bound, (f"50 clients that never read pushed {sent >> 20} MiB: server "
                          f"RSS +{after - before} KiB = {per:.0f} KiB per connection "
                          f"(bound {bound:.0f} KiB: 1 MiB send queue + one 64 KiB "
                          f"message each way + buffers)")


def fault_never_read_max(srv, bins):
    """The worst a non-reading peer can do with the default limits: echo
    messages of max_message_size (16 MiB), which the send queue takes one
    at a time into an empty queue."""
    before = status(srv.pid)["VmRSS"]
    msg = frame(2, os.urandom((16 << 20) - 64))
    socks, accepted = [], 0
    for _ in range(8):
        s, _ = connect(srv.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(3)
        socks.append(s)
    for s in socks:
        for _ in range(3):
            try:
                s.sendall(msg)
                accepted += 1
            except (socket.timeout, OSError):
                break
    time.sleep(1)
    per = (status(srv.pid)["VmRSS"] - before) / 8
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    bound = 16 * 1024 + 1024 + 512
    return per <= bound, (f"8 clients sending 16 MiB messages, never reading: the server "
                          f"took {accepted} whole message(s) then stopped reading; RSS "
                          f"{per:.0f} KiB per connection (bound {bound} KiB: one 16 MiB "
                          f"echo queued + 1 MiB + buffers)")


def fault_burst(srv, bins, fill):
    # Fill up to --max-connections, then 1,000 connects at once.
    held = [connect(srv.port)[0] for _ in range(fill)]
    sel = selectors.DefaultSelector()
    socks, statuses = [], {}
    start = time.monotonic()
    for i in range(1000):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", srv.port))
        sel.register(s, selectors.EVENT_WRITE, (i, b""))
        socks.append(s)
    end = start + 15
    while len(statuses) < 1000 and time.monotonic() < end:
        for key, ev in sel.select(timeout=0.5):
            s, (i, got) = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE:
                try:
                    s.send(request(srv.port))
                except OSError:
                    statuses[i] = "reset"
                    sel.unregister(s)
                    continue
                sel.modify(s, selectors.EVENT_READ, (i, got))
            else:
                try:
                    d = s.recv(4096)
                except OSError:
                    d = b""
                got += d
                if not d or b"\r\n\r\n" in got:
                    statuses[i] = got.split(b" ")[1].decode() if got else "closed"
                    sel.unregister(s)
                else:
                    sel.modify(s, selectors.EVENT_READ, (i, got))
    took = time.monotonic() - start
    for s in socks + held:
        s.close()
    counts = {}
    for v in statuses.values():
        counts[v] = counts.get(v, 0) + 1
    # Every one refused at once: 503, or a reset when the request was
    # still in flight as the server closed; none admitted, none left waiting.
    ok = len(statuses) == 1000 and "101" not in counts and counts.get("503", 0) > 0
    return ok, (f"1,000 connects beyond the limit (clients keep their sockets "
                f"open): {counts} in {took:.1f} s")


def fault_fd_limit(srv, bins):
    socks, answers = [], {}
    for _ in range(400):
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(request(srv.port))
            st, _ = read_head(s)
        except socket.timeout:
            st = "timeout"
        except OSError:
            st = 0
        answers[st] = answers.get(st, 0) + 1
        if st == 101:
            socks.append(s)
        else:
            s.close()
    for s in socks[:100]:
        s.close()
    recovered = wait_for(lambda: _try101(srv.port), 10)
    for s in socks[100:]:
        s.close()
    log_lines = srv.log_text().count("accept failed")
    ok = "timeout" not in answers and recovered and 1 <= log_lines <= 2
    return ok, (f"400 upgrades under ulimit -n 256: {answers}; after closing 100: "
                f"served again {recovered}; 'accept failed' logged {log_lines}x")


def _try101(port):
    try:
        s, _ = connect(port, timeout=2)
        s.close()
        return True
    except (OSError, RuntimeError):
        return False


def fault_sigterm(srv, bins):
    socks = [connect(srv.port)[0] for _ in range(100)]
    start = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)

    def one(s):
        s.settimeout(SHUTDOWN_TIMEOUT + 5)
        code = close_code_of(s)
        try:
            s.sendall(frame(8, struct.pack(">H", 1001)))
        except OSError:
            pass
        s.close()
        return code
    codes = in_threads(one, socks, workers=100)
    try:
        rc = srv.proc.wait(timeout=SHUTDOWN_TIMEOUT + 5)
    except subprocess.TimeoutExpired:
        rc = "still running"
    took = time.monotonic() - start
    n1001 = sum(1 for c in codes if c == 1001)
    ok = n1001 == 100 and rc == 0 and took <= SHUTDOWN_TIMEOUT + 3
    return ok, (f"SIGTERM with 100 idle clients and traffic: {n1001}/100 got 1001, "
                f"exit {rc} after {took:.1f} s (shutdown timeout {SHUTDOWN_TIMEOUT} s)")


# ---------------------------------------------------------------- hostile

def attack_header_flood(port):
    def one(_):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            s.sendall(b"GET /ws HTTP/1.1\r\n" + b"X-Flood: " + b"a" * 60 + b"\r\n" * 1)
            for _ in range(2000):
                s.sendall(b"X-Flood: " + b"a" * 60 + b"\r\n")
        except OSError:
            pass
        st, _ = read_head(s)
        s.close()
        return st
    res = in_threads(one, range(50), workers=10)
    return all(r in (431, 400, 0) for r in res), f"header flood x50: answers {sorted(set(map(str, res)))}"


def attack_slowloris(port, handshake_timeout):
    socks = []
    for _ in range(300):
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.setblocking(False)
        socks.append(s)
    req = request(port)
    start = time.monotonic()
    closed_at = {}
    pos = 0
    while len(closed_at) < len(socks) and time.monotonic() - start < handshake_timeout + 20:
        for i, s in enumerate(socks):
            if i in closed_at:
                continue
            try:
                if pos < len(req) - 4:
                    s.send(req[pos:pos + 1])
                d = s.recv(4096)
                if not d:
                    closed_at[i] = time.monotonic() - start
            except BlockingIOError:
                pass
            except OSError:
                closed_at[i] = time.monotonic() - start
        pos += 1
        time.sleep(0.5)
    for s in socks:
        s.close()
    worst = max(closed_at.values(), default=float("inf"))
    ok = len(closed_at) == 300 and worst <= handshake_timeout + 3
    return ok, (f"slowloris x300 (1 byte per 0.5 s): {len(closed_at)} closed by the "
                f"server, the last after {worst:.1f} s")


def attack_huge_frame(port):
    def one(_):
        s, rest = connect(port)
        s.settimeout(10)
        s.sendall(bytes([0x82, 0xFF]) + struct.pack(">Q", (1 << 63) - 1) + os.urandom(4) + b"x" * 100)
        code = close_code_of(s, rest)
        s.close()
        return code
    res = in_threads(one, range(20))
    return all(c == 1009 for c in res), f"2^63-1-byte frame x20: close codes {sorted(set(map(str, res)))}"


def attack_continuation_flood(port):
    def one(_):
        s, rest = connect(port)
        s.settimeout(30)
        n = 50000
        out = bytearray(frame(1, b"a", fin=False))
        for i in range(n):
            out += frame(0, b"b", fin=(i == n - 1))
        s.sendall(out)
        op, payload, rest = read_frame(s, rest)
        s.sendall(frame(8, struct.pack(">H", 1000)))
        s.close()
        return op == 1 and payload == b"a" + b"b" * n
    res = in_threads(one, range(10))
    return all(r is True for r in res), f"50,000 1-byte continuations x10: echoed intact {sum(r is True for r in res)}/10"


def attack_ping_storm(port, pid):
    before = status(pid)["VmRSS"]

    def one(_):
        s, rest = connect(port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(30)
        ping = frame(9, b"p" * 125)
        for _ in range(20):
            s.sendall(ping * 1000)
        s.sendall(frame(1, b"after the storm"))
        while True:  # pongs (coalesced), then the echo
            op, payload, rest = read_frame(s, rest)
            if op == 1:
                s.close()
                return payload == b"after the storm"
    res = in_threads(one, range(20))
    grew = status(pid)["VmRSS"] - before
    return all(r is True for r in res), (f"20,000 pings x20 unread: connections alive "
                                          f"{sum(r is True for r in res)}/20, server RSS +{grew} KiB")


def attack_invalid_utf8(port):
    def one(_):
        s, rest = connect(port)
        s.settimeout(10)
        s.sendall(frame(1, b"ok \xff\xfe"))
        code = close_code_of(s, rest)
        s.close()
        return code
    res = in_threads(one, range(20))
    return all(c == 1007 for c in res), f"invalid UTF-8 x20: close codes {sorted(set(map(str, res)))}"


def attack_extensions(port):
    offers = ["permessage-deflate; client_max_window_bits=99",
              ";;;,,, =", "permessage-deflate; server_max_window_bits", "x" * 4000,
              "permessage-deflate; permessage-deflate, \"quoted", "\x01\x02garbage"]

    def one(i):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(request(port, f"Sec-WebSocket-Extensions: {offers[i % len(offers)]}\r\n"))
        st, rest = read_head(s)
        if st == 101:
            s.sendall(frame(2, b"ext"))
            op, payload, _ = read_frame(s, rest)
            st = "101+echo" if payload == b"ext" else "101-bad"
        s.close()
        return st
    res = in_threads(one, range(60))
    ok = all(r in ("101+echo", 400, 0) for r in res)
    return ok, f"garbage extension offers x60: {sorted(set(map(str, res)))}"


# ---------------------------------------------------------------- driver

def scenario(name, kind, bins, workdir, body, extra=(), ulimit=None, duration=8,
             traffic_errors_ok=False, classes=None):
    srv = Server(kind, bins, workdir, extra, ulimit)
    try:
        traffic = Traffic(bins, srv.port, duration, classes)
        time.sleep(1.5)  # the traffic is up
        ok, what = body(srv)
        errors, messages, p99, mx, fails = summarize(traffic.results())
        if srv.proc.poll() is not None and name != "sigterm":
            ok, what = False, what + f"; server exited {srv.proc.returncode}"
        tr = f"traffic: {messages} verified echoes, errors {errors}, p99 {p99:.1f} ms, max {mx:.1f} ms"
        if traffic_errors_ok:
            tr += " (errors expected: the server shut down under it)"
        elif errors:
            ok = False
            tr += f" {fails}"
        print(f"[{'PASS' if ok else 'FAIL'}] {kind} {name}: {what}\n        {tr}", flush=True)
        return ok
    except Exception as e:
        print(f"[FAIL] {kind} {name}: {e!r}", flush=True)
        return False
    finally:
        srv.stop()


def run_faults(kind, bins, workdir):
    ok = True
    ok &= scenario("abort", kind, bins, workdir, lambda s: fault_abort(s, bins))
    ok &= scenario("half-close", kind, bins, workdir, lambda s: fault_half_close(s, bins))
    ok &= scenario("never-read", kind, bins, workdir, lambda s: fault_never_read(s, bins))
    ok &= scenario("never-read-16MiB", kind, bins, workdir,
                   lambda s: fault_never_read_max(s, bins))
    ok &= scenario("fd-limit", kind, bins, workdir, lambda s: fault_fd_limit(s, bins),
                   ulimit=256, classes=[(10, 20, False), (4, 1024, True)])
    if kind == "ws-server":
        traffic = sum(c[0] for c in Traffic.CLASSES)
        ok &= scenario("burst", kind, bins, workdir, lambda s: fault_burst(s, bins, 100),
                       extra=["--max-connections", str(traffic + 100)])
        ok &= scenario("sigterm", kind, bins, workdir, lambda s: fault_sigterm(s, bins),
                       extra=["--shutdown-timeout", f"{SHUTDOWN_TIMEOUT}s"],
                       traffic_errors_ok=True)
    else:
        print(f"[SKIP] {kind} burst, sigterm: the example has no --max-connections "
              "and no signal handling")
    return ok


def run_hostile(kind, bins, workdir):
    hs = 3
    extra = ["--handshake-timeout", f"{hs}s"]
    srv = Server(kind, bins, workdir, extra)
    ok = True
    try:
        base = summarize(Traffic(bins, srv.port, 10).results())
        attacks = [
            lambda: attack_header_flood(srv.port),
            lambda: attack_slowloris(srv.port, hs if kind == "ws-server" else 10),
            lambda: attack_huge_frame(srv.port),
            lambda: attack_continuation_flood(srv.port),
            lambda: attack_ping_storm(srv.port, srv.pid),
            lambda: attack_invalid_utf8(srv.port),
            lambda: attack_extensions(srv.port),
        ]
        traffic = Traffic(bins, srv.port, 10)
        time.sleep(1.5)
        outcomes = in_threads(lambda f: f(), attacks, workers=len(attacks))
        under = summarize(traffic.results())
        for o in outcomes:
            if isinstance(o, Exception):
                ok = False
                print(f"[FAIL] {kind} attack raised {o!r}")
            else:
                ok &= o[0]
                print(f"[{'PASS' if o[0] else 'FAIL'}] {kind} {o[1]}")
        if srv.proc.poll() is not None:
            ok = False
            print(f"[FAIL] {kind} died during the attacks")
        for label, (errors, messages, p99, mx, fails) in (("without attack", base), ("under attack", under)):
            if errors:
                ok = False
            print(f"        traffic {label}: {messages} verified echoes, errors {errors}, "
                  f"p99 {p99:.1f} ms, max {mx:.1f} ms {fails if errors else ''}")
    finally:
        srv.stop()
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=["ws-server", "ws-tokio", "both"], default="both")
    ap.add_argument("--only", choices=["faults", "hostile"])
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    raise_nofile()
    bins = {"ws-server": os.path.join(args.bin_dir, "ws-server"),
            "ws-tokio": os.path.join(args.bin_dir, "examples", "echo"),
            "ws-load": os.path.join(args.bin_dir, "ws-load")}
    kinds = ["ws-server", "ws-tokio"] if args.server == "both" else [args.server]
    ok = True
    for kind in kinds:
        if args.only in (None, "faults"):
            ok &= run_faults(kind, bins, args.work_dir)
        if args.only in (None, "hostile"):
            ok &= run_hostile(kind, bins, args.work_dir)
    log("passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
