#include "worker/nvml_devices.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"

namespace ofa::worker {
namespace {

// The few NVML entry points used, declared by their documented C ABI (nvml.h is not needed
// to build). Every one returns nvmlReturn_t, 0 = NVML_SUCCESS.
using NvmlDevice = void*;
struct NvmlMemory {
  unsigned long long total, free, used;
};
using InitFn = int (*)();
using CountFn = int (*)(unsigned int*);
using HandleFn = int (*)(unsigned int, NvmlDevice*);
using TextFn = int (*)(NvmlDevice, char*, unsigned int);
using MemoryFn = int (*)(NvmlDevice, NvmlMemory*);
using UIntFn = int (*)(NvmlDevice, unsigned int*);
using EnergyFn = int (*)(NvmlDevice, unsigned long long*);

template <typename F>
F Symbol(void* library, const char* name) {
  return reinterpret_cast<F>(dlsym(library, name));
}

}  // namespace

absl::StatusOr<std::vector<ofa::v1::Device>> DiscoverNvidiaGpus() {
  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (nvml == nullptr) {
    return absl::NotFoundError(absl::StrCat("no NVML (libnvidia-ml.so.1): ", dlerror()));
  }
  auto init = Symbol<InitFn>(nvml, "nvmlInit_v2");
  auto shutdown = Symbol<InitFn>(nvml, "nvmlShutdown");
  auto count = Symbol<CountFn>(nvml, "nvmlDeviceGetCount_v2");
  auto handle = Symbol<HandleFn>(nvml, "nvmlDeviceGetHandleByIndex_v2");
  auto name = Symbol<TextFn>(nvml, "nvmlDeviceGetName");
  auto uuid = Symbol<TextFn>(nvml, "nvmlDeviceGetUUID");
  auto memory = Symbol<MemoryFn>(nvml, "nvmlDeviceGetMemoryInfo");
  auto power_limit = Symbol<UIntFn>(nvml, "nvmlDeviceGetPowerManagementLimit");
  auto energy = Symbol<EnergyFn>(nvml, "nvmlDeviceGetTotalEnergyConsumption");
  if (init == nullptr || shutdown == nullptr || count == nullptr || handle == nullptr) {
    dlclose(nvml);
    return absl::NotFoundError("NVML lacks nvmlInit_v2/nvmlDeviceGetCount_v2 (driver too old)");
  }
  if (int rc = init(); rc != 0) {
    dlclose(nvml);
    return absl::NotFoundError(
        absl::StrCat("NVML did not initialise (error ", rc, "): is the NVIDIA driver loaded?"));
  }
  std::vector<ofa::v1::Device> devices;
  unsigned int n = 0;
  if (count(&n) == 0) {
    for (unsigned int i = 0; i < n; ++i) {
      NvmlDevice device = nullptr;
      if (handle(i, &device) != 0) continue;
      ofa::v1::Device& d = devices.emplace_back();
      d.set_index(static_cast<int>(i));
      d.set_kind(ofa::v1::DEVICE_KIND_CUDA);
      char text[96] = {};
      if (name != nullptr && name(device, text, sizeof(text)) == 0) d.set_name(text);
      char id[96] = {};
      if (uuid != nullptr && uuid(device, id, sizeof(id)) == 0) d.set_uuid(id);
      NvmlMemory m{};
      if (memory != nullptr && memory(device, &m) == 0)
        d.set_memory_bytes(static_cast<int64_t>(m.total));
      unsigned int milliwatts = 0;
      if (power_limit != nullptr && power_limit(device, &milliwatts) == 0) {
        d.set_power_limit_watts(milliwatts / 1000.0);
      }
      unsigned long long millijoules = 0;
      d.set_energy_counter(energy != nullptr && energy(device, &millijoules) == 0);
    }
  }
  shutdown();
  dlclose(nvml);
  if (devices.empty()) return absl::NotFoundError("NVML sees no GPU");
  return devices;
}

}  // namespace ofa::worker
