// Depthwise convolution layers, forward + backward, LibTorch's backward beside DepthwiseConv2d's
// custom one (trainer/nn/depthwise_conv_function.h), each forced on for every shape, in NCHW
// and channels last, with the one the shape rule picks; and the forward with the full kernel
// beside the cropped one, for the layer shapes of ofa_small_28 and OFA-MobileNetV3 at 32-224
// pixels. It prints the table behind UsesCustomDepthwiseBackward and CroppedDepthwiseKernel.
//
//   bazel run -c opt //tests/bench:depthwise_conv_bench -- [--threads=2] [--iterations=10]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "trainer/common/heap_retention.h"
#include "trainer/nn/depthwise_conv_function.h"

ABSL_FLAG(int, threads, 2, "Intra-op threads.");
ABSL_FLAG(int, iterations, 10, "Timed calls per measurement (after 2 warm-up calls).");
ABSL_FLAG(bool, small_only, false,
          "Only ofa_small_28's depthwise layers at batch 128 (the Fashion-MNIST demo's).");

namespace ofa::trainer {
namespace {

struct Layer {
  int64_t batch, channels, side, stride;
};

template <typename F>
double Milliseconds(F&& f) {
  f();
  f();
  const int n = absl::GetFlag(FLAGS_iterations);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
             .count() /
         n;
}

int Main() {
  RetainFreedHeapMemory();  // As ofa-trainer runs: the custom backward's rule assumes it.
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  const std::vector<Layer> small = {
      {128, 48, 14, 2}, {128, 96, 7, 1}, {128, 144, 7, 1}, {128, 144, 7, 2}, {128, 192, 4, 1},
  };
  const std::vector<Layer> all = {
      {128, 48, 14, 2}, {128, 96, 7, 1}, {128, 144, 4, 1}, {128, 48, 28, 2}, {128, 48, 14, 1},
      {64, 144, 16, 1}, {64, 96, 32, 2}, {64, 240, 8, 1},  {64, 240, 8, 2},  {64, 480, 4, 1},
      {64, 480, 4, 2},  {64, 480, 2, 1}, {64, 672, 2, 2},  {64, 960, 1, 1},  {64, 72, 32, 1},
      {32, 144, 28, 1}, {32, 96, 56, 2},
  };
  std::printf("%d threads, %d calls each; milliseconds per call\n", absl::GetFlag(FLAGS_threads),
              absl::GetFlag(FLAGS_iterations));
  std::printf("%-22s %2s %4s %4s | %9s %9s %6s %6s | %9s %9s %6s %6s | %9s %9s\n", "input NxCxHxW",
              "k", "out", "crop", "native", "custom", "ratio", "rule", "NHWC nat", "NHWC cus",
              "ratio", "rule", "fwd full", "fwd crop");
  for (const Layer& l : absl::GetFlag(FLAGS_small_only) ? small : all) {
    for (int64_t k : {3, 5, 7}) {
      torch::Tensor x = torch::randn({l.batch, l.channels, l.side, l.side}, torch::requires_grad());
      // The layout OfaSupernet trains in on CPU.
      torch::Tensor x_nhwc = x.detach().contiguous(torch::MemoryFormat::ChannelsLast);
      x_nhwc.requires_grad_();
      torch::Tensor w = torch::randn({l.channels, 1, k, k}, torch::requires_grad());
      auto train = [&](const torch::Tensor& input, DepthwiseBackward choice) {
        SetDepthwiseBackward(choice);
        torch::Tensor y = DepthwiseConv2d(input, w, l.stride);
        y.backward(torch::ones_like(y));
      };
      // Alternate to spread the VM's drift over both.
      auto both = [&](const torch::Tensor& input, DepthwiseBackward choice) {
        return (Milliseconds([&] { train(input, choice); }) +
                Milliseconds([&] { train(input, choice); })) /
               2;
      };
      const double native = both(x, DepthwiseBackward::kNative);
      const double custom = both(x, DepthwiseBackward::kCustom);
      const double nhwc_native = both(x_nhwc, DepthwiseBackward::kNative);
      const double nhwc_custom = both(x_nhwc, DepthwiseBackward::kCustom);
      SetDepthwiseBackward(DepthwiseBackward::kByShape);
      torch::NoGradGuard no_grad;
      const double full =
          Milliseconds([&] { torch::conv2d(x, w, {}, l.stride, k / 2, 1, l.channels); });
      const double cropped = Milliseconds([&] { DepthwiseConv2d(x, w, l.stride); });
      const int64_t crop = CroppedDepthwiseKernel(k, l.side);
      const int64_t out = (l.side - 1) / l.stride + 1;
      char shape[32];
      std::snprintf(shape, sizeof(shape), "%ldx%ldx%ldx%ld s%ld", l.batch, l.channels, l.side,
                    l.side, l.stride);
      auto rule = [&](bool channels_last) {
        return UsesCustomDepthwiseBackward(crop, l.stride, out, channels_last) ? "custom"
                                                                               : "native";
      };
      std::printf(
          "%-22s %2ld %4ld %4ld | %9.2f %9.2f %5.2fx %6s | %9.2f %9.2f %5.2fx %6s | %9.2f %9.2f\n",
          shape, k, out, crop, native, custom, native / custom, rule(false), nhwc_native,
          nhwc_custom, nhwc_native / nhwc_custom, rule(l.side > 1), full, cropped);
    }
  }
  return 0;
}

}  // namespace
}  // namespace ofa::trainer

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ofa::trainer::Main();
}
