#!/usr/bin/env python3
"""Load test: lameduck against the least-work baseline, side by side, A B A B.

Both servers use the same TLS and HTTP stack and the same certificate; the baseline
only parses the body into a JSON value and answers a fixed AdmissionReview. oha drives
16 keep-alive connections with the 8 KB nginx + app Pod review. Prints throughput and
p50/p99 latency of each, their ratios, each process's peak RSS, idle RSS, and the time
from start to ready.

    scripts/loadtest.py [--seconds 10] [--rounds 2] [--connections 16]

Needs `oha` (cargo install oha) and release builds (the script builds them).
"""

import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
BODY = ROOT / "benches" / "data" / "review-8k.json"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def wait_ready(url, deadline=10.0):
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            with urllib.request.urlopen(url, timeout=0.2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.001)
    raise SystemExit(f"{url} never became ready")


def wait_port(port, deadline=10.0):
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.001)
    raise SystemExit(f"port {port} never opened")


def oha(oha_bin, port, seconds, connections):
    out = subprocess.run(
        [oha_bin, "--no-tui", "-z", f"{seconds}s", "-c", str(connections), "-m", "POST",
         "-D", str(BODY), "-H", "Content-Type: application/json", "--insecure",
         "--output-format", "json", f"https://127.0.0.1:{port}/mutate"],
        check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    summary = result["summary"]
    codes = result.get("statusCodeDistribution", {})
    if set(codes) - {"200"}:
        raise SystemExit(f"non-200 answers: {codes}")
    percentiles = result["latencyPercentiles"]
    return {
        "rps": summary["requestsPerSec"],
        "p50": percentiles["p50"] * 1000,
        "p99": percentiles["p99"] * 1000,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()

    oha_bin = shutil.which("oha") or str(pathlib.Path.home() / ".cargo" / "bin" / "oha")
    if not os.path.exists(oha_bin):
        raise SystemExit("oha not found: cargo install oha")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "lameduck",
                        "--example", "baseline"], cwd=ROOT, check=True)
    release = ROOT / "target" / "release"

    tmp = pathlib.Path(tempfile.mkdtemp())
    cert, key = tmp / "tls.crt", tmp / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)

    lameduck_port, metrics_port, baseline_port = free_port(), free_port(), free_port()
    started = time.monotonic()
    lameduck = subprocess.Popen(
        [release / "lameduck", "serve", "--listen", f"127.0.0.1:{lameduck_port}",
         "--metrics-listen", f"127.0.0.1:{metrics_port}", "--kube", "off",
         "--tls-cert", cert, "--tls-key", key, "--log-level", "warn"])
    wait_ready(f"http://127.0.0.1:{metrics_port}/readyz")
    ready_ms = (time.monotonic() - started) * 1000
    baseline = subprocess.Popen(
        [release / "examples" / "baseline", "--listen", f"127.0.0.1:{baseline_port}",
         "--tls-cert", cert, "--tls-key", key], stderr=subprocess.DEVNULL)
    wait_port(baseline_port)
    time.sleep(0.2)
    idle = {"lameduck": rss_kib(lameduck.pid, "VmRSS"), "baseline": rss_kib(baseline.pid, "VmRSS")}

    results = {"lameduck": [], "baseline": []}
    try:
        # Warm both up, then alternate so drift on a shared machine hits both alike.
        oha(oha_bin, lameduck_port, 2, args.connections)
        oha(oha_bin, baseline_port, 2, args.connections)
        for _ in range(args.rounds):
            results["lameduck"].append(oha(oha_bin, lameduck_port, args.seconds, args.connections))
            results["baseline"].append(oha(oha_bin, baseline_port, args.seconds, args.connections))
        peak = {"lameduck": rss_kib(lameduck.pid, "VmHWM"), "baseline": rss_kib(baseline.pid, "VmHWM")}
    finally:
        for process in (lameduck, baseline):
            process.send_signal(2)
            process.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)

    def summary(name):
        runs = results[name]
        return {key: statistics.median(run[key] for run in runs) for key in ("rps", "p50", "p99")}

    a, b = summary("lameduck"), summary("baseline")
    print(f"\n8 KB nginx+app Pod review, {args.connections} connections, "
          f"{args.rounds} x {args.seconds} s each, A B A B (medians)\n")
    print("| server | requests/s | p50 ms | p99 ms | peak RSS MiB | idle RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, s in (("lameduck", a), ("baseline", b)):
        print(f"| {name} | {s['rps']:.0f} | {s['p50']:.3f} | {s['p99']:.3f} | "
              f"{peak[name] / 1024:.1f} | {idle[name] / 1024:.1f} |")
    print(f"| ratio | {a['rps'] / b['rps']:.3f} | {a['p50'] / b['p50']:.3f} | "
          f"{a['p99'] / b['p99']:.3f} | | |")
    print(f"\nlameduck ready {ready_ms:.1f} ms after start (process spawn to /readyz 200)")
    for name in results:
        for i, run in enumerate(results[name]):
            print(f"  {name} round {i + 1}: {run['rps']:.0f} req/s, p50 {run['p50']:.3f} ms, p99 {run['p99']:.3f} ms")


if __name__ == "__main__":
    sys.exit(main())
