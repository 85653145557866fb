#include "trainer/dist/nccl_communicator.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

#ifdef OFA_WITH_C10_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace ofa::trainer {
namespace {

// The stream LibTorch enqueues this thread's kernels on, so collectives are ordered after the
// kernels that produced their inputs. Without LibTorch's CUDA library (the CPU build, where
// this code only compiles) it is the legacy default stream, LibTorch's default current stream.
cudaStream_t CurrentStream(int device) {
#ifdef OFA_WITH_C10_CUDA
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
#else
  (void)device;
  return cudaStreamLegacy;
#endif
}

std::string NcclError(ncclResult_t result) {
  return absl::StrCat(ncclGetErrorString(result), " (", ncclGetLastError(nullptr), ")");
}

// Polls a non-blocking communicator until it leaves ncclInProgress, up to `deadline`.
ncclResult_t AwaitCommunicator(ncclComm_t comm, absl::Time deadline) {
  ncclResult_t state = ncclInProgress;
  while (ncclCommGetAsyncError(comm, &state) == ncclSuccess && state == ncclInProgress) {
    if (absl::Now() > deadline) return ncclInProgress;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return state;
}

}  // namespace

int NcclCommunicator::DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // Clear the sticky "no device / no driver" error.
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Connect(
    Store& store, const Options& options) {
  const std::string who = absl::StrCat("rank ", options.rank, "/", options.world_size);
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(who, " is out of range"));
  }
  if (options.device < 0 || options.device >= DeviceCount()) {
    return absl::FailedPreconditionError(absl::StrCat(
        who, ": CUDA device ", options.device, " does not exist (", DeviceCount(),
        " device(s) visible)"));
  }
  if (cudaError_t e = cudaSetDevice(options.device); e != cudaSuccess) {
    return absl::InternalError(absl::StrCat(who, ": cudaSetDevice: ", cudaGetErrorString(e)));
  }
  const std::string key = options.scope + "nccl/unique_id";
  ncclUniqueId id;
  if (options.rank == 0) {
    if (ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
      return absl::InternalError(absl::StrCat(who, ": ncclGetUniqueId: ", NcclError(r)));
    }
    absl::Status s = store.Set(key, std::string(id.internal, sizeof(id.internal)));
    if (!s.ok()) return s;
  } else {
    absl::StatusOr<std::string> value = store.Get(key, options.rendezvous_timeout);
    if (!value.ok()) return value.status();
    if (value->size() != sizeof(id.internal)) {
      return absl::DataLossError(absl::StrCat(who, ": the NCCL unique id under ", key, " has ",
                                              value->size(), " bytes, not ",
                                              sizeof(id.internal)));
    }
    std::copy(value->begin(), value->end(), id.internal);
  }
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // So that joining, too, can time out instead of hanging.
  ncclComm_t comm = nullptr;
  ncclResult_t r = ncclCommInitRankConfig(&comm, options.world_size, id, options.rank, &config);
  if (r == ncclSuccess || r == ncclInProgress) {
    r = AwaitCommunicator(comm, absl::Now() + options.rendezvous_timeout);
  }
  if (r != ncclSuccess) {
    if (comm != nullptr) ncclCommAbort(comm);
    return absl::UnavailableError(absl::StrCat(
        who, ": NCCL initialisation failed: ",
        r == ncclInProgress ? "the other ranks did not join in time" : NcclError(r)));
  }
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(options, comm));
}

NcclCommunicator::NcclCommunicator(Options options, ncclComm_t comm)
    : options_(std::move(options)), comm_(comm) {
  cudaEventCreateWithFlags(&done_, cudaEventDisableTiming);
  cudaMalloc(&barrier_word_, sizeof(float));
}

NcclCommunicator::~NcclCommunicator() {
  if (broken_) {
    ncclCommAbort(comm_);
  } else {
    ncclCommFinalize(comm_);
    AwaitCommunicator(comm_, absl::Now() + options_.timeout);
    ncclCommDestroy(comm_);
  }
  cudaEventDestroy(done_);
  cudaFree(barrier_word_);
}

