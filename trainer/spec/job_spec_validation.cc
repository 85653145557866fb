#include "trainer/spec/job_spec_validation.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/spec/supernet_presets.h"

namespace ofa::trainer {
namespace {

using IntList = google::protobuf::RepeatedField<int32_t>;

constexpr int kMaxNameLength = 128;
constexpr int kMaxIdentifierLength = 63;
constexpr int kMaxLabels = 32;
constexpr int kMaxLabelValueLength = 256;
constexpr int kMaxTargets = 64;
constexpr int kMaxPhases = 32;
constexpr double kMaxDeadlineSlackSeconds = 7 * 24 * 3600;

// Collects "field: problem" lines.
class Problems {
 public:
  void Add(absl::string_view field, absl::string_view problem) {
    lines_.push_back(absl::StrCat(field, ": ", problem));
  }
  absl::Status ToStatus() const {
    if (lines_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(lines_, "; "));
  }

 private:
  std::vector<std::string> lines_;
};

std::string Quoted(absl::string_view s) {
  constexpr size_t kShown = 40;
  std::string shown(s.substr(0, kShown));
  for (char& c : shown) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) c = '?';
  }
  return absl::StrCat("\"", shown, s.size() > kShown ? "...\"" : "\"");
}

// True if `s` is 1..max_length characters, each a lower-case letter, digit or one of `extra`.
bool IsIdentifier(absl::string_view s, absl::string_view extra, int max_length) {
  if (s.empty() || static_cast<int>(s.size()) > max_length) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return absl::ascii_islower(static_cast<unsigned char>(c)) ||
           absl::ascii_isdigit(static_cast<unsigned char>(c)) || absl::StrContains(extra, c);
  });
}

void CheckRange(Problems& problems, absl::string_view field, double value, double lo,
                double hi) {
  if (!std::isfinite(value) || value < lo || value > hi) {
    problems.Add(field, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
}

std::string ListString(const IntList& values) {
  return absl::StrCat("[", absl::StrJoin(values, ","), "]");
}

// An elastic choice list: ascending, no duplicates, every value allowed by `valid`.
template <typename Valid>
void CheckChoiceList(Problems& problems, absl::string_view field, const IntList& values,
                     Valid valid, absl::string_view rule) {
  for (int i = 0; i < values.size(); ++i) {
    if (!valid(values[i])) {
      problems.Add(absl::StrCat(field, "[", i, "]"), absl::StrCat(rule, ", got ", values[i]));
    } else if (i > 0 && values[i] <= values[i - 1]) {
      problems.Add(field, absl::StrCat("must be ascending without duplicates, got ",
                                       ListString(values)));
      return;
    }
  }
}

void CheckSubset(Problems& problems, absl::string_view field, const IntList& values,
                 const IntList& allowed, absl::string_view allowed_field) {
  for (int i = 0; i < values.size(); ++i) {
    if (std::find(allowed.begin(), allowed.end(), values[i]) == allowed.end()) {
      problems.Add(absl::StrCat(field, "[", i, "]"),
                   absl::StrCat(values[i], " is not in ", allowed_field, " ",
                                ListString(allowed)));
    }
  }
}

// A path below a configured root: relative, no "..", no empty or "." parts.
bool IsSafeRelativePath(absl::string_view path) {
  if (path.empty() || path.size() > 1024 || path.front() == '/') return false;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      if (!absl::ascii_isprint(static_cast<unsigned char>(c))) return false;
    }
  }
  return true;
}

