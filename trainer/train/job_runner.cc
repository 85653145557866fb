#include "trainer/train/job_runner.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "trainer/checkpoint/checkpoint_store.h"
#include "trainer/common/heap_retention.h"
#include "trainer/common/stream_seed.h"
#include "trainer/data/image_dataset.h"
#include "trainer/dist/gloo_communicator.h"
#include "trainer/inference/subnet_classifier.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/nn/subnet_export.h"
#include "trainer/spec/job_spec_io.h"
#include "trainer/spec/job_spec_validation.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/train/evaluator.h"
#include "trainer/train/phase_trainer.h"
#include "trainer/train/specialize_phase.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;

int64_t BatchSizeOf(const ofa::v1::JobSpec& spec) {
  if (spec.dataset().batch_size_per_device() > 0) return spec.dataset().batch_size_per_device();
  const int devices = std::max(1, spec.resources().workers()) *
                      std::max(1, spec.resources().devices_per_worker());
  return std::max<int64_t>(16, 256 / devices);
}

// The expand ratios an elastic-expand phase keeps in place when it sorts channels: those of
// the previous expand phase except its largest (whose band is everything).
std::vector<int> KeptExpandRatios(const std::vector<ofa::v1::PhaseSpec>& phases, size_t index) {
  for (size_t i = index; i-- > 0;) {
    if (phases[i].kind() != ofa::v1::PHASE_KIND_ELASTIC_EXPAND) continue;
    std::vector<int> kept(phases[i].expand_ratios().begin(), phases[i].expand_ratios().end());
    if (!kept.empty()) kept.pop_back();
    return kept;
  }
  return {};
}

absl::Status LoadFinalWeights(OfaSupernet& model, const std::string& phase_dir) {
  CheckpointStore store(phase_dir);
  CheckpointData data{model.get(), nullptr, {}};
  return store.Load("final", data);
}

}  // namespace

