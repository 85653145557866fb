#ifndef OFA_TRAINER_SPEC_PHASE_SCHEDULE_H_
#define OFA_TRAINER_SPEC_PHASE_SCHEDULE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "ofa/v1/job_spec.pb.h"
#include "ofa/v1/schedule.pb.h"
#include "trainer/spec/supernet_presets.h"

namespace ofa::trainer {

// The progressive-shrinking schedule of the OFA paper (Cai et al. 2020, Figure 3 and the
// authors' train_ofa_net.py): full -> elastic kernel -> elastic depth {3,4}, {2,3,4} ->
// elastic expand {4,6}, {3,4,6}, with the preset's epochs, warm-up scaled with the epochs,
// and learning rates per 256 images. Lists are taken from `supernet` (resolved), so a custom
// search space shrinks the same way. Appends "specialize" when `with_specialize`.
std::vector<ofa::v1::PhaseSpec> DefaultSchedule(const SupernetPreset& preset,
                                                const ofa::v1::SupernetSpec& supernet,
                                                bool with_specialize);

// The phases a job runs, in order: its explicit phases (or the default schedule, with a
// specialise phase if it has deployment targets) with its overrides applied.
// INVALID_ARGUMENT names the field when an override names no phase or the preset is unknown.
// The result is not validated further; ValidateJobSpec does that.
absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> ResolveSchedule(const ofa::v1::JobSpec& spec);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SPEC_PHASE_SCHEDULE_H_
