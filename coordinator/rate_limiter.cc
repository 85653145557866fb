#include "coordinator/rate_limiter.h"

#include <algorithm>

namespace ofa::coordinator {

bool RateLimiter::Allow(const std::string& caller, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = buckets_.try_emplace(caller, Bucket{burst_, now});
  Bucket& b = it->second;
  b.tokens = std::min(burst_, b.tokens + per_second_ * absl::ToDoubleSeconds(now - b.refilled));
  b.refilled = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace ofa::coordinator
