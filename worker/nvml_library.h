#ifndef OFA_WORKER_NVML_LIBRARY_H_
#define OFA_WORKER_NVML_LIBRARY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ofa::worker {

// The few NVML calls the worker makes, through libnvidia-ml.so.1 loaded with dlopen, so the
// worker builds without nvml.h and runs on machines without the NVIDIA driver. Devices are
// addressed by CUDA ordinal. Every read returns an error naming the call and NVML's code
// when the device does not support it (e.g. total energy before Volta).
class NvmlLibrary {
 public:
  // NOT_FOUND, saying why, when there is no library, it lacks the core entry points, or it
  // does not initialise (no driver loaded).
  static absl::StatusOr<std::unique_ptr<NvmlLibrary>> Load();
  ~NvmlLibrary();
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  int DeviceCount() const;
  absl::StatusOr<std::string> Name(int index) const;
  absl::StatusOr<std::string> Uuid(int index) const;
  absl::StatusOr<int64_t> MemoryBytes(int index) const;
  absl::StatusOr<double> PowerLimitWatts(int index) const;
  // Energy since the driver loaded (nvmlDeviceGetTotalEnergyConsumption, Volta and newer).
  absl::StatusOr<double> TotalEnergyJoules(int index) const;
  // Current board power draw.
  absl::StatusOr<double> PowerWatts(int index) const;
  // Fraction of the last sample period the GPU was busy, in [0, 1].
  absl::StatusOr<double> Utilization(int index) const;

 private:
  struct Api;
  explicit NvmlLibrary(void* handle, std::unique_ptr<Api> api);
  absl::StatusOr<void*> Device(int index) const;

  void* handle_;
  std::unique_ptr<Api> api_;
};

}  // namespace ofa::worker

#endif  // OFA_WORKER_NVML_LIBRARY_H_
