// The coordinator's two services on a real loopback gRPC server over a real SQLite file, with
// this test playing the workers through the same RPCs ofa-worker uses: placement as a gang,
// retries with back-off up to the limit, cancellation, lost workers, restart recovery,
// authentication and request validation.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <set>

#include "coordinator/auth.h"
#include "coordinator/carbon_intensity.h"
#include "coordinator/job_store.h"
#include "coordinator/rendezvous_table.h"
#include "coordinator/scheduler.h"
#include "coordinator/training_service.h"
#include "coordinator/worker_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/spec/job_spec_io.h"

namespace ofa::coordinator {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr char kAdmin[] = "admin-token-0123456789";
constexpr char kAlice[] = "alice-token-0123456789";
constexpr char kBob[] = "bobby-token-0123456789";
constexpr char kWorker[] = "worker-token-0123456789";

class CoordinatorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "tokens") << kAdmin << " admin ops\n"
                                   << kAlice << " submitter alice\n"
                                   << kBob << " submitter bob\n"
                                   << kWorker << " worker fleet\n";
    auth_ = *Authenticator::FromFile((dir_ / "tokens").string());
    Start();
  }
  void TearDown() override { Stop(); }

  void Start() {
    store_ = *JobStore::Open(dir_.string());
    Scheduler::Options options;
    options.lease = absl::Seconds(5);
    options.clock = [this] { return now_; };
    options.intensity = intensity_.get();
    scheduler_ = *Scheduler::Recover(store_.get(), &rendezvous_, options, now_);
    training_ = std::make_unique<TrainingServiceImpl>(*scheduler_, *auth_, user_rate_);
    workers_ = std::make_unique<WorkerServiceImpl>(rendezvous_, scheduler_.get(), *auth_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(training_.get());
    builder.RegisterService(workers_.get());
    server_ = builder.BuildAndStart();
    auto channel =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
    users_ = ofa::v1::TrainingService::NewStub(channel);
    fleet_ = ofa::v1::WorkerService::NewStub(channel);
  }
  void Stop() {
    server_->Shutdown();
    server_.reset();
    training_.reset();
    workers_.reset();
    scheduler_.reset();
    store_.reset();
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  ofa::v1::JobSpec Spec(int workers, int attempts = 3) {
    ofa::v1::JobSpec spec = *ofa::trainer::ParseJobSpecJson(
        R"({"name": "t", "supernet": {"preset": "ofa_small_28"},
            "dataset": {"kind": "DATASET_KIND_SYNTHETIC", "synthetic": {"trainImages": 64,
                        "testImages": 16, "imageSize": 28, "channels": 1, "numClasses": 10}},
            "targets": [{"name": "edge", "maxMacs": 1000000}]})",
        "test");
    spec.mutable_resources()->set_workers(workers);
    spec.mutable_resources()->set_devices_per_worker(1);
    spec.mutable_checkpoint()->set_max_phase_attempts(attempts);
    spec.mutable_checkpoint()->mutable_retry_backoff()->set_seconds(4);
    return spec;
  }

  grpc::Status Submit(const std::string& token, const ofa::v1::JobSpec& spec, ofa::v1::Job* job,
                      const std::string& request_id = "") {
    ofa::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    request.set_request_id(request_id);
    ofa::v1::SubmitJobResponse response;
    grpc::Status s = users_->SubmitJob(As(token).get(), request, &response);
    if (!s.ok()) std::cerr << "SubmitJob: " << s.error_message() << "\n";
    *job = response.job();
    return s;
  }

  ofa::v1::Job Get(const std::string& id) {
    ofa::v1::GetJobRequest request;
    request.set_job_id(id);
    ofa::v1::Job job;
    EXPECT_TRUE(users_->GetJob(As(kAdmin).get(), request, &job).ok());
    return job;
  }

  std::string Register(const std::string& host) {
    ofa::v1::RegisterWorkerRequest request;
    request.set_hostname(host);
    ofa::v1::Device* d = request.add_devices();
    d->set_index(0);
    d->set_kind(ofa::v1::DEVICE_KIND_CPU);
    ofa::v1::RegisterWorkerResponse response;
    EXPECT_TRUE(fleet_->RegisterWorker(As(kWorker).get(), request, &response).ok());
    return response.worker_id();
  }

  ofa::v1::HeartbeatResponse Beat(const std::string& worker,
                                  const std::vector<std::string>& running = {}) {
    ofa::v1::HeartbeatRequest request;
    request.set_worker_id(worker);
    for (const std::string& id : running) {
      request.add_tasks()->set_task_id(id);
      request.mutable_tasks()->rbegin()->set_state(ofa::v1::TASK_STATE_RUNNING);
    }
    ofa::v1::HeartbeatResponse response;
    EXPECT_TRUE(fleet_->Heartbeat(As(kWorker).get(), request, &response).ok());
    return response;
  }

  void Report(const std::string& worker, const std::string& task, ofa::v1::TaskState state) {
    ofa::v1::ReportTaskResultRequest request;
    request.set_worker_id(worker);
    request.set_task_id(task);
    request.set_state(state);
    request.set_exit_code(state == ofa::v1::TASK_STATE_SUCCEEDED ? 0 : 2);
    ofa::v1::ReportTaskResultResponse response;
    ASSERT_TRUE(fleet_->ReportTaskResult(As(kWorker).get(), request, &response).ok());
  }

  void Tick(absl::Duration advance = absl::ZeroDuration()) {
    now_ += advance;
    ASSERT_TRUE(scheduler_->Tick(now_).ok());
  }

  fs::path dir_;
  double user_rate_ = 50;
  absl::Time now_ = absl::Now();
  std::unique_ptr<CarbonIntensity> intensity_;  // Null = the scheduler's default table.
  std::unique_ptr<Authenticator> auth_;
  RendezvousTable rendezvous_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<TrainingServiceImpl> training_;
  std::unique_ptr<WorkerServiceImpl> workers_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ofa::v1::TrainingService::Stub> users_;
  std::unique_ptr<ofa::v1::WorkerService::Stub> fleet_;
};

