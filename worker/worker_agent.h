#ifndef OFA_WORKER_WORKER_AGENT_H_
#define OFA_WORKER_WORKER_AGENT_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ofa/v1/worker_service.grpc.pb.h"
#include "worker/energy_meter.h"
#include "worker/progress_follower.h"
#include "worker/trainer_process.h"

namespace ofa::worker {

// The node agent: registers this machine's device slots with the coordinator, heartbeats,
// starts one ofa-trainer process per assigned task, supervises it (exit status, silence),
// forwards its progress, stops it on cancellation (SIGTERM, SIGKILL after a grace period),
// and reports how it ended. Results that cannot be delivered (coordinator down) are kept
// and sent again; after a coordinator restart the agent stops its trainers and registers
// again (the coordinator resumes their phases from checkpoints). Asked to stop, it drains.
class WorkerAgent {
 public:
  struct Options {
    std::string coordinator;  // host:port.
    std::string token;        // Worker-role bearer token; empty if auth is off.
    std::string tls_ca_file;  // Empty = plaintext.
    std::string hostname;
    std::string address = "127.0.0.1";  // Where other nodes' trainers reach this one.
    // What the node offers: its GPUs, or CPU slots (DEVICE_KIND_CPU, index = slot number).
    std::vector<ofa::v1::Device> devices;
    int threads_per_slot = 1;
    std::string trainer_binary;
    std::string storage_root;  // Shared with every worker: checkpoints and exports.
    std::string data_root;     // Data sets (relative dataset roots resolve under it).
    std::string work_dir;      // This worker's own files: spec copies, logs, progress.
    absl::Duration stop_grace = absl::Seconds(10);
    // Draining (stop requested, e.g. SIGTERM on a node drain): trainers get this long to
    // checkpoint and exit before they are killed. Keep it under Kubernetes'
    // terminationGracePeriodSeconds, with room for the final reports.
    absl::Duration drain_grace = absl::Seconds(60);
    // A trainer whose progress file has not grown for this long is hung and is killed.
    absl::Duration silence_limit = absl::Minutes(30);
    int collective_timeout_s = 60;
    // Energy metering (EnergyMeter): RAPL location and the CPU power model's rating.
    std::string powercap_root = "/sys/class/powercap";
    double cpu_watts_per_core = 6.0;
  };

  explicit WorkerAgent(Options options);
  // Runs until `stop` is set; then drains: tells the coordinator (no new work), has its
  // trainers checkpoint and exit (TASK_STATE_PREEMPTED: their phases resume elsewhere),
  // reports them, deregisters and returns.
  absl::Status Run(const std::atomic<bool>& stop);

 private:
  struct Task {
    ofa::v1::TaskAssignment assignment;
    std::unique_ptr<TrainerProcess> process;
    std::unique_ptr<ProgressFollower> progress;
    bool cancelled = false;
    absl::Time start;
    EnergyMeter::Reading energy_at_start;  // Of its device.
    double cpu_seconds = 0;                // Of its trainer, at the last meter sample.
  };

  absl::Status Register();
  absl::Status HeartbeatOnce(absl::Time now);
  void StartTask(const ofa::v1::TaskAssignment& assignment, absl::Time now);
  void Supervise(absl::Time now);
  void SendResults();
  void StopAll(absl::Duration grace);
  void Drain();
  absl::Status Deregister();
  void PrepareContext(grpc::ClientContext& context, absl::Duration deadline) const;
  // Advances the energy meter to `now`, giving each CPU slot its trainer's CPU time.
  void SampleEnergy(absl::Time now);
  ofa::v1::TaskUsage UsageOf(const Task& task, absl::Time now) const;

  Options options_;
  std::unique_ptr<ofa::v1::WorkerService::Stub> stub_;
  std::string worker_id_;
  absl::Duration heartbeat_interval_ = absl::Seconds(2);
  std::map<std::string, Task> tasks_;                         // Running, by task id.
  std::vector<ofa::v1::ReportTaskResultRequest> unreported_;  // Ended, not yet delivered.
  std::unique_ptr<EnergyMeter> meter_;
  absl::Time last_energy_sample_ = absl::InfinitePast();
  bool draining_ = false;
};

}  // namespace ofa::worker

#endif  // OFA_WORKER_WORKER_AGENT_H_
