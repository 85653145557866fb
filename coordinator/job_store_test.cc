#include "coordinator/job_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ofa::coordinator {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  fs::remove_all(dir);
  return dir;
}

ofa::v1::JobSpec Spec(const std::string& name, int priority) {
  ofa::v1::JobSpec spec;
  spec.set_name(name);
  spec.set_priority(priority);
  return spec;
}

std::vector<ofa::v1::PhaseSpec> Phases() {
  std::vector<ofa::v1::PhaseSpec> phases(2);
  phases[0].set_name("full");
  phases[1].set_name("elastic_kernel");
  return phases;
}

const absl::Time kNow = absl::FromUnixSeconds(1795000000);

std::vector<std::string> Ids(const std::vector<ofa::v1::Job>& jobs) {
  std::vector<std::string> ids;
  for (const ofa::v1::Job& job : jobs) ids.push_back(job.id());
  return ids;
}

TEST(JobStoreTest, CreatedJobsAreQueuedWithPendingPhasesAndSurviveAReopen) {
  const std::string dir = FreshDir("reopen");
  {
    auto store = JobStore::Open(dir).value();
    ofa::v1::Job a = store->Create(Spec("a", 0), Phases(), "alice", kNow).value();
    ofa::v1::Job b = store->Create(Spec("b", 0), Phases(), "bob", kNow).value();
    EXPECT_EQ(a.id(), "job-000001");
    EXPECT_EQ(b.id(), "job-000002");
    EXPECT_EQ(a.state(), ofa::v1::JOB_STATE_QUEUED);
    ASSERT_EQ(a.phases_size(), 2);
    EXPECT_EQ(a.phases(1).spec().name(), "elastic_kernel");
    EXPECT_EQ(a.phases(1).state(), ofa::v1::PHASE_STATE_PENDING);
    EXPECT_EQ(a.create_time().seconds(), 1795000000);
  }
  // A restarted coordinator sees everything, and numbering goes on.
  auto store = JobStore::Open(dir).value();
  ofa::v1::Job a = store->Get("job-000001").value();
  EXPECT_EQ(a.spec().name(), "a");
  EXPECT_EQ(a.owner(), "alice");
  EXPECT_EQ(store->Create(Spec("c", 0), {}, "alice", kNow)->id(), "job-000003");
  auto db = SqliteDb::Open(dir + "/coordinator.db").value();
  EXPECT_EQ(AsText(db->Query("PRAGMA journal_mode").value()[0][0]), "wal");
}

TEST(JobStoreTest, ListsInSchedulingOrderWithStateAndOwnerFilters) {
  auto store = JobStore::Open(FreshDir("order")).value();
  store->Create(Spec("low", 0), {}, "alice", kNow).value();     // job-000001
  store->Create(Spec("high", 5), {}, "bob", kNow).value();      // job-000002
  store->Create(Spec("low2", 0), {}, "bob", kNow).value();      // job-000003
  store->Create(Spec("high2", 5), {}, "alice", kNow).value();   // job-000004
  EXPECT_THAT(Ids(store->List({}).value()),
              ElementsAre("job-000002", "job-000004", "job-000001", "job-000003"));
  EXPECT_THAT(Ids(store->List({.owner = "alice"}).value()),
              ElementsAre("job-000004", "job-000001"));
  ASSERT_TRUE(store->Update("job-000002", kNow, [](ofa::v1::Job& job, auto&) {
                     job.set_state(ofa::v1::JOB_STATE_RUNNING);
                     return absl::OkStatus();
                   }).ok());
  EXPECT_THAT(Ids(store->List({.states = {ofa::v1::JOB_STATE_QUEUED}}).value()),
              ElementsAre("job-000004", "job-000001", "job-000003"));
  EXPECT_THAT(Ids(store->List({.states = {ofa::v1::JOB_STATE_RUNNING}}).value()),
              ElementsAre("job-000002"));
}

TEST(JobStoreTest, AFailedUpdateChangesNothingAndEventsAreNumberedFromOne) {
  auto store = JobStore::Open(FreshDir("events")).value();
  const std::string id = store->Create(Spec("a", 0), Phases(), "alice", kNow)->id();
  absl::StatusOr<ofa::v1::Job> failed =
      store->Update(id, kNow, [](ofa::v1::Job& job, std::vector<ofa::v1::JobEvent>& events) {
        job.set_state(ofa::v1::JOB_STATE_CANCELLED);
        events.emplace_back().mutable_state_changed()->set_state(ofa::v1::JOB_STATE_CANCELLED);
        return absl::FailedPreconditionError("changed my mind");
      });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Get(id)->state(), ofa::v1::JOB_STATE_QUEUED);
  ASSERT_EQ(store->EventsAfter(id, 0)->size(), 1u);

  ASSERT_TRUE(store
                  ->Update(id, kNow + absl::Seconds(3),
                           [](ofa::v1::Job& job, std::vector<ofa::v1::JobEvent>& events) {
                             job.set_state(ofa::v1::JOB_STATE_RUNNING);
                             job.mutable_phases(0)->set_state(ofa::v1::PHASE_STATE_RUNNING);
                             events.emplace_back().mutable_phase_started()->set_phase("full");
                             events.emplace_back().mutable_state_changed()->set_state(
                                 ofa::v1::JOB_STATE_RUNNING);
                             return absl::OkStatus();
                           })
                  .ok());
  std::vector<ofa::v1::JobEvent> events = store->EventsAfter(id, 0).value();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].sequence(), 1);
  EXPECT_EQ(events[0].state_changed().reason(), "submitted");
  EXPECT_EQ(events[1].sequence(), 2);
  EXPECT_EQ(events[1].phase_started().phase(), "full");
  EXPECT_EQ(events[2].time().seconds(), 1795000003);
  EXPECT_EQ(store->EventsAfter(id, 2)->size(), 1u);
  EXPECT_EQ(store->Get(id)->phases(0).state(), ofa::v1::PHASE_STATE_RUNNING);
}

TEST(JobStoreTest, UnknownJobsAndNonDatabaseFilesAreClearErrors) {
  const std::string dir = FreshDir("errors");
  auto store = JobStore::Open(dir).value();
  EXPECT_EQ(store->Get("job-999999").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(store->EventsAfter("nope", 0).status().message(), HasSubstr("no job \"nope\""));
  EXPECT_EQ(store->Update("nope", kNow, [](auto&, auto&) { return absl::OkStatus(); })
                .status()
                .code(),
            absl::StatusCode::kNotFound);

  const std::string bad = FreshDir("not_a_db");
  fs::create_directories(bad);
  std::ofstream(bad + "/coordinator.db") << std::string(8192, 'x');
  absl::StatusOr<std::unique_ptr<JobStore>> opened = JobStore::Open(bad);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(opened.status().message(), HasSubstr(bad + "/coordinator.db"));
}

TEST(JobStoreTest, ASubmissionSurvivesKillMinus9RightAfterItReturns) {
  const std::string dir = FreshDir("kill9");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = JobStore::Open(dir);
    if (!store.ok() || !(*store)->Create(Spec("durable", 1), Phases(), "alice", kNow).ok()) {
      _exit(1);
    }
    raise(SIGKILL);  // No destructor, no close: only what was committed is on disk.
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  auto store = JobStore::Open(dir).value();
  absl::StatusOr<ofa::v1::Job> job = store->Get("job-000001");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->spec().name(), "durable");
  EXPECT_EQ(store->EventsAfter(job->id(), 0)->size(), 1u);
}

}  // namespace
}  // namespace ofa::coordinator
