#include "trainer/nn/ofa_supernet.h"

#include <string>

namespace ofa::trainer {

OfaSupernetImpl::OfaSupernetImpl(SupernetArchitecture arch) : arch_(std::move(arch)) {
  stem = register_module(
      "stem", DynamicConv2d(arch_.input_channels, arch_.stem_channels, 3, arch_.stem_stride));
  stem_bn = register_module("stem_bn", DynamicBatchNorm(arch_.stem_channels));
  BlockLayout first;
  first.in_channels = arch_.stem_channels;
  first.out_channels = arch_.first_block_channels;
  first_block = register_module("first_block", ElasticMBConv(first, std::vector<int>{3}, std::vector<int>{1}));
  torch::nn::ModuleList block_list;
  for (const BlockLayout& layout : arch_.blocks) {
    blocks.push_back(ElasticMBConv(layout, arch_.kernel_sizes, arch_.expand_ratios));
    block_list->push_back(blocks.back());
  }
  register_module("blocks", block_list);
  const int last_stage_channels =
      arch_.blocks.empty() ? arch_.first_block_channels : arch_.blocks.back().out_channels;
  final_expand = register_module(
      "final_expand", DynamicConv2d(last_stage_channels, arch_.final_expand_channels));
  final_expand_bn = register_module("final_expand_bn",
                                    DynamicBatchNorm(arch_.final_expand_channels));
  feature_mix = register_module(
      "feature_mix", DynamicConv2d(arch_.final_expand_channels, arch_.last_channel));
  dropout = register_module("dropout", torch::nn::Dropout(arch_.dropout_rate));
  classifier = register_module("classifier", DynamicLinear(arch_.last_channel, arch_.num_classes));
}

torch::Tensor OfaSupernetImpl::forward(const torch::Tensor& x, const SubnetChoice& choice) {
  torch::Tensor y = stem(x, arch_.stem_channels);
  // On CPU the network runs channels-last: oneDNN's convolutions and LibTorch's batch norm then
  // need no layout reorders, and training steps ran 1.2-1.4x faster (docs/performance.md). The
  // stem's output is converted, not its input: a 1-channel NCHW input is channels-last by
  // strides too, and LibTorch would keep it NCHW.
  if (y.is_cpu()) y = y.contiguous(torch::MemoryFormat::ChannelsLast);
  y = stem_bn(y, Activation::kHardSwish);
  y = first_block(y, 3, 1);
  for (int s = 0; s < arch_.num_stages(); ++s) {
    for (int d = 0; d < choice.depths[s]; ++d) {
      const int index = arch_.stage_blocks[s][d];
      y = blocks[index](y, choice.kernel_sizes[index], choice.expand_ratios[index]);
    }
  }
  y = final_expand_bn(final_expand(y, arch_.final_expand_channels), Activation::kHardSwish);
  y = y.mean({2, 3}, /*keepdim=*/true);
  y = torch::hardswish(feature_mix(y, arch_.last_channel)).flatten(1);
  return classifier(dropout(y));
}

void OfaSupernetImpl::SortChannelsByImportance(const std::vector<int>& kept_expand_ratios) {
  for (ElasticMBConv& block : blocks) block->SortChannelsByImportance(kept_expand_ratios);
}

void OfaSupernetImpl::BeginBatchNormRecalibration() {
  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* bn = module->as<DynamicBatchNorm>()) bn->BeginRecalibration();
  }
}

void OfaSupernetImpl::EndBatchNormRecalibration() {
  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* bn = module->as<DynamicBatchNorm>()) bn->EndRecalibration();
  }
}

}  // namespace ofa::trainer
