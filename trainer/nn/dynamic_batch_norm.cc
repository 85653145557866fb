#include "trainer/nn/dynamic_batch_norm.h"

#include "trainer/nn/active_prefix.h"

namespace ofa::trainer {
namespace {
thread_local bool running_statistics_frozen = false;
}  // namespace

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

torch::Tensor DynamicBatchNormImpl::forward(const torch::Tensor& x) {
  const int64_t channels = x.size(1);
  double momentum = momentum_;
  if (recalibration_batches_ > 0 && is_training()) {
    momentum = 1.0 / static_cast<double>(recalibration_batches_++);
  }
  // The prefix of a 1-D tensor is a contiguous view, so training updates the running
  // statistics of the first `channels` entries in place.
  const bool update = !(is_training() && running_statistics_frozen);
  return torch::batch_norm(x, ActivePrefix(weight, 0, channels), ActivePrefix(bias, 0, channels),
                           update ? ActivePrefix(running_mean, 0, channels) : torch::Tensor(),
                           update ? ActivePrefix(running_var, 0, channels) : torch::Tensor(),
                           is_training(), momentum, eps_, /*cudnn_enabled=*/true);
}

void DynamicBatchNormImpl::BeginRecalibration() {
  torch::NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  recalibration_batches_ = 1;
}

void DynamicBatchNormImpl::EndRecalibration() { recalibration_batches_ = 0; }

}  // namespace ofa::trainer
