#!/usr/bin/env bash
# A node drain as Kubernetes does it, on real processes (issue #7): SIGTERM to the ofa-worker
# that runs rank 1 of a two-rank gang. Rank 0, on another node, is not signalled: the ranks
# agree to stop at the same step, rank 0 checkpoints there, the draining worker reports its
# task PREEMPTED and deregisters, and the coordinator resumes the phase on the remaining
# workers from that checkpoint at once. The job allows no failed attempt and a 60 s back-off,
# so a drain handled as a failure would fail the job or stall it.
set -uo pipefail
coordinator_bin="$1" worker_bin="$2" trainer_bin="$3" ofactl_bin="$4"
test_name=drain
source "$(dirname "$0")/service_lib.sh"

start_coordinator 127.0.0.1:0
port=$(cat "$tmp/port") metrics_port=$(cat "$tmp/metrics_port")
for node in node-a node-b node-c; do start_worker "$node"; done

# Phase full runs 16 epochs (2048 steps per rank), tens of seconds even on a fast machine, so
# the drain lands mid-phase: with 2 epochs the trainers once finished before SIGTERM reached them.
spec drainy 2048 100000 60s 1 16 >"$tmp/drainy.yaml"
job=$(ctl submit "$tmp/drainy.yaml" --output=json | grep -o 'job-[0-9]*' | head -1)
[ -n "$job" ] || { echo "FAIL submit"; exit 1; }

# Rank 0's progress file of attempt 1 of phase full, wherever it runs.
progress0() { ls "$tmp"/storage/workers/*/tasks/"${job}_full_a1_r0"/progress.jsonl 2>/dev/null; }
deadline=$((SECONDS + 120))
until [ -n "$(progress0)" ] && grep -q '"event":"progress"' "$(progress0)"; do
  [ $SECONDS -lt $deadline ] || { echo "FAIL phase full did not start training in 120 s"; exit 1; }
  sleep 0.2
done
# Rank 1's trainer and the node whose worker runs it, retried until the deadline, and the
# trainers and their logs shown if not found: a single lookup once failed unexplained.
node=""
until [ -n "$node" ]; do
  if [ $SECONDS -ge $deadline ]; then
    echo "FAIL no rank-1 trainer of $job found; trainers: $(pgrep -af -- '--rank=')"
    tail -n 5 "$tmp"/node-*.log "$tmp"/storage/workers/*/tasks/*/trainer.log
    exit 1
  fi
  rank1=$(pgrep -f -- "--rank=1 .*--job_id=$job " | head -1)
  [ -n "$rank1" ] && node=$(tr '\0' ' ' 2>/dev/null </proc/"$rank1"/cmdline |
    grep -o 'workers/node-[abc]' | head -1 | cut -d/ -f2)
  [ -n "$node" ] || sleep 0.2
done
eval "victim=\$worker_pid_${node//-/_}"
echo "     draining $node (worker pid $victim), which runs rank 1 (pid $rank1)"

start=$(date +%s.%N)
kill -TERM "$victim"
wait "$victim"
rc=$?
drain_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ $rc -eq 0 ] && ok "the drained worker exits 0 after ${drain_s} s (grace 30 s)" ||
  fail "the drained worker exited with $rc after ${drain_s} s"
grep -q "drained and deregistered" "$tmp/$node.log" && ok "it reports its task and deregisters" ||
  fail "no deregistration in $node.log: $(tail -5 "$tmp/$node.log")"
grep -q "${job}/full/a1/r1 ended: TASK_STATE_PREEMPTED (exit code 75)" "$tmp/$node.log" &&
  ok "its trainer checkpointed and exited 75, reported PREEMPTED" ||
  fail "rank 1's end in $node.log: $(grep ended "$tmp/$node.log")"
grep -q "worker .* ($node) deregistered" "$tmp/coordinator.log" &&
  ok "the coordinator drops the worker at once (no lease wait)" || fail "coordinator log lacks the deregistration"

# Rank 0 was not signalled but stopped at the same step and wrote the checkpoint.
stopped=$(grep '"event":"stopped"' "$(progress0)" | tail -1)
step=$(jq -r .step <<<"$stopped" 2>/dev/null)
checkpoint=$(printf 'step-%010d' "${step:-0}")
if [ -n "$stopped" ] && [ -d "$tmp/storage/jobs/$job/phases/full/$checkpoint" ]; then
  ok "rank 0 (not signalled) stopped at step $step with rank 1 and wrote $checkpoint"
else
  fail "no stop checkpoint by rank 0: '$stopped'; $(ls "$tmp/storage/jobs/$job/phases/full/")"
fi

if wait_state "$job" SUCCEEDED 600; then
  ok "the job succeeds on the remaining workers"
else
  fail "job after the drain: $(ctl get "$job" 2>&1)"
fi
resumed=$(cat "$tmp"/storage/workers/*/tasks/"${job}_full_a2_r0"/progress.jsonl 2>/dev/null |
  grep '"event":"phase_resumed"' | jq -r .checkpoint 2>/dev/null)
[ "$resumed" = "$checkpoint" ] && ok "attempt 2 resumed from the drain's checkpoint $checkpoint" ||
  fail "attempt 2 resumed from '$resumed', not $checkpoint"
ls -d "$tmp/storage/workers/$node/tasks/${job}_full_a2"* >/dev/null 2>&1 &&
  fail "attempt 2 was placed on the drained node" || ok "nothing new was placed on the drained node"
full=$(ctl get "$job" --output=json | jq -c '.phases[] | select(.spec.name == "full")')
[ "$(jq -r '.preemptions // 0' <<<"$full")" = 1 ] && [ "$(jq -r '.failedAttempts // 0' <<<"$full")" = 0 ] &&
  [ "$(jq -r .attempt <<<"$full")" = 2 ] &&
  ok "phase full: 2 attempts, 1 preemption, 0 failed attempts" || fail "phase full: $full"
grep -q "preempted 1x" <<<"$(ctl get "$job")" && ok "ofactl get shows the preemption" ||
  fail "ofactl get: $(ctl get "$job")"
metrics=$(curl -sf "http://127.0.0.1:$metrics_port/metrics")
grep -q '^ofa_workers_deregistered_total 1$' <<<"$metrics" &&
  grep -q '^ofa_phase_attempts_preempted_total 1$' <<<"$metrics" &&
  grep -q '^ofa_workers_lost_total 0$' <<<"$metrics" &&
  grep -q '^ofa_phase_attempts_failed_total 0$' <<<"$metrics" &&
  ok "metrics: 1 worker deregistered, 1 attempt preempted, none lost or failed" ||
  fail "metrics: $(grep -E '^ofa_(workers_(deregistered|lost)|phase_attempts)' <<<"$metrics")"

echo "logs: $tmp"
[ $failures -eq 0 ] || { tail -n 20 "$tmp/coordinator.log" "$tmp"/node-*.log; exit 1; }
