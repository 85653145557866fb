#include "trainer/nn/depthwise_conv_function.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

struct Case {
  int64_t side, kernel, stride;
};

class DepthwiseConvFunctionTest : public ::testing::TestWithParam<Case> {};

// The custom backward must give torch::conv2d's gradients, for every kernel and stride and
// for odd and even sides (stride 2 leaves the last row unread on even sides).
TEST_P(DepthwiseConvFunctionTest, GradientsEqualNativeConvolution) {
  const Case c = GetParam();
  torch::manual_seed(c.side * 100 + c.kernel * 10 + c.stride);
  torch::Tensor x = torch::randn({3, 5, c.side, c.side}, torch::requires_grad());
  torch::Tensor w = torch::randn({5, 1, c.kernel, c.kernel}, torch::requires_grad());
  torch::Tensor native = torch::conv2d(x, w, {}, c.stride, c.kernel / 2, 1, 5);
  torch::Tensor ours = DepthwiseConv2d(x, w, c.stride);
  ASSERT_EQ(ours.sizes(), native.sizes());
  EXPECT_TRUE(torch::allclose(ours, native, 1e-5, 1e-5));
  torch::Tensor grad_y = torch::randn_like(native);
  auto expected = torch::autograd::grad({native}, {x, w}, {grad_y});
  auto actual = torch::autograd::grad({ours}, {x, w}, {grad_y});
  EXPECT_TRUE(torch::allclose(actual[0], expected[0], 1e-4, 1e-5)) << "grad x";
  EXPECT_TRUE(torch::allclose(actual[1], expected[1], 1e-4, 1e-4)) << "grad w";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DepthwiseConvFunctionTest,
    ::testing::Values(Case{7, 7, 1}, Case{7, 5, 1}, Case{7, 3, 1}, Case{4, 7, 1},
                      Case{14, 7, 2}, Case{14, 5, 2}, Case{7, 7, 2}, Case{15, 5, 2},
                      Case{28, 7, 1}));

}  // namespace
}  // namespace ofa::trainer
