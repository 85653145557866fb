#ifndef OFA_TRAINER_DIST_COMMUNICATOR_H_
#define OFA_TRAINER_DIST_COMMUNICATOR_H_

#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"

namespace ofa::trainer {

enum class ReduceOp { kSum, kAverage };

// Collectives among the ranks of one phase attempt, on tensors of the backend's device
// (Gloo: CPU, NCCL: CUDA). Every rank must issue the same calls in the same order with
// tensors of the same shapes. A collective that cannot complete within the communicator's
// timeout (a rank died, the network broke) returns an error instead of hanging; after any
// error the communicator is unusable and the rank should exit so the attempt is retried.
class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // In place, element-wise across ranks. Tensors must be contiguous float32.
  virtual absl::Status AllReduce(std::vector<torch::Tensor>& tensors, ReduceOp op) = 0;
  // Copies `root`'s tensors into every other rank's, in place.
  virtual absl::Status Broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;
  virtual absl::Status Barrier() = 0;
  // Tears the connections down so that collectives in flight on any thread fail promptly.
  virtual void Abort() = 0;
};

// What every backend checks before a collective: the communicator is still usable and each
// tensor is defined, contiguous float32 on `device`. Errors name the operation and the tensor.
absl::Status CheckCollectiveInput(const std::vector<torch::Tensor>& tensors, const char* op,
                                  bool broken, const torch::Device& device);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DIST_COMMUNICATOR_H_
