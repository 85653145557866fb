#include "trainer/train/subnet_sampler.h"

#include "trainer/common/stream_seed.h"

namespace ofa::trainer {
namespace {

int Pick(SplitMix64& rng, const google::protobuf::RepeatedField<int32_t>& choices,
         int maximum) {
  if (choices.empty()) return maximum;
  return choices[static_cast<int>(rng.Below(choices.size()))];
}

}  // namespace

SubnetChoice SampleSubnet(const SupernetArchitecture& arch, const ofa::v1::PhaseSpec& phase,
                          uint64_t seed, int phase_index, int64_t step, int index) {
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
