#ifndef OFA_TRAINER_DIST_STORE_H_
#define OFA_TRAINER_DIST_STORE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ofa::trainer {

// The key-value store that ranks bootstrap their collectives through (the role of c10d's
// Store): rank 0 publishes what the others need (NCCL's unique id, Gloo's addresses), every
// rank reads it, waiting until it is there. Implementations: FileStore (one machine, tests)
// and, with the coordinator, its rendezvous service. Values are opaque bytes.
class Store {
 public:
  virtual ~Store() = default;
  // Publishes `value` under `key` (replacing an older value atomically).
  virtual absl::Status Set(const std::string& key, const std::string& value) = 0;
  // The value of `key`, waiting up to `timeout` for it to appear (DEADLINE_EXCEEDED naming
  // the key otherwise).
  virtual absl::StatusOr<std::string> Get(const std::string& key, absl::Duration timeout) = 0;
};

// The key prefix that scopes a rendezvous to one attempt of one phase of one job, so a retry
// never reads what a failed attempt left behind: "job/<job>/phase/<phase>/attempt/<n>/".
std::string RendezvousScope(const std::string& job, const std::string& phase, int64_t attempt);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DIST_STORE_H_
