#include "trainer/common/kernel_threads.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>

namespace ofa::trainer {

void LimitKernelThreadsOfThisThread(int threads) {
  // omp_set_num_threads sets the calling thread's team size only (an OpenMP per-thread ICV).
  // Looked up rather than linked so that it reaches the runtime LibTorch itself uses.
  using SetNumThreads = void (*)(int);
  static const auto set_num_threads =
      reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  // LibTorch sets a thread's team size to its global setting on the thread's first parallel
  // call; asking for the size makes that happen now, so it cannot undo ours later.
  at::get_num_threads();
  if (set_num_threads != nullptr && threads > 0) set_num_threads(threads);
}

}  // namespace ofa::trainer
