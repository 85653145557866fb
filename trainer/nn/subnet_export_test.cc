#include "trainer/nn/subnet_export.h"

#include <filesystem>
#include <fstream>
#include <random>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/nn/perturbed_supernet_for_test.h"
#include "trainer/nn/subnet_cost.h"

namespace ofa::trainer {
namespace {

using ::testing::HasSubstr;

SupernetArchitecture Arch(const char* preset) {
  return SupernetArchitecture::FromPreset(preset).value();
}

std::vector<SubnetChoice> Choices(const SupernetArchitecture& arch) {
  std::vector<SubnetChoice> choices = {arch.Largest(), arch.Smallest()};
  std::mt19937 rng(5);
  for (int i = 0; i < 4; ++i) {
    SubnetChoice c = arch.Largest();
    for (int& k : c.kernel_sizes) k = arch.kernel_sizes[rng() % arch.kernel_sizes.size()];
    for (int& e : c.expand_ratios) e = arch.expand_ratios[rng() % arch.expand_ratios.size()];
    for (int& d : c.depths) d = arch.depths[rng() % arch.depths.size()];
    choices.push_back(c);
  }
  return choices;
}

TEST(SubnetExportTest, ExportedNetworkComputesWhatTheSupernetComputes) {
  SupernetArchitecture arch = Arch("ofa_small_28");
  OfaSupernet net = PerturbedSupernet(arch, 11);
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({8, 1, 28, 28});
  for (const SubnetChoice& choice : Choices(arch)) {
    absl::StatusOr<StandaloneSubnet> subnet = ExportSubnet(net, choice);
    ASSERT_TRUE(subnet.ok()) << subnet.status();
    torch::Tensor expected = net(x, choice);
    torch::Tensor actual = (*subnet)(x);
    EXPECT_TRUE(torch::allclose(actual, expected, 1e-4, 1e-5))
        << choice.ToString() << " max diff " << (actual - expected).abs().max().item<float>();
  }
}

TEST(SubnetExportTest, ParameterCountMatchesTheAnalyticCost) {
  for (const char* preset : {"ofa_small_28", "ofa_mbv3_w1.0"}) {
    SupernetArchitecture arch = Arch(preset);
    OfaSupernet net(arch);
    for (const SubnetChoice& choice : Choices(arch)) {
      StandaloneSubnet subnet = ExportSubnet(net, choice).value();
      EXPECT_EQ(subnet->NumParameters(), ComputeSubnetCost(arch, choice).params)
          << preset << " " << choice.ToString();
    }
  }
}

TEST(SubnetExportTest, ExportIsSmallerThanTheSupernet) {
  SupernetArchitecture arch = Arch("ofa_small_28");
  OfaSupernet net(arch);
  int64_t supernet_params = 0;
  for (const torch::Tensor& p : net->parameters()) supernet_params += p.numel();
  StandaloneSubnet smallest = ExportSubnet(net, arch.Smallest()).value();
  EXPECT_LT(smallest->NumParameters() * 3, supernet_params);
}

TEST(SubnetExportTest, SaveAndLoadRoundTrip) {
  SupernetArchitecture arch = Arch("ofa_small_28");
  OfaSupernet net = PerturbedSupernet(arch, 11);
  SubnetChoice choice = Choices(arch)[3];
  StandaloneSubnet subnet = ExportSubnet(net, choice).value();
  const std::string dir = ::testing::TempDir() + "/export_roundtrip";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(SaveStandaloneSubnet(subnet, dir).ok());
  absl::StatusOr<StandaloneSubnet> loaded = LoadStandaloneSubnet(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({4, 1, 28, 28});
  EXPECT_TRUE(torch::equal((*loaded)(x), subnet(x)));
  EXPECT_EQ((*loaded)->layout().metadata["macs"].get<int64_t>(),
            ComputeSubnetCost(arch, choice).macs);
}

TEST(SubnetExportTest, LoadNamesWhatIsWrong) {
  const std::string dir = ::testing::TempDir() + "/export_bad";
  std::filesystem::remove_all(dir);  // TempDir() is shared outside Bazel (ctest).
  std::filesystem::create_directories(dir);
  EXPECT_EQ(LoadStandaloneSubnet(dir).status().code(), absl::StatusCode::kNotFound);
  std::ofstream(dir + "/architecture.json") << "{\"format\": \"ofa-train.subnet.v1\", "
                                               "\"input_channels\": -1}";
  EXPECT_THAT(std::string(LoadStandaloneSubnet(dir).status().message()),
              HasSubstr("input_channels: want a positive integer"));
  std::ofstream(dir + "/architecture.json") << "not json";
  EXPECT_THAT(std::string(LoadStandaloneSubnet(dir).status().message()),
              HasSubstr("not valid JSON"));
}

TEST(SubnetExportTest, RejectsAChoiceOutsideTheSupernet) {
  SupernetArchitecture arch = Arch("ofa_small_28");
  OfaSupernet net(arch);
  SubnetChoice choice = arch.Largest();
  choice.depths.pop_back();
  EXPECT_EQ(ExportSubnet(net, choice).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ofa::trainer
