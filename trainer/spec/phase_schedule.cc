#include "trainer/spec/phase_schedule.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"

namespace ofa::trainer {
namespace {

using ofa::v1::PhaseKind;
using ofa::v1::PhaseSpec;
using IntList = google::protobuf::RepeatedField<int32_t>;

// The largest `count` values of an ascending list, e.g. the {3,4} of depths {2,3,4}.
std::vector<int> Largest(const IntList& values, int count) {
  std::vector<int> out(values.begin(), values.end());
  if (static_cast<int>(out.size()) > count) out.erase(out.begin(), out.end() - count);
  return out;
}

struct PaperPhase {
  const char* name;
  PhaseKind kind;
  int paper_epochs;          // The ImageNet schedule's, to scale warm-up with.
  double learning_rate;      // Per 256 images (train_ofa_net.py's per-64 values x 4).
  double paper_warmup_epochs;
  int subnets_per_step;
  double kd_ratio;
};

// Full network: SGD lr 2.6 at batch 2048 (paper section 4.1) = 0.325 per 256.
constexpr PaperPhase kPaperPhases[] = {
    {"full", ofa::v1::PHASE_KIND_FULL, 180, 0.325, 5, 1, 0.0},
    {"elastic_kernel", ofa::v1::PHASE_KIND_ELASTIC_KERNEL, 120, 0.12, 5, 1, 1.0},
    {"elastic_depth_1", ofa::v1::PHASE_KIND_ELASTIC_DEPTH, 25, 0.01, 0, 2, 1.0},
    {"elastic_depth_2", ofa::v1::PHASE_KIND_ELASTIC_DEPTH, 120, 0.03, 5, 2, 1.0},
    {"elastic_expand_1", ofa::v1::PHASE_KIND_ELASTIC_EXPAND, 25, 0.01, 0, 4, 1.0},
    {"elastic_expand_2", ofa::v1::PHASE_KIND_ELASTIC_EXPAND, 120, 0.03, 5, 4, 1.0},
};

void SetList(const std::vector<int>& values, IntList* out) {
  out->Clear();
  out->Add(values.begin(), values.end());
}

}  // namespace

std::vector<PhaseSpec> DefaultSchedule(const SupernetPreset& preset,
                                       const ofa::v1::SupernetSpec& supernet,
                                       bool with_specialize) {
  const int num_depths = supernet.depths_size();
  const int num_expands = supernet.expand_ratios_size();
  std::vector<PhaseSpec> phases;
  for (size_t i = 0; i < std::size(kPaperPhases); ++i) {
    const PaperPhase& paper = kPaperPhases[i];
    PhaseSpec phase;
    phase.set_name(paper.name);
    phase.set_kind(paper.kind);
    const int epochs = preset.default_epochs.at(i);
    phase.set_epochs(epochs);
    phase.set_learning_rate(paper.learning_rate);
    phase.set_warmup_epochs(paper.paper_warmup_epochs * epochs / paper.paper_epochs);
    phase.set_subnets_per_step(paper.subnets_per_step);
    phase.set_kd_ratio(paper.kd_ratio);
    if (paper.kind != ofa::v1::PHASE_KIND_FULL) {
      phase.mutable_kernel_sizes()->CopyFrom(supernet.kernel_sizes());
    }
    // Stage 1 of depth/expand adds one more choice, stage 2 all of them (paper Figure 3).
    const bool stage1 = absl::EndsWith(paper.name, "_1");
    if (paper.kind == ofa::v1::PHASE_KIND_ELASTIC_DEPTH ||
        paper.kind == ofa::v1::PHASE_KIND_ELASTIC_EXPAND) {
      SetList(Largest(supernet.depths(), stage1 && paper.kind == ofa::v1::PHASE_KIND_ELASTIC_DEPTH
                                             ? std::min(2, num_depths)
                                             : num_depths),
              phase.mutable_depths());
    }
    if (paper.kind == ofa::v1::PHASE_KIND_ELASTIC_EXPAND) {
      SetList(Largest(supernet.expand_ratios(), stage1 ? std::min(2, num_expands) : num_expands),
              phase.mutable_expand_ratios());
    }
    phases.push_back(std::move(phase));
  }
  if (with_specialize) {
    PhaseSpec specialize;
    specialize.set_name("specialize");
    specialize.set_kind(ofa::v1::PHASE_KIND_SPECIALIZE);
    phases.push_back(std::move(specialize));
  }
  return phases;
}

absl::StatusOr<std::vector<PhaseSpec>> ResolveSchedule(const ofa::v1::JobSpec& spec) {
  absl::StatusOr<const SupernetPreset*> preset = FindSupernetPreset(spec.supernet().preset());
  if (!preset.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("supernet.preset: ", preset.status().message()));
  }
  absl::StatusOr<ofa::v1::SupernetSpec> supernet = ResolveSupernet(spec.supernet());
  if (!supernet.ok()) return supernet.status();

  std::vector<PhaseSpec> phases;
  if (spec.schedule().phases().empty()) {
    phases = DefaultSchedule(**preset, *supernet, !spec.targets().empty());
  } else {
    phases.assign(spec.schedule().phases().begin(), spec.schedule().phases().end());
  }

  for (int i = 0; i < spec.schedule().overrides_size(); ++i) {
    const ofa::v1::PhaseOverride& o = spec.schedule().overrides(i);
    auto it = std::find_if(phases.begin(), phases.end(),
                           [&](const PhaseSpec& p) { return p.name() == o.phase(); });
    if (it == phases.end()) {
      std::vector<std::string> names;
      for (const PhaseSpec& p : phases) names.push_back(p.name());
      return absl::InvalidArgumentError(
          absl::StrCat("schedule.overrides[", i, "].phase: no phase named \"", o.phase(),
                       "\"; the schedule has: ", absl::StrJoin(names, ", ")));
    }
    if (o.has_epochs()) it->set_epochs(o.epochs());
    if (o.has_learning_rate()) it->set_learning_rate(o.learning_rate());
    if (o.has_warmup_epochs()) it->set_warmup_epochs(o.warmup_epochs());
    if (o.has_subnets_per_step()) it->set_subnets_per_step(o.subnets_per_step());
    if (o.has_kd_ratio()) it->set_kd_ratio(o.kd_ratio());
    if (o.has_sandwich()) it->set_sandwich(o.sandwich());
    if (!o.kernel_sizes().empty()) it->mutable_kernel_sizes()->CopyFrom(o.kernel_sizes());
    if (!o.depths().empty()) it->mutable_depths()->CopyFrom(o.depths());
    if (!o.expand_ratios().empty()) it->mutable_expand_ratios()->CopyFrom(o.expand_ratios());
  }
  return phases;
}

}  // namespace ofa::trainer
