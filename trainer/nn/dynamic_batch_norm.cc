#include "trainer/nn/dynamic_batch_norm.h"

#include <atomic>

#include "trainer/nn/active_prefix.h"

namespace ofa::trainer {
namespace {
thread_local bool running_statistics_frozen = false;
std::atomic<CpuBatchNorm> cpu_batch_norm{CpuBatchNorm::kFused};
}  // namespace

void SetCpuBatchNorm(CpuBatchNorm choice) { cpu_batch_norm = choice; }

FreezeRunningStatistics::FreezeRunningStatistics(bool freeze)
    : previous_(running_statistics_frozen) {
  running_statistics_frozen = freeze;
}

FreezeRunningStatistics::~FreezeRunningStatistics() { running_statistics_frozen = previous_; }

DynamicBatchNormImpl::DynamicBatchNormImpl(int64_t max_channels, double momentum, double eps)
    : momentum_(momentum), eps_(eps) {
  weight = register_parameter("weight", torch::ones({max_channels}));
  bias = register_parameter("bias", torch::zeros({max_channels}));
  running_mean = register_buffer("running_mean", torch::zeros({max_channels}));
  running_var = register_buffer("running_var", torch::ones({max_channels}));
}

torch::Tensor DynamicBatchNormImpl::forward(const torch::Tensor& x, Activation activation) {
  const int64_t channels = x.size(1);
  double momentum = momentum_;
  if (recalibration_batches_ > 0 && is_training()) {
    momentum = 1.0 / static_cast<double>(recalibration_batches_++);
  }
  // The prefix of a 1-D tensor is a contiguous view, so training updates the running
  // statistics of the first `channels` entries in place.
  const bool update = !(is_training() && running_statistics_frozen);
  const torch::Tensor active_weight = ActivePrefix(weight, 0, channels);
  const torch::Tensor active_bias = ActivePrefix(bias, 0, channels);
  if (is_training() && cpu_batch_norm == CpuBatchNorm::kFused &&
      FusedBatchNormActivationApplies(x)) {
    BatchStatistics batch;
    torch::Tensor y = FusedBatchNormActivation(x, active_weight, active_bias, eps_, activation,
                                               update ? &batch : nullptr);
    if (update) UpdateRunningStatistics(batch, momentum);
    return y;
  }
  return ApplyActivation(
      torch::batch_norm(x, active_weight, active_bias,
                        update ? ActivePrefix(running_mean, 0, channels) : torch::Tensor(),
                        update ? ActivePrefix(running_var, 0, channels) : torch::Tensor(),
                        is_training(), momentum, eps_, /*cudnn_enabled=*/true),
      activation);
}

void DynamicBatchNormImpl::UpdateRunningStatistics(const BatchStatistics& batch, double momentum) {
  // As LibTorch's batch norm: an exponential average of the mean and the unbiased variance.
  torch::NoGradGuard no_grad;
  const int64_t channels = batch.mean.size(0);
  const double unbiased = static_cast<double>(batch.count) / static_cast<double>(batch.count - 1);
  ActivePrefix(running_mean, 0, channels).mul_(1.0 - momentum).add_(batch.mean, momentum);
  ActivePrefix(running_var, 0, channels)
      .mul_(1.0 - momentum)
      .add_(batch.biased_variance, momentum * unbiased);
}

void DynamicBatchNormImpl::BeginRecalibration() {
  torch::NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  recalibration_batches_ = 1;
}

void DynamicBatchNormImpl::EndRecalibration() { recalibration_batches_ = 0; }

}  // namespace ofa::trainer
