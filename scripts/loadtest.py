#!/usr/bin/env python3
"""Load test: lameduck, the parse-only baseline and the floor, side by side, A B C A B C.

All three use the same TLS and HTTP stack and the same certificate. The baseline only
parses the body into a JSON value and answers a fixed AdmissionReview
(examples/baseline.rs); the floor reads the body and answers without any JSON work
(examples/floor.rs): what the machine can do at all. oha drives 16 keep-alive
connections with the 8 KB nginx + app Pod review. Prints throughput and p50/p99 latency
of each, their ratios to the floor, each process's peak RSS, idle RSS, and lameduck's
time from start to ready.

    scripts/loadtest.py [--seconds 10] [--rounds 2] [--connections 16] [--json FILE]
                        [--lameduck BINARY]

--json appends one line per server to FILE: the commit (`-dirty` with uncommitted
changes), /proc/loadavg when the run started, nproc, and the medians;
`scripts/perf-table.py FILE --readme README.md` makes the README's table from it.
Needs `oha` (cargo install oha) and release builds (the script builds them, under
`nice` so a shared machine's other work keeps its priority).
"""

import argparse
import datetime
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


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of the whole line.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def oha(oha_bin, port, seconds, connections, pid=None):
    cpu_before = cpu_seconds(pid) if pid else 0.0
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
    requests = sum(codes.values())
    run = {
        "rps": summary["requestsPerSec"],
        "p50": percentiles["p50"] * 1000,
        "p99": percentiles["p99"] * 1000,
    }
    if pid and requests:
        # The server's own CPU per answer: unlike requests/s it does not depend on how
        # much of the machine the server got, so it compares runs on a busy machine.
        run["cpu_us"] = (cpu_seconds(pid) - cpu_before) / requests * 1e6
    return run


def commit():
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    # The results file this script appends to does not make the build dirty.
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":!docs/results"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.strip()
    return f"{head}-dirty" if dirty else head


SERVERS = ("lameduck", "baseline", "floor")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="append one JSON line per server")
    parser.add_argument("--lameduck", metavar="BINARY",
                        help="measure this lameduck build (another commit's) instead of this tree's; "
                             "its lines record it as `binary`")
    args = parser.parse_args()
    loadavg = pathlib.Path("/proc/loadavg").read_text().split()[:3]

    oha_bin = shutil.which("oha") or str(pathlib.Path.home() / ".cargo" / "bin" / "oha")
    if not os.path.exists(oha_bin):
        raise SystemExit("oha not found: cargo install oha")
    if not args.no_build:
        subprocess.run(["nice", "-n", "19", "cargo", "build", "--release", "--locked",
                        "--bin", "lameduck", "--example", "baseline", "--example", "floor"],
                       cwd=ROOT, check=True)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    release = target / "release"

    tmp = pathlib.Path(tempfile.mkdtemp())
    cert, key = tmp / "tls.crt", tmp / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)

    lameduck_port, metrics_port = free_port(), free_port()
    baseline_port, floor_port = free_port(), free_port()
    started = time.monotonic()
    lameduck = subprocess.Popen(
        [args.lameduck or release / "lameduck", "serve", "--listen", f"127.0.0.1:{lameduck_port}",
         "--metrics-listen", f"127.0.0.1:{metrics_port}", "--kube", "off",
         "--tls-cert", cert, "--tls-key", key, "--log-level", "warn"])
    wait_ready(f"http://127.0.0.1:{metrics_port}/readyz")
    ready_ms = (time.monotonic() - started) * 1000
    baseline = subprocess.Popen(
        [release / "examples" / "baseline", "--listen", f"127.0.0.1:{baseline_port}",
         "--tls-cert", cert, "--tls-key", key], stderr=subprocess.DEVNULL)
    floor = subprocess.Popen(
        [release / "examples" / "floor", "--listen", f"127.0.0.1:{floor_port}",
         "--tls-cert", cert, "--tls-key", key], stderr=subprocess.DEVNULL)
    wait_port(baseline_port)
    wait_port(floor_port)
    time.sleep(0.2)
    processes = {"lameduck": lameduck, "baseline": baseline, "floor": floor}
    ports = {"lameduck": lameduck_port, "baseline": baseline_port, "floor": floor_port}
    idle = {name: rss_kib(p.pid, "VmRSS") for name, p in processes.items()}

    results = {name: [] for name in SERVERS}
    try:
        # Warm each up, then alternate so drift on a shared machine hits all alike.
        for name in SERVERS:
            oha(oha_bin, ports[name], 2, args.connections)
        for _ in range(args.rounds):
            for name in SERVERS:
                results[name].append(oha(oha_bin, ports[name], args.seconds, args.connections,
                                         processes[name].pid))
        peak = {name: rss_kib(p.pid, "VmHWM") for name, p in processes.items()}
    finally:
        for process in processes.values():
            process.send_signal(2)
            process.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)

    def summary(name):
        runs = results[name]
        return {key: statistics.median(run[key] for run in runs)
                for key in ("rps", "p50", "p99", "cpu_us")}

    medians = {name: summary(name) for name in SERVERS}
    floor_s = medians["floor"]
    print(f"\n8 KB nginx+app Pod review, {args.connections} connections, "
          f"{args.rounds} x {args.seconds} s each, A B C A B C (medians); "
          f"load average at start {' '.join(loadavg)}, {os.cpu_count()} CPUs\n")
    print("| server | requests/s | × floor | p50 ms | p99 ms | p99 × floor | CPU µs per request "
          "| peak RSS MiB | idle RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s in medians.items():
        print(f"| {name} | {s['rps']:.0f} | {s['rps'] / floor_s['rps']:.2f} | {s['p50']:.3f} | "
              f"{s['p99']:.3f} | {s['p99'] / floor_s['p99']:.2f} | {s['cpu_us']:.1f} | "
              f"{peak[name] / 1024:.1f} | {idle[name] / 1024:.1f} |")
    print(f"\nlameduck / baseline: {medians['lameduck']['rps'] / medians['baseline']['rps']:.2f}× the requests/s")
    print(f"lameduck ready {ready_ms:.1f} ms after start (process spawn to /readyz 200)")
    for name in results:
        for i, run in enumerate(results[name]):
            print(f"  {name} round {i + 1}: {run['rps']:.0f} req/s, p50 {run['p50']:.3f} ms, "
                  f"p99 {run['p99']:.3f} ms, {run['cpu_us']:.1f} µs CPU per request")

    if args.json:
        at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        common = {"at": at, "commit": commit(), "binary": args.lameduck, "loadavg": loadavg, "nproc": os.cpu_count(),
                  "body": BODY.name, "connections": args.connections,
                  "seconds": args.seconds, "rounds": args.rounds}
        with open(args.json, "a", encoding="utf-8") as f:
            for name in SERVERS:
                m = medians[name]
                f.write(json.dumps({**common, "server": name,
                                    "rps": round(m["rps"], 1), "p50_ms": round(m["p50"], 3),
                                    "p99_ms": round(m["p99"], 3),
                                    "cpu_us_per_request": round(m["cpu_us"], 1),
                                    "peak_rss_mib": round(peak[name] / 1024, 1),
                                    "idle_rss_mib": round(idle[name] / 1024, 1),
                                    "ready_ms": round(ready_ms, 1) if name == "lameduck" else None,
                                    "runs": results[name]}) + "\n")
        print(f"appended to {args.json}")


if __name__ == "__main__":
    sys.exit(main())
