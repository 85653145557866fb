#include "trainer/spec/job_spec_io.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/spec/job_spec_validation.h"

namespace ofa::trainer {
namespace {

using ::testing::HasSubstr;

std::string WriteTempFile(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

TEST(JobSpecIoTest, ParsesJsonWithEnumNamesAndBothFieldNameStyles) {
  absl::StatusOr<ofa::v1::JobSpec> spec = ParseJobSpecJson(R"({
      "name": "demo",
      "supernet": {"preset": "ofa_small_28"},
      "dataset": {"kind": "DATASET_KIND_FASHION_MNIST", "validationFraction": 0.1},
      "schedule": {"overrides": [{"phase": "full", "epochs": 3}]},
      "labels": {"team": "green"}})",
                                                           "inline");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->dataset().kind(), ofa::v1::DATASET_KIND_FASHION_MNIST);
  EXPECT_DOUBLE_EQ(spec->dataset().validation_fraction(), 0.1);
  ASSERT_EQ(spec->schedule().overrides_size(), 1);
  EXPECT_TRUE(spec->schedule().overrides(0).has_epochs());
  EXPECT_EQ(spec->labels().at("team"), "green");
}

TEST(JobSpecIoTest, RejectsUnknownFieldsNamingTheSource) {
  absl::StatusOr<ofa::v1::JobSpec> spec =
      ParseJobSpecJson(R"({"name": "x", "supernett": {}})", "job.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("job.json: not a valid JobSpec"));
  EXPECT_THAT(spec.status().message(), HasSubstr("supernett"));
}

TEST(JobSpecIoTest, TextFormatErrorsCarryTheLine) {
  std::string path = WriteTempFile("bad.textproto", "name: \"x\"\nsupernet { preset: 7 }\n");
  absl::StatusOr<ofa::v1::JobSpec> spec = ReadJobSpecFile(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr("line 2:"));
}

TEST(JobSpecIoTest, MissingFileAndUnknownExtension) {
  EXPECT_EQ(ReadJobSpecFile("/nonexistent/job.json").status().code(),
            absl::StatusCode::kNotFound);
  std::string path = WriteTempFile("job.yaml", "name: x\n");
  EXPECT_THAT(ReadJobSpecFile(path).status().message(), HasSubstr("unknown job spec format"));
}

TEST(JobSpecIoTest, RoundTripsThroughJson) {
  ofa::v1::JobSpec spec;
  spec.set_name("round trip");
  spec.set_seed(42);
  spec.mutable_supernet()->set_preset("ofa_mbv3_w1.0");
  spec.mutable_carbon()->mutable_deadline_slack()->set_seconds(3600);
  absl::StatusOr<ofa::v1::JobSpec> parsed = ParseJobSpecJson(JobSpecToJson(spec), "round trip");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->SerializeAsString(), spec.SerializeAsString());
}

// The spec the README's demo command runs must always be valid.
TEST(JobSpecIoTest, ShippedDemoSpecIsValid) {
  absl::StatusOr<ofa::v1::JobSpec> spec =
      ReadJobSpecFile("deploy/local/fashion_mnist_job.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(ValidateJobSpec(*spec).ok()) << ValidateJobSpec(*spec);
}

}  // namespace
}  // namespace ofa::trainer
