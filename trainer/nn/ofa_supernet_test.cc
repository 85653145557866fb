#include "trainer/nn/ofa_supernet.h"

#include <random>

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

SupernetArchitecture Arch(const char* preset) {
  return SupernetArchitecture::FromPreset(preset).value();
}

SubnetChoice RandomChoice(const SupernetArchitecture& arch, std::mt19937& rng) {
  auto pick = [&](const std::vector<int>& v) { return v[rng() % v.size()]; };
  SubnetChoice c = arch.Largest();
  for (int& k : c.kernel_sizes) k = pick(arch.kernel_sizes);
  for (int& e : c.expand_ratios) e = pick(arch.expand_ratios);
  for (int& d : c.depths) d = pick(arch.depths);
  return c;
}

TEST(SupernetArchitectureTest, SmallPresetLayout) {
  SupernetArchitecture arch = Arch("ofa_small_28");
  EXPECT_EQ(arch.num_stages(), 3);
  EXPECT_EQ(arch.blocks.size(), 12u);  // 3 stages x max depth 4.
  EXPECT_EQ(arch.blocks[0].stride, 2);
  EXPECT_EQ(arch.blocks[1].stride, 1);
  EXPECT_TRUE(arch.blocks[1].residual());
  EXPECT_FALSE(arch.blocks[4].residual());  // 24 -> 32 channels.
  EXPECT_EQ(arch.num_classes, 10);
  EXPECT_TRUE(arch.Check(arch.Largest()).ok());
  SubnetChoice bad = arch.Smallest();
  bad.kernel_sizes[3] = 4;
  EXPECT_EQ(arch.Check(bad).message(), "kernel_sizes[3]: 4 is not one of {3,5,7}");
}

TEST(OfaSupernetTest, EverySubnetProducesLogits) {
  torch::manual_seed(0);
  SupernetArchitecture arch = Arch("ofa_small_28");
  OfaSupernet net(arch);
  torch::Tensor x = torch::randn({4, 1, 28, 28});
  std::mt19937 rng(7);
  for (const SubnetChoice& c : {arch.Largest(), arch.Smallest(), RandomChoice(arch, rng)}) {
    torch::Tensor y = net(x, c);
    EXPECT_EQ(y.sizes(), torch::IntArrayRef({4, 10})) << c.ToString();
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
}

TEST(OfaSupernetTest, MobileNetV3RunsAtImageNetResolution) {
  torch::manual_seed(0);
  SupernetArchitecture arch = Arch("ofa_mbv3_w1.0");
  OfaSupernet net(arch);
  net->eval();
  torch::NoGradGuard no_grad;
  SubnetChoice smallest = arch.Smallest();
  EXPECT_EQ(net(torch::randn({1, 3, 128, 128}), smallest).sizes(),
            torch::IntArrayRef({1, 1000}));
}

TEST(OfaSupernetTest, SkippedBlocksGetNoGradient) {
  torch::manual_seed(1);
  SupernetArchitecture arch = Arch("ofa_small_28");
  OfaSupernet net(arch);
  SubnetChoice c = arch.Largest();
  c.depths = {2, 4, 3};
  net(torch::randn({2, 1, 28, 28}), c).sum().backward();
  for (int s = 0; s < arch.num_stages(); ++s) {
    for (int d = 0; d < 4; ++d) {
      const bool used = d < c.depths[s];
      EXPECT_EQ(net->blocks[arch.stage_blocks[s][d]]->project->weight.grad().defined(), used)
          << "stage " << s << " block " << d;
    }
  }
}

TEST(OfaSupernetTest, SortingChannelsKeepsTheFullNetworkFunction) {
  torch::manual_seed(2);
  SupernetArchitecture arch = Arch("ofa_small_28");
  OfaSupernet net(arch);
  // Non-trivial BN statistics so a wrong permutation would show.
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) net(torch::randn({16, 1, 28, 28}), arch.Largest());
  }
  net->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({4, 1, 28, 28});
  torch::Tensor before = net(x, arch.Largest());
  net->SortChannelsByImportance({});
  EXPECT_TRUE(torch::allclose(net(x, arch.Largest()), before, 1e-4, 1e-5));
  net->SortChannelsByImportance({4});  // Second expand stage keeps the e=4 band in front.
  EXPECT_TRUE(torch::allclose(net(x, arch.Largest()), before, 1e-4, 1e-5));
}

TEST(OfaSupernetTest, SortingPutsTheMostImportantChannelsFirst) {
  torch::manual_seed(3);
  SupernetArchitecture arch = Arch("ofa_small_28");
  OfaSupernet net(arch);
  net->SortChannelsByImportance({});
  for (const ElasticMBConv& block : net->blocks) {
    torch::Tensor importance = block->project->weight.abs().sum({0, 2, 3});
    EXPECT_TRUE((importance.slice(0, 0, -1) >= importance.slice(0, 1)).all().item<bool>());
  }
  // With a kept band, order holds within [0, mid(e=4)) and after it, not necessarily across.
  torch::NoGradGuard no_grad;
  ElasticMBConv& block = net->blocks[1];
  const int64_t edge = MiddleChannels(block->layout().in_channels, 4);
  block->project->weight.narrow(1, edge, 8).mul_(100);  // Make late channels "important".
  block->SortChannelsByImportance({4});
  torch::Tensor importance = block->project->weight.abs().sum({0, 2, 3});
  EXPECT_LT(importance[0].item<float>(), importance[edge].item<float>());
}

}  // namespace
}  // namespace ofa::trainer
