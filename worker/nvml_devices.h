#ifndef OFA_WORKER_NVML_DEVICES_H_
#define OFA_WORKER_NVML_DEVICES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "ofa/v1/worker_service.pb.h"

namespace ofa::worker {

// The node's NVIDIA GPUs as WorkerService devices (index = CUDA ordinal, name, UUID, memory,
// power limit, whether NVML has a total-energy counter), read through NVML loaded with
// dlopen, so the worker runs on machines without the driver. NOT_FOUND, saying why, when
// there is no NVML library, it does not initialise (no driver), or it sees no GPU.
absl::StatusOr<std::vector<ofa::v1::Device>> DiscoverNvidiaGpus();

}  // namespace ofa::worker

#endif  // OFA_WORKER_NVML_DEVICES_H_
