#include "worker/worker_agent.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "trainer/common/grpc_channel.h"
#include "trainer/common/stop_request.h"
#include "trainer/spec/job_spec_io.h"

namespace ofa::worker {
namespace {

namespace fs = std::filesystem;

// Poll trainers this often, so a crashed rank is reported (and its peers stopped) promptly.
constexpr absl::Duration kSupervisionPeriod = absl::Milliseconds(200);

void Log(const std::string& message) {
  absl::FPrintF(stderr, "ofa-worker %s: %s\n",
                absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone()), message);
}

// Log output may hold any bytes; protobuf strings must be UTF-8.
std::string Printable(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80 || (u < 0x20 && c != '\n' && c != '\t')) c = '?';
  }
  return out;
}

bool IsConfined(const std::string& relative) {
  if (relative.empty() || relative[0] == '/') return false;
  for (const auto& part : fs::path(relative)) {
    if (part == "..") return false;
  }
  return true;
}

std::string FileName(const std::string& task_id) {
  std::string name = task_id;
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return name;
}

// How a trainer's end is reported. A preemption is not the job's fault: a trainer stopped
// by this node's drain (even one killed before it could checkpoint: its phase resumes from an
// older checkpoint), or one that stopped with exit code 75 unasked, because a peer rank of
// its gang on a draining node was asked to stop.
ofa::v1::TaskState EndState(const TrainerProcess::Exit& exit, bool cancelled, bool draining) {
  if (exit.exit_code == 0) return ofa::v1::TASK_STATE_SUCCEEDED;
  if (cancelled) return ofa::v1::TASK_STATE_KILLED;
  if (draining || (exit.exit_code == kExitStoppedOnRequest && !exit.stopped)) {
    return ofa::v1::TASK_STATE_PREEMPTED;
  }
  return ofa::v1::TASK_STATE_FAILED;
}

}  // namespace

// Energy is sampled this often: fine enough for power-sample integration and per-interval
// carbon intensity, and a few file reads each time (well under 0.1% of a core).
constexpr absl::Duration kEnergyPeriod = absl::Seconds(1);

WorkerAgent::WorkerAgent(Options options) : options_(std::move(options)) {
  EnergyMeter::Options meter;
  meter.devices = options_.devices;
  meter.cores_per_cpu_slot = std::max(1, options_.threads_per_slot);
  meter.cpu_watts_per_core = options_.cpu_watts_per_core;
  meter.powercap_root = options_.powercap_root;
  meter_ = std::make_unique<EnergyMeter>(meter);
  Log("energy: " + meter_->Describe());
}

void WorkerAgent::SampleEnergy(absl::Time now) {
  std::map<int, double> cpu_seconds;
  std::vector<int> busy_gpus;
  for (auto& [id, task] : tasks_) {
    const int device = task.assignment.device_index();
    if (task.assignment.job_spec().resources().device_kind() == ofa::v1::DEVICE_KIND_CUDA) {
      busy_gpus.push_back(device);
      continue;
    }
    const double total = task.process->CpuSeconds();
    cpu_seconds[device] += total - task.cpu_seconds;
    task.cpu_seconds = total;
  }
  meter_->Sample(now, cpu_seconds, busy_gpus);
  last_energy_sample_ = now;
}

ofa::v1::TaskUsage WorkerAgent::UsageOf(const Task& task, absl::Time now) const {
  const EnergyMeter::Reading r = meter_->Get(task.assignment.device_index());
  ofa::v1::TaskUsage usage;
  usage.set_device_seconds(absl::ToDoubleSeconds(now - task.start));
  usage.set_energy_joules(r.energy_joules - task.energy_at_start.energy_joules);
  usage.set_estimated_energy_joules(r.estimated_energy_joules -
                                    task.energy_at_start.estimated_energy_joules);
  usage.set_training_flops(task.progress->training_flops());
  return usage;
}

void WorkerAgent::PrepareContext(grpc::ClientContext& context, absl::Duration deadline) const {
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  ofa::AddBearerToken(context, options_.token);
}

