#include "trainer/nn/dynamic_conv2d.h"

#include <cmath>

#include "trainer/nn/active_prefix.h"

namespace ofa::trainer {

DynamicConv2dImpl::DynamicConv2dImpl(int64_t max_in_channels, int64_t max_out_channels,
                                     int kernel_size, int stride)
    : kernel_size_(kernel_size), stride_(stride) {
  // He initialisation over fan-out, as the OFA authors initialise convolutions.
  const double std = std::sqrt(2.0 / (kernel_size * kernel_size * max_out_channels));
  weight = register_parameter(
      "weight",
      torch::randn({max_out_channels, max_in_channels, kernel_size, kernel_size}) * std);
}

torch::Tensor DynamicConv2dImpl::ActiveWeight(int64_t out_channels, int64_t in_channels) const {
  return ActivePrefix(ActivePrefix(weight, 0, out_channels), 1, in_channels);
}

torch::Tensor DynamicConv2dImpl::forward(const torch::Tensor& x, int64_t out_channels) {
  return torch::conv2d(x, ActiveWeight(out_channels, x.size(1)), {}, stride_, kernel_size_ / 2);
}

}  // namespace ofa::trainer
