#include <torch/torch.h>

#include "gtest/gtest.h"
#include "trainer/nn/active_prefix.h"
#include "trainer/nn/dynamic_batch_norm.h"
#include "trainer/nn/dynamic_conv2d.h"
#include "trainer/nn/dynamic_depthwise_conv.h"
#include "trainer/nn/dynamic_linear.h"
#include "trainer/nn/dynamic_squeeze_excite.h"
#include "trainer/nn/linear_as_conv.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {
namespace {

using torch::indexing::Slice;

torch::Tensor Centre(const torch::Tensor& filter, int size) {
  const int64_t start = (filter.size(2) - size) / 2;
  return filter.index({Slice(), Slice(), Slice(start, start + size), Slice(start, start + size)});
}

TEST(MakeDivisibleTest, MatchesOfaRounding) {
  EXPECT_EQ(MakeDivisible(16 * 1.2), 24);  // 19.2 -> 16 would lose over 10%: bump to 24.
  EXPECT_EQ(MakeDivisible(40 * 1.2), 48);
  EXPECT_EQ(MakeDivisible(3), 8);          // At least the divisor.
  EXPECT_EQ(MakeDivisible(44), 48);        // Rounds half up: int(44 + 4) // 8 * 8.
  EXPECT_EQ(MiddleChannels(24, 3), 72);
  EXPECT_EQ(MiddleChannels(40, 6), 240);
  EXPECT_EQ(SqueezeChannels(72), 24);      // 72 / 4 = 18 -> 16 loses over 10% -> 24.
  EXPECT_EQ(SqueezeChannels(96), 24);
}

TEST(DynamicDepthwiseConvTest, IdentityTransformsGiveTheCentreOfTheLargestKernel) {
  torch::manual_seed(0);
  DynamicDepthwiseConv conv(8, std::vector<int>{3, 5, 7}, 1);
  EXPECT_TRUE(torch::equal(conv->ActiveFilter(8, 7), conv->weight));
  EXPECT_TRUE(torch::allclose(conv->ActiveFilter(6, 5), Centre(conv->weight, 5).narrow(0, 0, 6)));
  EXPECT_TRUE(torch::allclose(conv->ActiveFilter(6, 3), Centre(conv->weight, 3).narrow(0, 0, 6)));
}

TEST(DynamicDepthwiseConvTest, SmallerKernelsGoThroughEveryTransformMatrix) {
  torch::manual_seed(1);
  DynamicDepthwiseConv conv(4, std::vector<int>{3, 5, 7}, 1);
  auto params = conv->named_parameters();
  torch::NoGradGuard no_grad;
  torch::Tensor m75 = torch::randn({25, 25});
  torch::Tensor m53 = torch::randn({9, 9});
  params["transform_7to5"].copy_(m75);
  params["transform_5to3"].copy_(m53);
  torch::Tensor five = torch::mm(Centre(conv->weight, 5).reshape({4, 25}), m75.t()).view({4, 1, 5, 5});
  torch::Tensor three = torch::mm(Centre(five, 3).reshape({4, 9}), m53.t()).view({4, 1, 3, 3});
  EXPECT_TRUE(torch::allclose(conv->ActiveFilter(4, 5), five, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(conv->ActiveFilter(4, 3), three, 1e-5, 1e-6));
}

TEST(DynamicDepthwiseConvTest, OnlyTheTransformsOnTheWayGetGradients) {
  torch::manual_seed(2);
  DynamicDepthwiseConv conv(4, std::vector<int>{3, 5, 7}, 2);
  torch::Tensor x = torch::randn({2, 4, 9, 9});
  torch::Tensor y = conv(x, 5);
  EXPECT_EQ(y.sizes(), torch::IntArrayRef({2, 4, 5, 5}));  // Stride 2, "same" padding.
  y.sum().backward();
  auto params = conv->named_parameters();
  EXPECT_TRUE(params["transform_7to5"].grad().defined());
  EXPECT_FALSE(params["transform_5to3"].grad().defined());
}

TEST(DynamicConv2dTest, UsesTheLeadingFilters) {
  torch::manual_seed(3);
  DynamicConv2d conv(6, 10, 1, 1);
  torch::Tensor x = torch::randn({2, 4, 5, 5});
  torch::Tensor expected = torch::conv2d(x, conv->weight.index({Slice(0, 7), Slice(0, 4)}));
  EXPECT_TRUE(torch::allclose(conv(x, 7), expected));
}

TEST(DynamicBatchNormTest, TrainingUpdatesOnlyTheActiveChannels) {
  DynamicBatchNorm bn(8);
  torch::Tensor x = torch::randn({16, 5, 3, 3}) * 3 + 2;
  bn(x);
  EXPECT_TRUE(torch::allclose(bn->running_mean.narrow(0, 0, 5),
                              0.1 * x.mean({0, 2, 3}), 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(bn->running_mean.narrow(0, 5, 3), torch::zeros({3})));
  EXPECT_TRUE(torch::equal(bn->running_var.narrow(0, 5, 3), torch::ones({3})));
}

TEST(DynamicBatchNormTest, FrozenRunningStatisticsStayButTheBatchIsStillNormalised) {
  DynamicBatchNorm bn(4);
  torch::Tensor x = torch::randn({16, 4, 3, 3}) * 3 + 2;
  torch::Tensor y;
  {
    FreezeRunningStatistics freeze;
    y = bn(x);
  }
  EXPECT_TRUE(torch::equal(bn->running_mean, torch::zeros({4})));
  EXPECT_TRUE(torch::equal(bn->running_var, torch::ones({4})));
  EXPECT_TRUE(torch::allclose(y.mean({0, 2, 3}), torch::zeros({4}), 1e-5, 1e-5));
  FreezeRunningStatistics not_frozen(false);
  bn(x);  // And the guard is gone with its scope.
  EXPECT_TRUE(torch::allclose(bn->running_mean, 0.1 * x.mean({0, 2, 3}), 1e-5, 1e-6));
}

TEST(DynamicBatchNormTest, RecalibrationIsACumulativeAverageOverBatches) {
  DynamicBatchNorm bn(4);
  torch::NoGradGuard no_grad;
  bn(torch::randn({8, 4, 2, 2}) * 10);  // Stale statistics to be forgotten.
  bn->BeginRecalibration();
  std::vector<torch::Tensor> means;
  for (int i = 0; i < 3; ++i) {
    torch::Tensor x = torch::randn({8, 4, 2, 2}) + i;
    means.push_back(x.mean({0, 2, 3}));
    bn(x);
  }
  bn->EndRecalibration();
  EXPECT_TRUE(torch::allclose(bn->running_mean, torch::stack(means).mean(0), 1e-5, 1e-6));
}

TEST(DynamicSqueezeExciteTest, SlicesChannelsAndHiddenUnits) {
  torch::manual_seed(4);
  DynamicSqueezeExcite se(64);  // 16 hidden units at full width.
  torch::Tensor x = torch::randn({2, 40, 3, 3});
  const int64_t hidden = SqueezeChannels(40);  // 10 -> 8 loses over 10% -> 16 of 16.
  ASSERT_EQ(hidden, 16);
  x = torch::randn({2, 24, 3, 3});  // 24 channels: 6 -> 8 hidden units of 16.
  ASSERT_EQ(SqueezeChannels(24), 8);
  torch::Tensor s = torch::relu(torch::linear(x.mean({2, 3}),
                                              se->reduce_weight.index({Slice(0, 8), Slice(0, 24)}),
                                              se->reduce_bias.narrow(0, 0, 8)));
  s = torch::hardsigmoid(torch::linear(s, se->expand_weight.index({Slice(0, 24), Slice(0, 8)}),
                                       se->expand_bias.narrow(0, 0, 24)));
  EXPECT_TRUE(torch::allclose(se(x), x * s.view({2, 24, 1, 1})));
}

TEST(DynamicLinearTest, UsesTheLeadingInputColumns) {
  DynamicLinear linear(32, 10);
  torch::Tensor x = torch::randn({3, 20});
  EXPECT_TRUE(torch::allclose(
      linear(x), torch::linear(x, linear->weight.narrow(1, 0, 20), linear->bias)));
}

TEST(LinearAsConv1x1Test, EqualsLinearInValueAndGradients) {
  torch::manual_seed(5);
  for (const bool with_bias : {true, false}) {
    torch::Tensor x = torch::randn({7, 48}, torch::requires_grad());
    torch::Tensor w = torch::randn({30, 64}, torch::requires_grad());
    torch::Tensor b = with_bias ? torch::randn({30}, torch::requires_grad()) : torch::Tensor();
    // A column slice of the weight, as the elastic layers pass it.
    torch::Tensor ours = LinearAsConv1x1(x, w.narrow(1, 0, 48), b);
    torch::Tensor theirs = torch::linear(x, w.narrow(1, 0, 48), b);
    ASSERT_EQ(ours.sizes(), theirs.sizes());
    EXPECT_TRUE(torch::allclose(ours, theirs, 1e-5, 1e-5));
    torch::Tensor up = torch::randn({7, 30});
    auto grads = [&](const torch::Tensor& y) {
      std::vector<torch::Tensor> inputs = {x, w};
      if (with_bias) inputs.push_back(b);
      return torch::autograd::grad({y}, inputs, {up});
    };
    const std::vector<torch::Tensor> g_ours = grads(ours);
    const std::vector<torch::Tensor> g_theirs = grads(theirs);
    for (size_t i = 0; i < g_ours.size(); ++i) {
      EXPECT_TRUE(torch::allclose(g_ours[i], g_theirs[i], 1e-4, 1e-5)) << i;
    }
  }
}

TEST(ActivePrefixTest, IsTheTensorItselfWhenFullAndAViewOtherwise) {
  torch::Tensor t = torch::randn({6, 4}, torch::requires_grad());
  EXPECT_TRUE(ActivePrefix(t, 0, 6).is_same(t));  // No slice for autograd to record.
  EXPECT_TRUE(ActivePrefix(t, 1, 4).is_same(t));
  torch::Tensor part = ActivePrefix(t, 1, 3);
  EXPECT_EQ(part.sizes(), torch::IntArrayRef({6, 3}));
  EXPECT_EQ(part.data_ptr(), t.data_ptr());  // A view, not a copy.
  part.sum().backward();
  EXPECT_TRUE(torch::equal(t.grad().narrow(1, 0, 3), torch::ones({6, 3})));
  EXPECT_TRUE(torch::equal(t.grad().narrow(1, 3, 1), torch::zeros({6, 1})));
}

}  // namespace
}  // namespace ofa::trainer
