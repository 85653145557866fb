// How good and how fast the specialise phase is, on a job whose training phases are done:
// for each deployment target, the sub-network the phase chose (export/<target>/subnet.json)
// and the search's own top pick against the best of N random sub-networks that meet the same
// budget, all evaluated the same way (BN recalibrated on the same batches, top-1 on the test
// split); and the time of the predictor's training and of each search. Run the specialise
// phase first (ofa-trainer --phase=specialize) so that its predictor samples and exports
// exist.
//
//   bazel run -c opt //tests/bench:specialize_bench -- --job_dir=DIR [--random=50]
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <google/protobuf/util/json_util.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "trainer/checkpoint/checkpoint_store.h"
#include "trainer/common/stream_seed.h"
#include "trainer/data/image_dataset.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/search/accuracy_predictor.h"
#include "trainer/search/evolution_search.h"
#include "trainer/search/target_budget.h"
#include "trainer/spec/job_spec_io.h"
#include "trainer/spec/phase_schedule.h"
#include "trainer/spec/supernet_presets.h"
#include "trainer/train/evaluator.h"
#include "trainer/train/specialize_phase.h"

ABSL_FLAG(std::string, job_dir, "", "Output directory of a job whose specialise phase ran.");
ABSL_FLAG(std::string, data_root, ".", "Root for relative dataset paths in the spec.");
ABSL_FLAG(int, random, 50, "Random sub-networks per target that meet its budget.");
ABSL_FLAG(int, threads, 2, "Intra-op threads.");

namespace {

namespace fs = std::filesystem;
using namespace ofa::trainer;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

int Main() {
  const fs::path dir = absl::GetFlag(FLAGS_job_dir);
  absl::StatusOr<ofa::v1::JobSpec> spec = ReadJobSpecFile((dir / "job_spec.json").string());
  if (!spec.ok()) {
    absl::FPrintF(stderr, "%s\n", spec.status().ToString());
    return 2;
  }
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  ofa::v1::DatasetSpec dataset = spec->dataset();
  if (dataset.validation_fraction() == 0) dataset.set_validation_fraction(0.1);
  const ofa::v1::SupernetSpec supernet = ResolveSupernet(spec->supernet()).value();
  absl::StatusOr<DatasetSplits> data =
      LoadDataset(dataset, absl::GetFlag(FLAGS_data_root), spec->seed(),
                  *std::max_element(supernet.resolutions().begin(), supernet.resolutions().end()));
  if (!data.ok()) {
    absl::FPrintF(stderr, "%s\n", data.status().ToString());
    return 2;
  }
  absl::StatusOr<SupernetArchitecture> arch =
      SupernetArchitecture::FromSpec(spec->supernet(), data->train.num_classes);
  std::vector<ofa::v1::PhaseSpec> phases = ResolveSchedule(*spec).value();
  std::string last_training;
  for (const auto& p : phases) {
    if (p.kind() != ofa::v1::PHASE_KIND_SPECIALIZE) last_training = p.name();
  }
  OfaSupernet model(*arch);
  CheckpointData weights{model.get(), nullptr, {}};
  if (absl::Status s = CheckpointStore((dir / "phases" / last_training).string()).Load("final", weights);
      !s.ok()) {
    absl::FPrintF(stderr, "%s\n", s.ToString());
    return 2;
  }
  const std::vector<AccuracySample> samples =
      LoadPredictorSamples((dir / "phases/specialize/predictor_samples.jsonl").string(), *arch,
                           spec->seed(), 1 << 30);
  if (samples.size() < 10) {
    absl::FPrintF(stderr, "run the specialise phase of %s first\n", dir.string());
    return 2;
  }

  auto start = std::chrono::steady_clock::now();
  PredictorQuality quality;
  absl::StatusOr<AccuracyPredictor> predictor = AccuracyPredictor::Train(
      *arch, samples, {.seed = StreamSeed(spec->seed(), {kSeedSpecialize, 3})}, &quality);
  const double predictor_seconds = Seconds(start);
  absl::PrintF("%d predictor samples; predictor trained in %.1f s; held-out RMSE %.2f points, "
               "Kendall tau %.2f\n\n",
               samples.size(), predictor_seconds, 100 * quality.holdout_rmse,
               quality.holdout_kendall_tau);

  const int calibration = SpecializeCalibrationBatches(*spec);
  const uint64_t eval_seed = SpecializeEvalSeed(*spec);
  auto evaluate = [&](const SubnetChoice& c) {
    return EvaluateSubnet(model, c, data->train, data->test, calibration, 256, eval_seed).top1;
  };
  absl::PrintF("%-14s %10s %10s %8s %9s %9s %9s %11s %11s %8s %9s\n", "target", "budget MACs",
               "chosen MACs", "search s", "top pick", "predicted", "chosen", "best random",
               "median rand", "gap pts", "evaluated");
  double search_total = 0;
  for (int t = 0; t < spec->targets_size(); ++t) {
    const TargetBudget budget = TargetBudget::Make(*arch, spec->targets(t), *spec).value();
    start = std::chrono::steady_clock::now();
    const EvolutionResult found =
        EvolutionSearch(
            *arch, [&](const SubnetChoice& c) { return budget.Meets(c); },
            [&](const std::vector<SubnetChoice>& c) { return predictor->Predict(c); },
            SpecializeSearchOptions(*spec, t))
            .value();
    const double search_seconds = Seconds(start);
    search_total += search_seconds;
    const fs::path subnet_json = dir / "export" / spec->targets(t).name() / "subnet.json";
    std::ifstream in(subnet_json);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ofa::v1::Subnet exported;
    if (!in || !google::protobuf::util::JsonStringToMessage(text, &exported).ok()) {
      absl::FPrintF(stderr, "cannot read %s; run the specialise phase first\n",
                    subnet_json.string());
      return 2;
    }
    const SubnetChoice choice = arch->FromProto(exported.arch()).value();
    const double chosen = evaluate(choice);
    const double top_pick = evaluate(found.best().choice);
    SplitMix64 rng(StreamSeed(spec->seed(), {991, static_cast<uint64_t>(t)}));
    std::vector<double> random;
    for (int i = 0; i < absl::GetFlag(FLAGS_random); ++i) {
      absl::StatusOr<SubnetChoice> c = RandomFeasibleSubnet(
          *arch, [&](const SubnetChoice& x) { return budget.Meets(x); }, rng, 100000);
      if (!c.ok()) break;
      random.push_back(evaluate(*c));
    }
    std::sort(random.begin(), random.end());
    const double best = random.empty() ? 0 : random.back();
    const double median = random.empty() ? 0 : random[random.size() / 2];
    absl::PrintF("%-14s %9.2fM %9.2fM %8.2f %8.2f%% %8.2f%% %8.2f%% %10.2f%% %10.2f%% %+8.2f %9d\n",
                 spec->targets(t).name(), spec->targets(t).max_macs() / 1e6,
                 ComputeSubnetCost(*arch, choice).macs / 1e6, search_seconds, 100 * top_pick,
                 100 * exported.predicted_top1(), 100 * chosen, 100 * best, 100 * median,
                 100 * (chosen - best), random.size());
  }
  absl::PrintF("\nsearch time, all %d targets: %.1f s (+ %.1f s predictor training)\n",
               spec->targets_size(), search_total, predictor_seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Main();
}
