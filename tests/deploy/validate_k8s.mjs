// Validates a rendered Kubernetes manifest (kubectl kustomize output) offline:
//  1. every object against the OpenAPI schema of its kind, from the pinned npm packages
//     kubernetes-models (Kubernetes 1.32's API) and @kubernetes-models/prometheus-operator:
//     types, required fields, enums and formats (their ajv validators);
//  2. no unknown field anywhere (a typo like "readinesProbe" is dropped by a lenient apply):
//     TypeScript's excess-property check of each object against the same packages' types;
//  3. references inside the render: every Secret, ConfigMap and PVC a pod uses exists, every
//     file a container's flags name inside a Secret or ConfigMap mount is a key of it, probe
//     and Service ports name container ports, Services and ServiceMonitors select something;
//  4. ofa-train's own rules: non-root pods, pinned images, a worker grace period that covers
//     its --drain_grace_s, and (given --rules / --dashboards) the PrometheusRule and the
//     dashboards ConfigMap equal monitoring/'s files.
// Usage: node validate_k8s.mjs RENDERED.yaml [--rules=FILE] [--dashboards=DIR]
// Prints one line per problem and exits 1 if there is any.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import YAML from "yaml";

const here = path.dirname(fs.realpathSync(fileURLToPath(import.meta.url)));
const nodeModules = path.join(here, "node_modules");
const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split("=").slice(1).join("=");
const renderedPath = args.find((a) => !a.startsWith("--"));
if (!renderedPath) {
  console.error("usage: node validate_k8s.mjs RENDERED.yaml [--rules=FILE] [--dashboards=DIR]");
  process.exit(2);
}

const problems = [];
const problem = (where, text) => problems.push(`${where}: ${text}`);
const nameOf = (o) => `${o.kind}/${o.metadata?.name ?? "?"}`;

const objects = YAML.parseAllDocuments(fs.readFileSync(renderedPath, "utf8"))
  .map((d) => d.toJS())
  .filter((o) => o !== null);
if (objects.length === 0) problem(renderedPath, "no objects");

// The package (and .d.ts directory) holding each apiVersion's models.
function modelPackage(apiVersion) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
  }
  return `kubernetes-models/${apiVersion}`;
}

// Kustomize writes Secret data as base64 wrapped over lines; the API server's decoder (Go's
// encoding/base64) skips the newlines, the schema's "byte" format does not.
for (const o of objects.filter((o) => o.kind === "Secret")) {
  for (const key of Object.keys(o.data ?? {})) o.data[key] = String(o.data[key]).replace(/\n/g, "");
}

// 1. Schemas.
for (const o of objects) {
  if (!o.apiVersion || !o.kind) {
    problem(nameOf(o), "no apiVersion or kind");
    continue;
  }
  let Model;
  try {
    Model = (await import(modelPackage(o.apiVersion)))[o.kind];
  } catch {
    Model = undefined;
  }
  if (!Model) {
    problem(nameOf(o), `no schema for ${o.apiVersion} ${o.kind}`);
    continue;
  }
  try {
    new Model(o).validate();
  } catch (e) {
    problem(nameOf(o), `schema: ${e.message}`);
  }
}

