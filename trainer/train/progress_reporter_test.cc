#include "trainer/train/progress_reporter.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ofa::trainer {
namespace {

// Everything written to `file` so far.
std::string Contents(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[512];
  while (std::fgets(buffer, sizeof(buffer), file) != nullptr) text += buffer;
  return text;
}

std::vector<nlohmann::json> JsonLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(ProgressReporterTest, TrainingStepsShowLossSpeedAndEta) {
  std::FILE* human = std::tmpfile();
  const std::string json = ::testing::TempDir() + "/training_progress.jsonl";
  std::filesystem::remove(json);
  {
    ProgressReporter progress(human, json, /*min_interval_seconds=*/0);
    progress.Progress({.phase = "full",
                       .step = 120,
                       .total_steps = 480,
                       .epoch = 1,
                       .loss = 0.4321,
                       .images_per_second = 1234,
                       .eta_seconds = 3725});
  }
  const std::string text = Contents(human);
  std::fclose(human);
  EXPECT_NE(text.find("[full            ] step    120/480     25.0%  epoch 1  loss 0.4321"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1234 img/s  ETA 1:02:05"), std::string::npos) << text;
  const std::vector<nlohmann::json> lines = JsonLines(json);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["event"], "progress");
  EXPECT_EQ(lines[0]["step"], 120);
  EXPECT_DOUBLE_EQ(lines[0]["loss"].get<double>(), 0.4321);
  EXPECT_FALSE(lines[0].contains("item"));
}

// Specialize counts measured sub-networks: no loss or images/s that would read as zero.
TEST(ProgressReporterTest, OtherItemsShowCountAndEtaOnly) {
  std::FILE* human = std::tmpfile();
  const std::string json = ::testing::TempDir() + "/specialize_progress.jsonl";
  std::filesystem::remove(json);
  {
    ProgressReporter progress(human, json, /*min_interval_seconds=*/0);
    progress.Progress({.phase = "specialize",
                       .step = 30,
                       .total_steps = 300,
                       .eta_seconds = 90,
                       .item = "sub-net"});
  }
  const std::string text = Contents(human);
  std::fclose(human);
  EXPECT_EQ(text, "[specialize      ] sub-net     30/300     10.0%  ETA 0:01:30\n");
  const std::vector<nlohmann::json> lines = JsonLines(json);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["item"], "sub-net");
  EXPECT_EQ(lines[0]["total_steps"], 300);
}

// Between forced updates, progress is throttled on both channels (events are not).
TEST(ProgressReporterTest, ThrottlesProgressUntilForced) {
  std::FILE* human = std::tmpfile();
  const std::string json = ::testing::TempDir() + "/throttled_progress.jsonl";
  std::filesystem::remove(json);
  {
    ProgressReporter progress(human, json, /*min_interval_seconds=*/3600);
    for (int step = 1; step <= 5; ++step) {
      progress.Progress({.phase = "full", .step = step, .total_steps = 5}, step == 5);
    }
  }
  const std::string text = Contents(human);
  std::fclose(human);
  // The first line (nothing printed before) and the forced last one.
  EXPECT_NE(text.find("step      1/5"), std::string::npos) << text;
  EXPECT_NE(text.find("step      5/5"), std::string::npos) << text;
  EXPECT_EQ(text.find("step      3/5"), std::string::npos) << text;
  EXPECT_EQ(JsonLines(json).size(), 2u);
}

}  // namespace
}  // namespace ofa::trainer
