#include "trainer/train/specialize_phase.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "trainer/checkpoint/checkpoint_store.h"
#include "trainer/common/stream_seed.h"
#include "trainer/inference/subnet_classifier.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/nn/subnet_export.h"
#include "trainer/onnx/onnx_export.h"
#include "trainer/search/accuracy_predictor.h"
#include "trainer/search/evolution_search.h"
#include "trainer/search/target_budget.h"
#include "trainer/train/evaluator.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;

template <typename T>
T Or(T value, T fallback) {
  return value > 0 ? value : fallback;
}

// The first `n` images of `data` (all if n <= 0 or more than it has).
ImageDataset FirstImages(const ImageDataset& data, int64_t n) {
  if (n <= 0 || n >= data.size()) return data;
  ImageDataset subset = data;
  subset.labels = data.labels.narrow(0, 0, n);
  if (data.images.defined()) subset.images = data.images.narrow(0, 0, n);
  if (data.file_backed()) subset.files.resize(n);
  return subset;
}

// Predictor sample `index`: the largest and the smallest first (so the predictor sees both
// ends of the space), then uniform draws.
SubnetChoice PredictorSample(const SupernetArchitecture& arch, uint64_t seed, int index) {
  if (index == 0) return arch.Largest();
  if (index == 1) return arch.Smallest();
  SplitMix64 rng(StreamSeed(seed, {kSeedSpecialize, 1, static_cast<uint64_t>(index)}));
  return RandomSubnet(arch, rng);
}

nlohmann::json ChoiceJson(const SubnetChoice& c) {
  return {{"kernel_sizes", c.kernel_sizes},
          {"expand_ratios", c.expand_ratios},
          {"depths", c.depths},
          {"resolution", c.resolution}};
}

// One line of predictor_samples.jsonl.
std::string SampleLine(size_t index, const AccuracySample& sample) {
  return nlohmann::json{{"index", index}, {"arch", ChoiceJson(sample.choice)}, {"top1", sample.top1}}
             .dump() +
         "\n";
}

absl::Status WriteFileAtomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot rename ", tmp.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

std::vector<AccuracySample> LoadPredictorSamples(const std::string& path,
                                                 const SupernetArchitecture& arch, uint64_t seed,
                                                 int wanted) {
  std::vector<AccuracySample> samples;
  std::ifstream in(path);
  std::string line;
  bool stale = false;
  while (std::getline(in, line) && static_cast<int>(samples.size()) < wanted) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const SubnetChoice expected = PredictorSample(arch, seed, static_cast<int>(samples.size()));
    if (!j.is_object() || !j.contains("top1") || !j["top1"].is_number() ||
        j.value("index", -1) != static_cast<int>(samples.size()) ||
        j.value("arch", nlohmann::json()) != ChoiceJson(expected)) {
      stale = true;  // A torn last line, or samples of a different spec.
      break;
    }
    samples.push_back({expected, j["top1"].get<double>()});
  }
  if (stale) {
    std::string kept;
    for (size_t i = 0; i < samples.size(); ++i) kept += SampleLine(i, samples[i]);
    // Failing to trim only costs a re-measurement; the appends that follow still add up.
    (void)WriteFileAtomically(path, kept);
  }
  return samples;
}

int SpecializeCalibrationBatches(const ofa::v1::JobSpec& spec) {
  return Or(spec.specialize().bn_calibration_batches(), 8);
}

uint64_t SpecializeEvalSeed(const ofa::v1::JobSpec& spec) {
  return StreamSeed(spec.seed(), {kSeedSpecialize, 2});
}

EvolutionOptions SpecializeSearchOptions(const ofa::v1::JobSpec& spec, int target_index) {
  const ofa::v1::SpecializeSpec& s = spec.specialize();
  return {
      .population = Or(s.population(), 100),
      .iterations = Or(s.iterations(), 500),
      .mutation_probability = Or(s.mutation_probability(), 0.1),
      .parent_fraction = Or(s.parent_fraction(), 0.25),
      .mutation_fraction = Or(s.mutation_fraction(), 0.5),
      .finalists = Or(s.finalists(), 10),
      .seed = StreamSeed(spec.seed(), {kSeedSpecialize, 4, static_cast<uint64_t>(target_index)})};
}

