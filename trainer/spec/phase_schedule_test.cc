#include "trainer/spec/phase_schedule.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ofa::trainer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<int> Ints(const google::protobuf::RepeatedField<int32_t>& values) {
  return {values.begin(), values.end()};
}

ofa::v1::JobSpec SpecFor(const char* preset) {
  ofa::v1::JobSpec spec;
  spec.set_name("job");
  spec.mutable_supernet()->set_preset(preset);
  return spec;
}

TEST(ResolveScheduleTest, DefaultFollowsThePaperOrderAndShrinksLists) {
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases =
      ResolveSchedule(SpecFor("ofa_mbv3_w1.0"));
  ASSERT_TRUE(phases.ok()) << phases.status();
  std::vector<std::string> names;
  for (const auto& p : *phases) names.push_back(p.name());
  EXPECT_THAT(names, ElementsAre("full", "elastic_kernel", "elastic_depth_1", "elastic_depth_2",
                                 "elastic_expand_1", "elastic_expand_2"));
  const auto& p = *phases;
  EXPECT_EQ(p[0].epochs(), 180);
  EXPECT_TRUE(p[0].kernel_sizes().empty());  // Full network: everything at its maximum.
  EXPECT_DOUBLE_EQ(p[0].kd_ratio(), 0.0);
  EXPECT_THAT(Ints(p[1].kernel_sizes()), ElementsAre(3, 5, 7));
  EXPECT_TRUE(p[1].depths().empty());
  EXPECT_THAT(Ints(p[2].depths()), ElementsAre(3, 4));
  EXPECT_THAT(Ints(p[3].depths()), ElementsAre(2, 3, 4));
  EXPECT_TRUE(p[3].expand_ratios().empty());
  EXPECT_THAT(Ints(p[4].expand_ratios()), ElementsAre(4, 6));
  EXPECT_THAT(Ints(p[4].depths()), ElementsAre(2, 3, 4));
  EXPECT_THAT(Ints(p[5].expand_ratios()), ElementsAre(3, 4, 6));
  // Sub-nets per step as in the authors' train_ofa_net.py: kernel 1, depth 2, expand 4.
  EXPECT_EQ(p[1].subnets_per_step(), 1);
  EXPECT_EQ(p[3].subnets_per_step(), 2);
  EXPECT_EQ(p[4].subnets_per_step(), 4);
  EXPECT_EQ(p[5].subnets_per_step(), 4);
  EXPECT_DOUBLE_EQ(p[5].kd_ratio(), 1.0);
  EXPECT_DOUBLE_EQ(p[1].warmup_epochs(), 5.0);
  EXPECT_DOUBLE_EQ(p[2].warmup_epochs(), 0.0);
}

TEST(ResolveScheduleTest, WarmupScalesWithThePresetsShorterEpochs) {
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases =
      ResolveSchedule(SpecFor("ofa_small_28"));
  ASSERT_TRUE(phases.ok()) << phases.status();
  EXPECT_EQ((*phases)[1].epochs(), 2);
  EXPECT_DOUBLE_EQ((*phases)[1].warmup_epochs(), 5.0 * 2 / 120);
}

TEST(ResolveScheduleTest, CustomSearchSpaceShrinksTheSameWay) {
  ofa::v1::JobSpec spec = SpecFor("ofa_small_28");
  spec.mutable_supernet()->add_depths(1);
  spec.mutable_supernet()->add_depths(2);
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ResolveSchedule(spec);
  ASSERT_TRUE(phases.ok()) << phases.status();
  EXPECT_THAT(Ints((*phases)[2].depths()), ElementsAre(1, 2));
}

TEST(ResolveScheduleTest, TargetsAddASpecializePhase) {
  ofa::v1::JobSpec spec = SpecFor("ofa_small_28");
  spec.add_targets()->set_name("edge");
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ResolveSchedule(spec);
  ASSERT_TRUE(phases.ok()) << phases.status();
  ASSERT_EQ(phases->size(), 7u);
  EXPECT_EQ(phases->back().kind(), ofa::v1::PHASE_KIND_SPECIALIZE);
}

TEST(ResolveScheduleTest, OverridesChangeOnlyTheFieldsTheySet) {
  ofa::v1::JobSpec spec = SpecFor("ofa_mbv3_w1.0");
  ofa::v1::PhaseOverride* o = spec.mutable_schedule()->add_overrides();
  o->set_phase("elastic_depth_2");
  o->set_epochs(7);
  o->set_kd_ratio(0.0);
  o->set_sandwich(true);
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ResolveSchedule(spec);
  ASSERT_TRUE(phases.ok()) << phases.status();
  const ofa::v1::PhaseSpec& p = (*phases)[3];
  EXPECT_EQ(p.epochs(), 7);
  EXPECT_DOUBLE_EQ(p.kd_ratio(), 0.0);  // Explicitly set to zero: presence is tracked.
  EXPECT_DOUBLE_EQ(p.learning_rate(), 0.03);
  EXPECT_EQ(p.subnets_per_step(), 2);
  EXPECT_TRUE(p.sandwich());
  EXPECT_FALSE((*phases)[5].sandwich());  // The paper samples uniformly.
}

TEST(ResolveScheduleTest, UnknownPresetNamesTheField) {
  absl::StatusOr<std::vector<ofa::v1::PhaseSpec>> phases = ResolveSchedule(SpecFor("nope"));
  ASSERT_FALSE(phases.ok());
  EXPECT_THAT(phases.status().message(), HasSubstr("supernet.preset: unknown supernet preset"));
}

TEST(ResolveSupernetTest, FillsOnlyUnsetFields) {
  ofa::v1::SupernetSpec spec;
  spec.set_preset("ofa_mbv3_w1.2");
  spec.add_resolutions(160);
  absl::StatusOr<ofa::v1::SupernetSpec> resolved = ResolveSupernet(spec);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_DOUBLE_EQ(resolved->width_multiplier(), 1.2);
  EXPECT_THAT(Ints(resolved->resolutions()), ElementsAre(160));
  EXPECT_THAT(Ints(resolved->expand_ratios()), ElementsAre(3, 4, 6));
  EXPECT_EQ(resolved->input_channels(), 3);
  EXPECT_EQ(resolved->num_classes(), 0);
}

}  // namespace
}  // namespace ofa::trainer
