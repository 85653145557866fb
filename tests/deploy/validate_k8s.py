"""Validates a rendered Kubernetes manifest (kubectl kustomize output) offline.

 1. Every object against the schema of its kind: Kubernetes 1.32's strict JSON schemas from
    kubernetes-validate (types, required fields, enums, and no unknown field anywhere: a typo
    like "readinesProbe" is dropped by a lenient apply), and for monitoring.coreos.com/v1 the
    prometheus-operator models of cloudcoil-models-prometheus-operator, turned into a JSON
    schema that forbids unknown fields too. Both packages are pinned in deploy/local/setup.sh.
 2. References inside the render: every Secret, ConfigMap and PVC a pod uses exists, every
    file a container's flags name inside a Secret or ConfigMap mount is a key of it, probe and
    Service ports name container ports, Services and ServiceMonitors select something.
 3. ofa-train's own rules: non-root pods, pinned images, a worker grace period that covers its
    --drain_grace_s, and (given --rules / --dashboards) the PrometheusRule and the dashboards
    ConfigMap equal monitoring/'s files.

Usage: python3 validate_k8s.py RENDERED.yaml [--rules=FILE] [--dashboards=DIR]
Prints one line per problem and exits 1 if there is any.
"""

import argparse
import functools
import json
import os
import re
import sys

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.32"
OPERATOR_API = "monitoring.coreos.com/v1"


def name_of(o):
    return f"{o.get('kind')}/{(o.get('metadata') or {}).get('name', '?')}"


