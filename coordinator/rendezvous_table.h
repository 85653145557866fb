#ifndef OFA_COORDINATOR_RENDEZVOUS_TABLE_H_
#define OFA_COORDINATOR_RENDEZVOUS_TABLE_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ofa/v1/worker_service.pb.h"

namespace ofa::coordinator {

// The key-value store trainer ranks bootstrap through (c10d's TCPStore role), scoped by
// (job, phase, attempt) so a retried attempt never reads a failed one's keys. Values live in
// memory: they matter only while an attempt's ranks connect, and a coordinator restart fails
// and retries running attempts anyway. Thread-safe; GetKeys waits without holding a thread busy.
class RendezvousTable {
 public:
  static constexpr size_t kMaxKeyLength = 256;
  static constexpr size_t kMaxValueBytes = 64 << 10;
  static constexpr absl::Duration kMaxWait = absl::Minutes(30);

  absl::Status Set(const ofa::v1::RendezvousScope& scope, const std::string& key,
                   const std::string& value);
  // The values of `keys`, in order, waiting up to `timeout` for missing ones
  // (DEADLINE_EXCEEDED naming the first still missing).
  absl::StatusOr<std::vector<std::string>> Get(const ofa::v1::RendezvousScope& scope,
                                               const std::vector<std::string>& keys,
                                               absl::Duration timeout);
  // Adds `delta` to an integer key (created at 0) and returns the new value.
  absl::StatusOr<int64_t> Add(const ofa::v1::RendezvousScope& scope, const std::string& key,
                              int64_t delta);
  // Forgets every key of the job (its attempts are over).
  void DropJob(const std::string& job_id);

 private:
  static absl::Status CheckScope(const ofa::v1::RendezvousScope& scope);
  static absl::Status CheckKey(const std::string& key, const char* field);
  static std::string Prefix(const ofa::v1::RendezvousScope& scope);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::string> values_;  // Prefix(scope) + key -> value.
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_RENDEZVOUS_TABLE_H_
