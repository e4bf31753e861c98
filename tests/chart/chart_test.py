#!/usr/bin/env python3
"""The Helm chart, rendered: `helm lint --strict` and `helm template` for the default values and
a matrix of others, each rendering parsed and checked for its kinds and the fields that matter
(security context, probes, draining, RBAC, arguments); a misspelled or mistyped value fails with
a message naming it; values.schema.json and manifests/deploy.yaml are what their scripts make.
(e2e/real installs, upgrades and uninstalls the chart against a real kube-apiserver, and runs
portico under its rendered RBAC.)

    tests/chart/chart_test.py          prints "N passed, N failed"
"""
import json, os, subprocess, sys
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from checks import check, tally  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
chart = os.path.join(root, "charts", "portico")
helm = os.path.join(subprocess.check_output([os.path.join(root, "scripts", "install-tools.sh")],
                                            text=True).strip(), "helm")

def render(*sets, release="portico", namespace="ingress-portico"):
    argv = [helm, "template", release, chart, "-n", namespace]
    for s in sets:
        argv += ["--set", s]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d], ""


def kinds(docs):
    return sorted(d["kind"] for d in docs)


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found[0] if len(found) == 1 else None


def container(docs):
    w = one(docs, "Deployment") or one(docs, "DaemonSet")
    return w["spec"]["template"]["spec"]["containers"][0] if w else {}


def rules(role):
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}


# What portico asks the API server for (src/k8s: reflector, status writer, events, leader
# election): RBAC must grant exactly this.
NAMESPACED = {(g, r, v) for g, r in [("", "services"), ("", "secrets"),
                                      ("discovery.k8s.io", "endpointslices"),
                                      ("networking.k8s.io", "ingresses")] for v in ("list", "watch")}
NAMESPACED |= {("networking.k8s.io", "ingresses/status", "patch"), ("", "events", "create")}
CLUSTER = {("networking.k8s.io", "ingressclasses", "list"),
           ("networking.k8s.io", "ingressclasses", "watch")}
LEASE = {("coordination.k8s.io", "leases", v) for v in ("create", "get", "update")}

# ---- lint -----------------------------------------------------------------------------------
r = subprocess.run([helm, "lint", "--strict", chart], capture_output=True, text=True)
check("helm lint --strict", r.returncode == 0, r.stdout + r.stderr)

# ---- default values -------------------------------------------------------------------------
docs, err = render()
check("the default values render", docs is not None, err)
docs = docs or []
check("default kinds", kinds(docs) == ["ClusterRole", "ClusterRoleBinding", "Deployment", "IngressClass",
                                       "Role", "RoleBinding", "Service", "ServiceAccount"], str(kinds(docs)))
c = container(docs)
sc = c.get("securityContext", {})
pod = (one(docs, "Deployment") or {}).get("spec", {}).get("template", {}).get("spec", {})
check("non-root, read-only root filesystem, no capabilities, no privilege escalation",
      sc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem") and sc.get("capabilities") == {"drop": ["ALL"]}
      and sc.get("allowPrivilegeEscalation") is False and pod.get("securityContext", {}).get("runAsUser", 0) > 0,
      str(sc))
check("seccomp RuntimeDefault", pod.get("securityContext", {}).get("seccompProfile") == {"type": "RuntimeDefault"})
check("liveness /healthz and readiness /readyz on the admin port",
      c.get("livenessProbe", {}).get("httpGet") == {"path": "/healthz", "port": "admin"}
      and c.get("readinessProbe", {}).get("httpGet") == {"path": "/readyz", "port": "admin"})
pre = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
check("a preStop wait, and a grace period that covers it and portico's 30 s drain",
      pre > 0 and pod.get("terminationGracePeriodSeconds", 0) >= pre + 30, f"{pre}, {pod.get('terminationGracePeriodSeconds')}")
args = c.get("args", [])
check("arguments: ports, class, controller, election id, published Service",
      {"--http-port=8080", "--https-port=8443", "--admin-port=9090", "--ingress-class=portico",
       "--controller-name=portico.dev/ingress-controller", "--election-id=portico-leader",
       "--publish-service=ingress-portico/portico"} <= set(args), str(args))
check("POD_NAME and POD_NAMESPACE from the downward API",
      {e["name"] for e in c.get("env", [])} >= {"POD_NAME", "POD_NAMESPACE"})
check("the image is the chart's appVersion", c.get("image", "").endswith(":" + yaml.safe_load(open(os.path.join(chart, "Chart.yaml")))["appVersion"]))
svc = one(docs, "Service") or {}
check("the Service maps 80 and 443 to the named container ports",
      [(p["port"], p["targetPort"]) for p in svc.get("spec", {}).get("ports", [])] == [(80, "http"), (443, "https")]
      and svc["spec"]["type"] == "LoadBalancer")
ic = one(docs, "IngressClass") or {}
check("the IngressClass names portico's controller, not the default class",
      ic.get("spec", {}).get("controller") == "portico.dev/ingress-controller" and not ic["metadata"].get("annotations"))
cr, role = one(docs, "ClusterRole"), one(docs, "Role")
check("the ClusterRole grants what portico reads and writes, and nothing more",
      cr and rules(cr) == NAMESPACED | CLUSTER, str(sorted(rules(cr) ^ (NAMESPACED | CLUSTER))) if cr else "")
check("the Lease Role grants create, and get and update on its Lease only",
      role and rules(role) == LEASE and any(r.get("resourceNames") == ["portico-leader"] for r in role["rules"]))
crb = one(docs, "ClusterRoleBinding") or {}
check("the bindings name the ServiceAccount",
      crb.get("subjects") == [{"kind": "ServiceAccount", "name": "portico", "namespace": "ingress-portico"}])
