#include "coordinator/carbon_intensity.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ofa::coordinator {
namespace {

using ::testing::HasSubstr;

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

ofa::v1::CarbonSettings Region(const std::string& region, double pue = 1.0) {
  ofa::v1::CarbonSettings s;
  s.set_region(region);
  s.set_pue(pue);
  return s;
}

const absl::Time kT = absl::FromUnixSeconds(1'700'000'000);

TEST(CarbonIntensityTest, TimeSeriesIsIntegratedAcrossStepBoundaries) {
  CarbonIntensity intensity({});
  ASSERT_TRUE(
      intensity
          .LoadTimeSeries(WriteFile(
              "series.csv", absl::StrCat("timestamp,region,g_per_kwh\n", absl::ToUnixSeconds(kT),
                                         ",DE,100\n", "2023-11-14T23:13:20Z,DE,300\n")))
          .ok());
  // The second row is kT + 1 h. One kWh spread evenly over [kT + 30 min, kT + 90 min]: half
  // at 100 g/kWh, half at 300.
  const ofa::v1::CarbonSettings de = Region("DE");
  EXPECT_NEAR(intensity.Co2Grams(de, 3.6e6, kT + absl::Minutes(30), kT + absl::Minutes(90)), 200.0,
              1e-9);
  // Inside one step; before the first row (its value); after the last (the last value).
  EXPECT_NEAR(intensity.MeanIntensity(de, kT, kT + absl::Minutes(10)), 100.0, 1e-9);
  EXPECT_NEAR(intensity.MeanIntensity(de, kT - absl::Hours(5), kT - absl::Hours(4)), 100.0, 1e-9);
  EXPECT_NEAR(intensity.MeanIntensity(de, kT + absl::Hours(9), kT + absl::Hours(9)), 300.0, 1e-9);
  // Spanning all of it: 1 h before (100), 1 h of 100, 2 h of 300.
  EXPECT_NEAR(intensity.MeanIntensity(de, kT - absl::Hours(1), kT + absl::Hours(3)),
              (100.0 + 100.0 + 600.0) / 4, 1e-9);
  // PUE multiplies.
  EXPECT_NEAR(intensity.Co2Grams(Region("DE", 1.5), 3.6e6, kT, kT + absl::Minutes(1)), 150.0, 1e-9);
  EXPECT_THAT(intensity.Describe(de), HasSubstr("time series series.csv, region DE"));
}

TEST(CarbonIntensityTest, RegionsWithoutSeriesUseTheTable) {
  CarbonIntensity intensity({.default_region = "FR", .default_pue = 1.2});
  ofa::v1::CarbonSettings defaults;
  EXPECT_NEAR(intensity.Co2Grams(defaults, 3.6e6, kT, kT + absl::Hours(1)), 56 * 1.2, 1e-9);
  EXPECT_THAT(intensity.Describe(defaults), HasSubstr("region table: FR (56 g/kWh), PUE 1.20"));
  EXPECT_THAT(intensity.Describe(Region("XX")), HasSubstr("unknown: the world average"));
  EXPECT_NEAR(intensity.MeanIntensity(Region("XX"), kT, kT), 436, 1e-9);
  ofa::v1::CarbonSettings fixed;
  fixed.set_intensity_source(ofa::v1::INTENSITY_SOURCE_FIXED);
  fixed.set_fixed_intensity_g_per_kwh(10);
  fixed.set_pue(1);
  EXPECT_NEAR(intensity.Co2Grams(fixed, 7.2e6, kT, kT + absl::Hours(1)), 20.0, 1e-9);
  ASSERT_TRUE(intensity.LoadRegionTable(WriteFile("table.csv", "region,g_per_kwh\nFR,70\n")).ok());
  EXPECT_NEAR(intensity.MeanIntensity(Region("FR"), kT, kT), 70, 1e-9);
}

TEST(CarbonIntensityTest, MalformedFilesNameTheLine) {
  CarbonIntensity intensity({});
  absl::Status s = intensity.LoadTimeSeries(
      WriteFile("bad.csv", "timestamp,region,g_per_kwh\n1700000000,DE,100\nyesterday,DE,5\n"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bad.csv:3: timestamp \"yesterday\""));
  s = intensity.LoadTimeSeries(WriteFile("bad2.csv", "1700000000,DE,-4\n"));
  EXPECT_THAT(s.message(), HasSubstr("bad2.csv:1: intensity \"-4\""));
  s = intensity.LoadTimeSeries(WriteFile("bad3.csv", "1700000000,DE\n"));
  EXPECT_THAT(s.message(), HasSubstr("expected 3 columns"));
  s = intensity.LoadTimeSeries(WriteFile("bad4.csv", "1700000000,D E,5\n"));
  EXPECT_THAT(s.message(), HasSubstr("region \"D E\""));
  EXPECT_EQ(intensity.LoadTimeSeries("/nonexistent.csv").code(), absl::StatusCode::kNotFound);
  // Nothing of the bad files was kept.
  EXPECT_NEAR(intensity.MeanIntensity(Region("DE"), kT, kT), 385, 1e-9);
}

TEST(CarbonIntensityTest, LowestIntensityStartWithinTheSlack) {
  CarbonIntensity intensity({});
  ASSERT_TRUE(
      intensity
          .LoadTimeSeries(WriteFile(
              "week.csv", absl::StrCat(absl::ToUnixSeconds(kT), ",GB,300\n",
                                       absl::ToUnixSeconds(kT + absl::Hours(2)), ",GB,120\n",
                                       absl::ToUnixSeconds(kT + absl::Hours(5)), ",GB,50\n")))
          .ok());
  const ofa::v1::CarbonSettings gb = Region("GB");
  EXPECT_EQ(intensity.LowestIntensityStart(gb, kT, kT + absl::Hours(3)), kT + absl::Hours(2));
  EXPECT_EQ(intensity.LowestIntensityStart(gb, kT, kT + absl::Hours(6)), kT + absl::Hours(5));
  EXPECT_EQ(intensity.LowestIntensityStart(gb, kT, kT + absl::Hours(1)), kT);
  // No series for the region: no reason to wait.
  EXPECT_EQ(intensity.LowestIntensityStart(Region("DE"), kT, kT + absl::Hours(6)), kT);
}

}  // namespace
}  // namespace ofa::coordinator