def forbid_unknown_fields(schema):
    """Sets additionalProperties: false on every object schema that lists its properties."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            forbid_unknown_fields(value)
    elif isinstance(schema, list):
        for value in schema:
            forbid_unknown_fields(value)
    return schema


@functools.lru_cache(maxsize=None)
def operator_validator(kind):
    """A strict JSON-schema validator for a prometheus-operator kind, or None if it has none."""
    from cloudcoil.models.prometheus_operator import v1  # Slow import: only when needed.

    model = getattr(v1, kind, None)
    if model is None or not hasattr(model, "model_json_schema"):
        return None
    schema = forbid_unknown_fields(model.model_json_schema(by_alias=True))
    # The models make apiVersion/kind optional with defaults; a manifest must state them.
    schema.setdefault("required", [])
    schema["required"] += ["apiVersion", "kind", "metadata"]
    return jsonschema.Draft202012Validator(schema)


def schema_problems(o):
    """Yields the schema violations of one object (including 'no schema for ...')."""
    api_version, kind = o.get("apiVersion"), o.get("kind")
    if not api_version or not kind:
        yield "no apiVersion or kind"
        return
    if api_version == OPERATOR_API:
        validator = operator_validator(kind)
        if validator is None:
            yield f"no schema for {api_version} {kind}"
            return
        for e in sorted(validator.iter_errors(o), key=lambda e: list(e.absolute_path)):
            yield f"schema: {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        return
    try:
        kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        yield f"no schema for {api_version} {kind}"
    except kubernetes_validate.ValidationError as e:
        where = ".".join(map(str, e.absolute_path)) or "(root)"
        message = e.message
        # jsonschema says "'7071' is not of type 'integer'"; name it as the API server would.
        if e.validator == "type":
            message += f" (must be {e.validator_value})"
        yield f"schema: {where}: {message}"


def find(objects, kind, name):
    return next((o for o in objects if o.get("kind") == kind
                 and (o.get("metadata") or {}).get("name") == name), None)


def keys_of(o):
    return set(o.get("data") or {}) | set(o.get("stringData") or {}) | set(o.get("binaryData") or {})


def matches(selector, labels):
    labels = labels or {}
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def reference_problems(objects):
    """Yields (where, text) for references that point at nothing in the render, and our rules."""
    workloads = [o for o in objects if ((o.get("spec") or {}).get("template") or {})
                 .get("spec", {}).get("containers")]
    for w in workloads:
        where = name_of(w)
        spec = w["spec"]
        pod = spec["template"]["spec"]
        claim_templates = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or []}
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        security = pod.get("securityContext") or {}
        if not matches((spec.get("selector") or {}).get("matchLabels"),
                       (spec["template"].get("metadata") or {}).get("labels")):
            yield where, "spec.selector does not match the pod template's labels"
        for v in pod.get("volumes") or []:
            secret, config_map = v.get("secret"), v.get("configMap")
            if secret and not find(objects, "Secret", secret.get("secretName")):
                yield where, f"volume {v['name']}: Secret {secret.get('secretName')} is not in the render"
            if config_map and not find(objects, "ConfigMap", config_map.get("name")):
                yield where, f"volume {v['name']}: ConfigMap {config_map.get('name')} is not in the render"
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and not find(objects, "PersistentVolumeClaim", claim):
                yield where, f"volume {v['name']}: PersistentVolumeClaim {claim} is not in the render"
            # Mounted files belong to root (group fsGroup): a non-root pod reads them only through
            # the group bits with an fsGroup, or the other bits. The default mode is 0644.
            source_spec = secret or config_map
            if source_spec is not None:
                mode = source_spec.get("defaultMode", 0o644)
                user = security.get("runAsUser")
                readable = mode & 0o004 or (mode & 0o040 and "fsGroup" in security)
                if user != 0 and not readable:
                    yield where, f"volume {v['name']}: mode {mode:o} is unreadable to uid {user}"
                source = (find(objects, "Secret", secret.get("secretName")) if secret
                          else find(objects, "ConfigMap", config_map.get("name")))
                for item in source_spec.get("items") or []:
                    if source and item["key"] not in keys_of(source):
                        yield where, f"volume {v['name']}: no key {item['key']}"
        for c in (pod.get("initContainers") or []) + pod["containers"]:
            cw = f"{where} container {c.get('name')}"
            ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
            port_numbers = {p.get("containerPort") for p in c.get("ports") or []}
            for m in c.get("volumeMounts") or []:
                if m["name"] not in volumes and m["name"] not in claim_templates:
                    yield cw, f"mount {m.get('mountPath')}: no volume {m['name']}"
            for e in c.get("env") or []:
                value_from = e.get("valueFrom") or {}
                ref = value_from.get("secretKeyRef") or value_from.get("configMapKeyRef")
                if not ref:
                    continue
                source = find(objects, "Secret" if "secretKeyRef" in value_from else "ConfigMap",
                              ref.get("name"))
                if not source:
                    yield cw, f"env {e['name']}: {ref.get('name')} is not in the render"
                elif ref.get("key") not in keys_of(source):
                    yield cw, f"env {e['name']}: {ref.get('name')} has no key {ref.get('key')}"
            # A flag naming a file in a Secret or ConfigMap mount needs that key.
            for arg in (c.get("command") or []) + (c.get("args") or []):
                flag = re.fullmatch(r"--[a-z_]+=(/\S+)", str(arg))
                if not flag:
                    continue
                file = flag.group(1)
                for m in c.get("volumeMounts") or []:
                    if m.get("subPath") or not file.startswith(m["mountPath"] + "/"):
                        continue
                    v = volumes.get(m["name"]) or {}
                    source = (find(objects, "Secret", v["secret"].get("secretName")) if v.get("secret")
                              else find(objects, "ConfigMap", v["configMap"].get("name"))
                              if v.get("configMap") else None)
                    key = file[len(m["mountPath"]) + 1:]
                    if source and key not in keys_of(source):
                        yield cw, (f"{arg}: {name_of(source)} mounted at {m['mountPath']} "
                                   f"has no key {key}")
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                p = c.get(probe) or {}
                port = next((p[k]["port"] for k in ("grpc", "httpGet", "tcpSocket")
                             if k in p and "port" in p[k]), None)
                if port is None:
                    continue
                known = port in port_numbers if isinstance(port, int) else port in ports
                if not known:
                    yield cw, f"{probe}: port {port} is not a port of the container"
            # Our rules.
            image = c.get("image") or ""
            if not image or image.endswith(":latest") or not re.search(r":[^/]+$|@sha256:", image):
                yield cw, f"image {image} is not pinned by tag or digest"
            grace_flag = next((a for a in c.get("args") or [] if str(a).startswith("--drain_grace_s=")),
                              None)
            grace_match = re.match(r"--drain_grace_s=(\d+)", grace_flag or "")
            period = pod.get("terminationGracePeriodSeconds", 30)
            if grace_match and not int(grace_match.group(1)) + 10 <= period:
                yield cw, (f"--drain_grace_s={grace_match.group(1)} leaves under 10 s of "
                           f"terminationGracePeriodSeconds ({period}) for the final reports")
        if security.get("runAsNonRoot") is not True:
            yield where, "the pod may run as root"

    services = [o for o in objects if o.get("kind") == "Service"]
    for s in services:
        targets = [w for w in workloads if matches(s["spec"].get("selector"),
                                                   (w["spec"]["template"].get("metadata") or {}).get("labels"))]
        if not targets:
            yield name_of(s), "its selector matches no pod template"
            continue
        for p in s["spec"].get("ports") or []:
            target = p.get("targetPort", p.get("port"))
            served = any(cp.get("containerPort") == target if isinstance(target, int)
                         else cp.get("name") == target
                         for w in targets for c in w["spec"]["template"]["spec"]["containers"]
                         for cp in c.get("ports") or [])
            if not served:
                yield name_of(s), f"port {p.get('name')}: target {target} is not a container port"
    for w in (o for o in objects if o.get("kind") == "StatefulSet"):
        if not find(objects, "Service", w["spec"].get("serviceName")):
            yield name_of(w), f"serviceName {w['spec'].get('serviceName')} is not in the render"
    for m in (o for o in objects if o.get("kind") == "ServiceMonitor"):
        selected = [s for s in services if matches((m["spec"].get("selector") or {}).get("matchLabels"),
                                                   s["metadata"].get("labels"))]
        if not selected:
            yield name_of(m), "its selector matches no Service"
        for e in m["spec"].get("endpoints") or []:
            if not any(p.get("name") == e.get("port") for s in selected for p in s["spec"].get("ports") or []):
                yield name_of(m), f"endpoint port {e.get('port')} is not a port of the selected Service"


def monitoring_problems(objects, rules_path, dashboards_dir):
    """Yields (where, text) where the render's copies of monitoring/ differ from the files."""
    if rules_path:
        with open(rules_path, encoding="utf-8") as f:
            want = yaml.safe_load(f)["groups"]
        rules = [o for o in objects if o.get("kind") == "PrometheusRule"]
        if len(rules) != 1:
            yield "PrometheusRule", f"expected 1, found {len(rules)}"
        elif rules[0]["spec"].get("groups") != want:  # Dict equality ignores kustomize's key order.
            yield name_of(rules[0]), f"its groups differ from {rules_path}"
    if dashboards_dir:
        holder = next((o for o in objects if o.get("kind") == "ConfigMap" and
                       ((o.get("metadata") or {}).get("labels") or {}).get("grafana_dashboard") == "1"),
                      None)
        if holder is None:
            yield "dashboards", "no ConfigMap labelled grafana_dashboard=1"
        for f in sorted(os.listdir(dashboards_dir)):
            if not f.endswith(".json") or holder is None:
                continue
            with open(os.path.join(dashboards_dir, f), encoding="utf-8") as file:
                if (holder.get("data") or {}).get(f) != file.read():
                    yield name_of(holder), f"{f} is missing or differs from {dashboards_dir}/{f}"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered")
    parser.add_argument("--rules")
    parser.add_argument("--dashboards")
    args = parser.parse_args(argv)

    with open(args.rendered, encoding="utf-8") as f:
        try:
            objects = [o for o in yaml.safe_load_all(f) if o is not None]
        except yaml.YAMLError as e:
            print(f"{args.rendered}: not YAML: {e}")
            return 1
    problems = []
    if not objects:
        problems.append(f"{args.rendered}: no objects")
    # Kustomize writes Secret data as base64 wrapped over lines; the API server's decoder (Go's
    # encoding/base64) skips the newlines, the schema's "byte" format does not.
    for o in objects:
        if o.get("kind") == "Secret":
            o["data"] = {k: str(v).replace("\n", "") for k, v in (o.get("data") or {}).items()}
    for o in objects:
        problems += [f"{name_of(o)}: {p}" for p in schema_problems(o)]
    problems += [f"{where}: {text}" for where, text in reference_problems(objects)]
    problems += [f"{where}: {text}" for where, text in
                 monitoring_problems(objects, args.rules, args.dashboards)]
    for p in problems:
        print(p)
    print(f"{args.rendered}: {len(objects)} objects, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
