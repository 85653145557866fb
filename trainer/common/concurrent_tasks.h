#ifndef OFA_TRAINER_COMMON_CONCURRENT_TASKS_H_
#define OFA_TRAINER_COMMON_CONCURRENT_TASKS_H_

#include <functional>

namespace ofa::trainer {

// Runs task(0) ... task(count - 1) on `workers` threads, the calling one included (the others
// come from LibTorch's inter-op pool), and returns when all are done. Worker w runs tasks
// w, w + workers, ... with `kernel_threads / workers` (at least 1) OpenMP threads of its own
// for LibTorch kernels; the caller's own setting is restored afterwards. Why: a small model's
// kernels leave a second core partly idle; two independent halves of the work, one thread
// each, keep it busier (ofa_small_28 at batch 128 on 2 cores: 1.15-1.35x). The first
// exception a task throws is rethrown here once every task has ended.
void RunConcurrently(int count, int workers, int kernel_threads,
                     const std::function<void(int)>& task);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_COMMON_CONCURRENT_TASKS_H_
