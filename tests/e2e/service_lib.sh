#!/usr/bin/env bash
# Shared by the service's end-to-end tests (sourced): a scratch directory, process cleanup,
# tokens, and helpers that start ofa-coordinator and ofa-worker processes on loopback and
# follow jobs with ofactl. The sourcing test sets coordinator_bin, worker_bin, trainer_bin,
# ofactl_bin and test_name first.
tmp="${TEST_TMPDIR:-$(mktemp -d)}/$test_name"
rm -rf "$tmp" && mkdir -p "$tmp"
failures=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; pkill -9 -f "$tmp/storage" 2>/dev/null; }
trap cleanup EXIT

fail() { echo "FAIL $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }

cat >"$tmp/tokens" <<'TOKENS'
# token                       role       name
admin-token-0123456789         admin      ops
alice-token-0123456789         submitter  alice
bobby-token-0123456789         submitter  bob
worker-token-0123456789        worker     fleet
TOKENS
echo worker-token-0123456789 >"$tmp/worker.token"

start_coordinator() {  # start_coordinator LISTEN
  "$coordinator_bin" --listen="$1" --port_file="$tmp/port" --state_dir="$tmp/state" \
    --metrics_listen=127.0.0.1:0 --metrics_port_file="$tmp/metrics_port" \
    --tokens_file="$tmp/tokens" --heartbeat_interval_s=0.5 --lease_s=3 \
    >>"$tmp/coordinator.log" 2>&1 &
  coordinator_pid=$!
  pids+=("$coordinator_pid")
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  [ -s "$tmp/port" ] || { echo "FAIL the coordinator did not start:"; cat "$tmp/coordinator.log"; exit 1; }
}
start_worker() {  # start_worker NAME
  "$worker_bin" --coordinator="127.0.0.1:$port" --token_file="$tmp/worker.token" \
    --hostname="$1" --gpus=none --cpu_slots=1 --threads_per_slot=1 --trainer="$trainer_bin" \
    --storage_root="$tmp/storage" --stop_grace_s=2 --drain_grace_s=30 >>"$tmp/$1.log" 2>&1 &
  pids+=("$!")
  eval "worker_pid_${1//-/_}=$!"
}
ctl() { OFA_TOKEN="${TOKEN:-alice-token-0123456789}" "$ofactl_bin" --coordinator="127.0.0.1:$port" "$@"; }
job_state() { ctl get "$1" --output=json | grep -o '"state":"JOB_STATE_[A-Z]*"' | head -1 | cut -d'"' -f4; }
wait_state() {  # wait_state JOB STATE SECONDS
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(job_state "$1")" = "JOB_STATE_$2" ] && return 0
    sleep 0.5
  done
  return 1
}
# Waits until the job's rank-0 trainer of PHASE has written a periodic checkpoint.
wait_checkpoint() {  # wait_checkpoint JOB PHASE SECONDS
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    ls -d "$tmp/storage/jobs/$1/phases/$2"/step-* >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# A small job: two ranks on two workers, synthetic data; by default checkpoints every 8 steps,
# 1 s back-off, 3 attempts, and 2 epochs of phase full.
spec() {  # spec NAME TRAIN_IMAGES [EVERY_STEPS RETRY_BACKOFF MAX_PHASE_ATTEMPTS FULL_EPOCHS]
  cat <<SPEC
name: $1
seed: 5
supernet: {preset: ofa_small_28, width_multiplier: 0.25}
dataset:
  kind: DATASET_KIND_SYNTHETIC
  batch_size_per_device: 8
  synthetic: {train_images: $2, test_images: 32, image_size: 28, channels: 1, num_classes: 10}
resources: {workers: 2, devices_per_worker: 1}
checkpoint: {every_steps: ${3:-8}, retry_backoff: ${4:-1s}, max_phase_attempts: ${5:-3}}
schedule:
  overrides:
    - {phase: full, epochs: ${6:-2}}
    - {phase: elastic_kernel, epochs: 1}
    - {phase: elastic_depth_1, epochs: 1}
    - {phase: elastic_depth_2, epochs: 1}
    - {phase: elastic_expand_1, epochs: 1}
    - {phase: elastic_expand_2, epochs: 1}
SPEC
}
