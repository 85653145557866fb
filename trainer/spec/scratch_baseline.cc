#include "trainer/spec/scratch_baseline.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/spec/supernet_presets.h"

namespace ofa::trainer {
namespace {

using IntList = google::protobuf::RepeatedField<int32_t>;

void PinTo(bool smallest, const IntList& choices, IntList* out) {
  const int value = smallest ? *std::min_element(choices.begin(), choices.end())
                             : *std::max_element(choices.begin(), choices.end());
  out->Clear();
  out->Add(value);
}

}  // namespace

absl::StatusOr<ofa::v1::JobSpec> ScratchBaselineJob(const ofa::v1::JobSpec& spec,
                                                    absl::string_view which) {
  if (which != "smallest" && which != "largest") {
    return absl::InvalidArgumentError(
        absl::StrCat("from-scratch baseline: must be \"smallest\" or \"largest\", got \"",
                     which, "\""));
  }
  const bool smallest = which == "smallest";
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ResolveSchedule(spec);
  if (!phases.ok()) return phases.status();
  absl::StatusOr<ofa::v1::SupernetSpec> supernet = ResolveSupernet(spec.supernet());
  if (!supernet.ok()) return supernet.status();

  int epochs = 0;
  const ofa::v1::PhaseSpec* first_training = nullptr;
  for (const ofa::v1::PhaseSpec& p : *phases) {
    if (p.kind() == ofa::v1::PHASE_KIND_SPECIALIZE) continue;
    epochs += p.epochs();
    if (first_training == nullptr) first_training = &p;
  }
  if (first_training == nullptr) {
    return absl::InvalidArgumentError("from-scratch baseline: the schedule has no training phase");
  }

  ofa::v1::JobSpec baseline = spec;
  baseline.set_name(absl::StrCat(spec.name(), "-scratch-", which));
  baseline.clear_targets();
  ofa::v1::SupernetSpec* net = baseline.mutable_supernet();
  *net = *supernet;
  PinTo(smallest, supernet->resolutions(), net->mutable_resolutions());

  ofa::v1::PhaseSpec phase;
  phase.set_name(absl::StrCat("scratch_", which));
  phase.set_kind(ofa::v1::PHASE_KIND_FULL);
  phase.set_epochs(epochs);
  phase.set_learning_rate(first_training->learning_rate());
  phase.set_warmup_epochs(first_training->warmup_epochs());
  phase.set_subnets_per_step(1);
  PinTo(smallest, supernet->kernel_sizes(), phase.mutable_kernel_sizes());
  PinTo(smallest, supernet->depths(), phase.mutable_depths());
  PinTo(smallest, supernet->expand_ratios(), phase.mutable_expand_ratios());
  ofa::v1::ScheduleSpec* schedule = baseline.mutable_schedule();
  schedule->clear_phases();
  schedule->clear_overrides();
  *schedule->add_phases() = phase;
  return baseline;
}

}  // namespace ofa::trainer
