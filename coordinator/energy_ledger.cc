#include "coordinator/energy_ledger.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ofa::coordinator {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS energy_ledger (
  job_id TEXT NOT NULL,
  phase TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  worker TEXT NOT NULL,
  device INTEGER NOT NULL,
  device_seconds REAL NOT NULL DEFAULT 0,
  energy_joules REAL NOT NULL DEFAULT 0,
  estimated_energy_joules REAL NOT NULL DEFAULT 0,
  training_flops REAL NOT NULL DEFAULT 0,
  co2_grams REAL NOT NULL DEFAULT 0,
  first_use_ns INTEGER NOT NULL,
  last_use_ns INTEGER NOT NULL,
  -- NULL while the attempt runs; then 'succeeded', 'failed', 'cancelled', 'interrupted' or
  -- 'preempted' (checkpointed on a node drain: not waste, the next attempt goes on from it).
  outcome TEXT,
  PRIMARY KEY (job_id, phase, attempt, worker, device)
);
CREATE INDEX IF NOT EXISTS energy_ledger_by_last_use ON energy_ledger (last_use_ns);
)sql";

// Totals columns, in the order Add() reads them.
constexpr char kTotals[] =
    "SUM(device_seconds), SUM(energy_joules), SUM(estimated_energy_joules), SUM(co2_grams), "
    "SUM(training_flops), "
    "SUM(CASE WHEN outcome IN ('failed', 'interrupted') THEN energy_joules ELSE 0 END)";

ofa::v1::CarbonTotals TotalsFrom(const SqliteDb::Row& row, size_t first) {
  ofa::v1::CarbonTotals t;
  t.set_device_seconds(AsDouble(row[first]));
  t.set_energy_joules(AsDouble(row[first + 1]));
  t.set_estimated_energy_joules(AsDouble(row[first + 2]));
  t.set_co2_grams(AsDouble(row[first + 3]));
  t.set_training_flops(AsDouble(row[first + 4]));
  t.set_wasted_energy_joules(AsDouble(row[first + 5]));
  return t;
}

const char* OutcomeName(AttemptOutcome outcome) {
  switch (outcome) {
    case AttemptOutcome::kSucceeded:
      return "succeeded";
    case AttemptOutcome::kFailed:
      return "failed";
    case AttemptOutcome::kCancelled:
      return "cancelled";
    case AttemptOutcome::kInterrupted:
      return "interrupted";
    case AttemptOutcome::kPreempted:
      return "preempted";
  }
  return "failed";
}

}  // namespace

absl::StatusOr<std::unique_ptr<EnergyLedger>> EnergyLedger::Open(SqliteDb* db,
                                                                 const CarbonIntensity* intensity) {
  if (absl::Status s = db->Exec(kSchema); !s.ok()) return s;
  return std::unique_ptr<EnergyLedger>(new EnergyLedger(db, intensity));
}

