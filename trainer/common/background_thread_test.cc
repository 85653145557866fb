#include "trainer/common/background_thread.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ofa::trainer {
namespace {

TEST(BackgroundThreadTest, RunsEveryTaskInOrderOnOneThreadOtherThanTheCaller) {
  BackgroundThread background;
  std::vector<int> order;  // Written by the background thread only.
  std::vector<std::future<std::thread::id>> ran_on;
  for (int i = 0; i < 20; ++i) {
    ran_on.push_back(background.Submit([&order, i] {
      order.push_back(i);
      return std::this_thread::get_id();
    }));
  }
  const std::thread::id first = ran_on[0].get();
  EXPECT_NE(first, std::this_thread::get_id());
  for (size_t i = 1; i < ran_on.size(); ++i) EXPECT_EQ(ran_on[i].get(), first) << "task " << i;
  std::vector<int> expected(20);
  for (int i = 0; i < 20; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
}

TEST(BackgroundThreadTest, ReturnsResultsAndExceptionsThroughTheFuture) {
  BackgroundThread background;
  std::future<std::string> ok = background.Submit([] { return std::string("batch 7"); });
  std::future<int> failed = background.Submit(
      []() -> int { throw std::runtime_error("data loader: cannot decode a.jpg"); });
  std::future<int> after = background.Submit([] { return 3; });
  EXPECT_EQ(ok.get(), "batch 7");
  try {
    failed.get();
    ADD_FAILURE() << "the task's exception did not reach its future";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "data loader: cannot decode a.jpg");
  }
  EXPECT_EQ(after.get(), 3) << "a task that threw stopped the thread";
}

TEST(BackgroundThreadTest, DestructorRunsTheTasksAlreadySubmitted) {
  std::vector<int> done;
  {
    BackgroundThread background;
    background.Submit([] { std::this_thread::sleep_for(std::chrono::milliseconds(50)); });
    for (int i = 0; i < 5; ++i) background.Submit([&done, i] { done.push_back(i); });
  }
  EXPECT_EQ(done, (std::vector<int>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace ofa::trainer
