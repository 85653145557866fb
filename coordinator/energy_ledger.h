#ifndef OFA_COORDINATOR_ENERGY_LEDGER_H_
#define OFA_COORDINATOR_ENERGY_LEDGER_H_

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/carbon_intensity.h"
#include "coordinator/sqlite_db.h"
#include "ofa/v1/carbon.pb.h"
#include "ofa/v1/worker_service.pb.h"

namespace ofa::coordinator {

// Where energy was used: one device of one worker during one attempt of one phase.
struct LedgerKey {
  std::string job_id;
  std::string phase;
  int attempt = 0;
  std::string worker;  // Host name: stable across worker and coordinator restarts.
  int device = 0;
};

// How an attempt ended, as the ledger records it. Energy of failed and interrupted attempts
// is waste: it is kept (it was used) and shown apart. A preempted attempt checkpointed where
// it stopped, so its work carries on: not waste.
enum class AttemptOutcome { kSucceeded, kFailed, kCancelled, kInterrupted, kPreempted };

// The carbon ledger, a table in the coordinator's database: one row per LedgerKey holding the
// task's cumulative usage (device-seconds, energy, estimated energy, FLOPs) and the CO2 booked
// for it. Workers report cumulative usage, and Record books only growth, each increment's CO2
// at the intensity of the interval it was used in; so repeated, late or replayed reports
// (retries, a coordinator restart) never count twice, and nothing booked is lost (every
// Record is one transaction). Not thread-safe: the scheduler serialises access.
class EnergyLedger {
 public:
  // Creates the table in `db` (which outlives the ledger) if needed.
  static absl::StatusOr<std::unique_ptr<EnergyLedger>> Open(SqliteDb* db,
                                                            const CarbonIntensity* intensity);

  // Books `usage` (cumulative since the task started) as of `now` under `settings`.
  absl::Status Record(const LedgerKey& key, const ofa::v1::TaskUsage& usage,
                      const ofa::v1::CarbonSettings& settings, absl::Time now);
  // Marks every row of the attempt with how it ended.
  absl::Status SetOutcome(const std::string& job_id, const std::string& phase, int attempt,
                          AttemptOutcome outcome);
  // After a coordinator restart: attempts that were running are interrupted (their energy is
  // waste; the phases resume in new attempts), except `carrying_on` (job, phase, attempt).
  absl::Status MarkRunningInterrupted(
      const std::vector<std::tuple<std::string, std::string, int>>& carrying_on = {});

  struct PhaseTotals {
    ofa::v1::CarbonTotals totals;
    int attempts = 0;                // Distinct attempts with usage.
    absl::Time first_use, last_use;  // When its energy was used.
  };
  // Per phase of a job (by phase name) and the job's total.
  absl::StatusOr<std::map<std::string, PhaseTotals>> PhasesOf(const std::string& job_id);
  static ofa::v1::CarbonTotals Sum(const std::map<std::string, PhaseTotals>& phases);

  struct JobPhaseTotals {
    std::string job_id;
    std::string phase;
    ofa::v1::CarbonTotals totals;
  };
  // Totals of every (job, phase) that used energy since `since` or is still running: the
  // bounded set of series the metrics endpoint exports per job.
  absl::StatusOr<std::vector<JobPhaseTotals>> RecentPhases(absl::Time since);
  // Totals over all jobs ever (the fleet-wide counters).
  absl::StatusOr<ofa::v1::CarbonTotals> AllTime();

 private:
  EnergyLedger(SqliteDb* db, const CarbonIntensity* intensity) : db_(db), intensity_(intensity) {}

  SqliteDb* db_;
  const CarbonIntensity* intensity_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_ENERGY_LEDGER_H_
