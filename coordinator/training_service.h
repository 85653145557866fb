#ifndef OFA_COORDINATOR_TRAINING_SERVICE_H_
#define OFA_COORDINATOR_TRAINING_SERVICE_H_

#include "coordinator/auth.h"
#include "coordinator/rate_limiter.h"
#include "coordinator/scheduler.h"
#include "ofa/v1/training_service.grpc.pb.h"

namespace ofa::coordinator {

// ofa.v1.TrainingService, the public API: checks the caller's token and every request field
// (INVALID_ARGUMENT naming the field), confines submitters to their own jobs, and hands the
// rest to the Scheduler.
class TrainingServiceImpl final : public ofa::v1::TrainingService::Service {
 public:
  // Each caller may make `calls_per_second` calls on average (bursts of 4x).
  TrainingServiceImpl(Scheduler& scheduler, const Authenticator& auth, double calls_per_second = 50)
      : scheduler_(scheduler), auth_(auth), limiter_(calls_per_second, 4 * calls_per_second) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const ofa::v1::SubmitJobRequest* request,
                         ofa::v1::SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const ofa::v1::GetJobRequest* request,
                      ofa::v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const ofa::v1::ListJobsRequest* request,
                        ofa::v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const ofa::v1::CancelJobRequest* request,
                         ofa::v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const ofa::v1::WatchJobRequest* request,
                        grpc::ServerWriter<ofa::v1::JobEvent>* writer) override;
  grpc::Status GetCarbonReport(grpc::ServerContext* context,
                               const ofa::v1::GetCarbonReportRequest* request,
                               ofa::v1::CarbonReport* response) override;
  grpc::Status ListSubnets(grpc::ServerContext* context, const ofa::v1::ListSubnetsRequest* request,
                           ofa::v1::ListSubnetsResponse* response) override;
  grpc::Status GetSubnet(grpc::ServerContext* context, const ofa::v1::GetSubnetRequest* request,
                         ofa::v1::Subnet* response) override;

 private:
  // The caller, if its token is valid, its role a user's and its rate within the limit.
  absl::StatusOr<Caller> CheckUser(const grpc::ServerContext& context);
  // The job if the caller (CheckUser) may see it (NOT_FOUND otherwise: another tenant's job
  // ids are not confirmed to exist). `who`, if given, receives the caller.
  absl::StatusOr<ofa::v1::Job> VisibleJob(const grpc::ServerContext& context,
                                          const std::string& job_id, Caller* who = nullptr);

  Scheduler& scheduler_;
  const Authenticator& auth_;
  RateLimiter limiter_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_TRAINING_SERVICE_H_
