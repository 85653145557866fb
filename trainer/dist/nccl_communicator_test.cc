// The NCCL backend on real GPUs. Where no CUDA device exists (CI) every test is skipped and
// says so; multi-rank tests re-execute this binary once per rank (rank_processes_for_test.h)
// and need one GPU per rank.
#include <signal.h>

#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/dist/file_store.h"
#include "trainer/dist/rank_processes_for_test.h"
#include "trainer/dist/nccl_communicator.h"

namespace ofa::trainer {
namespace {

using ::testing::HasSubstr;

// ---- one rank (child process) ----

int RunRank(int rank, int world, const std::string& dir, const std::string& scenario) {
  FileStore store(dir + "/store");
  NcclCommunicator::Options options;
  options.rank = rank;
  options.world_size = world;
  options.device = rank;
  options.scope = RendezvousScope("job1", "full", 0);
  options.timeout = absl::Seconds(scenario == "die" ? 5 : 60);
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> comm =
      NcclCommunicator::Connect(store, options);
  if (!comm.ok()) return FailRank(comm.status());
  const torch::Device device(torch::kCUDA, rank);
  std::vector<torch::Tensor> t = {torch::full({1 << 20}, rank + 1.0f, device)};
  if (absl::Status s = (*comm)->AllReduce(t, ReduceOp::kSum); !s.ok()) return FailRank(s);
  const float total = world * (world + 1) / 2.0f;
  if (!torch::equal(t[0].cpu(), torch::full({1 << 20}, total))) {
    return FailRank(absl::InternalError("wrong sum"));
  }
  if (scenario == "die") {
    if (rank == world - 1) raise(SIGKILL);
    for (int i = 0; i < 3; ++i) {
      if (absl::Status s = (*comm)->AllReduce(t, ReduceOp::kSum); !s.ok()) return FailRank(s);
    }
    std::printf("all-reduce succeeded without the dead rank\n");
    return 0;
  }
  std::vector<torch::Tensor> b = {torch::full({9}, static_cast<float>(rank), device)};
  if (absl::Status s = (*comm)->Broadcast(b, world - 1); !s.ok()) return FailRank(s);
  if (!torch::equal(b[0].cpu(), torch::full({9}, world - 1.0f))) {
    return FailRank(absl::InternalError("wrong broadcast"));
  }
  if (absl::Status s = (*comm)->Barrier(); !s.ok()) return FailRank(s);
  std::printf("ok\n");
  return 0;
}

// ---- the tests (parent process) ----

std::vector<RankResult> RunRanks(int world, const std::string& scenario) {
  return RunRankProcesses(world, "nccl_" + scenario, scenario, absl::Seconds(90));
}

#define SKIP_UNLESS_GPUS(n)                                                            \
  if (NcclCommunicator::DeviceCount() < (n)) {                                         \
    GTEST_SKIP() << "needs " << (n) << " CUDA device(s), " << NcclCommunicator::DeviceCount() \
                 << " here";                                                           \
  }

TEST(NcclCommunicatorTest, OneRankCollectivesAndClearErrors) {
  SKIP_UNLESS_GPUS(1);
  FileStore store(::testing::TempDir() + "/nccl_one");
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> comm = NcclCommunicator::Connect(
      store, {.rank = 0, .world_size = 1, .scope = RendezvousScope("j", "p", 0)});
  ASSERT_TRUE(comm.ok()) << comm.status();
  std::vector<torch::Tensor> t = {torch::arange(10.0f, torch::kCUDA),
                                  torch::ones({3}, torch::kCUDA)};
  ASSERT_TRUE((*comm)->AllReduce(t, ReduceOp::kAverage).ok());
  EXPECT_TRUE(torch::equal(t[0].cpu(), torch::arange(10.0f)));
  ASSERT_TRUE((*comm)->Broadcast(t, 0).ok());
  ASSERT_TRUE((*comm)->Barrier().ok());
  std::vector<torch::Tensor> cpu = {torch::ones({2})};
  const absl::Status wrong = (*comm)->AllReduce(cpu, ReduceOp::kSum);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.message(), HasSubstr("on cuda:0"));
}

TEST(NcclCommunicatorTest, MissingDeviceIsAClearError) {
  FileStore store(::testing::TempDir() + "/nccl_missing");
  const int missing = NcclCommunicator::DeviceCount();
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> comm = NcclCommunicator::Connect(
      store, {.rank = 0, .world_size = 1, .scope = "s/", .device = missing});
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(comm.status().message(), HasSubstr(absl::StrCat("device ", missing)));
}

TEST(NcclCommunicatorTest, TwoRanksSumBroadcastAndBarrier) {
  SKIP_UNLESS_GPUS(2);
  for (const RankResult& r : RunRanks(2, "collectives")) {
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
}

TEST(NcclCommunicatorTest, AKilledRankAbortsTheOthersWithinTheTimeout) {
  SKIP_UNLESS_GPUS(2);
  const std::vector<RankResult> results = RunRanks(2, "die");
  EXPECT_EQ(results[1].exit_code, -SIGKILL);
  EXPECT_EQ(results[0].exit_code, 3) << results[0].output;
  EXPECT_THAT(results[0].output, HasSubstr("NCCL communicator was aborted"));
}

}  // namespace
}  // namespace ofa::trainer

int main(int argc, char** argv) {
  const int role = ofa::trainer::DispatchRankRole(argc, argv, ofa::trainer::RunRank);
  if (role >= 0) return role;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
