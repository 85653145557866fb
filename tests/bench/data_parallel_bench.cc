// Data-parallel costs on this machine, with real rank processes on loopback (Gloo):
//
//   bazel run -c opt //tests/bench:data_parallel_bench -- [--ranks=2] [--iterations=20]
//
// 1. All-reduce: the gradient reducer (copy into buckets, bucket all-reduces on the
//    communication thread, copy back) against the raw backend call on the same buckets, for
//    the parameter lists of two supernets; bus bandwidth = 2 (n-1)/n x bytes / time, and the
//    reducer's overhead. Both are measured alternately and the medians shown.
// 2. Training: images/s of N ranks (each on 1/N of the batch, cores/N threads) against one
//    rank with all cores on the whole batch, alternating for --rounds, and the share of
//    all-reduce time hidden behind backward.
// Each rank re-executes this binary (--role=...); rank 0 writes its numbers to a file.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "trainer/common/heap_retention.h"
#include "trainer/dist/file_store.h"
#include "trainer/dist/gloo_communicator.h"
#include "trainer/dist/gradient_reducer.h"
#include "trainer/dist/local_launcher.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/train/train_step.h"

ABSL_FLAG(int, ranks, 2, "Data-parallel ranks.");
ABSL_FLAG(int, iterations, 20, "Timed iterations per measurement.");
ABSL_FLAG(int, rounds, 3, "Alternating rounds of the training measurement.");
ABSL_FLAG(int, batch, 128, "Global batch of the training measurement.");
ABSL_FLAG(std::string, only, "", "Run only this measurement: allreduce or train.");
ABSL_FLAG(std::string, role, "", "Internal: KIND,RANK,WORLD,DIR of a rank process.");

namespace ofa::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

SupernetArchitecture Arch(const std::string& preset, int resolution) {
  ofa::v1::SupernetSpec spec;
  spec.set_preset(preset);
  spec.add_resolutions(resolution);
  return SupernetArchitecture::FromSpec(spec).value();
}

std::unique_ptr<GlooCommunicator> Connect(int rank, int world, const std::string& dir,
                                          const std::string& kind) {
  FileStore store(dir + "/store");  // Only needed while connecting.
  auto comm = GlooCommunicator::Connect(store, {.rank = rank,
                                                 .world_size = world,
                                                 .scope = RendezvousScope("bench", kind, 0)});
  if (!comm.ok()) {
    std::fprintf(stderr, "%s\n", comm.status().ToString().c_str());
    std::exit(3);
  }
  return *std::move(comm);
}

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(3);
  }
}

// Rank side of measurement 1: one line per supernet, "name bytes raw_s reducer_s buckets".
void AllReduceRank(int rank, int world, const std::string& dir, std::FILE* out) {
  torch::set_num_threads(1);
  std::unique_ptr<GlooCommunicator> comm = Connect(rank, world, dir, "allreduce");
  const int iterations = absl::GetFlag(FLAGS_iterations);
  for (const auto& [preset, resolution] : {std::pair{"ofa_small_28", 28},
                                           std::pair{"ofa_mbv3_w1.0", 224}}) {
    OfaSupernet model(Arch(preset, resolution));
    std::vector<torch::Tensor> parameters = model->parameters();
    int64_t bytes = 0;
    for (torch::Tensor& p : parameters) {
      p.mutable_grad() = torch::randn_like(p);
      bytes += p.numel() * 4;
    }
    GradientReducer reducer(parameters, *comm, {});
    std::vector<torch::Tensor> raw;
    for (int b = 0; b < reducer.num_buckets(); ++b) {
      raw.push_back(torch::randn({reducer.bucket_numel(b)}));
    }
    std::vector<double> raw_s, reducer_s;
    for (int i = 0; i < iterations + 2; ++i) {
      Clock::time_point start = Clock::now();
      Check(comm->AllReduce(raw, ReduceOp::kAverage));
      const double r = Seconds(start);
      start = Clock::now();
      reducer.PrepareForBackward(torch::Tensor());  // No backward: every gradient is ready.
      Check(reducer.FinishBackward());
      const double d = Seconds(start);
      if (i >= 2) {  // Warm-up: connections, allocations.
        raw_s.push_back(r);
        reducer_s.push_back(d);
      }
    }
    if (out != nullptr) {
      absl::FPrintF(out, "%s %d %.9f %.9f %d\n", preset, bytes, Median(raw_s),
                    Median(reducer_s), reducer.num_buckets());
    }
  }
  // The stop flag every rank all-reduces once per step (graceful stop on a node drain).
  std::vector<torch::Tensor> flag = {torch::zeros({1})};
  std::vector<double> flag_s;
  for (int i = 0; i < iterations + 2; ++i) {
    const Clock::time_point start = Clock::now();
    Check(comm->AllReduce(flag, ReduceOp::kSum));
    if (i >= 2) flag_s.push_back(Seconds(start));
  }
  if (out != nullptr) absl::FPrintF(out, "stop-flag 4 %.9f\n", Median(flag_s));
}

