#!/usr/bin/env bash
# Renders every overlay of deploy/k8s with kubectl's kustomize, as `kubectl apply -k` would
# (with throwaway secrets from make_secrets.sh), and validates the render offline with
# validate_k8s.py. Then breaks one thing at a time in a render and checks the validator
# names it, so a validator that passes everything cannot pass this test.
#   k8s_manifests_test.sh PYTHON VALIDATE_K8S_PY DEPLOY_K8S_MAKE_SECRETS_SH MONITORING_KUSTOMIZATION
set -uo pipefail
python="$(readlink -f "$1")" validate="$(readlink -f "$2")"
k8s_src="$(dirname "$3")" monitoring_src="$(dirname "$4")"
tmp="${TEST_TMPDIR:-$(mktemp -d)}/k8s"
rm -rf "$tmp" && mkdir -p "$tmp"
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }
for tool in kubectl "$python" openssl; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool is not installed"; exit 1; }
done
kubectl version --client 2>/dev/null | grep -q "Kustomize Version: v5" ||
  { echo "FAIL kubectl with kustomize v5 is needed: $(kubectl version --client 2>&1 | tr '\n' ' ')"; exit 1; }

# The overlays reach ../../../monitoring: copy both trees, dereferencing Bazel's symlinks.
mkdir -p "$tmp/repo/deploy"
cp -rL "$k8s_src" "$tmp/repo/deploy/k8s" && cp -rL "$monitoring_src" "$tmp/repo/monitoring"
chmod -R u+w "$tmp/repo"
rules="$tmp/repo/monitoring/prometheus/ofa_rules.yml"
dashboards="$tmp/repo/monitoring/grafana/dashboards"
check() { "$python" "$validate" "$1" --rules="$rules" --dashboards="$dashboards"; }

for overlay in cpu-demo gpu; do
  dir="$tmp/repo/deploy/k8s/overlays/$overlay"
  bash "$tmp/repo/deploy/k8s/make_secrets.sh" "$dir" $([ "$overlay" = gpu ] && echo --tls) >/dev/null ||
    { fail "make_secrets.sh $overlay"; continue; }
  if ! kubectl kustomize "$dir" >"$tmp/$overlay.yaml" 2>"$tmp/$overlay.err"; then
    fail "kubectl kustomize $overlay: $(cat "$tmp/$overlay.err")"
    continue
  fi
  kinds=$(grep '^kind:' "$tmp/$overlay.yaml" | sort | uniq -c | awk '{printf "%s %s, ", $1, $3}')
  out=$(check "$tmp/$overlay.yaml")
  [ $? -eq 0 ] && ok "$overlay renders and validates: ${kinds%, }" || fail "$overlay: $out"
done
grep -q "nvidia.com/gpu: 8" "$tmp/gpu.yaml" && grep -q -- "--tls_cert=/etc/ofa/tls/tls.crt" "$tmp/gpu.yaml" &&
  ok "gpu: workers request GPUs, the coordinator serves TLS" || fail "gpu overlay lacks GPUs or TLS"
! grep -q "nvidia.com/gpu" "$tmp/cpu-demo.yaml" && ok "cpu-demo requests no GPU" || fail "cpu-demo requests GPUs"
[ -s "$tmp/cpu-demo.yaml" ] || exit 1

# Each mistake, made in the cpu-demo render, must be reported with the given words.
source "$(dirname "$0")/expect_caught.sh"
original="$tmp/cpu-demo.yaml"
verify() { check "$1"; }
expect_caught "a misspelt field" "readinesProbe" 's/readinessProbe:/readinesProbe:/'
expect_caught "a port given as a string" "must be integer" 's/containerPort: 7071/containerPort: "7071"/'
expect_caught "a missing Secret" "ofa-worker-token-gone is not in the render" \
  's/secretName: ofa-worker-token-.*/secretName: ofa-worker-token-gone/'
expect_caught "a flag naming a file the Secret lacks" "has no key tokenz" \
  's|--tokens_file=/etc/ofa/secrets/tokens|--tokens_file=/etc/ofa/secrets/tokenz|'
expect_caught "a probe on a port the container lacks" "port 7072 is not a port" \
  '0,/port: 7071/s/port: 7071$/port: 7072/'
expect_caught "a Service port with no container port" "target metricz is not a container port" \
  's/targetPort: metrics/targetPort: metricz/'
expect_caught "a Secret file only root can read" "mode 400 is unreadable to uid 10001" \
  's/defaultMode: 288/defaultMode: 256/'
expect_caught "an unpinned image" "is not pinned" 's/image: ofa-train:0.1.0-cpu/image: ofa-train:latest/'
expect_caught "a drain grace the pod's grace period cannot cover" "drain_grace_s=115" \
  's/--drain_grace_s=100/--drain_grace_s=115/'
expect_caught "an alert rule that drifted from monitoring/" "groups differ" '0,/for: 10m/s/for: 10m/for: 11m/'
expect_caught "a dashboard that drifted from monitoring/" "ofa-carbon.json is missing or differs" \
  '0,/"title": /s/"title": /"title": "x" /'
original="$tmp/gpu.yaml"
expect_caught "an unknown field in a ServiceMonitor" "'intervall' was unexpected" 's/^  - interval: 15s$/  - intervall: 15s/'
expect_caught "a kind without a schema" "no schema for example.com/v1 Widget" \
  '1s/^/apiVersion: example.com\/v1\nkind: Widget\nmetadata: {name: w}\n---\n/'

[ $failures -eq 0 ]
