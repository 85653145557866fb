// What carbon metering costs, against a training step measured in the same run.
//
//   bazel run -c opt //tests/bench:energy_meter_bench -- [--threads=2] [--batch=64]
//
// Two costs:
//  - in the trainer, each step computes the analytic FLOPs of the sub-networks it sampled
//    (ComputeSubnetCost, once per sub-network): a share of the step itself;
//  - in the worker, once a second, EnergyMeter::Sample (RAPL files, here a tree laid out like
//    the kernel's) plus reading each trainer's CPU time from /proc: a share of one core,
//    outside the trainer.
// The step is ofa_small_28's elastic_expand_2 phase step (its sub-networks per step with
// distillation, as many as any phase counts) at 28x28.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>

#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/spec/supernet_presets.h"
#include "trainer/train/train_step.h"
#include "worker/energy_meter.h"
#include "worker/trainer_process.h"

ABSL_FLAG(int, threads, 2, "Intra-op threads of the training step.");
ABSL_FLAG(int, batch, 64, "Images per step.");
ABSL_FLAG(int, steps, 10, "Timed training steps (after 2 warm-up steps).");

namespace ofa {
namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double MicrosecondsPerCall(int calls, F&& f) {
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < calls; ++i) f(i);
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / calls;
}

int Main() {
  using namespace ofa::trainer;
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  ofa::v1::SupernetSpec spec;
  spec.set_preset("ofa_small_28");
  absl::StatusOr<SupernetArchitecture> arch = SupernetArchitecture::FromSpec(spec);
  const SupernetPreset* preset = *FindSupernetPreset(spec.preset());
  const std::vector<ofa::v1::PhaseSpec> phases =
      DefaultSchedule(*preset, *ResolveSupernet(spec), false);
  const ofa::v1::PhaseSpec& phase = phases[5];  // elastic_expand_2.
  torch::manual_seed(0);
  OfaSupernet model(*arch), teacher(*arch);
  teacher->eval();
  const int b = absl::GetFlag(FLAGS_batch);
  const Batch batch{torch::randn({b, arch->input_channels, 28, 28}),
                    torch::randint(0, arch->num_classes, {b})};
  auto step = [&](int i) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    const StepContext context{.seed = 1, .phase_index = 5, .step = i};
    if (!AccumulateGradients(model, teacher, batch, phase, context).ok()) std::abort();
  };
  for (int i = 0; i < 2; ++i) step(i);
  const double step_us = MicrosecondsPerCall(absl::GetFlag(FLAGS_steps), step);

  // The FLOPs count of one sampled sub-network, as the step does it.
  std::vector<SubnetChoice> choices;
  for (int i = 0; i < 64; ++i) {
    SubnetChoice c = i % 2 ? arch->Largest() : arch->Smallest();
    choices.push_back(c);
  }
  double sink = 0;
  const double cost_us = MicrosecondsPerCall(20000, [&](int i) {
    sink += TrainingFlopsPerImage(ComputeSubnetCost(*arch, choices[i % choices.size()]));
  });

  // The worker's once-a-second sample: 2 CPU slots, RAPL package + DRAM files.
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / absl::StrFormat("ofa-meter-bench-%d", getpid());
  for (const auto& [dir, name] : {std::pair<std::string, std::string>{"intel-rapl:0", "package-0"},
                                  {"intel-rapl:0:1", "dram"}}) {
    fs::create_directories(root / dir);
    std::ofstream(root / dir / "name") << name << "\n";
    std::ofstream(root / dir / "max_energy_range_uj") << "262143328850\n";
    std::ofstream(root / dir / "energy_uj") << "1000\n";
  }
  ofa::v1::Device slot;
  slot.set_kind(ofa::v1::DEVICE_KIND_CPU);
  std::vector<ofa::v1::Device> slots = {slot, slot};
  slots[1].set_index(1);
  worker::EnergyMeter meter({.devices = slots, .powercap_root = root.string()});
  const absl::Time t0 = absl::Now();
  const double sample_us = MicrosecondsPerCall(20000, [&](int i) {
    meter.Sample(t0 + absl::Seconds(i), {{0, 0.5}, {1, 0.5}}, {});
  });
  absl::StatusOr<std::unique_ptr<worker::TrainerProcess>> child =
      worker::TrainerProcess::Start({"/bin/sleep", "60"}, {}, (root / "sleep.log").string());
  const double cpu_us = MicrosecondsPerCall(20000, [&](int) { sink += (*child)->CpuSeconds(); });
  (*child)->Stop(absl::ZeroDuration(), absl::Now());
  fs::remove_all(root);

  const int nets = phase.subnets_per_step();
  absl::PrintF("training step: ofa_small_28 %s (%d sub-nets, kd %.1f), batch %d, %d threads\n",
               phase.name(), nets, phase.kd_ratio(), b, absl::GetFlag(FLAGS_threads));
  absl::PrintF("%-44s %12s %22s\n", "", "us per call", "share");
  absl::PrintF("%-44s %12.0f %22s\n", "training step", step_us, "-");
  absl::PrintF("%-44s %12.2f %21.4f%%\n", "FLOPs count of one sub-net (x nets, in-step)",
               cost_us, 100 * cost_us * nets / step_us);
  absl::PrintF("%-44s %12.2f %14.4f%% of a core\n", "meter sample, 2 slots + RAPL (once a second)",
               sample_us, 100 * sample_us / 1e6);
  absl::PrintF("%-44s %12.2f %14.4f%% of a core\n", "trainer CPU time from /proc (per slot, 1 Hz)",
               cpu_us, 100 * 2 * cpu_us / 1e6);
  return sink < 0;  // Keeps the measured calls from being optimised away.
}

}  // namespace
}  // namespace ofa

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ofa::Main();
}