TEST_F(CoordinatorServiceTest, PhasesRunAsGangsUntilTheJobSucceeds) {
  ofa::v1::Job job;
  ASSERT_TRUE(Submit(kAlice, Spec(2), &job).ok());
  Tick(absl::Seconds(6));  // Past the start-up pause.
  const std::string a = Register("node-a");
  Tick();
  EXPECT_EQ(Beat(a).assignments_size(), 0) << "one free device is not a gang of two";
  const std::string b = Register("node-b");
  Tick();
  int phases = 0;
  for (; phases < 10; ++phases) {
    ofa::v1::HeartbeatResponse ra = Beat(a), rb = Beat(b);
    if (ra.assignments_size() + rb.assignments_size() < 2) break;  // The specialise phase.
    ASSERT_EQ(ra.assignments_size() + rb.assignments_size(), 2);
    const ofa::v1::TaskAssignment& t0 = ra.assignments(0);
    EXPECT_EQ(t0.world_size(), 2);
    EXPECT_EQ(t0.checkpoint_dir(), absl::StrCat("jobs/", job.id()));
    // The assignment is repeated until the worker lists the task as its own.
    EXPECT_EQ(Beat(a).assignments_size(), 1);
    EXPECT_EQ(Beat(a, {t0.task_id()}).assignments_size(), 0);
    Report(a, t0.task_id(), ofa::v1::TASK_STATE_SUCCEEDED);
    Report(b, rb.assignments(0).task_id(), ofa::v1::TASK_STATE_SUCCEEDED);
    Tick();
  }
  job = Get(job.id());
  EXPECT_EQ(phases, job.phases_size() - 1);  // Every training phase ran as a gang of two.
  EXPECT_EQ(job.current_phase(), "specialize");
}

// A specialise result as a worker reports it: one sub-network per target, paths relative to
// the job's directory.
ofa::v1::Subnet ExportedSubnet(const std::string& target, int64_t macs) {
  ofa::v1::Subnet s;
  s.set_target(target);
  s.mutable_cost()->set_macs(macs);
  s.set_measured_top1(0.8);
  s.set_weights_path("export/" + target + "/weights.pt");
  s.set_weights_sha256(std::string(64, 'a'));
  return s;
}

