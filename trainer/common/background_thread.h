#ifndef OFA_TRAINER_COMMON_BACKGROUND_THREAD_H_
#define OFA_TRAINER_COMMON_BACKGROUND_THREAD_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace ofa::trainer {

// One long-lived thread that runs submitted tasks in order; each Submit returns the future of
// its task's result (or exception). The destructor runs the tasks already submitted, then
// joins.
//
// Why not std::async per task: LibTorch initialises every new thread that calls into it
// (at::init_num_threads calls at::set_num_threads), and with a thread count set that rebuilds
// its pthreadpool, whose new workers spin, and clears oneDNN's primitive cache. A prefetch
// thread per batch paid that on every training step: a fifth of the CPU time of the default
// job's full phase was spent spinning in libpthreadpool (docs/performance.md, "One prefetch
// thread for all loaders").
//
// Why not at::launch (LibTorch's inter-op pool, also long-lived): RunConcurrently runs a
// step's concurrent batch shards there, and a prefetch queued on the same threads could hold
// a shard back; this thread keeps the two apart and runs its tasks in submission order.
class BackgroundThread {
 public:
  BackgroundThread();
  ~BackgroundThread();
  BackgroundThread(const BackgroundThread&) = delete;
  BackgroundThread& operator=(const BackgroundThread&) = delete;

  template <typename Task>
  auto Submit(Task task) -> std::future<decltype(task())> {
    using Result = decltype(task());
    // std::function needs a copyable target; the packaged task is shared, not copied.
    auto packaged = std::make_shared<std::packaged_task<Result()>>(std::move(task));
    std::future<Result> result = packaged->get_future();
    Enqueue([packaged] { (*packaged)(); });
    return result;
  }

 private:
  void Enqueue(std::function<void()> task);
  void Loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;  // Last: started once the members above exist.
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_COMMON_BACKGROUND_THREAD_H_
