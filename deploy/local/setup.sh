#!/usr/bin/env bash
# Installs every Debian package ofa-train needs to build, test and run on a fresh Debian 12
# machine, and the npm packages its tests use (ONNX Runtime, Kubernetes schemas). Idempotent:
# packages already present are skipped, and apt and npm are only touched when something is
# missing. Both README commands call this first.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap build-essential cmake ninja-build pkg-config
  # LibTorch 1.13 (CPU) and Gloo collectives; tcmalloc as ofa-trainer's malloc
  libtorch-dev libgloo-dev libtcmalloc-minimal4
  # gRPC, protobuf, Abseil
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # metrics, storage, config parsing
  prometheus-cpp-dev libsqlite3-dev libyaml-cpp-dev nlohmann-json3-dev zlib1g-dev
  # checksums (SHA-256) and JPEG decoding for image-folder data sets
  libssl-dev libjpeg-dev
  # ONNX export of sub-networks (protobuf classes, checker); Node.js runs ONNX Runtime in tests
  libonnx-dev nodejs
  # tests and benchmarks (openssl makes the TLS test's certificates)
  libgtest-dev libgmock-dev libbenchmark-dev openssl
  # the real data set, and a real Prometheus server (plus curl and jq to query its HTTP API)
  # for the dashboard tests
  dataset-fashion-mnist prometheus curl jq
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Debian's nodejs ships npm separately (NodeSource's bundles it).
if ! command -v npm >/dev/null; then
  missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} Debian packages present"
else
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  # --no-install-recommends keeps CI fast; the Prometheus server must not start as a system
  # service in CI (policy-rc.d is not touched: tests start their own instance on loopback).
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages the tests use, pinned by each directory's package-lock.json: ONNX Runtime
# (tests/onnx) for the ONNX exports, and Kubernetes/Prometheus-operator schemas, YAML and
# TypeScript (tests/deploy) for the manifests. Not Debian packages, so from the npm registry.
# --ignore-scripts: onnxruntime-node's install script only downloads CUDA providers from
# GitHub; its CPU runtime is in the package. Skipped while a lockfile is unchanged.
repo="$(cd "$(dirname "$0")/../.." && pwd)"
for dir in "$repo/tests/onnx" "$repo/tests/deploy"; do
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed"; then
    echo "setup: npm ci in ${dir#"$repo"/}"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
      { echo "setup: npm ci in $dir failed" >&2; exit 1; }
    cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed"
  fi
done
# kubectl renders the Kubernetes manifests (kubectl kustomize). Debian's kubernetes-client
# is too old (its kustomize is v2); the machine image's kubectl 1.32 is used.
if ! kubectl version --client 2>/dev/null | grep -q "Kustomize Version: v5"; then
  echo "setup: warning: no kubectl with kustomize v5 on PATH; tests/deploy:k8s_manifests_test" \
    "will fail (install kubectl >= 1.27)" >&2
fi
echo "setup: done"
