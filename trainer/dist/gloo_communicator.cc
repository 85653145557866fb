#include "trainer/dist/gloo_communicator.h"

#include <chrono>

#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include "absl/strings/str_cat.h"

namespace ofa::trainer {
namespace {

std::chrono::milliseconds ToChrono(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

// Presents our Store, under the attempt's scope, as the Store Gloo's rendezvous expects.
// Gloo reports failures as exceptions, so a timeout here throws gloo::IoException.
class GlooStoreAdapter : public gloo::rendezvous::Store {
 public:
  GlooStoreAdapter(ofa::trainer::Store& store, std::string scope, absl::Duration timeout)
      : store_(store), scope_(std::move(scope)), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override {
    absl::Status s = store_.Set(scope_ + key, std::string(data.begin(), data.end()));
    if (!s.ok()) throw gloo::IoException(s.ToString());
  }
  std::vector<char> get(const std::string& key) override {
    absl::StatusOr<std::string> value = store_.Get(scope_ + key, timeout_);
    if (!value.ok()) {
      throw gloo::IoException(value.status().ToString());
    }
    return std::vector<char>(value->begin(), value->end());
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, ToChrono(timeout_)); }
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override {
    for (const std::string& key : keys) {
      absl::StatusOr<std::string> value =
          store_.Get(scope_ + key, absl::Milliseconds(timeout.count()));
      if (!value.ok()) {
        throw gloo::IoException(value.status().ToString());
      }
    }
  }

 private:
  ofa::trainer::Store& store_;
  std::string scope_;
  absl::Duration timeout_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Connect(
    Store& store, const Options& options) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", options.rank, " of world size ",
                                                   options.world_size, " is out of range"));
  }
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = options.hostname;
    std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(options.rank, options.world_size);
    context->setTimeout(ToChrono(options.rendezvous_timeout));
    GlooStoreAdapter adapter(store, options.scope + "gloo/", options.rendezvous_timeout);
    context->connectFullMesh(adapter, device);
    context->setTimeout(ToChrono(options.timeout));
    return std::unique_ptr<GlooCommunicator>(new GlooCommunicator(options, std::move(context)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank ", options.rank, "/", options.world_size,
                                               ": Gloo rendezvous failed: ", e.what()));
  }
}

GlooCommunicator::GlooCommunicator(Options options, std::shared_ptr<gloo::Context> context)
    : options_(std::move(options)), context_(std::move(context)) {}

absl::Status GlooCommunicator::AllReduce(std::vector<torch::Tensor>& tensors, ReduceOp op) {
  if (absl::Status s =
          CheckCollectiveInput(tensors, "all-reduce", broken_, torch::kCPU);
      !s.ok()) {
    return s;
  }
  try {
    for (torch::Tensor& t : tensors) {
      if (t.numel() == 0) continue;
      gloo::AllreduceOptions opts(context_);
      opts.setOutput<float>(t.data_ptr<float>(), t.numel());
      opts.setReduceFunction(
          static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
      opts.setTag(next_tag_++);
      opts.setTimeout(ToChrono(options_.timeout));
      gloo::allreduce(opts);
      if (op == ReduceOp::kAverage) t.div_(options_.world_size);
    }
  } catch (const std::exception& e) {
    broken_ = true;
    return absl::UnavailableError(absl::StrCat("rank ", options_.rank, "/", options_.world_size,
                                               ": all-reduce failed: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status GlooCommunicator::Broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (absl::Status s =
          CheckCollectiveInput(tensors, "broadcast", broken_, torch::kCPU);
      !s.ok()) {
    return s;
  }
  if (root < 0 || root >= options_.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("broadcast: root ", root, " out of range"));
  }
  try {
    for (torch::Tensor& t : tensors) {
      if (t.numel() == 0) continue;
      gloo::BroadcastOptions opts(context_);
      opts.setOutput<float>(t.data_ptr<float>(), t.numel());
      opts.setRoot(root);
      opts.setTag(next_tag_++);
      opts.setTimeout(ToChrono(options_.timeout));
      gloo::broadcast(opts);
    }
  } catch (const std::exception& e) {
    broken_ = true;
    return absl::UnavailableError(absl::StrCat("rank ", options_.rank, "/", options_.world_size,
                                               ": broadcast failed: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status GlooCommunicator::Barrier() {
  if (absl::Status s =
          CheckCollectiveInput({}, "barrier", broken_, torch::kCPU);
      !s.ok()) {
    return s;
  }
  try {
    gloo::BarrierOptions opts(context_);
    opts.setTag(next_tag_++);
    opts.setTimeout(ToChrono(options_.timeout));
    gloo::barrier(opts);
  } catch (const std::exception& e) {
    broken_ = true;
    return absl::UnavailableError(absl::StrCat("rank ", options_.rank, "/", options_.world_size,
                                               ": barrier failed: ", e.what()));
  }
  return absl::OkStatus();
}

void GlooCommunicator::Abort() {
  broken_ = true;
  context_->closeConnections();
}

}  // namespace ofa::trainer
