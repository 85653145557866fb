#include "trainer/onnx/onnx_export.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "trainer/nn/perturbed_supernet_for_test.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/nn/subnet_export.h"
#include "trainer/onnx/onnx_runtime_for_test.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

OfaSupernet PerturbedSupernet(const char* preset, uint64_t seed) {
  return PerturbedSupernet(SupernetArchitecture::FromPreset(preset).value(), seed);
}

SubnetChoice RandomChoice(const SupernetArchitecture& arch, uint32_t seed) {
  std::mt19937 rng(seed);
  SubnetChoice c = arch.Largest();
  for (int& k : c.kernel_sizes) k = arch.kernel_sizes[rng() % arch.kernel_sizes.size()];
  for (int& e : c.expand_ratios) e = arch.expand_ratios[rng() % arch.expand_ratios.size()];
  for (int& d : c.depths) d = arch.depths[rng() % arch.depths.size()];
  return c;
}

class OnnxExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") /
           absl::StrCat("onnx_export_test_", getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The output of `model` in ONNX Runtime on `input` (a test failure if it does
  // not run).
  torch::Tensor Run(const std::string& model, const torch::Tensor& input) {
    absl::StatusOr<torch::Tensor> y = RunInOnnxRuntime(model, input, dir_.string());
    EXPECT_TRUE(y.ok()) << y.status();
    return y.ok() ? *y : torch::Tensor();
  }

  static std::map<std::string, std::string> Metadata(const onnx::ModelProto& model) {
    std::map<std::string, std::string> props;
    for (const auto& p : model.metadata_props()) props[p.key()] = p.value();
    return props;
  }

  fs::path dir_;
};

// The ONNX graph computes what the LibTorch sub-network computes, for every
// kind of block (expand or not, kernel 3/5/7, stride 1/2, ReLU or HardSwish,
// with or without SE, residual).
TEST_F(OnnxExportTest, OnnxRuntimeMatchesLibTorchOnSmallSubnetworks) {
  OfaSupernet supernet = PerturbedSupernet("ofa_small_28", 3);
  const SupernetArchitecture& arch = supernet->architecture();
  std::vector<SubnetChoice> choices = {arch.Largest(), arch.Smallest(), RandomChoice(arch, 1),
                                       RandomChoice(arch, 2)};
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({5, 1, 28, 28});
  for (size_t i = 0; i < choices.size(); ++i) {
    SCOPED_TRACE(choices[i].ToString());
    StandaloneSubnet subnet = ExportSubnet(supernet, choices[i]).value();
    const std::string path = (dir_ / absl::StrCat("small", i, ".onnx")).string();
    ASSERT_TRUE(WriteOnnxModel(subnet, {}, path).ok());
    const torch::Tensor expected = subnet->forward(x);
    const torch::Tensor actual = Run(path, x);
    ASSERT_TRUE(actual.defined());
    ASSERT_EQ(actual.sizes(), expected.sizes());
    const float diff = (actual - expected).abs().max().item<float>();
    std::cout << choices[i].ToString() << ": max |ONNX Runtime - LibTorch| = " << diff
              << " (logits up to " << expected.abs().max().item<float>() << ")\n";
    EXPECT_LT(diff, 1e-4);
    // The batch dimension is dynamic: one image runs too, with the same answer.
    const torch::Tensor one = Run(path, x.slice(0, 2, 3));
    ASSERT_TRUE(one.defined());
    EXPECT_LT((one - expected.slice(0, 2, 3)).abs().max().item<float>(), 1e-4);
  }
}

// The full OFA-MobileNetV3 space at 224x224: SE in three stages, h-swish from
// the third.
TEST_F(OnnxExportTest, OnnxRuntimeMatchesLibTorchOnMobileNetV3) {
  OfaSupernet supernet = PerturbedSupernet("ofa_mbv3_w1.0", 5);
  const SubnetChoice choice = RandomChoice(supernet->architecture(), 7);
  StandaloneSubnet subnet = ExportSubnet(supernet, choice).value();
  const std::string path = (dir_ / "mbv3.onnx").string();
  ASSERT_TRUE(WriteOnnxModel(subnet, {.batch_size = 2}, path).ok());
  torch::manual_seed(8);
  const torch::Tensor x = torch::randn({2, 3, 224, 224});
  const torch::Tensor expected = subnet->forward(x);
  const torch::Tensor actual = Run(path, x);
  ASSERT_TRUE(actual.defined());
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_LT((actual - expected).abs().max().item<float>(), 1e-4)
      << "logits span " << expected.abs().max().item<float>();
  // A fixed batch is declared in the model, and the runtime holds inputs to it.
  absl::StatusOr<torch::Tensor> wrong_batch =
      RunInOnnxRuntime(path, torch::randn({3, 3, 224, 224}), dir_.string());
  ASSERT_FALSE(wrong_batch.ok());
  EXPECT_THAT(wrong_batch.status().message(), HasSubstr("input"));
}

TEST_F(OnnxExportTest, ModelStatesOpsetShapesAndMetadata) {
  OfaSupernet supernet = PerturbedSupernet("ofa_small_28", 3);
  const SubnetChoice choice = RandomChoice(supernet->architecture(), 9);
  StandaloneSubnet subnet = ExportSubnet(supernet, choice).value();
  subnet->mutable_metadata()["input_mean"] = std::vector<float>{0.286f};
  subnet->mutable_metadata()["input_std"] = std::vector<float>{0.353f};
  const std::string path = (dir_ / "meta.onnx").string();
  ASSERT_TRUE(WriteOnnxModel(subnet,
                             {.metadata = {{"job_id", "job-000042"}, {"measured_top1", "0.8812"}}},
                             path)
                  .ok());
  absl::StatusOr<onnx::ModelProto> model = ReadOnnxModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(model->opset_import_size(), 1);
  EXPECT_EQ(model->opset_import(0).version(), kOnnxOpset);
  EXPECT_EQ(model->ir_version(), kOnnxIrVersion);
  const onnx::TensorShapeProto& in = model->graph().input(0).type().tensor_type().shape();
  EXPECT_EQ(in.dim(0).dim_param(), "batch");
  EXPECT_EQ(in.dim(1).dim_value(), 1);
  EXPECT_EQ(in.dim(3).dim_value(), 28);
  EXPECT_EQ(model->graph().output(0).name(), kOnnxOutputName);
  // Batch norm is folded away.
  for (const onnx::NodeProto& node : model->graph().node()) {
    EXPECT_NE(node.op_type(), "BatchNormalization");
  }

  std::map<std::string, std::string> meta = Metadata(*model);
  const nlohmann::json architecture = nlohmann::json::parse(meta["architecture"]);
  EXPECT_EQ(architecture["kernel_sizes"].get<std::vector<int>>(), choice.kernel_sizes);
  EXPECT_EQ(architecture["expand_ratios"].get<std::vector<int>>(), choice.expand_ratios);
  EXPECT_EQ(architecture["depths"].get<std::vector<int>>(), choice.depths);
  const SubnetCost cost = ComputeSubnetCost(supernet->architecture(), choice);
  EXPECT_EQ(meta["macs"], std::to_string(cost.macs));
  EXPECT_EQ(meta["flops"], std::to_string(2 * cost.macs));
  EXPECT_EQ(meta["params"], std::to_string(subnet->NumParameters()));
  EXPECT_EQ(meta["job_id"], "job-000042");
  EXPECT_EQ(meta["measured_top1"], "0.8812");
  EXPECT_THAT(meta["input_mean"], HasSubstr("0.286"));
}

TEST_F(OnnxExportTest, BadOptionsAndBrokenFilesAreNamedErrors) {
  OfaSupernet supernet = PerturbedSupernet("ofa_small_28", 3);
  StandaloneSubnet subnet = ExportSubnet(supernet, supernet->architecture().Smallest()).value();
  EXPECT_THAT(BuildOnnxModel(subnet, {.batch_size = -1}).status().message(),
              HasSubstr("batch_size"));
  EXPECT_THAT(BuildOnnxModel(subnet, {.metadata = {{"macs", "1"}}}).status().message(),
              HasSubstr("\"macs\""));

  // A graph that reads a tensor nobody defines fails the checker, which names
  // it.
  onnx::ModelProto model = BuildOnnxModel(subnet, {}).value();
  ASSERT_TRUE(CheckOnnxModel(model).ok());
  model.mutable_graph()->mutable_initializer()->DeleteSubrange(0, 1);
  const absl::Status broken = CheckOnnxModel(model);
  EXPECT_EQ(broken.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(broken.message(), HasSubstr("stem.weight"));

  EXPECT_EQ(ReadOnnxModel((dir_ / "missing.onnx").string()).status().code(),
            absl::StatusCode::kNotFound);
  const std::string garbage = (dir_ / "garbage.onnx").string();
  std::ofstream(garbage) << "not a model";
  EXPECT_EQ(ReadOnnxModel(garbage).status().code(), absl::StatusCode::kInvalidArgument);
  // A write into a directory that does not exist fails cleanly and leaves
  // nothing behind.
  const std::string nowhere = (dir_ / "no" / "such" / "dir" / "m.onnx").string();
  EXPECT_FALSE(WriteOnnxModel(subnet, {}, nowhere).ok());
  EXPECT_FALSE(fs::exists(nowhere + ".tmp"));
}

}  // namespace
}  // namespace ofa::trainer
