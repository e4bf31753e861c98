#!/usr/bin/env python3
"""portico's dashboard and alerts, proven against a real Prometheus (Debian's package).

Starts test-apiserver, two echo backends and portico (reading the API through kubectl-applied
objects), and a Prometheus that scrapes portico every second (it asks for OpenMetrics) with the
chart's alert rules loaded. Traffic runs through portico meanwhile: successes, 404s, 5xx from a
target group without endpoints, HTTPS on a certificate that expires in three days, and an API
server that fails portico's calls for a while. Then:

- `promtool check metrics` passes on a live scrape;
- every PromQL expression of every panel of charts/portico/dashboards/portico.json, with the
  dashboard's variables set to All, is evaluated through Prometheus's HTTP API and must return a
  non-empty instant vector of finite numbers (a panel whose query returns nothing fails);
- every variable's label_values() query returns values;
- every alert of charts/portico/rules/portico.rules.yaml returns data (each one is made to
  fire) and Prometheus reports the rule loaded and pending or firing;
- the chart renders the dashboard ConfigMap (with the Grafana sidecar's label) and the
  PrometheusRule from the same files.

Prints "N passed, N failed". Usage: prometheus_test.py BUILD_DIR
(KEEP=1 keeps the work directory; DEBUG_PROM="expr;expr" prints those queries' answers.)
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
DASHBOARD = os.path.join(ROOT, "charts/portico/dashboards/portico.json")
RULES = os.path.join(ROOT, "charts/portico/rules/portico.rules.yaml")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from checks import check, fail, tally  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, what):
    """Polls pred() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 (a server not up yet)
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what} (last: {last})")


def http_get(url, headers=None, timeout=5, context=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


class Stack:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="portico-prom.")
        self.procs = []
        self.env = dict(os.environ, KUBECONFIG=os.path.join(self.work, "kubeconfig"),
                        KUBECACHEDIR=os.path.join(self.work, "kubecache"))
        tools = subprocess.run([os.path.join(ROOT, "scripts/install-tools.sh")], check=True,
                               capture_output=True, text=True).stdout.strip()
        self.kubectl = os.path.join(tools, "kubectl")
        self.helm = os.path.join(tools, "helm")

    def spawn(self, name, args, **kw):
        out = open(os.path.join(self.work, name + ".out"), "w")
        err = open(os.path.join(self.work, name + ".log"), "w")
        p = subprocess.Popen(args, stdout=out, stderr=err, env=self.env, **kw)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(self.work, ignore_errors=True)

    def apply(self, yaml_text):
        subprocess.run([self.kubectl, "apply", "-f", "-"], input=yaml_text, text=True,
                       env=self.env, check=True, capture_output=True)


def service(name, ports):
    y = (f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n"
         "spec: {ports: [{name: http, port: 80, targetPort: http}]}\n---\n")
    for i, port in enumerate(ports):
        y += (f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-{i},"
              f" namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\n"
              f"addressType: IPv4\nports: [{{name: http, port: {port}}}]\n"
              "endpoints: [{addresses: [\"127.0.0.1\"], conditions: {ready: true}}]\n---\n")
    return y


def ingress(name, host, service_name, tls_secret=None):
    tls = f"  tls: [{{hosts: [{host}], secretName: {tls_secret}}}]\n" if tls_secret else ""
    return (f"apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
            f"metadata: {{name: {name}, namespace: default}}\nspec:\n  ingressClassName: portico\n"
            f"{tls}  rules:\n  - host: {host}\n    http: {{paths: [{{path: /, pathType: Prefix, "
            f"backend: {{service: {{name: {service_name}, port: {{number: 80}}}}}}}}]}}\n---\n")


def query(prom, expr):
    url = f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, body, _ = http_get(url)
    data = json.loads(body)
    if data.get("status") != "success":
        raise RuntimeError(f"{expr}: {data.get('error')}")
    return data["data"]


