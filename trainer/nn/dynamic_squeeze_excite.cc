#include "trainer/nn/dynamic_squeeze_excite.h"

#include <cmath>

#include "trainer/nn/active_prefix.h"
#include "trainer/nn/linear_as_conv.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

DynamicSqueezeExciteImpl::DynamicSqueezeExciteImpl(int64_t max_channels) {
  const int64_t squeeze = SqueezeChannels(static_cast<int>(max_channels));
  // 1x1 convolutions stored as matrices, He initialisation over fan-out.
  reduce_weight = register_parameter(
      "reduce_weight", torch::randn({squeeze, max_channels}) * std::sqrt(2.0 / squeeze));
  reduce_bias = register_parameter("reduce_bias", torch::zeros({squeeze}));
  expand_weight = register_parameter(
      "expand_weight", torch::randn({max_channels, squeeze}) * std::sqrt(2.0 / max_channels));
  expand_bias = register_parameter("expand_bias", torch::zeros({max_channels}));
}

torch::Tensor DynamicSqueezeExciteImpl::forward(const torch::Tensor& x) {
  const int64_t channels = x.size(1);
  const int64_t squeeze = SqueezeChannels(static_cast<int>(channels));
  torch::Tensor y = x.mean({2, 3});
  y = torch::relu(
      LinearAsConv1x1(y, ActivePrefix(ActivePrefix(reduce_weight, 0, squeeze), 1, channels),
                      ActivePrefix(reduce_bias, 0, squeeze)));
  y = torch::hardsigmoid(
      LinearAsConv1x1(y, ActivePrefix(ActivePrefix(expand_weight, 0, channels), 1, squeeze),
                      ActivePrefix(expand_bias, 0, channels)));
  return x * y.view({y.size(0), channels, 1, 1});
}

}  // namespace ofa::trainer
