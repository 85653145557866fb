#ifndef OFA_WORKER_PROGRESS_FOLLOWER_H_
#define OFA_WORKER_PROGRESS_FOLLOWER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ofa/v1/job.pb.h"
#include "ofa/v1/subnet.pb.h"

namespace ofa::worker {

// Follows a trainer's progress file (JSON lines written by ProgressReporter) as it grows:
// the latest progress, the latest checkpoint, the end-of-phase accuracies, the exported
// sub-networks, and when the file last grew (a trainer silent for too long is hung). Lines it
// cannot parse are skipped; a line still being written is read once it is complete.
class ProgressFollower {
 public:
  explicit ProgressFollower(std::string path) : path_(std::move(path)) {}

  // Reads what was appended since the last call.
  void Update(absl::Time now);

  bool has_progress() const { return has_progress_; }
  const ofa::v1::Progress& progress() const { return progress_; }
  const std::string& latest_checkpoint() const { return latest_checkpoint_; }
  double largest_top1() const { return largest_top1_; }
  double smallest_top1() const { return smallest_top1_; }
  // The sub-networks a specialise phase exported so far, one per target.
  const std::vector<ofa::v1::Subnet>& subnets() const { return subnets_; }
  // Training FLOPs the trainer reported so far.
  double training_flops() const { return training_flops_; }
  absl::Time last_activity() const { return last_activity_; }

 private:
  void Parse(const std::string& line);

  std::string path_;
  int64_t offset_ = 0;
  std::string partial_;
  bool has_progress_ = false;
  ofa::v1::Progress progress_;
  std::string latest_checkpoint_;
  double largest_top1_ = 0;
  double smallest_top1_ = 0;
  double training_flops_ = 0;
  std::vector<ofa::v1::Subnet> subnets_;
  absl::Time last_activity_ = absl::Now();
};

}  // namespace ofa::worker

#endif  // OFA_WORKER_PROGRESS_FOLLOWER_H_
