#include "trainer/spec/job_spec_validation.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

ofa::v1::JobSpec ValidSpec() {
  ofa::v1::JobSpec spec;
  spec.set_name("fashion-mnist small");
  spec.mutable_supernet()->set_preset("ofa_small_28");
  spec.mutable_dataset()->set_kind(ofa::v1::DATASET_KIND_FASHION_MNIST);
  ofa::v1::DeploymentTarget* target = spec.add_targets();
  target->set_name("phone");
  target->set_max_macs(2'000'000);
  return spec;
}

std::string ErrorOf(const ofa::v1::JobSpec& spec) {
  absl::Status status = ValidateJobSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(ValidateJobSpecTest, AcceptsMinimalSpecWithDefaults) {
  EXPECT_TRUE(ValidateJobSpec(ValidSpec()).ok()) << ValidateJobSpec(ValidSpec());
}

TEST(ValidateJobSpecTest, AcceptsEveryPreset) {
  for (const char* preset : {"ofa_mbv3_w1.0", "ofa_mbv3_w1.2", "ofa_small_28"}) {
    ofa::v1::JobSpec spec = ValidSpec();
    spec.mutable_supernet()->set_preset(preset);
    EXPECT_TRUE(ValidateJobSpec(spec).ok()) << preset << ": " << ValidateJobSpec(spec);
  }
}

TEST(ValidateJobSpecTest, RejectsEmptyName) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.clear_name();
  EXPECT_THAT(ErrorOf(spec), HasSubstr("name: is required"));
}

TEST(ValidateJobSpecTest, RejectsNonPrintableName) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.set_name(std::string("bad\0name", 8));
  EXPECT_THAT(ErrorOf(spec), HasSubstr("name: must be 1-128 printable characters"));
}

TEST(ValidateJobSpecTest, RejectsUnknownPresetAndListsKnownOnes) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.mutable_supernet()->set_preset("resnet9000");
  EXPECT_THAT(ErrorOf(spec), AllOf(HasSubstr("supernet.preset: unknown supernet preset "
                                             "\"resnet9000\""),
                                   HasSubstr("ofa_mbv3_w1.0")));
}

TEST(ValidateJobSpecTest, RejectsNonPositiveEpochsInOverride) {
  ofa::v1::JobSpec spec = ValidSpec();
  ofa::v1::PhaseOverride* o = spec.mutable_schedule()->add_overrides();
  o->set_phase("elastic_kernel");
  o->set_epochs(0);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("schedule.phases[1].epochs: must be in [1, 10000], "
                                       "got 0"));
}

TEST(ValidateJobSpecTest, RejectsNegativeEpochsInExplicitPhase) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.clear_targets();
  ofa::v1::PhaseSpec* phase = spec.mutable_schedule()->add_phases();
  phase->set_name("full");
  phase->set_kind(ofa::v1::PHASE_KIND_FULL);
  phase->set_epochs(-3);
  phase->set_learning_rate(0.1);
  phase->set_subnets_per_step(1);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("schedule.phases[0].epochs: must be in [1, 10000], "
                                       "got -3"));
}

TEST(ValidateJobSpecTest, RejectsOverrideOfUnknownPhase) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.mutable_schedule()->add_overrides()->set_phase("elastic_width");
  EXPECT_THAT(ErrorOf(spec), AllOf(HasSubstr("schedule.overrides[0].phase: no phase named "
                                             "\"elastic_width\""),
                                   HasSubstr("elastic_expand_2")));
}

TEST(ValidateJobSpecTest, RejectsPhaseChoicesOutsideTheSupernet) {
  ofa::v1::JobSpec spec = ValidSpec();
  ofa::v1::PhaseOverride* o = spec.mutable_schedule()->add_overrides();
  o->set_phase("elastic_kernel");
  o->add_kernel_sizes(3);
  o->add_kernel_sizes(9);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("schedule.phases[1].kernel_sizes[1]: 9 is not in "
                                       "supernet.kernel_sizes [3,5,7]"));
}

