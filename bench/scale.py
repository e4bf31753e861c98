#!/usr/bin/env python3
"""portico at scale: N Ingresses (default 10,000) in test-apiserver, each with its own host, four
paths, its own Service and an EndpointSlice of three endpoints, as bench/synthetic_state.h
builds them, plus one probe Ingress whose slice points at two real echo backends.

Measured, in one run:
1. start -> the probe routing (list of every kind, first compile, publish);
2. resident memory of portico once it routes (and its peak, VmHWM);
3. an EndpointSlice change -> the first request routed by it: the probe slice is switched
   between the two backends with a PATCH, 300 ms apart (closer changes are a burst, which the
   controller debounces on purpose); the clock starts when the PATCH has been answered and stops
   at the first response from the new backend (keep-alive polling); and the time portico took to
   build each of those snapshots (portico_config_endpoint_update_duration_seconds: endpoint
   changes do not recompile routes);
4. an Ingress change -> traffic, and the full compile it causes
   (portico_config_compile_duration_seconds): the probe Ingress's host is switched between two
   names, and the clock stops at the first request to the new name that is routed.

The objects are written into test-apiserver's data directory before it starts, and it runs with
`--persist false` (creating 30,000 objects through the API, or saving them all on each PATCH,
would measure test-apiserver, not portico).

    bench/scale.py [BUILD_DIR] [--ingresses N] [--changes K]       (make bench-scale)

SCALE_FLAGS adds flags to portico's command line (SCALE_FLAGS=--enable-metrics=false measures
without the per-route series), SCALE_WRAP runs it under a wrapper (valgrind, perf), and KEEP=1
keeps the work directory (portico.log, access.log) for reading afterwards.

Targets (DESIGN.md, issue 7): RSS < 150 MiB, compile < 200 ms, change -> traffic < 100 ms.
"""
import argparse, http.client, json, os, socket, ssl, statistics, subprocess, sys, tempfile, time, urllib.request

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("build", nargs="?", default="build")
parser.add_argument("--ingresses", type=int, default=10000)
parser.add_argument("--changes", type=int, default=30)
parser.add_argument("--ingress-changes", type=int, default=10)
args = parser.parse_args()
build = os.path.join(root, args.build)
work = tempfile.mkdtemp(prefix="portico-scale-bench.")
procs = []
failed = []


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def start(argv, **kw):
    p = subprocess.Popen(argv, **kw); procs.append(p); return p


def wait_until(pred, what, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.01)
    raise SystemExit(f"timed out after {timeout} s waiting for {what}")


