// Load on a real ofa-coordinator process: N simulated workers heartbeating every few seconds
// and a user submitting and listing jobs, over a database of M jobs. Prints p50/p99/max
// latency per method and the coordinator's CPU use (cores, from /proc/<pid>/stat).
//
//   bazel build //coordinator:ofa-coordinator //tests/bench:coordinator_bench
//   bazel-bin/tests/bench/coordinator_bench --coordinator=bazel-bin/coordinator/ofa-coordinator
//       [--workers=2000 --jobs=10000 --heartbeat_s=2 --seconds=30]
//
// The bench's own client threads share the machine with the coordinator, so on a 2-core VM
// the latencies include competing with them.
#include <grpcpp/grpcpp.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "ofa/v1/training_service.grpc.pb.h"
#include "ofa/v1/worker_service.grpc.pb.h"
#include "trainer/spec/job_spec_io.h"
#include "worker/trainer_process.h"

ABSL_FLAG(std::string, coordinator, "", "The ofa-coordinator binary.");
ABSL_FLAG(int, workers, 2000, "Simulated workers.");
ABSL_FLAG(int, jobs, 10000, "Jobs in the database before measuring (all but 100 cancelled).");
ABSL_FLAG(double, heartbeat_s, 2, "Heartbeat interval of each worker.");
ABSL_FLAG(double, seconds, 30, "Measured time.");
ABSL_FLAG(int, client_threads, 8, "Threads sending the workers' heartbeats.");

namespace {

namespace fs = std::filesystem;

struct Samples {
  std::mutex mu;
  std::vector<double> millis;
  int errors = 0;
  void Add(double ms, bool ok) {
    std::lock_guard<std::mutex> lock(mu);
    millis.push_back(ms);
    errors += ok ? 0 : 1;
  }
};

double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / sysconf(_SC_CLK_TCK);
}

void PrintRow(const char* name, Samples& s) {
  std::sort(s.millis.begin(), s.millis.end());
  auto pct = [&](double p) {
    return s.millis.empty()
               ? 0.0
               : s.millis[std::min(s.millis.size() - 1, static_cast<size_t>(p * s.millis.size()))];
  };
  absl::PrintF("%-18s %8d %6d %9.2f %9.2f %9.2f\n", name, s.millis.size(), s.errors, pct(0.5),
               pct(0.99), s.millis.empty() ? 0.0 : s.millis.back());
}

