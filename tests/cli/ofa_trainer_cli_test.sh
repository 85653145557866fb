#!/usr/bin/env bash
# Runs the real ofa-trainer binary as a user would: a good spec prints the plan, bad input
# ends with exit code 2 and a message naming what is wrong, never a crash.
set -uo pipefail
trainer="$1"
demo_spec="$2"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0

expect() {  # expect NAME WANT_RC PATTERN -- ARGS...
  local name="$1" want_rc="$2" pattern="$3"
  shift 4
  local out rc
  out=$("$trainer" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want_rc" ] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: rc=$rc (want $want_rc), output:"
    echo "$out" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

expect "plan of the demo spec" 0 "elastic_expand_2 +PHASE_KIND_ELASTIC_EXPAND" -- \
  --job_spec="$demo_spec" --plan_only
expect "missing flag" 2 "--job_spec is required" --
expect "missing file" 2 "NOT_FOUND: cannot read job spec file $tmp/none.json" -- \
  --job_spec="$tmp/none.json"

printf '{"name": "x", "supernet": {"preset": "ofa_small_28"}, "dataset": {"kind": 7}}' \
  >"$tmp/bad_enum.json"
expect "unknown enum number" 2 "dataset.kind: unknown value 7" -- --job_spec="$tmp/bad_enum.json"

printf '{"name": "", "supernet": {"preset": "vgg"}, "dataset": {"kind": "DATASET_KIND_SYNTHETIC"},
        "schedule": {"overrides": [{"phase": "full", "epochs": -1}]}}' >"$tmp/bad_fields.json"
expect "every bad field named" 2 "name: is required.*supernet.preset: unknown supernet preset" -- \
  --job_spec="$tmp/bad_fields.json" --plan_only

printf '{"name": "x", "supernett": {}}' >"$tmp/typo.json"
expect "misspelt field" 2 "not a valid JobSpec in JSON.*supernett" -- --job_spec="$tmp/typo.json"

head -c 2000000 /dev/zero | tr '\0' ' ' >"$tmp/huge.json"
expect "oversized spec" 2 "larger than 1048576 bytes" -- --job_spec="$tmp/huge.json"

head -c 4096 /dev/urandom >"$tmp/garbage.textproto"
expect "binary garbage" 2 "not a valid JobSpec in text format" -- \
  --job_spec="$tmp/garbage.textproto"

# A whole (tiny) job through the real binary: plan, phases, evaluation table, exports, and a
# second run that finds every phase done.
cat >"$tmp/tiny.textproto" <<'SPEC'
name: "cli tiny"
seed: 3
supernet { preset: "ofa_small_28" width_multiplier: 0.25 }
dataset { kind: DATASET_KIND_SYNTHETIC batch_size_per_device: 8
          synthetic { train_images: 32 test_images: 16 image_size: 28 channels: 1 num_classes: 10 } }
targets { name: "edge" max_macs: 1000000 }
specialize { predictor_samples: 12 population: 8 iterations: 3 bn_calibration_batches: 1 }
schedule {
  overrides { phase: "full" epochs: 1 }
  overrides { phase: "elastic_kernel" epochs: 1 }
  overrides { phase: "elastic_depth_2" epochs: 1 }
  overrides { phase: "elastic_expand_2" epochs: 1 }
}
SPEC
expect "tiny job runs every phase" 0 "specialize .*1 sub-network\(s\) exported" -- \
  --job_spec="$tmp/tiny.textproto" --output_dir="$tmp/out" --threads=2 --calibration_batches=1 \
  --progress_file="$tmp/progress.jsonl"
for f in export/largest/architecture.json export/smallest/weights.pt phases/full/final/manifest.json \
  export/edge/weights.pt export/edge/subnet.json export/edge/model.onnx \
  phases/specialize/predictor_samples.jsonl; do
  [ -f "$tmp/out/$f" ] || { echo "FAIL missing $tmp/out/$f"; failures=$((failures + 1)); }
done
grep -q '"event":"progress"' "$tmp/progress.jsonl" ||
  { echo "FAIL no progress events in the JSON lines file"; failures=$((failures + 1)); }
grep -q '"event":"subnet_exported"' "$tmp/progress.jsonl" ||
  { echo "FAIL no subnet_exported event in the JSON lines file"; failures=$((failures + 1)); }
# ofa-trainer is linked with tcmalloc (third_party/system.BUILD) and says so when a job starts.
grep -q '"event":"job_started".*2 threads, tcmalloc,' "$tmp/progress.jsonl" ||
  { echo "FAIL job_started does not name tcmalloc: $(grep job_started "$tmp/progress.jsonl")"
    failures=$((failures + 1)); }
# Any exported sub-network (here the largest, exported by the evaluation) converts to ONNX.
expect "ONNX export of a sub-network" 0 "wrote $tmp/largest.onnx \(ONNX opset 17, batch 4, checked\), sha256 [0-9a-f]{64}" -- \
  --export_onnx="$tmp/largest.onnx" --subnet_dir="$tmp/out/export/largest" --onnx_batch_size=4
expect "ONNX export needs a sub-network" 2 "needs --subnet_dir" -- --export_onnx="$tmp/x.onnx"
expect "ONNX export of a missing sub-network" 2 "NOT_FOUND: cannot read $tmp/none/architecture.json" -- \
  --export_onnx="$tmp/x.onnx" --subnet_dir="$tmp/none"
expect "ONNX export of a bad batch size" 2 "batch_size: want 0 \(dynamic\) or a positive size" -- \
  --export_onnx="$tmp/x.onnx" --subnet_dir="$tmp/out/export/largest" --onnx_batch_size=-3
[ ! -e "$tmp/x.onnx" ] || { echo "FAIL a failed export left $tmp/x.onnx"; failures=$((failures + 1)); }
expect "second run resumes to done" 0 "elastic_expand_2 .*already done" -- \
  --job_spec="$tmp/tiny.textproto" --output_dir="$tmp/out" --threads=2 --calibration_batches=1

# A latency table profiled on this machine, then a target whose budget is in milliseconds
# under it: the specialise phase (rerun alone on the trained supernet) reads the table.
expect "latency profile" 0 "wrote [0-9]+ layer latencies .*batch 2" -- \
  --job_spec="$tmp/tiny.textproto" --profile_latency="$tmp/latency.json" \
  --latency_batch_size=2 --latency_table_name=cpu-b2
jq --slurpfile table "$tmp/latency.json" '{name: "cli latency", seed: 3,
    supernet: {preset: "ofa_small_28", widthMultiplier: 0.25},
    dataset: {kind: "DATASET_KIND_SYNTHETIC", batchSizePerDevice: 8,
              synthetic: {trainImages: 32, testImages: 16, imageSize: 28, channels: 1, numClasses: 10}},
    targets: [{name: "cpu", maxLatencyMs: 100000, latencyTable: "cpu-b2", latencyBatchSize: 2}],
    specialize: {predictorSamples: 12, population: 8, iterations: 3, bnCalibrationBatches: 1},
    latencyTables: $table,
    schedule: {overrides: [{phase: "full", epochs: 1}, {phase: "elastic_kernel", epochs: 1},
                           {phase: "elastic_depth_2", epochs: 1}, {phase: "elastic_expand_2", epochs: 1}]}}' \
  -n >"$tmp/latency_job.json"
