#include "trainer/nn/elastic_mbconv.h"

#include <algorithm>

namespace ofa::trainer {

torch::Tensor Activate(const torch::Tensor& x, bool hswish) {
  return ApplyActivation(x, hswish ? Activation::kHardSwish : Activation::kRelu);
}

ElasticMBConvImpl::ElasticMBConvImpl(const BlockLayout& layout,
                                     const std::vector<int>& kernel_sizes,
                                     const std::vector<int>& expand_ratios)
    : layout_(layout) {
  const int max_expand = *std::max_element(expand_ratios.begin(), expand_ratios.end());
  const int64_t max_mid =
      max_expand == 1 ? layout.in_channels : MiddleChannels(layout.in_channels, max_expand);
  if (max_expand != 1) {
    expand_conv = register_module("expand_conv", DynamicConv2d(layout.in_channels, max_mid));
    expand_bn = register_module("expand_bn", DynamicBatchNorm(max_mid));
  }
  depthwise = register_module("depthwise",
                              DynamicDepthwiseConv(max_mid, kernel_sizes, layout.stride));
  depthwise_bn = register_module("depthwise_bn", DynamicBatchNorm(max_mid));
  if (layout.squeeze_excite) {
    squeeze_excite = register_module("squeeze_excite", DynamicSqueezeExcite(max_mid));
  }
  project = register_module("project", DynamicConv2d(max_mid, layout.out_channels));
  project_bn = register_module("project_bn", DynamicBatchNorm(layout.out_channels));
}

torch::Tensor ElasticMBConvImpl::forward(const torch::Tensor& x, int kernel_size,
                                         int expand_ratio) {
  const Activation activation = layout_.hswish ? Activation::kHardSwish : Activation::kRelu;
  torch::Tensor y = x;
  if (has_expand()) {
    const int64_t mid = MiddleChannels(static_cast<int>(x.size(1)), expand_ratio);
    y = expand_bn(expand_conv(y, mid), activation);
  }
  y = depthwise_bn(depthwise(y, kernel_size), activation);
  if (layout_.squeeze_excite) y = squeeze_excite(y);
  y = project_bn(project(y, layout_.out_channels));
  return layout_.residual() ? y + x : y;
}

namespace {

// Sorts descending by `importance` within [edges[i], edges[i+1]) bands; returns the order.
torch::Tensor BandedOrder(torch::Tensor importance, std::vector<int64_t> edges) {
  const int64_t n = importance.size(0);
  edges.push_back(0);
  edges.push_back(n);
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i + 1 < edges.size(); ++i) {
    const int64_t begin = std::min(edges[i], n);
    const int64_t length = std::min(edges[i + 1], n) - begin;
    if (length <= 0) continue;
    torch::Tensor order = std::get<1>(torch::sort(importance.narrow(0, begin, length),
                                                  /*stable=*/true, /*dim=*/0,
                                                  /*descending=*/true));
    parts.push_back(order + begin);
  }
  return torch::cat(parts);
}

void PermuteBatchNorm(DynamicBatchNormImpl& bn, const torch::Tensor& order) {
  for (torch::Tensor* t : {&bn.weight, &bn.bias, &bn.running_mean, &bn.running_var}) {
    t->copy_(t->index_select(0, order));
  }
}

void PermuteRows(torch::Tensor& t, const torch::Tensor& order, int64_t dim) {
  t.copy_(t.index_select(dim, order));
}

}  // namespace

void ElasticMBConvImpl::SortChannelsByImportance(const std::vector<int>& kept_expand_ratios) {
  if (!has_expand()) return;
  torch::NoGradGuard no_grad;
  std::vector<int64_t> edges;
  for (int e : kept_expand_ratios) edges.push_back(MiddleChannels(layout_.in_channels, e));
  const torch::Tensor order =
      BandedOrder(project->weight.abs().sum({0, 2, 3}), std::move(edges));

  PermuteRows(project->weight, order, 1);
  PermuteRows(depthwise->weight, order, 0);
  PermuteBatchNorm(*depthwise_bn, order);
  PermuteRows(expand_conv->weight, order, 0);
  PermuteBatchNorm(*expand_bn, order);
  if (layout_.squeeze_excite) {
    DynamicSqueezeExciteImpl& se = *squeeze_excite;
    PermuteRows(se.reduce_weight, order, 1);
    PermuteRows(se.expand_weight, order, 0);
    PermuteRows(se.expand_bias, order, 0);
    // The SE hidden units are elastic too: sort them by their expand weights' L1 norm.
    const torch::Tensor hidden = BandedOrder(se.expand_weight.abs().sum(0), {});
    PermuteRows(se.expand_weight, hidden, 1);
    PermuteRows(se.reduce_weight, hidden, 0);
    PermuteRows(se.reduce_bias, hidden, 0);
  }
}

}  // namespace ofa::trainer
