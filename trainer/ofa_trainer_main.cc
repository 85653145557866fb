// ofa-trainer: runs an OFA job (or, under the coordinator, one rank of one phase).
//
//   ofa-trainer --job_spec=deploy/local/fashion_mnist_job.json --plan_only
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "trainer/spec/job_spec_io.h"
#include "trainer/spec/job_spec_validation.h"
#include "trainer/spec/phase_schedule.h"

ABSL_FLAG(std::string, job_spec, "", "Job spec file (.json, .textproto or .pbtxt).");
ABSL_FLAG(bool, plan_only, false, "Validate the spec, print the phase plan and exit.");

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
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ofa::trainer::ResolveSchedule(*spec);
  if (!phases.ok()) return phases.status();
  absl::PrintF("job \"%s\": supernet %s, %d phases\n", spec->name(), spec->supernet().preset(),
               phases->size());
  PrintPlan(*phases);
  if (absl::GetFlag(FLAGS_plan_only)) return absl::OkStatus();
  return absl::UnimplementedError(
      "training is not implemented yet: the OFA training loop arrives with issue #3 "
      "(run with --plan_only to check a spec)");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Trains a once-for-all supernet. --job_spec=FILE [--plan_only]");
  absl::ParseCommandLine(argc, argv);
  absl::Status status = Run();
  if (!status.ok()) {
    absl::FPrintF(stderr, "ofa-trainer: %s\n", status.ToString());
    return status.code() == absl::StatusCode::kUnimplemented ? 3 : 2;
  }
  return 0;
}
