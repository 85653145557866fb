// Checks what can be checked of deploy/docker's images without a Docker engine:
//  - multi-stage, and every base image pinned by a tag (not "latest") or a digest;
//  - the final stage runs as the non-root user the Kubernetes manifests expect (uid 10001),
//    holds no compiler, headers or build tool, and copies its binaries from a build stage;
//  - its ENTRYPOINT and CMD name binaries that the builds produce (--binaries);
//  - no secret is baked in: no ARG/ENV that looks like a credential, no COPY/ADD of keys,
//    certificates or tokens, and .dockerignore keeps them (and build outputs) out of the
//    build context.
// Usage: node check_dockerfiles.mjs --binaries=a,b,c --dockerignore=FILE DOCKERFILE...
import fs from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split("=").slice(1).join("=");
const binaries = new Set((option("binaries") ?? "").split(",").filter(Boolean));
const dockerignore = option("dockerignore");
const files = args.filter((a) => !a.startsWith("--"));
if (files.length === 0 || binaries.size === 0 || !dockerignore) {
  console.error("usage: node check_dockerfiles.mjs --binaries=a,b --dockerignore=FILE DOCKERFILE...");
  process.exit(2);
}
const problems = [];
const problem = (where, text) => problems.push(`${where}: ${text}`);

// Instructions with their arguments, continuation lines joined, comments dropped.
function instructions(text) {
  const joined = text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n").replace(/\\\n/g, " ");
  return joined.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const [keyword, ...rest] = l.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(" ") };
  });
}

const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL)/i;
const SECRET_FILE = /\.(pem|key|p12|pfx|token)\b|\bsecrets?\/|\btokens\b/;
const BUILD_TOOL = /\b(build-essential|g\+\+|gcc|clang|cmake|ninja-build|bazel\S*|[a-z0-9.+-]+-dev)\b/;

for (const file of files) {
  const where = path.basename(file);
  const all = instructions(fs.readFileSync(file, "utf8"));
  const globalArgs = new Map();
  for (const i of all) {
    if (i.keyword === "FROM") break;
    if (i.keyword === "ARG") {
      const [name, value] = i.args.split("=");
      globalArgs.set(name, value);
    }
  }
  const stages = [];
  for (const i of all) {
    if (i.keyword === "FROM") stages.push({ from: i.args, steps: [] });
    else if (stages.length > 0) stages[stages.length - 1].steps.push(i);
  }
  if (stages.length < 2) problem(where, `${stages.length} stage(s): the image must be multi-stage`);
  const stageNames = new Set(stages.map((s) => / AS (\S+)$/i.exec(s.from)?.[1]).filter(Boolean));
  for (const s of stages) {
    let image = s.from.split(/\s+/)[0];
    image = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs.get(a ?? b) ?? "");
    if (stageNames.has(image)) continue;
    const tag = /@sha256:[0-9a-f]{64}$/.test(image) ? "digest" : /:([^/:]+)$/.exec(image)?.[1];
    if (!tag || tag === "latest") problem(where, `FROM ${s.from}: base image not pinned by tag or digest`);
  }
  for (const i of all) {
    if ((i.keyword === "ARG" || i.keyword === "ENV") && SECRET_NAME.test(i.args.split(/[=\s]/)[0])) {
      problem(where, `${i.keyword} ${i.args}: looks like a credential baked into the image`);
    }
    if ((i.keyword === "COPY" || i.keyword === "ADD") && SECRET_FILE.test(i.args)) {
      problem(where, `${i.keyword} ${i.args}: copies a key, certificate or token into the image`);
    }
  }
  const last = stages[stages.length - 1];
  if (!last) continue;
  const user = last.steps.filter((i) => i.keyword === "USER").pop()?.args;
  if (!user) problem(where, "the final stage sets no USER: it would run as root");
  else if (/^(root|0)(:|$)/.test(user)) problem(where, `USER ${user}: runs as root`);
  else if (!/^10001(:10001)?$/.test(user)) problem(where, `USER ${user}: the manifests run as 10001`);
  for (const i of last.steps.filter((i) => i.keyword === "RUN")) {
    const tool = /apt-get install[^&;|]*/.exec(i.args)?.[0].match(BUILD_TOOL)?.[0];
    if (tool) problem(where, `the final stage installs ${tool}: build tools belong in the build stage`);
  }
  if (!last.steps.some((i) => i.keyword === "COPY" && /--from=/.test(i.args) && /\/opt\/ofa\/bin/.test(i.args))) {
    problem(where, "the final stage copies no binaries from a build stage into /opt/ofa/bin");
  }
  for (const i of last.steps.filter((i) => i.keyword === "ENTRYPOINT" || i.keyword === "CMD")) {
    let argv;
    try {
      argv = JSON.parse(i.args);
    } catch {
      problem(where, `${i.keyword} ${i.args}: use the exec (JSON) form, so signals reach the binary`);
      continue;
    }
    const binary = path.basename(argv[0] ?? "");
    if (!binaries.has(binary)) problem(where, `${i.keyword} runs ${argv[0]}, which no build target produces`);
  }
  if (!last.steps.some((i) => i.keyword === "ENTRYPOINT")) problem(where, "no ENTRYPOINT");
}

const ignored = fs.readFileSync(dockerignore, "utf8").split("\n").map((l) => l.trim());
for (const pattern of ["deploy/k8s/overlays/*/secrets", "*.pem", "*.key", "bazel-*", "**/node_modules"]) {
  if (!ignored.includes(pattern)) problem(path.basename(dockerignore), `does not exclude ${pattern}`);
}

for (const p of problems) console.log(p);
console.log(`${files.length} Dockerfile(s), ${problems.length} problem(s)`);
process.exit(problems.length === 0 ? 0 : 1);