namespace {

// A target exported by an earlier run of this phase, if its files are intact.
std::optional<ofa::v1::Subnet> ExportedBefore(const fs::path& output_dir, const fs::path& dir) {
  std::ifstream in(dir / "subnet.json");
  if (!in) return std::nullopt;
  const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ofa::v1::Subnet subnet;
  if (!google::protobuf::util::JsonStringToMessage(json, &subnet).ok()) return std::nullopt;
  for (const auto& [path, want] : {std::pair(subnet.weights_path(), subnet.weights_sha256()),
                                    std::pair(subnet.onnx_path(), subnet.onnx_sha256())}) {
    // An export from before ONNX models were written has no onnx_path: redo it.
    if (path.empty()) return std::nullopt;
    absl::StatusOr<std::string> sha = Sha256OfFile((output_dir / path).string());
    if (!sha.ok() || *sha != want) return std::nullopt;
  }
  return subnet;
}

// A sub-network one target may get, with the top-1 it is chosen by.
struct Candidate {
  SubnetChoice choice;
  double predicted = 0;
  double validation = 0;
};

// The search's finalists, each measured on the validation images (or looked up among the
// predictor samples, which were measured the same way), then the best sample that meets the
// budget. The predictor only proposes: its top pick is often one it overrates, most of all
// beyond the accuracies it was trained on.
std::vector<Candidate> TargetCandidates(const EvolutionResult& found,
                                        const std::vector<AccuracySample>& samples,
                                        const TargetBudget& budget,
                                        const AccuracyPredictor& predictor,
                                        const std::function<double(const SubnetChoice&)>& measure) {
  std::vector<Candidate> candidates;
  auto find = [&](const SubnetChoice& c) {
    return std::find_if(candidates.begin(), candidates.end(),
                        [&](const Candidate& k) { return k.choice == c; });
  };
  for (const ScoredSubnet& f : found.finalists) {
    auto sample = std::find_if(samples.begin(), samples.end(),
                               [&](const AccuracySample& s) { return s.choice == f.choice; });
    candidates.push_back(
        {f.choice, f.score, sample != samples.end() ? sample->top1 : measure(f.choice)});
  }
  const AccuracySample* best_sample = nullptr;
  for (const AccuracySample& s : samples) {
    if (budget.Meets(s.choice) && (best_sample == nullptr || s.top1 > best_sample->top1)) {
      best_sample = &s;
    }
  }
  if (best_sample != nullptr && find(best_sample->choice) == candidates.end()) {
    candidates.push_back(
        {best_sample->choice, predictor.Predict(best_sample->choice), best_sample->top1});
  }
  return candidates;
}

nlohmann::json SubnetJson(const ofa::v1::Subnet& subnet) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(subnet, &json);
  return nlohmann::json::parse(json);
}

}  // namespace

