#include "trainer/nn/dynamic_depthwise_conv.h"

#include <cmath>
#include <string>

#include "trainer/nn/active_prefix.h"
#include "trainer/nn/depthwise_conv_function.h"

namespace ofa::trainer {

DynamicDepthwiseConvImpl::DynamicDepthwiseConvImpl(int64_t max_channels,
                                                   std::vector<int> kernel_sizes, int stride)
    : kernel_sizes_(std::move(kernel_sizes)), stride_(stride) {
  const int max_kernel = kernel_sizes_.back();
  const double std = std::sqrt(2.0 / (max_kernel * max_kernel * max_channels));
  weight = register_parameter("weight",
                              torch::randn({max_channels, 1, max_kernel, max_kernel}) * std);
  for (size_t i = 0; i + 1 < kernel_sizes_.size(); ++i) {
    const int small = kernel_sizes_[i];
    const int large = kernel_sizes_[i + 1];
    transforms_[small] = register_parameter(
        "transform_" + std::to_string(large) + "to" + std::to_string(small),
        torch::eye(small * small));
  }
}

torch::Tensor DynamicDepthwiseConvImpl::ActiveFilter(int64_t channels, int kernel_size) const {
  torch::Tensor filter = ActivePrefix(weight, 0, channels);
  // Walk down from the largest kernel: crop the centre, transform, repeat.
  for (int i = static_cast<int>(kernel_sizes_.size()) - 2; i >= 0; --i) {
    const int target = kernel_sizes_[i];
    if (target < kernel_size) break;
    const int64_t start = (filter.size(2) - target) / 2;
    torch::Tensor centre = filter.narrow(2, start, target).narrow(3, start, target);
    // [C, 1, t, t] -> [C, t*t] x M^T -> [C, 1, t, t]; same as F.linear(centre, M).
    filter = torch::mm(centre.reshape({channels, target * target}),
                       transforms_.at(target).t())
                 .view({channels, 1, target, target});
  }
  return filter;
}

torch::Tensor DynamicDepthwiseConvImpl::forward(const torch::Tensor& x, int kernel_size) {
  return DepthwiseConv2d(x, ActiveFilter(x.size(1), kernel_size), stride_);
}

}  // namespace ofa::trainer
