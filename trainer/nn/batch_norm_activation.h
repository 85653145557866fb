#ifndef OFA_TRAINER_NN_BATCH_NORM_ACTIVATION_H_
#define OFA_TRAINER_NN_BATCH_NORM_ACTIVATION_H_

#include <cstdint>

#include <torch/torch.h>

namespace ofa::trainer {

// The activation that follows a batch norm in an MBConv block (or none, after the projection).
enum class Activation { kNone, kRelu, kHardSwish };

torch::Tensor ApplyActivation(const torch::Tensor& x, Activation activation);

// Whether FusedBatchNormActivation takes `x`: a float, channels-last, 4-d CPU tensor with at
// least two values per channel.
bool FusedBatchNormActivationApplies(const torch::Tensor& x);

// Per-channel statistics of one training batch, as [C] float tensors.
struct BatchStatistics {
  torch::Tensor mean;
  torch::Tensor biased_variance;
  int64_t count = 0;  // values per channel (N * H * W)
};

// Training-mode batch norm with the batch's own statistics, then `activation`, as one
// autograd node over channels-last memory: activation(weight * (x - mean) / sqrt(var + eps) +
// bias). Why: LibTorch 1.13's channels-last CPU batch norm took 4-10x longer than this on 8 and
// 24 channels with 2 threads, and the separate activation reads and writes the whole tensor
// twice more; this makes 3 passes forward and 2 backward, the activation's derivative
// recomputed from x. On the small supernet's training step: 1.08-1.27x (docs/performance.md).
// Sums run over fixed blocks of rows, added in block order, so the result does not depend on
// the thread count. Fills *statistics (if given) for the running-statistics update. Requires
// FusedBatchNormActivationApplies(x); weight and bias are [C] float tensors.
torch::Tensor FusedBatchNormActivation(const torch::Tensor& x, const torch::Tensor& weight,
                                       const torch::Tensor& bias, double eps, Activation activation,
                                       BatchStatistics* statistics);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_BATCH_NORM_ACTIVATION_H_
