#ifndef OFA_COORDINATOR_FLEET_H_
#define OFA_COORDINATOR_FLEET_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ofa/v1/worker_service.pb.h"

namespace ofa::coordinator {

// One device of one worker, the unit a trainer rank is placed on.
struct Slot {
  std::string worker_id;
  int device_index = 0;
};

// The workers the coordinator knows, their device slots and leases. A worker is registered,
// renews its lease with every heartbeat, and is declared lost when the lease runs out; a
// slot is either free or held by one task. Lives in memory: after a coordinator restart every
// worker is told to register again (HeartbeatResponse.reregister). Not thread-safe.
class Fleet {
 public:
  struct Worker {
    std::string id;
    ofa::v1::RegisterWorkerRequest info;
    absl::Time lease_expiry;
    bool draining = false;
    std::map<int, std::string> slot_task;  // Device index -> task id ("" = free).
  };

  explicit Fleet(absl::Duration lease) : lease_(lease) {}

  // A new id for the worker. A worker that registers again under the same hostname replaces
  // its earlier registration: the tasks that held its slots are returned in `orphaned`.
  std::string Register(const ofa::v1::RegisterWorkerRequest& request, absl::Time now,
                       std::vector<std::string>* orphaned);
  // A worker reloaded from the coordinator's database after a restart, with a fresh lease
  // until `lease_expiry`; later ids never repeat its id.
  void Restore(const std::string& id, const ofa::v1::RegisterWorkerRequest& info, bool draining,
               absl::Time lease_expiry);
  // Marks a slot held by `task_id` (a restored running task); false if there is no such slot.
  bool Hold(const Slot& slot, const std::string& task_id);
  // Renews the lease; NOT_FOUND if the worker is unknown (lost, or from before a restart).
  absl::Status Renew(const std::string& worker_id, bool draining, absl::Time now);
  // Removes workers whose lease ran out; returns (worker id, tasks it held) for each.
  std::vector<std::pair<std::string, std::vector<std::string>>> ExpireLeases(absl::Time now);
  // Removes a worker that leaves on purpose; returns the tasks it held, or nullopt if unknown.
  std::optional<std::vector<std::string>> Remove(const std::string& worker_id);

  // A gang: `workers` distinct workers with `devices_per_worker` free slots of `kind` each,
  // none draining; the slots are held for `task_ids` (rank order, worker by worker). Nothing
  // is held (nullopt) unless the whole gang fits.
  std::optional<std::vector<Slot>> PlaceGang(ofa::v1::DeviceKind kind, int workers,
                                             int devices_per_worker,
                                             const std::vector<std::string>& task_ids);
  // Frees the slot a task held (no-op if it holds none, e.g. its worker was lost).
  void Release(const Slot& slot, const std::string& task_id);

  const Worker* Find(const std::string& worker_id) const;
  const std::map<std::string, Worker>& workers() const { return workers_; }
  absl::Duration lease() const { return lease_; }

 private:
  absl::Duration lease_;
  int64_t next_id_ = 1;
  std::map<std::string, Worker> workers_;  // By id.
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_FLEET_H_
