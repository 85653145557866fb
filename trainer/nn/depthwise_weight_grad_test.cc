#include "trainer/nn/depthwise_weight_grad.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

// LibTorch's weight gradient of the same convolution, from NCHW tensors.
torch::Tensor NativeWeightGrad(const torch::Tensor& x, const torch::Tensor& grad_y, int64_t kernel,
                               int64_t stride) {
  torch::Tensor w = torch::zeros({x.size(1), 1, kernel, kernel}, torch::requires_grad());
  torch::Tensor y = torch::conv2d(x.contiguous(), w, {}, stride, kernel / 2, 1, x.size(1));
  return torch::autograd::grad({y}, {w}, {grad_y.contiguous()})[0];
}

// Channel counts that are not a multiple of any vector width, a batch that does not split
// evenly over the threads, both strides, and every thread count giving the same sum.
TEST(ChannelsLastDepthwiseWeightGradTest, EqualsLibTorchsForAnyThreadCount) {
  const int saved_threads = torch::get_num_threads();
  for (int64_t channels : {1, 19}) {
    for (int64_t stride : {1, 2}) {
      for (int64_t kernel : {3, 7}) {
        torch::manual_seed(channels * 100 + stride * 10 + kernel);
        torch::Tensor x =
            torch::randn({5, channels, 9, 9}).contiguous(torch::MemoryFormat::ChannelsLast);
        const int64_t out = (9 - 1) / stride + 1;
        torch::Tensor grad_y =
            torch::randn({5, channels, out, out}).contiguous(torch::MemoryFormat::ChannelsLast);
        const torch::Tensor expected = NativeWeightGrad(x, grad_y, kernel, stride);
        for (int threads : {1, 3}) {
          torch::set_num_threads(threads);
          const torch::Tensor ours = ChannelsLastDepthwiseWeightGrad(x, grad_y, kernel, stride);
          ASSERT_EQ(ours.sizes(), expected.sizes());
          EXPECT_TRUE(torch::allclose(ours, expected, 1e-4, 1e-4))
              << "C " << channels << " s " << stride << " k " << kernel << " threads " << threads
              << ": max difference " << (ours - expected).abs().max().item<float>();
        }
      }
    }
  }
  torch::set_num_threads(saved_threads);
}

TEST(ChannelsLastDepthwiseWeightGradTest, RejectsOtherTypes) {
  torch::Tensor x = torch::zeros({1, 2, 3, 3}, torch::kDouble);
  EXPECT_THROW(ChannelsLastDepthwiseWeightGrad(x, x, 3, 1), c10::Error);
}

}  // namespace
}  // namespace ofa::trainer
