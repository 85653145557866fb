#include "trainer/nn/batch_norm_activation.h"

#include <gtest/gtest.h>

#include "trainer/nn/dynamic_batch_norm.h"

namespace ofa::trainer {
namespace {

struct Gradients {
  torch::Tensor y, x, weight, bias;
};

// Output and gradients of batch norm + activation on x, through `fused` or LibTorch's ops.
Gradients BatchNormThenActivation(const torch::Tensor& input, Activation activation, bool fused) {
  torch::manual_seed(7);
  const int64_t channels = input.size(1);
  torch::Tensor x = input.detach().clone().requires_grad_();
  torch::Tensor weight = (torch::rand({channels}) + 0.5).requires_grad_();
  torch::Tensor bias = torch::randn({channels}).requires_grad_();
  torch::Tensor grad = torch::randn(input.sizes()).contiguous(input.suggest_memory_format());
  torch::Tensor y =
      fused ? FusedBatchNormActivation(x, weight, bias, 1e-5, activation, nullptr)
            : ApplyActivation(torch::batch_norm(x, weight, bias, {}, {}, /*training=*/true, 0.1,
                                                1e-5, /*cudnn_enabled=*/false),
                              activation);
  y.backward(grad);
  return {y.detach(), x.grad(), weight.grad(), bias.grad()};
}

TEST(FusedBatchNormActivationTest, MatchesLibTorchsBatchNormAndActivation) {
  struct Shape {
    int64_t n, c, h, w;
  };
  // Channel counts below, at and above one AVX-512 vector, odd ones, one block of rows and many.
  for (Shape s : {Shape{2, 1, 3, 3}, Shape{4, 8, 14, 14}, Shape{3, 24, 7, 7}, Shape{8, 37, 5, 3},
                  Shape{16, 96, 4, 4}, Shape{64, 16, 1, 1}}) {
    for (Activation a : {Activation::kNone, Activation::kRelu, Activation::kHardSwish}) {
      SCOPED_TRACE(testing::Message() << "shape [" << s.n << ", " << s.c << ", " << s.h << ", "
                                      << s.w << "], activation " << static_cast<int>(a));
      // Shifted and scaled so that the activations' kinks and flat parts are all reached.
      const torch::Tensor x = (torch::randn({s.n, s.c, s.h, s.w}) * 3 + 0.5)
                                  .contiguous(torch::MemoryFormat::ChannelsLast);
      const Gradients fused = BatchNormThenActivation(x, a, true);
      const Gradients native = BatchNormThenActivation(x, a, false);
      EXPECT_TRUE(fused.y.is_contiguous(torch::MemoryFormat::ChannelsLast));
      EXPECT_TRUE(fused.x.is_contiguous(torch::MemoryFormat::ChannelsLast));
      EXPECT_TRUE(torch::allclose(fused.y, native.y, 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(fused.x, native.x, 1e-4, 1e-5))
          << (fused.x - native.x).abs().max().item<float>();
      EXPECT_TRUE(torch::allclose(fused.weight, native.weight, 1e-4, 1e-4));
      EXPECT_TRUE(torch::allclose(fused.bias, native.bias, 1e-4, 1e-4));
    }
  }
}

TEST(FusedBatchNormActivationTest, ResultDoesNotDependOnTheThreadCount) {
  const torch::Tensor x =
      torch::randn({64, 24, 7, 7}).contiguous(torch::MemoryFormat::ChannelsLast);
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const Gradients one = BatchNormThenActivation(x, Activation::kHardSwish, true);
  torch::set_num_threads(2);
  const Gradients two = BatchNormThenActivation(x, Activation::kHardSwish, true);
  torch::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.y, two.y));
  EXPECT_TRUE(torch::equal(one.x, two.x));
  EXPECT_TRUE(torch::equal(one.weight, two.weight));
  EXPECT_TRUE(torch::equal(one.bias, two.bias));
}

// The variance must stay exact where a one-pass sum of squares in float would lose it all
// (mean 1000, deviation 0.1), over many row blocks: a guard for any faster statistics pass.
TEST(FusedBatchNormActivationTest, StatisticsStayExactFarFromZero) {
  const torch::Tensor x =
      (torch::randn({32, 12, 9, 11}) * 0.1 + 1000).contiguous(torch::MemoryFormat::ChannelsLast);
  BatchStatistics statistics;
  FusedBatchNormActivation(x, torch::ones({12}), torch::zeros({12}), 1e-5, Activation::kNone,
                           &statistics);
  const torch::Tensor reference = x.to(torch::kDouble);
  const torch::Tensor mean = reference.mean({0, 2, 3});
  const torch::Tensor variance = reference.var({0, 2, 3}, /*unbiased=*/false);
  EXPECT_EQ(statistics.count, 32 * 9 * 11);
  EXPECT_TRUE(torch::allclose(statistics.mean.to(torch::kDouble), mean, 1e-6, 0));
  EXPECT_TRUE(torch::allclose(statistics.biased_variance.to(torch::kDouble), variance, 1e-5, 0))
      << statistics.biased_variance << variance;
}

TEST(FusedBatchNormActivationTest, RefusesWhatItDoesNotTake) {
  EXPECT_FALSE(FusedBatchNormActivationApplies(torch::randn({4, 8, 3, 3})));  // NCHW
  EXPECT_FALSE(FusedBatchNormActivationApplies(
      torch::randn({4, 8, 3, 3}, torch::kDouble).contiguous(torch::MemoryFormat::ChannelsLast)));
  EXPECT_FALSE(FusedBatchNormActivationApplies(torch::randn({1, 8, 1, 1})));  // one value
  EXPECT_FALSE(FusedBatchNormActivationApplies(torch::randn({4, 8})));
  const torch::Tensor x = torch::randn({4, 8, 3, 3});
  EXPECT_THROW(FusedBatchNormActivation(x, torch::ones({8}), torch::zeros({8}), 1e-5,
                                        Activation::kNone, nullptr),
               c10::Error);
  EXPECT_THROW(
      FusedBatchNormActivation(x.contiguous(torch::MemoryFormat::ChannelsLast), torch::ones({7}),
                               torch::zeros({8}), 1e-5, Activation::kNone, nullptr),
      c10::Error);
}

// DynamicBatchNorm on the fused path keeps the same running statistics as LibTorch's, for a
// sub-network's channel prefix, in exponential and in recalibration (cumulative) mode.
TEST(FusedBatchNormActivationTest, DynamicBatchNormUpdatesRunningStatisticsAsLibTorch) {
  DynamicBatchNorm fused(32), native(32);
  fused->train();
  native->train();
  for (bool recalibrate : {false, true}) {
    if (recalibrate) {
      fused->BeginRecalibration();
      native->BeginRecalibration();
    }
    for (int step = 0; step < 3; ++step) {
      const torch::Tensor x =
          (torch::randn({8, 24, 5, 5}) * 2 + 1).contiguous(torch::MemoryFormat::ChannelsLast);
      SetCpuBatchNorm(CpuBatchNorm::kFused);
      const torch::Tensor a = fused(x, Activation::kRelu);
      SetCpuBatchNorm(CpuBatchNorm::kNative);
      const torch::Tensor b = native(x, Activation::kRelu);
      SetCpuBatchNorm(CpuBatchNorm::kFused);
      EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5));
    }
    EXPECT_TRUE(torch::allclose(fused->running_mean, native->running_mean, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(fused->running_var, native->running_var, 1e-5, 1e-6));
  }
  // Channels past the prefix were never touched.
  EXPECT_TRUE(torch::equal(fused->running_mean.narrow(0, 24, 8), torch::zeros({8})));
}

}  // namespace
}  // namespace ofa::trainer
