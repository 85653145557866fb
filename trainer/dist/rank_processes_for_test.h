#ifndef OFA_TRAINER_DIST_RANK_PROCESSES_FOR_TEST_H_
#define OFA_TRAINER_DIST_RANK_PROCESSES_FOR_TEST_H_

// Multi-process tests: the test binary re-executes itself once per rank with
// --rank_role=RANK,WORLD,DIR,SCENARIO, and its main() dispatches on that flag.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ofa::trainer {

struct RankResult {
  int exit_code = -1;  // -N: killed by signal N.
  bool stopped = false;  // Killed at the time limit.
  std::string output;  // stdout and stderr.
};

// Runs `world` copies of this binary as ranks of `scenario`, with DIR = a fresh directory
// under the test's temporary directory named `name`, and waits up to `limit` for all. The
// others are not stopped when one fails: tests check how they find out.
std::vector<RankResult> RunRankProcesses(int world, const std::string& name,
                                         const std::string& scenario, absl::Duration limit);

// The directory RunRankProcesses gives the ranks of `name`.
std::string RankProcessesDir(const std::string& name);

// A rank's failure: prints `status` (the test reads it from the rank's output), returns 3.
int FailRank(const absl::Status& status);

// For main(): if argv has --rank_role, runs `rank_main(rank, world, dir, scenario)` and
// returns its exit code; otherwise returns -1 (run the tests).
int DispatchRankRole(
    int argc, char** argv,
    const std::function<int(int rank, int world, const std::string& dir,
                            const std::string& scenario)>& rank_main);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DIST_RANK_PROCESSES_FOR_TEST_H_
