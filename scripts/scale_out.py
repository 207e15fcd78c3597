#!/usr/bin/env python3
"""Scale-out: nginx load-balancing WebSocket upgrades across two echo
instances. Run through scripts/scale-out.sh (installs nginx, builds).

For each server kind: two instances, an unprivileged nginx (`daemon off`,
every path in a temp dir) with both in one upstream, `proxy_read_timeout`
300 s above the servers' 120 s keep-alive ping. Then:
  1. ws-load drives 40 verified connections through nginx;
  2. mid-run, instance B is stopped (SIGTERM); its connections end, and the
     run's error count must equal exactly the connections B held (counted
     from its /proc fd table): every connection on A kept echoing, verified;
  3. 20 new connections through nginx are all served, by A (its fd table
     grows by 20).
Loopback only; every wait bounded.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faults import Server, raise_nofile, status, free_port  # noqa: E402


def nginx_conf(work, port, upstreams):
    user = "user nobody nogroup;" if os.getuid() == 0 else ""
    servers = "\n".join(f"        server {u};" for u in upstreams)
    return f"""{user}
daemon off;
master_process on;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    # Stateless echo: plain round robin, no sticky sessions. A refused
    # connect (an instance that is down) is retried on the next one.
    upstream echo {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://echo;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $http_host;
            # Above the servers' keep-alive ping interval (120 s), so an
            # idle WebSocket is never cut by the proxy.
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
        }}
    }}
}}
"""


def start_nginx(nginx, work, upstreams):
    os.chmod(work, 0o755)
    for _ in range(5):
        port = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(work, port, upstreams))
        p = subprocess.Popen([nginx, "-p", work, "-e", f"{work}/error.log", "-c", conf],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        end = time.monotonic() + 10
        while time.monotonic() < end and p.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return p, port
            except OSError:
                time.sleep(0.1)
        if p.poll() is None:
            p.kill()
        p.wait()
    raise RuntimeError("nginx did not start")


def ws_load(bins, port, *args):
    return subprocess.Popen([bins["ws-load"], f"ws://127.0.0.1:{port}/ws", "--json", "-q",
                             "--echo-timeout", "5"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def report(p, timeout=90):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"errors": -1, "failures": [err.decode()[-300:]]}


def run(kind, bins, nginx, work):
    a = Server(kind, bins, work)
    b = Server(kind, bins, work)
    proxy = None
    try:
        proxy, port = start_nginx(nginx, work, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
        base_a, base_b = status(a.pid)["fds"], status(b.pid)["fds"]
        load = ws_load(bins, port, "-c", "40", "-s", "1024", "--warmup", "1", "--duration", "10")
        time.sleep(4)
        n_a, n_b = status(a.pid)["fds"] - base_a, status(b.pid)["fds"] - base_b
        b.proc.send_signal(signal.SIGTERM)
        try:
            b.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            b.proc.kill()
        first = report(load)
        # New connections after B is gone: all served, all by A.
        before = status(a.pid)["fds"]
        late = ws_load(bins, port, "-c", "20", "--idle", "--settle", "3",
                       "--server-pid", str(a.pid))
        grown = 0
        end = time.monotonic() + 20
        while late.poll() is None and time.monotonic() < end:
            grown = max(grown, status(a.pid)["fds"] - before)
            time.sleep(0.2)
        second = report(late)
        alive = proxy.poll() is None and a.proc.poll() is None
        ok = (n_a > 0 and n_b > 0 and n_a + n_b == 40 and first.get("errors") == n_b
              and second.get("errors") == 0 and grown == 20 and alive)
        print(f"[{'PASS' if ok else 'FAIL'}] {kind} x2 behind nginx: 40 connections, "
              f"A held {n_a}, B held {n_b}; B stopped after 4 s: "
              f"{first.get('messages')} verified echoes, errors {first.get('errors')} "
              f"(= B's connections; A's {n_a} unaffected), p99 "
              f"{first.get('latency_p99_us', 0) / 1000:.1f} ms; then 20 new "
              f"connections: errors {second.get('errors')}, A's connections +{grown}",
              flush=True)
        if not ok:
            print(f"    failures: {first.get('failures', [])[:3]} {second.get('failures', [])[:3]}")
        return ok
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.send_signal(signal.SIGQUIT)
            try:
                proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proxy.kill()
                proxy.wait()
        a.stop()
        b.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=["ws-server", "ws-tokio", "both"], default="both")
    ap.add_argument("--nginx", default="nginx")
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    raise_nofile()
    bins = {"ws-server": os.path.join(args.bin_dir, "ws-server"),
            "ws-tokio": os.path.join(args.bin_dir, "examples", "echo"),
            "ws-load": os.path.join(args.bin_dir, "ws-load")}
    kinds = ["ws-server", "ws-tokio"] if args.server == "both" else [args.server]
    ok = all([run(k, bins, args.nginx, os.path.join(args.work_dir, k)) or False
              for k in kinds if os.makedirs(os.path.join(args.work_dir, k)) is None])
    print(f"scale-out: {'passed' if ok else 'FAILED'}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
