#include "worker/rapl_counter.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ofa::worker {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadLine(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::PermissionDeniedError(absl::StrCat("cannot read ", file.string()));
  }
  return std::string(absl::StripAsciiWhitespace(line));
}

absl::StatusOr<uint64_t> ReadCount(const fs::path& file) {
  absl::StatusOr<std::string> line = ReadLine(file);
  if (!line.ok()) return line.status();
  uint64_t value = 0;
  if (!absl::SimpleAtoi(*line, &value)) {
    return absl::DataLossError(absl::StrCat(file.string(), ": \"", *line, "\" is not a count"));
  }
  return value;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RaplCounter>> RaplCounter::Open(const std::string& domain_dir) {
  const fs::path dir(domain_dir);
  absl::StatusOr<std::string> name = ReadLine(dir / "name");
  if (!name.ok()) return name.status();
  absl::StatusOr<uint64_t> range = ReadCount(dir / "max_energy_range_uj");
  if (!range.ok()) return range.status();
  if (*range == 0) {
    return absl::DataLossError(absl::StrCat(domain_dir, ": max_energy_range_uj is 0"));
  }
  absl::StatusOr<uint64_t> first = ReadCount(dir / "energy_uj");
  if (!first.ok()) return first.status();
  return std::unique_ptr<RaplCounter>(new RaplCounter(domain_dir, *name, *range, *first));
}

absl::StatusOr<double> RaplCounter::Read() {
  absl::StatusOr<uint64_t> now = ReadCount(fs::path(dir_) / "energy_uj");
  if (!now.ok()) return now.status();
  // The counter runs from 0 to max_energy_range_uj inclusive, then starts again at 0.
  const uint64_t delta = *now >= last_ ? *now - last_ : (range_ - last_) + *now + 1;
  last_ = *now;
  total_uj_ += static_cast<double>(delta);
  return total_uj_ * 1e-6;
}

absl::StatusOr<std::vector<std::unique_ptr<RaplCounter>>> OpenRaplDomains(
    const std::string& powercap_root) {
  std::error_code ec;
  if (!fs::is_directory(powercap_root, ec)) {
    return absl::NotFoundError(absl::StrCat("no RAPL: ", powercap_root, " does not exist"));
  }
  std::vector<std::string> dirs;
  for (const auto& entry : fs::directory_iterator(powercap_root, ec)) {
    const std::string base = entry.path().filename().string();
    if (!absl::StartsWith(base, "intel-rapl:") && !absl::StartsWith(base, "amd-rapl:")) continue;
    dirs.push_back(entry.path().string());
  }
  std::sort(dirs.begin(), dirs.end());
  std::vector<std::unique_ptr<RaplCounter>> counters;
  std::string last_error;
  for (const std::string& dir : dirs) {
    // intel-rapl:N is a package; intel-rapl:N:M a subdomain, kept only if it is DRAM.
    const std::string base = fs::path(dir).filename().string();
    const bool subdomain = std::count(base.begin(), base.end(), ':') > 1;
    absl::StatusOr<std::unique_ptr<RaplCounter>> counter = RaplCounter::Open(dir);
    if (!counter.ok()) {
      last_error = std::string(counter.status().message());
      continue;
    }
    if (subdomain && (*counter)->name() != "dram") continue;
    counters.push_back(*std::move(counter));
  }
  if (counters.empty()) {
    return absl::NotFoundError(last_error.empty()
                                   ? absl::StrCat("no RAPL domain under ", powercap_root)
                                   : absl::StrCat("no readable RAPL domain: ", last_error));
  }
  return counters;
}

}  // namespace ofa::worker
