// FusedBatchNormActivation (trainer/nn/batch_norm_activation.h) beside LibTorch's batch norm +
// activation, forward alone and forward + backward, on the batch norm shapes of ofa_small_28
// in the default Fashion-MNIST job (one shard of 64 images on one kernel thread, as with
// resources.cpu_batch_shards = 2). Calls alternate between the two for several rounds and the
// medians are shown, because the machines this runs on are noisy.
//
//   bazel run -c opt //tests/bench:batch_norm_bench -- [--batch=64] [--threads=1]
//       [--iterations=50] [--rounds=5]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "trainer/common/heap_retention.h"
#include "trainer/nn/batch_norm_activation.h"

ABSL_FLAG(int, batch, 64, "Images per call.");
ABSL_FLAG(int, threads, 1, "Intra-op threads.");
ABSL_FLAG(int, iterations, 50, "Timed calls per measurement (after 3 warm-up calls).");
ABSL_FLAG(int, rounds, 5, "Alternating rounds; the table shows medians.");

namespace ofa::trainer {
namespace {

struct Shape {
  int64_t channels, side;
  Activation activation;
};

double MicrosecondsPerCall(const std::function<void()>& call) {
  for (int i = 0; i < 3; ++i) call();
  const int n = absl::GetFlag(FLAGS_iterations);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) call();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
             .count() /
         n;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One call: batch norm + activation on x, through the fused kernel or LibTorch, and with
// `backward` the backward pass for a fixed output gradient.
void Call(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
          const torch::Tensor& grad, Activation activation, bool fused, bool backward) {
  torch::AutoGradMode grad_mode(backward);
  const torch::Tensor y =
      fused ? FusedBatchNormActivation(x, weight, bias, 1e-5, activation, nullptr)
            : ApplyActivation(torch::batch_norm(x, weight, bias, {}, {}, /*training=*/true, 0.1,
                                                1e-5, /*cudnn_enabled=*/false),
                              activation);
  if (backward) {
    torch::autograd::grad({y}, {x, weight, bias}, {grad});
  }
}

int Main() {
  RetainFreedHeapMemory();  // As ofa-trainer runs: no page faults from reallocated outputs.
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  const int64_t batch = absl::GetFlag(FLAGS_batch);
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  // The stem and first block, the expanded and projected maps of the three stages, the head.
  const std::vector<Shape> shapes = {
      {8, 14, Activation::kHardSwish},  {48, 14, Activation::kRelu},
      {48, 7, Activation::kRelu},       {16, 7, Activation::kNone},
      {144, 7, Activation::kRelu},      {24, 7, Activation::kNone},
      {192, 4, Activation::kHardSwish}, {32, 4, Activation::kNone},
      {128, 4, Activation::kHardSwish},
  };
  std::printf(
      "batch %lld, %d threads, %d calls per measurement, medians of %d rounds; "
      "microseconds per call\n",
      static_cast<long long>(batch), absl::GetFlag(FLAGS_threads), absl::GetFlag(FLAGS_iterations),
      rounds);
  std::printf("%-16s %10s %10s %7s | %10s %10s %7s\n", "input NxCxHxW", "fwd fused", "fwd LibT",
              "ratio", "f+b fused", "f+b LibT", "ratio");
  for (const Shape& s : shapes) {
    torch::manual_seed(1);
    const torch::Tensor x = (torch::randn({batch, s.channels, s.side, s.side}) * 2 + 0.5)
                                .contiguous(torch::MemoryFormat::ChannelsLast)
                                .requires_grad_();
    const torch::Tensor weight = (torch::rand({s.channels}) + 0.5).requires_grad_();
    const torch::Tensor bias = torch::randn({s.channels}).requires_grad_();
    const torch::Tensor grad =
        torch::randn(x.sizes()).contiguous(torch::MemoryFormat::ChannelsLast);
    std::vector<double> times[4];  // fwd fused, fwd LibTorch, f+b fused, f+b LibTorch
    for (int r = 0; r < rounds; ++r) {
      for (int k = 0; k < 4; ++k) {
        const bool fused = k % 2 == 0, backward = k >= 2;
        times[k].push_back(MicrosecondsPerCall(
            [&] { Call(x, weight, bias, grad, s.activation, fused, backward); }));
      }
    }
    char name[32];
    std::snprintf(name, sizeof(name), "%lldx%lldx%lldx%lld", static_cast<long long>(batch),
                  static_cast<long long>(s.channels), static_cast<long long>(s.side),
                  static_cast<long long>(s.side));
    const double m[4] = {Median(times[0]), Median(times[1]), Median(times[2]), Median(times[3])};
    std::printf("%-16s %10.1f %10.1f %6.2fx | %10.1f %10.1f %6.2fx\n", name, m[0], m[1],
                m[1] / m[0], m[2], m[3], m[3] / m[2]);
  }
  return 0;
}

}  // namespace
}  // namespace ofa::trainer

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ofa::trainer::Main();
}
