#include "trainer/nn/dynamic_batch_norm.h"

namespace ofa::trainer {

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
  // Narrowing a 1-D tensor from 0 is a contiguous view, so training updates the running
  // statistics of the first `channels` entries in place.
  return torch::batch_norm(x, weight.narrow(0, 0, channels), bias.narrow(0, 0, channels),
                           running_mean.narrow(0, 0, channels),
                           running_var.narrow(0, 0, channels), is_training(), momentum, eps_,
                           /*cudnn_enabled=*/true);
}

void DynamicBatchNormImpl::BeginRecalibration() {
  torch::NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  recalibration_batches_ = 1;
}

void DynamicBatchNormImpl::EndRecalibration() { recalibration_batches_ = 0; }

}  // namespace ofa::trainer
