#ifndef OFA_TRAINER_TRAIN_LR_SCHEDULE_H_
#define OFA_TRAINER_TRAIN_LR_SCHEDULE_H_

#include <cstdint>

namespace ofa::trainer {

// Learning rate per optimizer step: linear warm-up from 0 to `peak` over `warmup_steps`, then
// cosine decay to 0 at `total_steps` (as in the OFA authors' training code).
class CosineLrSchedule {
 public:
  CosineLrSchedule(double peak, int64_t warmup_steps, int64_t total_steps);
  double At(int64_t step) const;

 private:
  double peak_;
  int64_t warmup_steps_;
  int64_t total_steps_;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_LR_SCHEDULE_H_
