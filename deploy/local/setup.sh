#!/usr/bin/env bash
# Installs every Debian package ofa-train needs to build, test and run on a fresh Debian 12
# machine, and the pinned PyPI packages its tests use (ONNX Runtime, Kubernetes schemas) in a
# venv at .deps/venv. Idempotent: packages already present are skipped, and apt and pip are
# only touched when something is missing. Both README commands call this first.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap build-essential cmake ninja-build pkg-config
  # Gloo collectives; tcmalloc as ofa-trainer's malloc (LibTorch is PyPI's torch, below)
  libgloo-dev libtcmalloc-minimal4
  # gRPC, protobuf, Abseil
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # metrics, storage, config parsing
  prometheus-cpp-dev libsqlite3-dev libyaml-cpp-dev nlohmann-json3-dev zlib1g-dev
  # checksums (SHA-256) and JPEG decoding for image-folder data sets
  libssl-dev libjpeg-dev
  # ONNX export of sub-networks (protobuf classes, checker); Python's venv for the tests' tools
  libonnx-dev python3 python3-venv
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

# Debian's LibTorch 1.13 headers (which older versions of this script installed) must go: they
# sit in /usr/include and its libtorch.so in /usr/lib, on the default search paths, where they
# would mix with the wheel's (LibTorch's CMake package finds /usr/lib's libtorch.so first).
# Its runtime package (versioned .so.1.13 files only) is harmless and stays.
stale=()
for p in libtorch-dev libtorch-test python3-torch; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    stale+=("$p")
  fi
done
if [ ${#stale[@]} -gt 0 ]; then
  echo "setup: removing Debian's LibTorch 1.13 (${stale[*]}): LibTorch now comes from PyPI's torch"
  $SUDO apt-get remove -y -qq "${stale[@]}" >/dev/null
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

# PyPI packages the tests use, every one pinned in requirements.txt (ONNX Runtime for the ONNX
# exports, Kubernetes and prometheus-operator schemas for the manifests), in a venv that git
# and the Docker build context ignore. Debian's python3 makes it, whatever python3 is first on
# PATH. Skipped while requirements.txt is unchanged.
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$repo/.deps/venv"
requirements="$repo/deploy/local/requirements.txt"
if ! cmp -s "$requirements" "$venv/requirements.installed"; then
  echo "setup: pip install -r deploy/local/requirements.txt into .deps/venv"
  [ -x "$venv/bin/python3" ] || /usr/bin/python3 -m venv "$venv" ||
    { echo "setup: cannot make a venv at $venv" >&2; exit 1; }
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --no-deps \
      -r "$requirements" || { echo "setup: pip install into $venv failed" >&2; exit 1; }
  cp "$requirements" "$venv/requirements.installed"
fi
# kubectl renders the Kubernetes manifests (kubectl kustomize). Debian's kubernetes-client
# is too old (its kustomize is v2); the machine image's kubectl 1.32 is used.
if ! kubectl version --client 2>/dev/null | grep -q "Kustomize Version: v5"; then
  echo "setup: warning: no kubectl with kustomize v5 on PATH; tests/deploy:k8s_manifests_test" \
    "will fail (install kubectl >= 1.27)" >&2
fi
echo "setup: done"
