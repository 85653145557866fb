#ifndef OFA_TRAINER_NN_DYNAMIC_BATCH_NORM_H_
#define OFA_TRAINER_NN_DYNAMIC_BATCH_NORM_H_

#include <cstdint>

#include <torch/torch.h>

#include "trainer/nn/batch_norm_activation.h"

namespace ofa::trainer {

// Batch norm over elastic channels: a sub-network with C channels uses (and, in training,
// updates) the first C entries of the scale, shift and running statistics.
class DynamicBatchNormImpl : public torch::nn::Module {
 public:
  explicit DynamicBatchNormImpl(int64_t max_channels, double momentum = 0.1, double eps = 1e-5);

  // Batch norm, then `activation`. Training on channels-last CPU tensors takes
  // FusedBatchNormActivation (unless SetCpuBatchNorm says otherwise); everything else LibTorch's
  // batch norm and activation.
  torch::Tensor forward(const torch::Tensor& x, Activation activation = Activation::kNone);

  // Forgets the running statistics and switches to a cumulative average over the following
  // training-mode batches (for BN recalibration of a sub-network); EndRecalibration returns
  // to the exponential average.
  void BeginRecalibration();
  void EndRecalibration();

  double eps() const { return eps_; }

  torch::Tensor weight, bias, running_mean, running_var;

 private:
  void UpdateRunningStatistics(const BatchStatistics& batch, double momentum);

  double momentum_;
  double eps_;
  // Batches seen since BeginRecalibration; 0 = exponential average with momentum_.
  int64_t recalibration_batches_ = 0;
};
TORCH_MODULE(DynamicBatchNorm);

// Which batch norm DynamicBatchNorm trains with on channels-last CPU tensors: the fused kernel
// (the default) or LibTorch's, so that benchmarks can compare them in one run. Process-wide;
// thread-safe.
enum class CpuBatchNorm { kFused, kNative };
void SetCpuBatchNorm(CpuBatchNorm choice);

// While one is alive, DynamicBatchNorm layers run by this thread in training mode still
// normalise with the batch's statistics but leave the running statistics alone. The shards of
// one batch train on several threads at once; only the first shard's thread updates the
// running statistics, so they do not depend on how the threads interleave.
class FreezeRunningStatistics {
 public:
  explicit FreezeRunningStatistics(bool freeze = true);
  ~FreezeRunningStatistics();
  FreezeRunningStatistics(const FreezeRunningStatistics&) = delete;
  FreezeRunningStatistics& operator=(const FreezeRunningStatistics&) = delete;

 private:
  bool previous_;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_DYNAMIC_BATCH_NORM_H_
