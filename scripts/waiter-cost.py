#!/usr/bin/env python3
"""What the `wait` action's waiter costs a pod: RSS and CPU of `lameduck waiter`
idle (no hook has called yet), watching (a hook is waiting, the socket table is read
every --poll), and watching while N inbound connections are open to a listener.

    scripts/waiter-cost.py [--binary target/release/lameduck] [--connections 1000] [--seconds 10]

The waiter reads the socket table of its network namespace, so measure it in one of its
own, as in a pod (the host's table holds every other process's sockets): as root,
`--netns` re-runs this script under `unshare -n` with loopback up and the address
10.200.0.1 added to it (the waiter ignores loopback peers, 127/8 and ::1, but not
another address: the listener binds that one). Everything stays on this host; the run stops by itself.
Prints one line per phase: RSS (MiB, from /proc/PID/status) and CPU (milliseconds of
CPU per second of wall time, from /proc/PID/stat; 10 ms/s = 1 % of one core).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.request

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of the whole line.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(pid: int, name: str, seconds: float) -> None:
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    peak = 0.0
    while time.monotonic() - wall_before < seconds:
        peak = max(peak, rss_mib(pid))
        time.sleep(0.2)
    cpu = cpu_seconds(pid) - cpu_before
    wall = time.monotonic() - wall_before
    print(
        f"{name:<44} RSS {rss_mib(pid):5.2f} MiB (peak {peak:5.2f})  "
        f"CPU {1000 * cpu / wall:6.2f} ms/s",
        flush=True,
    )


def local_address() -> str:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # Connecting a UDP socket sends nothing; it picks the source address a route
        # to this documentation address (TEST-NET-1) would use.
        probe.connect(("192.0.2.1", 9))
        return probe.getsockname()[0]
    finally:
        probe.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default="target/release/lameduck")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--poll", default="250ms")
    parser.add_argument("--address", help="non-loopback address to listen on (default: this host's)")
    parser.add_argument("--netns", action="store_true", help="run in a new network namespace (root)")
    args = parser.parse_args()

    if args.netns:
        rest = [a for a in sys.argv[1:] if a != "--netns"]
        setup = (
            "ip link set lo up && ip addr add 10.200.0.1/32 dev lo && exec \"$@\""
        )
        return subprocess.call(
            ["unshare", "-n", "sh", "-c", setup, "sh", sys.executable, __file__,
             "--address", "10.200.0.1", *rest]
        )

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * args.connections + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))

    port = free_port()
    # min = max, long: the waiter keeps watching for the whole measurement.
    hold = f"{int(args.seconds * 4 + 30)}s"
    waiter = subprocess.Popen(
        [args.binary, "waiter", f"--port={port}", f"--min={hold}", f"--max={hold}",
         f"--poll={args.poll}", "--log-level=warn"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        print(f"lameduck waiter, pid {waiter.pid}, --poll {args.poll}, {args.seconds:g} s per phase")
        measure(waiter.pid, "idle (no hook yet)", args.seconds)

        # A hook calls: the waiter starts reading the socket table.
        def call_hook() -> None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/release?after=0", timeout=3600).read()
            except OSError:
                pass  # the waiter is killed at the end, with this hook still waiting

        hook = threading.Thread(target=call_hook, daemon=True)
        hook.start()
        time.sleep(0.5)
        measure(waiter.pid, "watching, no connections", args.seconds)

        address = args.address or local_address()
        listener = socket.socket()
        listener.bind((address, 0))
        listener.listen(4096)
        clients, accepted = [], []
        for _ in range(args.connections):
            client = socket.create_connection(listener.getsockname())
            clients.append(client)
            accepted.append(listener.accept()[0])
        time.sleep(0.5)
        measure(waiter.pid, f"watching, {args.connections} idle connections", args.seconds)

        # The same connections, each sending a few bytes every second.
        stop = threading.Event()

        def chatter() -> None:
            while not stop.is_set():
                for client in clients:
                    client.send(b"GET / HTTP/1.1\r\n\r\n")
                for server in accepted:
                    server.recv(4096)
                stop.wait(1.0)

        talker = threading.Thread(target=chatter, daemon=True)
        talker.start()
        measure(waiter.pid, f"watching, {args.connections} busy connections (1 req/s each)", args.seconds)
        stop.set()
        talker.join()
        for s in clients + accepted:
            s.close()
        listener.close()
    finally:
        # SIGKILL: on SIGTERM the waiter would first answer the hook still waiting.
        waiter.kill()
        waiter.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
