#!/usr/bin/env python3
"""Soak test: many held WebSocket connections, a share of them carrying
verified echo traffic of mixed sizes, the server's RSS and threads sampled
from /proc throughout. Run through scripts/soak.sh (which builds first).

Every echo is checked byte for byte by ws-load (one ws-load process per
size class: ws-load sends one size per connection). The run fails on any
verification error, any ws-load failure, a server that dies, or an RSS slope
(least-squares fit over the steady part of the run) above --max-slope.
Loopback only; every process is bounded in time and killed at the end.
"""

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

# (payload bytes, text?) per traffic class. The sizes sit on the frame
# header's length boundaries (7-, 16- and 64-bit lengths) up to 1 MiB.
SMALL = [(0, False), (1, True), (125, False), (126, True), (1024, True),
         (4096, False), (65535, True)]
# Large classes get one connection each: a verified 1 MiB echo costs
# milliseconds of CPU on both sides, and the CI machine has 2 cores.
LARGE = [(65536, False), (262144, True), (1 << 20, False), (1 << 20, True)]

# A leak of even 100 bytes per echo at the CI rate (~10k echoes/s) would be
# ~60 MiB/min; allocator and page-cache noise over a minute stays far below
# this bound (see docs/server.md "Soak").
DEFAULT_MAX_SLOPE_KIB_PER_MIN = 2048.0


