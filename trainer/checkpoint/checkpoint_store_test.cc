#include "trainer/checkpoint/checkpoint_store.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;

struct Net : torch::nn::Module {
  Net() {
    fc = register_module("fc", torch::nn::Linear(4, 3));
    bn = register_module("bn", torch::nn::BatchNorm1d(3));
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};

std::string FreshRoot(const std::string& name) {
  std::string root = ::testing::TempDir() + "/" + name;
  fs::remove_all(root);
  return root;
}

TEST(CheckpointStoreTest, SavesAndRestoresModelOptimizerAndState) {
  CheckpointStore store(FreshRoot("roundtrip"));
  Net net;
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  net.bn(net.fc(torch::randn({8, 4}))).sum().backward();
  sgd.step();  // Creates momentum buffers.
  ASSERT_TRUE(store.Save(CheckpointStore::StepName(7), {&net, &sgd, {{"step", 7}}}).ok());

  Net other;
  torch::optim::SGD other_sgd(other.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  CheckpointData data{&other, &other_sgd, {}};
  ASSERT_TRUE(store.Load("step-0000000007", data).ok());
  EXPECT_EQ(data.state["step"], 7);
  EXPECT_TRUE(torch::equal(other.fc->weight, net.fc->weight));
  EXPECT_TRUE(torch::equal(other.bn->running_mean, net.bn->running_mean));
  // Same next step from both optimizers means the momentum was restored too.
  for (auto* n : {&net, &other}) {
    n->zero_grad();
    n->fc->weight.sum().backward();
  }
  sgd.step();
  other_sgd.step();
  EXPECT_TRUE(torch::equal(other.fc->weight, net.fc->weight));
}

TEST(CheckpointStoreTest, CorruptCheckpointIsSkippedForTheNewestValidOne) {
  CheckpointStore store(FreshRoot("corrupt"));
  Net net;
  ASSERT_TRUE(store.Save(CheckpointStore::StepName(1), {&net, nullptr, {}}).ok());
  ASSERT_TRUE(store.Save(CheckpointStore::StepName(2), {&net, nullptr, {}}).ok());
  // Flip bytes in the newest one, as a torn write or bit rot would.
  const std::string model = store.root() + "/step-0000000002/model.pt";
  {
    std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.write("XXXX", 4);
  }
  EXPECT_EQ(store.Verify("step-0000000002").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store.LatestValid().value(), "step-0000000001");
  CheckpointData data{&net, nullptr, {}};
  EXPECT_THAT(std::string(store.Load("step-0000000002", data).message()),
              ::testing::HasSubstr("checksum does not match"));
}

TEST(CheckpointStoreTest, HalfWrittenTemporaryDirectoriesAreIgnored) {
  CheckpointStore store(FreshRoot("torn"));
  Net net;
  ASSERT_TRUE(store.Save(CheckpointStore::StepName(3), {&net, nullptr, {}}).ok());
  fs::create_directories(store.root() + "/.tmp-step-0000000009-1234");
  std::ofstream(store.root() + "/.tmp-step-0000000009-1234/model.pt") << "partial";
  EXPECT_EQ(store.List(), std::vector<std::string>{"step-0000000003"});
  EXPECT_EQ(store.LatestValid().value(), "step-0000000003");
}

TEST(CheckpointStoreTest, FinalIsNewestAndSurvivesPruning) {
  CheckpointStore store(FreshRoot("prune"));
  Net net;
  for (int step : {10, 20, 30, 40}) {
    ASSERT_TRUE(store.Save(CheckpointStore::StepName(step), {&net, nullptr, {}}).ok());
  }
  ASSERT_TRUE(store.Save("final", {&net, nullptr, {}}).ok());
  ASSERT_TRUE(store.Save("final", {&net, nullptr, {{"again", true}}}).ok());  // Replace.
  ASSERT_TRUE(store.Prune(2).ok());
  EXPECT_EQ(store.List(), (std::vector<std::string>{"final", "step-0000000040",
                                                    "step-0000000030"}));
  EXPECT_EQ(store.LatestValid().value(), "final");
}

TEST(CheckpointStoreTest, LoadingIntoADifferentModelSaysSo) {
  CheckpointStore store(FreshRoot("mismatch"));
  Net net;
  ASSERT_TRUE(store.Save("final", {&net, nullptr, {}}).ok());
  torch::nn::Linear other(5, 5);
  CheckpointData data{other.get(), nullptr, {}};
  absl::Status status = store.Load("final", data);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("does not fit this model"));
  EXPECT_EQ(store.Load("step-0000000001", data).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ofa::trainer
