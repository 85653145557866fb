#ifndef OFA_TRAINER_SEARCH_LATENCY_PROFILER_H_
#define OFA_TRAINER_SEARCH_LATENCY_PROFILER_H_

#include <functional>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "ofa/v1/job_spec.pb.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

struct LatencyProfileOptions {
  std::string name = "profiled";
  int batch_size = 1;
  torch::Device device = torch::kCPU;
  int warmup = 3;
  int repeats = 15;  // The median is kept.
  // Called after each layer with (done, total).
  std::function<void(int, int)> on_layer;
};

// Measures every distinct layer of `arch`'s search space (AllLatencyLayers) on the device, in
// eval mode without gradients, and returns the table a deployment target's latency model
// reads. Random weights: latency does not depend on their values.
absl::StatusOr<ofa::v1::LatencyTable> ProfileLatencyTable(const SupernetArchitecture& arch,
                                                          const LatencyProfileOptions& options);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SEARCH_LATENCY_PROFILER_H_