void CheckSupernet(Problems& problems, const ofa::v1::SupernetSpec& s) {
  if (s.preset().empty()) {
    problems.Add("supernet.preset", "is required");
  } else if (absl::StatusOr<const SupernetPreset*> p = FindSupernetPreset(s.preset()); !p.ok()) {
    problems.Add("supernet.preset", p.status().message());
  }
  if (s.width_multiplier() != 0) {
    CheckRange(problems, "supernet.width_multiplier", s.width_multiplier(), 0.25, 4.0);
  }
  CheckChoiceList(problems, "supernet.kernel_sizes", s.kernel_sizes(),
                  [](int k) { return k >= 1 && k <= 11 && k % 2 == 1; },
                  "must be an odd kernel size in [1, 11]");
  CheckChoiceList(problems, "supernet.expand_ratios", s.expand_ratios(),
                  [](int e) { return e >= 1 && e <= 8; }, "must be in [1, 8]");
  CheckChoiceList(problems, "supernet.depths", s.depths(),
                  [](int d) { return d >= 1 && d <= 8; }, "must be in [1, 8]");
  CheckChoiceList(problems, "supernet.resolutions", s.resolutions(),
                  [](int r) { return r >= 16 && r <= 1024; }, "must be in [16, 1024] pixels");
  CheckRange(problems, "supernet.input_channels", s.input_channels(), 0, 16);
  if (s.num_classes() != 0) {
    CheckRange(problems, "supernet.num_classes", s.num_classes(), 2, 100000);
  }
  if (!(s.dropout_rate() >= 0 && s.dropout_rate() < 1)) {
    problems.Add("supernet.dropout_rate", absl::StrCat("must be in [0, 1), got ",
                                                       s.dropout_rate()));
  }
}

void CheckDataset(Problems& problems, const ofa::v1::DatasetSpec& d) {
  if (d.kind() == ofa::v1::DATASET_KIND_UNSPECIFIED) {
    problems.Add("dataset.kind", "is required (fashion_mnist, image_folder or synthetic)");
  } else if (!ofa::v1::DatasetKind_IsValid(d.kind())) {
    problems.Add("dataset.kind", absl::StrCat("unknown value ", d.kind()));
  }
  if (!d.root().empty() && !IsSafeRelativePath(d.root())) {
    problems.Add("dataset.root", absl::StrCat("must be a relative path under the data root "
                                              "without \"..\", got ", Quoted(d.root())));
  }
  if (d.kind() == ofa::v1::DATASET_KIND_IMAGE_FOLDER && d.root().empty()) {
    problems.Add("dataset.root", "is required for image_folder data sets");
  }
  CheckRange(problems, "dataset.validation_fraction", d.validation_fraction(), 0, 0.5);
  CheckRange(problems, "dataset.batch_size_per_device", d.batch_size_per_device(), 0, 4096);
  CheckRange(problems, "dataset.loader_threads", d.loader_threads(), 0, 64);
  if (!ofa::v1::Augmentation_IsValid(d.augmentation())) {
    problems.Add("dataset.augmentation", absl::StrCat("unknown value ", d.augmentation()));
  }
  if (d.kind() == ofa::v1::DATASET_KIND_SYNTHETIC) {
    const ofa::v1::SyntheticDataset& s = d.synthetic();
    CheckRange(problems, "dataset.synthetic.train_images", s.train_images(), 1, 1e9);
    CheckRange(problems, "dataset.synthetic.test_images", s.test_images(), 1, 1e9);
    CheckRange(problems, "dataset.synthetic.image_size", s.image_size(), 8, 1024);
    CheckRange(problems, "dataset.synthetic.channels", s.channels(), 1, 16);
    CheckRange(problems, "dataset.synthetic.num_classes", s.num_classes(), 2, 100000);
  }
}

bool IsTrainingPhase(ofa::v1::PhaseKind kind) {
  return kind != ofa::v1::PHASE_KIND_SPECIALIZE && kind != ofa::v1::PHASE_KIND_UNSPECIFIED;
}

