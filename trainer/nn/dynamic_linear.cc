#include "trainer/nn/dynamic_linear.h"

#include <cmath>

#include "trainer/nn/active_prefix.h"
#include "trainer/nn/linear_as_conv.h"

namespace ofa::trainer {

DynamicLinearImpl::DynamicLinearImpl(int64_t max_in_features, int64_t out_features) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(max_in_features));
  weight = register_parameter(
      "weight", torch::empty({out_features, max_in_features}).uniform_(-bound, bound));
  bias = register_parameter("bias", torch::zeros({out_features}));
}

torch::Tensor DynamicLinearImpl::forward(const torch::Tensor& x) {
  return LinearAsConv1x1(x, ActivePrefix(weight, 1, x.size(1)), bias);
}

}  // namespace ofa::trainer
