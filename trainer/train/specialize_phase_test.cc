#include "trainer/train/specialize_phase.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "trainer/checkpoint/checkpoint_store.h"
#include "trainer/data/batch_loader.h"
#include "trainer/inference/subnet_classifier.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/onnx/onnx_export.h"
#include "trainer/onnx/onnx_runtime_for_test.h"
#include "trainer/train/job_runner.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;

// A short full-network phase on synthetic data, then the specialise phase with three targets
// at 25%, 50% and 100% of the largest sub-network's MACs and a small search.
ofa::v1::JobSpec SpecializeJob() {
  ofa::v1::JobSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "tiny-specialize"
    seed: 9
    supernet { preset: "ofa_small_28" width_multiplier: 0.25 }
    dataset { kind: DATASET_KIND_SYNTHETIC batch_size_per_device: 16 validation_fraction: 0.25
              synthetic { train_images: 96 test_images: 40 image_size: 28 channels: 1
                          num_classes: 10 } }
    schedule {
      phases { name: "full" kind: PHASE_KIND_FULL epochs: 1 learning_rate: 0.1
               subnets_per_step: 1 }
      phases { name: "specialize" kind: PHASE_KIND_SPECIALIZE }
    }
    specialize { predictor_samples: 12 population: 8 iterations: 4
                 bn_calibration_batches: 1 })pb",
                                                            &spec));
  const SupernetArchitecture arch = SupernetArchitecture::FromSpec(spec.supernet(), 10).value();
  const int64_t largest = ComputeSubnetCost(arch, arch.Largest()).macs;
  for (const auto& [name, fraction] : {std::pair{"quarter", 0.25}, std::pair{"half", 0.5},
                                       std::pair{"full", 1.0}}) {
    ofa::v1::DeploymentTarget* t = spec.add_targets();
    t->set_name(name);
    t->set_max_macs(static_cast<int64_t>(largest * fraction));
  }
  return spec;
}

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  fs::remove_all(dir);
  return dir;
}

