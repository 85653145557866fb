// libtorch_cpu (PyPI's wheel) exports its own, newer copy of Gloo's symbols beside Debian's
// libgloo, which our GlooCommunicator is compiled against. The dynamic linker binds each
// symbol to the first library in the process that defines it, so libgloo must come before
// libtorch_cpu (third_party/system.BUILD, CMakeLists.txt). This test fails if the link order
// ever flips and our calls would land in LibTorch's copy, compiled against other headers.
#include <dlfcn.h>

#include <string>

#include <gloo/allreduce.h>
#include <gloo/transport/tcp/device.h>
#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/common/loaded_library_for_test.h"

namespace ofa::trainer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// gloo::allreduce(const gloo::AllreduceOptions&)
constexpr char kAllreduce[] = "_ZN4gloo9allreduceERKNS_16AllreduceOptionsE";

TEST(GlooSymbolsTest, LibTorchExportsItsOwnGloo) {
  // Otherwise the test below would pass for the wrong reason.
  void* torch_cpu = dlopen("libtorch_cpu.so", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(torch_cpu, nullptr) << "libtorch_cpu.so is not loaded: " << dlerror();
  EXPECT_NE(dlsym(torch_cpu, kAllreduce), nullptr)
      << "this LibTorch no longer exports gloo::allreduce; the link-order rule may be moot";
  dlclose(torch_cpu);
}

TEST(GlooSymbolsTest, OurGlooCallsBindToDebiansLibgloo) {
  // LibTorch is in use in this process, not only linked.
  EXPECT_EQ(torch::ones({3}).sum().item<float>(), 3.0f);
  // Our code's references: through the GOT, filled in by the dynamic linker.
  const auto allreduce = static_cast<void (*)(const gloo::AllreduceOptions&)>(&gloo::allreduce);
  const auto create_device = &gloo::transport::tcp::CreateDevice;
  // RTLD_DEFAULT searches the process's global scope in the order our calls bind.
  for (const void* address : {reinterpret_cast<const void*>(allreduce),
                              reinterpret_cast<const void*>(create_device),
                              const_cast<const void*>(dlsym(RTLD_DEFAULT, kAllreduce))}) {
    EXPECT_THAT(LibraryDefining(address), HasSubstr("libgloo.so"));
    EXPECT_THAT(LibraryDefining(address), Not(HasSubstr("libtorch")));
  }
}

}  // namespace
}  // namespace ofa::trainer
