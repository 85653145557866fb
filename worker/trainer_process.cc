#include "worker/trainer_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace ofa::worker {

absl::StatusOr<std::unique_ptr<TrainerProcess>> TrainerProcess::Start(
    const std::vector<std::string>& argv, const std::vector<std::string>& env,
    const std::string& log_path) {
  if (argv.empty()) return absl::InvalidArgumentError("no command to start");
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", log_path, ": ", std::strerror(errno)));
  }
  // Everything the child needs is built before fork(): after it only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> c_argv, c_env;
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : env_strings) c_env.push_back(const_cast<char*>(e.c_str()));
  c_argv.push_back(nullptr);
  c_env.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log);
    return absl::UnavailableError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    // A worker killed with -9 takes its trainers with it instead of leaving them training.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    // The worker blocks its stop signals; the trainer must get them.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(c_argv[0], c_argv.data(), c_env.data());
    const char message[] = "ofa-worker: cannot execute the trainer binary\n";
    (void)!write(STDERR_FILENO, message, sizeof(message) - 1);
    _exit(127);
  }
  close(log);
  setpgid(pid, pid);  // Also here, so Stop() cannot race the child's own call.
  return std::unique_ptr<TrainerProcess>(new TrainerProcess(pid, log_path));
}

TrainerProcess::~TrainerProcess() {
  if (exit_.has_value()) return;
  kill(-pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
}

std::optional<TrainerProcess::Exit> TrainerProcess::Poll(absl::Time now) {
  if (exit_.has_value()) return exit_;
  int status = 0;
  struct rusage usage {};
  const pid_t done = wait4(pid_, &status, WNOHANG, &usage);
  if (done == pid_) {
    cpu_seconds_ = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 + usage.ru_stime.tv_sec +
                   usage.ru_stime.tv_usec * 1e-6;
    Exit exit;
    exit.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    exit.stopped = kill_at_.has_value();
    // Whatever it started in its group goes with it.
    kill(-pid_, SIGKILL);
    exit_ = exit;
    return exit_;
  }
  if (kill_at_.has_value() && now >= *kill_at_ && !killed_) {
    kill(-pid_, SIGKILL);
    killed_ = true;
  }
  return std::nullopt;
}

void TrainerProcess::Stop(absl::Duration grace, absl::Time now) {
  if (exit_.has_value() || kill_at_.has_value()) return;
  kill(-pid_, SIGTERM);
  kill_at_ = now + grace;
}

std::string TrainerProcess::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path_, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                                   ? size - static_cast<std::streamoff>(max_bytes)
                                   : 0;
  in.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  return tail;
}

double TrainerProcess::CpuSeconds() {
  if (exit_.has_value()) return cpu_seconds_;
  // /proc/<pid>/stat: "pid (comm) state ..." with utime and stime the 14th and 15th fields;
  // comm may hold spaces, so fields are counted after the last ')'.
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return cpu_seconds_;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  cpu_seconds_ = std::max(cpu_seconds_, (utime + stime) / ticks);
  return cpu_seconds_;
}

}  // namespace ofa::worker
