// The rendezvous store: its table, and the real gRPC service on loopback that trainer ranks
// bootstrap Gloo through (GrpcStore).
#include <chrono>
#include <memory>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include "coordinator/rendezvous_table.h"
#include "coordinator/worker_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/dist/gloo_communicator.h"
#include "trainer/dist/grpc_store.h"

namespace ofa::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ofa::v1::RendezvousScope Scope(const std::string& job, const std::string& phase, int attempt) {
  ofa::v1::RendezvousScope scope;
  scope.set_job_id(job);
  scope.set_phase(phase);
  scope.set_attempt(attempt);
  return scope;
}

TEST(RendezvousTableTest, GetWaitsForSetAndAttemptsDoNotSeeEachOther) {
  RendezvousTable table;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(table.Set(Scope("job-1", "full", 1), "b", "2").ok());
    ASSERT_TRUE(table.Set(Scope("job-1", "full", 1), "a", std::string("\0x", 2)).ok());
  });
  absl::StatusOr<std::vector<std::string>> values =
      table.Get(Scope("job-1", "full", 1), {"a", "b"}, absl::Seconds(10));
  writer.join();
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_THAT(*values, ElementsAre(std::string("\0x", 2), "2"));

  absl::StatusOr<std::vector<std::string>> stale =
      table.Get(Scope("job-1", "full", 2), {"a"}, absl::Milliseconds(50));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(stale.status().message(), HasSubstr("key \"a\" of job job-1, phase full, attempt 2"));

  EXPECT_EQ(*table.Add(Scope("job-1", "full", 1), "arrived", 1), 1);
  EXPECT_EQ(*table.Add(Scope("job-1", "full", 1), "arrived", 2), 3);
  EXPECT_EQ(table.Add(Scope("job-1", "full", 1), "a", 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
  table.DropJob("job-1");
  EXPECT_FALSE(table.Get(Scope("job-1", "full", 1), {"b"}, absl::ZeroDuration()).ok());
}

TEST(RendezvousTableTest, BadRequestsNameTheField) {
  RendezvousTable table;
  EXPECT_THAT(table.Set(Scope("", "full", 0), "k", "v").message(), HasSubstr("scope.job_id"));
  EXPECT_THAT(table.Set(Scope("j", "full", -1), "k", "v").message(), HasSubstr("scope.attempt"));
  EXPECT_THAT(table.Set(Scope("j", "full", 0), std::string(300, 'k'), "v").message(),
              HasSubstr("key: must be 1-256 characters, not 300"));
  EXPECT_THAT(table.Set(Scope("j", "full", 0), "k", std::string(70000, 'v')).message(),
              HasSubstr("value: at most 65536 bytes"));
  EXPECT_THAT(table.Get(Scope("j", "full", 0), {"ok", ""}, absl::ZeroDuration()).status().message(),
              HasSubstr("keys[1]"));
  EXPECT_THAT(table.Get(Scope("j", "full", 0), {"k"}, absl::Hours(2)).status().message(),
              HasSubstr("timeout"));
}

// A real gRPC server on a loopback port chosen by the kernel.
class RendezvousServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                               grpc::InsecureChannelCredentials());
  }

  RendezvousTable table_;
  std::unique_ptr<Authenticator> auth_ = Authenticator::Open();
  WorkerServiceImpl service_{table_, nullptr, *auth_};
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(RendezvousServiceTest, TwoGlooRanksConnectThroughTheCoordinatorsStore) {
  const std::string scope = trainer::RendezvousScope("job-000007", "full", 1);
  std::vector<torch::Tensor> results(2);
  std::vector<absl::Status> statuses(2);
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    ranks.emplace_back([&, rank] {
      trainer::GrpcStore store(Channel());
      auto comm = trainer::GlooCommunicator::Connect(
          store, {.rank = rank, .world_size = 2, .scope = scope, .timeout = absl::Seconds(20)});
      if (!comm.ok()) {
        statuses[rank] = comm.status();
        return;
      }
      std::vector<torch::Tensor> t = {torch::full({4}, rank + 1.0f)};
      statuses[rank] = (*comm)->AllReduce(t, trainer::ReduceOp::kSum);
      results[rank] = t[0];
    });
  }
  for (std::thread& t : ranks) t.join();
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_TRUE(statuses[rank].ok()) << statuses[rank];
    EXPECT_TRUE(torch::equal(results[rank], torch::full({4}, 3.0f)));
  }
}

TEST_F(RendezvousServiceTest, ErrorsCrossTheWireAndAnAbsentCoordinatorFailsFast) {
  trainer::GrpcStore store(Channel());
  absl::StatusOr<std::string> missing =
      store.Get(trainer::RendezvousScope("job-1", "full", 0) + "nothing", absl::Milliseconds(100));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(missing.status().message(), HasSubstr("key \"nothing\""));
  EXPECT_EQ(store.Set("not/a/scoped/key", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Set(trainer::RendezvousScope("job-1", "full", 0) + "big",
                      std::string(70000, 'v')).code(),
            absl::StatusCode::kInvalidArgument);

  server_->Shutdown();
  const auto start = std::chrono::steady_clock::now();
  absl::Status down = store.Set(trainer::RendezvousScope("job-1", "full", 0) + "k", "v");
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
}

}  // namespace
}  // namespace ofa::coordinator
