#include "trainer/common/heap_retention.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

constexpr size_t kBlockBytes = 16 << 20;  // below glibc's largest mmap threshold (32 MiB)
constexpr int kBlocks = 8;
constexpr size_t kPage = 4096;
constexpr long kPagesPerRound = kBlocks * kBlockBytes / kPage;  // 32768

long MinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// What a training step does to the heap: allocates 128 MiB in 16 MiB blocks, writes every
// page, frees it all. Returns the minor page faults of the third such round; the first two
// let glibc's adaptive thresholds settle.
long FaultsOfARepeatedStep() {
  long faults = 0;
  for (int round = 0; round < 3; ++round) {
    const long before = MinorFaults();
    std::vector<volatile char*> blocks;
    for (int b = 0; b < kBlocks; ++b) {
      auto* block = static_cast<volatile char*>(std::malloc(kBlockBytes));
      for (size_t i = 0; i < kBlockBytes; i += kPage) block[i] = 1;
      blocks.push_back(block);
    }
    for (volatile char* block : blocks) std::free(const_cast<char*>(block));
    faults = MinorFaults() - before;
  }
  return faults;
}

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

}  // namespace
}  // namespace ofa::trainer
