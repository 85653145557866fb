#include "trainer/common/heap_retention.h"

#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "trainer/common/repeated_heap_step_for_test.h"

namespace ofa::trainer {
namespace {

// FaultsOfARepeatedStep in a child process, so that its heap use leaves this one's alone.
long FaultsWithDefaultSettings() {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    const long faults = FaultsOfARepeatedStep();
    _exit(write(fds[1], &faults, sizeof faults) == sizeof faults ? 0 : 1);
  }
  long faults = -1;
  if (read(fds[0], &faults, sizeof faults) != sizeof faults) faults = -1;
  waitpid(child, nullptr, 0);
  close(fds[0]);
  close(fds[1]);
  return faults;
}

// One test, so that the child measures glibc's defaults before this process changes them.
TEST(HeapRetentionTest, FreedMemoryIsReusedWithoutPageFaults) {
  // The reason RetainFreedHeapMemory exists: by default every round faults its pages in again.
  EXPECT_GT(FaultsWithDefaultSettings(), kPagesPerRound / 2);

  ASSERT_TRUE(RetainFreedHeapMemory());
  EXPECT_LT(FaultsOfARepeatedStep(), kPagesPerRound / 100);
  EXPECT_TRUE(RetainFreedHeapMemory());  // idempotent
}

TEST(HeapRetentionTest, NamesGlibcMallocWithoutTcmalloc) {
  EXPECT_STREQ(HeapAllocatorName(), "glibc malloc");
}

}  // namespace
}  // namespace ofa::trainer
