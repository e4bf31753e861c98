#!/usr/bin/env python3
"""How fast API changes reach traffic: test-apiserver + portico + two echo backends.

1. EndpointSlice change -> first request routed by it: the slice is switched between two
   backends with a PATCH to the API server, 300 ms apart (closer changes are a burst, which the
   controller debounces for 100 ms on purpose); the clock starts when the PATCH has been
   answered and stops at the first response from the new backend (keep-alive polling).
2. `kubectl apply` of 1,000 Ingresses -> all of them routing.

    bench/k8s_latency.py [BUILD_DIR]       (make bench-k8s)
"""
import http.client, json, os, socket, ssl, statistics, subprocess, sys, tempfile, time, urllib.request

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.path.join(root, sys.argv[1] if len(sys.argv) > 1 else "build")
kubectl = subprocess.check_output([os.path.join(root, "scripts/install-tools.sh")], text=True).strip() + "/kubectl"
work = tempfile.mkdtemp(prefix="portico-k8s-bench.")
procs = []

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(args, **kw):
    p = subprocess.Popen(args, **kw); procs.append(p); return p

def wait_line(path, text, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and text in open(path).read():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {text!r} in {path}")

try:
    api_port = free_port()
    kubeconfig = os.path.join(work, "kubeconfig")
    start([os.path.join(build, "tests/test-apiserver"), "--port", str(api_port), "--kubeconfig-out", kubeconfig,
           "--data-dir", os.path.join(work, "api")], stdout=open(os.path.join(work, "api.out"), "w"),
          stderr=subprocess.DEVNULL)
    wait_line(os.path.join(work, "api.out"), "listening")
    token = open(os.path.join(work, "api/token")).read()
    ctx = ssl.create_default_context(cafile=os.path.join(work, "api/ca.crt"))
    env = dict(os.environ, KUBECONFIG=kubeconfig, KUBECACHEDIR=os.path.join(work, "cache"))

    def api(method, path, body=None, ctype="application/json"):
        req = urllib.request.Request(f"https://127.0.0.1:{api_port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
        return json.load(urllib.request.urlopen(req, context=ctx))

    ports = {}
    for name in ("a", "b"):
        ports[name] = free_port()
        start([os.path.join(build, "tests/echo-backend"), "--port", str(ports[name]), "--name", name],
              stdout=subprocess.DEVNULL)
    http_port, admin_port = free_port(), free_port()
    start([os.path.join(build, "src/portico"), "--kubeconfig", kubeconfig, "--bind", "127.0.0.1",
           "--http-port", str(http_port), "--https-port", "0", "--admin-port", str(admin_port), "--workers", "1",
           "--leader-elect=false", "--log-level", "warn"], stderr=open(os.path.join(work, "portico.log"), "w"),
          stdout=open(os.path.join(work, "access.log"), "w"))

    api("POST", "/api/v1/namespaces/default/services",
        {"metadata": {"name": "svc"}, "spec": {"ports": [{"name": "http", "port": 80}]}})
    slice_path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    api("POST", slice_path, {"metadata": {"name": "svc-1", "labels": {"kubernetes.io/service-name": "svc"}},
                             "addressType": "IPv4", "ports": [{"name": "http", "port": ports["a"]}],
                             "endpoints": [{"addresses": ["127.0.0.1"]}]})
    api("POST", "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
        {"metadata": {"name": "lat"}, "spec": {"ingressClassName": "portico", "rules": [
            {"host": "lat.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "svc", "port": {"number": 80}}}}]}}]}})

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
            except (OSError, http.client.HTTPException):
                conn = None
        return "error"

    def wait_for(host, want, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if name_of(host) == want:
                return True
        return False

    assert wait_for("lat.test", "a"), "the first route never worked"
    samples = []
    current = "a"
    for i in range(30):
        time.sleep(0.3)  # lone changes: a burst within 100 ms is debounced by design
        nxt = "b" if current == "a" else "a"
        api("PATCH", slice_path + "/svc-1", {"ports": [{"name": "http", "port": ports[nxt]}]},
            "application/merge-patch+json")
        t0 = time.perf_counter()
        assert wait_for("lat.test", nxt), "the change never reached traffic"
        samples.append((time.perf_counter() - t0) * 1000)
        current = nxt
    samples.sort()
    print(f"EndpointSlice change -> first request routed by it, {len(samples)} changes: "
          f"median {statistics.median(samples):.0f} ms, p90 {samples[int(len(samples) * 0.9)]:.0f} ms, "
          f"max {samples[-1]:.0f} ms")

    n = 1000
    manifest = os.path.join(work, "bulk.yaml")
    with open(manifest, "w") as f:
        for i in range(n):
            f.write(f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: bulk-{i}, namespace: default}}
spec:
  ingressClassName: portico
  rules: [{{host: bulk-{i}.test, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: svc, port: {{number: 80}}}}}}}}]}}}}]
---
""")
    t0 = time.perf_counter()
    subprocess.check_call([kubectl, "apply", "-f", manifest], env=env, stdout=subprocess.DEVNULL)
    applied = time.perf_counter() - t0
    for i in range(n):
        assert wait_for(f"bulk-{i}.test", current, timeout=60), f"bulk-{i} never routed"
    total = time.perf_counter() - t0
    print(f"kubectl apply of {n} Ingresses -> all routing: {total:.1f} s "
          f"(kubectl itself took {applied:.1f} s; the last Ingress routed {total - applied:.2f} s after it returned)")
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    subprocess.call(["rm", "-rf", work])
