#include "trainer/nn/depthwise_conv_function.h"

#include <torch/torch.h>

#include <string>

#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

struct Case {
  int64_t side, kernel, stride;
};

class DepthwiseConvFunctionTest : public ::testing::TestWithParam<Case> {};

bool TookCustomBackward(const torch::Tensor& y) {
  return y.grad_fn()->name().find("DepthwiseConvFunction") != std::string::npos;
}

// Backpropagates the same random output gradient through both convolutions and compares the
// gradients of their (input, weight) pairs. Returns the actual input gradient.
torch::Tensor ExpectSameGradients(const torch::Tensor& expected_y, const torch::Tensor& expected_x,
                                  const torch::Tensor& actual_y, const torch::Tensor& actual_x,
                                  const torch::Tensor& w) {
  torch::Tensor grad_y = torch::randn_like(expected_y);
  auto expected = torch::autograd::grad({expected_y}, {expected_x, w}, {grad_y});
  auto actual = torch::autograd::grad({actual_y}, {actual_x, w}, {grad_y});
  EXPECT_TRUE(torch::allclose(actual[0], expected[0], 1e-4, 1e-5)) << "grad x";
  EXPECT_TRUE(torch::allclose(actual[1], expected[1], 1e-4, 1e-4)) << "grad w";
  return actual[0];
}

// Both backwards, forced on for every shape, must give torch::conv2d's gradients, for every
// kernel and stride, for odd and even sides (stride 2 leaves the last row unread on even
// sides), cropped kernels included, in both layouts; channels-last inputs get channels-last
// gradients.
TEST_P(DepthwiseConvFunctionTest, GradientsEqualNativeConvolution) {
  const Case c = GetParam();
  for (DepthwiseBackward choice : {DepthwiseBackward::kCustom, DepthwiseBackward::kNative}) {
    for (bool channels_last : {false, true}) {
      SCOPED_TRACE(channels_last ? "channels last" : "NCHW");
      SetDepthwiseBackward(choice);
      torch::manual_seed(c.side * 100 + c.kernel * 10 + c.stride);
      torch::Tensor x = torch::randn({3, 5, c.side, c.side});
      torch::Tensor w = torch::randn({5, 1, c.kernel, c.kernel}, torch::requires_grad());
      torch::Tensor x_nchw = x.clone().requires_grad_();
      torch::Tensor x_ours =
          (channels_last ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x.clone())
              .requires_grad_();
      torch::Tensor native = torch::conv2d(x_nchw, w, {}, c.stride, c.kernel / 2, 1, 5);
      torch::Tensor ours = DepthwiseConv2d(x_ours, w, c.stride);
      ASSERT_EQ(ours.sizes(), native.sizes());
      EXPECT_TRUE(torch::allclose(ours, native, 1e-5, 1e-5));
      const torch::Tensor grad_x = ExpectSameGradients(native, x_nchw, ours, x_ours, w);
      if (channels_last) {
        EXPECT_TRUE(grad_x.is_contiguous(torch::MemoryFormat::ChannelsLast));
      }
    }
  }
  SetDepthwiseBackward(DepthwiseBackward::kByShape);
}

// The backward taken is the one UsesCustomDepthwiseBackward names for the layer's shape and
// layout.
TEST_P(DepthwiseConvFunctionTest, TakesTheBackwardTheRuleNames) {
  const Case c = GetParam();
  for (bool channels_last : {false, true}) {
    torch::Tensor x = torch::randn({2, 3, c.side, c.side});
    if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    x.requires_grad_();
    torch::Tensor w = torch::randn({3, 1, c.kernel, c.kernel}, torch::requires_grad());
    torch::Tensor y = DepthwiseConv2d(x, w, c.stride);
    const int64_t kernel = CroppedDepthwiseKernel(c.kernel, c.side);
    // 1x1 maps are contiguous in both layouts; they count as NCHW.
    const bool nhwc = channels_last && c.side > 1;
    EXPECT_EQ(TookCustomBackward(y), UsesCustomDepthwiseBackward(kernel, c.stride, y.size(2), nhwc))
        << y.grad_fn()->name() << (nhwc ? " channels last" : " NCHW");
    torch::NoGradGuard no_grad;
    EXPECT_EQ(DepthwiseConv2d(x, w, c.stride).grad_fn(), nullptr);
  }
}