// Rank side of measurement 2: "phase images_per_s hidden_fraction" per phase.
void TrainRank(int rank, int world, const std::string& dir, std::FILE* out) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(std::max(1, cores / world));
  std::unique_ptr<GlooCommunicator> comm;
  if (world > 1) comm = Connect(rank, world, dir, "train");
  const SupernetArchitecture arch = Arch("ofa_small_28", 28);
  const SupernetPreset* preset = *FindSupernetPreset("ofa_small_28");
  ofa::v1::SupernetSpec supernet;
  supernet.set_preset("ofa_small_28");
  const std::vector<ofa::v1::PhaseSpec> phases =
      DefaultSchedule(*preset, ResolveSupernet(supernet).value(), false);
  torch::manual_seed(0);
  OfaSupernet model(arch);
  OfaSupernet teacher(arch);
  teacher->eval();
  const int64_t batch_size = absl::GetFlag(FLAGS_batch) / world;
  const Batch batch{torch::randn({batch_size, 1, 28, 28}), torch::randint(0, 10, {batch_size})};
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  for (const char* name : {"full", "elastic_depth_2"}) {
    const ofa::v1::PhaseSpec* phase = nullptr;
    for (const auto& p : phases) {
      if (p.name() == name) phase = &p;
    }
    std::unique_ptr<GradientReducer> reducer;
    if (comm) reducer = std::make_unique<GradientReducer>(model->parameters(), *comm,
                                                          GradientReducer::Options{});
    auto step = [&](int64_t s) {
      ZeroGradients(model->parameters());
      StepContext context{.seed = 1, .phase_index = 1, .step = s, .first_shard = rank,
                          .reducer = reducer.get()};
      Check(AccumulateGradients(model, teacher, batch, *phase, context).status());
      optimizer.step();
    };
    for (int i = 0; i < 10; ++i) step(i);
    const GradientReducer::Stats before = reducer ? reducer->stats() : GradientReducer::Stats{};
    const Clock::time_point start = Clock::now();
    const int iterations = absl::GetFlag(FLAGS_iterations);
    for (int i = 0; i < iterations; ++i) step(100 + i);
    const double seconds = Seconds(start);
    double hidden = 0;
    if (reducer) {
      const double comm_s = reducer->stats().communication_seconds - before.communication_seconds;
      const double exposed = reducer->stats().exposed_seconds - before.exposed_seconds;
      hidden = comm_s > 0 ? 1 - exposed / comm_s : 0;
    }
    if (out != nullptr) {
      absl::FPrintF(out, "%s %.3f %.4f\n", name, iterations * batch_size * world / seconds,
                    hidden);
    }
  }
}

std::vector<std::vector<std::string>> Launch(const std::string& kind, int world,
                                             const std::string& dir) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  LaunchOptions launch;
  launch.world_size = world;
  launch.command = [&](int rank) {
    return std::vector<std::string>{"/proc/self/exe",
                                    absl::StrCat("--role=", kind, ",", rank, ",", world, ",", dir),
                                    absl::StrCat("--iterations=", absl::GetFlag(FLAGS_iterations)),
                                    absl::StrCat("--batch=", absl::GetFlag(FLAGS_batch))};
  };
  absl::StatusOr<std::vector<RankExit>> exits = LaunchLocalRanks(launch);
  if (!exits.ok() || (*exits)[0].exit_code != 0) {
    std::fprintf(stderr, "%s ranks failed\n", kind.c_str());
    std::exit(1);
  }
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(dir + "/result");
  for (std::string line; std::getline(in, line);) rows.push_back(absl::StrSplit(line, ' '));
  return rows;
}

