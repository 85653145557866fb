#include "trainer/common/heap_retention.h"

#include <dlfcn.h>

#include <climits>  // INT_MAX; also defines __GLIBC__ on glibc systems

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ofa::trainer {
namespace {

// gperftools' tcmalloc defines malloc as an alias of its tc_malloc: where malloc resolves to
// that, tcmalloc is loaded and first in the lookup order, so it serves every allocation.
bool RunsOnTcmalloc() {
  void* tc_malloc = dlsym(RTLD_DEFAULT, "tc_malloc");
  return tc_malloc != nullptr && tc_malloc == dlsym(RTLD_DEFAULT, "malloc");
}

}  // namespace

const char* HeapAllocatorName() { return RunsOnTcmalloc() ? "tcmalloc" : "glibc malloc"; }

bool RetainFreedHeapMemory() {
  if (RunsOnTcmalloc()) return true;
#if defined(__GLIBC__)
  // glibc caps the mmap threshold at HEAP_MAX_SIZE / 2: 32 MiB on 64-bit systems.
  constexpr int kMaxMmapThreshold = 32 * 1024 * 1024;
  // mallopt takes an int: the largest trim threshold it can express, just under 2 GiB.
  constexpr int kTrimThreshold = INT_MAX;
  return mallopt(M_MMAP_THRESHOLD, kMaxMmapThreshold) == 1 &&
         mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
#else
  return false;
#endif
}

}  // namespace ofa::trainer
