#ifndef OFA_COORDINATOR_CARBON_INTENSITY_H_
#define OFA_COORDINATOR_CARBON_INTENSITY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ofa/v1/carbon.pb.h"

namespace ofa::coordinator {

// Grid carbon intensity (grams CO2-equivalent per kWh) by region and time, and the CO2 of
// energy used over an interval: kWh x PUE x intensity, integrated piecewise over the time
// series' steps rather than averaged over a job.
//
// Sources, per job (CarbonSettings): a fixed value; the time series (CSV rows
// "timestamp,region,g_per_kwh", timestamp RFC 3339 or Unix seconds; each value holds from its
// timestamp until the region's next one, the first value also before it and the last after
// it); or the region table (kDefaultRegionTable, overridable). Unspecified = the time series
// where it covers the region, else the table.
class CarbonIntensity {
 public:
  struct Options {
    std::string default_region = "world";
    // Uptime Institute's 2023 global average data-center PUE.
    double default_pue = 1.58;
    // Overrides and additions to kDefaultRegionTable.
    std::map<std::string, double> region_table;
  };

  // Annual averages of grid electricity, rounded (Ember / IEA, 2022): approximate values
  // meant to be replaced by the operator's own table or a time series.
  static const std::map<std::string, double>& DefaultRegionTable();

  explicit CarbonIntensity(Options options);

  // Adds a time-series file; INVALID_ARGUMENT naming the line on a malformed row.
  absl::Status LoadTimeSeries(const std::string& path);
  // Adds region=value overrides from a CSV "region,g_per_kwh".
  absl::Status LoadRegionTable(const std::string& path);

  // Grams of CO2 for `joules` drawn evenly over [from, to] under `settings`.
  double Co2Grams(const ofa::v1::CarbonSettings& settings, double joules, absl::Time from,
                  absl::Time to) const;
  // Mean intensity over [from, to] (the value at `from` if to <= from), in g/kWh, without PUE.
  double MeanIntensity(const ofa::v1::CarbonSettings& settings, absl::Time from,
                       absl::Time to) const;
  // The start in [earliest, latest] with the lowest intensity (the earliest among equals):
  // carbon-aware scheduling. Only the time series varies; otherwise `earliest`.
  absl::Time LowestIntensityStart(const ofa::v1::CarbonSettings& settings, absl::Time earliest,
                                  absl::Time latest) const;
  double Pue(const ofa::v1::CarbonSettings& settings) const;
  std::string Region(const ofa::v1::CarbonSettings& settings) const;
  // e.g. "time series intensity.csv, region DE, PUE 1.2".
  std::string Describe(const ofa::v1::CarbonSettings& settings) const;
  // The intensity of every region known, now: for the ofa_grid_carbon_intensity gauge.
  std::map<std::string, double> CurrentByRegion(absl::Time now) const;

 private:
  struct Point {
    absl::Time time;
    double g_per_kwh;
  };
  // The series steps covering the region, or nullptr if the job uses a constant.
  const std::vector<Point>* SeriesFor(const ofa::v1::CarbonSettings& settings) const;
  double ConstantFor(const ofa::v1::CarbonSettings& settings) const;

  Options options_;
  std::map<std::string, double> table_;
  std::map<std::string, std::vector<Point>> series_;  // By region, sorted by time.
  std::vector<std::string> series_files_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_CARBON_INTENSITY_H_
