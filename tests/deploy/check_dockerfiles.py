"""Checks what can be checked of deploy/docker's images without a Docker engine.

 - multi-stage, and every base image pinned by a tag (not "latest") or a digest;
 - the final stage runs as the non-root user the Kubernetes manifests expect (uid 10001),
   holds no compiler, headers or build tool, and copies its binaries from a build stage;
 - its ENTRYPOINT and CMD name binaries that the builds produce (--binaries);
 - no secret is baked in: no ARG/ENV that looks like a credential, no COPY/ADD of keys,
   certificates or tokens, and .dockerignore keeps them (and build outputs) out of the build
   context.

Usage: python3 check_dockerfiles.py --binaries=a,b,c --dockerignore=FILE DOCKERFILE...
Prints one line per problem and exits 1 if there is any.
"""

import argparse
import json
import os
import re
import sys

SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
SECRET_FILE = re.compile(r"\.(pem|key|p12|pfx|token)\b|\bsecrets?/|\btokens\b")
BUILD_TOOL = re.compile(r"\b(build-essential|g\+\+|gcc|clang|cmake|ninja-build|bazel\S*|[a-z0-9.+-]+-dev)\b")
IGNORED_PATTERNS = ["deploy/k8s/overlays/*/secrets", "*.pem", "*.key", "bazel-*", ".deps"]


def instructions(text):
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    lines = [l for l in text.split("\n") if not re.match(r"^\s*#", l)]
    joined = "\n".join(lines).replace("\\\n", " ")
    result = []
    for line in joined.split("\n"):
        line = line.strip()
        if line:
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


def dockerfile_problems(path, binaries):
    where = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        steps = instructions(f.read())
    global_args = {}
    for keyword, args in steps:
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, value = args.partition("=")
            global_args[name] = value
    stages = []
    for keyword, args in steps:
        if keyword == "FROM":
            stages.append({"from": args, "steps": []})
        elif stages:
            stages[-1]["steps"].append((keyword, args))
    if len(stages) < 2:
        yield f"{where}: {len(stages)} stage(s): the image must be multi-stage"
    stage_names = {m.group(1) for s in stages if (m := re.search(r" AS (\S+)$", s["from"], re.I))}
    for s in stages:
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                       lambda m: global_args.get(m.group(1) or m.group(2), ""), s["from"].split()[0])
        if image in stage_names:
            continue
        if re.search(r"@sha256:[0-9a-f]{64}$", image):
            tag = "digest"
        else:
            tag_match = re.search(r":([^/:]+)$", image)
            tag = tag_match.group(1) if tag_match else None
        if not tag or tag == "latest":
            yield f"{where}: FROM {s['from']}: base image not pinned by tag or digest"
    for keyword, args in steps:
        if keyword in ("ARG", "ENV") and SECRET_NAME.search(re.split(r"[=\s]", args)[0]):
            yield f"{where}: {keyword} {args}: looks like a credential baked into the image"
        if keyword in ("COPY", "ADD") and SECRET_FILE.search(args):
            yield f"{where}: {keyword} {args}: copies a key, certificate or token into the image"
    if not stages:
        return
    last = stages[-1]["steps"]
    users = [args for keyword, args in last if keyword == "USER"]
    if not users:
        yield f"{where}: the final stage sets no USER: it would run as root"
    elif re.match(r"^(root|0)(:|$)", users[-1]):
        yield f"{where}: USER {users[-1]}: runs as root"
    elif not re.fullmatch(r"10001(:10001)?", users[-1]):
        yield f"{where}: USER {users[-1]}: the manifests run as 10001"
    for keyword, args in last:
        install = re.search(r"apt-get install[^&;|]*", args) if keyword == "RUN" else None
        tool = BUILD_TOOL.search(install.group(0)) if install else None
        if tool:
            yield f"{where}: the final stage installs {tool.group(0)}: build tools belong in the build stage"
    if not any(k == "COPY" and "--from=" in a and "/opt/ofa/bin" in a for k, a in last):
        yield f"{where}: the final stage copies no binaries from a build stage into /opt/ofa/bin"
    for keyword, args in last:
        if keyword not in ("ENTRYPOINT", "CMD"):
            continue
        try:
            argv = json.loads(args)
        except json.JSONDecodeError:
            yield f"{where}: {keyword} {args}: use the exec (JSON) form, so signals reach the binary"
            continue
        if os.path.basename(argv[0] if argv else "") not in binaries:
            yield f"{where}: {keyword} runs {argv[0] if argv else ''}, which no build target produces"
    if not any(k == "ENTRYPOINT" for k, _ in last):
        yield f"{where}: no ENTRYPOINT"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binaries", required=True)
    parser.add_argument("--dockerignore", required=True)
    parser.add_argument("dockerfiles", nargs="+")
    args = parser.parse_args(argv)
    binaries = {b for b in args.binaries.split(",") if b}

    problems = []
    for path in args.dockerfiles:
        problems += dockerfile_problems(path, binaries)
    with open(args.dockerignore, encoding="utf-8") as f:
        ignored = [l.strip() for l in f]
    for pattern in IGNORED_PATTERNS:
        if pattern not in ignored:
            problems.append(f"{os.path.basename(args.dockerignore)}: does not exclude {pattern}")
    for p in problems:
        print(p)
    print(f"{len(args.dockerfiles)} Dockerfile(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
