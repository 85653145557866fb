#ifndef OFA_TRAINER_DIST_GLOO_COMMUNICATOR_H_
#define OFA_TRAINER_DIST_GLOO_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "trainer/dist/communicator.h"
#include "trainer/dist/store.h"

namespace gloo {
class Context;
}

namespace ofa::trainer {

// The CPU backend: Gloo over TCP, connected as a full mesh through `store` under `scope`
// (see RendezvousScope). Gloo's own algorithms do the work (ring all-reduce, one-to-all
// broadcast); nothing here reimplements a collective.
class GlooCommunicator : public Communicator {
 public:
  struct Options {
    int rank = 0;
    int world_size = 1;
    std::string scope;             // Store key prefix of this (job, phase, attempt).
    std::string hostname = "127.0.0.1";  // Interface the rank listens on.
    absl::Duration timeout = absl::Seconds(60);  // Every collective.
    // Waiting for the other ranks to arrive (they may still be finishing earlier work).
    absl::Duration rendezvous_timeout = absl::Seconds(60);
  };

  // Connects to every other rank; fails (never hangs) if they do not all arrive in time.
  static absl::StatusOr<std::unique_ptr<GlooCommunicator>> Connect(Store& store,
                                                                   const Options& options);

  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }
  absl::Status AllReduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override;
  absl::Status Broadcast(std::vector<torch::Tensor>& tensors, int root) override;
  absl::Status Barrier() override;
  void Abort() override;

 private:
  GlooCommunicator(Options options, std::shared_ptr<gloo::Context> context);

  Options options_;
  std::shared_ptr<gloo::Context> context_;
  uint32_t next_tag_ = 0;  // Every collective gets its own tag, in the same order on all ranks.
  bool broken_ = false;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DIST_GLOO_COMMUNICATOR_H_
