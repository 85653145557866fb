#include "trainer/train/job_runner.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "trainer/checkpoint/checkpoint_store.h"
#include "trainer/data/jpeg_image.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/nn/standalone_subnet.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;

// A tiny job: synthetic 28x28 data, a narrow supernet, four short phases that cover
// distillation, several sub-nets per step, elastic depth and channel sorting.
ofa::v1::JobSpec TinyJob() {
  ofa::v1::JobSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "tiny"
    seed: 5
    supernet { preset: "ofa_small_28" width_multiplier: 0.25 dropout_rate: 0.2 }
    dataset { kind: DATASET_KIND_SYNTHETIC batch_size_per_device: 8
              synthetic { train_images: 48 test_images: 16 image_size: 28 channels: 1
                          num_classes: 10 } }
    schedule {
      phases { name: "full" kind: PHASE_KIND_FULL epochs: 2 learning_rate: 0.5
               warmup_epochs: 1 subnets_per_step: 1 }
      phases { name: "kernel" kind: PHASE_KIND_ELASTIC_KERNEL epochs: 1 learning_rate: 0.2
               subnets_per_step: 1 kd_ratio: 1 kernel_sizes: [3, 5, 7] }
      phases { name: "depth" kind: PHASE_KIND_ELASTIC_DEPTH epochs: 1 learning_rate: 0.1
               subnets_per_step: 2 kd_ratio: 1 kernel_sizes: [3, 5, 7] depths: [2, 3, 4] }
      phases { name: "expand" kind: PHASE_KIND_ELASTIC_EXPAND epochs: 1 learning_rate: 0.1
               subnets_per_step: 2 kd_ratio: 1 kernel_sizes: [3, 5, 7] depths: [2, 3, 4]
               expand_ratios: [4, 6] }
    })pb",
                                                            &spec));
  return spec;
}

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  fs::remove_all(dir);
  return dir;
}

JobRunOptions Options(const std::string& dir, ProgressReporter* progress) {
  JobRunOptions options;
  options.output_dir = dir;
  options.threads = 2;
  options.evaluate = false;
  options.checkpoint_every_steps = 2;
  options.progress = progress;
  return options;
}

OfaSupernet FinalWeights(const ofa::v1::JobSpec& spec, const std::string& dir,
                         const std::string& phase = "expand") {
  OfaSupernet model(SupernetArchitecture::FromSpec(spec.supernet(), 10).value());
  CheckpointStore store(dir + "/phases/" + phase);
  CheckpointData data{model.get(), nullptr, {}};
  EXPECT_TRUE(store.Load("final", data).ok());
  return model;
}

void ExpectSameWeights(OfaSupernet a, OfaSupernet b) {
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  }
  auto ba = a->named_buffers(), bb = b->named_buffers();
  for (const auto& item : ba) {
    EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
  }
}

class ResumeTest : public ::testing::TestWithParam<std::pair<const char*, int>> {};

TEST_P(ResumeTest, InterruptedAndResumedEqualsUninterrupted) {
  const ofa::v1::JobSpec spec = TinyJob();
  ProgressReporter quiet(nullptr, "");
  const std::string straight = FreshDir(std::string("straight_") + GetParam().first);
  ASSERT_TRUE(RunJob(spec, Options(straight, &quiet)).ok());

  const std::string interrupted = FreshDir(std::string("interrupted_") + GetParam().first);
  JobRunOptions stop = Options(interrupted, &quiet);
  stop.stop_phase = GetParam().first;
  stop.stop_after_step = GetParam().second;
  absl::StatusOr<std::vector<PhaseSummary>> first = RunJob(spec, stop);
  ASSERT_EQ(first.status().code(), absl::StatusCode::kAborted) << first.status();
  // The phase left a periodic checkpoint older than where it stopped: resume replays steps.
  CheckpointStore store(interrupted + "/phases/" + GetParam().first);
  ASSERT_FALSE(store.Verify("final").ok());

  const std::string log = ::testing::TempDir() + "/resume_progress.jsonl";
  fs::remove(log);
  ProgressReporter recorded(nullptr, log);
  absl::StatusOr<std::vector<PhaseSummary>> second = RunJob(spec, Options(interrupted, &recorded));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE((*second)[0].skipped);  // "full" was already done.

  ExpectSameWeights(FinalWeights(spec, straight), FinalWeights(spec, interrupted));
}

