#!/usr/bin/env bash
# The service end to end, as real processes on loopback: ofa-coordinator (SQLite state, token
# auth), two ofa-worker agents with one CPU slot each, trainers started by the workers, jobs
# submitted and followed with ofactl. Covers: a whole job across two workers; kill -9 of one
# trainer mid-phase (recovery time measured; final weights equal the undisturbed run's);
# kill -9 of the coordinator mid-job; a worker that goes silent; cancellation; auth.
set -uo pipefail
coordinator_bin="$1" worker_bin="$2" trainer_bin="$3" ofactl_bin="$4"
test_name=service
source "$(dirname "$0")/service_lib.sh"

start_coordinator 127.0.0.1:0
port=$(cat "$tmp/port")
start_worker node-a
start_worker node-b

spec steady 2048 >"$tmp/steady.yaml"
spec crashy 2048 >"$tmp/crashy.yaml"
spec long 2048 >"$tmp/long.yaml"

# --- 1. A whole job across the two workers, watched live.
out=$(ctl submit "$tmp/steady.yaml" --watch 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q "job-000001 .*succeeded" <<<"$out" &&
   grep -q "phase elastic_expand_2: attempt 1 done" <<<"$out" &&
   [ -f "$tmp/storage/jobs/job-000001/export/smallest/weights.pt" ]; then
  ok "a job runs every phase on two workers and exports its sub-networks"
else
  fail "steady job (rc $rc):"; echo "$out" | tail -30 | sed 's/^/    /'
fi

# --- 2. kill -9 one trainer mid-phase: the other rank stops promptly, the phase resumes from
# its checkpoint, the job ends with the undisturbed run's exact weights.
crashy=$(ctl submit "$tmp/crashy.yaml" --output=json | grep -o 'job-[0-9]*' | head -1)
if wait_checkpoint "$crashy" full 120; then
  victim=$(pgrep -f -- "--rank=1 .*--job_id=$crashy " | head -1)
  kill_time=$(date +%s.%N)
  kill -9 "$victim"
  # Recovery: from the kill to every rank of the phase training again (attempt 2 progress).
  recovered=""
  deadline=$((SECONDS + 90))
  while [ $SECONDS -lt $deadline ]; do
    r0=$(ls "$tmp"/storage/workers/*/tasks/"${crashy}_full_a2_r0"/progress.jsonl 2>/dev/null)
    r1=$(ls "$tmp"/storage/workers/*/tasks/"${crashy}_full_a2_r1"/progress.jsonl.rank1 2>/dev/null)
    if [ -n "$r0" ] && [ -n "$r1" ] && grep -q '"event":"progress"' $r0 $r1 2>/dev/null &&
       [ "$(grep -l '"event":"progress"' $r0 $r1 | wc -l)" -eq 2 ]; then
      recovered=$(date +%s.%N)
      break
    fi
    sleep 0.1
  done
  if [ -n "$recovered" ]; then
    recovery=$(awk -v a="$kill_time" -v b="$recovered" 'BEGIN { printf "%.1f", b - a }')
    echo "     recovery time (kill -9 of rank 1 -> both ranks training again): ${recovery} s"
    awk -v r="$recovery" 'BEGIN { exit !(r < 60) }' && ok "recovery in ${recovery} s (< 60 s)" ||
      fail "recovery took ${recovery} s"
  else
    fail "the phase did not resume within 90 s of the kill"
  fi
  if wait_state "$crashy" SUCCEEDED 300; then
    a=$(sha256sum <"$tmp/storage/jobs/job-000001/phases/elastic_expand_2/final/model.pt")
    b=$(sha256sum <"$tmp/storage/jobs/$crashy/phases/elastic_expand_2/final/model.pt")
    [ "$a" = "$b" ] && ok "after the crash the job ends with exactly the undisturbed weights" ||
      fail "final weights differ from the undisturbed run"
    grep -q "full .*done .* 2 " <<<"$(ctl get "$crashy")" && ok "the crashed phase took 2 attempts" ||
      fail "expected 2 attempts of phase full: $(ctl get "$crashy")"
  else
    fail "crashed job did not succeed: $(ctl get "$crashy")"
  fi
else
  fail "no checkpoint of $crashy within 120 s"
fi

# --- 3. kill -9 the coordinator mid-job, start it again: the running trainers carry on (the
# workers and the attempt are in SQLite), and the job completes.
long=$(ctl submit "$tmp/long.yaml" --output=json | grep -o 'job-[0-9]*' | head -1)
if wait_checkpoint "$long" full 120; then
  reregistered() { cat "$tmp"/node-*.log | grep -c "registering again"; }
  before=$(reregistered)
  kill -9 "$coordinator_pid"
  sleep 1
  rm -f "$tmp/port"
  start_coordinator "127.0.0.1:$port"
  sleep 5  # Past a few heartbeats: a forgotten worker would have been told to re-register.
  # Trainers that finish their phase meanwhile may exit; none may be stopped and restarted.
  if [ "$(reregistered)" = "$before" ] &&
     ! ls -d "$tmp"/storage/workers/*/tasks/"${long}_full_a2"* >/dev/null 2>&1; then
    ok "the workers and their trainers carry on through the coordinator restart"
  else
    fail "after the restart workers registered again or phase full started a second attempt"
  fi
  if wait_state "$long" SUCCEEDED 400; then
    ok "the job survives kill -9 of the coordinator"
    grep -q "full .*done .* 1 " <<<"$(ctl get "$long")" &&
      ok "the interrupted phase needed no new attempt" ||
      fail "expected 1 attempt of phase full: $(ctl get "$long")"
  else
    fail "job after coordinator restart: $(ctl get "$long" 2>&1)"
  fi
else
  fail "no checkpoint of $long within 120 s"
fi

# --- 4. Cancel mid-phase: trainers gone within seconds, slots free for the next job.
cancelled=$(ctl submit "$tmp/long.yaml" --output=json | grep -o 'job-[0-9]*' | head -1)
if wait_checkpoint "$cancelled" full 120; then
  ctl cancel "$cancelled" --reason="test" >/dev/null
  gone=""
  for _ in $(seq 50); do
    pgrep -f -- "--job_id=$cancelled " >/dev/null || { gone=1; break; }
    sleep 0.2
  done
  [ -n "$gone" ] && ok "cancel stops the trainers within 10 s" || fail "trainers still running after cancel"
  [ "$(job_state "$cancelled")" = "JOB_STATE_CANCELLED" ] && ok "cancelled job is CANCELLED" ||
    fail "state after cancel: $(job_state "$cancelled")"
else
  fail "no checkpoint of $cancelled within 120 s"
fi

# --- 5. A worker goes silent (frozen with its trainer): declared lost, its task rescheduled.
sed -e 's/workers: 2/workers: 1/' -e 's/name: long/name: lonely/' "$tmp/long.yaml" >"$tmp/lonely.yaml"
lonely=$(ctl submit "$tmp/lonely.yaml" --output=json | grep -o 'job-[0-9]*' | head -1)
if wait_checkpoint "$lonely" full 120; then
  trainer_pid=$(pgrep -f -- "--job_id=$lonely " | head -1)
  host=$(tr '\0' ' ' </proc/"$trainer_pid"/cmdline | grep -o 'workers/node-[ab]' | head -1 | cut -d/ -f2)
  eval "frozen=\$worker_pid_${host//-/_}"
  kill -STOP "$frozen" "$trainer_pid"
  if wait_state "$lonely" SUCCEEDED 300; then
    ok "a silent worker's task is rescheduled and the job completes"
    grep -q "was lost" <<<"$(ctl watch "$lonely" --output=json)" &&
      ok "the event log says the worker was lost" || fail "no 'was lost' event for $lonely"
  else
    fail "job with a silent worker: $(ctl get "$lonely" 2>&1)"
  fi
  kill -9 "$trainer_pid" "$frozen" 2>/dev/null
else
  fail "no checkpoint of $lonely within 120 s"
fi

# --- 6. Auth: wrong token, wrong role, another tenant's job.
expect_refused() {  # expect_refused NAME PATTERN -- COMMAND...
  local name="$1" pattern="$2"; shift 3
  local out; out=$("$@" 2>&1)
  if [ $? -eq 2 ] && grep -q "$pattern" <<<"$out"; then ok "$name"; else fail "$name: $out"; fi
}
expect_refused "unknown token" "UNAUTHENTICATED" -- env TOKEN=nope-nope-nope-nope bash -c "$(declare -f ctl); port=$port ofactl_bin=$ofactl_bin; ctl list"
expect_refused "worker token on a user method" "PERMISSION_DENIED" -- env TOKEN=worker-token-0123456789 bash -c "$(declare -f ctl); port=$port ofactl_bin=$ofactl_bin; ctl list"
expect_refused "another tenant's job is invisible" "NOT_FOUND" -- env TOKEN=bobby-token-0123456789 bash -c "$(declare -f ctl); port=$port ofactl_bin=$ofactl_bin; ctl get job-000001"
expect_refused "another tenant cannot cancel" "NOT_FOUND" -- env TOKEN=bobby-token-0123456789 bash -c "$(declare -f ctl); port=$port ofactl_bin=$ofactl_bin; ctl cancel job-000001"
grep -q "owner alice" <<<"$(TOKEN=admin-token-0123456789 ctl get job-000001)" && ok "an admin sees every job" ||
  fail "admin get"

echo "logs: $tmp"
[ $failures -eq 0 ] || { tail -n 20 "$tmp/coordinator.log" "$tmp"/node-*.log; exit 1; }
