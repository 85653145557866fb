#include "coordinator/scheduler.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "coordinator/carbon_report.h"

namespace ofa::coordinator {
namespace {

using ofa::v1::Job;
using ofa::v1::JobEvent;
using ofa::v1::PhaseStatus;

bool IsTerminal(ofa::v1::TaskState state) {
  return state == ofa::v1::TASK_STATE_SUCCEEDED || state == ofa::v1::TASK_STATE_FAILED ||
         state == ofa::v1::TASK_STATE_KILLED || state == ofa::v1::TASK_STATE_PREEMPTED;
}

void AddStateEvent(std::vector<JobEvent>& events, ofa::v1::JobState state,
                   const std::string& reason) {
  JobEvent& e = events.emplace_back();
  e.mutable_state_changed()->set_state(state);
  e.mutable_state_changed()->set_reason(reason);
}

// Ends the job successfully if no phase is left.
void FinishIfNoPhaseLeft(Job& job, std::vector<JobEvent>& events, absl::Time now) {
  for (const PhaseStatus& phase : job.phases()) {
    if (phase.state() != ofa::v1::PHASE_STATE_DONE) return;
  }
  job.set_state(ofa::v1::JOB_STATE_SUCCEEDED);
  job.clear_current_phase();
  SetTimestamp(job.mutable_end_time(), now);
  AddStateEvent(events, job.state(), "all phases done");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Recover(JobStore* store,
                                                              RendezvousTable* rendezvous,
                                                              const Options& options,
                                                              absl::Time now) {
  std::unique_ptr<Scheduler> scheduler(new Scheduler(store, rendezvous, options));
  scheduler->intensity_ = options.intensity;
  if (scheduler->intensity_ == nullptr) {
    scheduler->default_intensity_ = std::make_unique<CarbonIntensity>(CarbonIntensity::Options{});
    scheduler->intensity_ = scheduler->default_intensity_.get();
  }
  absl::StatusOr<std::unique_ptr<EnergyLedger>> ledger =
      EnergyLedger::Open(store->db(), scheduler->intensity_);
  if (!ledger.ok()) return ledger.status();
  scheduler->ledger_ = *std::move(ledger);
  absl::StatusOr<std::unique_ptr<PlacementStore>> placement = PlacementStore::Open(store->db());
  if (!placement.ok()) return placement.status();
  scheduler->placement_ = *std::move(placement);
  absl::StatusOr<std::unique_ptr<SubnetStore>> subnets = SubnetStore::Open(store->db());
  if (!subnets.ok()) return subnets.status();
  scheduler->subnets_ = *std::move(subnets);
  absl::StatusOr<std::vector<std::tuple<std::string, std::string, int>>> carrying_on =
      scheduler->RestorePlacement(now);
  if (!carrying_on.ok()) return carrying_on.status();
  // Other attempts that ran when the coordinator stopped are over; their energy is waste.
  if (absl::Status s = scheduler->ledger_->MarkRunningInterrupted(*carrying_on); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<Job>> running =
      store->List({.states = {ofa::v1::JOB_STATE_RUNNING}, .limit = 1 << 30});
  if (!running.ok()) return running.status();
  for (const Job& job : *running) {
    absl::StatusOr<Job> updated =
        store->Update(job.id(), now, [&](Job& j, std::vector<JobEvent>& events) -> absl::Status {
          auto carrying = scheduler->attempts_.find(j.id());
          for (int index = 0; index < j.phases_size(); ++index) {
            PhaseStatus& phase = *j.mutable_phases(index);
            if (phase.state() != ofa::v1::PHASE_STATE_RUNNING) continue;
            if (carrying != scheduler->attempts_.end() && carrying->second.phase_index == index) {
              continue;  // Its trainers carry on.
            }
            phase.set_state(ofa::v1::PHASE_STATE_PENDING);
            phase.set_error(
                "interrupted by a coordinator restart; resumes from its newest checkpoint");
            JobEvent& e = events.emplace_back();
            e.mutable_phase_finished()->set_phase(phase.spec().name());
            e.mutable_phase_finished()->set_attempt(phase.attempt());
            e.mutable_phase_finished()->set_state(ofa::v1::PHASE_STATE_PENDING);
            e.mutable_phase_finished()->set_error(phase.error());
          }
          return absl::OkStatus();
        });
    if (!updated.ok()) return updated.status();
  }
  scheduler->placement_paused_until_ = now + options.lease;
  return scheduler;
}

absl::StatusOr<std::vector<std::tuple<std::string, std::string, int>>> Scheduler::RestorePlacement(
    absl::Time now) {
  absl::StatusOr<std::vector<PlacementStore::WorkerRecord>> workers = placement_->Workers();
  if (!workers.ok()) return workers.status();
  // Two leases: a worker has to notice the coordinator is back and reconnect first.
  for (const PlacementStore::WorkerRecord& w : *workers) {
    fleet_.Restore(w.id, w.info, w.draining, now + 2 * options_.lease);
  }
  absl::StatusOr<std::vector<PlacementStore::AttemptRecord>> attempts = placement_->Attempts();
  if (!attempts.ok()) return attempts.status();
  std::vector<std::tuple<std::string, std::string, int>> carrying_on;
  std::vector<std::string> orphaned;
  for (const PlacementStore::AttemptRecord& a : *attempts) {
    absl::StatusOr<Job> job = store_->Get(a.job_id);
    const bool current = job.ok() && job->state() == ofa::v1::JOB_STATE_RUNNING &&
                         a.phase_index < job->phases_size() &&
                         job->phases(a.phase_index).state() == ofa::v1::PHASE_STATE_RUNNING &&
                         job->phases(a.phase_index).attempt() == a.number && !a.tasks.empty();
    if (!current) {
      // Cancelled or concluded just before the stop: the workers are told to stop its tasks
      // when they list them.
      if (absl::Status s = placement_->DeleteAttempt(a.job_id); !s.ok()) return s;
      continue;
    }
    Attempt& attempt = attempts_[a.job_id];
    attempt.job_id = a.job_id;
    attempt.phase_index = a.phase_index;
    attempt.number = a.number;
    attempt.failure = a.failure;
    for (const PlacementStore::TaskRecord& t : a.tasks) {
      Task& task = tasks_[t.id];
      task.assignment = t.assignment;
      task.slot = {t.worker_id, t.device};
      task.state = t.state;
      task.acknowledged = t.acknowledged;
      task.cancel = t.cancel;
      task.start = t.start;
      task.result = t.result;
      attempt.task_ids.push_back(t.id);
      if (!IsTerminal(task.state) && !fleet_.Hold(task.slot, t.id)) orphaned.push_back(t.id);
    }
    carrying_on.emplace_back(a.job_id, job->phases(a.phase_index).spec().name(), a.number);
  }
  for (const std::string& id : orphaned) {
    EndTask(id, ofa::v1::TASK_STATE_FAILED,
            "its worker was not registered when the coordinator restarted", now);
  }
  return carrying_on;
}

void Scheduler::SaveAttempt(const std::string& job_id) {
  auto it = attempts_.find(job_id);
  if (it == attempts_.end()) return;
  PlacementStore::AttemptRecord record;
  record.job_id = job_id;
  record.phase_index = it->second.phase_index;
  record.number = it->second.number;
  record.failure = it->second.failure;
  for (const std::string& id : it->second.task_ids) {
    const Task& t = tasks_[id];
    record.tasks.push_back({id, t.slot.worker_id, t.slot.device_index, t.state, t.acknowledged,
                            t.cancel, t.start, t.assignment, t.result});
  }
  if (absl::Status s = placement_->SaveAttempt(record); !s.ok()) {
    absl::FPrintF(stderr, "ofa-coordinator: saving attempt of %s: %s\n", job_id, s.message());
  }
}

void Scheduler::SaveWorker(const std::string& worker_id) {
  const Fleet::Worker* worker = fleet_.Find(worker_id);
  if (worker == nullptr) return;
  if (absl::Status s = placement_->SaveWorker({worker->id, worker->info, worker->draining});
      !s.ok()) {
    absl::FPrintF(stderr, "ofa-coordinator: saving worker %s: %s\n", worker_id, s.message());
  }
}

absl::StatusOr<Job> Scheduler::Update(const std::string& job_id, absl::Time now,
                                      const JobStore::Mutation& mutate) {
  absl::StatusOr<Job> job = store_->Update(job_id, now, mutate);
  if (job.ok()) {
    ++version_;
    changed_.notify_all();
  }
  return job;
}

absl::StatusOr<Job> Scheduler::Submit(const ofa::v1::JobSpec& spec,
                                      const std::vector<ofa::v1::PhaseSpec>& phases,
                                      const std::string& owner, const std::string& request_id,
                                      absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Job> job = store_->Create(spec, phases, owner, now, request_id);
  if (job.ok()) {
    ++version_;
    changed_.notify_all();
  }
  return job;
}

absl::StatusOr<Job> Scheduler::GetJob(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return store_->Get(job_id);
}

absl::StatusOr<std::vector<Job>> Scheduler::ListJobs(const JobStore::ListFilter& filter) {
  std::lock_guard<std::mutex> lock(mu_);
  return store_->List(filter);
}

absl::StatusOr<std::vector<JobEvent>> Scheduler::EventsAfter(const std::string& job_id,
                                                             int64_t after) {
  std::lock_guard<std::mutex> lock(mu_);
  return store_->EventsAfter(job_id, after);
}

int64_t Scheduler::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

void Scheduler::WaitForChange(int64_t seen, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_until(lock, absl::ToChronoTime(deadline), [&] { return version_ > seen; });
}

absl::StatusOr<Job> Scheduler::Cancel(const std::string& job_id, const std::string& reason,
                                      absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Job> job =
      Update(job_id, now, [&](Job& j, std::vector<JobEvent>& events) -> absl::Status {
        if (IsTerminal(j.state())) return absl::OkStatus();
        j.set_state(ofa::v1::JOB_STATE_CANCELLED);
        j.set_error(reason.empty() ? "cancelled" : absl::StrCat("cancelled: ", reason));
        SetTimestamp(j.mutable_end_time(), now);
        AddStateEvent(events, j.state(), j.error());
        return absl::OkStatus();
      });
  if (!job.ok()) return job;
  // Its trainers are told to stop in their workers' next heartbeat replies; the slots come
  // free as each one reports that it ended.
  auto attempt = attempts_.find(job_id);
  if (attempt != attempts_.end()) {
    if (attempt->second.failure.empty()) attempt->second.failure = job->error();
    for (const std::string& id : attempt->second.task_ids) tasks_[id].cancel = true;
    SaveAttempt(job_id);
  }
  return job;
}

ofa::v1::RegisterWorkerResponse Scheduler::RegisterWorker(
    const ofa::v1::RegisterWorkerRequest& request, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> orphaned;
  ofa::v1::RegisterWorkerResponse response;
  response.set_worker_id(fleet_.Register(request, now, &orphaned));
  if (absl::Status s = placement_->DeleteWorkersOn(request.hostname()); !s.ok()) {
    absl::FPrintF(stderr, "ofa-coordinator: %s\n", s.message());
  }
  SaveWorker(response.worker_id());
  // A worker registers again after losing touch; it has stopped what it ran before.
  for (const std::string& task : orphaned) {
    EndTask(task, ofa::v1::TASK_STATE_FAILED,
            absl::StrCat("worker ", request.hostname(), " registered again (it restarted)"), now);
  }
  const absl::Duration interval = options_.heartbeat_interval;
  response.mutable_heartbeat_interval()->set_seconds(absl::ToInt64Seconds(interval));
  response.mutable_heartbeat_interval()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(interval) % 1000000000));
  response.mutable_lease()->set_seconds(absl::ToInt64Seconds(options_.lease));
  return response;
}

ofa::v1::HeartbeatResponse Scheduler::Heartbeat(const ofa::v1::HeartbeatRequest& request,
                                                absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  ofa::v1::HeartbeatResponse response;
  const Fleet::Worker* known = fleet_.Find(request.worker_id());
  const bool was_draining = known != nullptr && known->draining;
  if (!fleet_.Renew(request.worker_id(), request.draining(), now).ok()) {
    response.set_reregister(true);
    return response;
  }
  if (was_draining != request.draining()) SaveWorker(request.worker_id());
  std::set<std::string> changed_attempts;
  for (const ofa::v1::TaskStatus& status : request.tasks()) {
    auto it = tasks_.find(status.task_id());
    if (it == tasks_.end() || it->second.slot.worker_id != request.worker_id() ||
        IsTerminal(it->second.state)) {
      // Not (or no longer) this worker's: a leftover from before a restart or a failure.
      response.add_cancel_task_ids(status.task_id());
      continue;
    }
    Task& task = it->second;
    if (!task.acknowledged || (status.state() == ofa::v1::TASK_STATE_RUNNING &&
                               task.state != ofa::v1::TASK_STATE_RUNNING)) {
      changed_attempts.insert(task.assignment.scope().job_id());
    }
    task.acknowledged = true;
    if (status.state() == ofa::v1::TASK_STATE_RUNNING) task.state = status.state();
    if (status.has_usage() && now - task.usage_booked >= options_.usage_interval) {
      BookUsage(task, status.usage(), now);
      task.usage_booked = now;
    }
    auto attempt = attempts_.find(task.assignment.scope().job_id());
    if (task.assignment.rank() == 0 && attempt != attempts_.end()) {
      NoteProgress(attempt->second, status, now);
    }
  }
  for (const std::string& job_id : changed_attempts) SaveAttempt(job_id);
  energy_by_worker_[request.worker_id()].assign(request.energy().begin(), request.energy().end());
  // What the worker should run or stop. Assignments are repeated until the worker lists
  // them, so a lost reply loses nothing.
  const Fleet::Worker* worker = fleet_.Find(request.worker_id());
  for (const auto& [device, task_id] : worker->slot_task) {
    if (task_id.empty()) continue;
    const Task& task = tasks_[task_id];
    if (task.cancel) {
      response.add_cancel_task_ids(task_id);
    } else if (!task.acknowledged) {
      *response.add_assignments() = task.assignment;
    }
  }
  return response;
}

void Scheduler::NoteProgress(Attempt& attempt, const ofa::v1::TaskStatus& status, absl::Time now) {
  const bool new_checkpoint = !status.latest_checkpoint_id().empty() &&
                              status.latest_checkpoint_id() != attempt.last_checkpoint;
  // Progress is written when it moved, at most every progress_interval; checkpoints always.
  const bool moved =
      status.has_progress() && status.progress().step() != attempt.last_progress_step;
  if (!new_checkpoint &&
      (!moved || now - attempt.last_progress_write < options_.progress_interval)) {
    return;
  }
  attempt.last_progress_write = now;
  attempt.last_checkpoint = status.latest_checkpoint_id();
  if (moved) attempt.last_progress_step = status.progress().step();
  const int index = attempt.phase_index;
  const int number = attempt.number;
  // A failed write only delays the progress shown; the next heartbeat tries again.
  (void)Update(attempt.job_id, now, [&](Job& job, std::vector<JobEvent>& events) {
    PhaseStatus& phase = *job.mutable_phases(index);
    if (moved) {
      *phase.mutable_progress() = status.progress();
      JobEvent& e = events.emplace_back();
      e.mutable_progress()->set_phase(phase.spec().name());
      *e.mutable_progress()->mutable_progress() = status.progress();
    }
    if (new_checkpoint) {
      ofa::v1::CheckpointInfo* c =
          events.emplace_back().mutable_checkpoint_saved()->mutable_checkpoint();
      c->set_id(status.latest_checkpoint_id());
      c->set_phase(phase.spec().name());
      c->set_attempt(number);
      // Periodic checkpoints are named after their step ("step-0000000152").
      int64_t step = 0;
      if (absl::SimpleAtoi(absl::StripPrefix(c->id(), "step-"), &step)) c->set_step(step);
      SetTimestamp(c->mutable_create_time(), now);
    }
    return absl::OkStatus();
  });
}

absl::Status Scheduler::ReportTaskResult(const ofa::v1::ReportTaskResultRequest& request,
                                         absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tasks_.find(request.task_id());
  // Unknown: its attempt already ended (e.g. the worker was declared lost); nothing to do.
  if (it == tasks_.end()) return absl::OkStatus();
  if (it->second.slot.worker_id != request.worker_id()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "task_id: task ", request.task_id(), " was not assigned to worker ", request.worker_id()));
  }
  if (!IsTerminal(request.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("state: a task result must be SUCCEEDED, FAILED, KILLED or PREEMPTED, not ",
                     ofa::v1::TaskState_Name(request.state())));
  }
  it->second.result = request;
  if (request.has_usage()) BookUsage(it->second, request.usage(), now);
  std::string why;
  if (request.state() != ofa::v1::TASK_STATE_SUCCEEDED) {
    const char* ended = request.state() == ofa::v1::TASK_STATE_KILLED      ? "was stopped"
                        : request.state() == ofa::v1::TASK_STATE_PREEMPTED ? "was preempted"
                                                                           : "failed";
    why = absl::StrFormat("rank %d on %s %s (exit code %d)%s%s", it->second.assignment.rank(),
                          request.worker_id(), ended, request.exit_code(),
                          request.error().empty() ? "" : ": ", request.error());
  }
  EndTask(request.task_id(), request.state(), why, now);
  return absl::OkStatus();
}