void CheckPhases(Problems& problems, const std::vector<ofa::v1::PhaseSpec>& phases,
                 const ofa::v1::SupernetSpec& supernet, bool has_targets) {
  if (phases.size() > kMaxPhases) {
    problems.Add("schedule.phases", absl::StrCat("at most ", kMaxPhases, " phases, got ",
                                                 phases.size()));
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < phases.size(); ++i) {
    const ofa::v1::PhaseSpec& p = phases[i];
    const std::string field = absl::StrCat("schedule.phases[", i, "]");
    if (!IsIdentifier(p.name(), "_", kMaxIdentifierLength)) {
      problems.Add(field + ".name", absl::StrCat("must match [a-z0-9_]{1,63}, got ",
                                                 Quoted(p.name())));
    } else if (!names.insert(p.name()).second) {
      problems.Add(field + ".name", absl::StrCat("duplicate phase name ", Quoted(p.name())));
    }
    if (p.kind() == ofa::v1::PHASE_KIND_UNSPECIFIED || !ofa::v1::PhaseKind_IsValid(p.kind())) {
      problems.Add(field + ".kind", absl::StrCat("must be a phase kind, got ", p.kind()));
      continue;
    }
    if (i == 0 && p.kind() != ofa::v1::PHASE_KIND_FULL) {
      problems.Add(field + ".kind", "the first phase must train the full network "
                                    "(PHASE_KIND_FULL): later phases start from it");
    }
    if (p.kind() == ofa::v1::PHASE_KIND_SPECIALIZE) {
      if (i + 1 != phases.size()) problems.Add(field + ".kind", "specialize must be last");
      if (!has_targets) problems.Add(field + ".kind", "specialize needs deployment targets");
      continue;
    }
    if (p.epochs() <= 0 || p.epochs() > 10000) {
      problems.Add(field + ".epochs", absl::StrCat("must be in [1, 10000], got ", p.epochs()));
    }
    if (!(p.learning_rate() > 0 && p.learning_rate() <= 100)) {
      problems.Add(field + ".learning_rate",
                   absl::StrCat("must be in (0, 100], got ", p.learning_rate()));
    }
    if (!(p.warmup_epochs() >= 0 && p.warmup_epochs() <= std::max(p.epochs(), 0))) {
      problems.Add(field + ".warmup_epochs", absl::StrCat("must be in [0, epochs=", p.epochs(),
                                                          "], got ", p.warmup_epochs()));
    }
    // The paper uses 1, 2 and 4; 3 is the sandwich rule's largest + smallest + one uniform.
    if (p.subnets_per_step() < 1 || p.subnets_per_step() > 8) {
      problems.Add(field + ".subnets_per_step",
                   absl::StrCat("must be in [1, 8], got ", p.subnets_per_step()));
    } else if (p.sandwich() && p.subnets_per_step() < 2) {
      problems.Add(field + ".sandwich",
                   "the sandwich rule trains the largest and the smallest sub-net every step: "
                   "it needs subnets_per_step >= 2");
    }
    CheckRange(problems, field + ".kd_ratio", p.kd_ratio(), 0, 10);
    if (p.kd_ratio() > 0 && p.kind() == ofa::v1::PHASE_KIND_FULL) {
      problems.Add(field + ".kd_ratio", "the full-network phase has no teacher to distil from");
    }
    CheckSubset(problems, field + ".kernel_sizes", p.kernel_sizes(), supernet.kernel_sizes(),
                "supernet.kernel_sizes");
    CheckSubset(problems, field + ".depths", p.depths(), supernet.depths(), "supernet.depths");
    CheckSubset(problems, field + ".expand_ratios", p.expand_ratios(), supernet.expand_ratios(),
                "supernet.expand_ratios");
  }
  if (!phases.empty() && has_targets &&
      phases.back().kind() != ofa::v1::PHASE_KIND_SPECIALIZE) {
    problems.Add("schedule.phases", "deployment targets are set but the schedule does not end "
                                    "with a specialize phase");
  }
  if (std::none_of(phases.begin(), phases.end(),
                   [](const ofa::v1::PhaseSpec& p) { return IsTrainingPhase(p.kind()); })) {
    problems.Add("schedule.phases", "must contain at least one training phase");
  }
}

