#ifndef OFA_COORDINATOR_SCHEDULER_H_
#define OFA_COORDINATOR_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "coordinator/carbon_intensity.h"
#include "coordinator/energy_ledger.h"
#include "coordinator/fleet.h"
#include "coordinator/job_store.h"
#include "coordinator/placement_store.h"
#include "coordinator/rendezvous_table.h"
#include "coordinator/subnet_store.h"
#include "ofa/v1/job.pb.h"
#include "ofa/v1/worker_service.pb.h"

namespace ofa::coordinator {

// The coordinator's brain: turns queued jobs into phase attempts, places each attempt as a
// gang of tasks (one trainer rank per device slot) on the fleet, follows the tasks through
// the workers' heartbeats and results, and moves jobs through their phases: a failed attempt
// is retried from the phase's newest checkpoint with exponential back-off until the spec's
// limit, a cancelled job's tasks are stopped. Everything is durable: jobs (JobStore), workers
// and running attempts with their tasks (PlacementStore), energy (EnergyLedger); after a
// restart running trainers carry on. Thread-safe (one lock; gRPC handlers and the
// scheduling loop share it).
class Scheduler {
 public:
  struct Options {
    absl::Duration heartbeat_interval = absl::Seconds(2);
    // A worker without a heartbeat for this long is lost and its tasks fail.
    absl::Duration lease = absl::Seconds(10);
    // Progress of a running phase is written to the job (and its watchers) at most this often.
    absl::Duration progress_interval = absl::Seconds(2);
    // Where trainers reach the rendezvous service; empty = the address the worker dialled.
    std::string rendezvous_address;
    // The time (tests substitute a clock they advance themselves).
    std::function<absl::Time()> clock = [] { return absl::Now(); };
    // A running task's usage from heartbeats is booked at most this often (each booking is a
    // synced SQLite write); its final usage is always booked with its result.
    absl::Duration usage_interval = absl::Seconds(10);
    // Grid intensity for the carbon ledger; null = the built-in region table.
    const CarbonIntensity* intensity = nullptr;
  };

  // What the metrics endpoint exports, read in one go under the lock.
  struct Snapshot {
    std::vector<EnergyLedger::JobPhaseTotals> recent_phases;  // Jobs live or used in 24 h.
    std::vector<ofa::v1::CarbonReport> recent_reports;        // Of the same jobs.
    ofa::v1::CarbonTotals all_time;
    std::map<ofa::v1::JobState, int> jobs_by_state;  // Of the jobs in the store.
    int queued_phases = 0;  // Phases waiting for devices (not running, not backing off).
    int running_tasks = 0;
    struct WorkerInfo {
      std::string hostname;
      bool draining = false;
      std::vector<ofa::v1::Device> devices;
      std::map<int, bool> busy;                   // By device index.
      std::vector<ofa::v1::DeviceEnergy> energy;  // Its last heartbeat's.
    };
    std::vector<WorkerInfo> workers;
    int64_t workers_lost_total = 0;
    int64_t workers_deregistered_total = 0;
    int64_t attempts_preempted_total = 0;
    int64_t attempts_failed_total = 0;
    struct RunningPhase {
      std::string job_id, phase;
      ofa::v1::Progress progress;
    };
    std::vector<RunningPhase> running_phases;
    std::map<std::string, double> intensity_by_region;
  };

  // Recovers from `store`: stored workers get two leases to reconnect, and running attempts
  // carry on (their workers keep heartbeating under the same ids). A phase marked running
  // without a stored attempt becomes pending again (without counting as failed). Nothing new
  // is placed for one lease, giving the workers time to reconnect first.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Recover(JobStore* store,
                                                            RendezvousTable* rendezvous,
                                                            const Options& options, absl::Time now);

  // Jobs. `request_id` makes a submission idempotent per owner.
  absl::StatusOr<ofa::v1::Job> Submit(const ofa::v1::JobSpec& spec,
                                      const std::vector<ofa::v1::PhaseSpec>& phases,
                                      const std::string& owner, const std::string& request_id,
                                      absl::Time now);
  absl::StatusOr<ofa::v1::Job> GetJob(const std::string& job_id);
  absl::StatusOr<std::vector<ofa::v1::Job>> ListJobs(const JobStore::ListFilter& filter);
  absl::StatusOr<ofa::v1::Job> Cancel(const std::string& job_id, const std::string& reason,
                                      absl::Time now);
  absl::StatusOr<std::vector<ofa::v1::JobEvent>> EventsAfter(const std::string& job_id,
                                                             int64_t after);
  // A number that grows whenever any job changes; WaitForChange(seen, deadline) blocks until
  // it passes `seen` or the deadline comes. Watchers poll with it instead of spinning.
  int64_t version() const;
  void WaitForChange(int64_t seen, absl::Time deadline);