absl::Status Scheduler::DeregisterWorker(const std::string& worker_id, const std::string& reason,
                                         absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  const Fleet::Worker* worker = fleet_.Find(worker_id);
  if (worker == nullptr) {
    return absl::NotFoundError(absl::StrCat("worker_id: no worker ", worker_id,
                                            " (already gone, or lost after its lease ran out)"));
  }
  const std::string host = worker->info.hostname();
  std::optional<std::vector<std::string>> held = fleet_.Remove(worker_id);
  ++workers_deregistered_;
  absl::FPrintF(stderr, "ofa-coordinator: worker %s (%s) deregistered: %s; %d task(s) left\n",
                worker_id, host, reason.empty() ? "no reason given" : reason, held->size());
  // Normally none: a draining worker reports its tasks first.
  ForgetWorker(worker_id, *held, ofa::v1::TASK_STATE_PREEMPTED,
               absl::StrCat("worker ", host, " left without reporting it (", reason, ")"), now);
  return absl::OkStatus();
}

void Scheduler::ForgetWorker(const std::string& worker_id, const std::vector<std::string>& tasks,
                             ofa::v1::TaskState state, const std::string& why, absl::Time now) {
  energy_by_worker_.erase(worker_id);
  if (absl::Status s = placement_->DeleteWorker(worker_id); !s.ok()) {
    absl::FPrintF(stderr, "ofa-coordinator: %s\n", s.message());
  }
  for (const std::string& task : tasks) EndTask(task, state, why, now);
}