absl::Status WorkerAgent::Register() {
  ofa::v1::RegisterWorkerRequest request;
  request.set_hostname(options_.hostname);
  request.set_address(options_.address);
  request.set_version("ofa-worker 0.1");
  for (const ofa::v1::Device& device : options_.devices) *request.add_devices() = device;
  grpc::ClientContext context;
  PrepareContext(context, absl::Seconds(10));
  ofa::v1::RegisterWorkerResponse response;
  grpc::Status status = stub_->RegisterWorker(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("register with ", options_.coordinator, ": ", status.error_message()));
  }
  worker_id_ = response.worker_id();
  heartbeat_interval_ = absl::Seconds(response.heartbeat_interval().seconds()) +
                        absl::Nanoseconds(response.heartbeat_interval().nanos());
  if (heartbeat_interval_ <= absl::ZeroDuration()) heartbeat_interval_ = absl::Seconds(2);
  Log(absl::StrCat("registered as ", worker_id_, " with ", options_.devices.size(),
                   " device(s); heartbeat every ", absl::FormatDuration(heartbeat_interval_)));
  return absl::OkStatus();
}

void WorkerAgent::StartTask(const ofa::v1::TaskAssignment& a, absl::Time now) {
  if (tasks_.count(a.task_id()) > 0) return;  // A repeated assignment: already running.
  ofa::v1::ReportTaskResultRequest failed;
  failed.set_worker_id(worker_id_);
  failed.set_task_id(a.task_id());
  failed.set_state(ofa::v1::TASK_STATE_FAILED);
  failed.set_exit_code(-1);
  if (!IsConfined(a.checkpoint_dir())) {
    failed.set_error(absl::StrCat("checkpoint_dir \"", Printable(a.checkpoint_dir()),
                                  "\" is not a relative path inside the storage root"));
    unreported_.push_back(failed);
    return;
  }
  const fs::path dir = fs::path(options_.work_dir) / "tasks" / FileName(a.task_id());
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string spec_path = (dir / "job_spec.json").string();
  std::ofstream(spec_path) << ofa::trainer::JobSpecToJson(a.job_spec());
  const std::string progress_path = (dir / "progress.jsonl").string();
  const std::string rendezvous =
      a.rendezvous_address().empty() ? options_.coordinator : a.rendezvous_address();
  std::vector<std::string> argv = {
      options_.trainer_binary,
      "--job_spec=" + spec_path,
      "--phase=" + a.phase().name(),
      absl::StrCat("--rank=", a.rank()),
      absl::StrCat("--world_size=", a.world_size()),
      "--store=grpc:" + rendezvous,
      absl::StrCat("--attempt=", a.scope().attempt()),
      "--job_id=" + a.scope().job_id(),
      "--output_dir=" + (fs::path(options_.storage_root) / a.checkpoint_dir()).string(),
      "--data_root=" + options_.data_root,
      "--progress_file=" + progress_path,
      absl::StrCat("--threads=", options_.threads_per_slot),
      "--listen_host=" + options_.address,
      absl::StrCat("--collective_timeout_s=", options_.collective_timeout_s),
  };
  if (a.job_spec().resources().device_kind() == ofa::v1::DEVICE_KIND_CUDA) {
    argv.push_back(absl::StrCat("--device=cuda:", a.device_index()));
  }
  std::vector<std::string> env;
  if (!options_.token.empty()) env.push_back("OFA_TOKEN=" + options_.token);
  if (!options_.tls_ca_file.empty()) env.push_back("OFA_TLS_CA=" + options_.tls_ca_file);
  absl::StatusOr<std::unique_ptr<TrainerProcess>> process =
      TrainerProcess::Start(argv, env, (dir / "trainer.log").string());
  if (!process.ok()) {
    failed.set_error(Printable(std::string(process.status().message())));
    unreported_.push_back(failed);
    return;
  }
  SampleEnergy(now);  // So the task's energy starts from the present reading.
  Task& task = tasks_[a.task_id()];
  task.assignment = a;
  task.process = *std::move(process);
  task.start = now;
  task.energy_at_start = meter_->Get(a.device_index());
  // Ranks other than 0 write their progress to <file>.rank<N>.
  task.progress = std::make_unique<ProgressFollower>(
      a.rank() == 0 ? progress_path : absl::StrCat(progress_path, ".rank", a.rank()));
  task.progress->Update(now);
  Log(absl::StrFormat("started %s (rank %d of %d, pid %d)", a.task_id(), a.rank(), a.world_size(),
                      task.process->pid()));
}