// 2. Unknown fields: each object as a literal of its kind's TypeScript type.
{
  const dir = fs.mkdtempSync(path.join(process.env.TEST_TMPDIR ?? "/tmp", "k8s-types-"));
  const file = path.join(dir, "objects.ts");
  const lines = [];
  objects.forEach((o, i) => {
    const dts = path.join(nodeModules, modelPackage(o.apiVersion), o.kind);
    if (!fs.existsSync(`${dts}.d.ts`)) return;  // Reported above.
    lines.push(`import type { I${o.kind} as T${i} } from ${JSON.stringify(dts)};`);
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(o)};`);
  });
  fs.writeFileSync(file, lines.join("\n"));
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
  });
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const line = d.file ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const index = Math.floor((line - 1) / 2);  // Two lines per object: import, literal.
    const where = objects[index] ? nameOf(objects[index]) : "types";
    problem(where, `fields: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

// 3. References.
const byKind = (kind) => objects.filter((o) => o.kind === kind);
const find = (kind, name) => byKind(kind).find((o) => o.metadata?.name === name);
const keysOf = (o) => new Set([...Object.keys(o.data ?? {}), ...Object.keys(o.stringData ?? {}),
                                ...Object.keys(o.binaryData ?? {})]);
const workloads = objects.filter((o) => o.spec?.template?.spec?.containers);
const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

for (const w of workloads) {
  const where = nameOf(w);
  const pod = w.spec.template.spec;
  const claimTemplates = new Set((w.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name));
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  if (!matches(w.spec.selector?.matchLabels, w.spec.template.metadata?.labels)) {
    problem(where, "spec.selector does not match the pod template's labels");
  }
  for (const v of pod.volumes ?? []) {
    if (v.secret && !find("Secret", v.secret.secretName)) {
      problem(where, `volume ${v.name}: Secret ${v.secret.secretName} is not in the render`);
    }
    if (v.configMap && !find("ConfigMap", v.configMap.name)) {
      problem(where, `volume ${v.name}: ConfigMap ${v.configMap.name} is not in the render`);
    }
    const claim = v.persistentVolumeClaim?.claimName;
    if (claim && !find("PersistentVolumeClaim", claim)) {
      problem(where, `volume ${v.name}: PersistentVolumeClaim ${claim} is not in the render`);
    }
    // Mounted files belong to root (group fsGroup): a non-root pod reads them only through
    // the group bits with an fsGroup, or the other bits. The default mode is 0644.
    const mode = (v.secret ?? v.configMap)?.defaultMode ?? 0o644;
    const user = pod.securityContext?.runAsUser;
    if ((v.secret || v.configMap) && user !== 0 && !(mode & 0o004) &&
        !((mode & 0o040) && pod.securityContext?.fsGroup !== undefined)) {
      problem(where, `volume ${v.name}: mode ${mode.toString(8)} is unreadable to uid ${user}`);
    }
    for (const item of v.secret?.items ?? v.configMap?.items ?? []) {
      const source = v.secret ? find("Secret", v.secret.secretName) : find("ConfigMap", v.configMap.name);
      if (source && !keysOf(source).has(item.key)) problem(where, `volume ${v.name}: no key ${item.key}`);
    }
  }
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const cw = `${where} container ${c.name}`;
    const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
    const portNumbers = new Set((c.ports ?? []).map((p) => p.containerPort));
    for (const m of c.volumeMounts ?? []) {
      if (!volumes.has(m.name) && !claimTemplates.has(m.name)) {
        problem(cw, `mount ${m.mountPath}: no volume ${m.name}`);
      }
    }
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
      if (!ref) continue;
      const source = find(e.valueFrom.secretKeyRef ? "Secret" : "ConfigMap", ref.name);
      if (!source) problem(cw, `env ${e.name}: ${ref.name} is not in the render`);
      else if (!keysOf(source).has(ref.key)) problem(cw, `env ${e.name}: ${ref.name} has no key ${ref.key}`);
    }
    // A flag naming a file in a Secret or ConfigMap mount needs that key.
    for (const arg of [...(c.command ?? []), ...(c.args ?? [])]) {
      const file = /^--[a-z_]+=(\/\S+)$/.exec(arg)?.[1];
      if (!file) continue;
      for (const m of c.volumeMounts ?? []) {
        if (m.subPath || !file.startsWith(`${m.mountPath}/`)) continue;
        const v = volumes.get(m.name);
        const source = v?.secret ? find("Secret", v.secret.secretName)
                     : v?.configMap ? find("ConfigMap", v.configMap.name) : undefined;
        const key = file.slice(m.mountPath.length + 1);
        if (source && !keysOf(source).has(key)) {
          problem(cw, `${arg}: ${nameOf(source)} mounted at ${m.mountPath} has no key ${key}`);
        }
      }
    }
    for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
      const p = c[probe];
      const port = p?.grpc?.port ?? p?.httpGet?.port ?? p?.tcpSocket?.port;
      if (port === undefined) continue;
      const known = typeof port === "number" ? portNumbers.has(port) : ports.has(port);
      if (!known) problem(cw, `${probe}: port ${port} is not a port of the container`);
    }
    // 4. Our rules.
    if (!c.image || c.image.endsWith(":latest") || !/:[^/]+$|@sha256:/.test(c.image)) {
      problem(cw, `image ${c.image} is not pinned by tag or digest`);
    }
    const grace = /^--drain_grace_s=(\d+)/.exec((c.args ?? []).find((a) => a.startsWith("--drain_grace_s=")) ?? "")?.[1];
    if (grace && !(Number(grace) + 10 <= (pod.terminationGracePeriodSeconds ?? 30))) {
      problem(cw, `--drain_grace_s=${grace} leaves under 10 s of terminationGracePeriodSeconds ` +
                  `(${pod.terminationGracePeriodSeconds ?? 30}) for the final reports`);
    }
  }
  if (pod.securityContext?.runAsNonRoot !== true) problem(where, "the pod may run as root");
}

