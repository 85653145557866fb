// ofa-worker: the node agent. Registers this machine's device slots with the coordinator and
// runs the trainer ranks it is assigned.
//
//   ofa-worker --coordinator=HOST:PORT --cpu_slots=2 --storage_root=/shared/ofa
//       [--token_file=worker.token] [--tls_ca=ca.pem]
//
// SIGINT/SIGTERM drain the node: its trainers checkpoint and stop (SIGKILL after
// --drain_grace_s), their ends are reported and the worker deregisters before exiting; the
// coordinator resumes their phases elsewhere from those checkpoints.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "trainer/common/grpc_channel.h"
#include "trainer/common/stop_signals.h"
#include "worker/nvml_devices.h"
#include "worker/rapl_counter.h"
#include "worker/worker_agent.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070", "The coordinator's host:port.");
ABSL_FLAG(std::string, token_file, "", "File holding this worker's bearer token (role worker).");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle to verify the coordinator's TLS certificate.");
ABSL_FLAG(std::string, hostname, "", "Node name to register under; default: the host name.");
ABSL_FLAG(std::string, address, "127.0.0.1",
          "Address other nodes' trainers reach this node's trainers at.");
ABSL_FLAG(std::string, gpus, "auto",
          "auto: offer the node's NVIDIA GPUs (found through NVML) if it has any, else CPU "
          "slots; none: CPU slots only.");
ABSL_FLAG(int, cpu_slots, 1, "CPU device slots to offer (one trainer rank each).");
ABSL_FLAG(int, threads_per_slot, 0, "Intra-op threads per trainer; 0 = cores / slots.");
ABSL_FLAG(std::string, trainer, "",
          "The ofa-trainer binary; default: ofa-trainer next to this binary.");
ABSL_FLAG(std::string, storage_root, "ofa-storage",
          "Checkpoints and exports (shared by all workers in a multi-node setup).");
ABSL_FLAG(std::string, data_root, ".", "Root that relative dataset paths resolve under.");
ABSL_FLAG(std::string, work_dir, "",
          "This worker's own files (task specs, logs); default: <storage_root>/workers/<host>.");
ABSL_FLAG(double, stop_grace_s, 10, "Seconds a cancelled trainer has to end after SIGTERM.");
ABSL_FLAG(double, drain_grace_s, 60,
          "On SIGTERM (node drain): seconds the trainers have to checkpoint and exit. Keep it "
          "10-20 s under the pod's terminationGracePeriodSeconds.");
ABSL_FLAG(double, silence_limit_s, 1800, "Kill a trainer whose progress is silent this long.");
ABSL_FLAG(int, collective_timeout_s, 60, "Trainers' collective timeout.");
ABSL_FLAG(double, cpu_watts_per_core, 6.0,
          "CPU power model (used only where RAPL cannot be read): full-load watts per core.");
ABSL_FLAG(std::string, powercap_root, "/sys/class/powercap",
          "Where the RAPL energy counters are (Linux powercap).");

namespace {

std::string DefaultHostname() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  std::string host = absl::AsciiStrToLower(name);
  for (char& c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '-';
  }
  return host.empty() ? "localhost" : host;
}