cp -r "$tmp/out" "$tmp/latency_out"
rm -rf "$tmp/latency_out/export" "$tmp/latency_out/phases/specialize"
expect "latency target" 0 "cpu .*ms" -- --job_spec="$tmp/latency_job.json" \
  --output_dir="$tmp/latency_out" --phase=specialize --threads=2
grep -q '"latencyModel":"table:cpu-b2"' "$tmp/latency_out/export/cpu/subnet.json" ||
  { echo "FAIL the latency target was not measured with its table"; failures=$((failures + 1)); }
jq '.targets[0].latencyBatchSize = 4' "$tmp/latency_job.json" >"$tmp/latency_b4.json"
expect "latency table at another batch" 2 "latency_batch_size: is 4 but latency table .cpu-b2. was measured at batch size 2" \
  -- --job_spec="$tmp/latency_b4.json" --output_dir="$tmp/latency_out" --phase=specialize

# Data parallel: bad distributed flags are named; two local CPU ranks run the whole job.
expect "world without a store" 2 'store="": expected file:DIR' -- \
  --job_spec="$tmp/tiny.textproto" --output_dir="$tmp/dp_bad" --world_size=2 --rank=1
expect "negative local ranks" 2 "local_ranks=-2: must be between 0 and 64" -- \
  --job_spec="$tmp/tiny.textproto" --output_dir="$tmp/dp_bad" --local_ranks=-2
expect "CUDA device not yet" 3 "device=cuda:0: training on CUDA devices is not implemented" -- \
  --job_spec="$tmp/tiny.textproto" --output_dir="$tmp/dp_bad" --device=cuda:0
summary_row='^elastic_expand_2 +[0-9]+ +[0-9.]+ +[0-9.]+%'
expect "two local ranks run every phase" 0 "$summary_row" -- \
  --job_spec="$tmp/tiny.textproto" --output_dir="$tmp/dp" --local_ranks=2 \
  --calibration_batches=1 --progress_file="$tmp/dp_progress.jsonl"