// Strided views (neither layout) take LibTorch's backward and give the same gradients.
TEST(DepthwiseConvLayoutTest, OtherLayoutsTakeTheNativeBackward) {
  SetDepthwiseBackward(DepthwiseBackward::kCustom);
  torch::manual_seed(7);
  torch::Tensor x = torch::randn({4, 6, 7, 14});
  torch::Tensor w = torch::randn({6, 1, 7, 7}, torch::requires_grad());
  torch::Tensor x_view = x.clone().requires_grad_();
  torch::Tensor x_copy = x.clone().requires_grad_();
  torch::Tensor strided = x_view.slice(3, 0, 14, 2);
  torch::Tensor y = DepthwiseConv2d(strided, w, 1);
  EXPECT_FALSE(TookCustomBackward(y));
  torch::Tensor expected = DepthwiseConv2d(x_copy.slice(3, 0, 14, 2).contiguous(), w, 1);
  ExpectSameGradients(expected, x_copy, y, x_view, w);
  SetDepthwiseBackward(DepthwiseBackward::kByShape);
}

TEST(DepthwiseConvRuleTest, CropsOnlyWeightsThatMeetPaddingAlone) {
  EXPECT_EQ(CroppedDepthwiseKernel(7, 1), 1);
  EXPECT_EQ(CroppedDepthwiseKernel(7, 2), 3);
  EXPECT_EQ(CroppedDepthwiseKernel(7, 3), 5);
  EXPECT_EQ(CroppedDepthwiseKernel(7, 4), 7);
  EXPECT_EQ(CroppedDepthwiseKernel(5, 2), 3);
  EXPECT_EQ(CroppedDepthwiseKernel(3, 2), 3);
  EXPECT_EQ(CroppedDepthwiseKernel(3, 1), 1);
}

TEST(DepthwiseConvRuleTest, FollowsTheMeasuredShapes) {
  for (int64_t side : {1, 2, 4, 7, 14, 16, 28, 56}) {
    EXPECT_TRUE(UsesCustomDepthwiseBackward(5, 1, side, false)) << side;
    EXPECT_TRUE(UsesCustomDepthwiseBackward(7, 1, side, false)) << side;
    EXPECT_EQ(UsesCustomDepthwiseBackward(7, 2, side, false), side <= 14) << side;
    EXPECT_EQ(UsesCustomDepthwiseBackward(3, 1, side, false), side <= 2) << side;
    EXPECT_EQ(UsesCustomDepthwiseBackward(3, 2, side, false), side == 1) << side;
  }
  EXPECT_FALSE(UsesCustomDepthwiseBackward(1, 1, 1, false));
  for (int64_t side : {2, 4, 7, 14, 28}) {
    EXPECT_TRUE(UsesCustomDepthwiseBackward(5, 1, side, true)) << side;
    EXPECT_TRUE(UsesCustomDepthwiseBackward(7, 1, side, true)) << side;
    EXPECT_FALSE(UsesCustomDepthwiseBackward(7, 2, side, true)) << side;
    EXPECT_FALSE(UsesCustomDepthwiseBackward(3, 1, side, true)) << side;
  }
}

// Sides from 1 (the kernel cropped to 1x1) to 32, both strides, odd and even sides, on
// both sides of the stride-2 limit (14 and 16 outputs).
INSTANTIATE_TEST_SUITE_P(
    Shapes, DepthwiseConvFunctionTest,
    ::testing::Values(Case{7, 7, 1}, Case{7, 5, 1}, Case{7, 3, 1}, Case{4, 7, 1}, Case{14, 7, 2},
                      Case{14, 5, 2}, Case{7, 7, 2}, Case{15, 5, 2}, Case{28, 7, 1}, Case{32, 5, 1},
                      Case{28, 5, 2}, Case{32, 7, 2}, Case{2, 7, 1}, Case{2, 3, 1}, Case{1, 5, 1},
                      Case{1, 3, 1}, Case{2, 3, 2}, Case{4, 3, 2}, Case{2, 5, 2}, Case{3, 7, 2},
                      Case{3, 7, 1}, Case{1, 7, 2}, Case{4, 7, 2}, Case{2, 7, 2}));

}  // namespace
}  // namespace ofa::trainer