void WorkerAgent::Supervise(absl::Time now) {
  bool sampled = false;
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    Task& task = it->second;
    task.progress->Update(now);
    std::optional<TrainerProcess::Exit> exit = task.process->Poll(now);
    if (!exit.has_value()) {
      if (!task.cancelled && !draining_ &&
          now - task.progress->last_activity() > options_.silence_limit) {
        Log(absl::StrCat(it->first, ": no progress for ",
                         absl::FormatDuration(options_.silence_limit), "; stopping it"));
        task.process->Stop(options_.stop_grace, now);
      }
      ++it;
      continue;
    }
    if (!sampled) {
      // Its energy up to the end (the process's final CPU time is known now).
      SampleEnergy(now);
      sampled = true;
    }
    ofa::v1::ReportTaskResultRequest result;
    result.set_worker_id(worker_id_);
    result.set_task_id(it->first);
    result.set_exit_code(exit->exit_code);
    *result.mutable_usage() = UsageOf(task, now);
    result.set_state(EndState(*exit, task.cancelled, draining_));
    if (exit->exit_code != 0) {
      std::string error = task.process->LogTail(3000);
      if (draining_ && exit->exit_code != kExitStoppedOnRequest) {
        error = absl::StrCat("the node drained before the trainer could checkpoint (exit code ",
                             exit->exit_code, ")\n", error);
      } else if (!task.cancelled && exit->stopped) {
        error = absl::StrCat("stopped after no progress for ",
                             absl::FormatDuration(options_.silence_limit), "\n", error);
      }
      result.set_error(Printable(error));
    }
    if (task.progress->has_progress()) *result.mutable_final_progress() = task.progress->progress();
    result.set_checkpoint_id(task.progress->latest_checkpoint());
    result.set_largest_top1(std::clamp(task.progress->largest_top1(), 0.0, 1.0));
    result.set_smallest_top1(std::clamp(task.progress->smallest_top1(), 0.0, 1.0));
    for (const ofa::v1::Subnet& subnet : task.progress->subnets()) *result.add_subnets() = subnet;
    Log(absl::StrFormat("%s ended: %s (exit code %d)", it->first,
                        ofa::v1::TaskState_Name(result.state()), exit->exit_code));
    unreported_.push_back(std::move(result));
    it = tasks_.erase(it);
  }
}

void WorkerAgent::SendResults() {
  for (auto it = unreported_.begin(); it != unreported_.end();) {
    it->set_worker_id(worker_id_);
    grpc::ClientContext context;
    PrepareContext(context, absl::Seconds(10));
    ofa::v1::ReportTaskResultResponse response;
    grpc::Status status = stub_->ReportTaskResult(&context, *it, &response);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return;  // Kept, sent again next time.
    }
    if (!status.ok()) {
      Log(absl::StrCat("result of ", it->task_id(), " refused: ", status.error_message()));
    }
    it = unreported_.erase(it);
  }
}

absl::Status WorkerAgent::HeartbeatOnce(absl::Time now) {
  ofa::v1::HeartbeatRequest request;
  request.set_worker_id(worker_id_);
  request.set_draining(draining_);
  for (const auto& [id, task] : tasks_) {
    ofa::v1::TaskStatus* status = request.add_tasks();
    status->set_task_id(id);
    status->set_state(ofa::v1::TASK_STATE_RUNNING);
    if (task.progress->has_progress()) *status->mutable_progress() = task.progress->progress();
    status->set_latest_checkpoint_id(task.progress->latest_checkpoint());
    *status->mutable_usage() = UsageOf(task, now);
  }
  for (const ofa::v1::Device& device : options_.devices) {
    const EnergyMeter::Reading r = meter_->Get(device.index());
    ofa::v1::DeviceEnergy* e = request.add_energy();
    e->set_device_index(device.index());
    e->set_energy_joules(r.energy_joules);
    e->set_measured(r.measured);
    e->set_power_watts(r.power_watts);
    if (last_energy_sample_ != absl::InfinitePast()) {
      e->mutable_sample_time()->set_seconds(absl::ToUnixSeconds(last_energy_sample_));
    }
  }
  grpc::ClientContext context;
  PrepareContext(context, absl::Seconds(10));
  ofa::v1::HeartbeatResponse response;
  grpc::Status status = stub_->Heartbeat(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("heartbeat: ", status.error_message()));
  }
  if (response.reregister()) {
    // The coordinator restarted or declared us lost: what we run belongs to attempts it has
    // given up on, and it will resume them from their checkpoints.
    Log("the coordinator does not know this worker (it restarted?): stopping trainers, "
        "registering again");
    StopAll(options_.stop_grace);
    unreported_.clear();
    worker_id_.clear();
    return absl::OkStatus();
  }
  for (const std::string& id : response.cancel_task_ids()) {
    auto it = tasks_.find(id);
    if (it == tasks_.end() || it->second.cancelled) continue;
    Log(absl::StrCat("stopping ", id, " (cancelled)"));
    it->second.cancelled = true;
    it->second.process->Stop(options_.stop_grace, now);
  }
  if (draining_) return absl::OkStatus();  // Nothing new starts on a draining node.
  for (const ofa::v1::TaskAssignment& a : response.assignments()) StartTask(a, now);
  return absl::OkStatus();
}

