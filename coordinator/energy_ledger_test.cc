#include "coordinator/energy_ledger.h"

#include <filesystem>

#include "gtest/gtest.h"

namespace ofa::coordinator {
namespace {

namespace fs = std::filesystem;

const absl::Time kT = absl::FromUnixSeconds(1'700'000'000);

ofa::v1::TaskUsage Usage(double seconds, double joules, double estimated = 0, double flops = 0) {
  ofa::v1::TaskUsage u;
  u.set_device_seconds(seconds);
  u.set_energy_joules(joules);
  u.set_estimated_energy_joules(estimated);
  u.set_training_flops(flops);
  return u;
}

ofa::v1::CarbonSettings Fixed(double g_per_kwh) {
  ofa::v1::CarbonSettings s;
  s.set_intensity_source(ofa::v1::INTENSITY_SOURCE_FIXED);
  s.set_fixed_intensity_g_per_kwh(g_per_kwh);
  s.set_pue(1.0);
  return s;
}

class EnergyLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/ledger.db";
    fs::remove(path_);
    Reopen();
  }
  // A coordinator restart: the database file is all that survives.
  void Reopen() {
    ledger_.reset();
    db_.reset();
    db_ = *SqliteDb::Open(path_);
    ledger_ = *EnergyLedger::Open(db_.get(), &intensity_);
  }
  ofa::v1::CarbonTotals Phase(const std::string& job, const std::string& phase) {
    auto phases = ledger_->PhasesOf(job);
    EXPECT_TRUE(phases.ok()) << phases.status();
    return (*phases)[phase].totals;
  }

  std::string path_;
  CarbonIntensity intensity_{{}};
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<EnergyLedger> ledger_;
};

TEST_F(EnergyLedgerTest, RepeatedAndReplayedReportsCountOnce) {
  const LedgerKey key{"job-000001", "full", 1, "node-a", 0};
  ASSERT_TRUE(ledger_->Record(key, Usage(10, 3.6e5, 0, 1e12), Fixed(100), kT).ok());
  ASSERT_TRUE(ledger_->Record(key, Usage(10, 3.6e5, 0, 1e12), Fixed(100), kT).ok());
  EXPECT_DOUBLE_EQ(Phase("job-000001", "full").energy_joules(), 3.6e5);
  EXPECT_NEAR(Phase("job-000001", "full").co2_grams(), 10.0, 1e-9);  // 0.1 kWh x 100 g.

  Reopen();
  // The worker re-sends what it sent before the restart (a lost reply), then more.
  ASSERT_TRUE(ledger_->Record(key, Usage(10, 3.6e5, 0, 1e12), Fixed(100), kT).ok());
  ASSERT_TRUE(
      ledger_->Record(key, Usage(20, 7.2e5, 0, 2e12), Fixed(300), kT + absl::Seconds(10)).ok());
  // A late, older report changes nothing.
  ASSERT_TRUE(
      ledger_->Record(key, Usage(15, 5e5, 0, 1.5e12), Fixed(300), kT + absl::Seconds(11)).ok());
  const ofa::v1::CarbonTotals t = Phase("job-000001", "full");
  EXPECT_DOUBLE_EQ(t.energy_joules(), 7.2e5);
  EXPECT_DOUBLE_EQ(t.device_seconds(), 20);
  EXPECT_DOUBLE_EQ(t.training_flops(), 2e12);
  // The second 0.1 kWh at the intensity of its own interval.
  EXPECT_NEAR(t.co2_grams(), 10.0 + 30.0, 1e-9);
}

TEST_F(EnergyLedgerTest, RetriedAttemptsKeepTheirEnergyAsWaste) {
  const ofa::v1::CarbonSettings s = Fixed(100);
  ASSERT_TRUE(ledger_->Record({"job-1", "full", 1, "a", 0}, Usage(5, 100, 40), s, kT).ok());
  ASSERT_TRUE(ledger_->Record({"job-1", "full", 1, "b", 0}, Usage(5, 50), s, kT).ok());
  ASSERT_TRUE(ledger_->SetOutcome("job-1", "full", 1, AttemptOutcome::kFailed).ok());
  ASSERT_TRUE(ledger_->Record({"job-1", "full", 2, "a", 0}, Usage(9, 300), s, kT).ok());
  ASSERT_TRUE(ledger_->Record({"job-1", "kernel", 1, "a", 0}, Usage(1, 7), s, kT).ok());
  Reopen();
  // Attempt 2 was running when the coordinator stopped.
  ASSERT_TRUE(ledger_->MarkRunningInterrupted().ok());
  auto phases = ledger_->PhasesOf("job-1");
  ASSERT_TRUE(phases.ok());
  const EnergyLedger::PhaseTotals& full = (*phases)["full"];
  EXPECT_EQ(full.attempts, 2);
  EXPECT_DOUBLE_EQ(full.totals.energy_joules(), 450);
  EXPECT_DOUBLE_EQ(full.totals.estimated_energy_joules(), 40);
  EXPECT_DOUBLE_EQ(full.totals.wasted_energy_joules(), 450);
  EXPECT_DOUBLE_EQ(full.totals.device_seconds(), 19);
  const ofa::v1::CarbonTotals sum = EnergyLedger::Sum(*phases);
  EXPECT_DOUBLE_EQ(sum.energy_joules(), 457);
  EXPECT_DOUBLE_EQ(ledger_->AllTime()->energy_joules(), 457);
  // Attempt 3 succeeds: its energy is not waste.
  ASSERT_TRUE(ledger_->Record({"job-1", "full", 3, "a", 0}, Usage(9, 200), s, kT).ok());
  ASSERT_TRUE(ledger_->SetOutcome("job-1", "full", 3, AttemptOutcome::kSucceeded).ok());
  EXPECT_DOUBLE_EQ(Phase("job-1", "full").wasted_energy_joules(), 450);
  EXPECT_DOUBLE_EQ(Phase("job-1", "full").energy_joules(), 650);
}

TEST_F(EnergyLedgerTest, RecentPhasesBoundTheExportedJobs) {
  const ofa::v1::CarbonSettings s = Fixed(100);
  ASSERT_TRUE(ledger_->Record({"old", "full", 1, "a", 0}, Usage(5, 100), s, kT).ok());
  ASSERT_TRUE(ledger_->SetOutcome("old", "full", 1, AttemptOutcome::kSucceeded).ok());
  ASSERT_TRUE(
      ledger_->Record({"new", "full", 1, "a", 0}, Usage(5, 100), s, kT + absl::Hours(30)).ok());
  ASSERT_TRUE(ledger_->SetOutcome("new", "full", 1, AttemptOutcome::kSucceeded).ok());
  ASSERT_TRUE(ledger_->Record({"running", "full", 1, "a", 0}, Usage(5, 100), s, kT).ok());
  auto recent = ledger_->RecentPhases(kT + absl::Hours(24));
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ((*recent)[0].job_id, "new");
  EXPECT_EQ((*recent)[1].job_id, "running");
}

TEST_F(EnergyLedgerTest, NonsenseUsageIsRefused) {
  absl::Status s = ledger_->Record({"j", "full", 1, "a", 0}, Usage(-1, 5), Fixed(1), kT);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = ledger_->Record({"j", "full", 1, "a", 0}, Usage(1, std::nan("")), Fixed(1), kT);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_DOUBLE_EQ(ledger_->AllTime()->energy_joules(), 0);
}

}  // namespace
}  // namespace ofa::coordinator
