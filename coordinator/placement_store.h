#ifndef OFA_COORDINATOR_PLACEMENT_STORE_H_
#define OFA_COORDINATOR_PLACEMENT_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/sqlite_db.h"
#include "ofa/v1/worker_service.pb.h"

namespace ofa::coordinator {

// The scheduler's live placement state, kept in the coordinator's database beside the jobs:
// the registered workers and every running phase attempt with its tasks. A restarted
// coordinator reloads them and carries on: workers keep heartbeating under their ids and
// running trainers keep training, instead of every running phase starting a new attempt.
// Leases are not stored (that would be a write per heartbeat): at recovery every stored
// worker gets two leases to reconnect, and one that does not heartbeat by then is lost.
// Not thread-safe: the scheduler serialises access.
class PlacementStore {
 public:
  struct WorkerRecord {
    std::string id;
    ofa::v1::RegisterWorkerRequest info;
    bool draining = false;
  };
  struct TaskRecord {
    std::string id;
    std::string worker_id;
    int device = 0;
    ofa::v1::TaskState state = ofa::v1::TASK_STATE_STARTING;
    bool acknowledged = false;
    bool cancel = false;
    absl::Time start;
    ofa::v1::TaskAssignment assignment;
    ofa::v1::ReportTaskResultRequest result;
  };
  struct AttemptRecord {
    std::string job_id;
    int phase_index = 0;
    int number = 0;
    std::string failure;
    std::vector<TaskRecord> tasks;  // By rank.
  };

  // Creates the tables in `db` (which outlives the store) if needed.
  static absl::StatusOr<std::unique_ptr<PlacementStore>> Open(SqliteDb* db);

  absl::Status SaveWorker(const WorkerRecord& worker);
  // Removes every registration of `hostname` (a worker registering again replaces them).
  absl::Status DeleteWorkersOn(const std::string& hostname);
  absl::Status DeleteWorker(const std::string& id);
  absl::StatusOr<std::vector<WorkerRecord>> Workers();

  // Writes the attempt and all its tasks in one transaction (replacing what was stored).
  absl::Status SaveAttempt(const AttemptRecord& attempt);
  absl::Status DeleteAttempt(const std::string& job_id);
  absl::StatusOr<std::vector<AttemptRecord>> Attempts();

 private:
  explicit PlacementStore(SqliteDb* db) : db_(db) {}
  SqliteDb* db_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_PLACEMENT_STORE_H_
