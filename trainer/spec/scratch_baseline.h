#ifndef OFA_TRAINER_SPEC_SCRATCH_BASELINE_H_
#define OFA_TRAINER_SPEC_SCRATCH_BASELINE_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ofa/v1/job_spec.pb.h"

namespace ofa::trainer {

// The control experiment of the OFA paper (Table/Figure "OFA vs. from scratch"): the job that
// trains one fixed sub-network of `spec`'s space alone, from random initialisation, for as
// many epochs as `spec`'s whole progressive-shrinking schedule, with the full-network phase's
// learning rate and warm-up and no distillation. `which` is "smallest" or "largest".
//
// The result is a one-phase job whose phase samples only that architecture (every elastic
// list pinned to one value, the lowest resolution for "smallest"), named
// "<name>-scratch-<which>"; deployment targets are dropped (there is nothing to specialise).
absl::StatusOr<ofa::v1::JobSpec> ScratchBaselineJob(const ofa::v1::JobSpec& spec,
                                                    absl::string_view which);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SPEC_SCRATCH_BASELINE_H_
