#ifndef OFA_TRAINER_TRAIN_TRAIN_STEP_H_
#define OFA_TRAINER_TRAIN_TRAIN_STEP_H_

#include <cstdint>

#include <torch/torch.h>

#include "ofa/v1/schedule.pb.h"
#include "trainer/data/batch_loader.h"
#include "trainer/nn/ofa_supernet.h"

namespace ofa::trainer {

struct StepResult {
  double loss = 0;            // Mean over the step's sub-networks.
  double training_flops = 0;  // Analytic: forward + backward of each sub-net, teacher forward.
};

// The forward and backward work of one progressive-shrinking step, without the optimizer
// step: for each of the phase's subnets_per_step sub-networks (SampleSubnet at (seed,
// phase_index, step, i)), label-smoothed cross entropy plus kd_ratio x distillation from
// `teacher` (may be empty), backward, gradients accumulated into the parameters. Parameters
// no sub-network used get zero gradients, so every rank holds a gradient for every parameter.
StepResult AccumulateGradients(OfaSupernet& model, OfaSupernet& teacher, const Batch& batch,
                               const ofa::v1::PhaseSpec& phase, uint64_t seed, int phase_index,
                               int64_t step, double label_smoothing);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_TRAIN_STEP_H_
