#include "trainer/inference/subnet_classifier.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "trainer/checkpoint/checkpoint_store.h"
#include "trainer/nn/subnet_export.h"

namespace ofa::trainer {
namespace {

class SubnetClassifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(3);
    ofa::v1::SupernetSpec spec;
    spec.set_preset("ofa_small_28");
    spec.set_width_multiplier(0.25);
    arch_ = SupernetArchitecture::FromSpec(spec, 10).value();
    supernet_ = OfaSupernet(arch_);
    supernet_->eval();
    dir_ = ::testing::TempDir() + "/classifier_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
  }

  // Exports `choice`, with or without the input normalisation.
  void Export(const SubnetChoice& choice, bool normalization = true) {
    StandaloneSubnet subnet = ExportSubnet(supernet_, choice).value();
    if (normalization) RecordInputNormalization(subnet, {0.25f}, {0.5f});
    ASSERT_TRUE(SaveStandaloneSubnet(subnet, dir_).ok());
  }

  SupernetArchitecture arch_;
  OfaSupernet supernet_{nullptr};
  std::string dir_;
};

TEST_F(SubnetClassifierTest, ClassifiesRawPixelsAsTheSupernetDoesNormalisedOnes) {
  const SubnetChoice choice = arch_.Smallest();
  Export(choice);
  absl::StatusOr<SubnetClassifier> classifier =
      SubnetClassifier::Load(dir_, Sha256OfFile(dir_ + "/weights.pt").value());
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  EXPECT_EQ(classifier->resolution(), 28);
  EXPECT_EQ(classifier->channels(), 1);
  EXPECT_EQ(classifier->num_classes(), 10);

  const torch::Tensor pixels = torch::randint(0, 256, {5, 1, 28, 28}, torch::kUInt8);
  torch::NoGradGuard no_grad;
  const torch::Tensor expected = supernet_((pixels.to(torch::kFloat) / 255 - 0.25) / 0.5, choice);
  absl::StatusOr<torch::Tensor> logits = classifier->Logits(pixels);
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_TRUE(torch::allclose(*logits, expected, 1e-4, 1e-4));

  absl::StatusOr<std::vector<Prediction>> predictions = classifier->Classify(pixels[2]);
  ASSERT_TRUE(predictions.ok());
  ASSERT_EQ(predictions->size(), 1u);
  EXPECT_EQ((*predictions)[0].label, expected[2].argmax().item<int64_t>());
  EXPECT_NEAR((*predictions)[0].probability, torch::softmax(expected[2], 0).max().item<double>(),
              1e-5);
  // Larger images are resized to the sub-network's resolution.
  EXPECT_TRUE(classifier->Classify(torch::zeros({2, 1, 56, 56}, torch::kUInt8)).ok());
}

TEST_F(SubnetClassifierTest, BadInputAndBadFilesGetClearErrors) {
  Export(arch_.Largest());
  absl::StatusOr<SubnetClassifier> classifier = SubnetClassifier::Load(dir_);
  ASSERT_TRUE(classifier.ok());
  absl::Status s = classifier->Classify(torch::zeros({2, 3, 28, 28}, torch::kUInt8)).status();
  EXPECT_NE(s.message().find("expected [N, 1, H, W]"), std::string::npos) << s;
  s = classifier->Classify(torch::zeros({2, 1, 28, 28})).status();
  EXPECT_NE(s.message().find("uint8"), std::string::npos) << s;

  EXPECT_EQ(SubnetClassifier::Load(dir_, std::string(64, '0')).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(SubnetClassifier::Load(dir_ + "/nope").status().code(), absl::StatusCode::kNotFound);

  Export(arch_.Largest(), /*normalization=*/false);
  s = SubnetClassifier::Load(dir_).status();
  EXPECT_NE(s.message().find("input_mean"), std::string::npos) << s;
}

}  // namespace
}  // namespace ofa::trainer
