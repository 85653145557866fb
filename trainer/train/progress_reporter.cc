#include "trainer/train/progress_reporter.h"

#include <ctime>

#include "absl/strings/str_format.h"

namespace ofa::trainer {
namespace {

std::string Clock(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

}  // namespace

ProgressReporter::ProgressReporter(std::FILE* human, const std::string& json_path,
                                   double min_interval_seconds)
    : human_(human), min_interval_seconds_(min_interval_seconds) {
  if (!json_path.empty()) json_.open(json_path, std::ios::app);
}

void ProgressReporter::WriteJson(nlohmann::json object) {
  if (!json_.is_open()) return;
  object["time"] = static_cast<int64_t>(std::time(nullptr));
  json_ << object.dump() << "\n";
  json_.flush();
}

void ProgressReporter::Progress(const ProgressUpdate& u, bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && last_human_.has_value() &&
      std::chrono::duration<double>(now - *last_human_).count() < min_interval_seconds_) {
    return;
  }
  last_human_ = now;
  const double percent = u.total_steps > 0 ? 100.0 * u.step / u.total_steps : 0.0;
  if (human_ != nullptr) {
    if (u.item.empty()) {
      absl::FPrintF(human_,
                    "[%-16s] step %6d/%-6d %5.1f%%  epoch %d  loss %.4f  %7.0f img/s  ETA %s\n",
                    u.phase, u.step, u.total_steps, percent, u.epoch, u.loss, u.images_per_second,
                    Clock(u.eta_seconds));
    } else {
      absl::FPrintF(human_, "[%-16s] %s %6d/%-6d %5.1f%%  ETA %s\n", u.phase, u.item, u.step,
                    u.total_steps, percent, Clock(u.eta_seconds));
    }
    std::fflush(human_);
  }
  nlohmann::json line = {{"event", "progress"},
                         {"phase", u.phase},
                         {"step", u.step},
                         {"total_steps", u.total_steps},
                         {"epoch", u.epoch},
                         {"loss", u.loss},
                         {"images_per_second", u.images_per_second},
                         {"eta_seconds", u.eta_seconds},
                         {"training_flops", u.training_flops}};
  if (!u.item.empty()) line["item"] = u.item;
  WriteJson(std::move(line));
}

void ProgressReporter::Event(const std::string& kind, const std::string& text,
                             nlohmann::json fields) {
  if (human_ != nullptr) {
    absl::FPrintF(human_, "%s\n", text);
    std::fflush(human_);
  }
  fields["event"] = kind;
  fields["message"] = text;
  WriteJson(std::move(fields));
}

}  // namespace ofa::trainer
