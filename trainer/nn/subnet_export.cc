#include "trainer/nn/subnet_export.h"

#include "trainer/nn/subnet_cost.h"

namespace ofa::trainer {
namespace {

void CopyBatchNorm(torch::nn::BatchNorm2d& to, const DynamicBatchNormImpl& from) {
  const int64_t c = to->options.num_features();
  to->weight.copy_(from.weight.narrow(0, 0, c));
  to->bias.copy_(from.bias.narrow(0, 0, c));
  to->running_mean.copy_(from.running_mean.narrow(0, 0, c));
  to->running_var.copy_(from.running_var.narrow(0, 0, c));
}

void CopyBlock(StandaloneBlockImpl& to, ElasticMBConvImpl& from) {
  const StandaloneBlockLayout& l = to.layout();
  const int64_t mid = l.mid_channels;
  if (l.has_expand) {
    to.expand->weight.copy_(from.expand_conv->ActiveWeight(mid, l.in_channels));
    CopyBatchNorm(to.expand_bn, *from.expand_bn);
  }
  to.depthwise->weight.copy_(from.depthwise->ActiveFilter(mid, l.kernel_size));
  CopyBatchNorm(to.depthwise_bn, *from.depthwise_bn);
  if (l.squeeze_channels > 0) {
    const int64_t sq = l.squeeze_channels;
    const DynamicSqueezeExciteImpl& se = *from.squeeze_excite;
    to.se_reduce->weight.copy_(se.reduce_weight.narrow(0, 0, sq).narrow(1, 0, mid));
    to.se_reduce->bias.copy_(se.reduce_bias.narrow(0, 0, sq));
    to.se_expand->weight.copy_(se.expand_weight.narrow(0, 0, mid).narrow(1, 0, sq));
    to.se_expand->bias.copy_(se.expand_bias.narrow(0, 0, mid));
  }
  to.project->weight.copy_(from.project->ActiveWeight(l.out_channels, mid));
  CopyBatchNorm(to.project_bn, *from.project_bn);
}

StandaloneBlockLayout BlockOf(const BlockLayout& layout, int kernel, int mid, bool has_expand) {
  StandaloneBlockLayout b;
  b.in_channels = layout.in_channels;
  b.mid_channels = mid;
  b.out_channels = layout.out_channels;
  b.kernel_size = kernel;
  b.stride = layout.stride;
  b.has_expand = has_expand;
  b.hswish = layout.hswish;
  b.squeeze_channels = layout.squeeze_excite ? SqueezeChannels(mid) : 0;
  return b;
}

}  // namespace

StandaloneLayout StandaloneLayoutOf(const SupernetArchitecture& arch,
                                    const SubnetChoice& choice) {
  StandaloneLayout layout;
  layout.input_channels = arch.input_channels;
  layout.resolution = choice.resolution;
  layout.num_classes = arch.num_classes;
  layout.stem_channels = arch.stem_channels;
  layout.stem_stride = arch.stem_stride;
  BlockLayout first;
  first.in_channels = arch.stem_channels;
  first.out_channels = arch.first_block_channels;
  layout.blocks.push_back(BlockOf(first, 3, arch.stem_channels, /*has_expand=*/false));
  for (int s = 0; s < arch.num_stages(); ++s) {
    for (int d = 0; d < choice.depths[s]; ++d) {
      const int index = arch.stage_blocks[s][d];
      const BlockLayout& block = arch.blocks[index];
      layout.blocks.push_back(BlockOf(block, choice.kernel_sizes[index],
                                      MiddleChannels(block.in_channels,
                                                     choice.expand_ratios[index]),
                                      /*has_expand=*/true));
    }
  }
  layout.final_expand_channels = arch.final_expand_channels;
  layout.last_channel = arch.last_channel;
  const SubnetCost cost = ComputeSubnetCost(arch, choice);
  layout.metadata = {{"kernel_sizes", choice.kernel_sizes},
                     {"expand_ratios", choice.expand_ratios},
                     {"depths", choice.depths},
                     {"macs", cost.macs},
                     {"params", cost.params}};
  return layout;
}

absl::StatusOr<StandaloneSubnet> ExportSubnet(OfaSupernet& supernet, const SubnetChoice& choice) {
  const SupernetArchitecture& arch = supernet->architecture();
  if (absl::Status status = arch.Check(choice); !status.ok()) return status;
  StandaloneSubnet subnet(StandaloneLayoutOf(arch, choice));
  torch::NoGradGuard no_grad;
  subnet->stem->weight.copy_(supernet->stem->ActiveWeight(arch.stem_channels,
                                                          arch.input_channels));
  CopyBatchNorm(subnet->stem_bn, *supernet->stem_bn);
  CopyBlock(*subnet->blocks[0], *supernet->first_block);
  size_t next = 1;
  for (int s = 0; s < arch.num_stages(); ++s) {
    for (int d = 0; d < choice.depths[s]; ++d, ++next) {
      CopyBlock(*subnet->blocks[next], *supernet->blocks[arch.stage_blocks[s][d]]);
    }
  }
  const int last_in = subnet->layout().blocks.back().out_channels;
  subnet->final_expand->weight.copy_(
      supernet->final_expand->ActiveWeight(arch.final_expand_channels, last_in));
  CopyBatchNorm(subnet->final_expand_bn, *supernet->final_expand_bn);
  subnet->feature_mix->weight.copy_(
      supernet->feature_mix->ActiveWeight(arch.last_channel, arch.final_expand_channels));
  subnet->classifier->weight.copy_(supernet->classifier->weight);
  subnet->classifier->bias.copy_(supernet->classifier->bias);
  subnet->eval();
  return subnet;
}

}  // namespace ofa::trainer