TEST(ValidateJobSpecTest, RejectsUnsortedAndEvenKernelSizes) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.mutable_supernet()->add_kernel_sizes(4);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("supernet.kernel_sizes[0]: must be an odd kernel size"));
  spec.mutable_supernet()->clear_kernel_sizes();
  spec.mutable_supernet()->add_kernel_sizes(5);
  spec.mutable_supernet()->add_kernel_sizes(3);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("supernet.kernel_sizes: must be ascending"));
}

TEST(ValidateJobSpecTest, RequiresDatasetKindAndConfinesRoot) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.mutable_dataset()->clear_kind();
  EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.kind: is required"));
  for (const char* root : {"/etc", "../secrets", "a/../../b", "a//b"}) {
    spec = ValidSpec();
    spec.mutable_dataset()->set_root(root);
    EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.root: must be a relative path")) << root;
  }
  spec = ValidSpec();
  spec.mutable_dataset()->set_root("imagenet/train-2012");
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
  spec.mutable_dataset()->set_augmentation(static_cast<ofa::v1::Augmentation>(9));
  EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.augmentation: unknown value 9"));
}

TEST(ValidateJobSpecTest, SpecializeNeedsTargetsAndTargetsNeedBudgets) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.mutable_targets(0)->clear_max_macs();
  EXPECT_THAT(ErrorOf(spec), HasSubstr("targets[0]: needs at least one budget"));
  spec = ValidSpec();
  *spec.add_targets() = spec.targets(0);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("targets[1].name: duplicate target name \"phone\""));
  spec = ValidSpec();
  spec.mutable_targets(0)->set_onnx_batch_size(-2);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("targets[0].onnx_batch_size"));
  spec.mutable_targets(0)->set_onnx_batch_size(8);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
}

TEST(ValidateJobSpecTest, LatencyBudgetsNeedAMatchingTable) {
  ofa::v1::JobSpec spec = ValidSpec();
  ofa::v1::DeploymentTarget* t = spec.mutable_targets(0);
  t->set_max_latency_ms(5);
  t->set_latency_table("pixel");
  EXPECT_THAT(ErrorOf(spec), HasSubstr("targets[0].latency_table: no latency table named "
                                       "\"pixel\""));
  ofa::v1::LatencyTable* table = spec.add_latency_tables();
  table->set_name("pixel");
  table->set_batch_size(8);
  (*table->mutable_layer_ms())["stem:in1:out8:s2:r28"] = 0.1;
  EXPECT_THAT(ErrorOf(spec), HasSubstr("targets[0].latency_batch_size: is 1 but latency table "
                                       "\"pixel\" was measured at batch size 8"));
  t->set_latency_batch_size(8);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
  (*table->mutable_layer_ms())["head"] = -1;
  *spec.add_latency_tables() = *table;
  const std::string error = ErrorOf(spec);
  EXPECT_THAT(error, HasSubstr("latency_tables[0].layer_ms: layer \"head\": -1 ms"));
  EXPECT_THAT(error, HasSubstr("latency_tables[1].name: duplicate latency table \"pixel\""));
  spec = ValidSpec();
  spec.mutable_specialize()->set_predictor_samples(5);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("specialize.predictor_samples: the accuracy predictor "
                                       "needs at least 10, got 5"));
  spec = ValidSpec();
  spec.mutable_specialize()->set_finalists(-1);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("specialize.finalists: must be in [0, 1000], got -1"));
}

