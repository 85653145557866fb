#include "trainer/common/loaded_library_for_test.h"

#include <dlfcn.h>

namespace ofa::trainer {

std::string LibraryDefining(const void* address) {
  Dl_info info;
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return info.dli_fname;
}

}  // namespace ofa::trainer