for f in export/smallest/weights.pt phases/elastic_expand_2/final/manifest.json; do
  [ -f "$tmp/dp/$f" ] || { echo "FAIL missing $tmp/dp/$f"; failures=$((failures + 1)); }
done
[ -s "$tmp/dp_progress.jsonl.rank1" ] ||
  { echo "FAIL rank 1 wrote no progress file"; failures=$((failures + 1)); }

# The tiny job with 4000 training images, long enough to interrupt: long_spec NAME.
long_spec() {
  sed -e 's/train_images: 32/train_images: 4000/' -e "s/cli tiny/cli $1/" \
    "$tmp/tiny.textproto" >"$tmp/$1.textproto"
}
# Waits up to 60 s for a progress event: wait_for_event FILE EVENT.
wait_for_event() {
  for _ in $(seq 600); do
    grep -q "\"event\":\"$2\"" "$1" 2>/dev/null && return
    sleep 0.1
  done
}

# A rank killed mid-phase: the launcher stops the other rank at once and says how to resume;
# the same command then finishes the job from the last checkpoint.
long_spec kill
kill_args=(--job_spec="$tmp/kill.textproto" --output_dir="$tmp/kill" --local_ranks=2
  --calibration_batches=1 --checkpoint_every_steps=20 --progress_file="$tmp/kill.jsonl")
"$trainer" "${kill_args[@]}" >"$tmp/kill.out" 2>&1 &
launcher=$!
wait_for_event "$tmp/kill.jsonl" checkpoint
rank1=$(pgrep -f -- "--output_dir=$tmp/kill .*--rank=1 " | head -1)
killed_at=$(date +%s.%N)
kill -9 "$rank1"
wait "$launcher"
rc=$?
took=$(echo "$(date +%s.%N) - $killed_at" | bc)
if [ "$rc" -ne 2 ] || ! grep -q "rank 1: killed by signal 9.*run the same command again" "$tmp/kill.out"; then
  echo "FAIL killed rank: rc=$rc"; sed 's/^/    /' "$tmp/kill.out"; failures=$((failures + 1))
elif [ "$(echo "$took > 15" | bc)" -eq 1 ]; then
  echo "FAIL the launcher took $took s to stop after a rank was killed"; failures=$((failures + 1))
else
  echo "ok   killed rank stops the launch in $took s"
fi
expect "the same command resumes and finishes" 0 "$summary_row" -- "${kill_args[@]}"
grep -q '"event":"phase_resumed"' "$tmp/kill.jsonl" ||
  { echo "FAIL the second launch did not resume from a checkpoint"; failures=$((failures + 1)); }

# SIGTERM mid-phase (what a draining ofa-worker sends; Ctrl-C does the same): the phase
# checkpoints at its next step and the trainer exits 75 saying so; the same command resumes
# from that checkpoint. The signal follows the first periodic checkpoint (step 20 of 450), not
# the first progress line: that comes after 5 s, and phase full can be over by then.
long_spec stop
stop_args=(--job_spec="$tmp/stop.textproto" --output_dir="$tmp/stop" --calibration_batches=1
  --checkpoint_every_steps=20 --progress_file="$tmp/stop.jsonl")
"$trainer" "${stop_args[@]}" >"$tmp/stop.out" 2>&1 &
stopped_pid=$!
wait_for_event "$tmp/stop.jsonl" checkpoint
kill -TERM "$stopped_pid"
wait "$stopped_pid"
rc=$?
step=$(grep -o '"event":"stopped".*' "$tmp/stop.jsonl" | grep -o '"step":[0-9]*' | cut -d: -f2)
checkpoint=$(printf 'step-%010d' "${step:-0}")
if [ "$rc" -eq 75 ] && grep -q "stopped on request at step $step/.*checkpoint: $checkpoint" "$tmp/stop.out" &&
   [ -f "$tmp/stop/phases/full/$checkpoint/manifest.json" ]; then
  echo "ok   SIGTERM: checkpoint $checkpoint at the next step, exit code 75"
else
  echo "FAIL SIGTERM: rc=$rc (want 75), step '$step'"; tail -5 "$tmp/stop.out" | sed 's/^/    /'
  failures=$((failures + 1))
fi
# Only phase full is run again: the whole job would take this test past its time limit.
expect "after SIGTERM the same command resumes phase full and finishes it" 0 \
  "resumed from checkpoint $checkpoint" -- "${stop_args[@]}" --phase=full

[ "$failures" -eq 0 ]