template <typename F>
void Timed(Samples& samples, F call) {
  const absl::Time start = absl::Now();
  const bool ok = call();
  samples.Add(absl::ToDoubleMilliseconds(absl::Now() - start), ok);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string dir =
      fs::temp_directory_path() / absl::StrCat("ofa-coordinator-bench-", getpid());
  fs::create_directories(dir);
  auto process = ofa::worker::TrainerProcess::Start(
      {absl::GetFlag(FLAGS_coordinator), "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--port_file=" + dir + "/port",
       "--state_dir=" + dir + "/state",
       absl::StrCat("--heartbeat_interval_s=", absl::GetFlag(FLAGS_heartbeat_s)),
       absl::StrCat("--lease_s=", 5 * absl::GetFlag(FLAGS_heartbeat_s)),
       "--user_calls_per_second=1000000"},
      {}, dir + "/coordinator.log");
  if (!process.ok()) {
    absl::FPrintF(stderr, "%s\n", process.status().ToString());
    return 2;
  }
  std::string port;
  for (int i = 0; i < 100 && port.empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    std::ifstream(dir + "/port") >> port;
  }
  if (port.empty()) {
    absl::FPrintF(stderr, "the coordinator did not start; see %s/coordinator.log\n", dir);
    return 2;
  }
  auto channel = grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials());
  auto users = ofa::v1::TrainingService::NewStub(channel);
  auto fleet = ofa::v1::WorkerService::NewStub(channel);

  // Jobs no simulated worker can run (they want CUDA), so they stay queued or are cancelled.
  ofa::v1::JobSpec spec = *ofa::trainer::ParseJobSpecJson(
      R"({"name": "bench", "supernet": {"preset": "ofa_small_28"},
          "dataset": {"kind": "DATASET_KIND_FASHION_MNIST"},
          "resources": {"workers": 1, "devices_per_worker": 1, "device_kind": "DEVICE_KIND_CUDA"}})",
      "bench");
  const absl::Time setup = absl::Now();
  const int jobs = absl::GetFlag(FLAGS_jobs);
  for (int i = 0; i < jobs; ++i) {
    grpc::ClientContext submit;
    ofa::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    ofa::v1::SubmitJobResponse response;
    if (!users->SubmitJob(&submit, request, &response).ok()) return 2;
    if (i < jobs - 100) {
      grpc::ClientContext cancel;
      ofa::v1::CancelJobRequest c;
      c.set_job_id(response.job().id());
      ofa::v1::Job job;
      users->CancelJob(&cancel, c, &job);
    }
    if ((i + 1) % 1000 == 0) absl::FPrintF(stderr, "setup: %d/%d jobs\n", i + 1, jobs);
  }
  const int workers = absl::GetFlag(FLAGS_workers);
  std::vector<std::string> ids(workers);
  for (int i = 0; i < workers; ++i) {
    grpc::ClientContext context;
    ofa::v1::RegisterWorkerRequest request;
    request.set_hostname(absl::StrCat("node-", i));
    request.add_devices()->set_kind(ofa::v1::DEVICE_KIND_CPU);
    ofa::v1::RegisterWorkerResponse response;
    if (!fleet->RegisterWorker(&context, request, &response).ok()) return 2;
    ids[i] = response.worker_id();
  }
  absl::FPrintF(stderr, "setup: %d jobs and %d workers in %.0f s; measuring %.0f s\n", jobs,
                workers, absl::ToDoubleSeconds(absl::Now() - setup), absl::GetFlag(FLAGS_seconds));

  Samples heartbeat, submit, list;
  const absl::Duration interval = absl::Seconds(absl::GetFlag(FLAGS_heartbeat_s));
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(absl::GetFlag(FLAGS_seconds));
  const double cpu_start = CpuSeconds(process->get()->pid());
  std::vector<std::thread> threads;
  const int n_threads = absl::GetFlag(FLAGS_client_threads);
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      // Worker i heartbeats at start + (i / workers) x interval + k x interval.
      for (int64_t k = 0;; ++k) {
        for (int i = t; i < workers; i += n_threads) {
          const absl::Time due = start + interval * (k + double(i) / workers);
          if (due >= end) return;
          if (due > absl::Now()) absl::SleepFor(due - absl::Now());
          grpc::ClientContext context;
          ofa::v1::HeartbeatRequest request;
          request.set_worker_id(ids[i]);
          ofa::v1::HeartbeatResponse response;
          Timed(heartbeat, [&] { return fleet->Heartbeat(&context, request, &response).ok(); });
        }
      }
    });
  }
  threads.emplace_back([&] {  // A user: a submission and a listing every 200 ms.
    while (absl::Now() < end) {
      grpc::ClientContext s;
      ofa::v1::SubmitJobRequest request;
      *request.mutable_spec() = spec;
      ofa::v1::SubmitJobResponse response;
      Timed(submit, [&] { return users->SubmitJob(&s, request, &response).ok(); });
      grpc::ClientContext l;
      ofa::v1::ListJobsRequest list_request;
      ofa::v1::ListJobsResponse listed;
      Timed(list, [&] { return users->ListJobs(&l, list_request, &listed).ok(); });
      absl::SleepFor(absl::Milliseconds(200));
    }
  });
  for (std::thread& t : threads) t.join();
  const double cpu = CpuSeconds(process->get()->pid()) - cpu_start;
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);

  absl::PrintF(
      "coordinator under load: %d workers heartbeating every %.1f s, %d jobs in the "
      "database, %d client threads, %d cores\n",
      workers, absl::GetFlag(FLAGS_heartbeat_s), jobs, n_threads + 1,
      std::thread::hardware_concurrency());
  absl::PrintF("%-18s %8s %6s %9s %9s %9s\n", "method", "calls", "errors", "p50 ms", "p99 ms",
               "max ms");
  PrintRow("Heartbeat", heartbeat);
  PrintRow("SubmitJob", submit);
  PrintRow("ListJobs (50)", list);
  absl::PrintF("coordinator CPU: %.2f cores (%.1f s CPU in %.1f s)\n", cpu / wall, cpu, wall);
  process->reset();
  fs::remove_all(dir);
  return 0;
}