void WorkerAgent::StopAll(absl::Duration grace) {
  const absl::Time now = absl::Now();
  for (auto& [id, task] : tasks_) {
    task.cancelled = true;
    task.process->Stop(grace, now);
  }
  while (!tasks_.empty()) {
    Supervise(absl::Now());
    if (!tasks_.empty()) absl::SleepFor(kSupervisionPeriod);
  }
}

absl::Status WorkerAgent::Run(const std::atomic<bool>& stop) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      ofa::OpenCoordinatorChannel(options_.coordinator, options_.tls_ca_file);
  if (!channel.ok()) return channel.status();
  stub_ = ofa::v1::WorkerService::NewStub(*channel);
  absl::Time next_heartbeat = absl::InfinitePast();
  absl::Duration retry = absl::Milliseconds(500);
  std::string last_error;
  while (!stop.load()) {
    const absl::Time now = absl::Now();
    if (now - last_energy_sample_ >= kEnergyPeriod) SampleEnergy(now);
    Supervise(now);
    if (worker_id_.empty()) {
      if (absl::Status s = Register(); !s.ok()) {
        if (std::string(s.message()) != last_error) Log(std::string(s.message()));
        last_error = std::string(s.message());
        absl::SleepFor(retry);
        retry = std::min(retry * 2, absl::Seconds(5));
        continue;
      }
      retry = absl::Milliseconds(500);
      last_error.clear();
      next_heartbeat = now;
    }
    SendResults();
    if (now >= next_heartbeat) {
      next_heartbeat = now + heartbeat_interval_;
      if (absl::Status s = HeartbeatOnce(now); !s.ok()) {
        if (std::string(s.message()) != last_error) Log(std::string(s.message()));
        last_error = std::string(s.message());
      } else {
        last_error.clear();
      }
    }
    absl::SleepFor(kSupervisionPeriod);
  }
  Drain();
  return absl::OkStatus();
}

void WorkerAgent::Drain() {
  draining_ = true;
  const absl::Time start = absl::Now();
  Log(absl::StrFormat("draining: %d trainer(s) checkpoint and stop (at most %s), then this "
                      "worker deregisters",
                      tasks_.size(), absl::FormatDuration(options_.drain_grace)));
  // SIGTERM now (each trainer checkpoints at its next step and exits 75), SIGKILL at the end
  // of the grace period. Heartbeats go on meanwhile, saying the node is draining.
  for (auto& [id, task] : tasks_) task.process->Stop(options_.drain_grace, start);
  absl::Time next_heartbeat = start;
  while (true) {
    const absl::Time now = absl::Now();
    Supervise(now);
    if (!worker_id_.empty()) SendResults();
    if (tasks_.empty()) break;
    if (!worker_id_.empty() && now >= next_heartbeat) {
      next_heartbeat = now + heartbeat_interval_;
      if (absl::Status s = HeartbeatOnce(now); !s.ok()) Log(std::string(s.message()));
    }
    absl::SleepFor(kSupervisionPeriod);
  }
  if (worker_id_.empty()) return;  // Never registered, or the coordinator forgot us.
  // Results still undelivered get a few more tries: the coordinator may be restarting too.
  for (int i = 0; i < 10 && !unreported_.empty(); ++i) {
    SendResults();
    if (!unreported_.empty()) absl::SleepFor(absl::Milliseconds(500));
  }
  if (!unreported_.empty()) {
    Log(absl::StrFormat("%d result(s) could not be delivered; the coordinator reschedules those "
                        "tasks when this worker's lease runs out", unreported_.size()));
    return;
  }
  if (absl::Status s = Deregister(); !s.ok()) {
    Log(absl::StrCat(s.message(), "; the coordinator drops this worker when its lease runs out"));
    return;
  }
  Log(absl::StrCat("drained and deregistered in ", absl::FormatDuration(absl::Now() - start)));
}

absl::Status WorkerAgent::Deregister() {
  ofa::v1::DeregisterWorkerRequest request;
  request.set_worker_id(worker_id_);
  request.set_reason("stop signal (node drain or shutdown)");
  grpc::ClientContext context;
  PrepareContext(context, absl::Seconds(10));
  ofa::v1::DeregisterWorkerResponse response;
  grpc::Status status = stub_->DeregisterWorker(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("deregister: ", status.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace ofa::worker