absl::StatusOr<std::vector<PhaseSummary>> RunPhases(const ofa::v1::JobSpec& spec,
                                              const std::string& dir, const std::string& phase,
                                              const std::string& progress_file = "") {
  ProgressReporter progress(nullptr, progress_file);
  JobRunOptions options;
  options.output_dir = dir;
  options.threads = 2;
  options.evaluate = false;
  options.only_phase = phase;
  options.progress = &progress;
  return RunJob(spec, options);
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(SpecializePhaseTest, ExportsOneSubnetworkPerTargetWithinItsBudget) {
  const ofa::v1::JobSpec spec = SpecializeJob();
  const std::string dir = FreshDir("specialize_exports");
  const std::string log = dir + "-progress.jsonl";
  fs::remove(log);
  absl::StatusOr<std::vector<PhaseSummary>> summaries = RunPhases(spec, dir, "", log);
  ASSERT_TRUE(summaries.ok()) << summaries.status();
  const std::vector<ofa::v1::Subnet>& subnets = summaries->back().subnets;
  ASSERT_EQ(subnets.size(), 3u);
  EXPECT_EQ(Lines(dir + "/phases/specialize/predictor_samples.jsonl").size(), 12u);

  const SupernetArchitecture arch = SupernetArchitecture::FromSpec(spec.supernet(), 10).value();
  absl::StatusOr<DatasetSplits> data = LoadDataset(spec.dataset(), "", spec.seed(), 28);
  ASSERT_TRUE(data.ok());
  for (int i = 0; i < 3; ++i) {
    const ofa::v1::Subnet& s = subnets[i];
    EXPECT_EQ(s.target(), spec.targets(i).name());
    const SubnetChoice choice = arch.FromProto(s.arch()).value();
    EXPECT_EQ(s.cost().macs(), ComputeSubnetCost(arch, choice).macs);
    EXPECT_LE(s.cost().macs(), spec.targets(i).max_macs()) << s.target();
    EXPECT_GT(s.latency_ms(), 0);
    EXPECT_EQ(s.latency_model(), "macs-proxy:10 GMAC/s");
    EXPECT_EQ(s.weights_path(), "export/" + s.target() + "/weights.pt");
    EXPECT_EQ(Sha256OfFile(dir + "/" + s.weights_path()).value(), s.weights_sha256());

    // The exported network, through the inference API, scores exactly what was measured.
    absl::StatusOr<SubnetClassifier> classifier =
        SubnetClassifier::Load(dir + "/export/" + s.target(), s.weights_sha256());
    ASSERT_TRUE(classifier.ok()) << classifier.status();
    absl::StatusOr<std::vector<Prediction>> predicted = classifier->Classify(data->test.images);
    ASSERT_TRUE(predicted.ok()) << predicted.status();
    int correct = 0;
    for (size_t j = 0; j < predicted->size(); ++j) {
      correct += (*predicted)[j].label == data->test.labels[j].item<int64_t>();
    }
    EXPECT_NEAR(static_cast<double>(correct) / predicted->size(), s.measured_top1(), 1e-9);

    // The ONNX model of the same network: checked, described, and in ONNX Runtime it gives
    // the LibTorch logits on the test split normalised as its metadata says.
    EXPECT_EQ(s.onnx_path(), "export/" + s.target() + "/model.onnx");
    EXPECT_EQ(Sha256OfFile(dir + "/" + s.onnx_path()).value(), s.onnx_sha256());
    absl::StatusOr<onnx::ModelProto> model = ReadOnnxModel(dir + "/" + s.onnx_path());
    ASSERT_TRUE(model.ok()) << model.status();
    std::map<std::string, std::string> meta;
    for (const auto& p : model->metadata_props()) meta[p.key()] = p.value();
    EXPECT_EQ(meta["job_id"], "tiny-specialize");
    EXPECT_EQ(meta["target"], s.target());
    EXPECT_NEAR(std::stod(meta["measured_top1"]), s.measured_top1(), 1e-6);
    EXPECT_EQ(meta["macs"], std::to_string(s.cost().macs()));
    const float mean = nlohmann::json::parse(meta["input_mean"])[0].get<float>();
    const float std = nlohmann::json::parse(meta["input_std"])[0].get<float>();
    const torch::Tensor input = (data->test.images.to(torch::kFloat) / 255 - mean) / std;
    absl::StatusOr<torch::Tensor> onnx_logits =
        RunInOnnxRuntime(dir + "/" + s.onnx_path(), input, ::testing::TempDir());
    ASSERT_TRUE(onnx_logits.ok()) << onnx_logits.status();
    const torch::Tensor torch_logits = classifier->Logits(data->test.images).value();
    EXPECT_LT((*onnx_logits - torch_logits).abs().max().item<float>(), 1e-4) << s.target();
    const double onnx_top1 =
        onnx_logits->argmax(1).eq(data->test.labels).to(torch::kFloat64).mean().item<double>();
    EXPECT_NEAR(onnx_top1, s.measured_top1(), 1e-9) << s.target();
  }
  // The largest target can afford the largest network; the quarter one cannot.
  EXPECT_GT(subnets[2].cost().macs(), subnets[0].cost().macs());

  // Choices are made by measurement: none is below a measured sample that fits its target,
  // whatever the predictor thought of either.
  const std::vector<AccuracySample> samples = LoadPredictorSamples(
      dir + "/phases/specialize/predictor_samples.jsonl", arch, spec.seed(), 1000);
  ASSERT_EQ(samples.size(), 12u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(subnets[i].validation_top1(), 0);
    for (const AccuracySample& sample : samples) {
      if (ComputeSubnetCost(arch, sample.choice).macs > spec.targets(i).max_macs()) continue;
      EXPECT_GE(subnets[i].validation_top1(), sample.top1) << subnets[i].target();
    }
  }

  int exported_events = 0;
  for (const std::string& line : Lines(log)) {
    exported_events += line.find("\"event\":\"subnet_exported\"") != std::string::npos;
  }
  EXPECT_EQ(exported_events, 3);
}

TEST(SpecializePhaseTest, ARestartMeasuresOnlyWhatIsMissingAndKeepsFinishedTargets) {
  const ofa::v1::JobSpec spec = SpecializeJob();
  const std::string dir = FreshDir("specialize_resume");
  ASSERT_TRUE(RunPhases(spec, dir, "full").ok());
  absl::StatusOr<std::vector<PhaseSummary>> first = RunPhases(spec, dir, "specialize");
  ASSERT_TRUE(first.ok()) << first.status();

  // A crash: five samples and half a line measured, the "half" target never exported.
  const std::string samples = dir + "/phases/specialize/predictor_samples.jsonl";
  const std::vector<std::string> measured = Lines(samples);
  {
    std::ofstream out(samples, std::ios::trunc);
    for (int i = 0; i < 5; ++i) out << measured[i] << "\n";
    out << measured[5].substr(0, 10);
  }
  fs::remove_all(dir + "/export/half");
  // The "full" target's ONNX model is damaged: that export is redone too.
  std::ofstream(dir + "/export/full/model.onnx", std::ios::app) << "x";
  const fs::file_time_type kept_time = fs::last_write_time(dir + "/export/quarter/weights.pt");

  absl::StatusOr<std::vector<PhaseSummary>> again = RunPhases(spec, dir, "specialize");
  ASSERT_TRUE(again.ok()) << again.status();
  // The same samples are measured again (same draws, same values) ...
  EXPECT_EQ(Lines(samples), measured);
  // ... so the same networks are chosen; the finished target's files were not rewritten.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(again->back().subnets[i].arch().SerializeAsString(),
              first->back().subnets[i].arch().SerializeAsString());
  }
  EXPECT_EQ(fs::last_write_time(dir + "/export/quarter/weights.pt"), kept_time);
  EXPECT_TRUE(fs::exists(dir + "/export/half/subnet.json"));
  EXPECT_EQ(Sha256OfFile(dir + "/export/full/model.onnx").value(),
            again->back().subnets[2].onnx_sha256());
  EXPECT_TRUE(ReadOnnxModel(dir + "/export/full/model.onnx").ok());
}

TEST(SpecializePhaseTest, ATargetNoSubnetworkMeetsIsAClearError) {
  ofa::v1::JobSpec spec = SpecializeJob();
  spec.mutable_targets(1)->set_max_macs(1000);
  const std::string dir = FreshDir("specialize_impossible");
  ASSERT_TRUE(RunPhases(spec, dir, "full").ok());
  absl::StatusOr<std::vector<PhaseSummary>> result = RunPhases(spec, dir, "specialize");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(result.status().message().find("target \"half\""), std::string::npos)
      << result.status();
  EXPECT_NE(result.status().message().find("not even the smallest"), std::string::npos);
}

TEST(SpecializePhaseTest, ASpecializePhaseNeedsTheTrainingPhasesFirst) {
  const std::string dir = FreshDir("specialize_too_early");
  absl::StatusOr<std::vector<PhaseSummary>> result = RunPhases(SpecializeJob(), dir, "specialize");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(result.status().message().find("phase full"), std::string::npos) << result.status();
}

}  // namespace
}  // namespace ofa::trainer
