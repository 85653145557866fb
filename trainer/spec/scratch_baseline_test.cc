#include "trainer/spec/scratch_baseline.h"

#include <gtest/gtest.h>

#include "trainer/spec/job_spec_validation.h"
#include "trainer/spec/phase_schedule.h"

namespace ofa::trainer {
namespace {

ofa::v1::JobSpec SmallJob() {
  ofa::v1::JobSpec spec;
  spec.set_name("fm");
  spec.mutable_supernet()->set_preset("ofa_mbv3_w1.0");
  spec.mutable_dataset()->set_kind(ofa::v1::DATASET_KIND_SYNTHETIC);
  ofa::v1::SyntheticDataset* data = spec.mutable_dataset()->mutable_synthetic();
  data->set_train_images(64);
  data->set_test_images(16);
  data->set_image_size(32);
  data->set_channels(3);
  data->set_num_classes(10);
  spec.add_targets()->set_name("phone");
  spec.mutable_targets(0)->set_max_macs(200000000);
  ofa::v1::PhaseOverride* o = spec.mutable_schedule()->add_overrides();
  o->set_phase("elastic_kernel");
  o->set_epochs(7);
  return spec;
}

TEST(ScratchBaselineTest, PinsTheSmallestArchitectureForTheWholeScheduleLength) {
  const ofa::v1::JobSpec spec = SmallJob();
  ASSERT_TRUE(ValidateJobSpec(spec).ok()) << ValidateJobSpec(spec);
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> original = ResolveSchedule(spec);
  ASSERT_TRUE(original.ok());
  int epochs = 0;
  for (const auto& p : *original) epochs += p.epochs();

  absl::StatusOr<ofa::v1::JobSpec> baseline = ScratchBaselineJob(spec, "smallest");
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  EXPECT_EQ(baseline->name(), "fm-scratch-smallest");
  EXPECT_TRUE(baseline->targets().empty());
  EXPECT_TRUE(ValidateJobSpec(*baseline).ok()) << ValidateJobSpec(*baseline);
  ASSERT_EQ(baseline->schedule().phases_size(), 1);
  const ofa::v1::PhaseSpec& phase = baseline->schedule().phases(0);
  EXPECT_EQ(phase.kind(), ofa::v1::PHASE_KIND_FULL);
  EXPECT_EQ(phase.epochs(), epochs);  // The override of elastic_kernel is counted.
  EXPECT_EQ(phase.learning_rate(), (*original)[0].learning_rate());
  EXPECT_EQ(phase.kd_ratio(), 0);
  EXPECT_EQ(std::vector<int>(phase.kernel_sizes().begin(), phase.kernel_sizes().end()),
            std::vector<int>{3});
  EXPECT_EQ(std::vector<int>(phase.depths().begin(), phase.depths().end()), std::vector<int>{2});
  EXPECT_EQ(std::vector<int>(phase.expand_ratios().begin(), phase.expand_ratios().end()),
            std::vector<int>{3});
  EXPECT_EQ(std::vector<int>(baseline->supernet().resolutions().begin(),
                             baseline->supernet().resolutions().end()),
            std::vector<int>{128});
}

TEST(ScratchBaselineTest, LargestPinsTheMaximumOfEveryChoice) {
  absl::StatusOr<ofa::v1::JobSpec> baseline = ScratchBaselineJob(SmallJob(), "largest");
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  const ofa::v1::PhaseSpec& phase = baseline->schedule().phases(0);
  EXPECT_EQ(phase.kernel_sizes(0), 7);
  EXPECT_EQ(phase.depths(0), 4);
  EXPECT_EQ(phase.expand_ratios(0), 6);
  EXPECT_EQ(baseline->supernet().resolutions(0), 224);
}

TEST(ScratchBaselineTest, RejectsAnUnknownArchitectureByName) {
  absl::StatusOr<ofa::v1::JobSpec> baseline = ScratchBaselineJob(SmallJob(), "median");
  EXPECT_EQ(baseline.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(baseline.status().message().find("\"median\""), std::string::npos);
}

}  // namespace
}  // namespace ofa::trainer