TEST(ValidateJobSpecTest, FirstPhaseMustBeFullAndSpecializeLast) {
  ofa::v1::JobSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "custom"
    supernet { preset: "ofa_small_28" }
    dataset { kind: DATASET_KIND_SYNTHETIC
              synthetic { train_images: 64 test_images: 16 image_size: 28 channels: 1
                          num_classes: 10 } }
    targets { name: "tiny" max_params: 100000 }
    schedule {
      phases { name: "specialize" kind: PHASE_KIND_SPECIALIZE }
      phases { name: "kernel" kind: PHASE_KIND_ELASTIC_KERNEL epochs: 1 learning_rate: 0.1
               subnets_per_step: 9 kernel_sizes: [3, 5] }
      phases { name: "depth" kind: PHASE_KIND_ELASTIC_DEPTH epochs: 1 learning_rate: 0.1
               subnets_per_step: 1 sandwich: true depths: [3, 4] }
    })pb",
                                                            &spec));
  EXPECT_THAT(ErrorOf(spec),
              AllOf(HasSubstr("schedule.phases[0].kind: the first phase must train the full "
                              "network"),
                    HasSubstr("schedule.phases[0].kind: specialize must be last"),
                    HasSubstr("schedule.phases[1].subnets_per_step: must be in [1, 8], got 9"),
                    HasSubstr("schedule.phases[2].sandwich: the sandwich rule trains the largest "
                              "and the smallest sub-net every step: it needs subnets_per_step "
                              ">= 2"),
                    HasSubstr("deployment targets are set but the schedule does not end with "
                              "a specialize phase")));
}

TEST(ValidateJobSpecTest, ReportsEveryProblemAtOnce) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.set_priority(5000);
  spec.mutable_carbon()->set_pue(0.5);
  spec.mutable_resources()->set_workers(2);
  spec.mutable_resources()->set_min_workers(3);
  (*spec.mutable_labels())["Team"] = "x";
  const std::string error = ErrorOf(spec);
  EXPECT_THAT(error, AllOf(HasSubstr("priority: must be in [-1000, 1000], got 5000"),
                           HasSubstr("carbon.pue: must be in [1, 3], got 0.5"),
                           HasSubstr("resources.min_workers: must be in [0, workers=2], got 3"),
                           HasSubstr("labels[\"Team\"]: key must match")));
  EXPECT_THAT(error, Not(HasSubstr("name:")));
}

TEST(ValidateJobSpecTest, RejectsNonFiniteNumbers) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.mutable_schedule()->mutable_optimizer()->set_weight_decay(std::nan(""));
  ofa::v1::PhaseOverride* o = spec.mutable_schedule()->add_overrides();
  o->set_phase("full");
  o->set_learning_rate(std::numeric_limits<double>::infinity());
  EXPECT_THAT(ErrorOf(spec), AllOf(HasSubstr("schedule.optimizer.weight_decay: must be in"),
                                   HasSubstr("schedule.phases[0].learning_rate: must be in "
                                             "(0, 100], got inf")));
}

TEST(ValidateJobSpecTest, BatchShardsFitTheBatchAndOnlyOnCpu) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.mutable_resources()->set_cpu_batch_shards(2);
  EXPECT_TRUE(ValidateJobSpec(spec).ok()) << ValidateJobSpec(spec);
  spec.mutable_dataset()->set_batch_size_per_device(16);
  spec.mutable_resources()->set_cpu_batch_shards(32);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("resources.cpu_batch_shards: must be at most "
                                       "dataset.batch_size_per_device (16), got 32"));
  spec.mutable_resources()->set_cpu_batch_shards(65);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("resources.cpu_batch_shards: must be in [0, 64], got 65"));
  spec.mutable_resources()->set_cpu_batch_shards(2);
  spec.mutable_resources()->set_device_kind(ofa::v1::DEVICE_KIND_CUDA);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("resources.cpu_batch_shards: applies to CPU devices "
                                       "only, got 2 with CUDA"));
}

TEST(ValidateJobSpecTest, FixedIntensityNeedsAPositiveValue) {
  ofa::v1::JobSpec spec = ValidSpec();
  spec.mutable_carbon()->set_intensity_source(ofa::v1::INTENSITY_SOURCE_FIXED);
  EXPECT_THAT(ErrorOf(spec), HasSubstr("carbon.fixed_intensity_g_per_kwh: must be in (0, 5000]"));
  spec.mutable_carbon()->set_fixed_intensity_g_per_kwh(350);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
}

}  // namespace
}  // namespace ofa::trainer
