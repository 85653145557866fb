#include "worker/nvml_library.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"

namespace ofa::worker {
namespace {

// Declared by NVML's documented C ABI. Every call returns nvmlReturn_t, 0 = NVML_SUCCESS.
using NvmlDevice = void*;
struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlUtilization {
  unsigned int gpu, memory;
};

template <typename F>
F Symbol(void* library, const char* name) {
  return reinterpret_cast<F>(dlsym(library, name));
}

absl::Status Failed(const char* call, int rc, int index) {
  return absl::UnavailableError(
      absl::StrCat(call, " failed for GPU ", index, " (NVML error ", rc, ")"));
}

}  // namespace

struct NvmlLibrary::Api {
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*count)(unsigned int*) = nullptr;
  int (*handle)(unsigned int, NvmlDevice*) = nullptr;
  int (*name)(NvmlDevice, char*, unsigned int) = nullptr;
  int (*uuid)(NvmlDevice, char*, unsigned int) = nullptr;
  int (*memory)(NvmlDevice, NvmlMemory*) = nullptr;
  int (*power_limit)(NvmlDevice, unsigned int*) = nullptr;
  int (*energy)(NvmlDevice, unsigned long long*) = nullptr;
  int (*power)(NvmlDevice, unsigned int*) = nullptr;
  int (*utilization)(NvmlDevice, NvmlUtilization*) = nullptr;
};

absl::StatusOr<std::unique_ptr<NvmlLibrary>> NvmlLibrary::Load() {
  void* library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    return absl::NotFoundError(absl::StrCat("no NVML (libnvidia-ml.so.1): ", dlerror()));
  }
  auto api = std::make_unique<Api>();
  api->init = Symbol<decltype(api->init)>(library, "nvmlInit_v2");
  api->shutdown = Symbol<decltype(api->shutdown)>(library, "nvmlShutdown");
  api->count = Symbol<decltype(api->count)>(library, "nvmlDeviceGetCount_v2");
  api->handle = Symbol<decltype(api->handle)>(library, "nvmlDeviceGetHandleByIndex_v2");
  api->name = Symbol<decltype(api->name)>(library, "nvmlDeviceGetName");
  api->uuid = Symbol<decltype(api->uuid)>(library, "nvmlDeviceGetUUID");
  api->memory = Symbol<decltype(api->memory)>(library, "nvmlDeviceGetMemoryInfo");
  api->power_limit =
      Symbol<decltype(api->power_limit)>(library, "nvmlDeviceGetPowerManagementLimit");
  api->energy = Symbol<decltype(api->energy)>(library, "nvmlDeviceGetTotalEnergyConsumption");
  api->power = Symbol<decltype(api->power)>(library, "nvmlDeviceGetPowerUsage");
  api->utilization = Symbol<decltype(api->utilization)>(library, "nvmlDeviceGetUtilizationRates");
  if (api->init == nullptr || api->shutdown == nullptr || api->count == nullptr ||
      api->handle == nullptr) {
    dlclose(library);
    return absl::NotFoundError("NVML lacks nvmlInit_v2/nvmlDeviceGetCount_v2 (driver too old)");
  }
  if (int rc = api->init(); rc != 0) {
    dlclose(library);
    return absl::NotFoundError(
        absl::StrCat("NVML did not initialise (error ", rc, "): is the NVIDIA driver loaded?"));
  }
  return std::unique_ptr<NvmlLibrary>(new NvmlLibrary(library, std::move(api)));
}

NvmlLibrary::NvmlLibrary(void* handle, std::unique_ptr<Api> api)
    : handle_(handle), api_(std::move(api)) {}

NvmlLibrary::~NvmlLibrary() {
  api_->shutdown();
  dlclose(handle_);
}

int NvmlLibrary::DeviceCount() const {
  unsigned int n = 0;
  return api_->count(&n) == 0 ? static_cast<int>(n) : 0;
}

absl::StatusOr<void*> NvmlLibrary::Device(int index) const {
  NvmlDevice device = nullptr;
  if (int rc = api_->handle(static_cast<unsigned int>(index), &device); rc != 0) {
    return Failed("nvmlDeviceGetHandleByIndex_v2", rc, index);
  }
  return device;
}

// Each getter: resolve the device, check the entry point exists, call, convert.
#define OFA_NVML_CALL(fn, symbol, ...)                                         \
  absl::StatusOr<void*> device = Device(index);                                \
  if (!device.ok()) return device.status();                                    \
  if (api_->fn == nullptr) {                                                   \
    return absl::UnimplementedError(absl::StrCat("this NVML has no " symbol)); \
  }                                                                            \
  if (int rc = api_->fn(*device, __VA_ARGS__); rc != 0) return Failed(symbol, rc, index)

absl::StatusOr<std::string> NvmlLibrary::Name(int index) const {
  char text[96] = {};
  OFA_NVML_CALL(name, "nvmlDeviceGetName", text, sizeof(text));
  return std::string(text);
}

absl::StatusOr<std::string> NvmlLibrary::Uuid(int index) const {
  char text[96] = {};
  OFA_NVML_CALL(uuid, "nvmlDeviceGetUUID", text, sizeof(text));
  return std::string(text);
}

absl::StatusOr<int64_t> NvmlLibrary::MemoryBytes(int index) const {
  NvmlMemory memory{};
  OFA_NVML_CALL(memory, "nvmlDeviceGetMemoryInfo", &memory);
  return static_cast<int64_t>(memory.total);
}

absl::StatusOr<double> NvmlLibrary::PowerLimitWatts(int index) const {
  unsigned int milliwatts = 0;
  OFA_NVML_CALL(power_limit, "nvmlDeviceGetPowerManagementLimit", &milliwatts);
  return milliwatts / 1000.0;
}

absl::StatusOr<double> NvmlLibrary::TotalEnergyJoules(int index) const {
  unsigned long long millijoules = 0;
  OFA_NVML_CALL(energy, "nvmlDeviceGetTotalEnergyConsumption", &millijoules);
  return static_cast<double>(millijoules) / 1000.0;
}

absl::StatusOr<double> NvmlLibrary::PowerWatts(int index) const {
  unsigned int milliwatts = 0;
  OFA_NVML_CALL(power, "nvmlDeviceGetPowerUsage", &milliwatts);
  return milliwatts / 1000.0;
}

absl::StatusOr<double> NvmlLibrary::Utilization(int index) const {
  NvmlUtilization rates{};
  OFA_NVML_CALL(utilization, "nvmlDeviceGetUtilizationRates", &rates);
  return rates.gpu / 100.0;
}

#undef OFA_NVML_CALL

}  // namespace ofa::worker
