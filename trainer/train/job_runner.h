#ifndef OFA_TRAINER_TRAIN_JOB_RUNNER_H_
#define OFA_TRAINER_TRAIN_JOB_RUNNER_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ofa/v1/job_spec.pb.h"
#include "ofa/v1/subnet.pb.h"
#include "trainer/dist/store.h"
#include "trainer/train/progress_reporter.h"

namespace ofa::trainer {

struct JobRunOptions {
  // Everything the job writes goes under here: phases/<phase>/{step-N,final}, export/...
  std::string output_dir;
  // Root that relative dataset paths are resolved under.
  std::string data_root;
  // Intra-op threads; 0 = the spec's cpu_threads_per_device, else all cores.
  int threads = 0;
  // BN recalibration batches for the end-of-phase evaluations.
  int calibration_batches = 20;
  // Skip the end-of-phase evaluations (tests that only care about weights).
  bool evaluate = true;
  // Stop (ABORTED) in phase `stop_phase` after `stop_after_step` steps, as a crash would.
  std::string stop_phase;
  int64_t stop_after_step = -1;
  // Set (by a signal handler) to stop gracefully: the running phase checkpoints at its next
  // step and the job returns CANCELLED (see PhaseRunConfig::stop_requested). Null = never.
  const std::atomic<bool>* stop_requested = nullptr;
  // Periodic checkpoints every this many steps (0 = by time only, per the spec's policy).
  int64_t checkpoint_every_steps = 0;
  ProgressReporter* progress = nullptr;  // Required.
  // Run only this phase (how the coordinator runs a job, one scheduled phase at a time): the
  // phases before it must have finished (FAILED_PRECONDITION otherwise) and are neither
  // trained nor evaluated again; the sub-networks are exported when it is the last training
  // phase. Empty = the whole job.
  std::string only_phase;

  // Data parallel: this process is rank `rank` of `world_size` (each on its own shard of every
  // global batch). The ranks meet per phase through `store` under RendezvousScope(job_id,
  // phase, attempt); a new attempt (a restart) must use a new number or a fresh store. Every
  // rank must see output_dir (rank 0 writes it, all read it). Ranks other than 0 neither
  // evaluate nor export.
  int rank = 0;
  int world_size = 1;
  Store* store = nullptr;  // Required when world_size > 1.
  std::string job_id;      // Default: the spec's name.
  int64_t attempt = 0;
  std::string listen_host = "127.0.0.1";  // Interface this rank's Gloo connections use.
  absl::Duration collective_timeout = absl::Seconds(60);
  // Meeting the other ranks may take as long as rank 0's end-of-phase evaluation.
  absl::Duration rendezvous_timeout = absl::Minutes(10);
  int64_t bucket_bytes = 25 << 20;
  // Each rank's batch is processed as this many micro-batches (see StepContext): one process
  // with micro_batches = M and M x the batch computes what M ranks compute.
  int micro_batches = 1;
};

struct PhaseSummary {
  std::string name;
  int64_t steps = 0;
  double seconds = 0;  // This run's training time (0 when the phase was already done).
  bool skipped = false;  // Done by an earlier run, or not implemented yet.
  std::string note;
  double largest_top1 = -1;  // -1 = not evaluated.
  double smallest_top1 = -1;
  double training_flops = 0;
  std::vector<ofa::v1::Subnet> subnets;  // The specialise phase's.
};

// Validation split held out when deployment targets are set and the spec leaves
// dataset.validation_fraction at 0: the specialise phase measures sub-networks on it.
inline constexpr double kDefaultValidationFraction = 0.1;

// Runs a whole job in this process (the standalone mode of ofa-trainer), alone or as one of
// several data-parallel ranks (see JobRunOptions): every
// training phase in order, each starting from the previous phase's final checkpoint, the
// elastic phases distilling from the full-network phase. Idempotent: a phase with a valid
// final checkpoint is skipped, one with a periodic checkpoint resumes from it, so running
// again after a crash finishes the job with exactly the weights an uninterrupted run gives.
// After each phase the largest and smallest sub-networks are evaluated on the test split
// (BN recalibrated); at the end both are exported under export/. The specialise phase, if
// the job has deployment targets, then exports one sub-network per target (see
// RunSpecializePhase).
absl::StatusOr<std::vector<PhaseSummary>> RunJob(const ofa::v1::JobSpec& spec,
                                                 const JobRunOptions& options);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_JOB_RUNNER_H_
