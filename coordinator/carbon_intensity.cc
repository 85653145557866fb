#include "coordinator/carbon_intensity.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ofa::coordinator {
namespace {

constexpr double kJoulesPerKwh = 3.6e6;

bool ValidRegion(absl::string_view region) {
  if (region.empty() || region.size() > 63) return false;
  for (char c : region) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

bool ParseTime(absl::string_view text, absl::Time* time) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) {
    *time = absl::FromUnixSeconds(seconds);
    return true;
  }
  std::string error;
  return absl::ParseTime(absl::RFC3339_full, text, time, &error);
}

// Rows of a small CSV file, '#' comments and blank lines skipped, cells trimmed; calls
// `row(line_number, cells)`.
absl::Status ForEachRow(
    const std::string& path,
    const std::function<absl::Status(int, const std::vector<std::string>&)>& row) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(text, ',')) {
      cells.emplace_back(absl::StripAsciiWhitespace(cell));
    }
    if (absl::Status s = row(number, cells); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseIntensity(const std::string& text, double* value) {
  if (!absl::SimpleAtod(text, value) || !(*value >= 0 && *value <= 5000)) {
    return absl::InvalidArgumentError(
        absl::StrCat("intensity \"", text, "\" is not a number of g/kWh in [0, 5000]"));
  }
  return absl::OkStatus();
}

}  // namespace

const std::map<std::string, double>& CarbonIntensity::DefaultRegionTable() {
  static const auto* table = new std::map<std::string, double>{
      {"world", 436}, {"AU", 510}, {"BR", 100}, {"CA", 130}, {"CN", 540}, {"DE", 385},
      {"ES", 170},    {"FR", 56},  {"GB", 257}, {"IN", 630}, {"IT", 330}, {"JP", 480},
      {"NL", 330},    {"NO", 30},  {"PL", 660}, {"SE", 40},  {"US", 370}, {"ZA", 710},
  };
  return *table;
}

CarbonIntensity::CarbonIntensity(Options options)
    : options_(std::move(options)), table_(DefaultRegionTable()) {
  for (const auto& [region, value] : options_.region_table) table_[region] = value;
}

