#!/usr/bin/env bash
# Installs every Debian package ofa-train needs to build, test and run on a fresh Debian 12
# machine, and the one npm package its tests use (ONNX Runtime). Idempotent: packages already
# present are skipped, and apt and npm are only touched when something is missing. Both README
# commands call this first.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap build-essential cmake ninja-build pkg-config
  # LibTorch 1.13 (CPU) and Gloo collectives
  libtorch-dev libgloo-dev
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

# ONNX Runtime for the tests that run the ONNX exports: not a Debian package, so the pinned
# npm package (tests/onnx/package-lock.json) from the npm registry. --ignore-scripts: its
# install script only downloads CUDA providers from GitHub; the CPU runtime is in the package.
onnx_dir="$(cd "$(dirname "$0")/../../tests/onnx" && pwd)"
if ! cmp -s "$onnx_dir/package-lock.json" "$onnx_dir/node_modules/.package-lock.json.installed"; then
  echo "setup: installing onnxruntime-node (npm ci in tests/onnx)"
  (cd "$onnx_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
    { echo "setup: npm ci in $onnx_dir failed" >&2; exit 1; }
  cp "$onnx_dir/package-lock.json" "$onnx_dir/node_modules/.package-lock.json.installed"
fi
echo "setup: done"
