#ifndef OFA_TRAINER_TRAIN_PHASE_TRAINER_H_
#define OFA_TRAINER_TRAIN_PHASE_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "ofa/v1/schedule.pb.h"
#include "trainer/checkpoint/checkpoint_store.h"
#include "trainer/data/image_dataset.h"
#include "trainer/dist/communicator.h"
#include "trainer/dist/gradient_reducer.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/train/progress_reporter.h"

namespace ofa::trainer {

struct PhaseRunConfig {
  ofa::v1::PhaseSpec phase;
  int phase_index = 0;  // Position in the schedule; part of the sampling seed.
  uint64_t seed = 0;
  // Resolved optimizer settings (no zero defaults left).
  double momentum = 0.9;
  double weight_decay = 3e-5;
  double label_smoothing = 0.1;
  int64_t batch_size = 128;  // Per rank.
  int rank = 0;
  int world_size = 1;
  // Each rank's batch is processed as this many micro-batches (see StepContext).
  int micro_batches = 1;
  // Gradient bucket size of the data-parallel reducer.
  int64_t bucket_bytes = 25 << 20;
  // Elastic-expand phases reorder channels by importance before their first step; these
  // expand ratios' channel bands are kept (see ElasticMBConvImpl::SortChannelsByImportance).
  bool sort_channels = false;
  std::vector<int> kept_expand_ratios;
  // Periodic checkpoints: every this many steps and/or seconds (0 = never), keep the newest.
  int64_t checkpoint_every_steps = 0;
  double checkpoint_interval_seconds = 600;
  int keep_checkpoints = 3;
  // Stop (ABORTED) once this many steps of the phase are done, as a crash or preemption
  // would; -1 = run to the end. For tests and drain.
  int64_t stop_after_step = -1;
  // Graceful stop (node drain, Ctrl-C): once this is set on any rank, every rank stops
  // before the same step (the ranks agree through a one-element all-reduce per step), rank 0
  // writes a checkpoint there, and Run() returns CANCELLED. Null = never.
  const std::atomic<bool>* stop_requested = nullptr;
};

struct PhaseOutcome {
  int64_t steps = 0;          // Steps of the phase in all.
  int64_t steps_run = 0;      // Steps this call ran (less after a resume).
  bool resumed = false;
  double seconds = 0;
  double final_loss = 0;
  double training_flops = 0;  // Analytic, of the steps this call ran.
};

// Trains one progressive-shrinking phase of the supernet (OFA paper, section 3.2): per step,
// `subnets_per_step` sub-networks sampled by SampleSubnet, each trained on the same batch with
// label-smoothed cross entropy plus kd_ratio x distillation from the frozen teacher, gradients
// accumulated, then one SGD step (Nesterov momentum, weight decay except on BN and biases) at
// the cosine-with-warm-up learning rate. Parameters a sub-network did not use get zero
// gradients, so every rank applies the same update rule (and issues the same collectives).
// Resumes from the newest valid checkpoint of `store`; writes "final" at the end.
class PhaseTrainer {
 public:
  // `teacher` may be empty (no distillation). `model` must already hold the phase's start
  // weights (the previous phase's final ones) when the phase has no checkpoint yet.
  PhaseTrainer(OfaSupernet model, OfaSupernet teacher, const ImageDataset& train,
               PhaseRunConfig config, CheckpointStore& store, ProgressReporter& progress);

  absl::StatusOr<PhaseOutcome> Run();

  // Data parallel (world_size > 1): the collectives of this phase attempt. Before the first
  // step rank 0's weights are broadcast and every rank must have resumed at the same step;
  // gradients are averaged by a GradientReducer during each step's last backward.
  Communicator* communicator = nullptr;

 private:
  // Data parallel: checks that every rank resumed at `step`, broadcasts rank 0's weights and
  // returns the reducer of this phase.
  absl::StatusOr<std::unique_ptr<GradientReducer>> JoinRanks(int64_t step);
  // Whether any rank has been asked to stop; a collective when data parallel, so every rank
  // gets the same answer at the same step.
  absl::StatusOr<bool> AnyRankAskedToStop();

  OfaSupernet model_;
  OfaSupernet teacher_;
  const ImageDataset& train_;
  PhaseRunConfig config_;
  CheckpointStore& store_;
  ProgressReporter& progress_;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_PHASE_TRAINER_H_
