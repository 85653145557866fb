#include "trainer/dist/local_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace ofa::trainer {
namespace {

void SignalAll(const std::vector<pid_t>& pids, const std::vector<bool>& running, int signal) {
  for (size_t i = 0; i < pids.size(); ++i) {
    if (running[i]) kill(pids[i], signal);
  }
}

}  // namespace

absl::StatusOr<std::vector<RankExit>> LaunchLocalRanks(const LaunchOptions& options) {
  if (options.world_size < 1 || !options.command) {
    return absl::InvalidArgumentError("launch: world_size >= 1 and a command are required");
  }
  const int world = options.world_size;
  std::vector<pid_t> pids;
  std::vector<bool> running;
  for (int rank = 0; rank < world; ++rank) {
    std::vector<std::string> args = options.command(rank);
    if (args.empty()) return absl::InvalidArgumentError("launch: empty command");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string out = options.output_path ? options.output_path(rank) : "";
    if (!out.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
      posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    }
    pid_t pid = 0;
    const int error = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) {
      SignalAll(pids, running, SIGKILL);
      for (pid_t p : pids) waitpid(p, nullptr, 0);
      return absl::FailedPreconditionError(absl::StrCat("launch: cannot start rank ", rank,
                                                        " (", args[0], "): ",
                                                        std::strerror(error)));
    }
    pids.push_back(pid);
    running.push_back(true);
  }

  std::vector<RankExit> exits(world);
  const absl::Time deadline = absl::Now() + options.time_limit;
  absl::Time kill_at = absl::InfiniteFuture();  // Set once the others are being stopped.
  int left = world;
  while (left > 0) {
    bool reaped = false;
    for (int rank = 0; rank < world; ++rank) {
      if (!running[rank]) continue;
      int status = 0;
      if (waitpid(pids[rank], &status, WNOHANG) != pids[rank]) continue;
      running[rank] = false;
      --left;
      reaped = true;
      exits[rank].exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      exits[rank].stopped = kill_at != absl::InfiniteFuture();
      if (exits[rank].exit_code != 0 && options.stop_others_on_failure &&
          kill_at == absl::InfiniteFuture() && left > 0) {
        SignalAll(pids, running, SIGTERM);
        kill_at = absl::Now() + options.grace;
      }
    }
    const absl::Time now = absl::Now();
    if (now > deadline && kill_at == absl::InfiniteFuture()) {
      SignalAll(pids, running, SIGTERM);
      kill_at = now + options.grace;
    }
    if (now > kill_at) SignalAll(pids, running, SIGKILL);
    if (!reaped) absl::SleepFor(absl::Milliseconds(20));
  }
  return exits;
}

std::string DescribeExit(const RankExit& exit) {
  if (exit.exit_code >= 0) return absl::StrCat("exit ", exit.exit_code);
  if (exit.stopped) return absl::StrCat("stopped by the launcher (signal ", -exit.exit_code, ")");
  return absl::StrCat("killed by signal ", -exit.exit_code);
}

}  // namespace ofa::trainer
