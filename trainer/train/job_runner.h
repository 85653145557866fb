#ifndef OFA_TRAINER_TRAIN_JOB_RUNNER_H_
#define OFA_TRAINER_TRAIN_JOB_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ofa/v1/job_spec.pb.h"
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
  // Periodic checkpoints every this many steps (0 = by time only, per the spec's policy).
  int64_t checkpoint_every_steps = 0;
  ProgressReporter* progress = nullptr;  // Required.
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
};

// Runs a whole job in this process, one rank (the standalone mode of ofa-trainer): every
// training phase in order, each starting from the previous phase's final checkpoint, the
// elastic phases distilling from the full-network phase. Idempotent: a phase with a valid
// final checkpoint is skipped, one with a periodic checkpoint resumes from it, so running
// again after a crash finishes the job with exactly the weights an uninterrupted run gives.
// After each phase the largest and smallest sub-networks are evaluated on the test split
// (BN recalibrated); at the end both are exported under export/. The specialise phase is
// reported as not implemented yet (issue #8).
absl::StatusOr<std::vector<PhaseSummary>> RunJob(const ofa::v1::JobSpec& spec,
                                                 const JobRunOptions& options);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_JOB_RUNNER_H_
