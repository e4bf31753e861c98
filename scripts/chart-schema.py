#!/usr/bin/env python3
"""Writes charts/portico/values.schema.json from charts/portico/values.yaml: every value's type
as its default has it, and no key that values.yaml does not name (so that a misspelled value
fails `helm install` with a message naming it), except inside the free-form maps below.

    scripts/chart-schema.py          write it
    scripts/chart-schema.py --check  fail if the file is not what this script writes
"""
import json, os, sys
import yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
chart = os.path.join(root, "charts", "portico")
# Maps whose keys are the user's (labels, annotations, flags, Kubernetes objects).
FREE = {"extraArgs", "config", "annotations", "labels", "additionalLabels", "podAnnotations",
        "podLabels", "nodeSelector", "affinity", "behavior", "resources", "updateStrategy",
        "podSecurityContext", "containerSecurityContext", "livenessProbe", "readinessProbe"}
ENUMS = {("controller", "kind"): ["Deployment", "DaemonSet"],
         ("controller", "service", "type"): ["ClusterIP", "NodePort", "LoadBalancer"],
         ("controller", "image", "pullPolicy"): ["Always", "IfNotPresent", "Never"]}
# Values that may be left empty ("") or given a number.
PORT_OR_EMPTY = {("controller", "service", "nodePorts", "http"),
                 ("controller", "service", "nodePorts", "https")}


def schema(value, path):
    name = path[-1] if path else ""
    if tuple(path) in PORT_OR_EMPTY:
        return {"type": ["integer", "string"], "pattern": "^[0-9]*$"}
    if isinstance(value, dict):
        if name in FREE:
            return {"type": "object"}
        return {"type": "object", "additionalProperties": False,
                "properties": {k: schema(v, path + [k]) for k, v in value.items()}}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        s = {"type": "integer", "minimum": 0}
        if name in ("http", "https", "port") or path[-2:-1] == ["containerPort"]:
            s.update(minimum=1, maximum=65535)
        return s
    if isinstance(value, list):
        return {"type": "array"}
    s = {"type": "string"}
    if tuple(path) in ENUMS:
        s["enum"] = ENUMS[tuple(path)]
    return s


values = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
out = {"$schema": "https://json-schema.org/draft-07/schema#", "title": "portico chart values",
       **schema(values, [])}
text = json.dumps(out, indent=2) + "\n"
target = os.path.join(chart, "values.schema.json")
if "--check" in sys.argv:
    if not os.path.exists(target) or open(target).read() != text:
        sys.exit("charts/portico/values.schema.json is out of date: run scripts/chart-schema.py")
else:
    open(target, "w").write(text)
