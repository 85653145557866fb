#ifndef OFA_TRAINER_DIST_GRPC_STORE_H_
#define OFA_TRAINER_DIST_GRPC_STORE_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "ofa/v1/worker_service.grpc.pb.h"
#include "trainer/dist/store.h"

namespace ofa::trainer {

// The Store of ranks started by the coordinator: its rendezvous service (WorkerService's
// SetKey/GetKeys). Keys must start with a RendezvousScope(job, phase, attempt) prefix, which
// becomes the request's scope. An unreachable coordinator is UNAVAILABLE, never a hang.
class GrpcStore : public Store {
 public:
  // `token`, if not empty, is sent as "authorization: Bearer <token>" (a worker-role token).
  explicit GrpcStore(std::shared_ptr<grpc::Channel> channel, std::string token = "");

  absl::Status Set(const std::string& key, const std::string& value) override;
  absl::StatusOr<std::string> Get(const std::string& key, absl::Duration timeout) override;

 private:
  void Prepare(grpc::ClientContext& context, absl::Duration wait) const;

  std::unique_ptr<ofa::v1::WorkerService::Stub> stub_;
  std::string token_;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DIST_GRPC_STORE_H_