void Scheduler::BookUsage(const Task& task, const ofa::v1::TaskUsage& usage, absl::Time now) {
  const Fleet::Worker* worker = fleet_.Find(task.slot.worker_id);
  const ofa::v1::TaskAssignment& a = task.assignment;
  const LedgerKey key{a.scope().job_id(), a.scope().phase(), a.scope().attempt(),
                      worker != nullptr ? worker->info.hostname() : task.slot.worker_id,
                      task.slot.device_index};
  // A failed write loses nothing: usage is cumulative, the next report books it.
  absl::Status s = ledger_->Record(key, usage, a.job_spec().carbon(), now);
  if (!s.ok()) absl::FPrintF(stderr, "ofa-coordinator: ledger: %s\n", s.message());
}

absl::StatusOr<std::vector<ofa::v1::Subnet>> Scheduler::SubnetsOf(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return subnets_->List(job_id);
}

absl::StatusOr<std::map<std::string, EnergyLedger::PhaseTotals>> Scheduler::CarbonOf(
    const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return ledger_->PhasesOf(job_id);
}

void Scheduler::EndTask(const std::string& task_id, ofa::v1::TaskState state,
                        const std::string& why, absl::Time now) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end() || IsTerminal(it->second.state)) return;
  Task& task = it->second;
  task.state = state;
  task.end = now;
  fleet_.Release(task.slot, task_id);
  const std::string job_id = task.assignment.scope().job_id();
  Attempt& attempt = attempts_[job_id];
  if (state != ofa::v1::TASK_STATE_SUCCEEDED && attempt.failure.empty()) {
    // The first failure is the cause; the other ranks are stopped rather than left to
    // wait out a collective timeout.
    attempt.failure = why;
    for (const std::string& other : attempt.task_ids) tasks_[other].cancel = true;
  }
  for (const std::string& id : attempt.task_ids) {
    if (!IsTerminal(tasks_[id].state)) {
      SaveAttempt(job_id);
      return;
    }
  }
  ConcludeAttempt(job_id, now);
}

