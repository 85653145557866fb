#ifndef OFA_WORKER_TRAINER_PROCESS_H_
#define OFA_WORKER_TRAINER_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ofa::worker {

// One child process (an ofa-trainer rank) in its own process group, with its output going to
// a log file. Stop() asks it to end (SIGTERM to the group) and kills it (SIGKILL) if it has
// not after the grace period; the destructor does the same, so a worker never leaks trainers.
class TrainerProcess {
 public:
  struct Exit {
    int exit_code = 0;     // Exit status, or -signal when a signal ended it.
    bool stopped = false;  // Ended after Stop() asked it to.
  };

  // Starts `argv` with `env` added to this process's environment.
  static absl::StatusOr<std::unique_ptr<TrainerProcess>> Start(const std::vector<std::string>& argv,
                                                               const std::vector<std::string>& env,
                                                               const std::string& log_path);
  ~TrainerProcess();
  TrainerProcess(const TrainerProcess&) = delete;
  TrainerProcess& operator=(const TrainerProcess&) = delete;

  // Non-blocking: the exit once the process has ended; nullopt while it runs. Also sends the
  // SIGKILL once a Stop()'s grace period is over.
  std::optional<Exit> Poll(absl::Time now);
  // SIGTERM now, SIGKILL at now + grace if it is still there. Idempotent.
  void Stop(absl::Duration grace, absl::Time now);
  // The last `max_bytes` of the log (its error output), for the task's result.
  std::string LogTail(size_t max_bytes) const;
  pid_t pid() const { return pid_; }
  // CPU time (user + system, all threads) it has used so far; its final total once ended.
  double CpuSeconds();

 private:
  TrainerProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;
  std::string log_path_;
  std::optional<Exit> exit_;
  std::optional<absl::Time> kill_at_;
  bool killed_ = false;
  double cpu_seconds_ = 0;
};

}  // namespace ofa::worker

#endif  // OFA_WORKER_TRAINER_PROCESS_H_
