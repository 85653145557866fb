// ofa-trainer: runs an OFA job (or, under the coordinator, one rank of one phase).
//
//   ofa-trainer --job_spec=deploy/local/fashion_mnist_job.json [--output_dir=DIR]
//   ofa-trainer --job_spec=... --from_scratch=smallest   # the paper's control experiment
//   ofa-trainer --job_spec=... --local_ranks=2            # data parallel, N CPU ranks here
//   ofa-trainer --job_spec=... --rank=R --world_size=N --store=file:DIR   # one rank of N
//   ofa-trainer --job_spec=... --phase=NAME ...   # one phase (how ofa-worker runs it)
//
// Standalone mode: the whole job in these processes. Running it again with the same
// --output_dir resumes from the newest valid checkpoint.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>


#include <google/protobuf/util/json_util.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "trainer/checkpoint/checkpoint_store.h"
#include "trainer/common/grpc_channel.h"
#include "trainer/common/stop_request.h"
#include "trainer/dist/file_store.h"
#include "trainer/dist/grpc_store.h"
#include "trainer/dist/local_launcher.h"
#include "trainer/nn/standalone_subnet.h"
#include "trainer/nn/supernet_architecture.h"
#include "trainer/onnx/onnx_export.h"
#include "trainer/search/latency_profiler.h"
#include "trainer/spec/job_spec_io.h"
#include "trainer/spec/job_spec_validation.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/spec/scratch_baseline.h"
#include "trainer/train/job_runner.h"
#include "trainer/train/progress_reporter.h"

ABSL_FLAG(std::string, job_spec, "", "Job spec file (.json, .textproto or .pbtxt).");
ABSL_FLAG(bool, plan_only, false, "Validate the spec, print the phase plan and exit.");
ABSL_FLAG(std::string, output_dir, "",
          "Where checkpoints and exports go; default ofa-output/<job name>. Reusing it resumes.");
ABSL_FLAG(std::string, data_root, ".", "Root for relative dataset paths in the spec.");
ABSL_FLAG(int, threads, 0, "Intra-op threads; 0 = the spec's setting, else all cores.");
ABSL_FLAG(std::string, progress_file, "",
          "Also append progress as JSON lines to this file (machine-readable channel).");
ABSL_FLAG(int64_t, checkpoint_every_steps, 0,
          "Periodic checkpoint every N steps (0 = the spec's policy, by default every 10 min).");
ABSL_FLAG(std::string, from_scratch, "",
          "Instead of the job, train its \"smallest\" or \"largest\" sub-network alone from "
          "scratch for the schedule's total epochs (the baseline OFA is compared with).");
ABSL_FLAG(int, calibration_batches, 20, "BN recalibration batches per evaluation.");
ABSL_FLAG(int, local_ranks, 0,
          "Data parallel on this machine: start this many CPU ranks (processes) of the job, "
          "meeting through a fresh file store under the output directory.");
ABSL_FLAG(int, rank, 0, "This process's rank among --world_size data-parallel ranks.");
ABSL_FLAG(int, world_size, 1, "Data-parallel ranks of the job (each on its own data shard).");
ABSL_FLAG(std::string, store, "",
          "Where the ranks meet: file:DIR (a directory all ranks see) or grpc:HOST:PORT (the "
          "coordinator's rendezvous service; its token and TLS CA file come from the "
          "environment variables OFA_TOKEN and OFA_TLS_CA). Required when --world_size > 1.");
ABSL_FLAG(int64_t, attempt, 0,
          "Attempt number; ranks of one attempt meet under it, so a restart uses a new one.");
ABSL_FLAG(std::string, phase, "",
          "Run only this phase (the earlier ones must be done): how ofa-worker runs a "
          "scheduled phase. Default: the whole job.");
ABSL_FLAG(std::string, job_id, "",
          "The job's id for the rendezvous scope (the coordinator's); default: the spec's name.");
