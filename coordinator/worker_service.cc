#include "coordinator/worker_service.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "coordinator/grpc_status.h"

namespace ofa::coordinator {
namespace {

constexpr int kMaxDevices = 64;
constexpr int kMaxTasks = 256;

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

bool IsHostname(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

grpc::Status CheckRegistration(const ofa::v1::RegisterWorkerRequest& r) {
  if (!IsHostname(r.hostname())) {
    return Invalid(absl::StrCat("hostname: expected [a-z0-9.-]{1,253}, got \"",
                                r.hostname().substr(0, 64), "\""));
  }
  if (r.devices_size() == 0 || r.devices_size() > kMaxDevices) {
    return Invalid(absl::StrCat("devices: expected 1-", kMaxDevices, ", got ", r.devices_size()));
  }
  std::set<int> seen;
  for (int i = 0; i < r.devices_size(); ++i) {
    const ofa::v1::Device& d = r.devices(i);
    const std::string field = absl::StrCat("devices[", i, "]");
    if (d.index() < 0 || d.index() >= kMaxDevices || !seen.insert(d.index()).second) {
      return Invalid(absl::StrCat(field, ".index: must be unique and in [0, ", kMaxDevices,
                                  "), got ", d.index()));
    }
    if (d.kind() != ofa::v1::DEVICE_KIND_CPU && d.kind() != ofa::v1::DEVICE_KIND_CUDA) {
      return Invalid(absl::StrCat(field, ".kind: must be DEVICE_KIND_CPU or DEVICE_KIND_CUDA"));
    }
    if (d.name().size() > 256 || d.uuid().size() > 128) {
      return Invalid(absl::StrCat(field, ": name at most 256 and uuid at most 128 characters"));
    }
    if (d.memory_bytes() < 0 || !(d.power_limit_watts() >= 0 && d.power_limit_watts() < 1e5)) {
      return Invalid(absl::StrCat(field,
                                  ": memory_bytes and power_limit_watts must be "
                                  "non-negative and plausible"));
    }
  }
  if (r.address().size() > 253) return Invalid("address: at most 253 characters");
  if (r.version().size() > 64) return Invalid("version: at most 64 characters");
  return grpc::Status::OK;
}

grpc::Status CheckHeartbeat(const ofa::v1::HeartbeatRequest& r) {
  if (r.worker_id().empty() || r.worker_id().size() > 300) {
    return Invalid("worker_id: 1-300 characters, as RegisterWorker returned it");
  }
  if (r.tasks_size() > kMaxTasks) {
    return Invalid(absl::StrCat("tasks: at most ", kMaxTasks, ", got ", r.tasks_size()));
  }
  for (int i = 0; i < r.tasks_size(); ++i) {
    const ofa::v1::TaskStatus& t = r.tasks(i);
    if (t.task_id().empty() || t.task_id().size() > 512) {
      return Invalid(absl::StrCat("tasks[", i, "].task_id: 1-512 characters"));
    }
    if (!ofa::v1::TaskState_IsValid(t.state())) {
      return Invalid(absl::StrCat("tasks[", i, "].state: not a task state: ", t.state()));
    }
    if (t.latest_checkpoint_id().size() > 256) {
      return Invalid(absl::StrCat("tasks[", i, "].latest_checkpoint_id: at most 256 characters"));
    }
    const ofa::v1::Progress& p = t.progress();
    if (p.step() < 0 || p.total_steps() < 0 || !(p.loss() == p.loss())) {
      return Invalid(absl::StrCat("tasks[", i, "].progress: negative steps or NaN loss"));
    }
  }
  if (r.energy_size() > kMaxDevices) {
    return Invalid(absl::StrCat("energy: at most ", kMaxDevices, " entries"));
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status WorkerServiceImpl::CheckCaller(const grpc::ServerContext& context) const {
  absl::StatusOr<Caller> caller = auth_.Check(context, {Role::kWorker, Role::kAdmin});
  return caller.ok() ? grpc::Status::OK : ToGrpc(caller.status());
}

grpc::Status WorkerServiceImpl::RegisterWorker(grpc::ServerContext* context,
                                               const ofa::v1::RegisterWorkerRequest* request,
                                               ofa::v1::RegisterWorkerResponse* response) {
  if (grpc::Status s = CheckCaller(*context); !s.ok()) return s;
  if (scheduler_ == nullptr) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no scheduler");
  if (grpc::Status s = CheckRegistration(*request); !s.ok()) return s;
  *response = scheduler_->RegisterWorker(*request, scheduler_->Now());
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context,
                                          const ofa::v1::HeartbeatRequest* request,
                                          ofa::v1::HeartbeatResponse* response) {
  if (grpc::Status s = CheckCaller(*context); !s.ok()) return s;
  if (scheduler_ == nullptr) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no scheduler");
  if (grpc::Status s = CheckHeartbeat(*request); !s.ok()) return s;
  *response = scheduler_->Heartbeat(*request, scheduler_->Now());
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::ReportTaskResult(grpc::ServerContext* context,
                                                 const ofa::v1::ReportTaskResultRequest* request,
                                                 ofa::v1::ReportTaskResultResponse*) {
  if (grpc::Status s = CheckCaller(*context); !s.ok()) return s;
  if (scheduler_ == nullptr) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no scheduler");
  if (request->worker_id().empty() || request->worker_id().size() > 300) {
    return Invalid("worker_id: 1-300 characters");
  }
  if (request->task_id().empty() || request->task_id().size() > 512) {
    return Invalid("task_id: 1-512 characters");
  }
  if (request->error().size() > 4096) return Invalid("error: at most 4 KiB");
  if (request->checkpoint_id().size() > 256)
    return Invalid("checkpoint_id: at most 256 characters");
  for (double top1 : {request->largest_top1(), request->smallest_top1()}) {
    if (!(top1 >= 0 && top1 <= 1)) return Invalid("largest_top1, smallest_top1: must be in [0, 1]");
  }
  return ToGrpc(scheduler_->ReportTaskResult(*request, scheduler_->Now()));
}

grpc::Status WorkerServiceImpl::DeregisterWorker(grpc::ServerContext* context,
                                                 const ofa::v1::DeregisterWorkerRequest* request,
                                                 ofa::v1::DeregisterWorkerResponse*) {
  if (grpc::Status s = CheckCaller(*context); !s.ok()) return s;
  if (scheduler_ == nullptr) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no scheduler");
  if (request->worker_id().empty() || request->worker_id().size() > 300) {
    return Invalid("worker_id: 1-300 characters");
  }
  if (request->reason().size() > 1024) return Invalid("reason: at most 1 KiB");
  return ToGrpc(
      scheduler_->DeregisterWorker(request->worker_id(), request->reason(), scheduler_->Now()));
}

grpc::Status WorkerServiceImpl::SetKey(grpc::ServerContext* context,
                                       const ofa::v1::SetKeyRequest* request,
                                       ofa::v1::SetKeyResponse*) {
  if (grpc::Status s = CheckCaller(*context); !s.ok()) return s;
  return ToGrpc(rendezvous_.Set(request->scope(), request->key(), request->value()));
}

grpc::Status WorkerServiceImpl::GetKeys(grpc::ServerContext* context,
                                        const ofa::v1::GetKeysRequest* request,
                                        ofa::v1::GetKeysResponse* response) {
  if (grpc::Status s = CheckCaller(*context); !s.ok()) return s;
  absl::Duration timeout =
      absl::Seconds(request->timeout().seconds()) + absl::Nanoseconds(request->timeout().nanos());
  // Never wait past the caller's own deadline.
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    const absl::Duration until_deadline = absl::FromChrono(context->deadline()) - absl::Now();
    timeout = std::max(absl::ZeroDuration(), std::min(timeout, until_deadline));
  }
  absl::StatusOr<std::vector<std::string>> values = rendezvous_.Get(
      request->scope(), std::vector<std::string>(request->keys().begin(), request->keys().end()),
      timeout);
  if (!values.ok()) return ToGrpc(values.status());
  for (std::string& value : *values) response->add_values(std::move(value));
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::AddKey(grpc::ServerContext* context,
                                       const ofa::v1::AddKeyRequest* request,
                                       ofa::v1::AddKeyResponse* response) {
  if (grpc::Status s = CheckCaller(*context); !s.ok()) return s;
  absl::StatusOr<int64_t> value =
      rendezvous_.Add(request->scope(), request->key(), request->delta());
  if (!value.ok()) return ToGrpc(value.status());
  response->set_value(*value);
  return grpc::Status::OK;
}

}  // namespace ofa::coordinator