  // Workers.
  ofa::v1::RegisterWorkerResponse RegisterWorker(const ofa::v1::RegisterWorkerRequest& request,
                                                 absl::Time now);
  ofa::v1::HeartbeatResponse Heartbeat(const ofa::v1::HeartbeatRequest& request, absl::Time now);
  absl::Status ReportTaskResult(const ofa::v1::ReportTaskResultRequest& request, absl::Time now);
  // A worker leaving on purpose: gone from the fleet at once; tasks it still held end as
  // preempted (their phases resume elsewhere). NOT_FOUND for an unknown worker.
  absl::Status DeregisterWorker(const std::string& worker_id, const std::string& reason,
                                absl::Time now);

  // Options::clock's time: what the RPC handlers pass as `now`.
  absl::Time Now() const { return options_.clock(); }

  // One round of scheduling: expire leases, place what fits. Call every few hundred ms.
  absl::Status Tick(absl::Time now);

  // The carbon ledger's totals of a job, by phase name.
  absl::StatusOr<std::map<std::string, EnergyLedger::PhaseTotals>> CarbonOf(
      const std::string& job_id);
  const CarbonIntensity& intensity() const { return *intensity_; }
  // The sub-networks the job's specialise phase exported (empty until it has).
  absl::StatusOr<std::vector<ofa::v1::Subnet>> SubnetsOf(const std::string& job_id);
  absl::StatusOr<Snapshot> TakeSnapshot(absl::Time now);

 private:
  struct Task {
    ofa::v1::TaskAssignment assignment;
    Slot slot;
    ofa::v1::TaskState state = ofa::v1::TASK_STATE_STARTING;
    bool acknowledged = false;  // The worker has listed it in a heartbeat.
    bool cancel = false;        // To be stopped.
    absl::Time start, end;
    absl::Time usage_booked = absl::InfinitePast();
    ofa::v1::ReportTaskResultRequest result;
  };
  struct Attempt {
    std::string job_id;
    int phase_index = 0;
    int number = 0;
    std::vector<std::string> task_ids;  // By rank.
    std::string failure;                // Why the first task that failed did.
    absl::Time last_progress_write = absl::InfinitePast();
    std::string last_checkpoint;
    int64_t last_progress_step = -1;
  };

  Scheduler(JobStore* store, RendezvousTable* rendezvous, const Options& options)
      : store_(store), rendezvous_(rendezvous), options_(options), fleet_(options.lease) {}

  // Books a task's cumulative usage in the ledger (growth only; see EnergyLedger).
  void BookUsage(const Task& task, const ofa::v1::TaskUsage& usage, absl::Time now);
  // Write-through of the placement state (PlacementStore); failures are logged, and the
  // next change writes the whole attempt or worker again.
  void SaveAttempt(const std::string& job_id);
  void SaveWorker(const std::string& worker_id);
  // Reloads the stored workers and running attempts; returns the (job, phase, attempt) keys
  // of the attempts that carry on.
  absl::StatusOr<std::vector<std::tuple<std::string, std::string, int>>> RestorePlacement(
      absl::Time now);

  // Marks a task ended (idempotent) and concludes its attempt once every task has.
  void EndTask(const std::string& task_id, ofa::v1::TaskState state, const std::string& why,
               absl::Time now);
  void ConcludeAttempt(const std::string& job_id, absl::Time now);
  // A worker gone from the fleet (lost or deregistered): drops its stored record and energy,
  // and ends the tasks it held with `state` and `why`.
  void ForgetWorker(const std::string& worker_id, const std::vector<std::string>& tasks,
                    ofa::v1::TaskState state, const std::string& why, absl::Time now);
  absl::Status PlaceJob(const ofa::v1::Job& job, absl::Time now);
  void NoteProgress(Attempt& attempt, const ofa::v1::TaskStatus& status, absl::Time now);
  absl::StatusOr<ofa::v1::Job> Update(const std::string& job_id, absl::Time now,
                                      const JobStore::Mutation& mutate);

  JobStore* store_;
  RendezvousTable* rendezvous_;
  Options options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  int64_t version_ = 0;
  absl::Time placement_paused_until_ = absl::InfinitePast();
  Fleet fleet_;
  std::unique_ptr<CarbonIntensity> default_intensity_;
  const CarbonIntensity* intensity_ = nullptr;
  std::unique_ptr<EnergyLedger> ledger_;
  std::unique_ptr<PlacementStore> placement_;
  std::unique_ptr<SubnetStore> subnets_;
  std::map<std::string, std::vector<ofa::v1::DeviceEnergy>> energy_by_worker_;  // By id.
  int64_t workers_lost_ = 0;
  int64_t attempts_failed_ = 0;
  int64_t workers_deregistered_ = 0;
  int64_t attempts_preempted_ = 0;
  std::map<std::string, Task> tasks_;        // By task id.
  std::map<std::string, Attempt> attempts_;  // By job id: at most one running per job.
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_SCHEDULER_H_
