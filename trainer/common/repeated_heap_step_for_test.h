#ifndef OFA_TRAINER_COMMON_REPEATED_HEAP_STEP_FOR_TEST_H_
#define OFA_TRAINER_COMMON_REPEATED_HEAP_STEP_FOR_TEST_H_

#include <cstddef>

namespace ofa::trainer {

inline constexpr size_t kBlockBytes = 16 << 20;  // below glibc's largest mmap threshold (32 MiB)
inline constexpr int kBlocks = 8;
inline constexpr size_t kPage = 4096;
inline constexpr long kPagesPerRound = kBlocks * kBlockBytes / kPage;  // 32768

// What a training step does to the heap: allocates 128 MiB in 16 MiB blocks, writes every
// page, frees it all. Returns the minor page faults of the third such round; the first two
// let the allocator's adaptive thresholds settle.
long FaultsOfARepeatedStep();

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_COMMON_REPEATED_HEAP_STEP_FOR_TEST_H_