int Main() {
  const int world = absl::GetFlag(FLAGS_ranks);
  const std::string dir = (std::filesystem::temp_directory_path() /
                           absl::StrCat("ofa_dp_bench_", getpid())).string();
  const std::string only = absl::GetFlag(FLAGS_only);
  if (only != "train") {
  absl::PrintF("All-reduce of one step's gradients, %d Gloo ranks on loopback, median of %d\n",
               world, absl::GetFlag(FLAGS_iterations));
  absl::PrintF("%-14s %9s %8s %10s %10s %12s %12s %9s\n", "parameters", "MB", "buckets",
               "raw ms", "reducer ms", "raw GB/s", "reducer GB/s", "overhead");
  for (const auto& row : Launch("allreduce", world, dir)) {
    if (row[0] == "stop-flag") {
      absl::PrintF("stop flag (1 float, all-reduced once per training step): %s ms\n",
                   absl::StrFormat("%.3f", std::stod(row[2]) * 1e3));
      continue;
    }
    double bytes = 0, raw = 0, reduced = 0;
    absl::SimpleAtod(row[1], &bytes);
    absl::SimpleAtod(row[2], &raw);
    absl::SimpleAtod(row[3], &reduced);
    const double bus = 2.0 * (world - 1) / world * bytes / 1e9;
    absl::PrintF("%-14s %9.2f %8s %10.2f %10.2f %12.3f %12.3f %8.1f%%\n", row[0], bytes / 1e6,
                 row[4], raw * 1e3, reduced * 1e3, bus / raw, bus / reduced,
                 100 * (reduced / raw - 1));
  }
  }
  if (only == "allreduce") return 0;
  // The two set-ups alternate for several rounds (medians shown): this machine is shared and
  // its speed drifts by 2x between runs.
  const int rounds = absl::GetFlag(FLAGS_rounds);
  std::vector<std::string> phases;
  std::vector<std::vector<double>> one_rate, many_rate, hidden;
  for (int round = 0; round < rounds; ++round) {
    const auto one = Launch("train", 1, dir + "_1");
    const auto many = Launch("train", world, dir + "_n");
    for (size_t i = 0; i < one.size() && i < many.size(); ++i) {
      if (round == 0) {
        phases.push_back(one[i][0]);
        one_rate.emplace_back();
        many_rate.emplace_back();
        hidden.emplace_back();
      }
      double a = 0, b = 0, h = 0;
      absl::SimpleAtod(one[i][1], &a);
      absl::SimpleAtod(many[i][1], &b);
      absl::SimpleAtod(many[i][2], &h);
      one_rate[i].push_back(a);
      many_rate[i].push_back(b);
      hidden[i].push_back(h);
    }
  }
  absl::PrintF("\nTraining ofa_small_28 at 28x28, global batch %d, %d timed steps, median of %d "
               "rounds\n", absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_iterations), rounds);
  absl::PrintF("%-16s %18s %22s %8s %14s\n", "phase", "1 rank img/s",
               absl::StrFormat("%d ranks img/s", world), "ratio", "comm hidden");
  for (size_t i = 0; i < phases.size(); ++i) {
    const double a = Median(one_rate[i]), b = Median(many_rate[i]);
    absl::PrintF("%-16s %18.1f %22.1f %7.2fx %13.0f%%\n", phases[i], a, b, b / a,
                 100 * Median(hidden[i]));
  }
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir + "_1");
  std::filesystem::remove_all(dir + "_n");
  return 0;
}

}  // namespace
}  // namespace ofa::trainer

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  ofa::trainer::RetainFreedHeapMemory();  // as ofa-trainer does
  const std::string role = absl::GetFlag(FLAGS_role);
  if (role.empty()) return ofa::trainer::Main();
  const std::vector<std::string> parts = absl::StrSplit(role, ',');
  int rank = 0, world = 1;
  if (parts.size() != 4 || !absl::SimpleAtoi(parts[1], &rank) ||
      !absl::SimpleAtoi(parts[2], &world)) {
    std::fprintf(stderr, "bad --role=%s\n", role.c_str());
    return 2;
  }
  std::FILE* out = rank == 0 ? std::fopen((parts[3] + "/result").c_str(), "w") : nullptr;
  if (parts[0] == "allreduce") {
    ofa::trainer::AllReduceRank(rank, world, parts[3], out);
  } else {
    ofa::trainer::TrainRank(rank, world, parts[3], out);
  }
  if (out != nullptr) std::fclose(out);
  return 0;
}