void Scheduler::ConcludeAttempt(const std::string& job_id, absl::Time now) {
  Attempt attempt = attempts_[job_id];
  ofa::v1::ReportTaskResultRequest leader;
  std::string phase_name;
  for (const std::string& id : attempt.task_ids) {
    const Task& task = tasks_[id];
    if (task.assignment.rank() == 0) leader = task.result;
    phase_name = task.assignment.scope().phase();
  }
  absl::StatusOr<Job> before = store_->Get(job_id);
  if (!before.ok()) return SaveAttempt(job_id);
  const bool specialize =
      before->phases(attempt.phase_index).spec().kind() == ofa::v1::PHASE_KIND_SPECIALIZE;
  if (specialize && attempt.failure.empty()) {
    // The sub-networks are what the phase is for: keep them, or retry it.
    if (leader.subnets_size() != before->spec().targets_size()) {
      attempt.failure = absl::StrFormat(
          "the specialise phase ended without its sub-networks (%d reported for %d targets)",
          leader.subnets_size(), before->spec().targets_size());
    } else {
      std::vector<ofa::v1::Subnet> subnets(leader.subnets().begin(), leader.subnets().end());
      const std::string root = tasks_[attempt.task_ids[0]].assignment.checkpoint_dir();
      for (ofa::v1::Subnet& subnet : subnets) {
        subnet.set_job_id(job_id);
        // Relative to the job's directory as the trainer wrote them; the API gives them
        // relative to the storage root.
        for (std::string* path : {subnet.mutable_weights_path(), subnet.mutable_arch_json_path(),
                                  subnet.mutable_onnx_path()}) {
          if (!path->empty()) *path = absl::StrCat(root, "/", *path);
        }
        SetTimestamp(subnet.mutable_create_time(), now);
      }
      if (absl::Status s = subnets_->Put(job_id, subnets); !s.ok()) {
        absl::FPrintF(stderr, "ofa-coordinator: %s\n", s.message());
        return SaveAttempt(job_id);
      }
    }
  }
  // Preempted: a rank was stopped by a node drain (after a checkpoint) and none failed.
  bool preempted = false, failed = false;
  for (const std::string& id : attempt.task_ids) {
    preempted = preempted || tasks_[id].state == ofa::v1::TASK_STATE_PREEMPTED;
    failed = failed || tasks_[id].state == ofa::v1::TASK_STATE_FAILED;
  }
  preempted = preempted && !failed && !attempt.failure.empty();
  const AttemptOutcome outcome = attempt.failure.empty()       ? AttemptOutcome::kSucceeded
                                 : IsTerminal(before->state()) ? AttemptOutcome::kCancelled
                                 : preempted                   ? AttemptOutcome::kPreempted
                                                               : AttemptOutcome::kFailed;
  if (!ledger_->SetOutcome(job_id, phase_name, attempt.number, outcome).ok()) {
    return SaveAttempt(job_id);
  }
  absl::StatusOr<std::map<std::string, EnergyLedger::PhaseTotals>> carbon =
      ledger_->PhasesOf(job_id);
  if (!carbon.ok()) return SaveAttempt(job_id);
  absl::Status written =
      Update(job_id, now, [&](Job& job, std::vector<JobEvent>& events) -> absl::Status {
        PhaseStatus& phase = *job.mutable_phases(attempt.phase_index);
        *phase.mutable_carbon() = (*carbon)[phase.spec().name()].totals;
        *job.mutable_carbon() = EnergyLedger::Sum(*carbon);
        events.emplace_back().mutable_carbon()->mutable_job_total()->CopyFrom(job.carbon());
        JobEvent& finished = events.emplace_back();
        auto* f = finished.mutable_phase_finished();
        f->set_phase(phase.spec().name());
        f->set_attempt(attempt.number);
        SetTimestamp(phase.mutable_end_time(), now);
        if (attempt.failure.empty()) {
          phase.set_state(ofa::v1::PHASE_STATE_DONE);
          phase.clear_error();
          phase.set_largest_top1(leader.largest_top1());
          phase.set_smallest_top1(leader.smallest_top1());
          if (specialize) {
            phase.set_note(absl::StrCat(leader.subnets_size(),
                                        " sub-network(s) exported; see ListSubnets"));
          }
          if (leader.has_final_progress()) {
            *phase.mutable_progress() = leader.final_progress();
          }
          f->set_state(phase.state());
          if (!IsTerminal(job.state())) FinishIfNoPhaseLeft(job, events, now);
          return absl::OkStatus();
        }
        phase.set_error(attempt.failure);
        f->set_error(attempt.failure);
        if (IsTerminal(job.state())) {  // Cancelled while it ran.
          phase.set_state(ofa::v1::PHASE_STATE_FAILED);
          f->set_state(phase.state());
          return absl::OkStatus();
        }
        if (preempted) {
          // Resumes from the checkpoint the ranks wrote when they stopped, as soon as devices
          // are free: no back-off, and it does not count towards max_phase_attempts.
          phase.set_preemptions(phase.preemptions() + 1);
          phase.set_state(ofa::v1::PHASE_STATE_PENDING);
          phase.clear_retry_time();
          f->set_state(phase.state());
          return absl::OkStatus();
        }
        phase.set_failed_attempts(phase.failed_attempts() + 1);
        const int limit = job.spec().checkpoint().max_phase_attempts() > 0
                              ? job.spec().checkpoint().max_phase_attempts()
                              : 3;
        if (phase.failed_attempts() >= limit) {
          phase.set_state(ofa::v1::PHASE_STATE_FAILED);
          f->set_state(phase.state());
          job.set_state(ofa::v1::JOB_STATE_FAILED);
          job.clear_current_phase();
          job.set_error(absl::StrCat("phase ", phase.spec().name(), " failed ",
                                     phase.failed_attempts(), " time(s); last: ", attempt.failure));
          SetTimestamp(job.mutable_end_time(), now);
          AddStateEvent(events, job.state(), job.error());
          return absl::OkStatus();
        }
        // Retried from its newest checkpoint, after a back-off that doubles each time.
        phase.set_state(ofa::v1::PHASE_STATE_PENDING);
        f->set_state(phase.state());
        const absl::Duration first = job.spec().checkpoint().has_retry_backoff()
                                         ? DurationOf(job.spec().checkpoint().retry_backoff())
                                         : absl::Seconds(10);
        const absl::Duration backoff =
            first * std::pow(2.0, std::max(0, phase.failed_attempts() - 1));
        SetTimestamp(phase.mutable_retry_time(), now + backoff);
        return absl::OkStatus();
      }).status();
  // The job record is the truth; if it cannot be written the attempt is left to be
  // concluded again by the next result or lease expiry rather than forgotten.
  if (!written.ok()) return SaveAttempt(job_id);
  if (absl::Status s = placement_->DeleteAttempt(job_id); !s.ok()) {
    absl::FPrintF(stderr, "ofa-coordinator: %s\n", s.message());
  }
  if (outcome == AttemptOutcome::kFailed) ++attempts_failed_;
  if (outcome == AttemptOutcome::kPreempted) ++attempts_preempted_;
  for (const std::string& id : attempt.task_ids) tasks_.erase(id);
  attempts_.erase(job_id);
  if (rendezvous_ != nullptr) rendezvous_->DropJob(job_id);
}

