#ifndef OFA_COORDINATOR_JOB_STORE_H_
#define OFA_COORDINATOR_JOB_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/sqlite_db.h"
#include "ofa/v1/job.pb.h"

namespace ofa::coordinator {

// A job in one of these states is over: it never runs again.
bool IsTerminal(ofa::v1::JobState state);
void SetTimestamp(google::protobuf::Timestamp* timestamp, absl::Time time);
absl::Time TimeOf(const google::protobuf::Timestamp& t);
absl::Duration DurationOf(const google::protobuf::Duration& d);

// The coordinator's durable record of jobs and their event streams, in
// <state_dir>/coordinator.db (SQLite, WAL). Each job is stored as its ofa.v1.Job message plus
// the columns the scheduler selects on (state, priority, owner, submission order). Every
// change is one transaction, so after kill -9 a job is either wholly there or not submitted.
class JobStore {
 public:
  struct ListFilter {
    std::vector<ofa::v1::JobState> states;  // Empty = all.
    std::string owner;                      // Empty = everyone's.
    int limit = 1000;
    // Newest submission first (ListJobs) instead of scheduling order, starting below
    // `before_seq` (the paging cursor; 0 = from the newest).
    bool newest_first = false;
    int64_t before_seq = 0;
  };
  // Changes a job; append to `events` what the change means for watchers. Returning an error
  // leaves the job and its events as they were.
  using Mutation =
      std::function<absl::Status(ofa::v1::Job& job, std::vector<ofa::v1::JobEvent>& events)>;

  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& state_dir);

  // Records a new QUEUED job (id "job-000001", ...) with one PENDING PhaseStatus per phase, and
  // its first event. A non-empty `request_id` that this owner used before returns the job
  // created then instead (an idempotent retry).
  absl::StatusOr<ofa::v1::Job> Create(const ofa::v1::JobSpec& spec,
                                      const std::vector<ofa::v1::PhaseSpec>& phases,
                                      const std::string& owner, absl::Time now,
                                      const std::string& request_id = "");
  absl::StatusOr<ofa::v1::Job> Get(const std::string& id);
  absl::StatusOr<ofa::v1::Job> Update(const std::string& id, absl::Time now,
                                      const Mutation& mutate);
  // In scheduling order: higher priority first, then earlier submission.
  absl::StatusOr<std::vector<ofa::v1::Job>> List(const ListFilter& filter);
  // How many jobs are in each state (states with none are left out).
  absl::StatusOr<std::map<ofa::v1::JobState, int>> CountByState();
  // The submission number in a job id ("job-000042" -> 42); 0 if it is not one.
  static int64_t SequenceOf(const std::string& job_id);
  // The database, shared with the energy ledger (callers serialise access, as for the store).
  SqliteDb* db() { return db_.get(); }
  // The job's events with sequence > `after`, oldest first, at most `limit`.
  absl::StatusOr<std::vector<ofa::v1::JobEvent>> EventsAfter(const std::string& id, int64_t after,
                                                             int limit = 1000);

 private:
  explicit JobStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  absl::StatusOr<ofa::v1::Job> Load(const std::string& id);
  absl::Status Save(const ofa::v1::Job& job);
  absl::Status Append(const std::string& id, absl::Time now,
                      std::vector<ofa::v1::JobEvent>& events);

  std::unique_ptr<SqliteDb> db_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_JOB_STORE_H_
