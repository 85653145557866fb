#include "coordinator/training_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/carbon_report.h"
#include "coordinator/grpc_status.h"
#include "trainer/spec/job_spec_validation.h"
#include "trainer/spec/phase_schedule.h"

namespace ofa::coordinator {
namespace {

using ofa::v1::Job;

const std::vector<Role> kUsers = {Role::kAdmin, Role::kSubmitter};

absl::Status CheckJobId(const std::string& job_id) {
  if (JobStore::SequenceOf(job_id) <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job_id: expected an id like \"job-000042\", got \"", job_id.substr(0, 64), "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckRequestId(const std::string& id) {
  if (id.size() > 64) {
    return absl::InvalidArgumentError("request_id: at most 64 characters");
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return absl::InvalidArgumentError(
          "request_id: only letters, digits, '-', '_' and '.' are allowed");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Caller> TrainingServiceImpl::CheckUser(const grpc::ServerContext& context) {
  absl::StatusOr<Caller> caller = auth_.Check(context, kUsers);
  if (!caller.ok()) return caller;
  // Without authentication every caller is "local": limit by address instead.
  const std::string key =
      auth_.open() ? context.peer().substr(0, context.peer().rfind(':')) : caller->name;
  if (!limiter_.Allow(key, absl::Now())) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many requests from ", key, "; slow down and retry"));
  }
  return caller;
}

absl::StatusOr<Job> TrainingServiceImpl::VisibleJob(const grpc::ServerContext& context,
                                                    const std::string& job_id, Caller* who) {
  absl::StatusOr<Caller> caller = CheckUser(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status s = CheckJobId(job_id); !s.ok()) return s;
  absl::StatusOr<Job> job = scheduler_.GetJob(job_id);
  if (!job.ok()) return job.status();
  if (caller->role != Role::kAdmin && job->owner() != caller->name) {
    return absl::NotFoundError(absl::StrCat("no job \"", job_id, "\""));
  }
  if (who != nullptr) *who = *std::move(caller);
  return job;
}

grpc::Status TrainingServiceImpl::SubmitJob(grpc::ServerContext* context,
                                            const ofa::v1::SubmitJobRequest* request,
                                            ofa::v1::SubmitJobResponse* response) {
  absl::StatusOr<Caller> caller = CheckUser(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (absl::Status s = CheckRequestId(request->request_id()); !s.ok()) return ToGrpc(s);
  if (!request->has_spec()) return ToGrpc(absl::InvalidArgumentError("spec: is required"));
  if (absl::Status s = ofa::trainer::ValidateJobSpec(request->spec()); !s.ok()) {
    return ToGrpc(absl::InvalidArgumentError(absl::StrCat("spec: ", s.message())));
  }
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases =
      ofa::trainer::ResolveSchedule(request->spec());
  if (!phases.ok()) return ToGrpc(phases.status());
  if (request->dry_run()) {
    Job* job = response->mutable_job();
    *job->mutable_spec() = request->spec();
    job->set_owner(caller->name);
    job->set_state(ofa::v1::JOB_STATE_QUEUED);
    for (const ofa::v1::PhaseSpec& phase : *phases) {
      ofa::v1::PhaseStatus* status = job->add_phases();
      *status->mutable_spec() = phase;
      status->set_state(ofa::v1::PHASE_STATE_PENDING);
    }
    return grpc::Status::OK;
  }
  absl::StatusOr<Job> job = scheduler_.Submit(request->spec(), *phases, caller->name,
                                              request->request_id(), scheduler_.Now());
  if (!job.ok()) return ToGrpc(job.status());
  *response->mutable_job() = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::GetJob(grpc::ServerContext* context,
                                         const ofa::v1::GetJobRequest* request, Job* response) {
  absl::StatusOr<Job> job = VisibleJob(*context, request->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  *response = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::ListJobs(grpc::ServerContext* context,
                                           const ofa::v1::ListJobsRequest* request,
                                           ofa::v1::ListJobsResponse* response) {
  absl::StatusOr<Caller> caller = CheckUser(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  JobStore::ListFilter filter;
  filter.newest_first = true;
  if (request->page_size() < 0 || request->page_size() > 500) {
    return ToGrpc(absl::InvalidArgumentError(
        absl::StrCat("page_size: must be in [0, 500] (0 = 50), got ", request->page_size())));
  }
  const int page_size = request->page_size() == 0 ? 50 : request->page_size();
  filter.limit = page_size + 1;  // One more tells whether there is a next page.
  if (!request->page_token().empty() &&
      (!absl::SimpleAtoi(request->page_token(), &filter.before_seq) || filter.before_seq <= 0)) {
    return ToGrpc(
        absl::InvalidArgumentError("page_token: not a token from a previous ListJobsResponse"));
  }
  for (int i = 0; i < request->states_size(); ++i) {
    const int state = request->states(i);
    if (!ofa::v1::JobState_IsValid(state) || state == ofa::v1::JOB_STATE_UNSPECIFIED) {
      return ToGrpc(
          absl::InvalidArgumentError(absl::StrCat("states[", i, "]: not a job state: ", state)));
    }
    filter.states.push_back(static_cast<ofa::v1::JobState>(state));
  }
  if (request->owner().size() > 128) {
    return ToGrpc(absl::InvalidArgumentError("owner: at most 128 characters"));
  }
  filter.owner = request->owner();
  if (caller->role != Role::kAdmin) {
    if (!filter.owner.empty() && filter.owner != caller->name) {
      return ToGrpc(absl::PermissionDeniedError(
          absl::StrCat("owner: a submitter lists only its own jobs (", caller->name, ")")));
    }
    filter.owner = caller->name;
  }
  absl::StatusOr<std::vector<Job>> jobs = scheduler_.ListJobs(filter);
  if (!jobs.ok()) return ToGrpc(jobs.status());
  for (int i = 0; i < static_cast<int>(jobs->size()) && i < page_size; ++i) {
    *response->add_jobs() = std::move((*jobs)[i]);
  }
  if (static_cast<int>(jobs->size()) > page_size) {
    response->set_next_page_token(
        absl::StrCat(JobStore::SequenceOf(response->jobs(page_size - 1).id())));
  }
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::CancelJob(grpc::ServerContext* context,
                                            const ofa::v1::CancelJobRequest* request,
                                            Job* response) {
  if (request->reason().size() > 1024) {
    return ToGrpc(absl::InvalidArgumentError("reason: at most 1024 characters"));
  }
  Caller caller;
  absl::StatusOr<Job> job = VisibleJob(*context, request->job_id(), &caller);
  if (!job.ok()) return ToGrpc(job.status());
  const std::string reason = request->reason().empty()
                                 ? absl::StrCat("by ", caller.name)
                                 : absl::StrCat(request->reason(), " (by ", caller.name, ")");
  job = scheduler_.Cancel(request->job_id(), reason, scheduler_.Now());
  if (!job.ok()) return ToGrpc(job.status());
  *response = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::WatchJob(grpc::ServerContext* context,
                                           const ofa::v1::WatchJobRequest* request,
                                           grpc::ServerWriter<ofa::v1::JobEvent>* writer) {
  if (request->after_sequence() < 0) {
    return ToGrpc(absl::InvalidArgumentError("after_sequence: must not be negative"));
  }
  absl::StatusOr<Job> job = VisibleJob(*context, request->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  int64_t after = request->after_sequence();
  while (!context->IsCancelled()) {
    // Read the version first: a change after the reads below wakes the wait at once.
    const int64_t version = scheduler_.version();
    absl::StatusOr<std::vector<ofa::v1::JobEvent>> events =
        scheduler_.EventsAfter(request->job_id(), after);
    if (!events.ok()) return ToGrpc(events.status());
    for (const ofa::v1::JobEvent& event : *events) {
      after = event.sequence();
      if (request->skip_progress() && event.has_progress()) continue;
      if (!writer->Write(event)) return grpc::Status::OK;  // The client went away.
    }
    if (!events->empty()) continue;  // There may be more than one batch.
    job = scheduler_.GetJob(request->job_id());
    if (!job.ok()) return ToGrpc(job.status());
    if (IsTerminal(job->state())) {
      // Its last events may have been appended after the read above: one more pass.
      absl::StatusOr<std::vector<ofa::v1::JobEvent>> rest =
          scheduler_.EventsAfter(request->job_id(), after);
      if (rest.ok() && !rest->empty()) continue;
      return grpc::Status::OK;
    }
    scheduler_.WaitForChange(version, absl::Now() + absl::Seconds(1));
  }
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::GetCarbonReport(grpc::ServerContext* context,
                                                  const ofa::v1::GetCarbonReportRequest* request,
                                                  ofa::v1::CarbonReport* response) {
  absl::StatusOr<Job> job = VisibleJob(*context, request->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  absl::StatusOr<std::map<std::string, EnergyLedger::PhaseTotals>> ledger =
      scheduler_.CarbonOf(job->id());
  if (!ledger.ok()) return ToGrpc(ledger.status());
  absl::StatusOr<std::vector<ofa::v1::Subnet>> subnets = scheduler_.SubnetsOf(job->id());
  if (!subnets.ok()) return ToGrpc(subnets.status());
  *response = BuildCarbonReport(*job, *ledger, scheduler_.intensity(), *subnets);
  return grpc::Status::OK;
}

namespace {

// Why a job has no sub-networks to show yet, or OK.
absl::Status SubnetsReady(const Job& job, const std::vector<ofa::v1::Subnet>& subnets) {
  if (!subnets.empty()) return absl::OkStatus();
  if (job.spec().targets().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job.id(), " has no deployment targets, so no specialise phase; its largest and "
        "smallest sub-networks are exported under jobs/", job.id(), "/export/"));
  }
  const ofa::v1::PhaseStatus& last = job.phases(job.phases_size() - 1);
  return absl::FailedPreconditionError(absl::StrCat(
      "the specialise phase of job ", job.id(), " has not finished (",
      ofa::v1::PhaseState_Name(last.state()), ", job ", ofa::v1::JobState_Name(job.state()),
      ")"));
}

}  // namespace

grpc::Status TrainingServiceImpl::ListSubnets(grpc::ServerContext* context,
                                              const ofa::v1::ListSubnetsRequest* request,
                                              ofa::v1::ListSubnetsResponse* response) {
  absl::StatusOr<Job> job = VisibleJob(*context, request->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  absl::StatusOr<std::vector<ofa::v1::Subnet>> subnets = scheduler_.SubnetsOf(job->id());
  if (!subnets.ok()) return ToGrpc(subnets.status());
  if (absl::Status ready = SubnetsReady(*job, *subnets); !ready.ok()) return ToGrpc(ready);
  for (ofa::v1::Subnet& s : *subnets) *response->add_subnets() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::GetSubnet(grpc::ServerContext* context,
                                            const ofa::v1::GetSubnetRequest* request,
                                            ofa::v1::Subnet* response) {
  absl::StatusOr<Job> job = VisibleJob(*context, request->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  std::vector<std::string> names;
  for (const ofa::v1::DeploymentTarget& t : job->spec().targets()) names.push_back(t.name());
  if (std::find(names.begin(), names.end(), request->target()) == names.end()) {
    return ToGrpc(absl::NotFoundError(absl::StrCat(
        "target: job ", job->id(), " has no deployment target \"", request->target(), "\"",
        names.empty() ? "" : absl::StrCat("; its targets: ", absl::StrJoin(names, ", ")))));
  }
  absl::StatusOr<std::vector<ofa::v1::Subnet>> subnets = scheduler_.SubnetsOf(job->id());
  if (!subnets.ok()) return ToGrpc(subnets.status());
  if (absl::Status ready = SubnetsReady(*job, *subnets); !ready.ok()) return ToGrpc(ready);
  for (ofa::v1::Subnet& s : *subnets) {
    if (s.target() == request->target()) {
      *response = std::move(s);
      return grpc::Status::OK;
    }
  }
  return ToGrpc(absl::NotFoundError(absl::StrCat("job ", job->id(), " exported no sub-network for target \"",
                                                 request->target(), "\"")));
}

}  // namespace ofa::coordinator