absl::StatusOr<std::vector<PhaseSummary>> RunJob(const ofa::v1::JobSpec& spec,
                                                 const JobRunOptions& options) {
  if (absl::Status s = ValidateJobSpec(spec); !s.ok()) return s;
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ResolveSchedule(spec);
  if (!phases.ok()) return phases.status();
  ProgressReporter& progress = *options.progress;

  const int threads = options.threads > 0 ? options.threads
                      : spec.resources().cpu_threads_per_device() > 0
                          ? spec.resources().cpu_threads_per_device()
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  if (!RetainFreedHeapMemory()) {
    progress.Event("warning", "could not set malloc to keep freed memory (not glibc?); "
                              "training may run slower (docs/performance.md)");
  }

  std::error_code ec;
  fs::create_directories(options.output_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", options.output_dir, ": ",
                                            ec.message()));
  }
  const int world = options.world_size;
  if (world < 1 || options.rank < 0 || options.rank >= world) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", options.rank, " of world size ",
                                                   world, " is out of range"));
  }
  if (world > 1 && options.store == nullptr) {
    return absl::InvalidArgumentError("a data-parallel run (world size > 1) needs a store");
  }
  if (options.micro_batches < 1) {
    return absl::InvalidArgumentError(absl::StrCat("micro_batches must be at least 1, not ",
                                                   options.micro_batches));
  }
  const bool leader = options.rank == 0;
  const std::string job_id = options.job_id.empty() ? spec.name() : options.job_id;
  if (leader) std::ofstream(fs::path(options.output_dir) / "job_spec.json") << JobSpecToJson(spec);

  absl::StatusOr<ofa::v1::SupernetSpec> supernet = ResolveSupernet(spec.supernet());
  if (!supernet.ok()) return supernet.status();
  // File-backed data is decoded at the largest resolution; smaller ones are resized per step.
  const int image_size =
      *std::max_element(supernet->resolutions().begin(), supernet->resolutions().end());
  ofa::v1::DatasetSpec dataset = spec.dataset();
  // The specialise phase measures sub-networks on held-out images.
  if (!spec.targets().empty() && dataset.validation_fraction() == 0) {
    dataset.set_validation_fraction(kDefaultValidationFraction);
  }
  absl::StatusOr<DatasetSplits> data =
      LoadDataset(dataset, options.data_root, spec.seed(), image_size);
  if (!data.ok()) return data.status();
  absl::StatusOr<SupernetArchitecture> arch =
      SupernetArchitecture::FromSpec(spec.supernet(), data->train.num_classes);
  if (!arch.ok()) return arch.status();
  if (arch->input_channels != data->train.channels()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "supernet.input_channels: the supernet takes %d channel(s) but the data set has %d; "
        "set supernet.input_channels to %d",
        arch->input_channels, data->train.channels(), data->train.channels()));
  }
  progress.Event("job_started",
                 absl::StrFormat("job \"%s\": %s, %d training images, %d test, %d threads, "
                                 "%s, largest %.2fM MACs, smallest %.2fM MACs",
                                 spec.name(), spec.supernet().preset(), data->train.size(),
                                 data->test.size(), threads, HeapAllocatorName(),
                                 ComputeSubnetCost(*arch, arch->Largest()).macs / 1e6,
                                 ComputeSubnetCost(*arch, arch->Smallest()).macs / 1e6));

  torch::manual_seed(StreamSeed(spec.seed(), {kSeedInit}));
  OfaSupernet model(*arch);
  OfaSupernet teacher{nullptr};
  const ofa::v1::OptimizerSpec& opt = spec.schedule().optimizer();
  const int64_t batch_size = BatchSizeOf(spec);
  const fs::path phases_dir = fs::path(options.output_dir) / "phases";
  std::string previous_phase_dir;
  std::string teacher_dir;
  std::vector<PhaseSummary> summaries;
  // The phases this run trains and evaluates: all, or [only, only].
  size_t first = 0, last = phases->size();
  if (!options.only_phase.empty()) {
    auto it = std::find_if(phases->begin(), phases->end(), [&](const ofa::v1::PhaseSpec& p) {
      return p.name() == options.only_phase;
    });
    if (it == phases->end()) {
      return absl::InvalidArgumentError(absl::StrCat("job \"", spec.name(),
                                                     "\" has no phase \"", options.only_phase,
                                                     "\""));
    }
    first = static_cast<size_t>(it - phases->begin());
    last = first + 1;
  }

  for (size_t i = 0; i < last; ++i) {
    const ofa::v1::PhaseSpec& phase = (*phases)[i];
    PhaseSummary summary;
    summary.name = phase.name();
    if (i < first && !CheckpointStore((phases_dir / phase.name()).string()).Verify("final").ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "phase ", options.only_phase, " needs phase ", phase.name(),
          " to have finished first (no valid final checkpoint under ",
          (phases_dir / phase.name()).string(), ")"));
    }
    if (phase.kind() == ofa::v1::PHASE_KIND_SPECIALIZE) {
      // Runs on the last training phase's weights, loaded above; rank 0 alone.
      if (!leader) continue;
      progress.Event("phase_started",
                     absl::StrFormat("phase %s (%d/%d): %d deployment target(s)", phase.name(),
                                     i + 1, phases->size(), spec.targets_size()),
                     {{"phase", phase.name()}});
      const absl::Time start = absl::Now();
      absl::StatusOr<std::vector<ofa::v1::Subnet>> subnets = RunSpecializePhase(
          model, *data, spec,
          {.output_dir = options.output_dir,
           .phase_name = phase.name(),
           .job_id = job_id,
           .progress = &progress});
      if (!subnets.ok()) return subnets.status();
      summary.seconds = absl::ToDoubleSeconds(absl::Now() - start);
      summary.subnets = *std::move(subnets);
      summary.note = absl::StrCat(summary.subnets.size(), " sub-network(s) exported");
      summaries.push_back(summary);
      continue;
    }
    const std::string phase_dir = (phases_dir / phase.name()).string();
    CheckpointStore store(phase_dir);
    if (store.Verify("final").ok()) {
      if (absl::Status s = LoadFinalWeights(model, phase_dir); !s.ok()) return s;
      summary.skipped = true;
      summary.note = "already done";
      if (i >= first) {
        progress.Event("phase_skipped", absl::StrCat("phase ", phase.name(),
                                                     ": already done, final checkpoint loaded"),
                       {{"phase", phase.name()}});
      }
    } else {
      const bool has_checkpoint = store.LatestValid().ok();
      if (!has_checkpoint && !previous_phase_dir.empty()) {
        if (absl::Status s = LoadFinalWeights(model, previous_phase_dir); !s.ok()) return s;
      }
      OfaSupernet phase_teacher{nullptr};
      if (phase.kd_ratio() > 0 && !teacher_dir.empty()) {
        if (teacher.is_empty()) {
          teacher = OfaSupernet(*arch);
          if (absl::Status s = LoadFinalWeights(teacher, teacher_dir); !s.ok()) return s;
          // The teacher is the full network as evaluated: BN statistics recalibrated on the
          // whole training set, not the running averages of whichever rank saved it.
          RecalibrateBatchNorm(teacher, arch->Largest(), data->train,
                               options.calibration_batches, 256,
                               StreamSeed(spec.seed(), {kSeedTeacher}));
        }
        phase_teacher = teacher;
      }
      PhaseRunConfig config;
      config.phase = phase;
      config.phase_index = static_cast<int>(i);
      config.seed = spec.seed();
      config.momentum = opt.momentum() > 0 ? opt.momentum() : 0.9;
      config.weight_decay = opt.weight_decay() > 0 ? opt.weight_decay() : 3e-5;
      config.label_smoothing = opt.label_smoothing() > 0 ? opt.label_smoothing() : 0.1;
      config.batch_size = batch_size;
      config.sort_channels = phase.kind() == ofa::v1::PHASE_KIND_ELASTIC_EXPAND;
      config.kept_expand_ratios = KeptExpandRatios(*phases, i);
      config.checkpoint_every_steps = options.checkpoint_every_steps > 0
                                          ? options.checkpoint_every_steps
                                          : spec.checkpoint().every_steps();
      const double interval = spec.checkpoint().interval().seconds();
      config.checkpoint_interval_seconds = interval > 0 ? interval : 600;
      config.keep_checkpoints = spec.checkpoint().keep_last() > 0 ? spec.checkpoint().keep_last() : 3;
      if (options.stop_phase == phase.name()) config.stop_after_step = options.stop_after_step;
      config.stop_requested = options.stop_requested;
      config.rank = options.rank;
      config.world_size = world;
      config.micro_batches =
          options.micro_batches * std::max(1, spec.resources().cpu_batch_shards());
      config.bucket_bytes = options.bucket_bytes;

      progress.Event("phase_started",
                     absl::StrFormat("phase %s (%d/%d): %d epochs, lr %.4g per 256 images, "
                                     "%d sub-net(s)/step%s, kd %.2g",
                                     phase.name(), i + 1, phases->size(), phase.epochs(),
                                     phase.learning_rate(), phase.subnets_per_step(),
                                     phase.sandwich() ? " (sandwich)" : "", phase.kd_ratio()),
                     {{"phase", phase.name()}});
      PhaseTrainer trainer(model, phase_teacher, data->train, config, store, progress);
      std::unique_ptr<GlooCommunicator> communicator;
      if (world > 1) {
        absl::StatusOr<std::unique_ptr<GlooCommunicator>> connected = GlooCommunicator::Connect(
            *options.store, {.rank = options.rank,
                             .world_size = world,
                             .scope = RendezvousScope(job_id, phase.name(), options.attempt),
                             .hostname = options.listen_host,
                             .timeout = options.collective_timeout,
                             .rendezvous_timeout = options.rendezvous_timeout});
        if (!connected.ok()) return connected.status();
        communicator = *std::move(connected);
        trainer.communicator = communicator.get();
      }
      absl::StatusOr<PhaseOutcome> outcome = trainer.Run();
      if (!outcome.ok()) return outcome.status();
      summary.steps = outcome->steps;
      summary.seconds = outcome->seconds;
      summary.training_flops = outcome->training_flops;
    }
    if (phase.kind() == ofa::v1::PHASE_KIND_FULL) teacher_dir = phase_dir;
    previous_phase_dir = phase_dir;

    if (options.evaluate && leader && i >= first) {
      const uint64_t eval_seed = StreamSeed(spec.seed(), {static_cast<uint64_t>(i), 77});
      summary.largest_top1 = EvaluateSubnet(model, arch->Largest(), data->train, data->test,
                                            options.calibration_batches, 256, eval_seed)
                                 .top1;
      summary.smallest_top1 = EvaluateSubnet(model, arch->Smallest(), data->train, data->test,
                                             options.calibration_batches, 256, eval_seed)
                                  .top1;
      progress.Event("phase_evaluated",
                     absl::StrFormat("phase %s: test top-1 largest %.2f%%, smallest %.2f%%%s",
                                     phase.name(), 100 * summary.largest_top1,
                                     100 * summary.smallest_top1,
                                     summary.seconds > 0
                                         ? absl::StrFormat(" (trained in %.0f s)", summary.seconds)
                                         : ""),
                     {{"phase", phase.name()},
                      {"largest_top1", summary.largest_top1},
                      {"smallest_top1", summary.smallest_top1}});
    }
    if (i >= first) summaries.push_back(summary);
  }

  // Export the extremes of the trained supernet (the specialise phase adds one per target)
  // once the last training phase is done.
  const bool trains_later = std::any_of(phases->begin() + last, phases->end(), [](const auto& p) {
    return p.kind() != ofa::v1::PHASE_KIND_SPECIALIZE;
  });
  const bool only_specialize = !options.only_phase.empty() &&
                               (*phases)[first].kind() == ofa::v1::PHASE_KIND_SPECIALIZE;
  if (!leader || trains_later || only_specialize) return summaries;
  for (const auto& [name, choice] : {std::pair{"largest", arch->Largest()},
                                     std::pair{"smallest", arch->Smallest()}}) {
    RecalibrateBatchNorm(model, choice, data->train, options.calibration_batches, 256,
                         StreamSeed(spec.seed(), {99}));
    absl::StatusOr<StandaloneSubnet> subnet = ExportSubnet(model, choice);
    if (!subnet.ok()) return subnet.status();
    RecordInputNormalization(*subnet, data->train.mean, data->train.std);
    const std::string dir = (fs::path(options.output_dir) / "export" / name).string();
    if (absl::Status s = SaveStandaloneSubnet(*subnet, dir); !s.ok()) return s;
    progress.Event("exported", absl::StrCat("exported the ", name, " sub-network to ", dir),
                   {{"subnet", name}, {"dir", dir}});
  }
  // Restore the supernet's own statistics for anything that follows (none of the exports
  // depend on them, but the final checkpoint on disk is the source of truth).
  if (!previous_phase_dir.empty()) {
    if (absl::Status s = LoadFinalWeights(model, previous_phase_dir); !s.ok()) return s;
  }
  return summaries;
}

}  // namespace ofa::trainer
