#include "trainer/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace ofa::trainer {

CosineLrSchedule::CosineLrSchedule(double peak, int64_t warmup_steps, int64_t total_steps)
    : peak_(peak),
      warmup_steps_(std::clamp<int64_t>(warmup_steps, 0, total_steps)),
      total_steps_(std::max<int64_t>(total_steps, 1)) {}

double CosineLrSchedule::At(int64_t step) const {
  if (step < warmup_steps_) return peak_ * (step + 1) / warmup_steps_;
  const int64_t decay_steps = std::max<int64_t>(total_steps_ - warmup_steps_, 1);
  const double progress = std::min(1.0, static_cast<double>(step - warmup_steps_) / decay_steps);
  return 0.5 * peak_ * (1.0 + std::cos(M_PI * progress));
}

}  // namespace ofa::trainer