absl::Status Scheduler::PlaceJob(const Job& job, absl::Time now) {
  int index = -1;
  for (int i = 0; i < job.phases_size(); ++i) {
    if (job.phases(i).state() != ofa::v1::PHASE_STATE_DONE) {
      index = i;
      break;
    }
  }
  if (index < 0) {
    return Update(job.id(), now,
                  [&](Job& j, std::vector<JobEvent>& events) {
                    FinishIfNoPhaseLeft(j, events, now);
                    return absl::OkStatus();
                  })
        .status();
  }
  const PhaseStatus& phase = job.phases(index);
  if (phase.has_retry_time() && TimeOf(phase.retry_time()) > now) return absl::OkStatus();
  const ofa::v1::CarbonSettings& carbon = job.spec().carbon();
  if (phase.attempt() == 0 && DurationOf(carbon.deadline_slack()) > absl::ZeroDuration()) {
    // Carbon-aware start: a phase's first attempt may wait, within what is left of the job's
    // slack, for the lowest-intensity window of the grid's time series. Decided once.
    if (!phase.has_carbon_aware_start()) {
      absl::Duration used;
      for (const PhaseStatus& p : job.phases()) used += DurationOf(p.carbon_aware_delay());
      const absl::Duration left =
          std::max(absl::ZeroDuration(), DurationOf(carbon.deadline_slack()) - used);
      const absl::Time start = intensity_->LowestIntensityStart(carbon, now, now + left);
      absl::Status decided =
          Update(job.id(), now, [&](Job& j, std::vector<JobEvent>&) {
            PhaseStatus& p = *j.mutable_phases(index);
            SetTimestamp(p.mutable_carbon_aware_start(), start);
            const absl::Duration delay = start - now;
            p.mutable_carbon_aware_delay()->set_seconds(absl::ToInt64Seconds(delay));
            if (delay > absl::ZeroDuration()) {
              p.set_note(absl::StrFormat(
                  "carbon-aware start: waits %s for %.0f g/kWh (%.0f g/kWh now)",
                  absl::FormatDuration(delay), intensity_->MeanIntensity(carbon, start, start),
                  intensity_->MeanIntensity(carbon, now, now)));
            }
            return absl::OkStatus();
          }).status();
      if (!decided.ok() || start > now) return decided;
    } else if (TimeOf(phase.carbon_aware_start()) > now) {
      return absl::OkStatus();
    }
  }

  const ofa::v1::ResourceSpec& r = job.spec().resources();
  // The specialise phase evaluates sub-networks one at a time: one device.
  const bool specialize = phase.spec().kind() == ofa::v1::PHASE_KIND_SPECIALIZE;
  const int workers = specialize ? 1 : std::max(1, r.workers());
  const int per_worker = specialize ? 1 : std::max(1, r.devices_per_worker());
  const ofa::v1::DeviceKind kind = r.device_kind() == ofa::v1::DEVICE_KIND_UNSPECIFIED
                                       ? ofa::v1::DEVICE_KIND_CPU
                                       : r.device_kind();
  const int world = workers * per_worker;
  const int number = phase.attempt() + 1;
  std::vector<std::string> task_ids;
  for (int rank = 0; rank < world; ++rank) {
    task_ids.push_back(
        absl::StrFormat("%s/%s/a%d/r%d", job.id(), phase.spec().name(), number, rank));
  }
  std::optional<std::vector<Slot>> slots = fleet_.PlaceGang(kind, workers, per_worker, task_ids);
  if (!slots.has_value()) return absl::OkStatus();  // Waits for free devices.

  absl::StatusOr<Job> started =
      Update(job.id(), now, [&](Job& j, std::vector<JobEvent>& events) -> absl::Status {
        if (j.state() == ofa::v1::JOB_STATE_QUEUED) {
          j.set_state(ofa::v1::JOB_STATE_RUNNING);
          SetTimestamp(j.mutable_start_time(), now);
          AddStateEvent(events, j.state(), absl::StrCat("placed on ", world, " device(s)"));
        }
        j.set_current_phase(phase.spec().name());
        PhaseStatus& p = *j.mutable_phases(index);
        p.set_state(ofa::v1::PHASE_STATE_RUNNING);
        p.set_attempt(number);
        p.clear_retry_time();
        if (!p.has_start_time()) SetTimestamp(p.mutable_start_time(), now);
        auto* e = events.emplace_back().mutable_phase_started();
        e->set_phase(p.spec().name());
        e->set_attempt(number);
        e->set_world_size(world);
        return absl::OkStatus();
      });
  if (!started.ok()) {
    for (size_t i = 0; i < slots->size(); ++i) fleet_.Release((*slots)[i], task_ids[i]);
    return started.status();
  }
  Attempt& attempt = attempts_[job.id()];
  attempt = Attempt{};
  attempt.job_id = job.id();
  attempt.phase_index = index;
  attempt.number = number;
  attempt.task_ids = task_ids;
  for (int rank = 0; rank < world; ++rank) {
    Task& task = tasks_[task_ids[rank]];
    task = Task{};
    task.slot = (*slots)[rank];
    task.start = now;
    ofa::v1::TaskAssignment& a = task.assignment;
    a.set_task_id(task_ids[rank]);
    a.mutable_scope()->set_job_id(job.id());
    a.mutable_scope()->set_phase(phase.spec().name());
    a.mutable_scope()->set_attempt(number);
    a.set_rank(rank);
    a.set_world_size(world);
    a.set_device_index(task.slot.device_index);
    *a.mutable_job_spec() = job.spec();
    *a.mutable_phase() = phase.spec();
    a.set_seed(job.spec().seed());
    a.set_checkpoint_dir(absl::StrCat("jobs/", job.id()));
    a.set_rendezvous_address(options_.rendezvous_address);
  }
  SaveAttempt(job.id());
  return absl::OkStatus();
}

