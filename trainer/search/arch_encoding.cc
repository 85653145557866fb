#include "trainer/search/arch_encoding.h"

#include <algorithm>

namespace ofa::trainer {
namespace {

int IndexOf(const std::vector<int>& values, int value) {
  return static_cast<int>(std::find(values.begin(), values.end(), value) - values.begin());
}

}  // namespace

int EncodingSize(const SupernetArchitecture& arch) {
  const int per_block = static_cast<int>(arch.kernel_sizes.size() + arch.expand_ratios.size());
  return static_cast<int>(arch.blocks.size()) * per_block +
         static_cast<int>(arch.resolutions.size());
}

std::vector<float> EncodeArchitecture(const SupernetArchitecture& arch,
                                      const SubnetChoice& choice) {
  std::vector<float> code(EncodingSize(arch), 0.0f);
  const int kernels = static_cast<int>(arch.kernel_sizes.size());
  const int per_block = kernels + static_cast<int>(arch.expand_ratios.size());
  for (int stage = 0; stage < arch.num_stages(); ++stage) {
    const std::vector<int>& slots = arch.stage_blocks[stage];
    for (int i = 0; i < choice.depths[stage] && i < static_cast<int>(slots.size()); ++i) {
      const int block = slots[i];
      const int base = block * per_block;
      code[base + IndexOf(arch.kernel_sizes, choice.kernel_sizes[block])] = 1;
      code[base + kernels + IndexOf(arch.expand_ratios, choice.expand_ratios[block])] = 1;
    }
  }
  const int resolution = IndexOf(arch.resolutions, choice.resolution);
  if (resolution < static_cast<int>(arch.resolutions.size())) {
    code[static_cast<int>(arch.blocks.size()) * per_block + resolution] = 1;
  }
  return code;
}

}  // namespace ofa::trainer
