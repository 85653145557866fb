#!/usr/bin/env bash
# What the dashboards show, checked against the real thing: a real Prometheus server
# (Debian's prometheus, on loopback, scraping every second with monitoring/'s rules loaded)
# scrapes a real ofa-coordinator while one ofa-worker runs a real CPU training job. Every
# PromQL expression of every dashboard panel and every rule is evaluated through Prometheus's
# HTTP API and must return data; after the job, the totals Prometheus holds must equal
# GetCarbonReport's. promtool checks the rules and the shipped scrape config.
set -uo pipefail
coordinator_bin="$1" worker_bin="$2" trainer_bin="$3" ofactl_bin="$4"
monitoring="$(cd "$(dirname "$5")/.." && pwd)"  # $5 = monitoring/prometheus/ofa_rules.yml
# $6 = tests/onnx/run_onnx_model.py, $7 = the project's Python (its venv has ONNX Runtime)
onnx_runner="$(readlink -f "$6")" python_bin="$(readlink -f "$7")"
test_name=monitoring
source "$(dirname "$0")/service_lib.sh"  # Scratch directory, cleanup, ok/fail.
for tool in prometheus promtool curl jq "$python_bin"; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool is not installed (deploy/local/setup.sh installs it)"; exit 1; }
done

# --- Static checks of what monitoring/ ships.
promtool check rules "$monitoring/prometheus/ofa_rules.yml" >"$tmp/promtool.log" 2>&1 &&
  ok "promtool check rules" || { fail "promtool check rules:"; cat "$tmp/promtool.log"; }
promtool check config "$monitoring/prometheus/prometheus.yml" >"$tmp/promtool.log" 2>&1 &&
  ok "promtool check config" || { fail "promtool check config:"; cat "$tmp/promtool.log"; }
