#ifndef OFA_COORDINATOR_WORKER_SERVICE_H_
#define OFA_COORDINATOR_WORKER_SERVICE_H_

#include "coordinator/rendezvous_table.h"
#include "ofa/v1/worker_service.grpc.pb.h"

namespace ofa::coordinator {

// ofa.v1.WorkerService as far as it is built: the rendezvous store that trainer ranks
// bootstrap their collectives through. RegisterWorker, Heartbeat and ReportTaskResult answer
// UNIMPLEMENTED until the worker agent exists (issue #5).
class WorkerServiceImpl final : public ofa::v1::WorkerService::Service {
 public:
  explicit WorkerServiceImpl(RendezvousTable& rendezvous) : rendezvous_(rendezvous) {}

  grpc::Status SetKey(grpc::ServerContext* context, const ofa::v1::SetKeyRequest* request,
                      ofa::v1::SetKeyResponse* response) override;
  grpc::Status GetKeys(grpc::ServerContext* context, const ofa::v1::GetKeysRequest* request,
                       ofa::v1::GetKeysResponse* response) override;
  grpc::Status AddKey(grpc::ServerContext* context, const ofa::v1::AddKeyRequest* request,
                      ofa::v1::AddKeyResponse* response) override;

 private:
  RendezvousTable& rendezvous_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_WORKER_SERVICE_H_
