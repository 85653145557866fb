#include "trainer/dist/gradient_reducer.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "absl/strings/str_cat.h"
#include "trainer/common/kernel_threads.h"

namespace ofa::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

GradientReducer::GradientReducer(std::vector<torch::Tensor> parameters,
                                 Communicator& communicator, Options options)
    : parameters_(std::move(parameters)), communicator_(communicator) {
  const int n = static_cast<int>(parameters_.size());
  bucket_of_.resize(n);
  slot_in_bucket_.resize(n);
  ready_.assign(n, false);
  // Reverse registration order: the classifier's gradients come first in backward.
  int64_t bucket_bytes = 0;
  for (int i = n - 1; i >= 0; --i) {
    const torch::Tensor& p = parameters_[i];
    TORCH_CHECK(p.scalar_type() == torch::kFloat && p.is_contiguous(),
                "GradientReducer: parameter ", i, " must be a contiguous float32 tensor");
    const int64_t bytes = p.numel() * static_cast<int64_t>(sizeof(float));
    const int64_t cap = buckets_.size() <= 1
                            ? std::min(options.first_bucket_bytes, options.bucket_bytes)
                            : options.bucket_bytes;
    if (buckets_.empty() || (bucket_bytes > 0 && bucket_bytes + bytes > cap)) {
      buckets_.emplace_back();
      bucket_bytes = 0;
    }
    Bucket& bucket = buckets_.back();
    bucket_of_[i] = static_cast<int>(buckets_.size()) - 1;
    slot_in_bucket_[i] = static_cast<int>(bucket.parameters.size());
    bucket.offsets.push_back(bucket.parameters.empty()
                                 ? 0
                                 : bucket.offsets.back() +
                                       parameters_[bucket.parameters.back()].numel());
    bucket.parameters.push_back(i);
    bucket_bytes += bytes;
  }
  for (Bucket& bucket : buckets_) {
    const int64_t numel =
        bucket.offsets.back() + parameters_[bucket.parameters.back()].numel();
    bucket.flat = torch::zeros({numel}, parameters_[bucket.parameters.front()].options());
  }
  // A post-hook on each parameter's gradient accumulator runs once its gradient for this
  // backward is complete (what DDP's Reducer::autograd_hook does).
  for (int i = 0; i < n; ++i) {
    NodePtr accumulator = torch::autograd::impl::grad_accumulator(parameters_[i]);
    TORCH_CHECK(accumulator != nullptr, "GradientReducer: parameter ", i,
                " does not require a gradient");
    hook_keys_.push_back(accumulator->add_post_hook(
        std::make_unique<torch::autograd::utils::LambdaPostHook>(
            [this, i](const torch::autograd::variable_list& outputs,
                      const torch::autograd::variable_list&) {
              std::lock_guard<std::mutex> lock(mutex_);
              if (armed_ && !ready_[i]) MarkReady(i);
              return outputs;
            })));
    parameter_of_accumulator_[accumulator.get()] = i;
    accumulators_.push_back(std::move(accumulator));
  }
  communication_thread_ = std::thread([this] { CommunicationLoop(); });
}

GradientReducer::~GradientReducer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutting_down_ = true;
  }
  changed_.notify_all();
  communication_thread_.join();
  // The accumulators outlive this reducer when the parameters are trained further.
  for (size_t i = 0; i < accumulators_.size(); ++i) {
    accumulators_[i]->del_post_hook(hook_keys_[i]);
  }
}

