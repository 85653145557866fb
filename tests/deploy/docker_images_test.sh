#!/usr/bin/env bash
# What can be checked of the container images without a Docker engine (none runs here):
# check_dockerfiles.py on deploy/docker's Dockerfiles, then planted mistakes it must catch;
# and runtime_packages.sh, which picks the final stage's packages, run on the real binaries.
#   docker_images_test.sh PYTHON CHECK_DOCKERFILES_PY DOCKERIGNORE RUNTIME_PACKAGES_SH \
#       CPU_DOCKERFILE CUDA_DOCKERFILE BINARY...
set -uo pipefail
python="$1" check="$2" dockerignore="$3" runtime_packages="$4" cpu="$5" cuda="$6"
shift 6
binaries=("$@")
tmp="${TEST_TMPDIR:-$(mktemp -d)}/docker"
rm -rf "$tmp" && mkdir -p "$tmp"
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }
names=$(for b in "${binaries[@]}"; do basename "$b"; done | paste -sd,)
lint() { "$python" "$check" --binaries="$names" --dockerignore="$dockerignore" "$@"; }

out=$(lint "$cpu" "$cuda")
[ $? -eq 0 ] && ok "both Dockerfiles pass: multi-stage, pinned bases, non-root, runtime-only final stage" ||
  fail "$out"

source "$(dirname "$0")/expect_caught.sh"
original="$cpu"
verify() { lint "$1"; }
expect_caught "a final stage running as root" "sets no USER" '/^USER /d'
expect_caught "an unpinned base image" "not pinned" 's/^FROM debian:12.11-slim$/FROM debian:latest/'
expect_caught "a token baked in" "looks like a credential" 's/^ENV PATH=/ENV OFA_TOKEN=abc PATH=/'
expect_caught "a key copied in" "copies a key" 's|^COPY --from=build /out/bin/ /opt/ofa/bin/|&\nCOPY deploy/k8s/overlays/gpu/secrets/tls.key /etc/|'
expect_caught "a compiler in the final stage" "installs build-essential" \
  's/dataset-fashion-mnist ca-certificates/dataset-fashion-mnist build-essential/'
expect_caught "an entrypoint no build produces" "no build target produces" 's|/opt/ofa/bin/ofa-coordinator"|/opt/ofa/bin/ofa-server"|'
expect_caught "a single-stage image" "must be multi-stage" '1,/^FROM debian:12.11-slim$/{/^FROM debian:12.11-slim$/!d}'
cp "$dockerignore" "$tmp/dockerignore" && sed -i '/secrets/d' "$tmp/dockerignore"
out=$("$python" "$check" --binaries="$names" --dockerignore="$tmp/dockerignore" "$cpu")
[ $? -ne 0 ] && grep -q "does not exclude deploy/k8s/overlays/\*/secrets" <<<"$out" &&
  ok "caught: a .dockerignore that lets the overlays' secrets into the build context" || fail ".dockerignore: $out"

# The final stage's package list, from the binaries this build produced. LibTorch (the torch
# wheel's libtorch_cpu, libc10 and its libgomp) and the CUDA runtime it loads (libcudart,
# libcupti) belong to no Debian package: the Dockerfile copies those itself, and they must be
# the only libraries no package owns.
packages=$(bash "$runtime_packages" "${binaries[@]}" 2>"$tmp/unowned.txt")
rc=$?
count=$(wc -l <<<"$packages")
unexpected=$(grep -vE 'no package owns .*/(torch/lib/lib(torch_cpu|c10|gomp)\.so[.0-9]*|lib(cudart|cupti)\.so\.13[.0-9]*)$' \
  "$tmp/unowned.txt")
if [ $rc -eq 0 ] && grep -qx 'libgrpc++1.51' <<<"$packages" && grep -qx libprotobuf32 <<<"$packages" &&
   grep -qx libsqlite3-0 <<<"$packages" && grep -qx libgloo0 <<<"$packages" &&
   ! grep -q -- '-dev$' <<<"$packages" && ! grep -q libtorch <<<"$packages" &&
   grep -q 'torch/lib/libtorch_cpu.so' "$tmp/unowned.txt" && [ -z "$unexpected" ]; then
  ok "runtime_packages.sh: $count runtime packages (gRPC, protobuf, SQLite, Gloo; no -dev), and LibTorch and the CUDA runtime for the Dockerfile to copy"
else
  fail "runtime_packages.sh (rc $rc): $(tr '\n' ' ' <<<"$packages") $(cat "$tmp/unowned.txt")"
fi
bash "$runtime_packages" "$dockerignore" >/dev/null 2>&1
[ $? -eq 2 ] && ok "runtime_packages.sh refuses a file that is not an executable" ||
  fail "runtime_packages.sh accepted a non-executable"

[ $failures -eq 0 ]