def substitute(expr):
    # The dashboard's variables at "All", and Grafana's interval variables at values that fit a
    # test that has scraped every second for a minute or so.
    for var, value in (("$__rate_interval", "30s"), ("$__range", "10m"), ("$job", ".*"),
                       ("$namespace", ".*"), ("$ingress", ".*")):
        expr = expr.replace(var, value)
    return expr


def finite(result):
    for sample in result["result"]:
        v = float(sample["value"][1])
        if v != v or v in (float("inf"), float("-inf")):
            return False
    return True


def main():
    for tool in ("prometheus", "promtool", "openssl"):
        if shutil.which(tool) is None:
            print(f"FAIL {tool} is not installed (scripts/install-deps.sh installs it)")
            print("0 passed, 1 failed")
            return 1
    stack = Stack()
    try:
        return run(stack)
    finally:
        stack.stop()


def run(stack):
    work = stack.work
    # ---- test-apiserver, backends, portico --------------------------------------------------
    api = free_port()

    def start_api(n):
        p = stack.spawn(f"api{n}", [os.path.join(BUILD, "tests/test-apiserver"), "--port", str(api),
                                    "--kubeconfig-out", stack.env["KUBECONFIG"], "--data-dir",
                                    os.path.join(work, "api"), "--bookmark-interval-ms", "1000"])
        wait_for(lambda: "listening" in open(os.path.join(work, f"api{n}.out")).read(), 10,
                 "test-apiserver")
        return p

    api_proc = start_api(1)

    backend_a, backend_b = free_port(), free_port()
    for port, name in ((backend_a, "a"), (backend_b, "b")):
        stack.spawn("echo-" + name, [os.path.join(BUILD, "tests/echo-backend"), "--port", str(port),
                                      "--name", name])
    http, https, admin = free_port(), free_port(), free_port()
    stack.spawn("portico", [os.path.join(BUILD, "src/portico"), "--kubeconfig",
                            stack.env["KUBECONFIG"], "--bind", "127.0.0.1", "--http-port", str(http),
                            "--https-port", str(https), "--admin-port", str(admin), "--workers", "2",
                            "--publish-status-address", "192.0.2.10", "--log-format", "text"])

    # A certificate that expires in three days: the expiry alert fires.
    key, crt = os.path.join(work, "k.pem"), os.path.join(work, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "3", "-subj", "/CN=tls.test",
                    "-addext", "subjectAltName=DNS:tls.test", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    indent = lambda path: "".join("    " + l for l in open(path))  # noqa: E731
    secret = ("apiVersion: v1\nkind: Secret\nmetadata: {name: site-tls, namespace: default}\n"
              "type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n" + indent(crt) +
              "  tls.key: |\n" + indent(key) + "---\n")
    stack.apply("apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: portico}\n"
                "spec: {controller: portico.dev/ingress-controller}\n---\n" +
                service("web", [backend_a, backend_b]) + service("empty", []) + secret +
                ingress("web", "web.test", "web") + ingress("shop", "shop.test", "empty") +
                ingress("secure", "tls.test", "web", "site-tls") +
                ingress("broken", "broken.test", "no-such-service"))
    wait_for(lambda: http_get(f"http://127.0.0.1:{http}/", {"Host": "web.test"})[0] == 200, 15,
             "portico to route web.test")

    # ---- Prometheus -------------------------------------------------------------------------
    prom = free_port()
    config = os.path.join(work, "prometheus.yml")
    with open(config, "w") as f:
        # honor_labels, as the chart's ServiceMonitor sets it: portico's own namespace label
        # (the Ingress's) wins over the target's (the pod's), which Kubernetes discovery adds.
        f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{RULES}"]
scrape_configs:
  - job_name: portico
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{admin}"]
        labels: {{namespace: portico-system, pod: portico-0}}
""")
    stack.spawn("prometheus", ["prometheus", f"--config.file={config}",
                               f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                               f"--web.listen-address=127.0.0.1:{prom}",
                               "--storage.tsdb.retention.time=1h"])
    wait_for(lambda: http_get(f"http://127.0.0.1:{prom}/-/ready")[0] == 200, 30, "Prometheus")
    # Everything below must happen while Prometheus watches: its first scrape comes first.
    wait_for(lambda: query(prom, "portico_build_info")["result"], 30, "Prometheus's first scrape")

    # ---- traffic, and the API server failing for a while ------------------------------------
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    hosts = ["web.test"]

    def traffic(rounds):
        for _ in range(rounds):
            for host in hosts[1:]:
                http_get(f"http://127.0.0.1:{http}/", {"Host": host})
            http_get(f"http://127.0.0.1:{http}/", {"Host": "web.test"})
            http_get(f"http://127.0.0.1:{http}/x", {"Host": "web.test"})
            http_get(f"http://127.0.0.1:{http}/", {"Host": "shop.test"})  # 503: no endpoints
            http_get(f"http://127.0.0.1:{http}/", {"Host": "nowhere.test"})  # 404
            conn = socket.create_connection(("127.0.0.1", https))
            tls = ctx.wrap_socket(conn, server_hostname="tls.test")
            tls.sendall(b"GET / HTTP/1.1\r\nHost: tls.test\r\nConnection: close\r\n\r\n")
            while tls.recv(4096):
                pass
            tls.close()

    traffic(20)
    # The API server goes away for a while: portico's watches fail (API errors), it keeps
    # routing, and follows changes again once the server is back.
    api_proc.terminate()
    api_proc.wait(timeout=10)

    def api_errors():
        text = http_get(f"http://127.0.0.1:{admin}/metrics")[1]
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("portico_api_errors_total{"))

    wait_for(lambda: (traffic(1), api_errors() >= 8)[1], 60, "API errors while the server is down")
    start_api(2)
    # A change after it came back: a recompile inside the window.
    stack.apply(ingress("web2", "web2.test", "web"))
    wait_for(lambda: http_get(f"http://127.0.0.1:{http}/", {"Host": "web2.test"})[0] == 200, 30,
             "portico to route web2.test after the API server recovered")
    hosts.append("web2.test")
    # Enough scrapes for rates over 30s windows.
    started = time.monotonic()
    while time.monotonic() - started < 20:
        traffic(5)

    if os.environ.get("DEBUG_PROM"):
        for e in os.environ["DEBUG_PROM"].split(";"):
            print(e, json.dumps(query(prom, e))[:1500])
    # ---- a live scrape passes promtool, in both formats -------------------------------------
    status, text, headers = http_get(f"http://127.0.0.1:{admin}/metrics")
    r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                       capture_output=True)
    check("promtool check metrics passes on a live scrape", r.returncode == 0,
          r.stdout + r.stderr)
    check("text format 0.0.4 by default", "version=0.0.4" in headers.get("Content-Type", ""),
          headers.get("Content-Type"))
    status, om, headers = http_get(f"http://127.0.0.1:{admin}/metrics",
                                   {"Accept": "application/openmetrics-text;version=1.0.0"})
    check("OpenMetrics when asked for, ending in # EOF",
          "openmetrics-text" in headers.get("Content-Type", "") and om.endswith("# EOF\n"),
          headers.get("Content-Type"))
    targets = json.loads(http_get(f"http://127.0.0.1:{prom}/api/v1/targets")[1])
    active = targets["data"]["activeTargets"]
    check("Prometheus scrapes portico without errors",
          len(active) == 1 and active[0]["health"] == "up" and not active[0]["lastError"],
          json.dumps(active))

    # ---- every dashboard query --------------------------------------------------------------
    dash = json.load(open(DASHBOARD))
    exprs = []
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            exprs.append((f"{panel['title']} [{t['refId']}]", t["expr"]))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            exprs.append((f"annotation {a['name']}", a["expr"]))
    for name, expr in exprs:
        try:
            data = query(prom, substitute(expr))
            ok = data["resultType"] == "vector" and len(data["result"]) > 0 and finite(data)
            check(f"panel {name} returns data", ok, f"{expr} -> {json.dumps(data)[:300]}")
        except Exception as e:  # noqa: BLE001
            check(f"panel {name} returns data", False, f"{expr}: {e}")
    for var in dash["templating"]["list"]:
        q = var.get("query")
        if var["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q["query"])
        series, label = substitute(m.group(1)), m.group(2)
        url = (f"http://127.0.0.1:{prom}/api/v1/label/{label}/values?" +
               urllib.parse.urlencode({"match[]": series}))
        values = json.loads(http_get(url)[1]).get("data", [])
        check(f"variable {var['name']} has values", len(values) > 0, f"{q['query']} -> {values}")
    ns_values = json.loads(http_get(
        f"http://127.0.0.1:{prom}/api/v1/label/namespace/values?match[]=portico_requests_total")[1])
    check("the Ingress's namespace label survives the scrape (honor_labels)",
          "default" in ns_values["data"], json.dumps(ns_values))

    # ---- every alert fires ------------------------------------------------------------------
    rules_text = open(RULES).read()
    rules = json.loads(http_get(f"http://127.0.0.1:{prom}/api/v1/rules?type=alert")[1])
    loaded = {r["name"]: r for g in rules["data"]["groups"] for r in g["rules"]}
    names = re.findall(r"- alert: (\w+)", rules_text)
    check("Prometheus loaded every alert rule", sorted(loaded) == sorted(names),
          f"{sorted(loaded)} vs {sorted(names)}")
    for name in names:
        rule = loaded.get(name)
        if rule is None:
            continue
        data = query(prom, rule["query"])
        check(f"alert {name} returns data (it fires here)", len(data["result"]) > 0,
              f"{rule['query']} -> {json.dumps(data)[:300]}")
        state = wait_for(lambda: next(
            (r["state"] for g in json.loads(http_get(
                f"http://127.0.0.1:{prom}/api/v1/rules?type=alert")[1])["data"]["groups"]
             for r in g["rules"] if r["name"] == name and r["state"] in ("pending", "firing")),
            None), 15, f"{name} pending")
        check(f"alert {name} is {state} in Prometheus", rule["health"] == "ok", rule.get("lastError"))

    # ---- the chart ships both files as they are ---------------------------------------------
    r = subprocess.run([stack.helm, "template", "t", os.path.join(ROOT, "charts/portico"),
                        "--set", "controller.dashboards.enabled=true",
                        "--set", "controller.metrics.prometheusRule.enabled=true"],
                       capture_output=True, text=True)
    rendered = r.stdout
    check("the chart renders", r.returncode == 0, r.stderr)
    check("the dashboard ConfigMap has the Grafana sidecar's label",
          "kind: ConfigMap" in rendered and 'grafana_dashboard: "1"' in rendered, rendered[:500])
    check("the PrometheusRule carries every alert",
          "kind: PrometheusRule" in rendered and all(f"alert: {n}" in rendered for n in names),
          rendered[-800:])
    r = subprocess.run([stack.helm, "template", "t", os.path.join(ROOT, "charts/portico"),
                        "--set", "controller.dashboards.enabled=true",
                        "--show-only", "templates/dashboard-configmap.yaml"],
                       capture_output=True, text=True)
    body = r.stdout.split("portico.json: |-\n", 1)[-1]
    shipped = "\n".join(line[4:] for line in body.splitlines())
    try:
        same = json.loads(shipped) == dash
    except ValueError as e:
        same = False
        shipped = str(e)
    check("the ConfigMap holds the dashboard as it is", same, shipped[:300])
    return 0


if __name__ == "__main__":
    rc = 1
    try:
        rc = main()
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        fail(str(e))
    passed, failed = tally()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or rc else 0)
