#include "trainer/search/latency_profiler.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include <torch/cuda.h>

#include "absl/strings/str_cat.h"
#include "trainer/nn/standalone_subnet.h"
#include "trainer/search/latency_model.h"

namespace ofa::trainer {
namespace {

namespace F = torch::nn::functional;

// The layer as a callable on its input, built like StandaloneSubnet builds it.
std::function<torch::Tensor(const torch::Tensor&)> BuildLayer(const LatencyLayer& layer,
                                                              torch::Device device,
                                                              int64_t* in_channels) {
  switch (layer.kind) {
    case LatencyLayer::Kind::kStem: {
      *in_channels = layer.in_channels;
      torch::nn::Conv2d conv(torch::nn::Conv2dOptions(layer.in_channels, layer.out_channels, 3)
                                 .stride(layer.stride)
                                 .padding(1)
                                 .bias(false));
      torch::nn::BatchNorm2d bn(layer.out_channels);
      conv->to(device);
      bn->to(device);
      bn->eval();
      return [conv, bn](const torch::Tensor& x) mutable { return torch::hardswish(bn(conv(x))); };
    }
    case LatencyLayer::Kind::kBlock: {
      *in_channels = layer.block.in_channels;
      StandaloneBlock block(layer.block);
      block->to(device);
      block->eval();
      return [block](const torch::Tensor& x) mutable { return block(x); };
    }
    case LatencyLayer::Kind::kHead:
      break;
  }
  *in_channels = layer.in_channels;
  torch::nn::Conv2d expand(
      torch::nn::Conv2dOptions(layer.in_channels, layer.final_expand_channels, 1).bias(false));
  torch::nn::BatchNorm2d bn(layer.final_expand_channels);
  torch::nn::Conv2d mix(
      torch::nn::Conv2dOptions(layer.final_expand_channels, layer.last_channel, 1).bias(false));
  torch::nn::Linear classifier(layer.last_channel, layer.out_channels);
  for (torch::nn::Module* m : std::vector<torch::nn::Module*>{expand.get(), bn.get(), mix.get(),
                                                              classifier.get()}) {
    m->to(device);
    m->eval();
  }
  return [expand, bn, mix, classifier](const torch::Tensor& x) mutable {
    torch::Tensor y = torch::hardswish(bn(expand(x)));
    y = torch::hardswish(mix(y.mean({2, 3}, /*keepdim=*/true))).flatten(1);
    return classifier(y);
  };
}

}  // namespace

absl::StatusOr<ofa::v1::LatencyTable> ProfileLatencyTable(const SupernetArchitecture& arch,
                                                          const LatencyProfileOptions& options) {
  if (options.batch_size < 1 || options.repeats < 1 || options.warmup < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "latency profile: batch size ", options.batch_size, " and repeats ", options.repeats,
        " must be at least 1"));
  }
  if (options.device.is_cuda() && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError("latency profile: no CUDA device is available");
  }
  const bool cuda = options.device.is_cuda();
  torch::NoGradGuard no_grad;
  const std::map<std::string, LatencyLayer> layers = AllLatencyLayers(arch);
  ofa::v1::LatencyTable table;
  table.set_name(options.name);
  table.set_batch_size(options.batch_size);
  table.set_device(cuda ? absl::StrCat("cuda:", options.device.index())
                        : absl::StrCat("cpu (", torch::get_num_threads(), " threads)"));
  int done = 0;
  for (const auto& [key, layer] : layers) {
    int64_t channels = 0;
    auto run = BuildLayer(layer, options.device, &channels);
    const torch::Tensor x =
        torch::randn({options.batch_size, channels, layer.resolution, layer.resolution},
                     torch::TensorOptions().device(options.device));
    for (int i = 0; i < options.warmup; ++i) run(x);
    std::vector<double> ms;
    for (int i = 0; i < options.repeats; ++i) {
      if (cuda) torch::cuda::synchronize();
      const auto start = std::chrono::steady_clock::now();
      run(x);
      if (cuda) torch::cuda::synchronize();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             start)
                       .count());
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    (*table.mutable_layer_ms())[key] = ms[ms.size() / 2];
    if (options.on_layer) options.on_layer(++done, static_cast<int>(layers.size()));
  }
  return table;
}

}  // namespace ofa::trainer
