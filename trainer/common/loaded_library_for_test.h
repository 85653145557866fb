#ifndef OFA_TRAINER_COMMON_LOADED_LIBRARY_FOR_TEST_H_
#define OFA_TRAINER_COMMON_LOADED_LIBRARY_FOR_TEST_H_

#include <string>

namespace ofa::trainer {

// The path of the loaded shared object (or executable) that holds `address`, as dladdr
// reports it, or "(unknown)". Tests use it to check which of two libraries defining the same
// symbol (Debian's and the torch wheel's copies) a process binds to.
std::string LibraryDefining(const void* address);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_COMMON_LOADED_LIBRARY_FOR_TEST_H_
