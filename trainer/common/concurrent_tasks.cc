#include "trainer/common/concurrent_tasks.h"

#include <algorithm>
#include <exception>
#include <future>
#include <vector>

#include <ATen/Parallel.h>

#include "trainer/common/kernel_threads.h"

namespace ofa::trainer {

void RunConcurrently(int count, int workers, int kernel_threads,
                     const std::function<void(int)>& task) {
  workers = std::clamp(workers, 1, std::max(count, 1));
  const int threads_each = std::max(1, kernel_threads / workers);
  auto run_share = [&](int worker) {
    LimitKernelThreadsOfThisThread(threads_each);
    for (int i = worker; i < count; i += workers) task(i);
  };
  std::vector<std::promise<void>> done(workers - 1);
  std::vector<std::future<void>> finished;
  for (int w = 1; w < workers; ++w) {
    finished.push_back(done[w - 1].get_future());
    at::launch([&, w] {
      try {
        run_share(w);
        done[w - 1].set_value();
      } catch (...) {
        done[w - 1].set_exception(std::current_exception());
      }
    });
  }
  const int caller_threads = at::get_num_threads();
  std::exception_ptr failure;
  try {
    run_share(0);
  } catch (...) {
    failure = std::current_exception();
  }
  LimitKernelThreadsOfThisThread(caller_threads);
  for (std::future<void>& f : finished) {
    try {
      f.get();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace ofa::trainer
