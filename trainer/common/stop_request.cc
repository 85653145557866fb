#include "trainer/common/stop_request.h"

#include <signal.h>

namespace ofa {
namespace {

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

void OnStopSignal(int) { stop_requested.store(true); }

}  // namespace

const std::atomic<bool>& InstallStopRequestHandler() {
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  // One-shot: the second SIGTERM or Ctrl-C kills, for a trainer stuck outside the step loop.
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  // An inherited "ignore SIGINT" (a background job of a script, nohup) stays: Ctrl-C is not
  // meant for such a process.
  struct sigaction old_int = {};
  sigaction(SIGINT, nullptr, &old_int);
  if (old_int.sa_handler != SIG_IGN) sigaction(SIGINT, &action, nullptr);
  return stop_requested;
}

}  // namespace ofa