TEST_F(CoordinatorServiceTest, TheSpecialisePhaseRunsOnOneDeviceAndServesItsSubnetworks) {
  ofa::v1::JobSpec spec = Spec(2);
  spec.mutable_targets(0)->set_max_macs(2000000);
  ofa::v1::DeploymentTarget* second = spec.add_targets();
  second->set_name("server");
  second->set_max_macs(6000000);
  ofa::v1::Job job;
  ASSERT_TRUE(Submit(kAlice, spec, &job).ok());
  ofa::v1::ListSubnetsRequest list;
  list.set_job_id(job.id());
  ofa::v1::ListSubnetsResponse subnets;
  grpc::Status early = users_->ListSubnets(As(kAlice).get(), list, &subnets);
  EXPECT_EQ(early.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(early.error_message(), HasSubstr("has not finished"));

  Tick(absl::Seconds(6));
  const std::string a = Register("node-a"), b = Register("node-b");
  Tick();
  ofa::v1::TaskAssignment specialise;
  std::string specialise_worker;
  for (int i = 0; i < 10 && specialise.task_id().empty(); ++i) {
    std::vector<std::pair<std::string, ofa::v1::TaskAssignment>> tasks;
    for (const std::string& w : {a, b}) {
      const ofa::v1::HeartbeatResponse beat = Beat(w);
      for (const auto& t : beat.assignments()) tasks.emplace_back(w, t);
    }
    ASSERT_FALSE(tasks.empty());
    if (tasks[0].second.phase().kind() == ofa::v1::PHASE_KIND_SPECIALIZE) {
      ASSERT_EQ(tasks.size(), 1u) << "the specialise phase takes one device";
      EXPECT_EQ(tasks[0].second.world_size(), 1);
      specialise = tasks[0].second;
      specialise_worker = tasks[0].first;
      break;
    }
    for (const auto& [w, t] : tasks) Report(w, t.task_id(), ofa::v1::TASK_STATE_SUCCEEDED);
    Tick();
  }
  ASSERT_FALSE(specialise.task_id().empty());
  // A result without the sub-networks is a failed attempt; the phase is retried.
  ofa::v1::ReportTaskResultRequest result;
  result.set_worker_id(specialise_worker);
  result.set_task_id(specialise.task_id());
  result.set_state(ofa::v1::TASK_STATE_SUCCEEDED);
  ofa::v1::ReportTaskResultResponse response;
  ASSERT_TRUE(fleet_->ReportTaskResult(As(kWorker).get(), result, &response).ok());
  Tick();
  EXPECT_THAT(Get(job.id()).phases().rbegin()->error(), HasSubstr("without its sub-networks"));
  Tick(absl::Seconds(4));  // The retry back-off, within the workers' lease.
  ofa::v1::TaskAssignment retry;
  std::string retry_worker;
  for (const std::string& w : {a, b}) {
    const ofa::v1::HeartbeatResponse beat = Beat(w);
    for (const auto& t : beat.assignments()) {
      retry = t;
      retry_worker = w;
    }
  }
  ASSERT_EQ(retry.scope().attempt(), 2);
  result.set_task_id(retry.task_id());
  result.set_worker_id(retry_worker);
  *result.add_subnets() = ExportedSubnet("edge", 1500000);
  *result.add_subnets() = ExportedSubnet("server", 5000000);
  ASSERT_TRUE(fleet_->ReportTaskResult(As(kWorker).get(), result, &response).ok());
  Tick();
  job = Get(job.id());
  EXPECT_EQ(job.state(), ofa::v1::JOB_STATE_SUCCEEDED) << job.DebugString();
  EXPECT_THAT(job.phases().rbegin()->note(), HasSubstr("2 sub-network(s) exported"));

  // Served, with paths under the storage root, and kept across a restart.
  Stop();
  Start();
  ASSERT_TRUE(users_->ListSubnets(As(kAlice).get(), list, &subnets).ok());
  ASSERT_EQ(subnets.subnets_size(), 2);
  EXPECT_EQ(subnets.subnets(0).target(), "edge");
  EXPECT_EQ(subnets.subnets(0).job_id(), job.id());
  EXPECT_EQ(subnets.subnets(1).weights_path(),
            absl::StrCat("jobs/", job.id(), "/export/server/weights.pt"));
  ofa::v1::GetSubnetRequest get;
  get.set_job_id(job.id());
  get.set_target("server");
  ofa::v1::Subnet one;
  ASSERT_TRUE(users_->GetSubnet(As(kAlice).get(), get, &one).ok());
  EXPECT_EQ(one.cost().macs(), 5000000);
  get.set_target("phone");
  grpc::Status missing = users_->GetSubnet(As(kAlice).get(), get, &one);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(missing.error_message(), HasSubstr("its targets: edge, server"));
  // Another tenant sees nothing.
  EXPECT_EQ(users_->ListSubnets(As(kBob).get(), list, &subnets).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(CoordinatorServiceTest, AFailedRankStopsItsPeersAndThePhaseIsRetriedThenFails) {
  ofa::v1::Job job;
  ASSERT_TRUE(Submit(kAlice, Spec(2, /*attempts=*/2), &job).ok());
  Tick(absl::Seconds(6));
  const std::string a = Register("node-a"), b = Register("node-b");
  Tick();
  for (int attempt = 1; attempt <= 2; ++attempt) {
    ofa::v1::HeartbeatResponse ra = Beat(a), rb = Beat(b);
    ASSERT_EQ(ra.assignments_size(), 1) << "attempt " << attempt;
    EXPECT_EQ(ra.assignments(0).scope().attempt(), attempt);
    Beat(b, {rb.assignments(0).task_id()});
    Report(a, ra.assignments(0).task_id(), ofa::v1::TASK_STATE_FAILED);
    // The surviving rank is told to stop at its next heartbeat.
    ofa::v1::HeartbeatResponse cancel = Beat(b, {rb.assignments(0).task_id()});
    ASSERT_EQ(cancel.cancel_task_ids_size(), 1);
    Report(b, rb.assignments(0).task_id(), ofa::v1::TASK_STATE_KILLED);
    Tick();
    if (attempt == 1) {
      EXPECT_EQ(Beat(a).assignments_size(), 0) << "retried before the back-off";
      Tick(absl::Seconds(4.5));  // The 4 s back-off, within the workers' 5 s lease.
    }
  }
  job = Get(job.id());
  EXPECT_EQ(job.state(), ofa::v1::JOB_STATE_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("phase full failed 2 time(s)"));
  EXPECT_EQ(job.phases(0).failed_attempts(), 2);
}

TEST_F(CoordinatorServiceTest, CancelStopsTasksAndFreesTheirSlots) {
  ofa::v1::Job first, second;
  ASSERT_TRUE(Submit(kAlice, Spec(1), &first).ok());
  ASSERT_TRUE(Submit(kAlice, Spec(1), &second).ok());
  Tick(absl::Seconds(6));
  const std::string a = Register("node-a");
  Tick();
  ofa::v1::HeartbeatResponse r = Beat(a);
  ASSERT_EQ(r.assignments_size(), 1);
  EXPECT_EQ(r.assignments(0).scope().job_id(), first.id());
  ofa::v1::CancelJobRequest cancel;
  cancel.set_job_id(first.id());
  ofa::v1::Job cancelled;
  ASSERT_TRUE(users_->CancelJob(As(kAlice).get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), ofa::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(Beat(a, {r.assignments(0).task_id()}).cancel_task_ids_size(), 1);
  Report(a, r.assignments(0).task_id(), ofa::v1::TASK_STATE_KILLED);
  Tick();
  r = Beat(a);
  ASSERT_EQ(r.assignments_size(), 1) << "the freed slot goes to the next job";
  EXPECT_EQ(r.assignments(0).scope().job_id(), second.id());
}

TEST_F(CoordinatorServiceTest, ADrainedWorkersPhaseResumesAtOnceWithoutCountingAFailure) {
  ofa::v1::Job job;
  // One attempt allowed: a preemption counted as a failure would fail the job.
  ASSERT_TRUE(Submit(kAlice, Spec(2, /*attempts=*/1), &job).ok());
  Tick(absl::Seconds(6));
  const std::string a = Register("node-a"), b = Register("node-b");
  Tick();
  ofa::v1::HeartbeatResponse ra = Beat(a), rb = Beat(b);
  ASSERT_EQ(ra.assignments_size(), 1);
  ASSERT_EQ(rb.assignments_size(), 1);
  // node-b drains: no new work for it; both ranks stop at the same step, after a checkpoint.
  ofa::v1::HeartbeatRequest draining;
  draining.set_worker_id(b);
  draining.set_draining(true);
  draining.add_tasks()->set_task_id(rb.assignments(0).task_id());
  draining.mutable_tasks(0)->set_state(ofa::v1::TASK_STATE_RUNNING);
  ofa::v1::HeartbeatResponse ignored;
  ASSERT_TRUE(fleet_->Heartbeat(As(kWorker).get(), draining, &ignored).ok());
  Report(b, rb.assignments(0).task_id(), ofa::v1::TASK_STATE_PREEMPTED);
  Report(a, ra.assignments(0).task_id(), ofa::v1::TASK_STATE_PREEMPTED);
  ofa::v1::DeregisterWorkerRequest leave;
  leave.set_worker_id(b);
  leave.set_reason("node drain");
  ofa::v1::DeregisterWorkerResponse left;
  ASSERT_TRUE(fleet_->DeregisterWorker(As(kWorker).get(), leave, &left).ok());
  EXPECT_TRUE(Beat(b).reregister()) << "a deregistered worker is gone at once";
  grpc::Status again = fleet_->DeregisterWorker(As(kWorker).get(), leave, &left);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND) << again.error_message();

  job = Get(job.id());
  EXPECT_EQ(job.state(), ofa::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(job.phases(0).state(), ofa::v1::PHASE_STATE_PENDING);
  EXPECT_EQ(job.phases(0).preemptions(), 1);
  EXPECT_EQ(job.phases(0).failed_attempts(), 0);
  EXPECT_FALSE(job.phases(0).has_retry_time()) << "a preemption waits for no back-off";
  EXPECT_THAT(job.phases(0).error(), HasSubstr("was preempted"));
  // Placed again at the next tick, on node-a and a newcomer, never on the drained node.
  const std::string c = Register("node-c");
  Tick();
  ofa::v1::HeartbeatResponse ra2 = Beat(a), rc = Beat(c);
  ASSERT_EQ(ra2.assignments_size(), 1);
  ASSERT_EQ(rc.assignments_size(), 1);
  EXPECT_EQ(ra2.assignments(0).scope().attempt(), 2);

  ofa::v1::DeregisterWorkerRequest bad;
  grpc::Status invalid = fleet_->DeregisterWorker(As(kWorker).get(), bad, &left);
  EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(invalid.error_message(), HasSubstr("worker_id"));
  grpc::Status denied = fleet_->DeregisterWorker(As(kAlice).get(), leave, &left);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(CoordinatorServiceTest, ALostWorkersTaskIsRescheduledElsewhere) {
  ofa::v1::Job job;
  ASSERT_TRUE(Submit(kAlice, Spec(1), &job).ok());
  Tick(absl::Seconds(6));
  const std::string a = Register("node-a");
  Tick();
  ASSERT_EQ(Beat(a).assignments_size(), 1);
  const std::string b = Register("node-b");
  Tick(absl::Seconds(3));
  Beat(b);
  Tick(absl::Seconds(3));  // node-a silent for 6 s > the 5 s lease.
  Beat(b);
  Tick(absl::Seconds(4.5));  // Past the 4 s retry back-off.
  ofa::v1::HeartbeatResponse r = Beat(b);
  ASSERT_EQ(r.assignments_size(), 1);
  EXPECT_EQ(r.assignments(0).scope().attempt(), 2);
  EXPECT_THAT(Get(job.id()).phases(0).error(), HasSubstr("was lost"));
  EXPECT_TRUE(Beat(a).reregister());
}

TEST_F(CoordinatorServiceTest, ARestartKeepsJobsWorkersAndRunningTrainers) {
  ofa::v1::Job job;
  ASSERT_TRUE(Submit(kAlice, Spec(1), &job, "req-1").ok());
  Tick(absl::Seconds(6));
  const std::string a = Register("node-a");
  const std::string b = Register("node-b");
  Tick();
  ofa::v1::HeartbeatResponse r = Beat(a);  // Workers are filled in id order: node-a first.
  ASSERT_EQ(r.assignments_size(), 1);
  const std::string task = r.assignments(0).task_id();
  Stop();
  Start();  // Same SQLite file: a coordinator restart.
  ofa::v1::Job after = Get(job.id());
  EXPECT_EQ(after.phases(0).state(), ofa::v1::PHASE_STATE_RUNNING) << "its trainer carries on";
  EXPECT_EQ(after.phases(0).attempt(), 1);
  // The workers are remembered: they go on heartbeating under the same ids.
  r = Beat(a, {task});
  EXPECT_FALSE(r.reregister());
  EXPECT_EQ(r.assignments_size(), 0);
  EXPECT_EQ(r.cancel_task_ids_size(), 0) << "the running task is still the worker's";
  EXPECT_FALSE(Beat(b).reregister());
  // node-b does not survive the restart: after the two leases a stored worker gets to
  // reconnect it is lost (nothing of the job ran there). node-a goes on and finishes.
  for (int i = 0; i < 4; ++i) {
    Tick(absl::Seconds(3));
    Beat(a);
  }
  EXPECT_TRUE(Beat(b).reregister());
  Report(a, task, ofa::v1::TASK_STATE_SUCCEEDED);
  Tick();
  after = Get(job.id());
  EXPECT_EQ(after.phases(0).state(), ofa::v1::PHASE_STATE_DONE);
  EXPECT_EQ(after.phases(0).attempt(), 1) << "no new attempt after the restart";
  ofa::v1::Job again;
  ASSERT_TRUE(Submit(kAlice, Spec(1), &again, "req-1").ok());
  EXPECT_EQ(again.id(), job.id()) << "a resubmitted request_id returns the first job";
}

ofa::v1::TaskUsage Usage(double seconds, double joules, double estimated, double flops) {
  ofa::v1::TaskUsage u;
  u.set_device_seconds(seconds);
  u.set_energy_joules(joules);
  u.set_estimated_energy_joules(estimated);
  u.set_training_flops(flops);
  return u;
}

TEST_F(CoordinatorServiceTest, CarbonIsBookedOnceAcrossRetriesAndRestarts) {
  ofa::v1::JobSpec spec = Spec(1);
  spec.mutable_carbon()->set_intensity_source(ofa::v1::INTENSITY_SOURCE_FIXED);
  spec.mutable_carbon()->set_fixed_intensity_g_per_kwh(100);
  spec.mutable_carbon()->set_pue(1.0);
  spec.mutable_dataset()->set_batch_size_per_device(8);
  ofa::v1::Job job;
  ASSERT_TRUE(Submit(kAlice, spec, &job).ok());
  Tick(absl::Seconds(6));
  std::string a = Register("node-a");
  Tick();
  ofa::v1::HeartbeatResponse r;
  auto beat_with = [&](const std::string& worker, const std::string& task,
                       const ofa::v1::TaskUsage& usage) {
    ofa::v1::HeartbeatRequest request;
    request.set_worker_id(worker);
    ofa::v1::TaskStatus* t = request.add_tasks();
    t->set_task_id(task);
    t->set_state(ofa::v1::TASK_STATE_RUNNING);
    *t->mutable_usage() = usage;
    ofa::v1::HeartbeatResponse response;
    EXPECT_TRUE(fleet_->Heartbeat(As(kWorker).get(), request, &response).ok());
  };
  auto report_with = [&](const std::string& worker, const std::string& task,
                         ofa::v1::TaskState state, const ofa::v1::TaskUsage& usage) {
    ofa::v1::ReportTaskResultRequest request;
    request.set_worker_id(worker);
    request.set_task_id(task);
    request.set_state(state);
    *request.mutable_usage() = usage;
    request.mutable_final_progress()->set_total_steps(20);
    request.mutable_final_progress()->set_step(20);
    ofa::v1::ReportTaskResultResponse response;
    EXPECT_TRUE(fleet_->ReportTaskResult(As(kWorker).get(), request, &response).ok());
  };

  // Attempt 1: the same cumulative usage twice, then a failure.
  r = Beat(a);
  ASSERT_EQ(r.assignments_size(), 1);
  std::string task = r.assignments(0).task_id();
  beat_with(a, task, Usage(10, 3.6e5, 1e5, 1e12));
  beat_with(a, task, Usage(10, 3.6e5, 1e5, 1e12));
  report_with(a, task, ofa::v1::TASK_STATE_FAILED, Usage(12, 4e5, 1e5, 1e12));
  // Attempt 2 (after the 4 s back-off) runs when the coordinator restarts.
  Tick(absl::Seconds(3));
  Beat(a);
  Tick(absl::Seconds(2));
  r = Beat(a);
  ASSERT_EQ(r.assignments_size(), 1) << Get(job.id()).DebugString();
  task = r.assignments(0).task_id();
  beat_with(a, task, Usage(5, 2e5, 0, 0.5e12));
  Stop();
  Start();
  // The restarted coordinator carries attempt 2 on; the worker's replayed report books
  // nothing twice. Then the attempt fails, and attempt 3 (after an 8 s back-off) succeeds.
  beat_with(a, task, Usage(5, 2e5, 0, 0.5e12));
  report_with(a, task, ofa::v1::TASK_STATE_FAILED, Usage(8, 2.5e5, 0, 0.5e12));
  r = ofa::v1::HeartbeatResponse();
  for (int i = 0; i < 5 && r.assignments_size() == 0; ++i) {
    Tick(absl::Seconds(3));
    r = Beat(a);
  }
  ASSERT_EQ(r.assignments_size(), 1);
  EXPECT_EQ(r.assignments(0).scope().attempt(), 3);
  report_with(a, r.assignments(0).task_id(), ofa::v1::TASK_STATE_SUCCEEDED, Usage(5, 1e5, 0, 2e12));
  Tick();

  ofa::v1::GetCarbonReportRequest request;
  request.set_job_id(job.id());
  ofa::v1::CarbonReport report;
  ASSERT_TRUE(users_->GetCarbonReport(As(kAlice).get(), request, &report).ok());
  const ofa::v1::PhaseCarbon& full = report.phases(0);
  EXPECT_EQ(full.attempts(), 3);
  EXPECT_DOUBLE_EQ(full.totals().energy_joules(), 7.5e5);
  EXPECT_DOUBLE_EQ(full.totals().wasted_energy_joules(), 6.5e5) << "attempts 1 and 2 failed";
  EXPECT_DOUBLE_EQ(full.totals().estimated_energy_joules(), 1e5);
  EXPECT_DOUBLE_EQ(full.totals().device_seconds(), 25);
  EXPECT_DOUBLE_EQ(full.totals().training_flops(), 3.5e12);
  EXPECT_NEAR(full.totals().co2_grams(), 7.5e5 / 3.6e6 * 100, 1e-9);
  EXPECT_DOUBLE_EQ(report.total().energy_joules(), 7.5e5);
  EXPECT_THAT(report.intensity_source_description(), HasSubstr("fixed 100 g/kWh, PUE 1.00"));
  // The job record carries the same totals once the phase concluded.
  const ofa::v1::Job after = Get(job.id());
  EXPECT_DOUBLE_EQ(after.phases(0).carbon().energy_joules(), 7.5e5);
  EXPECT_DOUBLE_EQ(after.carbon().co2_grams(), report.total().co2_grams());

  // The counterfactual: target "edge" (at most 1M MACs) trained alone for every epoch of the
  // schedule, at this job's measured joules per FLOP.
  ASSERT_EQ(report.from_scratch_size(), 1);
  const ofa::v1::CounterfactualCost& edge = report.from_scratch(0);
  EXPECT_EQ(edge.target(), "edge");
  int epochs = 0;
  for (const auto& p : after.phases()) {
    if (p.spec().kind() != ofa::v1::PHASE_KIND_SPECIALIZE) epochs += p.spec().epochs();
  }
  const double images = 20.0 / after.phases(0).spec().epochs() * 8;
  EXPECT_GT(edge.training_flops(), 0);
  EXPECT_LE(edge.training_flops(), epochs * images * 6e6 * (1 + 1e-12));
  EXPECT_NEAR(edge.energy_joules(), edge.training_flops() * 7.5e5 / 3.5e12, 1e-6);
  EXPECT_NEAR(report.co2_saved_grams(), edge.co2_grams() - report.total().co2_grams(), 1e-9);
}

TEST_F(CoordinatorServiceTest, CarbonAwareStartWaitsForTheCleanerWindowWithinTheSlack) {
  // The grid: 400 g/kWh now, 100 g/kWh from an hour on, 50 g/kWh after four hours.
  const int64_t t = absl::ToUnixSeconds(now_);
  std::ofstream(dir_ / "grid.csv") << "timestamp,region,g_per_kwh\n"
                                   << t << ",GB,400\n"
                                   << t + 3600 << ",GB,100\n"
                                   << t + 4 * 3600 << ",GB,50\n";
  Stop();
  intensity_ = std::make_unique<CarbonIntensity>(CarbonIntensity::Options{});
  ASSERT_TRUE(intensity_->LoadTimeSeries((dir_ / "grid.csv").string()).ok());
  Start();
  ofa::v1::JobSpec spec = Spec(1);
  spec.mutable_carbon()->set_region("GB");
  spec.mutable_carbon()->set_pue(1.0);
  spec.mutable_carbon()->mutable_deadline_slack()->set_seconds(2 * 3600);
  ofa::v1::Job job;
  ASSERT_TRUE(Submit(kAlice, spec, &job).ok());
  Tick(absl::Seconds(6));
  std::string a = Register("node-a");
  Tick();
  Tick();
  EXPECT_EQ(Beat(a).assignments_size(), 0) << "it waits for the 100 g/kWh window";
  ofa::v1::Job waiting = Get(job.id());
  EXPECT_THAT(waiting.phases(0).note(), HasSubstr("carbon-aware start: waits"));
  EXPECT_NEAR(waiting.phases(0).carbon_aware_delay().seconds(), 3600 - 6, 1);

  now_ += absl::Hours(1);
  a = Register("node-a");
  Tick();
  ofa::v1::HeartbeatResponse r = Beat(a);
  ASSERT_EQ(r.assignments_size(), 1);
  ofa::v1::ReportTaskResultRequest result;
  result.set_worker_id(a);
  result.set_task_id(r.assignments(0).task_id());
  result.set_state(ofa::v1::TASK_STATE_SUCCEEDED);
  result.mutable_usage()->set_device_seconds(60);
  result.mutable_usage()->set_energy_joules(3.6e6);  // 1 kWh.
  ofa::v1::ReportTaskResultResponse response;
  now_ += absl::Seconds(60);
  ASSERT_TRUE(fleet_->ReportTaskResult(As(kWorker).get(), result, &response).ok());
  Tick();
  ofa::v1::GetCarbonReportRequest request;
  request.set_job_id(job.id());
  ofa::v1::CarbonReport report;
  ASSERT_TRUE(users_->GetCarbonReport(As(kAlice).get(), request, &report).ok());
  EXPECT_NEAR(report.phases(0).totals().co2_grams(), 100, 1e-6);
  // Started at once, the same kWh would have met 400 g/kWh.
  EXPECT_NEAR(report.phases(0).carbon_aware_saved_grams(), 300, 1e-6);
  EXPECT_NEAR(report.carbon_aware_saved_grams(), 300, 1e-6);
  // The next phase has only the slack left over (2 h - 1 h): the 50 g/kWh window at 4 h is
  // beyond it, so it starts at once.
  a = Register("node-a");  // The minute of training outlived its lease in this test.
  Tick();
  EXPECT_EQ(Beat(a).assignments_size(), 1);
  EXPECT_FALSE(Get(job.id()).phases(1).has_carbon_aware_delay() &&
               Get(job.id()).phases(1).carbon_aware_delay().seconds() > 0);
}

TEST_F(CoordinatorServiceTest, TokensRolesAndTenantsAreEnforced) {
  ofa::v1::Job job;
  EXPECT_EQ(Submit("wrong-token-0123456789", Spec(1), &job).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit(kWorker, Spec(1), &job).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Submit(kAlice, Spec(1), &job).ok());
  EXPECT_EQ(job.owner(), "alice");
  ofa::v1::GetJobRequest get;
  get.set_job_id(job.id());
  ofa::v1::Job seen;
  EXPECT_EQ(users_->GetJob(As(kBob).get(), get, &seen).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(users_->GetJob(As(kAdmin).get(), get, &seen).ok());
  ofa::v1::ListJobsRequest list;
  ofa::v1::ListJobsResponse listed;
  ASSERT_TRUE(users_->ListJobs(As(kBob).get(), list, &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 0);
  // Users cannot act as workers.
  ofa::v1::RegisterWorkerRequest reg;
  reg.set_hostname("evil");
  reg.add_devices()->set_kind(ofa::v1::DEVICE_KIND_CPU);
  ofa::v1::RegisterWorkerResponse registered;
  EXPECT_EQ(fleet_->RegisterWorker(As(kAlice).get(), reg, &registered).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ofa::v1::SetKeyRequest set;
  ofa::v1::SetKeyResponse set_response;
  EXPECT_EQ(fleet_->SetKey(As(kAlice).get(), set, &set_response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(CoordinatorServiceTest, InvalidRequestsNameTheField) {
  auto message = [](const grpc::Status& s) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    return s.error_message();
  };
  ofa::v1::Job job;
  ofa::v1::JobSpec bad = Spec(1);
  bad.mutable_resources()->set_workers(-3);
  EXPECT_THAT(message(Submit(kAlice, bad, &job)), HasSubstr("resources.workers"));
  EXPECT_THAT(message(Submit(kAlice, Spec(1), &job, "bad id!")), HasSubstr("request_id"));
  ofa::v1::GetJobRequest get;
  get.set_job_id("../../etc/passwd");
  EXPECT_THAT(message(users_->GetJob(As(kAlice).get(), get, &job)), HasSubstr("job_id"));
  ofa::v1::ListJobsRequest list;
  list.set_page_size(100000);
  ofa::v1::ListJobsResponse listed;
  EXPECT_THAT(message(users_->ListJobs(As(kAlice).get(), list, &listed)), HasSubstr("page_size"));
  ofa::v1::RegisterWorkerRequest reg;
  reg.set_hostname("Node_A");
  ofa::v1::RegisterWorkerResponse registered;
  EXPECT_THAT(message(fleet_->RegisterWorker(As(kWorker).get(), reg, &registered)),
              HasSubstr("hostname"));
  ofa::v1::HeartbeatRequest beat;
  beat.set_worker_id("w1");
  for (int i = 0; i < 300; ++i) beat.add_tasks()->set_task_id("t");
  ofa::v1::HeartbeatResponse beat_response;
  EXPECT_THAT(message(fleet_->Heartbeat(As(kWorker).get(), beat, &beat_response)),
              HasSubstr("tasks: at most 256"));
}

TEST_F(CoordinatorServiceTest, AFloodingUserIsThrottledWithoutHarmingOthers) {
  const std::string a = Register("node-a");
  int refused = 0;
  for (int i = 0; i < 400; ++i) {
    ofa::v1::ListJobsRequest request;
    ofa::v1::ListJobsResponse response;
    grpc::Status s = users_->ListJobs(As(kBob).get(), request, &response);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++refused;
  }
  EXPECT_GT(refused, 100);  // 50/s with bursts of 200: most of a 400-call burst is refused.
  ofa::v1::Job job;
  EXPECT_TRUE(Submit(kAlice, Spec(1), &job).ok()) << "another user is still served";
  EXPECT_FALSE(Beat(a).reregister()) << "workers are still served";
}

// A property test in place of a fuzzer: valid requests of every method with random bytes
// flipped, cut or inserted are answered with a status (never a crash or a hang), and the
// service still works afterwards.
TEST_F(CoordinatorServiceTest, MutatedRequestsGetAnAnswerNeverACrash) {
  user_rate_ = 1e9;  // Exercise validation, not the rate limiter.
  Stop();
  Start();
  const std::string a = Register("node-a");
  ofa::v1::SubmitJobRequest submit;
  *submit.mutable_spec() = Spec(1);
  ofa::v1::HeartbeatRequest beat;
  beat.set_worker_id(a);
  beat.add_tasks()->set_task_id("job-000001/full/a1/r0");
  beat.mutable_tasks(0)->mutable_progress()->set_step(5);
  ofa::v1::ReportTaskResultRequest report;
  report.set_worker_id(a);
  report.set_task_id("job-000001/full/a1/r0");
  report.set_state(ofa::v1::TASK_STATE_FAILED);
  report.set_error("boom");
  ofa::v1::RegisterWorkerRequest reg;
  reg.set_hostname("node-b");
  reg.add_devices()->set_kind(ofa::v1::DEVICE_KIND_CPU);
  ofa::v1::ListJobsRequest list;
  list.set_page_size(3);
  list.add_states(ofa::v1::JOB_STATE_QUEUED);
  ofa::v1::GetKeysRequest keys;
  keys.mutable_scope()->set_job_id("job-000001");
  keys.mutable_scope()->set_phase("full");
  keys.mutable_scope()->set_attempt(1);
  keys.add_keys("rank0");

  const std::set<grpc::StatusCode> answers = {grpc::StatusCode::OK,
                                              grpc::StatusCode::INVALID_ARGUMENT,
                                              grpc::StatusCode::NOT_FOUND,
                                              grpc::StatusCode::PERMISSION_DENIED,
                                              grpc::StatusCode::DEADLINE_EXCEEDED,
                                              grpc::StatusCode::FAILED_PRECONDITION};
  std::mt19937 rng(7);
  auto mutate = [&](const google::protobuf::Message& valid, google::protobuf::Message& out) {
    std::string bytes = valid.SerializeAsString();
    for (int e = 0, n = 1 + static_cast<int>(rng() % 4); e < n && !bytes.empty(); ++e) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0:
          bytes[at] = static_cast<char>(rng());
          break;
        case 1:
          bytes.erase(at, 1 + rng() % 8);
          break;
        default:
          bytes.insert(at, 1 + rng() % 8, static_cast<char>(rng()));
          break;
      }
    }
    return out.ParseFromString(bytes);
  };
  int sent = 0;
  for (int round = 0; round < 1000; ++round) {
    auto call = [&](auto method, const google::protobuf::Message& valid, auto request,
                    auto response, const std::string& token) {
      if (!mutate(valid, request)) return;
      std::unique_ptr<grpc::ClientContext> context = As(token);
      context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      const grpc::Status s = method(context.get(), request, &response);
      EXPECT_TRUE(answers.count(s.error_code()) > 0)
          << s.error_code() << " " << s.error_message() << " for " << request.DebugString();
      ++sent;
    };
    using namespace ofa::v1;
    call([&](auto* c, auto& r, auto* o) { return users_->SubmitJob(c, r, o); }, submit,
         SubmitJobRequest(), SubmitJobResponse(), kAlice);
    call([&](auto* c, auto& r, auto* o) { return users_->ListJobs(c, r, o); }, list,
         ListJobsRequest(), ListJobsResponse(), kAlice);
    call([&](auto* c, auto& r, auto* o) { return fleet_->Heartbeat(c, r, o); }, beat,
         HeartbeatRequest(), HeartbeatResponse(), kWorker);
    call([&](auto* c, auto& r, auto* o) { return fleet_->ReportTaskResult(c, r, o); }, report,
         ReportTaskResultRequest(), ReportTaskResultResponse(), kWorker);
    call([&](auto* c, auto& r, auto* o) { return fleet_->RegisterWorker(c, r, o); }, reg,
         RegisterWorkerRequest(), RegisterWorkerResponse(), kWorker);
    call([&](auto* c, auto& r, auto* o) { return fleet_->GetKeys(c, r, o); }, keys,
         GetKeysRequest(), GetKeysResponse(), kWorker);
    Tick();
  }
  EXPECT_GT(sent, 200);  // Many mutations do not parse; enough do.
  ofa::v1::Job job;
  EXPECT_TRUE(Submit(kAlice, Spec(1), &job).ok()) << "still serving";
}

TEST_F(CoordinatorServiceTest, ListJobsPagesNewestFirst) {
  ofa::v1::Job job;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Submit(kAlice, Spec(1), &job).ok());
  ofa::v1::ListJobsRequest request;
  request.set_page_size(2);
  std::vector<std::string> ids;
  for (int page = 0; page < 5; ++page) {
    ofa::v1::ListJobsResponse response;
    ASSERT_TRUE(users_->ListJobs(As(kAlice).get(), request, &response).ok());
    for (const ofa::v1::Job& j : response.jobs()) ids.push_back(j.id());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_THAT(ids, ::testing::ElementsAre("job-000005", "job-000004", "job-000003", "job-000002",
                                          "job-000001"));
}

}  // namespace
}  // namespace ofa::coordinator
