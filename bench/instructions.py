#!/usr/bin/env python3
"""User-space instructions per request of portico builds, counted by callgrind.

Wall-clock benchmarks on a shared 2-core VM move by 20 % between two runs of the same binary;
instruction counts do not (valgrind counts the same instructions for the same binary and input,
whatever else the machine does). This measures what a change costs in portico's own code,
Beast, Asio and libc included, the kernel excluded.

  bench/instructions.py NAME=PORTICO_BINARY[@alb][,FLAG...] [NAME=... ...]
                        [--requests N] [--annotate N]

"@alb" routes the requests through failing conditions and a 70/30 weighted split (ROUTING=alb
in bench/common.sh) instead of one plain rule. FLAGs after commas go to that portico, e.g.
on=build/src/portico,--access-log-format=json off=build/src/portico,--enable-metrics=false
(its stdout, the access log, goes to /dev/null).

For each binary: an upstream (nginx, a 24-byte body), portico under callgrind with one worker,
a warm-up, then N keep-alive requests on one connection, and N/4 requests each on a new
connection, counted separately. Prints instructions per request and the ratio to the first.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "conformance"))
from h1_conformance import free_port, wait_port  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: instructions\r\n\r\n"
CLOSE_REQUEST = b"GET / HTTP/1.1\r\nHost: bench.local\r\nConnection: close\r\n\r\n"


def read_response(sock, buf):
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("closed")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
    while len(rest) < length:
        rest += sock.recv(65536)
    return rest[length:]


def keepalive(port, n):
    s = socket.create_connection(("127.0.0.1", port))
    buf = b""
    for _ in range(n):
        s.sendall(REQUEST)
        buf = read_response(s, buf)
    s.close()


def new_connections(port, n):
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(CLOSE_REQUEST)
        read_response(s, b"")
        s.close()


def callgrind(args):
    subprocess.run(["callgrind_control"] + args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def total_instructions(dump):
    total = 0
    with open(dump) as fh:
        for line in fh:
            if line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
    return total


def measure(binary, work, upstream_port, n, annotate=0, routing="plain", flags=()):
    port, admin = free_port(), free_port()
    man = os.path.join(work, f"m{port}")
    os.makedirs(man)
    # The bench Ingress of bench/common.sh, plain or (routing "alb") through conditions and a
    # weighted split.
    common = os.path.join(os.path.dirname(os.path.abspath(__file__)), "common.sh")
    subprocess.run(["bash", "-c", f'. "{common}"; write_bench_manifest "$1" "$2"', "bash",
                    os.path.join(man, "b.yaml"), str(upstream_port)],
                   env={**os.environ, "ROUTING": routing}, check=True)
    results = {}
    for scenario, run, count in (("keepalive", keepalive, n), ("new-connection", new_connections,
                                                               max(1, n // 4))):
        out = os.path.join(work, f"cg-{port}-{scenario}.out")
        p = subprocess.Popen(["valgrind", "--tool=callgrind",
                              f"--callgrind-out-file={out}", binary, "--manifests", man,
                              "--bind", "127.0.0.1", "--http-port", str(port), "--https-port", "0", "--admin-port",
                              str(admin), "--workers", "1", "--log-level", "error", *flags],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port, 60, p)
            end = time.monotonic() + 60
            while True:  # until the snapshot routes bench.local
                try:
                    keepalive(port, 1)
                    break
                except (RuntimeError, AttributeError, OSError):
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.1)
            run(port, max(1, count // 10))  # warm-up: pools, caches, first allocations
            callgrind(["-z", str(p.pid)])  # counters from here on only
            run(port, count)
            callgrind(["--dump=measured", str(p.pid)])
            end = time.monotonic() + 30
            while not os.path.exists(out + ".1") and time.monotonic() < end:
                time.sleep(0.1)  # the dump is written by the valgrind process itself
            results[scenario] = total_instructions(out + ".1") / count
            if annotate and scenario == "keepalive":
                print(f"--- {binary}: where the keep-alive instructions go (self, per request)")
                text = subprocess.run(["callgrind_annotate", "--threshold=100", out + ".1"],
                                      capture_output=True, text=True).stdout
                shown = 0
                for line in text.splitlines():
                    m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*)", line)
                    # Lines over half the total are the thread's entry frames, not work.
                    if m and float(m.group(2)) < 50 and shown < annotate:
                        ir = int(m.group(1).replace(",", "")) / count
                        print(f"{ir:>8,.0f}  {m.group(3)[:150]}")
                        shown += 1
        finally:
            p.terminate()
            p.wait(timeout=60)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+", help="NAME=PATH")
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--annotate", type=int, default=0, metavar="N",
                    help="print the N functions with the most instructions of their own")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (scripts/install-deps.sh bench)")
    work = tempfile.mkdtemp(prefix="portico-ir-")
    up_port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1; daemon off; pid {work}/nginx.pid; error_log {work}/e.log crit;
events {{ worker_connections 1024; }}
http {{ access_log off; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{up_port};
    location / {{ default_type text/plain; return 200 "hello from the upstream\\n"; }} }} }}
""")
    up = subprocess.Popen(["nginx", "-c", conf, "-p", work], stderr=subprocess.DEVNULL)
    try:
        wait_port(up_port, proc=up)
        rows = []
        for spec in args.binaries:
            name, path = spec.split("=", 1)
            path, *flags = path.split(",")
            path, _, routing = path.partition("@")
            rows.append((name, measure(os.path.abspath(path), work, up_port, args.requests,
                                        args.annotate, routing or "plain", flags)))
        base = rows[0][1]
        print(f"{'build':<12} {'scenario':<16} {'instructions/request':>22} {'ratio':>8}")
        for name, res in rows:
            for scenario, ir in res.items():
                print(f"{name:<12} {scenario:<16} {ir:>22,.0f} {ir / base[scenario]:>8.3f}")
    finally:
        up.terminate()
        up.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
