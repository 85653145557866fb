#include "trainer/nn/dynamic_squeeze_excite.h"

#include <cmath>

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
  y = torch::relu(torch::linear(y, reduce_weight.narrow(0, 0, squeeze).narrow(1, 0, channels),
                                reduce_bias.narrow(0, 0, squeeze)));
  y = torch::hardsigmoid(torch::linear(
      y, expand_weight.narrow(0, 0, channels).narrow(1, 0, squeeze),
      expand_bias.narrow(0, 0, channels)));
  return x * y.view({y.size(0), channels, 1, 1});
}

}  // namespace ofa::trainer
