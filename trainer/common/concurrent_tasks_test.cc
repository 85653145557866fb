#include "trainer/common/concurrent_tasks.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace ofa::trainer {
namespace {

TEST(ConcurrentTasksTest, RunsEveryTaskOnce) {
  std::vector<std::atomic<int>> runs(7);
  RunConcurrently(7, 3, 3, [&](int i) { ++runs[i]; });
  for (int i = 0; i < 7; ++i) EXPECT_EQ(runs[i].load(), 1) << "task " << i;
}

TEST(ConcurrentTasksTest, WorkersRunAtTheSameTimeOnTheirOwnThreads) {
  // Each task waits until both have started: run one after the other, they would time out.
  std::atomic<int> started{0};
  std::atomic<bool> met[2] = {false, false};
  std::mutex mutex;
  std::set<std::thread::id> threads;
  RunConcurrently(2, 2, 2, [&](int i) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      threads.insert(std::this_thread::get_id());
    }
    ++started;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    met[i] = started.load() == 2;
  });
  EXPECT_TRUE(met[0] && met[1]);
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 1u) << "the caller works too";
}

TEST(ConcurrentTasksTest, SplitsKernelThreadsAndRestoresTheCallers) {
  at::set_num_threads(4);
  const int before = at::get_num_threads();
  std::vector<int> seen(2);
  RunConcurrently(2, 2, 4, [&](int i) { seen[i] = at::get_num_threads(); });
  if (before == 4) {  // LibTorch built with OpenMP: threads are set per calling thread.
    EXPECT_EQ(seen[0], 2);
    EXPECT_EQ(seen[1], 2);
  }
  EXPECT_EQ(at::get_num_threads(), before);
}

TEST(ConcurrentTasksTest, RethrowsAFailureAfterEveryTaskEnded) {
  std::atomic<int> ran{0};
  EXPECT_THROW(RunConcurrently(4, 2, 2,
                               [&](int i) {
                                 ++ran;
                                 if (i == 1) throw std::runtime_error("task 1 failed");
                               }),
               std::runtime_error);
  // Worker 1 stops at its failed task 1 (task 3 is never reached); worker 0 runs 0 and 2.
  EXPECT_EQ(ran.load(), 3);
}

TEST(ConcurrentTasksTest, OneWorkerRunsInOrderOnTheCaller) {
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<int> order;
  RunConcurrently(3, 1, 2, [&](int i) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    order.push_back(i);
  });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

}  // namespace
}  // namespace ofa::trainer
