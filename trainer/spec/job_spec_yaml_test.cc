#include "trainer/spec/job_spec_yaml.h"

#include <fstream>
#include <random>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/spec/job_spec_io.h"
#include "trainer/spec/job_spec_validation.h"

namespace ofa::trainer {
namespace {

using ::testing::HasSubstr;

constexpr char kSpec[] = R"yaml(# The demo job, in YAML.
name: fashion-mnist-small
supernet: {preset: ofa_small_28}
dataset:
  kind: DATASET_KIND_FASHION_MNIST
  validationFraction: 0.1
  batch_size_per_device: 128
resources: {workers: 2, devices_per_worker: 1, device_kind: DEVICE_KIND_CPU}
checkpoint:
  retry_backoff: 1.5s
schedule:
  overrides:
    - phase: full
      epochs: 2
      depths: [2, 3]
targets:
  - {name: edge, max_macs: 1370000}
labels: {team: vision}
seed: 7
)yaml";

TEST(JobSpecYamlTest, MapsEveryKindOfField) {
  absl::StatusOr<ParsedJobSpec> parsed = ParseJobSpecYaml(kSpec, "spec.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ofa::v1::JobSpec& spec = parsed->spec;
  EXPECT_EQ(spec.name(), "fashion-mnist-small");
  EXPECT_EQ(spec.dataset().kind(), ofa::v1::DATASET_KIND_FASHION_MNIST);
  EXPECT_DOUBLE_EQ(spec.dataset().validation_fraction(), 0.1);  // JSON name accepted.
  EXPECT_EQ(spec.resources().workers(), 2);
  EXPECT_EQ(spec.checkpoint().retry_backoff().seconds(), 1);
  EXPECT_EQ(spec.checkpoint().retry_backoff().nanos(), 500000000);
  ASSERT_EQ(spec.schedule().overrides_size(), 1);
  EXPECT_EQ(spec.schedule().overrides(0).epochs(), 2);
  EXPECT_THAT(spec.schedule().overrides(0).depths(), ::testing::ElementsAre(2, 3));
  EXPECT_EQ(spec.targets(0).max_macs(), 1370000);
  EXPECT_EQ(spec.labels().at("team"), "vision");
  EXPECT_EQ(spec.seed(), 7u);
  EXPECT_EQ(parsed->lines.at("resources"), 8);
  EXPECT_EQ(parsed->lines.at("schedule.overrides[0].epochs"), 14);
  EXPECT_TRUE(ValidateJobSpec(spec).ok()) << ValidateJobSpec(spec);
}

TEST(JobSpecYamlTest, TheDemoJsonSpecParsesToTheSameMessage) {
  std::ifstream in("deploy/local/fashion_mnist_job.json");
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<ParsedJobSpec> yaml = ParseJobSpecYaml(text.str(), "demo.json");
  absl::StatusOr<ofa::v1::JobSpec> json = ParseJobSpecJson(text.str(), "demo.json");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(yaml->spec.SerializeAsString(), json->SerializeAsString());
}

TEST(JobSpecYamlTest, ErrorsNameTheLineAndTheField) {
  auto error = [](const std::string& text) {
    return std::string(ParseJobSpecYaml(text, "s.yaml").status().message());
  };
  EXPECT_EQ(error("name: x\nsupernett: {}\n"), "s.yaml:2: supernett: no such field in JobSpec");
  EXPECT_EQ(error("name: x\nresources:\n  workers: two\n"),
            "s.yaml:3: resources.workers: expected a 32-bit integer, got \"two\"");
  EXPECT_THAT(error("dataset: {kind: MNIST}\n"),
              HasSubstr("s.yaml:1: dataset.kind: unknown value \"MNIST\"; expected one of "
                        "DATASET_KIND_FASHION_MNIST"));
  EXPECT_EQ(error("targets: {name: x}\n"), "s.yaml:1: targets: expected a list");
  EXPECT_THAT(error("name: [unclosed\n"), HasSubstr("not valid YAML or JSON"));
  EXPECT_THAT(error("checkpoint: {interval: soon}\n"),
              HasSubstr("checkpoint.interval: expected a duration"));
}

TEST(JobSpecYamlTest, ValidatorFindingsGetLineNumbers) {
  absl::StatusOr<ParsedJobSpec> parsed = ParseJobSpecYaml(
      "name: x\nsupernet: {preset: ofa_small_28}\n"
      "dataset: {kind: DATASET_KIND_SYNTHETIC}\nresources:\n  workers: -1\n",
      "s.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const absl::Status valid = ValidateJobSpec(parsed->spec);
  ASSERT_FALSE(valid.ok());
  EXPECT_THAT(AnnotateLines(std::string(valid.message()), parsed->lines),
              HasSubstr("resources.workers (line 5): "));
}

// A property test in place of a fuzzer: any mutation of a valid spec (bytes flipped, cut,
// duplicated) is parsed or refused with a message, never a crash or a hang.
TEST(JobSpecYamlTest, MutatedSpecsNeverCrash) {
  std::mt19937 rng(12345);
  const std::string base = kSpec;
  const std::string alphabet = "{}[]:,-#&*!|>'\"%@` \n\t0123456789abcXYZ.e+";
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0:
          text[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.erase(at, 1 + rng() % 16);
          break;
        case 2:
          text.insert(at, text.substr(rng() % text.size(), 1 + rng() % 24));
          break;
        default:
          text.insert(at, 1, static_cast<char>(rng() % 256));
          break;
      }
    }
    absl::StatusOr<ParsedJobSpec> parsed = ParseJobSpecYaml(text, "fuzz.yaml");
    if (parsed.ok()) {
      ++accepted;
      (void)ValidateJobSpec(parsed->spec);
      (void)AnnotateLines("a.b: x; c[0]: y; nonsense", parsed->lines);
    } else {
      EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("fuzz.yaml:"));
    }
  }
  EXPECT_GT(accepted, 0);  // The mutations are not all fatal: the accepting paths ran too.
}

}  // namespace
}  // namespace ofa::trainer
