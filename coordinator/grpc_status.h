#ifndef OFA_COORDINATOR_GRPC_STATUS_H_
#define OFA_COORDINATOR_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace ofa::coordinator {

// absl and gRPC share the canonical status codes (GrpcStore converts the other way).
inline grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_GRPC_STATUS_H_
