#ifndef OFA_TRAINER_DIST_LOCAL_LAUNCHER_H_
#define OFA_TRAINER_DIST_LOCAL_LAUNCHER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ofa::trainer {

struct LaunchOptions {
  int world_size = 2;
  // The command line of each rank (argv[0] is the program, looked up in PATH if it has no '/').
  std::function<std::vector<std::string>(int rank)> command;
  // Where each rank's stdout and stderr go; empty = inherited (the launcher's terminal).
  std::function<std::string(int rank)> output_path;
  // When a rank fails, stop the others (SIGTERM, then SIGKILL after `grace`) instead of
  // leaving them to find out through their collectives' timeout.
  bool stop_others_on_failure = true;
  absl::Duration grace = absl::Seconds(5);
  // Everything still running after this is killed (an InfiniteDuration = no limit).
  absl::Duration time_limit = absl::InfiniteDuration();
};

struct RankExit {
  int exit_code = -1;    // -N: killed by signal N.
  bool stopped = false;  // Stopped by the launcher (another rank failed, or the time limit).
};

// Runs `world_size` processes on this machine, one per rank, and waits for all of them: the
// local stand-in for the coordinator's gang placement (torchrun's role in PyTorch). Fails only
// when a process cannot be started; the ranks' exits are the result.
absl::StatusOr<std::vector<RankExit>> LaunchLocalRanks(const LaunchOptions& options);

// "exit 0", "exit 3", "killed by signal 9", "stopped by the launcher (signal 15)".
std::string DescribeExit(const RankExit& exit);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DIST_LOCAL_LAUNCHER_H_