absl::Status Scheduler::Tick(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [worker_id, task_ids] : fleet_.ExpireLeases(now)) {
    ++workers_lost_;
    ForgetWorker(worker_id, task_ids, ofa::v1::TASK_STATE_FAILED,
                 absl::StrCat("worker ", worker_id, " was lost (no heartbeat for ",
                              absl::FormatDuration(options_.lease), ")"),
                 now);
  }
  // Attempts whose conclusion could not be written yet get another go.
  std::vector<std::string> unconcluded;
  for (const auto& [job_id, attempt] : attempts_) {
    bool ended = true;
    for (const std::string& id : attempt.task_ids) ended = ended && IsTerminal(tasks_[id].state);
    if (ended) unconcluded.push_back(job_id);
  }
  for (const std::string& job_id : unconcluded) ConcludeAttempt(job_id, now);

  if (now < placement_paused_until_) return absl::OkStatus();
  absl::StatusOr<std::vector<Job>> jobs = store_->List(
      {.states = {ofa::v1::JOB_STATE_QUEUED, ofa::v1::JOB_STATE_RUNNING}, .limit = 1000});
  if (!jobs.ok()) return jobs.status();
  for (const Job& job : *jobs) {
    if (attempts_.count(job.id()) > 0) continue;
    if (absl::Status s = PlaceJob(job, now); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<Scheduler::Snapshot> Scheduler::TakeSnapshot(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  Snapshot snapshot;
  absl::StatusOr<std::vector<EnergyLedger::JobPhaseTotals>> recent =
      ledger_->RecentPhases(now - absl::Hours(24));
  if (!recent.ok()) return recent.status();
  snapshot.recent_phases = *std::move(recent);
  for (const EnergyLedger::JobPhaseTotals& p : snapshot.recent_phases) {
    if (!snapshot.recent_reports.empty() && snapshot.recent_reports.back().job_id() == p.job_id) {
      continue;  // Rows come sorted by job.
    }
    absl::StatusOr<Job> job = store_->Get(p.job_id);
    absl::StatusOr<std::map<std::string, EnergyLedger::PhaseTotals>> phases =
        ledger_->PhasesOf(p.job_id);
    if (!job.ok() || !phases.ok()) continue;
    absl::StatusOr<std::vector<ofa::v1::Subnet>> subnets = subnets_->List(job->id());
    if (!subnets.ok()) return subnets.status();
    snapshot.recent_reports.push_back(BuildCarbonReport(*job, *phases, *intensity_, *subnets));
  }
  absl::StatusOr<ofa::v1::CarbonTotals> all_time = ledger_->AllTime();
  if (!all_time.ok()) return all_time.status();
  snapshot.all_time = *all_time;
  absl::StatusOr<std::map<ofa::v1::JobState, int>> counts = store_->CountByState();
  if (!counts.ok()) return counts.status();
  snapshot.jobs_by_state = *counts;
  absl::StatusOr<std::vector<Job>> live = store_->List(
      {.states = {ofa::v1::JOB_STATE_QUEUED, ofa::v1::JOB_STATE_RUNNING}, .limit = 1000});
  if (!live.ok()) return live.status();
  for (const Job& job : *live) {
    auto attempt = attempts_.find(job.id());
    if (attempt != attempts_.end()) {
      const PhaseStatus& phase = job.phases(attempt->second.phase_index);
      snapshot.running_phases.push_back({job.id(), phase.spec().name(), phase.progress()});
      continue;
    }
    const bool backing_off =
        std::any_of(job.phases().begin(), job.phases().end(), [&](const PhaseStatus& p) {
          return p.state() != ofa::v1::PHASE_STATE_DONE && p.has_retry_time() &&
                 TimeOf(p.retry_time()) > now;
        });
    if (!backing_off) ++snapshot.queued_phases;
  }
  for (const auto& [id, task] : tasks_) {
    if (!IsTerminal(task.state)) ++snapshot.running_tasks;
  }
  std::map<std::string, std::vector<ofa::v1::DeviceEnergy>> energy;
  for (const auto& [id, worker] : fleet_.workers()) {
    Snapshot::WorkerInfo& info = snapshot.workers.emplace_back();
    info.hostname = worker.info.hostname();
    info.draining = worker.draining;
    info.devices.assign(worker.info.devices().begin(), worker.info.devices().end());
    for (const auto& [device, task] : worker.slot_task) info.busy[device] = !task.empty();
    auto e = energy_by_worker_.find(id);
    if (e != energy_by_worker_.end()) {
      info.energy = e->second;
      energy[id] = e->second;
    }
  }
  energy_by_worker_ = std::move(energy);  // Forgets workers that registered again.
  snapshot.workers_lost_total = workers_lost_;
  snapshot.workers_deregistered_total = workers_deregistered_;
  snapshot.attempts_preempted_total = attempts_preempted_;
  snapshot.attempts_failed_total = attempts_failed_;
  snapshot.intensity_by_region = intensity_->CurrentByRegion(now);
  return snapshot;
}

}  // namespace ofa::coordinator
