// Real processes on loopback: this test binary re-executes itself once per rank
// (rank_processes_for_test.h) and checks what the ranks did.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/dist/file_store.h"
#include "trainer/dist/gloo_communicator.h"
#include "trainer/dist/rank_processes_for_test.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// ---- one rank (child process) ----

int RunRank(int rank, int world, const std::string& dir, const std::string& scenario) {
  FileStore store(dir + "/store");
  GlooCommunicator::Options options;
  options.rank = rank;
  options.world_size = world;
  options.scope = RendezvousScope("job1", "full", 0);
  options.timeout = absl::Seconds(scenario == "die" ? 3 : 30);
  absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm =
      GlooCommunicator::Connect(store, options);
  if (!comm.ok()) return FailRank(comm.status());

  if (scenario == "die") {
    std::vector<torch::Tensor> t = {torch::ones({1 << 16})};
    // Everyone is connected and has done one collective; then the last rank dies before its
    // part of the next all-reduce.
    if (absl::Status s = (*comm)->AllReduce(t, ReduceOp::kSum); !s.ok()) return FailRank(s);
    if (rank == world - 1) raise(SIGKILL);
    for (int i = 0; i < 3; ++i) {
      if (absl::Status s = (*comm)->AllReduce(t, ReduceOp::kSum); !s.ok()) return FailRank(s);
    }
    std::printf("all-reduce succeeded without the dead rank\n");
    return 0;
  }

  const float r = static_cast<float>(rank + 1);
  const float total = world * (world + 1) / 2.0f;
  std::vector<torch::Tensor> tensors = {torch::full({100003}, r), torch::arange(7.0f) * r,
                                        torch::empty({0})};
  if (absl::Status s = (*comm)->AllReduce(tensors, ReduceOp::kSum); !s.ok()) return FailRank(s);
  if (!torch::equal(tensors[0], torch::full({100003}, total)) ||
      !torch::allclose(tensors[1], torch::arange(7.0f) * total)) {
    std::printf("wrong sum on rank %d\n", rank);
    return 4;
  }
  std::vector<torch::Tensor> average = {torch::full({5}, r)};
  if (absl::Status s = (*comm)->AllReduce(average, ReduceOp::kAverage); !s.ok()) return FailRank(s);
  if (!torch::allclose(average[0], torch::full({5}, total / world))) {
    std::printf("wrong average on rank %d\n", rank);
    return 4;
  }
  std::vector<torch::Tensor> weights = {torch::full({3, 3}, static_cast<float>(rank))};
  if (absl::Status s = (*comm)->Broadcast(weights, /*root=*/1); !s.ok()) return FailRank(s);
  if (!torch::equal(weights[0], torch::full({3, 3}, 1.0f))) {
    std::printf("wrong broadcast on rank %d\n", rank);
    return 4;
  }
  std::vector<torch::Tensor> wrong = {torch::ones({2}, torch::kInt64)};
  if ((*comm)->AllReduce(wrong, ReduceOp::kSum).code() != absl::StatusCode::kInvalidArgument) {
    std::printf("int64 tensor was accepted\n");
    return 4;
  }
  if (absl::Status s = (*comm)->Barrier(); !s.ok()) return FailRank(s);
  std::printf("ok\n");
  return 0;
}

// ---- the test (parent process) ----

TEST(GlooCommunicatorTest, ThreeProcessesSumAverageBroadcastAndBarrier) {
  const std::vector<RankResult> results = RunRankProcesses(3, "collectives", "collectives",
                                                           absl::Seconds(60));
  for (size_t rank = 0; rank < results.size(); ++rank) {
    EXPECT_EQ(results[rank].exit_code, 0) << "rank " << rank << ": " << results[rank].output;
    EXPECT_THAT(results[rank].output, HasSubstr("ok"));
  }
}

TEST(GlooCommunicatorTest, AKilledRankFailsTheOthersWithinTheTimeoutInsteadOfHanging) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<RankResult> results = RunRankProcesses(2, "die", "die", absl::Seconds(30));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(results[1].exit_code, -SIGKILL);
  EXPECT_EQ(results[0].exit_code, 3) << results[0].output;
  EXPECT_THAT(results[0].output, HasSubstr("rank 0/2: all-reduce failed"));
  EXPECT_LT(seconds, 20.0);  // The 3 s collective timeout, plus process start-up.
}

TEST(FileStoreTest, GetWaitsForSetAndTimesOutNamingTheKey) {
  const std::string dir = ::testing::TempDir() + "/file_store";
  fs::remove_all(dir);
  FileStore store(dir);
  const std::string key = RendezvousScope("job 1", "full", 2) + "nccl/unique id";
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(FileStore(dir).Set(key, std::string("\0bytes\n", 7)).ok());
  });
  absl::StatusOr<std::string> value = store.Get(key, absl::Seconds(10));
  writer.join();
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, std::string("\0bytes\n", 7));
  absl::StatusOr<std::string> missing = store.Get("job/x/absent", absl::Milliseconds(50));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(missing.status().message(), HasSubstr("\"job/x/absent\""));
}

}  // namespace
}  // namespace ofa::trainer

int main(int argc, char** argv) {
  const int role = ofa::trainer::DispatchRankRole(
      argc, argv, [](int rank, int world, const std::string& dir, const std::string& scenario) {
        torch::set_num_threads(1);
        return ofa::trainer::RunRank(rank, world, dir, scenario);
      });
  if (role >= 0) return role;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
