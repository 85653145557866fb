#ifndef OFA_COORDINATOR_RATE_LIMITER_H_
#define OFA_COORDINATOR_RATE_LIMITER_H_

#include <map>
#include <mutex>
#include <string>

#include "absl/time/time.h"

namespace ofa::coordinator {

// A token bucket per caller: `per_second` calls on average, bursts up to `burst`. A flood
// from one client is refused (RESOURCE_EXHAUSTED) before it costs a database transaction, so
// other users and the workers of running jobs keep being served. Thread-safe.
class RateLimiter {
 public:
  RateLimiter(double per_second, double burst) : per_second_(per_second), burst_(burst) {}

  // Takes one token from `caller`'s bucket if there is one.
  bool Allow(const std::string& caller, absl::Time now);

 private:
  struct Bucket {
    double tokens;
    absl::Time refilled;
  };
  double per_second_;
  double burst_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_RATE_LIMITER_H_
