// Linked with tcmalloc, as ofa-trainer is: the allocator is named, and freed memory is reused
// without page faults with no mallopt settings at all.
#include "gtest/gtest.h"
#include "trainer/common/heap_retention.h"
#include "trainer/common/repeated_heap_step_for_test.h"

namespace ofa::trainer {
namespace {

TEST(HeapRetentionTcmallocTest, RunsOnTcmallocAndReusesFreedMemory) {
  EXPECT_STREQ(HeapAllocatorName(), "tcmalloc");
  EXPECT_TRUE(RetainFreedHeapMemory());
  EXPECT_LT(FaultsOfARepeatedStep(), kPagesPerRound / 100);
}

}  // namespace
}  // namespace ofa::trainer