def status_meta(name, ns, rv):
    return {"name": name, "namespace": ns, "uid": f"uid-{rv}", "resourceVersion": str(rv),
            "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 1}


def write_state(path, n, probe_port):
    objects = {}
    rv = 0

    def put(qualified, kind, api_version, ns, name, body):
        nonlocal rv
        rv += 1
        meta = status_meta(name, ns, rv)
        meta.update(body.pop("metadata", {}))
        objects[f"{qualified}/{ns}/{name}"] = dict(body, kind=kind, apiVersion=api_version, metadata=meta)

    def trio(i, ns, host, endpoints, port):
        svc = f"svc{i}"
        put("services", "Service", "v1", ns, svc,
            {"spec": {"type": "ClusterIP", "ports": [{"name": "http", "protocol": "TCP", "port": 80,
                                                      "targetPort": port}]}})
        put("endpointslices.discovery.k8s.io", "EndpointSlice", "discovery.k8s.io/v1", ns, svc + "-x",
            {"metadata": {"labels": {"kubernetes.io/service-name": svc}}, "addressType": "IPv4",
             "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
             "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in endpoints]})
        paths = [{"path": p, "pathType": "Exact" if p == "/api/v1/users" else "Prefix",
                  "backend": {"service": {"name": svc, "port": {"number": 80}}}}
                 for p in ("/", "/api", "/api/v1/users", "/static")]
        put("ingresses.networking.k8s.io", "Ingress", "networking.k8s.io/v1", ns, f"ing{i}",
            {"spec": {"ingressClassName": "portico", "rules": [{"host": host, "http": {"paths": paths}}]}})

    for i in range(n):
        trio(i, f"ns{i % 50}", f"host{i}.example.com",
             [f"127.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + e + 1}" for e in range(3)], 9)
    trio(n, "probe", "probe.test", ["127.0.0.1"], probe_port)
    with open(path, "w") as f:
        json.dump({"resourceVersion": rv, "uidCounter": rv, "objects": objects}, f)
    return len(objects)


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB -> MiB
    return float("nan")


try:
    backend_ports = {name: free_port() for name in ("a", "b")}
    os.makedirs(os.path.join(work, "api"))
    t0 = time.perf_counter()
    count = write_state(os.path.join(work, "api", "state.json"), args.ingresses, backend_ports["a"])
    print(f"{count} objects written in {time.perf_counter() - t0:.1f} s "
          f"({args.ingresses} Ingresses, Services and EndpointSlices, and a probe trio)")

    api_port = free_port()
    kubeconfig = os.path.join(work, "kubeconfig")
    api_out = os.path.join(work, "api.out")
    start([os.path.join(build, "tests/test-apiserver"), "--port", str(api_port), "--kubeconfig-out", kubeconfig,
           "--data-dir", os.path.join(work, "api"), "--persist", "false"], stdout=open(api_out, "w"), stderr=subprocess.DEVNULL)
    wait_until(lambda: os.path.exists(api_out) and "listening" in open(api_out).read(), "test-apiserver", 120)
    token = open(os.path.join(work, "api/token")).read()
    ctx = ssl.create_default_context(cafile=os.path.join(work, "api/ca.crt"))

    def api(method, path, body=None, ctype="application/json"):
        req = urllib.request.Request(f"https://127.0.0.1:{api_port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
        return json.load(urllib.request.urlopen(req, context=ctx))

    for name, port in backend_ports.items():
        start([os.path.join(build, "tests/echo-backend"), "--port", str(port), "--name", name],
              stdout=subprocess.DEVNULL)
    http_port, admin_port = free_port(), free_port()
    t_start = time.perf_counter()
    portico = start([*os.environ.get("SCALE_WRAP", "").split(), os.path.join(build, "src/portico"), "--kubeconfig", kubeconfig, "--bind", "127.0.0.1",
                     "--http-port", str(http_port), "--https-port", "0", "--admin-port", str(admin_port), "--workers", "1",
                     "--leader-elect=false", "--log-level", "warn", *os.environ.get("SCALE_FLAGS", "").split()],
                    stderr=open(os.path.join(work, "portico.log"), "w"),
                    stdout=open(os.path.join(work, "access.log"), "w"))

    conn = None

    def name_of(host):
        global conn
        for _ in range(2):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
                conn.request("GET", "/", headers={"Host": host})
                r = conn.getresponse(); body = r.read()
                return json.loads(body)["name"] if r.status == 200 else str(r.status)
            except (OSError, http.client.HTTPException, ValueError):
                conn = None
        return "error"

    def metric(name):
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5).read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    # The duration of the last observation of a histogram (portico_config_*_duration_seconds):
    # its _sum's growth since `prev` (a (sum, count) pair read before), in ms. Waits for the
    # observation: the metric is updated right after the snapshot is published.
    def last_duration(name, prev):
        end = time.perf_counter() + 10
        while True:
            cur = (metric(name + "_sum") or 0.0, metric(name + "_count") or 0.0)
            if cur[1] > prev[1] or time.perf_counter() > end:
                return (cur[0] - prev[0]) / max(cur[1] - prev[1], 1) * 1000.0, cur
            time.sleep(0.01)

    def histogram_now(name):
        return (metric(name + "_sum") or 0.0, metric(name + "_count") or 0.0)

    wait_until(lambda: name_of("probe.test") == "a", "the probe to route", 300)
    startup = time.perf_counter() - t_start
    rss_loaded = proc_status(portico.pid, "VmRSS")
    compile_h = histogram_now("portico_config_compile_duration_seconds")
    sync_compile = compile_h[0] / max(compile_h[1], 1) * 1000.0  # the first compile (or mean)
    update_h = histogram_now("portico_config_endpoint_update_duration_seconds")
    updates_before = metric("portico_config_endpoint_updates_total") or 0
    # A sample of the synthetic hosts routes too (their endpoints are not reachable: 502/504 is
    # a routed answer; 404 would mean the host is missing).
    for i in range(0, args.ingresses, max(1, args.ingresses // 20)):
        conn2 = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        conn2.request("GET", "/", headers={"Host": f"host{i}.example.com"})
        r2 = conn2.getresponse()
        status, body2 = r2.status, r2.read()
        conn2.close()
        if status == 404:
            failed.append(f"host{i}.example.com is not routed ({status} {body2[:200]!r})")

    slice_path = "/apis/discovery.k8s.io/v1/namespaces/probe/endpointslices/svc%d-x" % args.ingresses
    samples, updates, compiles, ingress_samples = [], [], [], []
    current = "a"
    for i in range(args.changes):
        time.sleep(0.3)  # lone changes: a burst within 100 ms is debounced by design
        nxt = "b" if current == "a" else "a"
        api("PATCH", slice_path, {"ports": [{"name": "http", "port": backend_ports[nxt], "protocol": "TCP"}]},
            "application/merge-patch+json")
        t0 = time.perf_counter()
        end = t0 + 30
        while name_of("probe.test") != nxt:
            if time.perf_counter() > end:
                raise SystemExit("the change never reached traffic")
        samples.append((time.perf_counter() - t0) * 1000)
        ms, update_h = last_duration("portico_config_endpoint_update_duration_seconds", update_h)
        updates.append(ms)
        current = nxt
    fast_path = (metric("portico_config_endpoint_updates_total") or 0) - updates_before
    if fast_path < args.changes:
        failed.append(f"only {fast_path:.0f} of {args.changes} EndpointSlice changes took the endpoint path")

    # Ingress changes: each is a full compile of every Ingress.
    ingress_path = "/apis/networking.k8s.io/v1/namespaces/probe/ingresses/ing%d" % args.ingresses
    probe_paths = [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": f"svc{args.ingresses}", "port": {"number": 80}}}}]
    host = "probe.test"
    for i in range(args.ingress_changes):
        time.sleep(0.3)
        nxt = f"probe-{i}.test"
        api("PATCH", ingress_path, {"spec": {"rules": [{"host": nxt, "http": {"paths": probe_paths}}]}},
            "application/merge-patch+json")
        t0 = time.perf_counter()
        end = t0 + 30
        while name_of(nxt) != current:
            if time.perf_counter() > end:
                raise SystemExit("the Ingress change never reached traffic")
        ingress_samples.append((time.perf_counter() - t0) * 1000)
        ms, compile_h = last_duration("portico_config_compile_duration_seconds", compile_h)
        compiles.append(ms)
        if name_of(host) != "404":
            failed.append(f"{host} still routes after the Ingress moved to {nxt}")
        host = nxt
    rss_after = proc_status(portico.pid, "VmRSS")
    peak = proc_status(portico.pid, "VmHWM")
    samples.sort()
    updates.sort()
    compiles.sort()
    ingress_samples.sort()

    def pct(xs, q):
        return xs[min(len(xs) - 1, int(len(xs) * q))]

    n = args.ingresses
    print(f"Ingresses: {n} (+1 probe), {4 * (n + 1)} routes, {n + 1} target groups")
    print(f"start -> probe routing:                {startup * 1000:.0f} ms")
    print(f"EndpointSlice change -> traffic, {len(samples)} changes: median {statistics.median(samples):.0f} ms, "
          f"p90 {pct(samples, 0.9):.0f} ms, max {samples[-1]:.0f} ms   (target < 100 ms)")
    print(f"  portico's share (portico_config_endpoint_update_duration_seconds): "
          f"median {statistics.median(updates):.1f} ms, max {updates[-1]:.1f} ms")
    print(f"full compile (portico_config_compile_duration_seconds): first {sync_compile:.0f} ms; "
          f"{len(compiles)} after Ingress changes: median {statistics.median(compiles):.0f} ms, "
          f"max {compiles[-1]:.0f} ms   (target < 200 ms)")
    print(f"Ingress change -> traffic, {len(ingress_samples)} changes: median "
          f"{statistics.median(ingress_samples):.0f} ms, max {ingress_samples[-1]:.0f} ms")
    print(f"resident memory: {rss_loaded:.1f} MiB after sync, {rss_after:.1f} MiB after the changes, "
          f"peak {peak:.1f} MiB   (target < 150 MiB)")
    if failed:
        print("FAILED: " + "; ".join(failed))
        print(open(os.path.join(work, "portico.log")).read()[-3000:])
        sys.exit(1)
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    if not os.environ.get("KEEP"):
        subprocess.call(["rm", "-rf", work])
