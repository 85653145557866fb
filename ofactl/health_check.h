#ifndef OFA_OFACTL_HEALTH_CHECK_H_
#define OFA_OFACTL_HEALTH_CHECK_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ofa::ofactl {

// One call of the standard gRPC health-checking protocol (grpc.health.v1.Health/Check), what
// Kubernetes' gRPC probes call. Returns the serving status's name ("SERVING", "NOT_SERVING",
// ...), or the call's error. Encoded by hand with protobuf's wire-format helpers: the two
// messages have one field each, and Debian's gRPC ships no generated health client.
absl::StatusOr<std::string> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& service, absl::Duration timeout);

}  // namespace ofa::ofactl

#endif  // OFA_OFACTL_HEALTH_CHECK_H_
