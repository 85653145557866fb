// Training-step throughput of each progressive-shrinking phase, on CPU.
//
//   bazel run -c opt //tests/bench:trainer_step_bench -- [--preset=ofa_mbv3_w1.0]
//       [--resolution=32] [--batch=64] [--threads=2] [--steps=10] [--phases=full,...]
//       [--native_baseline=false] [--retain_freed_memory=false] [--trace=FILE] [--shards=2]
//       [--batch_norm_baseline]
//
// Prints one row per phase kind (full, elastic kernel, elastic depth, elastic expand, with the
// paper's sub-nets per step and distillation) with images/s of this project's step
// (AccumulateGradients + the phase's SGD step, exactly what PhaseTrainer runs) and of the same
// step with LibTorch's native depthwise backward, their ratio, and the process's peak RSS so
// far. The two are measured alternately for several rounds and the medians shown, because the
// machines this runs on are shared and noisy. --shards=N adds the step with the batch cut into
// N shards that train concurrently (resources.cpu_batch_shards), alternating with the others.
// --batch_norm_baseline adds the same steps (one shard, and N shards) with LibTorch's batch norm
// and separate activations instead of FusedBatchNormActivation, and the ratios.
// compare_with_authors.py runs this binary with --native_baseline=false, one phase per
// process, beside the OFA authors' PyTorch step.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "trainer/common/heap_retention.h"
#include "trainer/nn/dynamic_batch_norm.h"
#include "trainer/nn/depthwise_conv_function.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/train/phase_trainer.h"
#include "trainer/train/sgd_optimizer.h"
#include "trainer/train/train_step.h"

ABSL_FLAG(std::string, preset, "ofa_mbv3_w1.0", "Supernet preset.");
ABSL_FLAG(int, resolution, 32, "Input resolution (pixels).");
ABSL_FLAG(int, batch, 64, "Images per step.");
ABSL_FLAG(int, threads, 2, "Intra-op threads.");
ABSL_FLAG(int, steps, 10, "Timed steps per measurement (after 3 warm-up steps).");
ABSL_FLAG(int, rounds, 3,
          "Measurements per implementation, alternating ours/native; the median is shown.");
ABSL_FLAG(std::vector<std::string>, phases,
          std::vector<std::string>({"full", "elastic_kernel", "elastic_depth_2",
                                    "elastic_expand_2"}),
          "Phases of the default schedule to measure.");
ABSL_FLAG(bool, native_baseline, true,
          "Also measure LibTorch's native depthwise backward, for the ratio column.");
ABSL_FLAG(bool, retain_freed_memory, true,
          "Keep freed memory in the heap, as ofa-trainer does (RetainFreedHeapMemory); false "
          "measures glibc's defaults.");
ABSL_FLAG(int, shards, 1,
          "If above 1, also measure the step with the batch cut into this many shards, run in "
          "turn (resources.cpu_batch_shards), and its ratio to one shard.");
ABSL_FLAG(bool, batch_norm_baseline, false,
          "Also measure the step with LibTorch's batch norm and activations (SetCpuBatchNorm), "
          "for the fused kernel's ratio columns.");
