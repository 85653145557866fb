// ofa-trainer: runs an OFA job (or, under the coordinator, one rank of one phase).
//
//   ofa-trainer --job_spec=deploy/local/fashion_mnist_job.json [--output_dir=DIR]
//   ofa-trainer --job_spec=... --from_scratch=smallest   # the paper's control experiment
//
// Standalone mode: the whole job in this process, one rank. Running it again with the same
// --output_dir resumes from the newest valid checkpoint.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "trainer/spec/job_spec_io.h"
#include "trainer/spec/job_spec_validation.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/spec/scratch_baseline.h"
#include "trainer/train/job_runner.h"
#include "trainer/train/progress_reporter.h"

ABSL_FLAG(std::string, job_spec, "", "Job spec file (.json, .textproto or .pbtxt).");
ABSL_FLAG(bool, plan_only, false, "Validate the spec, print the phase plan and exit.");
ABSL_FLAG(std::string, output_dir, "",
          "Where checkpoints and exports go; default ofa-output/<job name>. Reusing it resumes.");
ABSL_FLAG(std::string, data_root, ".", "Root for relative dataset paths in the spec.");
ABSL_FLAG(int, threads, 0, "Intra-op threads; 0 = the spec's setting, else all cores.");
ABSL_FLAG(std::string, progress_file, "",
          "Also append progress as JSON lines to this file (machine-readable channel).");
ABSL_FLAG(int64_t, checkpoint_every_steps, 0,
          "Periodic checkpoint every N steps (0 = the spec's policy, by default every 10 min).");
ABSL_FLAG(std::string, from_scratch, "",
          "Instead of the job, train its \"smallest\" or \"largest\" sub-network alone from "
          "scratch for the schedule's total epochs (the baseline OFA is compared with).");
ABSL_FLAG(int, calibration_batches, 20, "BN recalibration batches per evaluation.");

namespace {

void PrintPlan(const std::vector<ofa::v1::PhaseSpec>& phases) {
  absl::PrintF("%-18s %-26s %6s %8s %7s %5s %4s  %s\n", "phase", "kind", "epochs", "lr/256",
               "warmup", "nets", "kd", "sampled (kernel | depth | expand)");
  for (const ofa::v1::PhaseSpec& p : phases) {
    absl::PrintF("%-18s %-26s %6d %8.4g %7.3g %5d %4.2g  {%s} | {%s} | {%s}\n", p.name(),
                 ofa::v1::PhaseKind_Name(p.kind()), p.epochs(), p.learning_rate(),
                 p.warmup_epochs(), p.subnets_per_step(), p.kd_ratio(),
                 absl::StrJoin(p.kernel_sizes(), ","), absl::StrJoin(p.depths(), ","),
                 absl::StrJoin(p.expand_ratios(), ","));
  }
}

absl::Status Run() {
  const std::string path = absl::GetFlag(FLAGS_job_spec);
  if (path.empty()) return absl::InvalidArgumentError("--job_spec is required");
  absl::StatusOr<ofa::v1::JobSpec> spec = ofa::trainer::ReadJobSpecFile(path);
  if (!spec.ok()) return spec.status();
  if (absl::Status valid = ofa::trainer::ValidateJobSpec(*spec); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", valid.message()));
  }
  const std::string from_scratch = absl::GetFlag(FLAGS_from_scratch);
  if (!from_scratch.empty()) {
    spec = ofa::trainer::ScratchBaselineJob(*spec, from_scratch);
    if (!spec.ok()) return spec.status();
    absl::PrintF("from-scratch baseline: only the %s sub-network is trained; the other "
                 "column of the summary is untrained and meaningless\n", from_scratch);
  }
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ofa::trainer::ResolveSchedule(*spec);
  if (!phases.ok()) return phases.status();
  absl::PrintF("job \"%s\": supernet %s, %d phases\n", spec->name(), spec->supernet().preset(),
               phases->size());
  PrintPlan(*phases);
  if (absl::GetFlag(FLAGS_plan_only)) return absl::OkStatus();

  std::string output_dir = absl::GetFlag(FLAGS_output_dir);
  if (output_dir.empty()) {
    std::string safe = spec->name();
    for (char& c : safe) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    }
    output_dir = "ofa-output/" + safe;
  }
  ofa::trainer::ProgressReporter progress(stderr, absl::GetFlag(FLAGS_progress_file));
  ofa::trainer::JobRunOptions options;
  options.output_dir = output_dir;
  options.data_root = absl::GetFlag(FLAGS_data_root);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.checkpoint_every_steps = absl::GetFlag(FLAGS_checkpoint_every_steps);
  options.calibration_batches = absl::GetFlag(FLAGS_calibration_batches);
  options.progress = &progress;
  absl::StatusOr<std::vector<ofa::trainer::PhaseSummary>> summaries =
      ofa::trainer::RunJob(*spec, options);
  if (!summaries.ok()) return summaries.status();

  absl::PrintF("\n%-18s %8s %10s %14s %14s  %s\n", "phase", "steps", "seconds",
               "largest top-1", "smallest top-1", "note");
  double total_seconds = 0;
  for (const ofa::trainer::PhaseSummary& p : *summaries) {
    total_seconds += p.seconds;
    auto pct = [](double v) { return v < 0 ? std::string("-") : absl::StrFormat("%.2f%%", 100 * v); };
    absl::PrintF("%-18s %8d %10.1f %14s %14s  %s\n", p.name, p.steps, p.seconds,
                 pct(p.largest_top1), pct(p.smallest_top1), p.note);
  }
  absl::PrintF("training time this run: %.1f s; output: %s\n", total_seconds, output_dir);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Trains a once-for-all supernet. --job_spec=FILE [--plan_only]");
  absl::ParseCommandLine(argc, argv);
  absl::Status status;
  try {
    status = Run();
  } catch (const std::exception& e) {
    // LibTorch and the data loader report some failures (e.g. an undecodable image met
    // during an evaluation) as exceptions: still a clean error, never an abort.
    status = absl::InternalError(e.what());
  }
  if (!status.ok()) {
    absl::FPrintF(stderr, "ofa-trainer: %s\n", status.ToString());
    return status.code() == absl::StatusCode::kUnimplemented ? 3 : 2;
  }
  return 0;
}
