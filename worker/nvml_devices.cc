#include "worker/nvml_devices.h"

#include "worker/nvml_library.h"

namespace ofa::worker {

absl::StatusOr<std::vector<ofa::v1::Device>> DiscoverNvidiaGpus() {
  absl::StatusOr<std::unique_ptr<NvmlLibrary>> nvml = NvmlLibrary::Load();
  if (!nvml.ok()) return nvml.status();
  std::vector<ofa::v1::Device> devices;
  for (int i = 0; i < (*nvml)->DeviceCount(); ++i) {
    absl::StatusOr<std::string> name = (*nvml)->Name(i);
    if (!name.ok()) continue;  // The handle itself is unusable.
    ofa::v1::Device& d = devices.emplace_back();
    d.set_index(i);
    d.set_kind(ofa::v1::DEVICE_KIND_CUDA);
    d.set_name(*name);
    d.set_uuid((*nvml)->Uuid(i).value_or(""));
    d.set_memory_bytes((*nvml)->MemoryBytes(i).value_or(0));
    d.set_power_limit_watts((*nvml)->PowerLimitWatts(i).value_or(0));
    d.set_energy_counter((*nvml)->TotalEnergyJoules(i).ok());
  }
  if (devices.empty()) return absl::NotFoundError("NVML sees no GPU");
  return devices;
}

}  // namespace ofa::worker
