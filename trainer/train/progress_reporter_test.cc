#include "trainer/train/progress_reporter.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace ofa::trainer {
namespace {

// What a reporter wrote on both channels while `report` ran.
struct Reported {
  std::string text;
  std::vector<nlohmann::json> json;
};

Reported Report(double min_interval_seconds, const std::function<void(ProgressReporter&)>& report) {
  std::FILE* human = std::tmpfile();
  const std::string json_path = ::testing::TempDir() + "/progress.jsonl";
  std::filesystem::remove(json_path);
  {
    ProgressReporter progress(human, json_path, min_interval_seconds);
    report(progress);
  }
  Reported reported;
  std::rewind(human);
  char buffer[512];
  while (std::fgets(buffer, sizeof(buffer), human) != nullptr) reported.text += buffer;
  std::fclose(human);
  std::ifstream in(json_path);
  for (std::string line; std::getline(in, line);) {
    reported.json.push_back(nlohmann::json::parse(line));
  }
  return reported;
}

TEST(ProgressReporterTest, TrainingStepsShowLossSpeedAndEta) {
  const Reported reported = Report(/*min_interval_seconds=*/0, [](ProgressReporter& progress) {
    progress.Progress({.phase = "full",
                       .step = 120,
                       .total_steps = 480,
                       .epoch = 1,
                       .loss = 0.4321,
                       .images_per_second = 1234,
                       .eta_seconds = 3725});
  });
  const std::string& text = reported.text;
  EXPECT_NE(text.find("[full            ] step    120/480     25.0%  epoch 1  loss 0.4321"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1234 img/s  ETA 1:02:05"), std::string::npos) << text;
  const std::vector<nlohmann::json>& lines = reported.json;
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["event"], "progress");
  EXPECT_EQ(lines[0]["step"], 120);
  EXPECT_DOUBLE_EQ(lines[0]["loss"].get<double>(), 0.4321);
  EXPECT_FALSE(lines[0].contains("item"));
}

// Specialize counts measured sub-networks: no loss or images/s that would read as zero.
TEST(ProgressReporterTest, OtherItemsShowCountAndEtaOnly) {
  const Reported reported = Report(/*min_interval_seconds=*/0, [](ProgressReporter& progress) {
    progress.Progress({.phase = "specialize",
                       .step = 30,
                       .total_steps = 300,
                       .eta_seconds = 90,
                       .item = "sub-net"});
  });
  EXPECT_EQ(reported.text, "[specialize      ] sub-net     30/300     10.0%  ETA 0:01:30\n");
  const std::vector<nlohmann::json>& lines = reported.json;
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["item"], "sub-net");
  EXPECT_EQ(lines[0]["total_steps"], 300);
}

// Between forced updates, progress is throttled on both channels (events are not).
TEST(ProgressReporterTest, ThrottlesProgressUntilForced) {
  const Reported reported = Report(/*min_interval_seconds=*/3600, [](ProgressReporter& progress) {
    for (int step = 1; step <= 5; ++step) {
      progress.Progress({.phase = "full", .step = step, .total_steps = 5}, step == 5);
    }
  });
  const std::string& text = reported.text;
  // The first line (nothing printed before) and the forced last one.
  EXPECT_NE(text.find("step      1/5"), std::string::npos) << text;
  EXPECT_NE(text.find("step      5/5"), std::string::npos) << text;
  EXPECT_EQ(text.find("step      3/5"), std::string::npos) << text;
  EXPECT_EQ(reported.json.size(), 2u);
}

}  // namespace
}  // namespace ofa::trainer
