#include "trainer/dist/rank_processes_for_test.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "trainer/dist/local_launcher.h"

namespace ofa::trainer {

namespace fs = std::filesystem;

std::string RankProcessesDir(const std::string& name) {
  return (fs::path(::testing::TempDir()) / name).string();
}

std::vector<RankResult> RunRankProcesses(int world, const std::string& name,
                                         const std::string& scenario, absl::Duration limit) {
  const fs::path dir = RankProcessesDir(name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto output = [&](int rank) { return (dir / absl::StrCat("rank", rank, ".out")).string(); };
  LaunchOptions launch;
  launch.world_size = world;
  launch.command = [&](int rank) {
    return std::vector<std::string>{
        "/proc/self/exe",
        absl::StrCat("--rank_role=", rank, ",", world, ",", dir.string(), ",", scenario)};
  };
  launch.output_path = output;
  launch.stop_others_on_failure = false;
  launch.time_limit = limit;
  absl::StatusOr<std::vector<RankExit>> exits = LaunchLocalRanks(launch);
  EXPECT_TRUE(exits.ok()) << exits.status();
  std::vector<RankResult> results(world);
  for (int rank = 0; exits.ok() && rank < world; ++rank) {
    results[rank].exit_code = (*exits)[rank].exit_code;
    results[rank].stopped = (*exits)[rank].stopped;
    EXPECT_FALSE(results[rank].stopped) << "rank " << rank << " hit the time limit";
    std::ifstream in(output(rank));
    results[rank].output.assign(std::istreambuf_iterator<char>(in), {});
  }
  return results;
}

int FailRank(const absl::Status& status) {
  std::printf("%s\n", status.ToString().c_str());
  std::fflush(stdout);
  return 3;
}

int DispatchRankRole(
    int argc, char** argv,
    const std::function<int(int, int, const std::string&, const std::string&)>& rank_main) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--rank_role=", 0) != 0) continue;
    const std::vector<std::string> parts = absl::StrSplit(arg.substr(12), ',');
    int rank = 0, world = 0;
    if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &rank) ||
        !absl::SimpleAtoi(parts[1], &world)) {
      std::fprintf(stderr, "bad %s\n", arg.c_str());
      return 2;
    }
    return rank_main(rank, world, parts[2], parts[3]);
  }
  return -1;
}

}  // namespace ofa::trainer
