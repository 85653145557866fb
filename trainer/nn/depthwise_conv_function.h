#ifndef OFA_TRAINER_NN_DEPTHWISE_CONV_FUNCTION_H_
#define OFA_TRAINER_NN_DEPTHWISE_CONV_FUNCTION_H_

#include <cstdint>

#include <torch/torch.h>

namespace ofa::trainer {

// Depthwise convolution ("same" padding) of x [N, C, H, W] with w [C, 1, k, k].
//
// Why not just torch::conv2d: in the CPU LibTorch 1.13 we build against, the backward pass of
// depthwise convolutions with k >= 5 is 5-20x slower than the forward pass in NCHW and still
// 1.4-2.7x slower than this function's in channels last (docs/performance.md). This function
// keeps the forward as it is and, on CPU where UsesCustomDepthwiseBackward says so, computes
// both gradients itself:
//   grad_x = depthwise conv of grad_y (zero-inserted for stride 2) with the flipped kernel;
//   grad_w = NCHW: depthwise conv over N*C channels of the padded input with grad_y as the
//            kernel (dilated by the stride), summed over the batch; channels last:
//            ChannelsLastDepthwiseWeightGrad. Gradients keep the input's layout.
// Results equal torch::conv2d's gradients to float rounding (tested).
//
// On maps smaller than the kernel it also crops the kernel to CroppedDepthwiseKernel: the outer
// weights only ever meet the zero padding, so output and gradients stay the same (the cropped
// weights' gradient is zero), but oneDNN leaves its fast path when the padding exceeds the
// map: a k7 layer on a 2x2 map took 17 ms instead of 0.14 ms forward (docs/performance.md).
torch::Tensor DepthwiseConv2d(const torch::Tensor& x, const torch::Tensor& w, int64_t stride);

// The kernel size DepthwiseConv2d computes with: the centre of an odd kernel that still reaches
// the map's edge from every output position (2 * side - 1).
int64_t CroppedDepthwiseKernel(int64_t kernel, int64_t input_side);

// Whether DepthwiseConv2d computes a CPU layer's gradients itself: for the shapes where that
// measured faster than LibTorch's backward with freed memory retained (RetainFreedHeapMemory).
// NCHW: every k >= 5 layer at stride 1, k >= 5 at stride 2 up to 14x14 outputs, and k = 3
// only on 1x1 and 2x2 outputs. Channels last: k >= 5 at stride 1. It depends on shapes only,
// never on timings, so that a resumed run takes the same path and stays bit-identical.
bool UsesCustomDepthwiseBackward(int64_t kernel, int64_t stride, int64_t output_side,
                                 bool channels_last);

// Which backward DepthwiseConv2d takes on CPU: by UsesCustomDepthwiseBackward (the default),
// or one of the two everywhere, so that benchmarks can compare them in one run.
enum class DepthwiseBackward { kByShape, kNative, kCustom };

// Process-wide; thread-safe.
void SetDepthwiseBackward(DepthwiseBackward choice);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_DEPTHWISE_CONV_FUNCTION_H_