for (const s of byKind("Service")) {
  const targets = workloads.filter((w) => matches(s.spec.selector, w.spec.template.metadata?.labels));
  if (targets.length === 0) {
    problem(nameOf(s), "its selector matches no pod template");
    continue;
  }
  for (const p of s.spec.ports ?? []) {
    const target = p.targetPort ?? p.port;
    const served = targets.some((w) => w.spec.template.spec.containers.some((c) =>
      (c.ports ?? []).some((cp) => (typeof target === "number" ? cp.containerPort === target : cp.name === target))));
    if (!served) problem(nameOf(s), `port ${p.name}: target ${target} is not a container port`);
  }
}
for (const w of byKind("StatefulSet")) {
  if (!find("Service", w.spec.serviceName)) problem(nameOf(w), `serviceName ${w.spec.serviceName} is not in the render`);
}
for (const m of byKind("ServiceMonitor")) {
  const services = byKind("Service").filter((s) => matches(m.spec.selector?.matchLabels, s.metadata.labels));
  if (services.length === 0) problem(nameOf(m), "its selector matches no Service");
  for (const e of m.spec.endpoints ?? []) {
    if (!services.some((s) => s.spec.ports.some((p) => p.name === e.port))) {
      problem(nameOf(m), `endpoint port ${e.port} is not a port of the selected Service`);
    }
  }
}

// 4. The copies of monitoring/ in the render. Kustomize sorts keys: compare sorted.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
const rulesPath = option("rules");
if (rulesPath) {
  const want = YAML.parse(fs.readFileSync(rulesPath, "utf8")).groups;
  const rules = byKind("PrometheusRule");
  if (rules.length !== 1) problem("PrometheusRule", `expected 1, found ${rules.length}`);
  else if (canonical(rules[0].spec.groups) !== canonical(want)) {
    problem(nameOf(rules[0]), `its groups differ from ${rulesPath}`);
  }
}
const dashboardsDir = option("dashboards");
if (dashboardsDir) {
  const holder = byKind("ConfigMap").find((c) => c.metadata.labels?.grafana_dashboard === "1");
  if (!holder) problem("dashboards", "no ConfigMap labelled grafana_dashboard=1");
  for (const f of fs.readdirSync(dashboardsDir).filter((f) => f.endsWith(".json"))) {
    if (holder && holder.data?.[f] !== fs.readFileSync(path.join(dashboardsDir, f), "utf8")) {
      problem(nameOf(holder ?? {}), `${f} is missing or differs from ${dashboardsDir}/${f}`);
    }
  }
}

for (const p of problems) console.log(p);
console.log(`${renderedPath}: ${objects.length} objects, ${problems.length} problem(s)`);
process.exit(problems.length === 0 ? 0 : 1);
