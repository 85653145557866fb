#include "trainer/nn/subnet_cost.h"

#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

SupernetArchitecture Arch(const char* preset) {
  return SupernetArchitecture::FromPreset(preset).value();
}

// OFA-MobileNetV3 w1.0 at 224x224, counted the way the authors' flops_counter counts
// (convolutions including SE, and the classifier; MACs). Largest = k7 e6 d4, smallest =
// k3 e3 d2. Cross-checked: the parameter counts equal the exported LibTorch modules'
// (subnet_export_test), and the largest sub-network's 7.67M parameters agree with the ~7.7M
// commonly quoted for the OFA-MobileNetV3 w1.0 supernet checkpoint.
TEST(SubnetCostTest, OfaMobileNetV3AtImageNetResolution) {
  SupernetArchitecture arch = Arch("ofa_mbv3_w1.0");
  SubnetCost largest = ComputeSubnetCost(arch, arch.Largest());
  SubnetChoice smallest_choice = arch.Smallest();
  smallest_choice.resolution = 224;
  SubnetCost smallest = ComputeSubnetCost(arch, smallest_choice);
  EXPECT_NEAR(largest.macs / 1e6, 566.2, 0.1);
  EXPECT_NEAR(largest.params / 1e6, 7.665, 0.001);
  EXPECT_NEAR(smallest.macs / 1e6, 121.3, 0.1);
  EXPECT_NEAR(smallest.params / 1e6, 3.411, 0.001);
}

TEST(SubnetCostTest, MacsScaleWithResolutionAndShrinkWithEveryDimension) {
  SupernetArchitecture arch = Arch("ofa_mbv3_w1.0");
  SubnetChoice c = arch.Largest();
  const int64_t at224 = ComputeSubnetCost(arch, c).macs;
  c.resolution = 160;
  const int64_t at160 = ComputeSubnetCost(arch, c).macs;
  // Convolutions scale with pixels; the head after pooling does not.
  EXPECT_NEAR(static_cast<double>(at160) / at224, (160.0 * 160) / (224 * 224), 0.02);
  for (auto shrink : {+[](SubnetChoice& s) { s.kernel_sizes[5] = 3; },
                      +[](SubnetChoice& s) { s.expand_ratios[5] = 3; },
                      +[](SubnetChoice& s) { s.depths[2] = 2; }}) {
    SubnetChoice smaller = arch.Largest();
    shrink(smaller);
    EXPECT_LT(ComputeSubnetCost(arch, smaller).macs, at224);
  }
}

TEST(SubnetCostTest, WiderSupernetCostsMore) {
  SupernetArchitecture w10 = Arch("ofa_mbv3_w1.0");
  SupernetArchitecture w12 = Arch("ofa_mbv3_w1.2");
  EXPECT_GT(ComputeSubnetCost(w12, w12.Largest()).macs,
            ComputeSubnetCost(w10, w10.Largest()).macs);
}

}  // namespace
}  // namespace ofa::trainer