void CheckSchedule(Problems& problems, const ofa::v1::JobSpec& spec) {
  const ofa::v1::OptimizerSpec& o = spec.schedule().optimizer();
  if (!(o.momentum() >= 0 && o.momentum() < 1)) {
    problems.Add("schedule.optimizer.momentum",
                 absl::StrCat("must be in [0, 1), got ", o.momentum()));
  }
  CheckRange(problems, "schedule.optimizer.weight_decay", o.weight_decay(), 0, 0.1);
  if (!(o.label_smoothing() >= 0 && o.label_smoothing() < 1)) {
    problems.Add("schedule.optimizer.label_smoothing",
                 absl::StrCat("must be in [0, 1), got ", o.label_smoothing()));
  }
  // Phases can only be checked against a known preset.
  absl::StatusOr<ofa::v1::SupernetSpec> supernet = ResolveSupernet(spec.supernet());
  if (!supernet.ok()) return;
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ResolveSchedule(spec);
  if (!phases.ok()) {
    problems.Add("schedule", phases.status().message());
    return;
  }
  CheckPhases(problems, *phases, *supernet, !spec.targets().empty());
}

void CheckResources(Problems& problems, const ofa::v1::ResourceSpec& r) {
  CheckRange(problems, "resources.workers", r.workers(), 0, 1024);
  CheckRange(problems, "resources.devices_per_worker", r.devices_per_worker(), 0, 16);
  if (!ofa::v1::DeviceKind_IsValid(r.device_kind())) {
    problems.Add("resources.device_kind", absl::StrCat("unknown value ", r.device_kind()));
  }
  const int workers = std::max(r.workers(), 1);
  if (r.min_workers() < 0 || r.min_workers() > workers) {
    problems.Add("resources.min_workers", absl::StrCat("must be in [0, workers=", workers,
                                                       "], got ", r.min_workers()));
  }
  CheckRange(problems, "resources.cpu_threads_per_device", r.cpu_threads_per_device(), 0, 256);
}

void CheckBatchShards(Problems& problems, const ofa::v1::JobSpec& spec) {
  const int shards = spec.resources().cpu_batch_shards();
  CheckRange(problems, "resources.cpu_batch_shards", shards, 0, 64);
  if (shards > 1 && spec.resources().device_kind() == ofa::v1::DEVICE_KIND_CUDA) {
    problems.Add("resources.cpu_batch_shards",
                 absl::StrCat("applies to CPU devices only, got ", shards, " with CUDA"));
  }
  const int batch = spec.dataset().batch_size_per_device();
  if (batch > 0 && shards > batch) {
    problems.Add(
        "resources.cpu_batch_shards",
        absl::StrCat("must be at most dataset.batch_size_per_device (", batch, "), got ", shards));
  }
}

double Seconds(const google::protobuf::Duration& d) { return d.seconds() + d.nanos() * 1e-9; }

void CheckCheckpointPolicy(Problems& problems, const ofa::v1::CheckpointPolicy& c) {
  const double interval = Seconds(c.interval());
  if (interval != 0 && (interval < 10 || interval > 86400)) {
    problems.Add("checkpoint.interval",
                 absl::StrCat("must be 0 (default) or in [10s, 24h], got ", interval, "s"));
  }
  CheckRange(problems, "checkpoint.every_steps", c.every_steps(), 0, 1e9);
  CheckRange(problems, "checkpoint.keep_last", c.keep_last(), 0, 100);
  CheckRange(problems, "checkpoint.max_phase_attempts", c.max_phase_attempts(), 0, 20);
  CheckRange(problems, "checkpoint.retry_backoff", Seconds(c.retry_backoff()), 0, 3600);
}

