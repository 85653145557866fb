#include "trainer/train/subnet_sampler.h"

#include <algorithm>

#include "trainer/common/stream_seed.h"

namespace ofa::trainer {
namespace {

using IntList = google::protobuf::RepeatedField<int32_t>;

int Pick(SplitMix64& rng, const IntList& choices, int maximum) {
  if (choices.empty()) return maximum;
  return choices[static_cast<int>(rng.Below(choices.size()))];
}

// The phase's own extreme of one dimension: an empty list is fixed at the supernet's maximum.
int Extreme(const IntList& choices, int maximum, bool largest) {
  if (choices.empty()) return maximum;
  return largest ? *std::max_element(choices.begin(), choices.end())
                 : *std::min_element(choices.begin(), choices.end());
}

SubnetChoice PhaseExtreme(const SupernetArchitecture& arch, const ofa::v1::PhaseSpec& phase,
                          bool largest) {
  SubnetChoice choice = arch.Largest();
  for (int& k : choice.kernel_sizes) k = Extreme(phase.kernel_sizes(), arch.max_kernel(), largest);
  for (int& e : choice.expand_ratios) {
    e = Extreme(phase.expand_ratios(), arch.expand_ratios.back(), largest);
  }
  for (int& d : choice.depths) d = Extreme(phase.depths(), arch.depths.back(), largest);
  choice.resolution = largest ? *std::max_element(arch.resolutions.begin(), arch.resolutions.end())
                              : *std::min_element(arch.resolutions.begin(), arch.resolutions.end());
  return choice;
}

}  // namespace

SubnetChoice SampleSubnet(const SupernetArchitecture& arch, const ofa::v1::PhaseSpec& phase,
                          uint64_t seed, int phase_index, int64_t step, int index) {
  const int last = phase.subnets_per_step() - 1;
  if (phase.sandwich() && last > 0 && (index == 0 || index == last)) {
    return PhaseExtreme(arch, phase, /*largest=*/index == 0);
  }
  SplitMix64 rng(StreamSeed(seed, {kSeedSubnet, static_cast<uint64_t>(phase_index),
                                   static_cast<uint64_t>(step), static_cast<uint64_t>(index)}));
  SubnetChoice choice = arch.Largest();
  for (int& k : choice.kernel_sizes) k = Pick(rng, phase.kernel_sizes(), arch.max_kernel());
  for (int& e : choice.expand_ratios) e = Pick(rng, phase.expand_ratios(), arch.expand_ratios.back());
  for (int& d : choice.depths) d = Pick(rng, phase.depths(), arch.depths.back());
  choice.resolution = arch.resolutions[rng.Below(arch.resolutions.size())];
  return choice;
}

}  // namespace ofa::trainer