ABSL_FLAG(std::string, trace, "",
          "If set, profile 3 more steps of each phase and write LibTorch's chrome trace of them "
          "to TRACE.PHASE.json.");

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
                       const ofa::v1::PhaseSpec& phase, int steps, int shards = 1) {
  const PhaseRunConfig defaults;
  std::unique_ptr<torch::optim::SGD> optimizer =
      MakeSgdOptimizer(model, defaults.momentum, defaults.weight_decay);
  SetLearningRate(*optimizer, 0.01);
  auto run = [&](int64_t step) {
    optimizer->zero_grad();
    const StepContext context{.seed = 1,
                              .phase_index = 1,
                              .step = step,
                              .micro_batches = shards,
                              .kernel_threads = absl::GetFlag(FLAGS_threads)};
    if (!AccumulateGradients(model, teacher, batch, phase, context).ok()) std::abort();
    optimizer->step();
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
  if (absl::GetFlag(FLAGS_retain_freed_memory) && !RetainFreedHeapMemory()) {
    absl::FPrintF(stderr, "could not set malloc to keep freed memory\n");
    return 2;
  }
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
  int64_t parameters = 0;
  for (const torch::Tensor& p : model->parameters()) parameters += p.numel();
  absl::PrintF("%s at %dx%d, batch %d, %d threads, %d timed steps, %d parameters\n",
               spec.preset(), r, r, absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_threads),
               absl::GetFlag(FLAGS_steps), parameters);
  const bool native_baseline = absl::GetFlag(FLAGS_native_baseline);
  const int shards = absl::GetFlag(FLAGS_shards);
  const bool batch_norm_baseline = absl::GetFlag(FLAGS_batch_norm_baseline);
  const std::string shard_label = absl::StrCat(shards, " shards");
  absl::PrintF(
      "%-18s %5s %4s %14s%s%s%s %14s\n", "phase", "nets", "kd", "images/s",
      native_baseline ? absl::StrFormat(" %18s %7s", "images/s native dw", "ratio") : "",
      shards > 1 ? absl::StrFormat(" %18s %7s", absl::StrCat("images/s ", shard_label), "ratio")
                 : "",
      batch_norm_baseline
          ? absl::StrFormat(
                " %18s %7s%s", "native BN", "ratio",
                shards > 1
                    ? absl::StrFormat(" %18s %7s", absl::StrCat("native BN ", shard_label), "ratio")
                    : "")
          : "",
      "peak RSS MiB");
  for (const std::string& name : absl::GetFlag(FLAGS_phases)) {
    const ofa::v1::PhaseSpec* phase = nullptr;
    for (const auto& p : phases) {
      if (p.name() == name) phase = &p;
    }
    if (phase == nullptr) {
      absl::FPrintF(stderr, "--phases: no phase '%s' in the default schedule\n", name);
      return 2;
    }
    std::vector<double> ours_runs, native_runs, shard_runs, bn_runs, bn_shard_runs;
    for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
      SetDepthwiseBackward(DepthwiseBackward::kByShape);
      if (batch_norm_baseline) {
        SetCpuBatchNorm(CpuBatchNorm::kNative);
        bn_runs.push_back(
            ImagesPerSecond(model, teacher, batch, *phase, absl::GetFlag(FLAGS_steps)));
        if (shards > 1) {
          bn_shard_runs.push_back(
              ImagesPerSecond(model, teacher, batch, *phase, absl::GetFlag(FLAGS_steps), shards));
        }
        SetCpuBatchNorm(CpuBatchNorm::kFused);
      }
      ours_runs.push_back(ImagesPerSecond(model, teacher, batch, *phase, absl::GetFlag(FLAGS_steps)));
      if (shards > 1) {
        shard_runs.push_back(
            ImagesPerSecond(model, teacher, batch, *phase, absl::GetFlag(FLAGS_steps), shards));
      }
      if (!native_baseline) continue;
      SetDepthwiseBackward(DepthwiseBackward::kNative);
      native_runs.push_back(
          ImagesPerSecond(model, teacher, batch, *phase, absl::GetFlag(FLAGS_steps)));
    }
    if (!absl::GetFlag(FLAGS_trace).empty()) {
      SetDepthwiseBackward(DepthwiseBackward::kByShape);
      torch::autograd::profiler::RecordProfile profile(
          absl::StrCat(absl::GetFlag(FLAGS_trace), ".", name, ".json"));
      ImagesPerSecond(model, teacher, batch, *phase, 3);
    }
    const double ours = Median(ours_runs);
    std::string native_columns;
    if (native_baseline) {
      const double native = Median(native_runs);
      native_columns = absl::StrFormat(" %18.1f %6.2fx", native, ours / native);
    }
    std::string shard_columns;
    if (shards > 1) {
      const double sharded = Median(shard_runs);
      shard_columns = absl::StrFormat(" %18.1f %6.2fx", sharded, sharded / ours);
    }
    std::string batch_norm_columns;
    if (batch_norm_baseline) {
      const double native_bn = Median(bn_runs);
      batch_norm_columns = absl::StrFormat(" %18.1f %6.2fx", native_bn, ours / native_bn);
      if (shards > 1) {
        const double native_bn_sharded = Median(bn_shard_runs);
        absl::StrAppend(&batch_norm_columns,
                        absl::StrFormat(" %18.1f %6.2fx", native_bn_sharded,
                                        Median(shard_runs) / native_bn_sharded));
      }
    }
    absl::PrintF("%-18s %5d %4.1f %14.1f%s%s%s %14.0f\n", name, phase->subnets_per_step(),
                 phase->kd_ratio(), ours, native_columns, shard_columns, batch_norm_columns,
                 PeakRssMiB());
  }
  return 0;
}

}  // namespace
}  // namespace ofa::trainer

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ofa::trainer::Main();
}