void CheckCarbon(Problems& problems, const ofa::v1::CarbonSettings& c) {
  const bool region_ok =
      c.region().size() <= kMaxIdentifierLength &&
      std::all_of(c.region().begin(), c.region().end(), [](char ch) {
        return absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' ||
               ch == '.';
      });
  if (!region_ok) {  // Empty is allowed: the coordinator's default region.
    problems.Add("carbon.region", absl::StrCat("must match [A-Za-z0-9_.-]{1,63}, got ",
                                               Quoted(c.region())));
  }
  if (c.pue() != 0) CheckRange(problems, "carbon.pue", c.pue(), 1, 3);
  if (!ofa::v1::IntensitySource_IsValid(c.intensity_source())) {
    problems.Add("carbon.intensity_source", absl::StrCat("unknown value ",
                                                         c.intensity_source()));
  }
  if (c.intensity_source() == ofa::v1::INTENSITY_SOURCE_FIXED) {
    if (!(c.fixed_intensity_g_per_kwh() > 0 && c.fixed_intensity_g_per_kwh() <= 5000)) {
      problems.Add("carbon.fixed_intensity_g_per_kwh",
                   absl::StrCat("must be in (0, 5000] with INTENSITY_SOURCE_FIXED, got ",
                                c.fixed_intensity_g_per_kwh()));
    }
  } else if (c.fixed_intensity_g_per_kwh() != 0) {
    problems.Add("carbon.fixed_intensity_g_per_kwh",
                 "is only used with intensity_source INTENSITY_SOURCE_FIXED");
  }
  CheckRange(problems, "carbon.deadline_slack", Seconds(c.deadline_slack()), 0,
             kMaxDeadlineSlackSeconds);
}

// `name` at `field` must be an identifier and unique among `seen` (which it joins).
void CheckUniqueName(Problems& problems, const std::string& field, const std::string& name,
                     const std::string& what, std::set<std::string>& seen) {
  if (!IsIdentifier(name, "_-", kMaxIdentifierLength)) {
    problems.Add(field, absl::StrCat("must match [a-z0-9_-]{1,63}, got ", Quoted(name)));
  } else if (!seen.insert(name).second) {
    problems.Add(field, absl::StrCat("duplicate ", what, " ", Quoted(name)));
  }
}

void CheckTargets(Problems& problems, const ofa::v1::JobSpec& spec) {
  if (spec.targets_size() > kMaxTargets) {
    problems.Add("targets", absl::StrCat("at most ", kMaxTargets, " targets, got ",
                                         spec.targets_size()));
    return;
  }
  std::set<std::string> names;
  for (int i = 0; i < spec.targets_size(); ++i) {
    const ofa::v1::DeploymentTarget& t = spec.targets(i);
    const std::string field = absl::StrCat("targets[", i, "]");
    CheckUniqueName(problems, field + ".name", t.name(), "target name", names);
    CheckRange(problems, field + ".max_macs", t.max_macs(), 0, 1e15);
    CheckRange(problems, field + ".max_params", t.max_params(), 0, 1e12);
    CheckRange(problems, field + ".max_latency_ms", t.max_latency_ms(), 0, 1e7);
    CheckRange(problems, field + ".latency_batch_size", t.latency_batch_size(), 0, 4096);
    CheckRange(problems, field + ".onnx_batch_size", t.onnx_batch_size(), 0, 4096);
    if (t.max_macs() <= 0 && t.max_params() <= 0 && !(t.max_latency_ms() > 0)) {
      problems.Add(field, "needs at least one budget: max_macs, max_params or max_latency_ms");
    }
    CheckRange(problems, field + ".proxy_gmacs_per_second", t.proxy_gmacs_per_second(), 0, 1e9);
    if (t.latency_table().empty()) continue;
    const ofa::v1::LatencyTable* table = nullptr;
    for (const ofa::v1::LatencyTable& l : spec.latency_tables()) {
      if (l.name() == t.latency_table()) table = &l;
    }
    if (table == nullptr) {
      problems.Add(field + ".latency_table",
                   absl::StrCat("no latency table named ", Quoted(t.latency_table()),
                                " in latency_tables (profile one with ofa-trainer "
                                "--profile_latency)"));
    } else if (std::max(1, table->batch_size()) != std::max(1, t.latency_batch_size())) {
      problems.Add(field + ".latency_batch_size",
                   absl::StrCat("is ", std::max(1, t.latency_batch_size()), " but latency table ",
                                Quoted(table->name()), " was measured at batch size ",
                                std::max(1, table->batch_size())));
    }
  }
  std::set<std::string> tables;
  for (int i = 0; i < spec.latency_tables_size(); ++i) {
    const ofa::v1::LatencyTable& l = spec.latency_tables(i);
    const std::string field = absl::StrCat("latency_tables[", i, "]");
    CheckUniqueName(problems, field + ".name", l.name(), "latency table", tables);
    CheckRange(problems, field + ".batch_size", l.batch_size(), 0, 4096);
    if (l.layer_ms_size() > 100000) problems.Add(field + ".layer_ms", "more than 100000 layers");
    for (const auto& [key, ms] : l.layer_ms()) {
      if (!(ms >= 0 && ms < 1e7)) {
        problems.Add(field + ".layer_ms", absl::StrCat("layer ", Quoted(key), ": ", ms,
                                                       " ms is not in [0, 1e7)"));
        break;
      }
    }
  }
}

