#ifndef OFA_TRAINER_DIST_NCCL_COMMUNICATOR_H_
#define OFA_TRAINER_DIST_NCCL_COMMUNICATOR_H_

#include <atomic>
#include <memory>
#include <string>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "trainer/dist/communicator.h"
#include "trainer/dist/store.h"

namespace ofa::trainer {

// The GPU backend: NCCL on CUDA tensors of one device per rank. Rank 0 creates the NCCL
// unique id and publishes it in `store` under the attempt's scope; every rank joins with a
// non-blocking ncclCommInitRankConfig. Each collective is enqueued on the calling thread's
// current CUDA stream and then waited for by polling the stream and ncclCommGetAsyncError, so
// a peer that died or hung ends in ncclCommAbort and an error after `timeout`, not a hang.
class NcclCommunicator : public Communicator {
 public:
  struct Options {
    int rank = 0;
    int world_size = 1;
    std::string scope;  // Store key prefix of this (job, phase, attempt).
    int device = 0;     // CUDA device index of this rank.
    absl::Duration timeout = absl::Seconds(60);
    absl::Duration rendezvous_timeout = absl::Seconds(60);
  };

  // Number of CUDA devices here; 0 where there is no GPU or no driver (never fails).
  static int DeviceCount();

  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Connect(Store& store,
                                                                   const Options& options);
  ~NcclCommunicator() override;

  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }
  absl::Status AllReduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override;
  absl::Status Broadcast(std::vector<torch::Tensor>& tensors, int root) override;
  absl::Status Barrier() override;
  void Abort() override;

 private:
  NcclCommunicator(Options options, ncclComm_t comm);
  torch::Device Device() const {
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(options_.device));
  }
  // Waits for the work just enqueued on `stream` (and for the communicator), up to the timeout.
  absl::Status Wait(cudaStream_t stream, const char* op);
  absl::Status Failed(const char* op, const std::string& why);

  Options options_;
  ncclComm_t comm_;
  cudaEvent_t done_ = nullptr;
  float* barrier_word_ = nullptr;  // One float on the device, all-reduced by Barrier().
  std::atomic<bool> broken_{false};
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DIST_NCCL_COMMUNICATOR_H_
