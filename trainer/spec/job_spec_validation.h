#ifndef OFA_TRAINER_SPEC_JOB_SPEC_VALIDATION_H_
#define OFA_TRAINER_SPEC_JOB_SPEC_VALIDATION_H_

#include "absl/status/status.h"
#include "ofa/v1/job_spec.pb.h"

namespace ofa::trainer {

// Checks every field of a submitted job against the rules documented in job_spec.proto and
// its imports, after resolving the preset and the schedule. Returns OK or INVALID_ARGUMENT
// whose message lists every problem as "field.path: what is wrong, got VALUE", separated by
// "; ", so a user can fix them all at once. Never crashes on any input.
absl::Status ValidateJobSpec(const ofa::v1::JobSpec& spec);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SPEC_JOB_SPEC_VALIDATION_H_