check("no PodDisruptionBudget with one replica", one(docs, "PodDisruptionBudget") is None)

# ---- the matrix -----------------------------------------------------------------------------
docs, err = render("controller.kind=DaemonSet")
check("DaemonSet", docs is not None and one(docs, "DaemonSet") and not one(docs, "Deployment")
      and "replicas" not in one(docs, "DaemonSet")["spec"], err)

docs, err = render("controller.scope.enabled=true", "controller.scope.namespace=apps")
ok = docs is not None
if ok:
    cr = one(docs, "ClusterRole")
    scoped = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == "apps"]
    ok = rules(cr) == CLUSTER and len(scoped) == 1 and rules(scoped[0]) == NAMESPACED \
        and "--watch-namespace=apps" in container(docs)["args"] \
        and any(d["kind"] == "RoleBinding" and d["metadata"]["namespace"] == "apps" for d in docs)
check("scope: a Role in the watched namespace, a ClusterRole for IngressClasses only", ok, err)

docs, err = render("controller.autoscaling.enabled=true", "controller.autoscaling.minReplicas=2")
ok = docs is not None
if ok:
    hpa, dep, pdb = one(docs, "HorizontalPodAutoscaler"), one(docs, "Deployment"), one(docs, "PodDisruptionBudget")
    ok = hpa and hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 11 \
        and "replicas" not in dep["spec"] and pdb and pdb["spec"]["minAvailable"] == 1
check("HPA: replicas left to it, and a PodDisruptionBudget above one replica", ok, err)

docs, err = render("controller.replicaCount=3")
check("three replicas get a PodDisruptionBudget", docs is not None and one(docs, "PodDisruptionBudget"), err)

docs, err = render("controller.metrics.enabled=true", "controller.metrics.serviceMonitor.enabled=true",
                   "controller.metrics.serviceMonitor.additionalLabels.release=kps",
                   "controller.metrics.prometheusRule.enabled=true", "controller.dashboards.enabled=true")
ok = docs is not None
if ok:
    sm = one(docs, "ServiceMonitor")
    ms = one(docs, "Service", "portico-metrics")
    pr = one(docs, "PrometheusRule")
    dash = one(docs, "ConfigMap", "portico-dashboard")
    ok = sm and sm["spec"]["endpoints"][0]["honorLabels"] is True and sm["metadata"]["labels"]["release"] == "kps" \
        and ms and ms["spec"]["ports"][0]["port"] == 9090 and pr and pr["spec"]["groups"] \
        and dash and dash["metadata"]["labels"]["grafana_dashboard"] == "1" \
        and json.loads(dash["data"]["portico.json"])["panels"]
check("metrics: a Service, a ServiceMonitor with honorLabels, the PrometheusRule, the dashboard", ok, err)

docs, err = render("controller.extraArgs.default-ssl-certificate=ingress-portico/default-cert")
check("TLS default certificate through extraArgs", docs is not None
      and "--default-ssl-certificate=ingress-portico/default-cert" in container(docs)["args"], err)

docs, err = render("controller.config.max-body-size=10Mi", "controller.config.hsts=false")
ok = docs is not None
if ok:
    cm = one(docs, "ConfigMap", "portico")
    c = container(docs)
    ok = cm and cm["data"] == {"hsts": "false", "max-body-size": "10Mi"} \
        and "--config-dir=/etc/portico/config" in c["args"] \
        and c["volumeMounts"][0]["mountPath"] == "/etc/portico/config" \
        and "checksum/config" in one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
check("controller.config: a ConfigMap read with --config-dir, and a change rolls the pods", ok, err)

docs, err = render("controller.containerPort.http=80")
check("a port below 1024 adds NET_BIND_SERVICE, and only it",
      docs is not None and container(docs)["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}, err)

docs, err = render("controller.ingressClassResource.default=true", "controller.watchIngressWithoutClass=true",
                   "controller.publishService.enabled=false", "controller.service.type=NodePort",
                   "controller.service.nodePorts.http=30080")
ok = docs is not None
if ok:
    c = container(docs)
    ok = one(docs, "IngressClass")["metadata"]["annotations"] == {"ingressclass.kubernetes.io/is-default-class": "true"} \
        and "--watch-ingress-without-class" in c["args"] and not any(a.startswith("--publish-service") for a in c["args"]) \
        and one(docs, "Service")["spec"]["ports"][0]["nodePort"] == 30080
check("default class, Ingresses without class, no published Service, NodePort", ok, err)

docs, err = render("rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=existing")
check("rbac.create=false and an existing ServiceAccount", docs is not None
      and not [d for d in docs if d["kind"] in ("ClusterRole", "Role", "ServiceAccount")]
      and one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing", err)

# ---- mistakes are named ---------------------------------------------------------------------
for value, word in [("controller.replicaCont=2", "replicaCont"), ("controller.kind=Daemonset", "kind"),
                    ("controller.replicaCount=two", "replicaCount"), ("controller.service.type=Balancer", "type"),
                    ("controller.containerPort.http=70000", "http")]:
    docs, err = render(value)
    check(f"a wrong value fails and names it: {value}", docs is None and word in err, err.strip()[:200])

# ---- generated files are up to date ---------------------------------------------------------
r = subprocess.run([os.path.join(root, "scripts", "chart-schema.py"), "--check"], capture_output=True, text=True)
check("values.schema.json is what scripts/chart-schema.py writes", r.returncode == 0, r.stderr)
r = subprocess.run([os.path.join(root, "scripts", "render-manifests.sh"), "--check"], capture_output=True, text=True)
check("manifests/deploy.yaml is the chart's defaults, rendered", r.returncode == 0, r.stderr + r.stdout)

passed, failed = tally()
print(f"\nchart: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
