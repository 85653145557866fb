// Training-step throughput of each progressive-shrinking phase, on CPU.
//
//   bazel run -c opt //tests/bench:trainer_step_bench -- [--preset=ofa_mbv3_w1.0]
//       [--resolution=32] [--batch=64] [--threads=2] [--steps=20]
//
// Prints one row per phase kind (full, elastic kernel, elastic depth, elastic expand, with the
// paper's sub-nets per step and distillation) with images/s of this project's step
// (AccumulateGradients + SGD step, exactly what PhaseTrainer runs) and of the same step with
// LibTorch's native depthwise backward, their ratio, and the process's peak RSS so far. The
// two are measured alternately for several rounds and the medians shown, because the
// machines this runs on are shared and noisy.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "trainer/nn/depthwise_conv_function.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/train/train_step.h"

ABSL_FLAG(std::string, preset, "ofa_mbv3_w1.0", "Supernet preset.");
ABSL_FLAG(int, resolution, 32, "Input resolution (pixels).");
ABSL_FLAG(int, batch, 64, "Images per step.");
ABSL_FLAG(int, threads, 2, "Intra-op threads.");
ABSL_FLAG(int, steps, 10, "Timed steps per measurement (after 3 warm-up steps).");
ABSL_FLAG(int, rounds, 3,
          "Measurements per implementation, alternating ours/native; the median is shown.");

namespace ofa::trainer {
namespace {

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double ImagesPerSecond(OfaSupernet& model, OfaSupernet& teacher, const Batch& batch,
                       const ofa::v1::PhaseSpec& phase, int steps) {
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(0.01).momentum(0.9).nesterov(true));
  auto run = [&](int64_t step) {
    optimizer.zero_grad();
    const StepContext context{.seed = 1, .phase_index = 1, .step = step};
    if (!AccumulateGradients(model, teacher, batch, phase, context).ok()) std::abort();
    optimizer.step();
  };
  for (int i = 0; i < 3; ++i) run(i);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) run(100 + i);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return steps * batch.images.size(0) / seconds;
}

int Main() {
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  ofa::v1::SupernetSpec spec;
  spec.set_preset(absl::GetFlag(FLAGS_preset));
  spec.add_resolutions(absl::GetFlag(FLAGS_resolution));
  absl::StatusOr<SupernetArchitecture> arch = SupernetArchitecture::FromSpec(spec);
  if (!arch.ok()) {
    absl::FPrintF(stderr, "%s\n", arch.status().ToString());
    return 2;
  }
  const SupernetPreset* preset = *FindSupernetPreset(spec.preset());
  absl::StatusOr<ofa::v1::SupernetSpec> resolved = ResolveSupernet(spec);
  const std::vector<ofa::v1::PhaseSpec> phases = DefaultSchedule(*preset, *resolved, false);

  torch::manual_seed(0);
  OfaSupernet model(*arch);
  OfaSupernet teacher(*arch);
  teacher->eval();
  const int r = absl::GetFlag(FLAGS_resolution);
  const Batch batch{torch::randn({absl::GetFlag(FLAGS_batch), arch->input_channels, r, r}),
                    torch::randint(0, arch->num_classes, {absl::GetFlag(FLAGS_batch)})};
  absl::PrintF("%s at %dx%d, batch %d, %d threads, %d timed steps\n", spec.preset(), r, r,
               absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_threads),
               absl::GetFlag(FLAGS_steps));
  absl::PrintF("%-18s %5s %4s %14s %18s %7s %14s\n", "phase", "nets", "kd", "images/s",
               "images/s native dw", "ratio", "peak RSS MiB");
  // One phase per kind: full, elastic kernel, elastic depth (stage 2), elastic expand (stage 2).
  for (const char* name : {"full", "elastic_kernel", "elastic_depth_2", "elastic_expand_2"}) {
    const ofa::v1::PhaseSpec* phase = nullptr;
    for (const auto& p : phases) {
      if (p.name() == name) phase = &p;
    }
    std::vector<double> ours_runs, native_runs;
    for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
      UseNativeDepthwiseBackward(false);
      ours_runs.push_back(ImagesPerSecond(model, teacher, batch, *phase, absl::GetFlag(FLAGS_steps)));
      UseNativeDepthwiseBackward(true);
      native_runs.push_back(
          ImagesPerSecond(model, teacher, batch, *phase, absl::GetFlag(FLAGS_steps)));
    }
    const double ours = Median(ours_runs);
    const double native = Median(native_runs);
    absl::PrintF("%-18s %5d %4.1f %14.1f %18.1f %6.2fx %14.0f\n", name, phase->subnets_per_step(),
                 phase->kd_ratio(), ours, native, ours / native, PeakRssMiB());
  }
  return 0;
}

}  // namespace
}  // namespace ofa::trainer

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ofa::trainer::Main();
}