ABSL_FLAG(std::string, device, "cpu", "The rank's device: cpu (cuda:N is not supported yet).");
ABSL_FLAG(std::string, listen_host, "127.0.0.1",
          "Address this rank's Gloo connections listen on (the host's address across nodes).");
ABSL_FLAG(std::string, profile_latency, "",
          "Measure the per-layer latencies of the job's supernet on --device and write them as "
          "a LatencyTable (JSON) to this file, then exit; add it to the spec's latency_tables.");
ABSL_FLAG(std::string, latency_table_name, "profiled", "Name of the table --profile_latency writes.");
ABSL_FLAG(int, latency_batch_size, 1, "Batch size --profile_latency measures at.");
ABSL_FLAG(std::string, export_onnx, "",
          "Write the sub-network exported in --subnet_dir (architecture.json + weights.pt, as "
          "a job's export/<target>/) as an ONNX model to this file, then exit.");
ABSL_FLAG(std::string, subnet_dir, "", "The exported sub-network --export_onnx converts.");
ABSL_FLAG(int, onnx_batch_size, 0, "--export_onnx's batch dimension: 0 = dynamic, N = fixed.");
ABSL_FLAG(int, collective_timeout_s, 60,
          "A collective that does not complete in this many seconds fails the rank.");

namespace {

void PrintPlan(const std::vector<ofa::v1::PhaseSpec>& phases) {
  absl::PrintF("%-18s %-26s %6s %8s %7s %5s %4s  %s\n", "phase", "kind", "epochs", "lr/256",
               "warmup", "nets", "kd", "sampled (kernel | depth | expand)");
  for (const ofa::v1::PhaseSpec& p : phases) {
    // "4s": four sub-nets per step under the sandwich rule.
    absl::PrintF("%-18s %-26s %6d %8.4g %7.3g %5s %4.2g  {%s} | {%s} | {%s}\n", p.name(),
                 ofa::v1::PhaseKind_Name(p.kind()), p.epochs(), p.learning_rate(),
                 p.warmup_epochs(), absl::StrCat(p.subnets_per_step(), p.sandwich() ? "s" : ""),
                 p.kd_ratio(), absl::StrJoin(p.kernel_sizes(), ","), absl::StrJoin(p.depths(), ","),
                 absl::StrJoin(p.expand_ratios(), ","));
  }
}

absl::StatusOr<std::unique_ptr<ofa::trainer::Store>> OpenStore(const std::string& address) {
  if (absl::StartsWith(address, "file:") && address.size() > 5) {
    return std::make_unique<ofa::trainer::FileStore>(address.substr(5));
  }
  if (absl::StartsWith(address, "grpc:") && address.size() > 5) {
    // The worker hands its token down in the environment (never on the command line, where
    // every user of the machine could read it).
    const char* token = std::getenv("OFA_TOKEN");
    const char* ca_file = std::getenv("OFA_TLS_CA");
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        ofa::OpenCoordinatorChannel(address.substr(5), ca_file == nullptr ? "" : ca_file);
    if (!channel.ok()) return channel.status();
    return std::make_unique<ofa::trainer::GrpcStore>(*channel, token == nullptr ? "" : token);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--store=\"", address,
      "\": expected file:DIR or grpc:HOST:PORT (the coordinator; needed when --world_size > 1)"));
}

