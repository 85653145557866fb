#!/usr/bin/env bash
# The main job, end to end, through the service on this machine: an ofa-coordinator and two
# ofa-worker agents (one CPU slot each) on loopback, the Fashion-MNIST job (Debian's
# dataset-fashion-mnist, small OFA supernet) submitted with ofactl and watched live, then the
# job's phases, its carbon report and the sub-network chosen for each deployment target.
#
# State, checkpoints and logs go under ofa-demo/ (override with OFA_DEMO_DIR). Running the
# script again starts a fresh service on the same state: a job interrupted by Ctrl-C resumes
# from its checkpoints. Extra arguments go to `ofactl submit` (e.g. --dry_run).
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/local/setup.sh
bazel build --color=no --curses=no //coordinator:ofa-coordinator //worker:ofa-worker \
  //trainer:ofa-trainer //ofactl
bin=bazel-bin
demo="${OFA_DEMO_DIR:-ofa-demo}"
mkdir -p "$demo"
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT

rm -f "$demo/port" "$demo/metrics_port"
"$bin/coordinator/ofa-coordinator" --listen=127.0.0.1:0 --port_file="$demo/port" \
  --state_dir="$demo/state" --heartbeat_interval_s=1 --lease_s=10 \
  --metrics_listen=127.0.0.1:0 --metrics_port_file="$demo/metrics_port" >"$demo/coordinator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$demo/port" ] && break; sleep 0.1; done
[ -s "$demo/port" ] || { cat "$demo/coordinator.log"; exit 1; }
address="127.0.0.1:$(cat "$demo/port")"
echo "coordinator on $address (log $demo/coordinator.log);" \
  "Prometheus metrics at http://127.0.0.1:$(cat "$demo/metrics_port")/metrics"
for node in node-a node-b; do
  "$bin/worker/ofa-worker" --coordinator="$address" --hostname="$node" --gpus=none --cpu_slots=1 \
    --threads_per_slot=1 --trainer="$bin/trainer/ofa-trainer" --storage_root="$demo/storage" \
    >"$demo/$node.log" 2>&1 &
  pids+=($!)
  echo "worker $node: 1 CPU slot (log $demo/$node.log)"
done

ctl() { "$bin/ofactl/ofactl" --coordinator="$address" "$@"; }
# An unfinished demo job from an earlier run is watched again rather than submitted twice.
newest() { ctl list "$@" --output=json | { grep -o '"id":"job-[0-9]*"' || true; } | head -1 | cut -d'"' -f4; }
job=$(newest --state=running)
[ -n "$job" ] || job=$(newest --state=queued)
if [ -n "$job" ]; then
  echo "resuming $job"
  ctl watch "$job" || true
else
  ctl submit deploy/local/fashion_mnist_job.json --watch "$@" || true
  job=$(newest)
fi
echo
ctl report "$job"
echo
echo "sub-networks chosen per deployment target (paths under $demo/storage):"
ctl subnets "$job" || true