// Guards the test above against passing trivially (e.g. if nothing trained).
TEST(JobRunnerTest, AnotherSeedEndsWithOtherWeights) {
  ofa::v1::JobSpec spec = TinyJob();
  ProgressReporter quiet(nullptr, "");
  const std::string a = FreshDir("seed_a"), b = FreshDir("seed_b");
  ASSERT_TRUE(RunJob(spec, Options(a, &quiet)).ok());
  spec.set_seed(6);
  ASSERT_TRUE(RunJob(spec, Options(b, &quiet)).ok());
  EXPECT_FALSE(torch::equal(FinalWeights(spec, a)->classifier->weight,
                            FinalWeights(spec, b)->classifier->weight));
}

// resources.cpu_batch_shards: an interrupted sharded run resumes exactly (the shards of a
// batch run in turn, see train_step.cc), and sharding changes what is trained.
TEST(JobRunnerTest, ShardedTrainingResumesExactly) {
  ofa::v1::JobSpec spec = TinyJob();
  spec.mutable_supernet()->clear_dropout_rate();
  spec.mutable_resources()->set_cpu_batch_shards(2);
  ProgressReporter quiet(nullptr, "");
  const std::string sharded = FreshDir("shards_uninterrupted");
  ASSERT_TRUE(RunJob(spec, Options(sharded, &quiet)).ok());

  const std::string interrupted = FreshDir("shards_interrupted");
  JobRunOptions stop = Options(interrupted, &quiet);
  stop.stop_phase = "expand";
  stop.stop_after_step = 3;
  ASSERT_EQ(RunJob(spec, stop).status().code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(RunJob(spec, Options(interrupted, &quiet)).ok());
  ExpectSameWeights(FinalWeights(spec, sharded), FinalWeights(spec, interrupted));

  // Not trivially equal: whole-batch BN statistics train other weights.
  const std::string whole = FreshDir("shards_none");
  spec.mutable_resources()->clear_cpu_batch_shards();
  ASSERT_TRUE(RunJob(spec, Options(whole, &quiet)).ok());
  EXPECT_FALSE(torch::equal(FinalWeights(spec, sharded, "full")->classifier->weight,
                            FinalWeights(spec, whole, "full")->classifier->weight));
}

INSTANTIATE_TEST_SUITE_P(StopPoints, ResumeTest,
                         ::testing::Values(std::make_pair("kernel", 3),
                                           std::make_pair("expand", 3)));

TEST(JobRunnerTest, ExportsTheLargestAndSmallestSubnets) {
  const ofa::v1::JobSpec spec = TinyJob();
  ProgressReporter quiet(nullptr, "");
  const std::string dir = FreshDir("exports");
  JobRunOptions options = Options(dir, &quiet);
  options.evaluate = true;
  options.calibration_batches = 2;
  absl::StatusOr<std::vector<PhaseSummary>> phases = RunJob(spec, options);
  ASSERT_TRUE(phases.ok()) << phases.status();
  ASSERT_EQ(phases->size(), 4u);
  for (const PhaseSummary& p : *phases) {
    EXPECT_GE(p.largest_top1, 0.0) << p.name;
    EXPECT_GT(p.training_flops, 0.0) << p.name;
  }
  for (const char* name : {"largest", "smallest"}) {
    absl::StatusOr<StandaloneSubnet> subnet = LoadStandaloneSubnet(dir + "/export/" + name);
    ASSERT_TRUE(subnet.ok()) << subnet.status();
    torch::NoGradGuard no_grad;
    EXPECT_EQ((*subnet)(torch::randn({2, 1, 28, 28})).sizes(), torch::IntArrayRef({2, 10}));
  }
}

TEST(JobRunnerTest, InvalidSpecIsRejectedBeforeAnyWork) {
  ofa::v1::JobSpec spec = TinyJob();
  spec.mutable_schedule()->mutable_phases(1)->set_epochs(0);
  ProgressReporter quiet(nullptr, "");
  const std::string dir = FreshDir("invalid");
  absl::StatusOr<std::vector<PhaseSummary>> phases = RunJob(spec, Options(dir, &quiet));
  EXPECT_EQ(phases.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(phases.status().message()), ::testing::HasSubstr("phases[1].epochs"));
  EXPECT_FALSE(fs::exists(dir));
}

// A JPEG image folder trains end to end: RGB input, decoding, random-resized crops, the
// evaluation on val/; an undecodable file fails the job with its name rather than crashing.
TEST(JobRunnerTest, TrainsOnAJpegImageFolder) {
  const std::string root = FreshDir("jpeg_folder");
  for (const char* split : {"train", "val"}) {
    for (int label = 0; label < 3; ++label) {
      const fs::path dir = fs::path(root) / split / ("class" + std::to_string(label));
      fs::create_directories(dir);
      for (int i = 0; i < 6; ++i) {
        RgbImage image{36 + 4 * i, 32, std::vector<uint8_t>((36 + 4 * i) * 32 * 3)};
        for (size_t p = 0; p < image.pixels.size(); ++p) {
          image.pixels[p] = static_cast<uint8_t>(p % 3 == static_cast<size_t>(label) ? 200 : 40);
        }
        ASSERT_TRUE(EncodeJpegFile(image, (dir / (std::to_string(i) + ".jpg")).string()).ok());
      }
    }
  }
  ofa::v1::JobSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "folder"
    supernet { preset: "ofa_small_28" width_multiplier: 0.25 input_channels: 3 }
    dataset { kind: DATASET_KIND_IMAGE_FOLDER root: "jpeg_folder" batch_size_per_device: 6
              loader_threads: 2 }
    schedule {
      phases { name: "full" kind: PHASE_KIND_FULL epochs: 2 learning_rate: 0.5
               subnets_per_step: 1 }
    })pb",
                                                          &spec));
  ProgressReporter quiet(nullptr, "");
  JobRunOptions options = Options(FreshDir("folder_out"), &quiet);
  options.data_root = ::testing::TempDir();
  options.evaluate = true;
  options.calibration_batches = 1;
  absl::StatusOr<std::vector<PhaseSummary>> phases = RunJob(spec, options);
  ASSERT_TRUE(phases.ok()) << phases.status();
  EXPECT_EQ((*phases)[0].steps, 6);  // 18 images / batch 6 x 2 epochs
  EXPECT_GE((*phases)[0].largest_top1, 0.0);

  ofa::v1::JobSpec grey = spec;
  grey.mutable_supernet()->set_input_channels(1);
  options.output_dir = FreshDir("folder_grey_out");
  EXPECT_THAT(std::string(RunJob(grey, options).status().message()),
              ::testing::HasSubstr("supernet.input_channels: the supernet takes 1 channel(s) "
                                   "but the data set has 3"));

  std::ofstream(root + "/train/class1/3.jpg", std::ios::trunc) << "not a jpeg";
  options.output_dir = FreshDir("folder_corrupt_out");
  absl::StatusOr<std::vector<PhaseSummary>> broken = RunJob(spec, options);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kDataLoss) << broken.status();
  EXPECT_THAT(std::string(broken.status().message()), ::testing::HasSubstr("class1/3.jpg"));
}

}  // namespace
}  // namespace ofa::trainer