absl::Status CarbonIntensity::LoadTimeSeries(const std::string& path) {
  std::map<std::string, std::vector<Point>> added;
  absl::Status status =
      ForEachRow(path, [&](int number, const std::vector<std::string>& cells) -> absl::Status {
        if (cells.size() != 3) {
          return absl::InvalidArgumentError(absl::StrCat(
              "expected 3 columns (timestamp,region,g_per_kwh), found ", cells.size()));
        }
        Point point;
        if (!ParseTime(cells[0], &point.time)) {
          if (number == 1 || cells[0] == "timestamp") return absl::OkStatus();  // Header.
          return absl::InvalidArgumentError(
              absl::StrCat("timestamp \"", cells[0], "\" is neither RFC 3339 nor Unix seconds"));
        }
        if (!ValidRegion(cells[1])) {
          return absl::InvalidArgumentError(
              absl::StrCat("region \"", cells[1], "\" is not [A-Za-z0-9_.-]{1,63}"));
        }
        if (absl::Status s = ParseIntensity(cells[2], &point.g_per_kwh); !s.ok()) return s;
        added[cells[1]].push_back(point);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (added.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no rows"));
  for (auto& [region, points] : added) {
    std::vector<Point>& all = series_[region];
    all.insert(all.end(), points.begin(), points.end());
    std::stable_sort(all.begin(), all.end(),
                     [](const Point& a, const Point& b) { return a.time < b.time; });
  }
  series_files_.push_back(std::filesystem::path(path).filename().string());
  return absl::OkStatus();
}

absl::Status CarbonIntensity::LoadRegionTable(const std::string& path) {
  std::map<std::string, double> rows;
  absl::Status status =
      ForEachRow(path, [&](int number, const std::vector<std::string>& cells) -> absl::Status {
        if (cells.size() != 2) {
          return absl::InvalidArgumentError(
              absl::StrCat("expected 2 columns (region,g_per_kwh), found ", cells.size()));
        }
        if (number == 1 && cells[0] == "region") return absl::OkStatus();
        if (!ValidRegion(cells[0])) {
          return absl::InvalidArgumentError(
              absl::StrCat("region \"", cells[0], "\" is not [A-Za-z0-9_.-]{1,63}"));
        }
        return ParseIntensity(cells[1], &rows[cells[0]]);
      });
  if (!status.ok()) return status;
  for (const auto& [region, value] : rows) table_[region] = value;
  return absl::OkStatus();
}

std::string CarbonIntensity::Region(const ofa::v1::CarbonSettings& settings) const {
  return settings.region().empty() ? options_.default_region : settings.region();
}

double CarbonIntensity::Pue(const ofa::v1::CarbonSettings& settings) const {
  return settings.pue() > 0 ? settings.pue() : options_.default_pue;
}

const std::vector<CarbonIntensity::Point>* CarbonIntensity::SeriesFor(
    const ofa::v1::CarbonSettings& settings) const {
  if (settings.intensity_source() == ofa::v1::INTENSITY_SOURCE_FIXED ||
      settings.intensity_source() == ofa::v1::INTENSITY_SOURCE_REGION_TABLE) {
    return nullptr;
  }
  auto it = series_.find(Region(settings));
  return it == series_.end() || it->second.empty() ? nullptr : &it->second;
}

double CarbonIntensity::ConstantFor(const ofa::v1::CarbonSettings& settings) const {
  if (settings.intensity_source() == ofa::v1::INTENSITY_SOURCE_FIXED) {
    return settings.fixed_intensity_g_per_kwh();
  }
  auto it = table_.find(Region(settings));
  return it != table_.end() ? it->second : table_.at("world");
}

double CarbonIntensity::MeanIntensity(const ofa::v1::CarbonSettings& settings, absl::Time from,
                                      absl::Time to) const {
  const std::vector<Point>* series = SeriesFor(settings);
  if (series == nullptr) return ConstantFor(settings);
  // The index of the step in force at `t`.
  auto step_at = [&](absl::Time t) {
    auto after = std::upper_bound(series->begin(), series->end(), t,
                                  [](absl::Time v, const Point& p) { return v < p.time; });
    return after == series->begin() ? size_t{0} : static_cast<size_t>(after - series->begin() - 1);
  };
  if (to <= from) return (*series)[step_at(from)].g_per_kwh;
  double weighted = 0;
  absl::Time t = from;
  for (size_t i = step_at(from); t < to; ++i) {
    const absl::Time end =
        i + 1 < series->size() ? std::min(to, std::max(t, (*series)[i + 1].time)) : to;
    weighted += (*series)[i].g_per_kwh * absl::ToDoubleSeconds(end - t);
    t = end;
    if (i + 1 >= series->size()) break;
  }
  return weighted / absl::ToDoubleSeconds(to - from);
}

double CarbonIntensity::Co2Grams(const ofa::v1::CarbonSettings& settings, double joules,
                                 absl::Time from, absl::Time to) const {
  if (joules <= 0) return 0;
  return joules / kJoulesPerKwh * Pue(settings) * MeanIntensity(settings, from, to);
}

absl::Time CarbonIntensity::LowestIntensityStart(const ofa::v1::CarbonSettings& settings,
                                                 absl::Time earliest, absl::Time latest) const {
  const std::vector<Point>* series = SeriesFor(settings);
  if (series == nullptr || latest <= earliest) return earliest;
  absl::Time best = earliest;
  double lowest = MeanIntensity(settings, earliest, earliest);
  for (const Point& p : *series) {
    if (p.time <= earliest || p.time > latest) continue;
    if (p.g_per_kwh < lowest) {
      lowest = p.g_per_kwh;
      best = p.time;
    }
  }
  return best;
}

std::string CarbonIntensity::Describe(const ofa::v1::CarbonSettings& settings) const {
  const std::string pue = absl::StrFormat("PUE %.2f", Pue(settings));
  if (settings.intensity_source() == ofa::v1::INTENSITY_SOURCE_FIXED) {
    return absl::StrFormat("fixed %.0f g/kWh, %s", settings.fixed_intensity_g_per_kwh(), pue);
  }
  const std::string region = Region(settings);
  if (SeriesFor(settings) != nullptr) {
    return absl::StrCat("time series ", absl::StrJoin(series_files_, "+"), ", region ", region,
                        ", ", pue);
  }
  const bool known = table_.count(region) > 0;
  return absl::StrFormat("region table: %s%s (%.0f g/kWh), %s", region,
                         known ? "" : " (unknown: the world average)", ConstantFor(settings), pue);
}

std::map<std::string, double> CarbonIntensity::CurrentByRegion(absl::Time now) const {
  std::map<std::string, double> current = table_;
  for (const auto& [region, points] : series_) {
    ofa::v1::CarbonSettings settings;
    settings.set_region(region);
    current[region] = MeanIntensity(settings, now, now);
  }
  return current;
}

}  // namespace ofa::coordinator
