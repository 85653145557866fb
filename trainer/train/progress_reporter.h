#ifndef OFA_TRAINER_TRAIN_PROGRESS_REPORTER_H_
#define OFA_TRAINER_TRAIN_PROGRESS_REPORTER_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include "nlohmann/json.hpp"

namespace ofa::trainer {

struct ProgressUpdate {
  std::string phase;
  int64_t step = 0;  // Steps done in the phase.
  int64_t total_steps = 0;
  int64_t epoch = 0;
  double loss = 0;
  double images_per_second = 0;
  double eta_seconds = 0;
  // Training FLOPs this process has done in the phase so far (the worker meters them).
  double training_flops = 0;
  // What is counted when it is not training steps (specialize: "sub-net"). The human line then
  // shows the count and the ETA only, without a loss or images/s that do not apply.
  std::string item;
};

// Progress of long work in two forms: a human line ("phase full  step 120/469  epoch 1 ...")
// on a stream at most every `min_interval_seconds`, and every event as one JSON object per
// line in a file (the machine-readable channel the worker forwards). Not thread-safe.
class ProgressReporter {
 public:
  // `human` may be null; `json_path` may be empty (no file).
  ProgressReporter(std::FILE* human, const std::string& json_path,
                   double min_interval_seconds = 5.0);

  // Throttled unless `force`.
  void Progress(const ProgressUpdate& update, bool force = false);
  // Always printed: phase started/finished, checkpoints, evaluations. `fields` go to JSON.
  void Event(const std::string& kind, const std::string& text, nlohmann::json fields = {});

 private:
  void WriteJson(nlohmann::json object);

  std::FILE* human_;
  std::ofstream json_;
  double min_interval_seconds_;
  // Unset until the first update: the steady clock's epoch is the boot, so a default time
  // point would throttle the first line for `min_interval_seconds` after the machine starts.
  std::optional<std::chrono::steady_clock::time_point> last_human_;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_PROGRESS_REPORTER_H_
