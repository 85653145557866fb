#include "trainer/train/subnet_sampler.h"

#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

using ::testing::Each;
using ::testing::Eq;

SupernetArchitecture Small() {
  absl::StatusOr<SupernetArchitecture> arch = SupernetArchitecture::FromPreset("ofa_small_28");
  EXPECT_TRUE(arch.ok()) << arch.status();
  return *arch;
}

ofa::v1::PhaseSpec ExpandPhase(bool sandwich) {
  ofa::v1::PhaseSpec phase;
  phase.set_kind(ofa::v1::PHASE_KIND_ELASTIC_EXPAND);
  phase.set_subnets_per_step(4);
  phase.set_sandwich(sandwich);
  for (int k : {3, 5, 7}) phase.add_kernel_sizes(k);
  for (int d : {2, 3, 4}) phase.add_depths(d);
  for (int e : {3, 4, 6}) phase.add_expand_ratios(e);
  return phase;
}

bool Same(const SubnetChoice& a, const SubnetChoice& b) {
  return a.kernel_sizes == b.kernel_sizes && a.expand_ratios == b.expand_ratios &&
         a.depths == b.depths && a.resolution == b.resolution;
}

TEST(SampleSubnetTest, UniformSamplingIsAPureFunctionThatCoversThePhasesLists) {
  const SupernetArchitecture arch = Small();
  const ofa::v1::PhaseSpec phase = ExpandPhase(/*sandwich=*/false);
  std::set<int> kernels, expands, depths;
  for (int64_t step = 0; step < 50; ++step) {
    for (int index = 0; index < 4; ++index) {
      const SubnetChoice choice = SampleSubnet(arch, phase, 7, 5, step, index);
      EXPECT_TRUE(Same(choice, SampleSubnet(arch, phase, 7, 5, step, index)));
      EXPECT_TRUE(arch.Check(choice).ok());
      kernels.insert(choice.kernel_sizes.begin(), choice.kernel_sizes.end());
      expands.insert(choice.expand_ratios.begin(), choice.expand_ratios.end());
      depths.insert(choice.depths.begin(), choice.depths.end());
    }
  }
  EXPECT_EQ(kernels, (std::set<int>{3, 5, 7}));
  EXPECT_EQ(expands, (std::set<int>{3, 4, 6}));
  EXPECT_EQ(depths, (std::set<int>{2, 3, 4}));
}

TEST(SampleSubnetTest, SandwichTrainsThePhasesLargestFirstAndSmallestLast) {
  const SupernetArchitecture arch = Small();
  const ofa::v1::PhaseSpec uniform = ExpandPhase(/*sandwich=*/false);
  const ofa::v1::PhaseSpec sandwich = ExpandPhase(/*sandwich=*/true);
  for (int64_t step = 0; step < 10; ++step) {
    EXPECT_TRUE(Same(SampleSubnet(arch, sandwich, 7, 5, step, 0), arch.Largest()));
    EXPECT_TRUE(Same(SampleSubnet(arch, sandwich, 7, 5, step, 3), arch.Smallest()));
    // The sub-nets in between are the uniform ones of the same (step, index).
    for (int index : {1, 2}) {
      EXPECT_TRUE(Same(SampleSubnet(arch, sandwich, 7, 5, step, index),
                       SampleSubnet(arch, uniform, 7, 5, step, index)));
    }
  }
}

TEST(SampleSubnetTest, SandwichExtremesAreThePhasesNotTheSupernets) {
  const SupernetArchitecture arch = Small();
  // Elastic depth, stage 1: depths {3, 4}, kernels {3, 5, 7}, expand ratio fixed (empty list).
  ofa::v1::PhaseSpec phase;
  phase.set_kind(ofa::v1::PHASE_KIND_ELASTIC_DEPTH);
  phase.set_subnets_per_step(2);
  phase.set_sandwich(true);
  for (int k : {5, 3, 7}) phase.add_kernel_sizes(k);  // Order does not matter.
  for (int d : {4, 3}) phase.add_depths(d);
  const SubnetChoice smallest = SampleSubnet(arch, phase, 1, 2, 0, 1);
  EXPECT_THAT(smallest.kernel_sizes, Each(Eq(3)));
  EXPECT_THAT(smallest.depths, Each(Eq(3)));
  EXPECT_THAT(smallest.expand_ratios, Each(Eq(arch.expand_ratios.back())));
  EXPECT_TRUE(Same(SampleSubnet(arch, phase, 1, 2, 0, 0), arch.Largest()));
}

}  // namespace
}  // namespace ofa::trainer