void GradientReducer::PrepareForBackward(const torch::Tensor& loss) {
  // The parameters `loss` depends on: those whose accumulator its graph reaches.
  std::vector<bool> used(parameters_.size(), false);
  if (loss.defined() && loss.grad_fn()) {
    std::unordered_set<const torch::autograd::Node*> seen;
    std::vector<torch::autograd::Node*> stack = {loss.grad_fn().get()};
    while (!stack.empty()) {
      torch::autograd::Node* node = stack.back();
      stack.pop_back();
      if (!seen.insert(node).second) continue;
      if (auto it = parameter_of_accumulator_.find(node);
          it != parameter_of_accumulator_.end()) {
        used[it->second] = true;
      }
      for (const torch::autograd::Edge& edge : node->next_edges()) {
        if (edge.function) stack.push_back(edge.function.get());
      }
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = true;
  ready_.assign(parameters_.size(), false);
  next_to_launch_ = 0;
  completed_ = 0;
  for (Bucket& bucket : buckets_) bucket.pending = static_cast<int>(bucket.parameters.size());
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (!used[i]) MarkReady(static_cast<int>(i));
  }
}

void GradientReducer::MarkReady(int parameter) {
  ready_[parameter] = true;
  Bucket& bucket = buckets_[bucket_of_[parameter]];
  const torch::Tensor& p = parameters_[parameter];
  torch::Tensor slice = bucket.flat.narrow(0, bucket.offsets[slot_in_bucket_[parameter]],
                                           p.numel());
  // After the first step each .grad is a view into its bucket (DDP's
  // gradient_as_bucket_view): autograd accumulates in place there, zero_grad() zeroes it in
  // place, and nothing needs copying in or out.
  const torch::Tensor& grad = p.grad();
  if (!grad.defined() || grad.data_ptr() != slice.data_ptr()) {
    torch::NoGradGuard no_grad;
    if (grad.defined()) {
      slice.copy_(grad.reshape({-1}));
    } else {
      slice.zero_();
    }
    p.mutable_grad() = slice.view(p.sizes());
  }
  --bucket.pending;
  LaunchReadyBuckets();
}

void GradientReducer::LaunchReadyBuckets() {
  bool launched = false;
  while (next_to_launch_ < static_cast<int>(buckets_.size()) &&
         buckets_[next_to_launch_].pending == 0) {
    queue_.push_back(next_to_launch_++);
    launched = true;
  }
  if (launched) changed_.notify_all();
}

void GradientReducer::CommunicationLoop() {
  // Its averaging kernels must not start a second OpenMP team beside the training thread's.
  LimitKernelThreadsOfThisThread(1);
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return shutting_down_ || !queue_.empty(); });
    if (queue_.empty()) return;  // Shutting down.
    const int index = queue_.front();
    queue_.pop_front();
    const bool failed = !error_.ok();
    lock.unlock();
    absl::Status status;
    const Clock::time_point start = Clock::now();
    if (!failed) {
      std::vector<torch::Tensor> tensors = {buckets_[index].flat};
      status = communicator_.AllReduce(tensors, ReduceOp::kAverage);
    }
    const double seconds = SecondsSince(start);
    lock.lock();
    stats_.communication_seconds += seconds;
    if (!status.ok() && error_.ok()) {
      error_ = absl::Status(status.code(), absl::StrCat("gradient bucket ", index, "/",
                                                        buckets_.size(), ": ",
                                                        status.message()));
    }
    ++completed_;
    changed_.notify_all();
  }
}

absl::Status GradientReducer::FinishBackward() {
  const Clock::time_point start = Clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  if (!armed_) {
    return absl::FailedPreconditionError(
        "GradientReducer: FinishBackward without PrepareForBackward");
  }
  // A parameter in the graph whose hook never ran (backward was not called, or did not reach
  // it) would leave its bucket pending forever: take its gradient as it is.
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (!ready_[i]) MarkReady(static_cast<int>(i));
  }
  changed_.wait(lock, [&] { return completed_ == static_cast<int>(buckets_.size()); });
  armed_ = false;
  ++stats_.steps;
  stats_.exposed_seconds += SecondsSince(start);
  if (!error_.ok()) {
    // Half-reduced gradients must not be applied.
    for (torch::Tensor& p : parameters_) p.mutable_grad() = torch::Tensor();
    return error_;
  }
  // The gradients, views into the buckets, now hold the averages.
  return absl::OkStatus();
}

void ZeroGradients(const std::vector<torch::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : parameters) {
    if (p.grad().defined()) p.grad().zero_();
  }
}

}  // namespace ofa::trainer
