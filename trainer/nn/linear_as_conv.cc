#include "trainer/nn/linear_as_conv.h"

namespace ofa::trainer {

torch::Tensor LinearAsConv1x1(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias) {
  if (!x.is_cpu()) return torch::linear(x, weight, bias);
  return torch::conv2d(x.unsqueeze(-1).unsqueeze(-1), weight.unsqueeze(-1).unsqueeze(-1), bias)
      .flatten(1);
}

}  // namespace ofa::trainer
