#ifndef OFA_TRAINER_TRAIN_TRAIN_STEP_H_
#define OFA_TRAINER_TRAIN_TRAIN_STEP_H_

#include <cstdint>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "ofa/v1/schedule.pb.h"
#include "trainer/data/batch_loader.h"
#include "trainer/dist/gradient_reducer.h"
#include "trainer/nn/ofa_supernet.h"

namespace ofa::trainer {

struct StepContext {
  uint64_t seed = 0;
  int phase_index = 0;
  int64_t step = 0;
  double label_smoothing = 0.1;
  // This rank's batch is cut into `micro_batches` strided shards (images m, m + M, ...) whose
  // gradients accumulate, each with its own BN batch statistics: one process then computes
  // exactly what world x M ranks with per-device BN compute. Shard m of this rank is global
  // shard `first_shard + m`, which seeds its dropout.
  int micro_batches = 1;
  int first_shard = 0;
  // LibTorch kernel threads the step may use. With one rank and several micro-batches, the
  // shards run concurrently on up to this many threads, sharing them out; the result is the
  // same as one after another. Only the first shard updates BN running statistics.
  int kernel_threads = 1;
  // Data-parallel training: armed before the step's last backward, so gradients are
  // all-reduced while it runs. Null = one rank.
  GradientReducer* reducer = nullptr;
};

struct StepResult {
  double loss = 0;            // Mean over the step's sub-networks.
  double training_flops = 0;  // Analytic: forward + backward of each sub-net, teacher forward.
};

// The forward and backward work of one progressive-shrinking step, without the optimizer
// step: for each of the phase's subnets_per_step sub-networks (SampleSubnet at (seed,
// phase_index, step, i)), label-smoothed cross entropy plus kd_ratio x distillation from
// `teacher` (may be empty), backward, gradients accumulated into the parameters (averaged
// across ranks by the reducer). Every parameter ends with a gradient (zeros where no
// sub-network used it), so every rank applies the same update rule. With several micro-batches
// and no reducer, each shard's gradients are computed apart (concurrently when
// context.kernel_threads allows and the supernet has no dropout) and added in shard order.
// Fails when the batch has fewer images than micro-batches or the reducer's collectives fail.
absl::StatusOr<StepResult> AccumulateGradients(OfaSupernet& model, OfaSupernet& teacher,
                                               const Batch& batch,
                                               const ofa::v1::PhaseSpec& phase,
                                               const StepContext& context);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_TRAIN_STEP_H_
