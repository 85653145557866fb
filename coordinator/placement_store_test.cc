#include "coordinator/placement_store.h"

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ofa::coordinator {
namespace {

using ::testing::HasSubstr;

class PlacementStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/placement.db";
    std::filesystem::remove(path_);
    Reopen();
  }
  void Reopen() {  // A coordinator restart: only the file survives.
    store_.reset();
    db_ = *SqliteDb::Open(path_);
    store_ = *PlacementStore::Open(db_.get());
  }
  std::string path_;
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<PlacementStore> store_;
};

PlacementStore::TaskRecord Task(const std::string& id, const std::string& worker, int rank) {
  PlacementStore::TaskRecord t;
  t.id = id;
  t.worker_id = worker;
  t.device = rank;
  t.state = ofa::v1::TASK_STATE_RUNNING;
  t.acknowledged = true;
  t.start = absl::FromUnixSeconds(1'700'000'000 + rank);
  t.assignment.set_task_id(id);
  t.assignment.set_rank(rank);
  return t;
}

TEST_F(PlacementStoreTest, WorkersAndAttemptsSurviveAReopen) {
  PlacementStore::WorkerRecord w{"w1-node-a", {}, true};
  w.info.set_hostname("node-a");
  ASSERT_TRUE(store_->SaveWorker(w).ok());
  PlacementStore::AttemptRecord a{"job-000001", 2, 3, "", {}};
  a.tasks = {Task("job-000001/d/a3/r0", "w1-node-a", 0), Task("job-000001/d/a3/r1", "w2-b", 1)};
  ASSERT_TRUE(store_->SaveAttempt(a).ok());
  // A change rewrites the attempt: the second rank failed and the first is to be stopped.
  a.failure = "rank 1 failed";
  a.tasks[1].state = ofa::v1::TASK_STATE_FAILED;
  a.tasks[1].result.set_error("boom");
  a.tasks[0].cancel = true;
  ASSERT_TRUE(store_->SaveAttempt(a).ok());
  Reopen();

  auto workers = store_->Workers();
  ASSERT_TRUE(workers.ok()) << workers.status();
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].id, "w1-node-a");
  EXPECT_EQ((*workers)[0].info.hostname(), "node-a");
  EXPECT_TRUE((*workers)[0].draining);
  auto attempts = store_->Attempts();
  ASSERT_TRUE(attempts.ok()) << attempts.status();
  ASSERT_EQ(attempts->size(), 1u);
  const PlacementStore::AttemptRecord& got = (*attempts)[0];
  EXPECT_EQ(got.phase_index, 2);
  EXPECT_EQ(got.number, 3);
  EXPECT_EQ(got.failure, "rank 1 failed");
  ASSERT_EQ(got.tasks.size(), 2u);  // Replaced, not appended.
  EXPECT_EQ(got.tasks[0].assignment.rank(), 0);
  EXPECT_TRUE(got.tasks[0].cancel);
  EXPECT_EQ(got.tasks[0].start, absl::FromUnixSeconds(1'700'000'000));
  EXPECT_EQ(got.tasks[1].state, ofa::v1::TASK_STATE_FAILED);
  EXPECT_EQ(got.tasks[1].result.error(), "boom");
  EXPECT_EQ(got.tasks[1].worker_id, "w2-b");
}

TEST_F(PlacementStoreTest, DeletesAreByAttemptAndByHost) {
  PlacementStore::WorkerRecord w{"w1-node-a", {}, false};
  w.info.set_hostname("node-a");
  ASSERT_TRUE(store_->SaveWorker(w).ok());
  w.id = "w2-node-b";
  w.info.set_hostname("node-b");
  ASSERT_TRUE(store_->SaveWorker(w).ok());
  ASSERT_TRUE(store_->DeleteWorkersOn("node-a").ok());
  ASSERT_EQ(store_->Workers()->size(), 1u);
  EXPECT_EQ(store_->Workers()->front().id, "w2-node-b");

  ASSERT_TRUE(store_->SaveAttempt({"job-1", 0, 1, "", {Task("job-1/f/a1/r0", "w2", 0)}}).ok());
  ASSERT_TRUE(store_->SaveAttempt({"job-2", 0, 1, "", {Task("job-2/f/a1/r0", "w2", 0)}}).ok());
  ASSERT_TRUE(store_->DeleteAttempt("job-1").ok());
  auto attempts = store_->Attempts();
  ASSERT_EQ(attempts->size(), 1u);
  EXPECT_EQ(attempts->front().job_id, "job-2");
  EXPECT_EQ(attempts->front().tasks.size(), 1u);
}

TEST_F(PlacementStoreTest, ACorruptRecordIsDataLossNamingIt) {
  ASSERT_TRUE(store_->SaveAttempt({"job-1", 0, 1, "", {Task("job-1/f/a1/r0", "w2", 0)}}).ok());
  ASSERT_TRUE(db_->Exec("UPDATE tasks SET assignment = x'ffff'").ok());
  auto attempts = store_->Attempts();
  ASSERT_FALSE(attempts.ok());
  EXPECT_EQ(attempts.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(attempts.status().message(), HasSubstr("assignment of task job-1/f/a1/r0"));
}

}  // namespace
}  // namespace ofa::coordinator
