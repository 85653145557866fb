#include "coordinator/worker_service.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "coordinator/grpc_status.h"

namespace ofa::coordinator {

grpc::Status WorkerServiceImpl::SetKey(grpc::ServerContext*,
                                       const ofa::v1::SetKeyRequest* request,
                                       ofa::v1::SetKeyResponse*) {
  return ToGrpc(rendezvous_.Set(request->scope(), request->key(), request->value()));
}

grpc::Status WorkerServiceImpl::GetKeys(grpc::ServerContext* context,
                                        const ofa::v1::GetKeysRequest* request,
                                        ofa::v1::GetKeysResponse* response) {
  absl::Duration timeout = absl::Seconds(request->timeout().seconds()) +
                           absl::Nanoseconds(request->timeout().nanos());
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

grpc::Status WorkerServiceImpl::AddKey(grpc::ServerContext*,
                                       const ofa::v1::AddKeyRequest* request,
                                       ofa::v1::AddKeyResponse* response) {
  absl::StatusOr<int64_t> value =
      rendezvous_.Add(request->scope(), request->key(), request->delta());
  if (!value.ok()) return ToGrpc(value.status());
  response->set_value(*value);
  return grpc::Status::OK;
}

}  // namespace ofa::coordinator