def log(msg):
    print(f"soak: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def proc_status(pid):
    """(RSS KiB, threads) of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = threads = None
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
            return (rss, threads) if rss is not None else None
    except OSError:
        return None


def slope_per_min(points):
    """Least-squares slope of (seconds, KiB) points, in KiB per minute."""
    n = len(points)
    if n < 3:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return 60.0 * sxy / sxx if sxx else 0.0


def wait_listening(port, proc, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def start_server(kind, bins, port, connections, log_path):
    addr = f"127.0.0.1:{port}"
    if kind == "ws-server":
        cmd = [bins["ws-server"], "--bind", addr,
               "--max-connections", str(connections + 100)]
    else:
        cmd = [bins["ws-tokio"], "--bind", addr]
    env = dict(os.environ, RUST_LOG="warn")
    out = open(log_path, "w")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                            preexec_fn=raise_nofile)


def plan(connections, traffic_share):
    """[(connections, size, text)] for the traffic ws-load processes."""
    traffic = max(len(SMALL) + len(LARGE), int(connections * traffic_share))
    classes = [(1, s, t) for s, t in LARGE]
    left = traffic - len(LARGE)
    for i, (s, t) in enumerate(SMALL):
        n = left // len(SMALL) + (1 if i < left % len(SMALL) else 0)
        classes.append((n, s, t))
    return classes


def run(kind, args, bins, workdir):
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    server_log = os.path.join(workdir, f"{kind}.log")
    server = start_server(kind, bins, port, args.connections, server_log)
    procs = []
    try:
        if not wait_listening(port, server):
            log(f"{kind} did not start; log: {open(server_log).read()[-2000:]}")
            return False
        pid = server.pid
        classes = plan(args.connections, args.traffic_share)
        traffic = sum(n for n, _, _ in classes)
        held = args.connections - traffic
        log(f"{kind} pid {pid} on {url}: {held} held + {traffic} carrying "
            f"traffic in {len(classes)} size classes, {args.duration:.0f} s")
        warmup = 2.0
        common = ["--json", "-q", "--connect-timeout", "60",
                  "--echo-timeout", str(args.echo_timeout)]
        if held > 0:
            procs.append(("held", subprocess.Popen(
                [bins["ws-load"], url, "-c", str(held), "--idle",
                 "--settle", str(args.duration + warmup), "--server-pid", str(pid)]
                + common, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
        for n, size, text in classes:
            cmd = [bins["ws-load"], url, "-c", str(n), "-s", str(size),
                   "--warmup", str(warmup), "--duration", str(args.duration)] + common
            if text:
                cmd.append("--text")
            label = f"{size}B-{'text' if text else 'bin'}x{n}"
            procs.append((label, subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))

        start = time.monotonic()
        samples = []  # (seconds, rss KiB, threads)
        # Bounded: the ws-loads end by themselves; this is a backstop.
        hard_end = start + args.duration + warmup + 60 + 60 + args.echo_timeout + 30
        next_sample = start
        while any(p.poll() is None for _, p in procs) and time.monotonic() < hard_end:
            now = time.monotonic()
            if now >= next_sample:
                st = proc_status(pid)
                if st is None:
                    log(f"{kind} exited during the run")
                    break
                samples.append((now - start, st[0], st[1]))
                next_sample += args.sample_every
            time.sleep(0.1)

        ok = True
        results = []
        for label, p in procs:
            try:
                out, err = p.communicate(timeout=max(1.0, hard_end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                log(f"{label}: ws-load did not finish in time")
                ok = False
            try:
                rep = json.loads(out.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                log(f"{label}: no report (exit {p.returncode}): {err.decode()[-1000:]}")
                ok = False
                continue
            results.append((label, rep))
            if p.returncode != 0 or rep.get("errors", 0) != 0:
                ok = False
                log(f"{label}: exit {p.returncode}, errors {rep.get('errors')}: "
                    f"{rep.get('failures', [])[:5]}")
        if server.poll() is not None:
            log(f"{kind} died (exit {server.returncode})")
            ok = False

        messages = sum(r.get("messages", 0) for l, r in results if l != "held")
        errors = sum(r.get("errors", 0) for _, r in results)
        payload = sum(r.get("messages", 0) * r.get("size", 0) for l, r in results
                      if l != "held")
        # The steady part: after the connections opened and warm-up ended.
        # Up to the end of the measured window: after it the connections
        # close and RSS falls, which would hide a leak behind a negative slope.
        steady_from = warmup + args.duration * args.skip
        steady_to = warmup + args.duration
        steady = [(t, rss) for t, rss, _ in samples if steady_from <= t <= steady_to]
        slope = slope_per_min(steady)
        rss = [r for _, r, _ in samples]
        threads = [th for _, _, th in samples]
        held_rep = dict(results).get("held", {})
        print(f"{kind}: {args.connections} connections ({held} held, {traffic} with "
              f"traffic), {args.duration:.0f} s measured")
        print(f"  messages {messages} ({messages / args.duration:.0f}/s, "
              f"{payload / args.duration / 1e6:.1f} MB/s payload), errors {errors}")
        for label, r in results:
            if label != "held":
                print(f"    {label:>22}: {r.get('messages')} msgs, p99 "
                      f"{r.get('latency_p99_us', 0) / 1000:.2f} ms, errors {r.get('errors')}")
        if held_rep:
            print(f"  held: server RSS per connection "
                  f"{held_rep.get('server_rss_per_connection_kib')} KiB")
        if rss:
            print(f"  server RSS KiB min {min(rss)} max {max(rss)} last {rss[-1]}; "
                  f"threads max {max(threads)}; {len(samples)} samples every "
                  f"{args.sample_every:g} s")
        print(f"  RSS slope {slope:+.1f} KiB/min over {len(steady)} samples from "
              f"t={steady_from:.0f} to {steady_to:.0f} s (bound {args.max_slope:g})")
        if args.samples_out:
            with open(f"{args.samples_out}.{kind}.tsv", "w") as f:
                f.write("seconds\trss_kib\tthreads\n")
                f.writelines(f"{t:.1f}\t{r}\t{th}\n" for t, r, th in samples)
        if len(steady) < 3:
            log("too few steady samples for a slope")
            ok = False
        if slope > args.max_slope:
            log(f"{kind}: RSS slope {slope:.1f} KiB/min above {args.max_slope:g}")
            ok = False
        if errors:
            ok = False
        return ok
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--server", choices=["ws-server", "ws-tokio", "both"], default="both")
    ap.add_argument("--traffic-share", type=float, default=0.05,
                    help="share of the connections carrying traffic (default 0.05)")
    ap.add_argument("--max-slope", type=float, default=DEFAULT_MAX_SLOPE_KIB_PER_MIN,
                    help="fail above this RSS slope, KiB per minute")
    ap.add_argument("--skip", type=float, default=0.2,
                    help="share of the measured time left out of the fit (ramp-up)")
    ap.add_argument("--sample-every", type=float, default=2.0)
    ap.add_argument("--echo-timeout", type=float, default=20.0)
    ap.add_argument("--samples-out", help="write PATH.SERVER.tsv with every sample")
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    if not (1 <= args.duration <= 3600) or not (20 <= args.connections <= 19000):
        ap.error("--duration must be 1..3600 s and --connections 20..19000")
    raise_nofile()
    bins = {"ws-server": os.path.join(args.bin_dir, "ws-server"),
            "ws-tokio": os.path.join(args.bin_dir, "examples", "echo"),
            "ws-load": os.path.join(args.bin_dir, "ws-load")}
    kinds = ["ws-server", "ws-tokio"] if args.server == "both" else [args.server]
    failed = [k for k in kinds if not run(k, args, bins, args.work_dir)]
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    log("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
