#ifndef OFA_COORDINATOR_SUBNET_STORE_H_
#define OFA_COORDINATOR_SUBNET_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/sqlite_db.h"
#include "ofa/v1/subnet.pb.h"

namespace ofa::coordinator {

// The sub-networks each job's specialise phase exported, one row per (job, target), in the
// coordinator's database (table `subnets`). Not thread-safe; the scheduler's lock guards it.
class SubnetStore {
 public:
  static absl::StatusOr<std::unique_ptr<SubnetStore>> Open(SqliteDb* db);

  // Replaces the job's sub-networks with `subnets` in one transaction.
  absl::Status Put(const std::string& job_id, const std::vector<ofa::v1::Subnet>& subnets);
  // In target order as exported; empty if none.
  absl::StatusOr<std::vector<ofa::v1::Subnet>> List(const std::string& job_id);

 private:
  explicit SubnetStore(SqliteDb* db) : db_(db) {}
  SqliteDb* db_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_SUBNET_STORE_H_