// --local_ranks=N: this same program, N times, as ranks 0..N-1 of one attempt, each with its
// share of the cores. Returns when all have ended; if one fails, the others are stopped.
absl::Status LaunchLocal(const std::string& output_dir) {
  const int world = absl::GetFlag(FLAGS_local_ranks);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = absl::GetFlag(FLAGS_threads) > 0 ? absl::GetFlag(FLAGS_threads)
                                                       : std::max(1, cores / world);
  // A fresh store per launch: nothing left by an earlier, failed launch is ever read.
  const std::string store_dir = absl::StrCat(
      output_dir, "/rendezvous/", absl::FormatTime("%Y%m%dT%H%M%S", absl::Now(),
                                                   absl::UTCTimeZone()),
      "-", getpid());
  absl::PrintF("launching %d ranks on this machine, %d thread(s) each, store %s\n", world,
               threads, store_dir);
  std::fflush(stdout);
  ofa::trainer::LaunchOptions launch;
  launch.world_size = world;
  launch.command = [&](int rank) {
    std::vector<std::string> args = {"/proc/self/exe"};
    for (const char* flag : {"job_spec", "data_root", "progress_file", "from_scratch", "phase"}) {
      std::string value;
      absl::CommandLineFlag* f = absl::FindCommandLineFlag(flag);
      if (f != nullptr && !(value = f->CurrentValue()).empty()) {
        args.push_back(absl::StrCat("--", flag, "=", value));
      }
    }
    args.push_back("--output_dir=" + output_dir);
    args.push_back(absl::StrCat("--threads=", threads));
    args.push_back(absl::StrCat("--checkpoint_every_steps=",
                                absl::GetFlag(FLAGS_checkpoint_every_steps)));
    args.push_back(absl::StrCat("--calibration_batches=",
                                absl::GetFlag(FLAGS_calibration_batches)));
    args.push_back(absl::StrCat("--collective_timeout_s=",
                                absl::GetFlag(FLAGS_collective_timeout_s)));
    args.push_back(absl::StrCat("--rank=", rank));
    args.push_back(absl::StrCat("--world_size=", world));
    args.push_back("--store=file:" + store_dir);
    return args;
  };
  absl::StatusOr<std::vector<ofa::trainer::RankExit>> exits =
      ofa::trainer::LaunchLocalRanks(launch);
  if (!exits.ok()) return exits.status();
  std::string failures;
  for (size_t rank = 0; rank < exits->size(); ++rank) {
    if ((*exits)[rank].exit_code != 0) {
      absl::StrAppend(&failures, failures.empty() ? "" : "; ", "rank ", rank, ": ",
                      ofa::trainer::DescribeExit((*exits)[rank]));
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(store_dir, ignored);
  if (!failures.empty()) {
    return absl::AbortedError(absl::StrCat("data-parallel run failed (", failures,
                                           "); run the same command again to resume"));
  }
  return absl::OkStatus();
}

// --profile_latency: the latency table of the spec's supernet on this device.
absl::Status ProfileLatency(const ofa::v1::JobSpec& spec, const std::string& out_path) {
  absl::StatusOr<ofa::trainer::SupernetArchitecture> arch =
      ofa::trainer::SupernetArchitecture::FromSpec(spec.supernet());
  if (!arch.ok()) return arch.status();
  if (absl::GetFlag(FLAGS_threads) > 0) torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  torch::Device device = torch::kCPU;
  try {
    device = torch::Device(absl::GetFlag(FLAGS_device));
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device=", absl::GetFlag(FLAGS_device), ": expected cpu or cuda:N"));
  }
  absl::StatusOr<ofa::v1::LatencyTable> table = ofa::trainer::ProfileLatencyTable(
      *arch, {.name = absl::GetFlag(FLAGS_latency_table_name),
              .batch_size = absl::GetFlag(FLAGS_latency_batch_size),
              .device = device,
              .on_layer = [](int done, int total) {
                if (done % 20 == 0 || done == total) {
                  absl::FPrintF(stderr, "profiled %d/%d layers\n", done, total);
                }
              }});
  if (!table.ok()) return table.status();
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(*table, &json, options);
  std::ofstream out(out_path, std::ios::trunc);
  out << json;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", out_path));
  absl::PrintF("wrote %d layer latencies (%s, batch %d) to %s\n", table->layer_ms_size(),
               table->device(), table->batch_size(), out_path);
  return absl::OkStatus();
}

// --export_onnx: an exported sub-network as an ONNX model (no job spec needed).
absl::Status ExportOnnx(const std::string& out_path) {
  const std::string dir = absl::GetFlag(FLAGS_subnet_dir);
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        "--export_onnx needs --subnet_dir, the directory of an exported sub-network (a job's "
        "export/<target>/)");
  }
  absl::StatusOr<ofa::trainer::StandaloneSubnet> subnet = ofa::trainer::LoadStandaloneSubnet(dir);
  if (!subnet.ok()) return subnet.status();
  ofa::trainer::OnnxExportOptions options{.batch_size = absl::GetFlag(FLAGS_onnx_batch_size)};
  if (!absl::GetFlag(FLAGS_job_id).empty()) {
    options.metadata["job_id"] = absl::GetFlag(FLAGS_job_id);
  }
  if (absl::Status s = ofa::trainer::WriteOnnxModel(*subnet, options, out_path); !s.ok()) return s;
  absl::StatusOr<std::string> sha = ofa::trainer::Sha256OfFile(out_path);
  if (!sha.ok()) return sha.status();
  absl::PrintF("wrote %s (ONNX opset %d, batch %s, checked), sha256 %s\n", out_path,
               ofa::trainer::kOnnxOpset,
               options.batch_size > 0 ? absl::StrCat(options.batch_size) : "dynamic", *sha);
  return absl::OkStatus();
}

