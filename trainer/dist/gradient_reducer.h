#ifndef OFA_TRAINER_DIST_GRADIENT_REDUCER_H_
#define OFA_TRAINER_DIST_GRADIENT_REDUCER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "trainer/dist/communicator.h"

namespace torch::autograd {
struct Node;
}

namespace ofa::trainer {

// Averages gradients across the ranks the way PyTorch's DistributedDataParallel does:
// parameters are packed into buckets of about `bucket_bytes` (in reverse registration order,
// roughly the order backward produces them), and a bucket is all-reduced, on a communication
// thread, as soon as every gradient in it has been accumulated, so communication overlaps
// the rest of backward. Buckets are launched in index order, so every rank issues the same
// collectives in the same order. Parameters the step's final backward does not reach (the
// sampled sub-network skipped their block, or used a smaller kernel) are ready at once with
// the gradient they have (earlier sub-nets of the step) or zeros. Gradients live in the
// buckets (each .grad is a view), so no copies are made after the first step; zero them with
// ZeroGradients (LibTorch 1.13's Optimizer::zero_grad detaches in place, which views forbid).
//
// Per step: backward passes of all but the last sub-net as usual (gradients accumulate
// locally), then PrepareForBackward(last_loss), last_loss.backward(), FinishBackward().
class GradientReducer {
 public:
  struct Options {
    int64_t bucket_bytes = 25 << 20;
    // The first bucket (the last layers) is small so communication starts early in backward
    // (DDP's first_bucket_bytes).
    int64_t first_bucket_bytes = 1 << 20;
  };
  struct Stats {
    int64_t steps = 0;
    double communication_seconds = 0;  // All-reduce time on the communication thread.
    double exposed_seconds = 0;        // Of it, time FinishBackward waited after backward.
    // The share of communication that backward hid (1 = all of it).
    double hidden_fraction() const {
      return communication_seconds > 0 ? 1 - exposed_seconds / communication_seconds : 0;
    }
  };

  // `parameters`: float32, contiguous, on the communicator's device, the same list in the
  // same order on every rank.
  GradientReducer(std::vector<torch::Tensor> parameters, Communicator& communicator,
                  Options options);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Arms the hooks for the backward of `loss` (undefined: no backward follows; every
  // gradient is taken as it is). Parameters outside `loss`'s graph are ready immediately.
  void PrepareForBackward(const torch::Tensor& loss);
  // Waits for every bucket; the parameters' .grad (views into the buckets) then hold the
  // averaged gradients.
  // An error (a rank died, a timeout) leaves the gradients undefined for this step and the
  // communicator unusable.
  absl::Status FinishBackward();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  int64_t bucket_numel(int bucket) const { return buckets_[bucket].flat.numel(); }
  const Stats& stats() const { return stats_; }

 private:
  struct Bucket {
    std::vector<int> parameters;  // Indices into parameters_.
    std::vector<int64_t> offsets;  // Of each parameter in `flat`.
    torch::Tensor flat;
    int pending = 0;  // Gradients not yet copied in this step.
  };

  void MarkReady(int parameter);  // Requires mutex_.
  void LaunchReadyBuckets();      // Requires mutex_.
  void CommunicationLoop();

  std::vector<torch::Tensor> parameters_;
  Communicator& communicator_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;      // Per parameter.
  std::vector<int> slot_in_bucket_; // Per parameter.
  // The autograd nodes that accumulate each parameter's gradient, kept alive so the hooks
  // stay registered (as DDP does). Older LibTorch holds nodes in std::shared_ptr, 2.15 in
  // c10::intrusive_ptr: whatever grad_accumulator returns.
  using NodePtr =
      decltype(torch::autograd::impl::grad_accumulator(std::declval<torch::Tensor>()));
  std::vector<NodePtr> accumulators_;
  std::vector<uintptr_t> hook_keys_;  // To remove the hooks again.
  std::unordered_map<const torch::autograd::Node*, int> parameter_of_accumulator_;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool armed_ = false;
  std::vector<bool> ready_;
  int next_to_launch_ = 0;
  int completed_ = 0;
  std::deque<int> queue_;  // Buckets for the communication thread.
  absl::Status error_;
  bool shutting_down_ = false;
  Stats stats_;
  std::thread communication_thread_;
};

// Zeroes defined gradients in place, keeping them where they are (bucket views included).
void ZeroGradients(const std::vector<torch::Tensor>& parameters);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DIST_GRADIENT_REDUCER_H_
