#ifndef OFA_COORDINATOR_WORKER_SERVICE_H_
#define OFA_COORDINATOR_WORKER_SERVICE_H_

#include "coordinator/auth.h"
#include "coordinator/rendezvous_table.h"
#include "coordinator/scheduler.h"
#include "ofa/v1/worker_service.grpc.pb.h"

namespace ofa::coordinator {

// ofa.v1.WorkerService, the internal API: workers register, heartbeat and report task
// results (handed to the Scheduler); trainer ranks bootstrap their collectives through the
// rendezvous store. Only the worker (and admin) role may call it; every field is checked.
// `scheduler` may be null for a rendezvous-only service (tests of the store).
class WorkerServiceImpl final : public ofa::v1::WorkerService::Service {
 public:
  WorkerServiceImpl(RendezvousTable& rendezvous, Scheduler* scheduler, const Authenticator& auth)
      : rendezvous_(rendezvous), scheduler_(scheduler), auth_(auth) {}

  grpc::Status RegisterWorker(grpc::ServerContext* context,
                              const ofa::v1::RegisterWorkerRequest* request,
                              ofa::v1::RegisterWorkerResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const ofa::v1::HeartbeatRequest* request,
                         ofa::v1::HeartbeatResponse* response) override;
  grpc::Status ReportTaskResult(grpc::ServerContext* context,
                                const ofa::v1::ReportTaskResultRequest* request,
                                ofa::v1::ReportTaskResultResponse* response) override;
  grpc::Status DeregisterWorker(grpc::ServerContext* context,
                                const ofa::v1::DeregisterWorkerRequest* request,
                                ofa::v1::DeregisterWorkerResponse* response) override;
  grpc::Status SetKey(grpc::ServerContext* context, const ofa::v1::SetKeyRequest* request,
                      ofa::v1::SetKeyResponse* response) override;
  grpc::Status GetKeys(grpc::ServerContext* context, const ofa::v1::GetKeysRequest* request,
                       ofa::v1::GetKeysResponse* response) override;
  grpc::Status AddKey(grpc::ServerContext* context, const ofa::v1::AddKeyRequest* request,
                      ofa::v1::AddKeyResponse* response) override;

 private:
  grpc::Status CheckCaller(const grpc::ServerContext& context) const;

  RendezvousTable& rendezvous_;
  Scheduler* scheduler_;
  const Authenticator& auth_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_WORKER_SERVICE_H_
