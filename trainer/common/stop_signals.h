#ifndef OFA_TRAINER_COMMON_STOP_SIGNALS_H_
#define OFA_TRAINER_COMMON_STOP_SIGNALS_H_

namespace ofa {

// Daemons stop on SIGINT or SIGTERM by waiting for them in one place rather than in a signal
// handler. BlockStopSignals() must run in main() before any thread starts (gRPC's included),
// so that every thread inherits the block; WaitForStopSignal() then returns the signal that
// came. Child processes must unblock them (TrainerProcess does).
void BlockStopSignals();
int WaitForStopSignal();

}  // namespace ofa

#endif  // OFA_TRAINER_COMMON_STOP_SIGNALS_H_