for d in "$monitoring"/grafana/dashboards/*.json; do
  jq -e '.templating.list | map(.name) | index("datasource") and index("job_id") and index("phase")' \
    "$d" >/dev/null && ok "$(basename "$d"): datasource, job_id and phase variables" ||
    fail "$(basename "$d") lacks a datasource, job_id or phase template variable"
done

# --- The service, metrics on a free loopback port.
"$coordinator_bin" --listen=127.0.0.1:0 --port_file="$tmp/port" --state_dir="$tmp/state" \
  --metrics_listen=127.0.0.1:0 --metrics_port_file="$tmp/metrics_port" \
  --heartbeat_interval_s=0.5 --lease_s=5 >"$tmp/coordinator.log" 2>&1 &
pids+=("$!") && disown
for _ in $(seq 100); do [ -s "$tmp/metrics_port" ] && break; sleep 0.1; done
[ -s "$tmp/metrics_port" ] || { echo "FAIL the coordinator did not start:"; cat "$tmp/coordinator.log"; exit 1; }
port=$(cat "$tmp/port") metrics_port=$(cat "$tmp/metrics_port")
"$worker_bin" --coordinator="127.0.0.1:$port" --hostname=node-a --gpus=none --cpu_slots=1 \
  --threads_per_slot=2 --trainer="$trainer_bin" --storage_root="$tmp/storage" \
  >"$tmp/worker.log" 2>&1 &
pids+=("$!") && disown

# A free port for Prometheus: one nothing answers on.
prom_port=""
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 40000))
  (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { prom_port=$p; break; }
done
cp "$monitoring/prometheus/ofa_rules.yml" "$tmp/ofa_rules.yml"
cat >"$tmp/prometheus.yml" <<CONFIG
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [ofa_rules.yml]
scrape_configs:
  - job_name: ofa-coordinator
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
CONFIG
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
pids+=("$!") && disown
api="http://127.0.0.1:$prom_port/api/v1"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null ||
  { echo "FAIL Prometheus did not start:"; tail -20 "$tmp/prometheus.log"; exit 1; }
ok "Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') on port $prom_port scrapes the coordinator"

# Results of one instant query (a JSON array; "" if the query failed).
query() { curl -s --data-urlencode "query=$1" "$api/query" | jq -c 'select(.status == "success") | .data.result'; }
has_data() { local r; r=$(query "$1"); [ -n "$r" ] && [ "$r" != "[]" ]; }
wait_data() {  # wait_data EXPR SECONDS
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do has_data "$1" && return 0; sleep 1; done
  return 1
}

# --- A real training job: synthetic 28x28 images, every phase, one deployment target.
cat >"$tmp/job.yaml" <<'SPEC'
name: dashboards
seed: 3
supernet: {preset: ofa_small_28, width_multiplier: 0.25}
dataset:
  kind: DATASET_KIND_SYNTHETIC
  batch_size_per_device: 16
  synthetic: {train_images: 4096, test_images: 64, image_size: 28, channels: 1, num_classes: 10}
resources: {workers: 1, devices_per_worker: 1}
carbon: {region: DE, pue: 1.2}
targets:
  - {name: edge, max_macs: 300000}
specialize: {predictor_samples: 16, population: 12, iterations: 5, bn_calibration_batches: 1}
schedule:
  overrides:
    - {phase: full, epochs: 4}
    - {phase: elastic_kernel, epochs: 1}
    - {phase: elastic_depth_1, epochs: 1}
    - {phase: elastic_depth_2, epochs: 1}
    - {phase: elastic_expand_1, epochs: 1}
    - {phase: elastic_expand_2, epochs: 1}
SPEC
job=$("$ofactl_bin" --coordinator="127.0.0.1:$port" submit "$tmp/job.yaml" --output=json |
  jq -r '.id // .job.id // empty')
[ -n "$job" ] || { echo "FAIL the job was not accepted"; exit 1; }
echo "     job $job submitted"

# Wait until the running phase, its counterfactual and the recording rules are visible.
if wait_data 'ofa_phase_progress_ratio' 180 && wait_data 'ofa_from_scratch_co2_grams' 120 &&
   wait_data 'ofa:fleet_co2_grams_per_hour:rate1h' 60; then
  ok "metrics of the running job reach Prometheus"
else
  fail "no running-job metrics in Prometheus; last scrape:"
  curl -s "127.0.0.1:$metrics_port/metrics" | grep '^ofa_' | head -20 | sed 's/^/    /'
fi

# --- Every dashboard and rule expression, as Grafana would send it (variables = All).
exprs="$tmp/exprs"
for d in "$monitoring"/grafana/dashboards/*.json; do
  jq -r --arg d "$(basename "$d")" '.panels[] | .title as $t | .targets[] |
    "\($d) | \($t) | \(.expr)"' "$d"
done >"$exprs"
# Rules: one expr per line; an alert's threshold comparison is dropped to see its value.
grep -E '^\s*expr: ' "$monitoring/prometheus/ofa_rules.yml" | sed -E 's/^\s*expr: //' |
  sed -E 's/ (>|<|==|>=|<=|!=) [0-9.e+-]+$//' | sed 's/^/ofa_rules.yml | rule | /' >>"$exprs"
total=0 empty=0
while IFS= read -r line; do
  expr="${line##* | }"
  expr="${expr//\$job_id/.*}" expr="${expr//\$phase/.*}" expr="${expr//\$__rate_interval/15s}"
  total=$((total + 1))
  # A few tries: a series may be between two scrapes or a phase switch.
  got=""
  for _ in 1 2 3 4 5; do has_data "$expr" && { got=1; break; }; sleep 1; done
  if [ -z "$got" ]; then
    empty=$((empty + 1))
    fail "no data: ${line% | *} | $expr"
    echo "    $(curl -s --data-urlencode "query=$expr" "$api/query" | head -c 300)"
  fi
done <"$exprs"
[ $empty -eq 0 ] && ok "all $total dashboard and rule expressions return data"

# --- After the job: Prometheus's totals equal the carbon report's.
deadline=$((SECONDS + 600))
state=""
while [ $SECONDS -lt $deadline ]; do
  state=$("$ofactl_bin" --coordinator="127.0.0.1:$port" get "$job" --output=json | jq -r .state)
  case "$state" in JOB_STATE_SUCCEEDED | JOB_STATE_FAILED | JOB_STATE_CANCELLED) break ;; esac
  sleep 2
done
[ "$state" = JOB_STATE_SUCCEEDED ] && ok "the job succeeded" || fail "job ended $state"
sleep 3  # A few more scrapes of the final values.
report=$("$ofactl_bin" --coordinator="127.0.0.1:$port" report "$job" --output=json)
"$ofactl_bin" --coordinator="127.0.0.1:$port" report "$job" | sed 's/^/     /'
for pair in energy_joules_total:energyJoules co2_grams_total:co2Grams \
            device_seconds_total:deviceSeconds training_flops_total:trainingFlops \
            estimated_energy_joules_total:estimatedEnergyJoules; do
  metric="ofa_${pair%%:*}" field="${pair##*:}"
  want=$(jq -r ".total.$field // 0" <<<"$report")
  got=$(query "sum(${metric}{job_id=\"$job\"})" | jq -r '.[0].value[1] // "none"')
  if awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b;
                                          exit !(a != "none" && b > 0 && d <= 1e-9 * m) }'; then
    ok "$metric: Prometheus $got = report $want"
  else
    fail "$metric: Prometheus $got, report $want"
  fi
done
estimated=$(jq -r '.total.estimatedEnergyJoules // 0' <<<"$report")
energy=$(jq -r '.total.energyJoules // 0' <<<"$report")
echo "     metered energy: $energy J, of which estimated by the power model: $estimated J"

# --- The specialise phase's sub-network, through the API, on the shared storage.
subnets=$("$ofactl_bin" --coordinator="127.0.0.1:$port" subnets "$job" --output=json)
"$ofactl_bin" --coordinator="127.0.0.1:$port" subnets "$job" | sed 's/^/     /'
macs=$(jq -r '.subnets[0].cost.macs // 0' <<<"$subnets")
weights=$(jq -r '.subnets[0].weightsPath // ""' <<<"$subnets")
sha=$(jq -r '.subnets[0].weightsSha256 // ""' <<<"$subnets")
if [ "$(jq -r '.subnets | length' <<<"$subnets")" = 1 ] && [ "$macs" -gt 0 ] &&
   [ "$macs" -le 300000 ] && [ -f "$tmp/storage/$weights" ] &&
   [ "$(sha256sum "$tmp/storage/$weights" | cut -d' ' -f1)" = "$sha" ]; then
  ok "the edge sub-network ($macs MACs) is listed with the SHA-256 of its weights on storage"
else
  fail "subnets: $subnets"
fi
# Its ONNX model: next to the job's phase checkpoints, checksummed, and ONNX Runtime runs it.
onnx=$(jq -r '.subnets[0].onnxPath // ""' <<<"$subnets")
onnx_sha=$(jq -r '.subnets[0].onnxSha256 // ""' <<<"$subnets")
head -c $((4 * 28 * 28)) /dev/zero >"$tmp/zeros.f32"  # one 28x28 image of float32 zeros
if [ "$(dirname "$(dirname "$(dirname "$onnx")")")" = "$(dirname "$(dirname "$(dirname "$weights")")")" ] &&
   [ -d "$tmp/storage/$(dirname "$(dirname "$(dirname "$onnx")")")/phases" ] &&
   [ "$(sha256sum "$tmp/storage/$onnx" 2>/dev/null | cut -d' ' -f1)" = "$onnx_sha" ] &&
   "$python_bin" "$onnx_runner" "$tmp/storage/$onnx" "$tmp/zeros.f32" 1,1,28,28 "$tmp/logits.f32" \
     >"$tmp/ort.log" 2>&1 && grep -q '"dims":\[1,10\]' "$tmp/ort.log"; then
  ok "its ONNX model ($onnx) matches its SHA-256 and runs in ONNX Runtime: 10 logits"
else
  fail "ONNX model \"$onnx\" ($onnx_sha): $(cat "$tmp/ort.log" 2>/dev/null)"
fi
if grep -q '"target":"edge"' <<<"$(jq -c '.fromScratch[0]' <<<"$report")" &&
   jq -r .counterfactualNote <<<"$report" | grep -q "the specialise phase chose"; then
  ok "the counterfactual is costed on the chosen sub-network"
else
  fail "counterfactual: $(jq -c '{fromScratch, counterfactualNote}' <<<"$report")"
fi

if [ $failures -gt 0 ]; then
  echo "--- coordinator log"; tail -20 "$tmp/coordinator.log"
  echo "--- worker log"; tail -20 "$tmp/worker.log"
  echo "$failures check(s) failed"
  exit 1
fi
echo "all monitoring checks passed"