void CheckSpecialize(Problems& problems, const ofa::v1::SpecializeSpec& s) {
  CheckRange(problems, "specialize.predictor_samples", s.predictor_samples(), 0, 100000);
  if (s.predictor_samples() > 0 && s.predictor_samples() < 10) {
    problems.Add("specialize.predictor_samples",
                 absl::StrCat("the accuracy predictor needs at least 10, got ",
                              s.predictor_samples()));
  }
  CheckRange(problems, "specialize.validation_images", s.validation_images(), 0, 10000000);
  CheckRange(problems, "specialize.population", s.population(), 0, 100000);
  CheckRange(problems, "specialize.finalists", s.finalists(), 0, 1000);
  CheckRange(problems, "specialize.iterations", s.iterations(), 0, 100000);
  CheckRange(problems, "specialize.mutation_probability", s.mutation_probability(), 0, 1);
  CheckRange(problems, "specialize.parent_fraction", s.parent_fraction(), 0, 1);
  CheckRange(problems, "specialize.mutation_fraction", s.mutation_fraction(), 0, 1);
  CheckRange(problems, "specialize.bn_calibration_batches", s.bn_calibration_batches(), 0,
             10000);
}

void CheckLabels(Problems& problems, const ofa::v1::JobSpec& spec) {
  if (spec.labels_size() > kMaxLabels) {
    problems.Add("labels", absl::StrCat("at most ", kMaxLabels, " labels, got ",
                                        spec.labels_size()));
  }
  for (const auto& [key, value] : spec.labels()) {
    if (!IsIdentifier(key, "_.-/", kMaxIdentifierLength)) {
      problems.Add(absl::StrCat("labels[", Quoted(key), "]"),
                   "key must match [a-z0-9_.-/]{1,63}");
    }
    if (value.size() > kMaxLabelValueLength) {
      problems.Add(absl::StrCat("labels[", Quoted(key), "]"),
                   absl::StrCat("value must be at most ", kMaxLabelValueLength,
                                " characters, got ", value.size()));
    }
  }
}

}  // namespace

absl::Status ValidateJobSpec(const ofa::v1::JobSpec& spec) {
  Problems problems;
  if (spec.name().empty()) {
    problems.Add("name", "is required");
  } else if (spec.name().size() > kMaxNameLength ||
             !std::all_of(spec.name().begin(), spec.name().end(), [](char c) {
               return absl::ascii_isprint(static_cast<unsigned char>(c));
             })) {
    problems.Add("name", absl::StrCat("must be 1-", kMaxNameLength,
                                      " printable characters, got ", Quoted(spec.name())));
  }
  CheckSupernet(problems, spec.supernet());
  CheckDataset(problems, spec.dataset());
  CheckSchedule(problems, spec);
  CheckResources(problems, spec.resources());
  CheckBatchShards(problems, spec);
  CheckCheckpointPolicy(problems, spec.checkpoint());
  CheckCarbon(problems, spec.carbon());
  CheckTargets(problems, spec);
  CheckSpecialize(problems, spec.specialize());
  CheckRange(problems, "priority", spec.priority(), -1000, 1000);
  CheckLabels(problems, spec);
  return problems.ToStatus();
}

}  // namespace ofa::trainer
