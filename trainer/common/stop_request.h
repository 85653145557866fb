#ifndef OFA_TRAINER_COMMON_STOP_REQUEST_H_
#define OFA_TRAINER_COMMON_STOP_REQUEST_H_

#include <atomic>

namespace ofa {

// A trainer asked to stop (SIGTERM from a draining ofa-worker, or Ctrl-C) checkpoints and
// exits with this code (EX_TEMPFAIL), telling its worker that the phase can resume from the
// checkpoint elsewhere.
constexpr int kExitStoppedOnRequest = 75;

// Installs SIGTERM and SIGINT handlers that set the returned flag, which long-running work
// polls at safe points (between training steps). The handlers are one-shot: a second signal
// ends the process as usual. SIGINT is left alone where it was ignored when the process
// started. Call once, from main().
const std::atomic<bool>& InstallStopRequestHandler();

}  // namespace ofa

#endif  // OFA_TRAINER_COMMON_STOP_REQUEST_H_