absl::StatusOr<std::vector<ofa::v1::Subnet>> RunSpecializePhase(OfaSupernet& model,
                                                                const DatasetSplits& data,
                                                                const ofa::v1::JobSpec& spec,
                                                                const SpecializeOptions& options) {
  ProgressReporter& progress = *options.progress;
  const SupernetArchitecture& arch = model->architecture();
  const ofa::v1::SpecializeSpec& s = spec.specialize();
  if (data.validation.size() == 0) {
    return absl::FailedPreconditionError(
        "the specialise phase measures sub-networks on the validation split, but it is empty; "
        "set dataset.validation_fraction above 0");
  }
  std::vector<TargetBudget> budgets;
  for (const ofa::v1::DeploymentTarget& target : spec.targets()) {
    absl::StatusOr<TargetBudget> budget = TargetBudget::Make(arch, target, spec);
    if (!budget.ok()) return budget.status();
    if (!budget->Meets(arch.Smallest())) {
      const SubnetCost smallest = ComputeSubnetCost(arch, arch.Smallest());
      return absl::FailedPreconditionError(absl::StrFormat(
          "target \"%s\" (%s): not even the smallest sub-network meets it (%d MACs, %d params, "
          "%.3g ms)",
          target.name(), budget->Describe(), smallest.macs, smallest.params,
          budget->latency().LatencyMs(arch.Smallest())));
    }
    budgets.push_back(*std::move(budget));
  }

  const fs::path output_dir(options.output_dir);
  const fs::path phase_dir = output_dir / "phases" / options.phase_name;
  std::error_code ec;
  fs::create_directories(phase_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", phase_dir.string()));
  const int calibration = SpecializeCalibrationBatches(spec);
  const uint64_t eval_seed = SpecializeEvalSeed(spec);
  const int wanted = Or(s.predictor_samples(), 300);
  const ImageDataset validation = FirstImages(data.validation, Or(s.validation_images(), 2000));

  // Top-1 on the validation images, the measure every choice in this phase is made by.
  auto measure = [&](const SubnetChoice& choice) {
    return EvaluateSubnet(model, choice, data.train, validation, calibration, options.batch_size,
                          eval_seed)
        .top1;
  };

  // 1. Measured sub-networks for the predictor, resuming what an earlier run measured.
  const std::string samples_path = (phase_dir / "predictor_samples.jsonl").string();
  std::vector<AccuracySample> samples =
      LoadPredictorSamples(samples_path, arch, spec.seed(), wanted);
  progress.Event("predictor_sampling",
                 absl::StrFormat("specialize: measuring %d sub-networks on %d validation images "
                                 "(%d already measured), BN recalibrated on %d batches each",
                                 wanted, validation.size(), samples.size(), calibration),
                 {{"phase", options.phase_name}, {"samples", wanted}, {"resumed", samples.size()}});
  {
    std::ofstream out(samples_path, std::ios::app);
    const absl::Time start = absl::Now();
    const size_t resumed = samples.size();
    while (static_cast<int>(samples.size()) < wanted) {
      const int index = static_cast<int>(samples.size());
      const SubnetChoice choice = PredictorSample(arch, spec.seed(), index);
      samples.push_back({choice, measure(choice)});
      out << SampleLine(index, samples.back());
      out.flush();
      const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
      const double done = static_cast<double>(samples.size() - resumed);
      progress.Progress({.phase = options.phase_name,
                         .step = static_cast<int64_t>(samples.size()),
                         .total_steps = wanted,
                         .eta_seconds = elapsed / done * (wanted - samples.size()),
                         .item = "sub-net"},
                        samples.size() == static_cast<size_t>(wanted));
    }
  }

  // 2. The accuracy predictor.
  PredictorQuality quality;
  absl::StatusOr<AccuracyPredictor> predictor = AccuracyPredictor::Train(
      arch, samples, {.seed = StreamSeed(spec.seed(), {kSeedSpecialize, 3})}, &quality);
  if (!predictor.ok()) return predictor.status();
  progress.Event("predictor_trained",
                 absl::StrFormat("specialize: accuracy predictor trained on %d sub-networks; on "
                                 "%d held out: RMSE %.2f points, Kendall tau %.2f",
                                 quality.train_samples, quality.holdout_samples,
                                 100 * quality.holdout_rmse, quality.holdout_kendall_tau),
                 {{"phase", options.phase_name},
                  {"holdout_rmse", quality.holdout_rmse},
                  {"holdout_kendall_tau", quality.holdout_kendall_tau}});

  // 3 and 4. Search, choose by measurement, evaluate and export each target.
  std::vector<ofa::v1::Subnet> subnets;
  for (size_t t = 0; t < budgets.size(); ++t) {
    const TargetBudget& budget = budgets[t];
    const std::string& name = budget.target().name();
    const fs::path dir = output_dir / "export" / name;
    if (std::optional<ofa::v1::Subnet> done = ExportedBefore(output_dir, dir); done.has_value()) {
      progress.Event("subnet_exported",
                     absl::StrCat("specialize: target ", name, " was exported before; kept"),
                     {{"phase", options.phase_name}, {"subnet", SubnetJson(*done)}});
      subnets.push_back(*done);
      continue;
    }
    const absl::Time start = absl::Now();
    absl::StatusOr<EvolutionResult> found = EvolutionSearch(
        arch, [&](const SubnetChoice& c) { return budget.Meets(c); },
        [&](const std::vector<SubnetChoice>& c) { return predictor->Predict(c); },
        SpecializeSearchOptions(spec, static_cast<int>(t)));
    if (!found.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("target \"", name, "\" (", budget.Describe(), "): ", found.status().message()));
    }
    const double search_seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const std::vector<Candidate> candidates =
        TargetCandidates(*found, samples, budget, *predictor, measure);
    // The first of the best: the predictor's order breaks ties.
    const Candidate& chosen = *std::max_element(
        candidates.begin(), candidates.end(),
        [](const Candidate& a, const Candidate& b) { return a.validation < b.validation; });
    const SubnetChoice& choice = chosen.choice;
    const double measured = EvaluateSubnet(model, choice, data.train, data.test, calibration,
                                           options.batch_size, eval_seed)
                                .top1;

    // Export with BN recalibrated exactly as measured; the supernet keeps its own statistics.
    absl::StatusOr<StandaloneSubnet> exported = [&] {
      BatchNormStatisticsGuard restore(model);
      RecalibrateBatchNorm(model, choice, data.train, calibration, options.batch_size, eval_seed);
      return ExportSubnet(model, choice);
    }();
    if (!exported.ok()) return exported.status();
    RecordInputNormalization(*exported, data.train.mean, data.train.std);
    if (absl::Status saved_ok = SaveStandaloneSubnet(*exported, dir.string()); !saved_ok.ok()) {
      return saved_ok;
    }
    absl::StatusOr<std::string> sha = Sha256OfFile((dir / "weights.pt").string());
    if (!sha.ok()) return sha.status();

    ofa::v1::Subnet subnet;
    subnet.set_target(name);
    *subnet.mutable_arch() = arch.ToProto(choice);
    const SubnetCost cost = ComputeSubnetCost(arch, choice);
    subnet.mutable_cost()->set_macs(cost.macs);
    subnet.mutable_cost()->set_params(cost.params);
    subnet.set_predicted_top1(chosen.predicted);
    subnet.set_validation_top1(chosen.validation);
    subnet.set_measured_top1(measured);
    subnet.set_latency_ms(budget.latency().LatencyMs(choice));
    subnet.set_latency_model(budget.latency().description());
    subnet.set_weights_path((fs::path("export") / name / "weights.pt").string());
    subnet.set_arch_json_path((fs::path("export") / name / "architecture.json").string());
    subnet.set_weights_sha256(*sha);
    // The deployable form of the same network, for runtimes other than LibTorch.
    const OnnxExportOptions onnx_options = {
        .batch_size = budget.target().onnx_batch_size(),
        .metadata = {{"job_id", options.job_id},
                     {"target", name},
                     {"measured_top1", absl::StrFormat("%.6f", measured)},
                     {"predicted_top1", absl::StrFormat("%.6f", chosen.predicted)},
                     {"validation_top1", absl::StrFormat("%.6f", chosen.validation)},
                     {"latency_ms", absl::StrFormat("%.6g", subnet.latency_ms())},
                     {"latency_model", subnet.latency_model()}}};
    if (absl::Status s = WriteOnnxModel(*exported, onnx_options, (dir / "model.onnx").string());
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::string> onnx_sha = Sha256OfFile((dir / "model.onnx").string());
    if (!onnx_sha.ok()) return onnx_sha.status();
    subnet.set_onnx_path((fs::path("export") / name / "model.onnx").string());
    subnet.set_onnx_sha256(*onnx_sha);
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(subnet, &json);
    if (absl::Status w = WriteFileAtomically(dir / "subnet.json", json); !w.ok()) return w;
    progress.Event(
        "subnet_exported",
        absl::StrFormat("specialize: target %s (%s): %s, %.2fM MACs, %.3fM params, %.3g ms; "
                        "top-1 predicted %.2f%%, validation %.2f%%, test %.2f%%; searched %d "
                        "sub-networks in %.1f s and measured %d candidates (the predictor's "
                        "pick: predicted %.2f%%, validation %.2f%%); exported to %s",
                        name, budget.Describe(), choice.ToString(), cost.macs / 1e6,
                        cost.params / 1e6, subnet.latency_ms(), 100 * chosen.predicted,
                        100 * chosen.validation, 100 * measured, found->scored, search_seconds,
                        candidates.size(), 100 * candidates.front().predicted,
                        100 * candidates.front().validation, dir.string()),
        {{"phase", options.phase_name},
         {"subnet", SubnetJson(subnet)},
         {"search_seconds", search_seconds}});
    subnets.push_back(std::move(subnet));
  }
  return subnets;
}

}  // namespace ofa::trainer
