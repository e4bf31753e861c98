#!/usr/bin/env python3
"""HTTP/1.1 conformance of portico beside nginx and HAProxy, through hostile requests and careless
upstream responses (issue 6; docs/http-conformance.md).

Each proxy runs on loopback in front of the same two recording upstreams ("main" for every path,
"api" for the /api prefix), so that what the client got and what each upstream received can be
compared. The cases come from RFC 9112/9110 and from the public suites listed in
docs/http-conformance.md (h1spec, smuggler, llhttp's tests, HAProxy's reg-tests/http-messaging,
the HTTP Garden's parser bugs).

  tests/conformance/h1_conformance.py --portico NAME=PATH [--portico NAME=PATH ...] [--markdown]
      [--h1spec DIR] [--smuggler DIR]

Prints a table, then "N passed, N failed" for the expectations on the last portico given.
--h1spec DIR runs uNetworking/h1spec's own http_test.ts (under Node with tsx and
deno_shim.mjs) against each proxy; --smuggler DIR runs defparam/smuggler's default mutations.
Both are public repositories brought here to run, never committed (docs/http-conformance.md).
"""
import argparse
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

RESPONSES = {
    "/resp/connection-cl": b"HTTP/1.1 200 OK\r\nConnection: Content-Length, X-Hop\r\nX-Hop: 1\r\n"
                           b"Content-Length: 5\r\n\r\nhello",
    "/resp/te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                     b"5\r\nhello\r\n0\r\n\r\n",
    "/resp/te-and-cl": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                       b"5\r\nhello\r\n0\r\n\r\n",
    "/resp/bad-status": b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
    "/resp/two-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
    "/resp/space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
}
def echo_response(body):
    """h1spec expects the body echoed back, whatever the method."""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


class Upstream:
    """Records each request it parses (head, body) and answers by path."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.records = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # notified whenever `waiting` changes
        self.waiting = {}  # connection -> its thread is blocked in recv with no request buffered
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        buf = b""
        conn.settimeout(5)
        self.set_waiting(conn, False)

        def more():
            nonlocal buf
            self.set_waiting(conn, b"\r\n\r\n" not in buf)
            data = conn.recv(65536)
            self.set_waiting(conn, False)
            if not data:
                raise EOFError
            buf += data

        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    more()
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                fields = [l.split(b":", 1) for l in lines[1:] if b":" in l]
                names = [(k.strip().lower(), v.strip()) for k, v in fields]
                body = b""
                lengths = [v for k, v in names if k == b"content-length"]
                te = b",".join(v for k, v in names if k == b"transfer-encoding").lower()
                if te.endswith(b"chunked"):
                    while True:
                        while b"\r\n" not in buf:
                            more()
                        size_line, buf = buf.split(b"\r\n", 1)
                        size = int(size_line.split(b";")[0], 16)
                        while len(buf) < size + 2:
                            more()
                        body += buf[:size]
                        buf = buf[size + 2:]
                        if size == 0:
                            break
                elif lengths:
                    n = int(lengths[0].split(b",")[0])
                    while len(buf) < n:
                        more()
                    body, buf = buf[:n], buf[n:]
                with self.lock:
                    self.records.append({"line": lines[0], "fields": names, "body": body})
                target = lines[0].split(b" ")[1].decode("latin-1") if b" " in lines[0] else ""
                path = target.split("?")[0]
                if path.startswith("http"):
                    path = "/" + path.split("/", 3)[-1]
                conn.sendall(RESPONSES.get(path) or echo_response(body))
        except (EOFError, OSError, ValueError, IndexError):
            pass
        finally:
            with self.lock:
                self.waiting.pop(conn, None)
                self.changed.notify_all()
            conn.close()

    def set_waiting(self, conn, waiting):
        with self.lock:
            self.waiting[conn] = waiting
            self.changed.notify_all()

    def wait_idle(self, timeout):
        """Waits until every connection's thread waits in recv with nothing left to read on it.
        Data that arrives wakes that thread's recv, which changes `waiting` and notifies."""
        with self.changed:
            return self.changed.wait_for(self._idle_locked, timeout)

    def _idle_locked(self):
        for conn, waiting in list(self.waiting.items()):
            if not waiting:
                return False
            try:
                if select.select([conn], [], [], 0)[0]:
                    return False
            except (OSError, ValueError):
                continue  # closed meanwhile
        return True

    def take(self):
        with self.lock:
            out, self.records = self.records, []
        return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def eventually(pred, deadline, proc=None):
    """True once pred() holds, False when `deadline` seconds pass first: the same wait as
    tests/support's eventually(), checking with a back-off from 1 to 50 ms. With `proc` (the
    server being waited for), the wait between checks is a wait on that process: one that exits
    ends the wait at once, with its status, instead of after the deadline."""
    end = time.monotonic() + deadline
    pause = 0.001
    while not pred():
        left = end - time.monotonic()
        if left <= 0:
            return False
        if proc is None:
            time.sleep(min(pause, left))
        else:
            try:
                code = proc.wait(timeout=min(pause, left))
                raise RuntimeError(f"{proc.args[0]} exited with status {code} before it was ready")
            except subprocess.TimeoutExpired:
                pass
        pause = min(pause * 2, 0.05)
    return True


def answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_port(port, deadline=10.0, proc=None):
    if not eventually(lambda: answers(port), deadline, proc):
        raise RuntimeError(f"nothing listens on {port}")


def start_portico(binary, work, main, api):
    port, admin = free_port(), free_port()
    man = os.path.join(work, "manifests-" + str(port))
    os.makedirs(man)
    svc = ""
    for name, up in (("main", main), ("api", api)):
        svc += f"""apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: c}}
spec: {{ports: [{{name: http, port: 80, targetPort: {up.port}}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-1, namespace: c, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
ports: [{{name: http, port: {up.port}}}]
endpoints: [{{addresses: ["127.0.0.1"], conditions: {{ready: true}}}}]
---
"""
    ing = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: c, namespace: c}
spec:
  ingressClassName: portico
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
"""
    with open(os.path.join(man, "c.yaml"), "w") as f:
        f.write(svc + ing)
    p = subprocess.Popen([binary, "--manifests", man, "--bind", "127.0.0.1", "--http-port",
                          str(port), "--https-port", "0", "--admin-port", str(admin), "--workers", "1",
                          "--log-level", "error"], stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)

    def ready():  # once the snapshot is in
        try:
            with socket.create_connection(("127.0.0.1", admin), timeout=1) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return s.recv(100).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    if not eventually(ready, 10, p):
        raise RuntimeError(f"portico on {port} did not become ready")
    return p, port


def start_nginx(work, main, api):
    port = free_port()
    d = os.path.join(work, "nginx")
    os.makedirs(d, exist_ok=True)
    conf = f"""worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log crit;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  upstream main {{ server 127.0.0.1:{main.port}; keepalive 16; }}
  upstream api {{ server 127.0.0.1:{api.port}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://main; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_set_header Host $host; }}
    location /api {{ proxy_pass http://api; proxy_http_version 1.1;
                    proxy_set_header Connection ""; proxy_set_header Host $host; }}
  }}
}}
"""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    p = subprocess.Popen(["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d],
                         stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    return p, port


def start_haproxy(work, main, api):
    port = free_port()
    cfg = os.path.join(work, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
  http-reuse always
frontend fe
  bind 127.0.0.1:{port}
  use_backend api if {{ path_beg /api/ }} || {{ path /api }}
  default_backend main
backend main
  server up 127.0.0.1:{main.port}
backend api
  server up 127.0.0.1:{api.port}
""")
    p = subprocess.Popen(["haproxy", "-f", cfg, "-db"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    return p, port


def send(port, data, timeout=2.0):
    """Sends raw bytes; returns (all bytes read until close or timeout, closed)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    out = b""
    closed = False
    try:
        s.sendall(data)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
            if looks_complete(out):
                break
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    return out, closed


def looks_complete(data):
    """True once one final response is whole (Content-Length or chunked framing)."""
    while data.startswith(b"HTTP/1.1 1") and b"\r\n\r\n" in data:
        data = data.split(b"\r\n\r\n", 1)[1]  # interim responses
    if b"\r\n\r\n" not in data:
        return False
    head, body = data.split(b"\r\n\r\n", 1)
    lower = head.lower()
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            try:
                return len(body) >= int(line.split(b":", 1)[1])
            except ValueError:
                return False
    if b"transfer-encoding: chunked" in lower:
        return body.endswith(b"0\r\n\r\n")
    return False


def status_of(data):
    if not data.startswith(b"HTTP/"):
        return None
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def fields_of(rec, name):
    return [v for k, v in rec["fields"] if k == name]


def summary(res):
    st = res["status"]
    text = str(st) if st is not None else ("closed" if res["closed"] else "no answer")
    ups = res["main"] + res["api"]
    if ups:
        where = "+".join(f"{len(res[n])} {n}" for n in ("main", "api") if res[n])
        text += f" ({where})"
    return text


# ---- the cases -----------------------------------------------------------------------------
# Each: name, the raw request, what portico must do (a predicate over the result), and a short
# statement of it for the table.

def req(line, *fields, body=b""):
    return line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n"
CASES = [
    ("Connection: Content-Length smuggling",
     req(b"POST /a HTTP/1.1", b"Host: a.test", b"Connection: Content-Length",
         b"Content-Length: %d" % len(SMUGGLED), body=SMUGGLED),
     lambda r: r["status"] == 200 and len(r["main"]) == 1, "200, upstream reads 1 request"),
    ("Connection: Host",
     req(b"GET / HTTP/1.1", b"Host: a.test", b"Connection: Host"),
     lambda r: r["main"] and fields_of(r["main"][0], b"host") == [b"a.test"], "Host kept"),
    ("two Host fields", req(b"GET / HTTP/1.1", b"Host: a.test", b"Host: b.test"),
     lambda r: r["status"] == 400 and not r["main"], "400"),
    ("Host: a, b", req(b"GET / HTTP/1.1", b"Host: a, b"),
     lambda r: r["status"] == 400, "400"),
    ("Host: a/b@c d", req(b"GET / HTTP/1.1", b"Host: a/b@c d"),
     lambda r: r["status"] == 400, "400"),
    ("absolute-form target vs Host",
     req(b"GET http://b.example/x HTTP/1.1", b"Host: a.example"),
     lambda r: r["main"] and fields_of(r["main"][0], b"host") == [b"b.example"]
     and r["main"][0]["line"].startswith(b"GET /x "), "Host: b.example, target /x"),
    ("/api/../admin", req(b"GET /api/../admin HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 200 and r["main"] and not r["api"], "routed as /admin"),
    ("/api/%2e%2e/admin", req(b"GET /api/%2e%2e/admin HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 200 and r["main"] and not r["api"], "routed as /admin"),
    ("//api//v1 (merged slashes)", req(b"GET //api//v1 HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 200 and r["api"], "routed as /api/v1"),
    ("/../x (above the root)", req(b"GET /../x HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 400, "400"),
    ("Transfer-Encoding: gzip, chunked",
     req(b"POST / HTTP/1.1", b"Host: a.test", b"Transfer-Encoding: gzip, chunked",
         body=b"0\r\n\r\n"),
     lambda r: r["status"] == 501 or (r["main"] and b"gzip" in b",".join(
         fields_of(r["main"][0], b"transfer-encoding"))), "501 (or every coding forwarded)"),
    ("two identical Content-Length",
     req(b"POST / HTTP/1.1", b"Host: a.test", b"Content-Length: 3", b"Content-Length: 3",
         body=b"abc"),
     lambda r: r["status"] == 400 or (r["main"] and len(fields_of(r["main"][0],
                                                                    b"content-length")) == 1),
     "one Content-Length upstream, or 400"),
    ("HTTP/1.0 with Expect: 100-continue",
     req(b"POST / HTTP/1.0", b"Host: a.test", b"Expect: 100-continue", b"Content-Length: 2",
         body=b"hi"),
     lambda r: r["raw"].startswith(b"HTTP/1.1 200") or r["raw"].startswith(b"HTTP/1.0 200"),
     "no 100 Continue"),
    ("empty version (GET / )", b"GET / \r\nHost: a.test\r\n\r\n",
     lambda r: r["status"] == 400, "400"),
    ("extension method QUERY", req(b"QUERY /q HTTP/1.1", b"Host: a.test"),
     lambda r: r["main"] and r["main"][0]["line"].startswith(b"QUERY "), "forwarded"),
    ("extension method SOURCE", req(b"SOURCE /q HTTP/1.1", b"Host: a.test"),
     lambda r: r["main"] and r["main"][0]["line"].startswith(b"SOURCE "), "forwarded"),
    ("empty line before the request line", b"\r\n" + req(b"GET / HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 200, "200"),
    ("HTTP/1.2", req(b"GET / HTTP/1.2", b"Host: a.test"),
     lambda r: r["status"] == 200, "200 (as 1.1)"),
    ("70 kB target", req(b"GET /" + b"t" * 70000 + b" HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 414, "414"),
    ("20 Connection tokens",
     req(b"GET / HTTP/1.1", b"Host: a.test",
         b"Connection: " + b", ".join(b"x%d" % i for i in range(20))),
     lambda r: r["status"] == 400, "400"),
    ("control character in a field value", req(b"GET / HTTP/1.1", b"Host: a.test", b"X: a\x01b"),
     lambda r: r["status"] == 400 and not r["main"], "400"),
    ("Content-Length and Transfer-Encoding",
     req(b"POST / HTTP/1.1", b"Host: a.test", b"Content-Length: 5",
         b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
     lambda r: r["status"] == 400 and not r["main"], "400"),
    ("Transfer-Encoding: xchunked",
     req(b"POST / HTTP/1.1", b"Host: a.test", b"Transfer-Encoding: xchunked", body=b"0\r\n\r\n"),
     lambda r: r["status"] in (400, 501) and not r["main"], "400 or 501"),
    ("obs-fold in Transfer-Encoding",
     req(b"POST / HTTP/1.1", b"Host: a.test", b"Transfer-Encoding:", b" chunked",
         body=b"0\r\n\r\n"),
     # RFC 9112 5.2: reject, or replace the fold with SP. Beast does the latter and portico
     # re-frames from the parser, so the upstream sees one clean framing field either way.
     lambda r: r["status"] == 400 or (r["main"] and fields_of(r["main"][0],
                                                              b"transfer-encoding") == [b"chunked"]),
     "400, or unfolded and re-framed"),
    ("space before the colon",
     req(b"POST / HTTP/1.1", b"Host: a.test", b"Transfer-Encoding : chunked", body=b"0\r\n\r\n"),
     lambda r: r["status"] == 400 and not r["main"], "400"),
    ("bad chunk size",
     req(b"POST / HTTP/1.1", b"Host: a.test", b"Transfer-Encoding: chunked",
         body=b"5x\r\nhello\r\n0\r\n\r\n"),
     lambda r: r["status"] == 400 or (r["status"] is None and not r["main"]), "400"),
    ("upstream: Connection: Content-Length",
     req(b"GET /resp/connection-cl HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 200 and b"\r\ncontent-length: 5" in r["raw"].lower()
     and b"x-hop" not in r["raw"].lower(), "200 with Content-Length: 5"),
    ("upstream: Transfer-Encoding: gzip, chunked",
     req(b"GET /resp/te-gzip HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 502 or b"gzip" in r["raw"].lower(), "502 (or coding kept)"),
    ("upstream: Transfer-Encoding and Content-Length",
     req(b"GET /resp/te-and-cl HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 502, "502"),
    ("upstream: status 2000", req(b"GET /resp/bad-status HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 502, "502"),
    ("upstream: two different Content-Length",
     req(b"GET /resp/two-cl HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 502, "502"),
    ("upstream: space before the colon",
     req(b"GET /resp/space-before-colon HTTP/1.1", b"Host: a.test"),
     lambda r: r["status"] == 502, "502"),
]


def settle(ups, limit=2.0):
    """Waits, with a deadline, until no upstream has a request left to read or to record."""
    end = time.monotonic() + limit
    for u in ups:
        u.wait_idle(max(0.0, end - time.monotonic()))


def run_case(port, data, main, api):
    main.take()
    api.take()
    raw, closed = send(port, data)
    settle([main, api])
    return {"raw": raw, "closed": closed, "status": status_of(raw), "main": main.take(),
            "api": api.take()}


def run_h1spec(checkout, port):
    here = os.path.dirname(os.path.abspath(__file__))
    tools = os.path.join(here, "..", "..", ".tools", "conformance")
    if not os.path.exists(os.path.join(tools, "node_modules", "tsx")):
        subprocess.run(["npm", "install", "--silent", "--prefix", tools, "tsx@4"], check=True,
                       stdout=subprocess.DEVNULL)
    out = subprocess.run(["node", "--import", "tsx", "--import",
                          "file://" + os.path.join(here, "deno_shim.mjs"),
                          os.path.join(os.path.abspath(checkout), "http_test.ts"), "127.0.0.1",
                          str(port)], cwd=tools, capture_output=True, text=True, timeout=120)
    lines = (out.stdout + out.stderr).splitlines()
    total = [l for l in lines if "tests passed" in l]
    failed = [l.split(":")[0].replace("❌", "").strip() for l in lines if l.startswith("❌")]
    return (total[0].strip() if total else "did not run: " + (lines[-1] if lines else "")) + (
        "; failed: " + "; ".join(failed) if failed else "")


def run_smuggler(checkout, port):
    out = subprocess.run([sys.executable, "smuggler.py", "-u", f"http://127.0.0.1:{port}/",
                          "-t", "3", "--no-color"], cwd=checkout, capture_output=True, text=True,
                         timeout=1800)
    lines = out.stdout.splitlines()
    issues = [l.strip() for l in lines if "Potential" in l or "CRITICAL" in l.upper()]
    tested = [l for l in lines if "[" in l and ("OK" in l or "Potential" in l or "Disconnected"
                                                 in l or "Timeout" in l)]
    return f"{len(tested)} mutations, {len(issues)} potential desync" + (
        ": " + "; ".join(issues[:5]) if issues else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portico", action="append", default=[], help="NAME=PATH of a binary")
    ap.add_argument("--no-others", action="store_true", help="skip nginx and HAProxy")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--h1spec", help="a checkout of uNetworking/h1spec")
    ap.add_argument("--smuggler", help="a checkout of defparam/smuggler")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="portico-h1-")
    up_main, up_api = Upstream("main"), Upstream("api")
    procs = []
    proxies = []
    try:
        for spec in args.portico:
            name, path = spec.split("=", 1)
            p, port = start_portico(path, work, up_main, up_api)
            procs.append(p)
            proxies.append((name, port))
        if not args.no_others:
            for name, start in (("nginx", start_nginx), ("haproxy", start_haproxy)):
                if shutil.which(name):
                    p, port = start(work, up_main, up_api)
                    procs.append(p)
                    proxies.append((name, port))
        rows = []
        passed = failed = 0
        judged = [n for n, _ in proxies if n not in ("nginx", "haproxy")][-1:]
        for name, data, want, want_text in CASES:
            cells = []
            for pname, port in proxies:
                res = run_case(port, data, up_main, up_api)
                ok = bool(want(res))
                cells.append(("" if ok else "✗ ") + summary(res))
                if pname in judged:
                    passed, failed = passed + ok, failed + (not ok)
            rows.append((name, want_text, cells))
        names = [n for n, _ in proxies]
        if args.markdown:
            print("| case | portico must | " + " | ".join(names) + " |")
            print("|---|---|" + "---|" * len(names))
            for name, want_text, cells in rows:
                print(f"| {name} | {want_text} | " + " | ".join(cells) + " |")
        else:
            w = max(len(r[0]) for r in rows)
            print(f"{'case':<{w}}  " + "  ".join(f"{n:<22}" for n in names))
            for name, _, cells in rows:
                print(f"{name:<{w}}  " + "  ".join(f"{c:<22}" for c in cells))
        print("\n✗: differs from what portico must do (the second column).")
        if args.h1spec:
            print("\nh1spec (uNetworking/h1spec http_test.ts):")
            for pname, port in proxies:
                print(f"  {pname:<10} {run_h1spec(args.h1spec, port)}")
        if args.smuggler:
            print("\nsmuggler (defparam/smuggler, default mutations):")
            for pname, port in proxies:
                print(f"  {pname:<10} {run_smuggler(args.smuggler, port)}")
        print(f"conformance: {passed} passed, {failed} failed")
        return 0 if failed == 0 else 1
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
