#ifndef OFA_TRAINER_NN_DEPTHWISE_CONV_FUNCTION_H_
#define OFA_TRAINER_NN_DEPTHWISE_CONV_FUNCTION_H_

#include <cstdint>

#include <torch/torch.h>

namespace ofa::trainer {

// Depthwise convolution ("same" padding) of x [N, C, H, W] with w [C, 1, k, k].
//
// Why not just torch::conv2d: in the CPU LibTorch 1.13 we build against, the backward pass of
// depthwise convolutions with k >= 5 on small feature maps is 5-20x slower than the forward
// pass (docs/performance.md). This function keeps the forward as it is and, on small maps,
// computes both gradients with forward depthwise convolutions instead:
//   grad_x = depthwise conv of grad_y (zero-inserted for stride 2) with the flipped kernel;
//   grad_w = depthwise conv over N*C channels of the padded input with grad_y as the kernel
//            (dilated by the stride), summed over the batch.
// Results equal torch::conv2d's gradients to float rounding (tested).
torch::Tensor DepthwiseConv2d(const torch::Tensor& x, const torch::Tensor& w, int64_t stride);

// Process-wide switch to LibTorch's own backward everywhere, so benchmarks can compare both
// in one run. Thread-safe.
void UseNativeDepthwiseBackward(bool native);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_DEPTHWISE_CONV_FUNCTION_H_