absl::Status EnergyLedger::Record(const LedgerKey& key, const ofa::v1::TaskUsage& usage,
                                  const ofa::v1::CarbonSettings& settings, absl::Time now) {
  for (double v : {usage.device_seconds(), usage.energy_joules(), usage.estimated_energy_joules(),
                   usage.training_flops()}) {
    if (!(v >= 0 && v < 1e30)) {
      return absl::InvalidArgumentError(
          absl::StrCat("usage: values must be finite and non-negative, got ", v));
    }
  }
  const std::vector<SqliteDb::Value> where = {key.job_id, key.phase, int64_t{key.attempt},
                                              key.worker, int64_t{key.device}};
  return db_->Transaction([&]() -> absl::Status {
    absl::StatusOr<std::vector<SqliteDb::Row>> rows = db_->Query(
        "SELECT device_seconds, energy_joules, estimated_energy_joules, training_flops, "
        "co2_grams, last_use_ns FROM energy_ledger WHERE job_id = ? AND phase = ? AND "
        "attempt = ? AND worker = ? AND device = ?",
        where);
    if (!rows.ok()) return rows.status();
    const int64_t now_ns = absl::ToUnixNanos(now);
    double seconds = 0, energy = 0, estimated = 0, flops = 0, co2 = 0;
    absl::Time last = now - absl::Seconds(usage.device_seconds());  // The task's start.
    if (!rows->empty()) {
      const SqliteDb::Row& r = rows->front();
      seconds = AsDouble(r[0]);
      energy = AsDouble(r[1]);
      estimated = AsDouble(r[2]);
      flops = AsDouble(r[3]);
      co2 = AsDouble(r[4]);
      last = absl::FromUnixNanos(AsInt(r[5]));
    }
    // Only growth is booked; its CO2 at the intensity of the interval it was used in.
    const double added_energy = std::max(0.0, usage.energy_joules() - energy);
    co2 += intensity_->Co2Grams(settings, added_energy, std::min(last, now), now);
    std::vector<SqliteDb::Value> values = {std::max(seconds, usage.device_seconds()),
                                           std::max(energy, usage.energy_joules()),
                                           std::max(estimated, usage.estimated_energy_joules()),
                                           std::max(flops, usage.training_flops()),
                                           co2,
                                           std::max(now_ns, absl::ToUnixNanos(last))};
    if (rows->empty()) {
      values.insert(values.begin(), where.begin(), where.end());
      values.push_back(absl::ToUnixNanos(now - absl::Seconds(usage.device_seconds())));
      return db_
          ->Query(
              "INSERT INTO energy_ledger (job_id, phase, attempt, worker, device, "
              "device_seconds, energy_joules, estimated_energy_joules, training_flops, "
              "co2_grams, last_use_ns, first_use_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              values)
          .status();
    }
    values.insert(values.end(), where.begin(), where.end());
    return db_
        ->Query(
            "UPDATE energy_ledger SET device_seconds = ?, energy_joules = ?, "
            "estimated_energy_joules = ?, training_flops = ?, co2_grams = ?, last_use_ns = ? "
            "WHERE job_id = ? AND phase = ? AND attempt = ? AND worker = ? AND device = ?",
            values)
        .status();
  });
}

absl::Status EnergyLedger::SetOutcome(const std::string& job_id, const std::string& phase,
                                      int attempt, AttemptOutcome outcome) {
  return db_
      ->Query("UPDATE energy_ledger SET outcome = ? WHERE job_id = ? AND phase = ? AND attempt = ?",
              {std::string(OutcomeName(outcome)), job_id, phase, int64_t{attempt}})
      .status();
}

absl::Status EnergyLedger::MarkRunningInterrupted(
    const std::vector<std::tuple<std::string, std::string, int>>& carrying_on) {
  return db_->Transaction([&]() -> absl::Status {
    absl::Status s =
        db_->Query("UPDATE energy_ledger SET outcome = 'interrupted' WHERE outcome IS NULL")
            .status();
    for (const auto& [job, phase, attempt] : carrying_on) {
      if (!s.ok()) return s;
      s = db_->Query(
                 "UPDATE energy_ledger SET outcome = NULL WHERE job_id = ? AND phase = ? AND "
                 "attempt = ? AND outcome = 'interrupted'",
                 {job, phase, int64_t{attempt}})
              .status();
    }
    return s;
  });
}

absl::StatusOr<std::map<std::string, EnergyLedger::PhaseTotals>> EnergyLedger::PhasesOf(
    const std::string& job_id) {
  absl::StatusOr<std::vector<SqliteDb::Row>> rows = db_->Query(
      absl::StrCat("SELECT phase, COUNT(DISTINCT attempt), MIN(first_use_ns), MAX(last_use_ns), ",
                   kTotals, " FROM energy_ledger WHERE job_id = ? GROUP BY phase"),
      {job_id});
  if (!rows.ok()) return rows.status();
  std::map<std::string, PhaseTotals> phases;
  for (const SqliteDb::Row& row : *rows) {
    PhaseTotals& p = phases[AsText(row[0])];
    p.attempts = static_cast<int>(AsInt(row[1]));
    p.first_use = absl::FromUnixNanos(AsInt(row[2]));
    p.last_use = absl::FromUnixNanos(AsInt(row[3]));
    p.totals = TotalsFrom(row, 4);
  }
  return phases;
}

ofa::v1::CarbonTotals EnergyLedger::Sum(const std::map<std::string, PhaseTotals>& phases) {
  ofa::v1::CarbonTotals sum;
  for (const auto& [name, p] : phases) {
    const ofa::v1::CarbonTotals& t = p.totals;
    sum.set_device_seconds(sum.device_seconds() + t.device_seconds());
    sum.set_energy_joules(sum.energy_joules() + t.energy_joules());
    sum.set_estimated_energy_joules(sum.estimated_energy_joules() + t.estimated_energy_joules());
    sum.set_co2_grams(sum.co2_grams() + t.co2_grams());
    sum.set_training_flops(sum.training_flops() + t.training_flops());
    sum.set_wasted_energy_joules(sum.wasted_energy_joules() + t.wasted_energy_joules());
  }
  return sum;
}

absl::StatusOr<std::vector<EnergyLedger::JobPhaseTotals>> EnergyLedger::RecentPhases(
    absl::Time since) {
  absl::StatusOr<std::vector<SqliteDb::Row>> rows =
      db_->Query(absl::StrCat("SELECT job_id, phase, ", kTotals,
                              " FROM energy_ledger WHERE job_id IN (SELECT DISTINCT job_id FROM "
                              "energy_ledger WHERE last_use_ns >= ? OR outcome IS NULL) "
                              "GROUP BY job_id, phase ORDER BY job_id, phase"),
                 {absl::ToUnixNanos(since)});
  if (!rows.ok()) return rows.status();
  std::vector<JobPhaseTotals> out;
  for (const SqliteDb::Row& row : *rows) {
    out.push_back({AsText(row[0]), AsText(row[1]), TotalsFrom(row, 2)});
  }
  return out;
}

absl::StatusOr<ofa::v1::CarbonTotals> EnergyLedger::AllTime() {
  absl::StatusOr<std::vector<SqliteDb::Row>> rows =
      db_->Query(absl::StrCat("SELECT ", kTotals, " FROM energy_ledger"));
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return ofa::v1::CarbonTotals();
  return TotalsFrom(rows->front(), 0);
}

}  // namespace ofa::coordinator