absl::Status Run() {
  if (!absl::GetFlag(FLAGS_export_onnx).empty()) {
    return ExportOnnx(absl::GetFlag(FLAGS_export_onnx));
  }
  const std::string path = absl::GetFlag(FLAGS_job_spec);
  if (path.empty()) return absl::InvalidArgumentError("--job_spec is required");
  absl::StatusOr<ofa::v1::JobSpec> spec = ofa::trainer::ReadJobSpecFile(path);
  if (!spec.ok()) return spec.status();
  if (absl::Status valid = ofa::trainer::ValidateJobSpec(*spec); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", valid.message()));
  }
  const std::string from_scratch = absl::GetFlag(FLAGS_from_scratch);
  if (!from_scratch.empty()) {
    spec = ofa::trainer::ScratchBaselineJob(*spec, from_scratch);
    if (!spec.ok()) return spec.status();
    absl::PrintF("from-scratch baseline: only the %s sub-network is trained; the other "
                 "column of the summary is untrained and meaningless\n", from_scratch);
  }
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ofa::trainer::ResolveSchedule(*spec);
  if (!phases.ok()) return phases.status();
  const int rank = absl::GetFlag(FLAGS_rank);
  // Ranks of a data-parallel run leave the plan to whoever started them.
  if (absl::GetFlag(FLAGS_world_size) == 1) {
    absl::PrintF("job \"%s\": supernet %s, %d phases\n", spec->name(),
                 spec->supernet().preset(), phases->size());
    PrintPlan(*phases);
  }
  if (absl::GetFlag(FLAGS_plan_only)) return absl::OkStatus();
  if (!absl::GetFlag(FLAGS_profile_latency).empty()) {
    return ProfileLatency(*spec, absl::GetFlag(FLAGS_profile_latency));
  }

  if (absl::GetFlag(FLAGS_device) != "cpu") {
    return absl::UnimplementedError(absl::StrCat(
        "--device=", absl::GetFlag(FLAGS_device),
        ": training on CUDA devices is not implemented yet (the NCCL communicator is; the "
        "trainer's tensors still live on the CPU)"));
  }
  std::string output_dir = absl::GetFlag(FLAGS_output_dir);
  if (output_dir.empty()) {
    std::string safe = spec->name();
    for (char& c : safe) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    }
    output_dir = "ofa-output/" + safe;
  }
  if (absl::GetFlag(FLAGS_local_ranks) < 0 || absl::GetFlag(FLAGS_local_ranks) > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--local_ranks=", absl::GetFlag(FLAGS_local_ranks), ": must be between 0 and 64"));
  }
  if (absl::GetFlag(FLAGS_local_ranks) > 0) return LaunchLocal(output_dir);

  const int world_size = absl::GetFlag(FLAGS_world_size);
  std::unique_ptr<ofa::trainer::Store> store;
  if (world_size > 1) {
    absl::StatusOr<std::unique_ptr<ofa::trainer::Store>> opened =
        OpenStore(absl::GetFlag(FLAGS_store));
    if (!opened.ok()) return opened.status();
    store = *std::move(opened);
  }
  // Rank 0 speaks for the job; the others report only to their progress file.
  std::string progress_file = absl::GetFlag(FLAGS_progress_file);
  if (rank > 0 && !progress_file.empty()) progress_file += absl::StrCat(".rank", rank);
  ofa::trainer::ProgressReporter progress(rank == 0 ? stderr : nullptr, progress_file);
  ofa::trainer::JobRunOptions options;
  options.output_dir = output_dir;
  options.data_root = absl::GetFlag(FLAGS_data_root);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.checkpoint_every_steps = absl::GetFlag(FLAGS_checkpoint_every_steps);
  options.calibration_batches = absl::GetFlag(FLAGS_calibration_batches);
  options.progress = &progress;
  options.rank = rank;
  options.world_size = world_size;
  options.store = store.get();
  options.attempt = absl::GetFlag(FLAGS_attempt);
  options.only_phase = absl::GetFlag(FLAGS_phase);
  options.job_id = absl::GetFlag(FLAGS_job_id);
  options.listen_host = absl::GetFlag(FLAGS_listen_host);
  options.collective_timeout = absl::Seconds(absl::GetFlag(FLAGS_collective_timeout_s));
  // SIGTERM (a draining ofa-worker) or Ctrl-C: checkpoint at the next step, exit 75.
  options.stop_requested = &ofa::InstallStopRequestHandler();
  absl::StatusOr<std::vector<ofa::trainer::PhaseSummary>> summaries =
      ofa::trainer::RunJob(*spec, options);
  if (!summaries.ok()) return summaries.status();
  if (rank > 0) return absl::OkStatus();

  absl::PrintF("\n%-18s %8s %10s %14s %14s  %s\n", "phase", "steps", "seconds",
               "largest top-1", "smallest top-1", "note");
  double total_seconds = 0;
  for (const ofa::trainer::PhaseSummary& p : *summaries) {
    total_seconds += p.seconds;
    auto pct = [](double v) { return v < 0 ? std::string("-") : absl::StrFormat("%.2f%%", 100 * v); };
    absl::PrintF("%-18s %8d %10.1f %14s %14s  %s\n", p.name, p.steps, p.seconds,
                 pct(p.largest_top1), pct(p.smallest_top1), p.note);
  }
  absl::PrintF("training time this run: %.1f s; output: %s\n", total_seconds, output_dir);
  for (const ofa::trainer::PhaseSummary& p : *summaries) {
    if (p.subnets.empty()) continue;
    absl::PrintF("\n%-16s %10s %10s %10s %10s %10s %10s  %s\n", "target", "MACs", "params",
                 "latency", "predicted", "valid.", "test", "exported to");
    for (const ofa::v1::Subnet& s : p.subnets) {
      absl::PrintF("%-16s %9.2fM %9.3fM %8.3gms %9.2f%% %9.2f%% %9.2f%%  %s/%s\n", s.target(),
                   s.cost().macs() / 1e6, s.cost().params() / 1e6, s.latency_ms(),
                   100 * s.predicted_top1(), 100 * s.validation_top1(), 100 * s.measured_top1(),
                   output_dir, s.weights_path());
    }
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Trains a once-for-all supernet. --job_spec=FILE [--plan_only]");
  absl::ParseCommandLine(argc, argv);
  absl::Status status;
  try {
    status = Run();
  } catch (const std::exception& e) {
    // LibTorch and the data loader report some failures (e.g. an undecodable image met
    // during an evaluation) as exceptions: still a clean error, never an abort.
    status = absl::InternalError(e.what());
  }
  if (!status.ok()) {
    absl::FPrintF(stderr, "ofa-trainer: %s\n", status.ToString());
    if (status.code() == absl::StatusCode::kCancelled) return ofa::kExitStoppedOnRequest;
    return status.code() == absl::StatusCode::kUnimplemented ? 3 : 2;
  }
  return 0;
}