absl::Status Run() {
  ofa::worker::WorkerAgent::Options options;
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  if (!absl::GetFlag(FLAGS_token_file).empty()) {
    absl::StatusOr<std::string> token =
        ofa::ReadTokenFile(absl::GetFlag(FLAGS_token_file), "token_file");
    if (!token.ok()) return token.status();
    options.token = *std::move(token);
  }
  options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.hostname =
      absl::GetFlag(FLAGS_hostname).empty() ? DefaultHostname() : absl::GetFlag(FLAGS_hostname);
  options.address = absl::GetFlag(FLAGS_address);
  const int cpu_slots = absl::GetFlag(FLAGS_cpu_slots);
  if (cpu_slots < 1 || cpu_slots > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cpu_slots=", cpu_slots, ": must be between 1 and 64"));
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  options.threads_per_slot = absl::GetFlag(FLAGS_threads_per_slot) > 0
                                 ? absl::GetFlag(FLAGS_threads_per_slot)
                                 : std::max(1, cores / cpu_slots);
  const std::string gpus = absl::GetFlag(FLAGS_gpus);
  if (gpus != "auto" && gpus != "none") {
    return absl::InvalidArgumentError(absl::StrCat("--gpus=", gpus, ": auto or none"));
  }
  if (gpus == "auto") {
    absl::StatusOr<std::vector<ofa::v1::Device>> found = ofa::worker::DiscoverNvidiaGpus();
    if (found.ok()) {
      options.devices = *std::move(found);
    } else {
      absl::FPrintF(stderr, "ofa-worker: no GPUs offered (%s); offering %d CPU slot(s)\n",
                    found.status().message(), cpu_slots);
    }
  }
  options.cpu_watts_per_core = absl::GetFlag(FLAGS_cpu_watts_per_core);
  if (!(options.cpu_watts_per_core > 0 && options.cpu_watts_per_core <= 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cpu_watts_per_core=", options.cpu_watts_per_core, ": must be in (0, 100]"));
  }
  options.powercap_root = absl::GetFlag(FLAGS_powercap_root);
  if (options.devices.empty()) {
    const bool rapl = ofa::worker::OpenRaplDomains(options.powercap_root).ok();
    for (int i = 0; i < cpu_slots; ++i) {
      ofa::v1::Device& d = options.devices.emplace_back();
      d.set_index(i);
      d.set_kind(ofa::v1::DEVICE_KIND_CPU);
      d.set_name(absl::StrFormat("cpu slot (%d thread(s))", options.threads_per_slot));
      d.set_power_limit_watts(options.threads_per_slot * options.cpu_watts_per_core);
      d.set_energy_counter(rapl);
    }
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  options.trainer_binary = absl::GetFlag(FLAGS_trainer);
  if (options.trainer_binary.empty()) {
    options.trainer_binary = (fs::read_symlink("/proc/self/exe", ec).parent_path().parent_path() /
                              "trainer" / "ofa-trainer")
                                 .string();
    if (!fs::exists(options.trainer_binary)) {
      options.trainer_binary =
          (fs::read_symlink("/proc/self/exe", ec).parent_path() / "ofa-trainer").string();
    }
  }
  if (access(options.trainer_binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("the trainer binary ", options.trainer_binary,
                                            " is not executable; pass --trainer=PATH"));
  }
  options.storage_root = fs::absolute(absl::GetFlag(FLAGS_storage_root), ec).string();
  options.data_root = fs::absolute(absl::GetFlag(FLAGS_data_root), ec).string();
  options.work_dir = absl::GetFlag(FLAGS_work_dir).empty()
                         ? (fs::path(options.storage_root) / "workers" / options.hostname).string()
                         : fs::absolute(absl::GetFlag(FLAGS_work_dir), ec).string();
  fs::create_directories(options.work_dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", options.work_dir));
  options.stop_grace = absl::Seconds(absl::GetFlag(FLAGS_stop_grace_s));
  const double drain_grace = absl::GetFlag(FLAGS_drain_grace_s);
  if (!(drain_grace >= 0 && drain_grace <= 3600)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--drain_grace_s=", drain_grace, ": must be in [0, 3600]"));
  }
  options.drain_grace = absl::Seconds(drain_grace);
  options.silence_limit = absl::Seconds(absl::GetFlag(FLAGS_silence_limit_s));
  options.collective_timeout_s = absl::GetFlag(FLAGS_collective_timeout_s);

  static std::atomic<bool> stop{false};
  std::thread waiter([] {
    ofa::WaitForStopSignal();
    stop = true;
  });
  waiter.detach();
  ofa::worker::WorkerAgent agent(options);
  return agent.Run(stop);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("The ofa-train node agent. --coordinator=HOST:PORT --cpu_slots=N");
  absl::ParseCommandLine(argc, argv);
  ofa::BlockStopSignals();  // A thread of Run() waits for them.
  if (absl::Status s = Run(); !s.ok()) {
    absl::FPrintF(stderr, "ofa-worker: %s\n", s.ToString());
    return 2;
  }
  return 0;
}
