#include "trainer/common/repeated_heap_step_for_test.h"

#include <sys/resource.h>

#include <cstdlib>
#include <vector>

namespace ofa::trainer {
namespace {

long MinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

}  // namespace

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

}  // namespace ofa::trainer
