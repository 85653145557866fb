#ifndef OFA_TRAINER_NN_DEPTHWISE_WEIGHT_GRAD_H_
#define OFA_TRAINER_NN_DEPTHWISE_WEIGHT_GRAD_H_

#include <torch/torch.h>

#include <cstdint>

namespace ofa::trainer {

// The weight gradient [C, 1, k, k] of a "same"-padded depthwise convolution on CPU, for a
// channels-last float input x [N, C, H, W] and output gradient grad_y [N, C, Ho, Wo] (both
// stored NHWC):
//   grad_w[c, i, j] = sum over n, y, x of grad_y[n, c, y, x] * x[n, c, s*y + i - k/2, s*x + j -
//   k/2].
// Channels are the innermost, contiguous dimension, so every term is one vector multiply-add
// over C floats. LibTorch 1.13 has no such kernel for channels-last inputs and is 1.3-2x slower
// than a forward convolution there (docs/performance.md). The batch is split over the intra-op
// threads, each with its own partial sum; for a given thread count the result is
// deterministic.
torch::Tensor ChannelsLastDepthwiseWeightGrad(const torch::Tensor& x, const torch::Tensor& grad_y,
                                              int64_t kernel, int64_t stride);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_DEPTHWISE_WEIGHT_GRAD_H_