absl::Status NcclCommunicator::Failed(const char* op, const std::string& why) {
  if (!broken_.exchange(true)) ncclCommAbort(comm_);
  return absl::UnavailableError(absl::StrCat("rank ", options_.rank, "/", options_.world_size,
                                             ": ", op, " failed: ", why,
                                             "; the NCCL communicator was aborted"));
}

absl::Status NcclCommunicator::Wait(cudaStream_t stream, const char* op) {
  if (cudaError_t e = cudaEventRecord(done_, stream); e != cudaSuccess) {
    return Failed(op, absl::StrCat("cudaEventRecord: ", cudaGetErrorString(e)));
  }
  const absl::Time deadline = absl::Now() + options_.timeout;
  while (true) {
    const cudaError_t e = cudaEventQuery(done_);
    if (e == cudaSuccess) return absl::OkStatus();
    if (e != cudaErrorNotReady) return Failed(op, cudaGetErrorString(e));
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_, &async);
    if (async != ncclSuccess && async != ncclInProgress) return Failed(op, NcclError(async));
    if (broken_) return Failed(op, "aborted");
    if (absl::Now() > deadline) {
      return Failed(op, absl::StrCat("not complete after ",
                                     absl::FormatDuration(options_.timeout),
                                     " (a peer died or hangs)"));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

absl::Status NcclCommunicator::AllReduce(std::vector<torch::Tensor>& tensors, ReduceOp op) {
  if (absl::Status s =
          CheckCollectiveInput(tensors, "all-reduce", broken_, Device());
      !s.ok()) {
    return s;
  }
  cudaSetDevice(options_.device);
  const cudaStream_t stream = CurrentStream(options_.device);
  ncclGroupStart();
  for (torch::Tensor& t : tensors) {
    if (t.numel() == 0) continue;
    ncclAllReduce(t.data_ptr<float>(), t.data_ptr<float>(), t.numel(), ncclFloat,
                  op == ReduceOp::kAverage ? ncclAvg : ncclSum, comm_, stream);
  }
  if (ncclResult_t r = ncclGroupEnd(); r != ncclSuccess && r != ncclInProgress) {
    return Failed("all-reduce", NcclError(r));
  }
  return Wait(stream, "all-reduce");
}

absl::Status NcclCommunicator::Broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (absl::Status s =
          CheckCollectiveInput(tensors, "broadcast", broken_, Device());
      !s.ok()) {
    return s;
  }
  if (root < 0 || root >= options_.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("broadcast: root ", root, " out of range"));
  }
  cudaSetDevice(options_.device);
  const cudaStream_t stream = CurrentStream(options_.device);
  ncclGroupStart();
  for (torch::Tensor& t : tensors) {
    if (t.numel() == 0) continue;
    ncclBroadcast(t.data_ptr<float>(), t.data_ptr<float>(), t.numel(), ncclFloat, root, comm_,
                  stream);
  }
  if (ncclResult_t r = ncclGroupEnd(); r != ncclSuccess && r != ncclInProgress) {
    return Failed("broadcast", NcclError(r));
  }
  return Wait(stream, "broadcast");
}

absl::Status NcclCommunicator::Barrier() {
  if (absl::Status s =
          CheckCollectiveInput({}, "barrier", broken_, Device());
      !s.ok()) {
    return s;
  }
  // NCCL has no barrier: a one-float all-reduce completes only when every rank took part.
  cudaSetDevice(options_.device);
  const cudaStream_t stream = CurrentStream(options_.device);
  ncclResult_t r = ncclAllReduce(barrier_word_, barrier_word_, 1, ncclFloat, ncclSum, comm_,
                                 stream);
  if (r != ncclSuccess && r != ncclInProgress) return Failed("barrier", NcclError(r));
  return Wait(stream, "barrier");
}

void NcclCommunicator::Abort() {
  if (!broken_.exchange(true)) ncclCommAbort(comm_);
}

}  // namespace ofa::trainer
