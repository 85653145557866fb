#include "trainer/nn/subnet_cost.h"

namespace ofa::trainer {
namespace {

// Output side of a "same"-padded convolution.
int64_t OutSide(int64_t in_side, int kernel, int stride) {
  return (in_side + 2 * (kernel / 2) - kernel) / stride + 1;
}

class CostCounter {
 public:
  // A (grouped) convolution on a square map; returns the output side.
  int64_t Conv(int64_t side, int64_t in, int64_t out, int kernel, int stride, int64_t groups,
               bool bias, bool batch_norm) {
    const int64_t out_side = OutSide(side, kernel, stride);
    const int64_t weights = out * (in / groups) * kernel * kernel;
    cost_.macs += out_side * out_side * weights;
    cost_.params += weights + (bias ? out : 0) + (batch_norm ? 2 * out : 0);
    return out_side;
  }
  void Linear(int64_t in, int64_t out, bool bias) {
    cost_.macs += in * out;
    cost_.params += in * out + (bias ? out : 0);
  }
  SubnetCost cost() const { return cost_; }

 private:
  SubnetCost cost_;
};

}  // namespace

SubnetCost ComputeSubnetCost(const SupernetArchitecture& arch, const SubnetChoice& choice) {
  CostCounter counter;
  int64_t side = choice.resolution;
  side = counter.Conv(side, arch.input_channels, arch.stem_channels, 3, arch.stem_stride, 1,
                      false, true);
  // First block: depthwise 3x3 + pointwise projection, no expansion.
  side = counter.Conv(side, arch.stem_channels, arch.stem_channels, 3, 1, arch.stem_channels,
                      false, true);
  side = counter.Conv(side, arch.stem_channels, arch.first_block_channels, 1, 1, 1, false, true);
  int64_t channels = arch.first_block_channels;

  for (int s = 0; s < arch.num_stages(); ++s) {
    for (int d = 0; d < choice.depths[s]; ++d) {
      const int index = arch.stage_blocks[s][d];
      const BlockLayout& block = arch.blocks[index];
      const int kernel = choice.kernel_sizes[index];
      const int64_t mid = MiddleChannels(channels, choice.expand_ratios[index]);
      counter.Conv(side, channels, mid, 1, 1, 1, false, true);
      side = counter.Conv(side, mid, mid, kernel, block.stride, mid, false, true);
      if (block.squeeze_excite) {
        const int64_t squeeze = SqueezeChannels(mid);
        counter.Conv(1, mid, squeeze, 1, 1, 1, true, false);
        counter.Conv(1, squeeze, mid, 1, 1, 1, true, false);
      }
      counter.Conv(side, mid, block.out_channels, 1, 1, 1, false, true);
      channels = block.out_channels;
    }
  }
  counter.Conv(side, channels, arch.final_expand_channels, 1, 1, 1, false, true);
  counter.Conv(1, arch.final_expand_channels, arch.last_channel, 1, 1, 1, false, false);
  counter.Linear(arch.last_channel, arch.num_classes, true);
  return counter.cost();
}

}  // namespace ofa::trainer
